"""An answer with its sources as a file a therapist can hand to a client: Markdown, or a
printable HTML page in which every piece of text is escaped."""

from __future__ import annotations

import datetime as dt
import html
import re
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import replies
from .contacts import all_links

if TYPE_CHECKING:
    from .corpus import Document
    from .pipeline import Answer
    from .resources import Region

TITLE = "Peer support: an answer to share"
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_LIST_ITEM = re.compile(r"^\s*(-|\d+\.)\s+(.*)$")


def escape_markdown(text: str) -> str:
    """Text that shows literally in any Markdown viewer (CommonMark lets every ASCII
    punctuation character be escaped with a backslash)."""
    return _PUNCTUATION.sub(r"\\\1", text)


def without_sources_list(body: str) -> str:
    """The answer body without its closing "Sources" list, for layouts that show the sources
    in full elsewhere."""
    title = replies.messages()["sources_title"]
    if body.startswith(title + "\n"):
        return ""
    head, found, _ = body.rpartition(f"\n\n{title}\n")
    return head if found else body


def pointer_is_separate(answer: Answer) -> bool:
    """A crisis block already ends with the peer pointer; don't show it twice."""
    return bool(answer.peer_pointer) and answer.peer_pointer not in answer.crisis_block


def _references(doc: Document | None) -> list[str]:
    if doc is None:
        return []
    return [f"{r.organisation}, {r.page}" + (f" ({r.url})" if r.url else "")
            for r in doc.meta.references]


def _source_heading(citation) -> str:
    section = f" — {citation.section}" if citation.section else ""
    reviewed = f" (reviewed {citation.reviewed_on})" if citation.reviewed_on else ""
    return f"{citation.title}{section}{reviewed}"


def _footer(created: dt.date) -> str:
    return (f"From the peer-support assistant on {created.isoformat()}. It is an automated guide "
            "to peer support, not a person: it quotes reviewed articles and does not give "
            "medical advice.")


def answer_markdown(question: str, answer: Answer, documents: Mapping[str, Document] | None = None,
                    created: dt.date | None = None) -> str:
    documents = documents or {}
    quoted = "\n".join(f"> {escape_markdown(line)}" if line else ">"
                       for line in question.strip().splitlines())
    parts = [f"# {TITLE}", f"**Question**\n\n{quoted}"]
    if answer.crisis_block:
        parts.append(answer.crisis_block)
    body = without_sources_list(answer.body)
    if body:
        parts.append(body)
    if answer.citations:
        rows = ["## Sources"]
        for c in answer.citations:
            rows.append(f"{c.n}. **{_source_heading(c)}**")
            rows += [f"   > {line}" for line in c.text.splitlines() if line.strip()]
            refs = _references(documents.get(c.doc_id))
            if refs:
                rows.append(f"   Based on: {'; '.join(refs)}")
        parts.append("\n".join(rows))
    if pointer_is_separate(answer):
        parts.append(answer.peer_pointer)
    parts.append("---\n\n" + _footer(created or dt.date.today()))
    return "\n\n".join(parts) + "\n"


# -- HTML ---------------------------------------------------------------------------------------

def _inline(text: str) -> str:
    """Escape, then turn the few Markdown marks the answers use into tags."""
    out = html.escape(text, quote=True)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"\[([^\]]+)\]\((https?://[^\s)]+)\)", r'<a href="\2">\1</a>', out)


def _markdown_html(markdown: str) -> str:
    """Paragraphs and lists, enough for the assistant's own replies."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        paragraph: list[str] = []
        items: list[str] = []
        ordered = False
        for line in block.splitlines():
            item = _LIST_ITEM.match(line)
            if item:
                if paragraph:
                    out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
                    paragraph = []
                ordered = item[1] != "-"
                items.append(f"<li>{_inline(item[2])}</li>")
            elif items and line.startswith("  "):
                items[-1] = items[-1][:-5] + " " + _inline(line.strip()) + "</li>"
            else:
                paragraph.append(line.strip())
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
        if items:
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(items) + f"</{tag}>")
    return "\n".join(out)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       background: #fff; line-height: 1.55; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
blockquote { margin: 0.5rem 0 1rem; padding: 0.25rem 1rem; border-left: 4px solid #1f5f8b;
             background: #f2f5f8; }
.crisis { border: 3px solid #a4161a; border-radius: 8px; padding: 0.5rem 1rem 1rem;
          background: #fff5f5; }
.crisis a.contact { display: inline-block; margin: 0.25rem 0.5rem 0.25rem 0;
                    padding: 0.5rem 0.9rem; border-radius: 6px; background: #a4161a;
                    color: #fff; font-weight: 700; font-size: 1.15rem; text-decoration: none; }
.source-meta { color: #4a4a4a; font-size: 0.95rem; }
footer { margin-top: 2rem; border-top: 1px solid #ccc; padding-top: 1rem; color: #4a4a4a; }
a { color: #1f5f8b; }
@media print { body { margin: 0; } a.contact { border: 2px solid #a4161a; } }
"""


def answer_html(question: str, answer: Answer, documents: Mapping[str, Document] | None = None,
                region: Region | None = None, created: dt.date | None = None) -> str:
    documents = documents or {}
    esc = html.escape
    parts = [f"<h1>{esc(TITLE)}</h1>", "<h2>Question</h2>",
             "<blockquote>" + "<br>".join(esc(line) for line in question.strip().splitlines())
             + "</blockquote>"]
    if answer.crisis_block:
        links = "".join(f'<a class="contact" href="{esc(link.href)}">{esc(link.label)}</a>'
                        for link in (all_links(region) if region else []))
        parts.append(f'<section class="crisis" aria-label="Talk to someone now">'
                     f"<p>{links}</p>{_markdown_html(answer.crisis_block)}</section>")
    body = without_sources_list(answer.body)
    if body:
        parts.append("<h2>Answer</h2>" + _markdown_html(body))
    if answer.citations:
        parts.append("<h2>Sources</h2><ol>")
        for c in answer.citations:
            refs = _references(documents.get(c.doc_id))
            based = (f'<p class="source-meta">Based on: {esc("; ".join(refs))}</p>'
                     if refs else "")
            parts.append(f"<li><strong>{esc(_source_heading(c))}</strong>"
                         f"<blockquote>{esc(c.text)}</blockquote>{based}</li>")
        parts.append("</ol>")
    if pointer_is_separate(answer):
        parts.append(_markdown_html(answer.peer_pointer))
    parts.append(f"<footer>{esc(_footer(created or dt.date.today()))}</footer>")
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(TITLE)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(parts) + "\n</main>\n</body>\n</html>\n")

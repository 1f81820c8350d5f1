"""`assistant corpus check`: every problem in the corpus and resources.yaml, one line each,
naming the file, line and field."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from .corpus import (
    EMPTY_WORDS,
    MAX_WORDS,
    MIN_WORDS,
    OVERSIZED_WORDS,
    Document,
    Problem,
    load_corpus,
    yaml_problem,
)
from .settings import Settings

NEAR_DUPLICATE = 0.95  # cosine similarity above which two passages say the same thing
_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    documents: int = 0
    vetted: int = 0
    resources: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")


def check_links(doc: Document, corpus_dir: Path, ids: set[str]) -> list[Problem]:
    """Links must point at an existing corpus file, a heading in this document, or be a
    well-formed web address."""
    problems = []
    anchors = {_slug(h) for h in re.findall(r"^#+\s+(.+)$", doc.body, flags=re.M)}
    for offset, line in enumerate(doc.body.splitlines()):
        for text, target in _LINK.findall(line):
            where = doc.body_line + offset
            rel = doc.path.name
            if not target:
                problems.append(Problem("error", rel, f"empty link target for [{text}]", where,
                                        "body"))
            elif target.startswith(("http://", "https://")):
                if not re.match(r"^https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/\S*)?$", target):
                    problems.append(Problem("error", rel, f"malformed web link: {target}",
                                            where, "body"))
            elif target.startswith("#"):
                if target[1:] not in anchors:
                    problems.append(Problem("error", rel, f"broken link: no heading "
                                            f"'{target}' in this document", where, "body"))
            elif target.startswith("mailto:"):
                continue
            else:
                path = target.split("#")[0]
                if not (corpus_dir / path).exists() and Path(path).stem not in ids:
                    problems.append(Problem("error", rel, f"broken link: {target} does not "
                                            "exist", where, "body"))
    return problems


def check_document(doc: Document, today: dt.date) -> list[Problem]:
    rel, words = doc.path.name, doc.word_count
    problems = []
    if words < EMPTY_WORDS:
        problems.append(Problem("error", rel, f"document is empty ({words} words)",
                                doc.body_line, "body"))
    elif words > OVERSIZED_WORDS:
        problems.append(Problem("error", rel, f"document is oversized ({words} words; split "
                                f"it)", doc.body_line, "body"))
    elif not MIN_WORDS <= words <= MAX_WORDS:
        problems.append(Problem("warning", rel, f"{words} words; the guide asks for "
                                f"{MIN_WORDS}-{MAX_WORDS}", doc.body_line, "body"))
    if doc.meta.review_due < today:
        problems.append(Problem("warning", rel, f"review overdue since {doc.meta.review_due}",
                                None, "review_due"))
    if doc.meta.reviewed_on > today:
        problems.append(Problem("error", rel, f"reviewed_on {doc.meta.reviewed_on} is in the "
                                "future", None, "reviewed_on"))
    if "## " not in doc.body:
        problems.append(Problem("warning", rel, "no ## sections for readers to scan", None,
                                "body"))
    return problems


def check_resources(corpus_dir: Path, today: dt.date) -> tuple[list[Problem], int]:
    from .resources import parse_resources

    path = corpus_dir / "resources.yaml"
    rel = "resources.yaml"
    if not path.is_file():
        return [Problem("error", rel, "missing: crisis lines and helplines are required")], 0
    try:
        res = parse_resources(path)
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("error", rel, f"cannot read: {exc}")], 0
    except ValidationError as exc:
        return [Problem("error", rel, e["msg"], None,
                        ".".join(str(p) for p in e["loc"]) or None)
                for e in exc.errors()], 0
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date
        reason, line = yaml_problem(exc, path.read_text("utf-8", errors="replace"))
        return [Problem("error", rel, f"not valid YAML: {reason}", line)], 0
    problems = []
    if res.review_due < today:
        problems.append(Problem("warning", rel, f"review overdue since {res.review_due}", None,
                                "review_due"))
    return problems, sum(len(r.resources) for r in res.regions)


def near_duplicates(docs: list[Document], settings: Settings,
                    threshold: float = NEAR_DUPLICATE) -> list[Problem]:
    """Passages in different documents that say nearly the same thing (a warning naming
    both). Passage text alone is compared: the title and section that the search index adds
    would make a copy under another title look different."""
    import numpy as np

    from .chunking import chunk_corpus
    from .query_model import load_encoder

    chunks = [c for c in chunk_corpus(docs, settings.chunk_size, settings.chunk_overlap)
              if len(c.text.split()) >= 12]
    if len(chunks) < 2:
        return []
    vectors = load_encoder(settings).encode([c.text for c in chunks])
    sims = vectors @ vectors.T
    problems = []
    for i, j in zip(*np.where(np.triu(sims, k=1) >= threshold), strict=True):
        a, b = chunks[i], chunks[j]
        if a.doc_id != b.doc_id:
            problems.append(Problem("warning", f"{a.doc_id}.md", f"passage '{a.section}' is a "
                                    f"near-duplicate of {b.doc_id}.md '{b.section}' "
                                    f"(similarity {sims[i, j]:.2f})", None, "body"))
    return problems


def check_corpus(settings: Settings, duplicates: bool = True,
                 today: dt.date | None = None) -> CheckReport:
    today = today or dt.date.today()
    corpus = load_corpus(settings.corpus_dir)
    report = CheckReport(problems=list(corpus.problems), documents=len(corpus.documents),
                         vetted=len(corpus.vetted))
    ids = {d.id for d in corpus.documents}
    for doc in corpus.documents:
        report.problems += check_document(doc, today)
        report.problems += check_links(doc, settings.corpus_dir, ids)
    resource_problems, report.resources = check_resources(settings.corpus_dir, today)
    report.problems += resource_problems
    if duplicates and corpus.vetted:
        report.problems += near_duplicates(corpus.vetted, settings)
    return report

"""Split documents into passages: by Markdown headers first, so a passage never straddles two
sections, then by size with overlap, so long sections still fit the embedding model."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from .corpus import Document

HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    section: str  # header path, e.g. "How to find one > Online"
    position: int  # order within the document
    text: str

    @property
    def embed_text(self) -> str:
        """What the model sees: the title and section give short passages their context."""
        heading = f"{self.title}. {self.section}." if self.section else f"{self.title}."
        return f"{heading}\n{self.text}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {**asdict(self), "hash": self.content_hash}

    @classmethod
    def from_dict(cls, data: dict) -> Chunk:
        return cls(**{k: data[k] for k in ("chunk_id", "doc_id", "title", "section",
                                          "position", "text")})


def chunk_document(doc: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    from langchain_text_splitters import (
        MarkdownHeaderTextSplitter,
        RecursiveCharacterTextSplitter,
    )

    by_header = MarkdownHeaderTextSplitter(HEADERS, strip_headers=True)
    by_size = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""], keep_separator="end",
    )
    chunks: list[Chunk] = []
    for part in by_header.split_text(doc.body):
        section = " > ".join(part.metadata[k] for _, k in HEADERS if k in part.metadata)
        for piece in by_size.split_text(part.page_content):
            text = piece.strip()
            if not text:
                continue
            chunks.append(Chunk(
                chunk_id=f"{doc.id}#{len(chunks):03d}", doc_id=doc.id, title=doc.meta.title,
                section=section, position=len(chunks), text=text,
            ))
    return chunks


def chunk_corpus(docs: list[Document], chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, chunk_size, chunk_overlap)]


_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=[\"“(]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences as written (bullet markers dropped), for quoting in answers.

    A list item counts as one sentence; a line that ends with a colon introduces a list and is
    kept with nothing after it, so a quote never ends mid-thought.
    """
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        for line in block.split("\n"):
            line = _BULLET.sub("", line).strip()
            if not line:
                continue
            sentences.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return [s for s in sentences if len(s) > 1]

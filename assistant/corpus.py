"""Load the vetted corpus: Markdown documents with YAML front matter, checked by a schema.

Loading is strict about shape and forgiving about input: a malformed file becomes a `Problem`
naming the file, line and field, never an exception, so a maintainer sees every issue at once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    ValidationInfo,
    field_validator,
)

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
MIN_WORDS, MAX_WORDS = 300, 900  # the style guide's range: outside it is a warning
EMPTY_WORDS, OVERSIZED_WORDS = 30, 3000  # beyond these a document is an error
MAX_FILE_BYTES = 1_000_000


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: str = Field(min_length=2)
    page: str = Field(min_length=2)
    url: HttpUrl | None = None


class FrontMatter(BaseModel):
    """The vetting record of one document (documented in corpus/README.md)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=3, max_length=120)
    summary: str = Field(min_length=10, max_length=300)
    topics: list[str] = Field(min_length=1)
    audience: Literal["newcomer", "family", "professional", "everyone"]
    origin: Literal["written-for-project", "seed-article"]
    references: list[Reference] = Field(min_length=1)
    status: Literal["vetted", "draft"]
    reviewed_on: dt.date
    review_due: dt.date

    @field_validator("review_due")
    @classmethod
    def _due_after_review(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        reviewed = info.data.get("reviewed_on")
        if reviewed is not None and value <= reviewed:
            raise ValueError("review_due must be after reviewed_on")
        return value


@dataclass(frozen=True)
class Document:
    meta: FrontMatter
    body: str
    path: Path
    body_line: int  # 1-based line where the body starts, for messages

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def word_count(self) -> int:
        return count_words(self.body)


@dataclass(frozen=True)
class Problem:
    severity: Literal["error", "warning"]
    path: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        what = f" [{self.field}]" if self.field else ""
        return f"{where}: {self.severity}{what}: {self.message}"


def count_words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9'’-]+", text))


def _dates_as_text(base: type) -> type:
    """A safe loader that leaves dates as text, so pydantic checks them and names the field
    of a bad one."""
    loader = type(f"DatesAsText{base.__name__}", (base,), {})
    loader.yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in base.yaml_implicit_resolvers.items()
    }
    return loader


_FAST = _dates_as_text(getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~10x faster
_CAREFUL = _dates_as_text(yaml.SafeLoader)


def load_yaml(text: str) -> object:
    """Parse with libyaml; on an error, parse again with the pure-Python loader, whose
    messages (and line numbers) are the ones `corpus check` explains."""
    try:
        return yaml.load(text, Loader=_FAST)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return yaml.load(text, Loader=_CAREFUL)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(exc: Exception, text: str) -> tuple[str, int | None]:
    """One line of explanation and the 1-based line in `text` for any YAML loading error."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif getattr(exc, "position", None) is not None:  # a reader error: a bad character
        line = text[: exc.position].count("\n") + 1
    else:
        line = None
    reason = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    if isinstance(exc, ValueError) and not isinstance(exc, yaml.YAMLError):
        reason = f"bad value ({reason})"
    return reason, line


def _field_line(front: str, field: str) -> int | None:
    """Line of `field:` within the front matter (1-based in the file: +1 for the opening ---)."""
    for i, line in enumerate(front.splitlines(), start=2):
        if re.match(rf"^{re.escape(field)}\s*:", line):
            return i
    return None


def _read_text(path: Path, rel: str) -> tuple[str | None, list[Problem]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem("error", rel, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem("error", rel, f"file is oversized ({len(raw)} bytes)")]
    if b"\x00" in raw:
        return None, [Problem("error", rel, "file looks binary (contains NUL bytes)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem("error", rel, f"not valid UTF-8 (byte {exc.start})", line=line)]
    return text.lstrip("\ufeff").replace("\r\n", "\n"), []


def parse_document(path: Path, root: Path | None = None) -> tuple[Document | None, list[Problem]]:
    """Parse one `<id>.md` file; return the document (if usable) and every problem found."""
    rel = str(path.relative_to(root)) if root else str(path)
    text, problems = _read_text(path, rel)
    if text is None:
        return None, problems
    if not text.startswith("---\n"):
        return None, [Problem("error", rel, "missing front matter (file must start with ---)",
                              line=1)]
    end = re.search(r"^---\s*$", text[4:], flags=re.MULTILINE)
    if end is None:
        return None, [Problem("error", rel, "front matter is not closed (no second --- line)",
                              line=1)]
    front = text[4 : 4 + end.start()]
    body = text[4 + end.end() :].lstrip("\n")
    body_line = text[: len(text) - len(body)].count("\n") + 1
    try:
        data = load_yaml(front)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an impossible date like 02-30
        reason, line = yaml_problem(exc, front)
        return None, [Problem("error", rel, f"front matter is not valid YAML: {reason}",
                              line + 1 if line else None)]
    if not isinstance(data, dict):
        return None, [Problem("error", rel, "front matter must be a mapping of fields", line=2)]
    try:
        meta = FrontMatter.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or None
            top = str(err["loc"][0]) if err["loc"] else ""
            problems.append(Problem("error", rel, err["msg"], _field_line(front, top), field))
        return None, problems
    if meta.id != path.stem:
        problems.append(Problem("error", rel, f"id '{meta.id}' does not match the file name "
                                f"'{path.stem}'", _field_line(front, "id"), "id"))
    return Document(meta=meta, body=body, path=path, body_line=body_line), problems


@dataclass(frozen=True)
class Corpus:
    """All parsed documents (vetted and drafts) plus the problems found while loading."""

    documents: list[Document]
    problems: list[Problem]

    @property
    def vetted(self) -> list[Document]:
        return [d for d in self.documents if d.meta.status == "vetted"]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def get(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents if d.id == doc_id), None)


def load_corpus(corpus_dir: Path) -> Corpus:
    """Parse every `*.md` except README.md; duplicate ids are errors, later files dropped."""
    if not corpus_dir.is_dir():
        return Corpus([], [Problem("error", str(corpus_dir), "corpus folder not found")])
    parsed: list[Document] = []
    problems: list[Problem] = []
    for path in sorted(corpus_dir.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        doc, found = parse_document(path, corpus_dir)
        problems.extend(found)
        if doc is not None:
            parsed.append(doc)
    # Of two files with one id, keep the one whose name matches it; report the other.
    parsed.sort(key=lambda d: (d.id != d.path.stem, d.path.name))
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for doc in parsed:
        if doc.id in seen:
            problems.append(Problem("error", doc.path.name, f"duplicate id '{doc.id}' (also "
                                    f"in {seen[doc.id]})", field="id"))
            continue
        seen[doc.id] = doc.path.name
        documents.append(doc)
    documents.sort(key=lambda d: d.path.name)
    return Corpus(documents, problems)

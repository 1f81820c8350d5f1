"""What a maintainer checks: each document's vetting record and passage count, whether the
index matches the corpus, and the latest evaluation report. Reads files only: no model."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .corpus import Corpus
from .embeddings import model_id, resolve_model_path
from .errors import AssistantError
from .manifest import Manifest, corpus_hash, current_build_dir, read_manifest
from .settings import PROJECT_ROOT, Settings

EVAL_REPORTS = PROJECT_ROOT / "eval" / "reports"


@dataclass(frozen=True)
class DocumentRow:
    id: str
    title: str
    status: str
    audience: str
    reviewed_on: dt.date
    review_due: dt.date
    overdue: bool
    words: int
    passages: int | None  # None when the index has not been built


@dataclass(frozen=True)
class IndexStatus:
    state: Literal["current", "stale", "missing"]
    reason: str
    manifest: Manifest | None = None


def passage_counts(index_dir: Path) -> dict[str, int] | None:
    build = current_build_dir(index_dir)
    if build is None:
        return None
    counts: Counter[str] = Counter()
    try:
        with (build / "chunks.jsonl").open(encoding="utf-8") as rows:
            for line in rows:
                if line.strip():
                    counts[json.loads(line)["doc_id"]] += 1
    except (OSError, ValueError, KeyError):
        return None  # a damaged build: the index status says so
    return dict(counts)


def document_rows(corpus: Corpus, index_dir: Path, today: dt.date | None = None
                  ) -> list[DocumentRow]:
    today = today or dt.date.today()
    counts = passage_counts(index_dir)
    return [DocumentRow(d.id, d.meta.title, d.meta.status, d.meta.audience, d.meta.reviewed_on,
                        d.meta.review_due, d.meta.review_due < today, d.word_count,
                        None if counts is None else counts.get(d.id, 0))
            for d in corpus.documents]


def index_status(settings: Settings, corpus: Corpus) -> IndexStatus:
    build = current_build_dir(settings.index_dir)
    if build is None:
        return IndexStatus("missing", "no index has been built yet")
    manifest = read_manifest(build)
    if manifest.corpus_hash != corpus_hash(corpus.vetted):
        return IndexStatus("stale", "the vetted documents changed since this build", manifest)
    try:
        current_model = model_id(resolve_model_path(settings.embedding_model))
    except AssistantError:
        current_model = manifest.model_id  # cannot tell; the corpus check above still holds
    if not manifest.same_settings(current_model, settings.chunk_size, settings.chunk_overlap):
        return IndexStatus("stale", "the model or the splitter settings changed", manifest)
    return IndexStatus("current", "matches the vetted documents", manifest)


def latest_eval_report(reports_dir: Path = EVAL_REPORTS) -> Path | None:
    """The newest `<timestamp>/report.md`; timestamps sort as text."""
    if not reports_dir.is_dir():
        return None
    reports = sorted(p for p in reports_dir.glob("*/report.md") if p.is_file())
    return reports[-1] if reports else None

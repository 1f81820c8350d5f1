"""Thumbs up or down on an answer, kept only when the operator asks for it.

Off unless `ASSISTANT_FEEDBACK_DB` names a SQLite file. Even then only the rating and how the
answer was made (route, confidence, cited documents, region) are kept; the question and answer
text are kept only with `ASSISTANT_FEEDBACK_KEEP_TEXT=1`. Nothing links one rating to another.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AssistantError

if TYPE_CHECKING:
    from .pipeline import Answer
    from .settings import Settings

KEEP_TEXT_ENV = "ASSISTANT_FEEDBACK_KEEP_TEXT"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT PRIMARY KEY,     -- random, made per answer; says nothing about the person
    rated_on TEXT NOT NULL,         -- the day only
    rating INTEGER NOT NULL,        -- 1 thumbs up, 0 thumbs down
    category TEXT NOT NULL,         -- crisis, medical, out_of_scope or ok
    route TEXT,
    confidence REAL,
    region TEXT,
    cited_documents TEXT,           -- comma-separated document ids
    question TEXT,                  -- only with ASSISTANT_FEEDBACK_KEEP_TEXT=1
    answer TEXT                     -- only with ASSISTANT_FEEDBACK_KEEP_TEXT=1
)
"""


class FeedbackError(AssistantError):
    """The feedback database could not be written."""


@dataclass(frozen=True)
class FeedbackStore:
    path: Path
    keep_text: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedbackStore | None:
        if settings.feedback_db is None:
            return None
        keep = os.environ.get(KEEP_TEXT_ENV, "").strip().lower() in ("1", "true", "yes")
        return cls(settings.feedback_db, keep_text=keep)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5)
        conn.execute(_SCHEMA)
        return conn

    def record(self, answer_id: str, rating: int | None, question: str, answer: Answer) -> None:
        """Save or change the rating of one answer; a rating taken back (None) is deleted."""
        try:
            with closing(self._connect()) as conn, conn:
                if rating is None:
                    conn.execute("DELETE FROM feedback WHERE answer_id = ?", (answer_id,))
                    return
                conn.execute(
                    "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(answer_id) DO UPDATE SET rating = excluded.rating, "
                    "rated_on = excluded.rated_on",
                    (answer_id, dt.date.today().isoformat(), int(rating),
                     answer.safety.category, answer.trace.get("route"), answer.confidence,
                     answer.region,
                     ",".join(dict.fromkeys(c.doc_id for c in answer.citations)),
                     question if self.keep_text else None,
                     answer.answer if self.keep_text else None))
        except (sqlite3.Error, OSError) as exc:
            raise FeedbackError(f"could not save feedback to {self.path}: {exc}") from exc

    def rows(self) -> list[dict]:
        with closing(self._connect()) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY rated_on")]

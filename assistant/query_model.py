"""Which encoder turns questions into vectors, and the files beside the index that let a fresh
process answer without torch.

`index/models/<model>/` holds the ONNX export of the model (written and checked against the
torch vectors by `assistant index`) and the vectors of the safety exemplars, so neither the
model's torch weights nor the exemplars need loading or encoding when a question comes in.
Torch stays the reference and the fallback: with no export, or ASSISTANT_ENCODER=torch, the
sentence-transformers model is used.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embeddings import Embedder, model_id, resolve_model_path, text_key
from .errors import ModelError
from .settings import Settings

ENCODERS = ("auto", "onnx", "torch")
MODELS = "models"
KNOWN_VECTORS = "known_vectors.npz"


def asset_dir(index_dir: Path, model: str) -> Path:
    return index_dir / MODELS / re.sub(r"[^A-Za-z0-9._-]+", "-", model)


def _check_mode(settings: Settings) -> str:
    if settings.encoder not in ENCODERS:
        raise ModelError(f"ASSISTANT_ENCODER must be one of {', '.join(ENCODERS)}, "
                         f"not {settings.encoder!r}")
    return settings.encoder


def load_encoder(settings: Settings, model: str | None = None):
    """The verified ONNX encoder when allowed and present, else the torch model. The chosen
    encoder has `.name` ("onnx" or "torch") and `.reason`, which the trace and bench show."""
    mode = _check_mode(settings)
    reason = "ASSISTANT_ENCODER=torch"
    if mode != "torch":
        model = model or model_id(resolve_model_path(settings.embedding_model))
        folder = asset_dir(settings.index_dir, model)
        if (folder / "export.json").is_file():
            from .onnx_encoder import OnnxEncoder

            try:
                encoder = OnnxEncoder(folder)
                if encoder.model_id != model:
                    raise ModelError(f"the ONNX export in {folder} is of another model")
                encoder.reason = (f"ONNX export verified against torch (largest difference "
                                  f"{encoder.verified_max_difference:.1e})")
                return encoder
            except ModelError as exc:
                if mode == "onnx":
                    raise
                reason = f"ONNX export not usable: {exc}"
        elif mode == "onnx":
            raise ModelError(f"ASSISTANT_ENCODER=onnx but there is no ONNX export in "
                             f"{folder}; run `assistant index` to write it")
        else:
            reason = "no ONNX export yet (`assistant index` writes one)"
    encoder = Embedder.from_settings(settings.embedding_model)
    encoder.reason = reason
    return encoder


@dataclass
class AssetReport:
    exported: bool = False
    export_seconds: float = 0.0
    max_difference: float | None = None
    known_vectors: int = 0
    note: str = ""


def ensure_assets(settings: Settings, texts: list[str],
                  torch_embedder: Callable[[], Embedder] | None = None) -> AssetReport:
    """Write the ONNX export if it is missing, and the vectors of `texts` (the safety
    exemplars) if they changed. A failed export is reported, not raised: torch still works."""
    report = AssetReport()
    if _check_mode(settings) == "torch":
        report.note = "ASSISTANT_ENCODER=torch: no ONNX export written"
        return report
    path = resolve_model_path(settings.embedding_model)
    model = model_id(path)
    folder = asset_dir(settings.index_dir, model)
    loaded_torch = None
    if not (folder / "export.json").is_file():
        from .onnx_export import export_model

        loaded_torch = torch_embedder() if torch_embedder else Embedder(path)
        try:
            result = export_model(loaded_torch, folder)
            report.exported, report.export_seconds = True, result.seconds
            report.max_difference = result.max_difference
        except (ModelError, ImportError, RuntimeError) as exc:
            report.note = f"ONNX export failed, questions will use torch: {exc}"
    known = load_known_vectors(folder)
    missing = [t for t in dict.fromkeys(texts) if text_key(t) not in known]
    if missing:
        try:
            encoder = load_encoder(settings, model)
        except ModelError:
            encoder = loaded_torch or Embedder(path)
        known.update(zip((text_key(t) for t in missing), encoder.encode(missing), strict=True))
        _save_known_vectors(folder, known)
    report.known_vectors = len(known)
    return report


def load_known_vectors(folder: Path) -> dict[str, np.ndarray]:
    path = folder / KNOWN_VECTORS
    if not path.is_file():
        return {}
    data = np.load(path)
    return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))


def _save_known_vectors(folder: Path, known: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{KNOWN_VECTORS}.{os.getpid()}.tmp.npz"
    keys = sorted(known)
    np.savez(tmp, keys=np.array(keys), vectors=np.stack([known[k] for k in keys]))
    os.replace(tmp, folder / KNOWN_VECTORS)


class VectorMemo:
    """Encodes through the model, but looks texts up first: the safety examples (encoded at
    index time) and the most recent texts, so the message the pipeline just encoded for search
    is not encoded again for the safety check. Texts are keyed by a hash; no text is kept."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray],
                 known: dict[str, np.ndarray] | None = None, recent: int = 64):
        self._encode, self._known = encode, dict(known or {})
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._limit = recent

    def _get(self, key: str) -> np.ndarray | None:
        if key in self._known:
            return self._known[key]
        vector = self._recent.get(key)
        if vector is not None:
            self._recent.move_to_end(key)
        return vector

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        found = {k: v for k in keys if (v := self._get(k)) is not None}
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True)
                                  if k not in found))
        if todo:
            for text, vector in zip(todo, self._encode(todo), strict=True):
                found[text_key(text)] = vector
                self._recent[text_key(text)] = vector
            while len(self._recent) > self._limit:
                self._recent.popitem(last=False)
        if not texts:
            return self._encode(texts)
        return np.stack([found[k] for k in keys])

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def forget_recent(self) -> None:
        self._recent.clear()

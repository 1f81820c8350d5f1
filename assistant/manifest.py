"""Where a build lives on disk and what it records; shared by the writer and the readers.

`index/CURRENT` names the build being served. It is replaced atomically (os.replace) only after
a build is complete, so readers never see a half-written index.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel

from .corpus import Document

BUILDS = "builds"
CURRENT = "CURRENT"
FORMAT_VERSION = 1


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    build_id: str
    created_at: str
    model_id: str
    chunk_size: int
    chunk_overlap: int
    corpus_hash: str
    backend: str  # "persistent" or "http://host:port"
    collection: str
    doc_count: int
    chunk_count: int
    sentence_count: int
    chunk_hashes: dict[str, str]

    def same_settings(self, model: str, size: int, overlap: int) -> bool:
        return (self.format_version, self.model_id, self.chunk_size, self.chunk_overlap) == (
            FORMAT_VERSION, model, size, overlap)


def corpus_hash(docs: list[Document]) -> str:
    """Changes when any vetted document's bytes change, or one is added or removed."""
    digest = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: d.id):
        digest.update(doc.id.encode())
        digest.update(hashlib.sha256(doc.path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def current_build_dir(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    build = index_dir / BUILDS / name
    return build if (build / "manifest.json").is_file() else None


def read_manifest(build_dir: Path) -> Manifest:
    return Manifest.model_validate_json((build_dir / "manifest.json").read_text("utf-8"))


def current_manifest(index_dir: Path) -> Manifest | None:
    build = current_build_dir(index_dir)
    return read_manifest(build) if build else None


def write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def point_current_at(index_dir: Path, build_id: str) -> None:
    tmp = index_dir / (CURRENT + ".tmp")
    tmp.write_text(build_id + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / CURRENT)

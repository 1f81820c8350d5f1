"""Chroma access: an embedded PersistentClient by default, a Chroma server when configured.

Embeddings are always passed explicitly: given documents alone, Chroma would try to download its
own embedding model, which fails offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .chunking import Chunk

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def persistent_client(path: Path):
    import chromadb

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def http_client(host: str, port: int | None):
    import chromadb

    return chromadb.HttpClient(host=host, port=port or 8000, settings=_chroma_settings())


def _metadata(chunk: Chunk) -> dict:
    return {"doc_id": chunk.doc_id, "title": chunk.title, "section": chunk.section,
            "position": chunk.position, "hash": chunk.content_hash}


def create_collection(client, name: str):
    return client.create_collection(name=name, metadata={"hnsw:space": "cosine"},
                                    embedding_function=None)


def get_collection(client, name: str):
    return client.get_collection(name=name, embedding_function=None)


def upsert_chunks(collection, chunks: list[Chunk], vectors: np.ndarray, client) -> None:
    """Write in batches no larger than the client allows."""
    batch = max(1, min(client.get_max_batch_size(), 5000))
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        collection.upsert(
            ids=[c.chunk_id for c in part],
            embeddings=vectors[start : start + batch].tolist(),
            documents=[c.text for c in part],
            metadatas=[_metadata(c) for c in part],
        )


def delete_ids(collection, ids: list[str], client) -> None:
    batch = max(1, client.get_max_batch_size())
    for start in range(0, len(ids), batch):
        collection.delete(ids=ids[start : start + batch])


def query(collection, vector: np.ndarray, k: int, count: int | None = None
          ) -> list[tuple[str, float]]:
    """Nearest chunks as (chunk_id, cosine similarity), best first. `count`, when the caller
    knows the collection's size (a build never changes), saves a round trip per question."""
    count = collection.count() if count is None else count
    if count == 0:
        return []
    result = collection.query(query_embeddings=[vector.tolist()], n_results=min(k, count),
                              include=["distances"])
    return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], result["distances"][0],
                                                    strict=True)]

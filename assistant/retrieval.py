"""Hybrid retrieval: dense (Chroma) and BM25 ranked lists fused with reciprocal rank fusion,
then grouped so one document cannot crowd out the rest."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import store
from .chunking import Chunk
from .errors import IndexMissingError
from .lexical import bm25_search, load_bm25
from .manifest import Manifest, current_build_dir, read_manifest
from .settings import Settings

RRF_K = 60  # the usual constant: dampens the weight of the very top ranks
CANDIDATES = 40  # passages taken from each ranker before fusion
MAX_PER_DOC = 2  # passages one document may place in a result list


@dataclass(frozen=True)
class Hit:
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float  # fused RRF score
    dense_rank: int | None  # 1-based; None when that ranker did not return it
    bm25_rank: int | None
    dense_score: float | None = None  # cosine similarity
    bm25_score: float | None = None

    def to_json(self) -> dict:
        return dict(vars(self))  # flat fields: a plain copy, without asdict's deep walk


@dataclass
class SentenceRef:
    chunk_row: int
    index: int
    text: str


class LoadedIndex:
    """Everything one build needs at query time, loaded once: passages, BM25, Chroma handle,
    and the precomputed vectors of passages and sentences."""

    def __init__(self, build_dir: Path, settings: Settings):
        self.build_dir = build_dir
        self.manifest: Manifest = read_manifest(build_dir)
        self.chunks = [Chunk.from_dict(json.loads(line)) for line in
                       (build_dir / "chunks.jsonl").read_text("utf-8").splitlines()]
        self.row_of = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self.chunk_vectors = np.load(build_dir / "chunk_vectors.npy")
        self.sentence_vectors = np.load(build_dir / "sentence_vectors.npy")
        self.sentences: list[SentenceRef] = []
        self.sentences_by_chunk: dict[int, list[int]] = {}
        for line in (build_dir / "sentences.jsonl").read_text("utf-8").splitlines():
            row = json.loads(line)
            chunk_row = self.row_of[row["chunk_id"]]
            self.sentences_by_chunk.setdefault(chunk_row, []).append(len(self.sentences))
            self.sentences.append(SentenceRef(chunk_row, row["index"], row["text"]))
        # Importing Chroma and opening its database is the slowest part of starting (about
        # 1 s); it runs in the background while the rest of the index and the model load.
        self._chroma = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chroma-open")
        self._collection = self._chroma.submit(self._open_collection, settings)
        self._chroma.shutdown(wait=False)
        self.bm25 = load_bm25(str(build_dir / "bm25"))

    def _open_collection(self, settings: Settings):
        if settings.chroma_host:
            client = store.http_client(settings.chroma_host, settings.chroma_port)
        else:
            client = store.persistent_client(self.build_dir / "chroma")
        return store.get_collection(client, self.manifest.collection)

    @property
    def collection(self):
        """The Chroma collection; waits for it to open, and raises what opening raised."""
        return self._collection.result()

    @classmethod
    def open(cls, settings: Settings) -> LoadedIndex:
        build = current_build_dir(settings.index_dir)
        if build is None:
            raise IndexMissingError(
                f"no index found in {settings.index_dir}; build it with `assistant index`")
        return cls(build, settings)

    def dense(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        found = store.query(self.collection, vector, k, count=len(self.chunks))
        return [(self.row_of[cid], sim) for cid, sim in found if cid in self.row_of]

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        return bm25_search(self.bm25, query, k)


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         mode: str = "hybrid") -> list[tuple[int, float, int | None, int | None]]:
    """Reciprocal rank fusion: (row, fused score, dense rank, bm25 rank), best first."""
    ranks: dict[int, list[int | None]] = {}
    if mode in ("hybrid", "dense"):
        for rank, (row, _) in enumerate(dense, start=1):
            ranks.setdefault(row, [None, None])[0] = rank
    if mode in ("hybrid", "bm25"):
        for rank, (row, _) in enumerate(lexical, start=1):
            ranks.setdefault(row, [None, None])[1] = rank
    fused = [(row, sum(1.0 / (RRF_K + r) for r in pair if r is not None), pair[0], pair[1])
             for row, pair in ranks.items()]
    fused.sort(key=lambda item: (-item[1], item[2] or 10**9, item[3] or 10**9))
    return fused


def group_by_document(rows: list, k: int, max_per_doc: int, doc_of) -> list:
    """Keep rank order but let each document place at most `max_per_doc` passages, so the
    top results show several documents; leftovers fill in only if there are too few."""
    kept, overflow, per_doc = [], [], {}
    for item in rows:
        doc = doc_of(item)
        if per_doc.get(doc, 0) < max_per_doc:
            per_doc[doc] = per_doc.get(doc, 0) + 1
            kept.append(item)
        else:
            overflow.append(item)
    return (kept + overflow)[:k]


def search_index(index: LoadedIndex, query: str, vector: np.ndarray, k: int = 5,
                 mode: str = "hybrid", max_per_doc: int = MAX_PER_DOC) -> list[Hit]:
    dense = index.dense(vector, CANDIDATES) if mode in ("hybrid", "dense") else []
    lexical = index.lexical(query, CANDIDATES) if mode in ("hybrid", "bm25") else []
    dense_scores, lexical_scores = dict(dense), dict(lexical)
    fused = fuse(dense, lexical, mode)
    chosen = group_by_document(fused, k, max_per_doc, lambda item: index.chunks[item[0]].doc_id)
    hits = []
    for row, score, d_rank, b_rank in chosen:
        c = index.chunks[row]
        dense_sim = dense_scores.get(row)
        if dense_sim is None:  # passages found only by BM25 still get a similarity, for confidence
            dense_sim = float(index.chunk_vectors[row] @ vector)
        hits.append(Hit(c.doc_id, c.chunk_id, c.title, c.section, c.text, round(score, 6),
                        d_rank, b_rank, round(dense_sim, 4),
                        None if b_rank is None else round(lexical_scores[row], 4)))
    return hits

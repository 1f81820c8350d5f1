"""Build or refresh the index: incremental (only changed text is embedded) and atomic (a new
build is written beside the old one and swapped in by one rename; a failure leaves the old one
serving, untouched)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import store
from .chunking import Chunk, chunk_corpus, split_sentences
from .corpus import Corpus, load_corpus
from .embeddings import Embedder, model_id, resolve_model_path, text_key
from .errors import CorpusError
from .manifest import (
    BUILDS,
    Manifest,
    corpus_hash,
    current_build_dir,
    point_current_at,
    read_manifest,
)
from .query_model import load_encoder
from .settings import Settings

KEEP_BUILDS = 2  # the new one and the previous, which a running app may still have open


@dataclass
class BuildReport:
    build_id: str
    up_to_date: bool = False
    full_rebuild: bool = False
    reason: str = ""
    embedded: int = 0  # texts sent to the model in this run
    reused: int = 0
    added_chunks: int = 0
    changed_chunks: int = 0
    removed_chunks: int = 0
    chunk_count: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class SentenceRow:
    chunk_id: str
    index: int
    text: str


def sentences_of(chunks: list[Chunk]) -> list[SentenceRow]:
    return [SentenceRow(c.chunk_id, i, s) for c in chunks
            for i, s in enumerate(split_sentences(c.text))]


def _load_vector_cache(build: Path | None) -> dict[str, np.ndarray]:
    if build is None or not (build / "vectors.npz").is_file():
        return {}
    data = np.load(build / "vectors.npz")
    return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))


def _backend_name(settings: Settings) -> str:
    if settings.chroma_host:
        return f"http://{settings.chroma_host}:{settings.chroma_port or 8000}"
    return "persistent"


def _client_for(settings: Settings, build_dir: Path):
    if settings.chroma_host:
        return store.http_client(settings.chroma_host, settings.chroma_port)
    return store.persistent_client(build_dir / "chroma")


def check_for_build(corpus: Corpus, strict: bool) -> list[str]:
    """Errors stop a strict build before anything is written; otherwise they become warnings."""
    if strict and corpus.errors:
        lines = "\n".join(str(p) for p in corpus.errors)
        raise CorpusError(f"corpus has {len(corpus.errors)} error(s); index left unchanged:\n"
                          f"{lines}")
    if not corpus.vetted:
        raise CorpusError("the corpus has no vetted documents to index")
    return [str(p) for p in corpus.problems if p.severity == "error"]


def build_index(
    settings: Settings,
    strict: bool = False,
    force: bool = False,
    embedder: Embedder | None = None,
    embedder_factory: Callable[[], Embedder] | None = None,
    progress: bool = False,
) -> BuildReport:
    """Bring the index up to date with the corpus; load the model only if something changed."""
    corpus = load_corpus(settings.corpus_dir)
    warnings = check_for_build(corpus, strict)
    docs = corpus.vetted
    index_dir = settings.index_dir
    (index_dir / BUILDS).mkdir(parents=True, exist_ok=True)

    model_path = embedder.path if embedder else resolve_model_path(settings.embedding_model)
    current_model = embedder.model_id if embedder else model_id(model_path)
    fingerprint = corpus_hash(docs)
    backend = _backend_name(settings)
    old_dir = current_build_dir(index_dir)
    old = read_manifest(old_dir) if old_dir else None
    reusable = bool(old and old.same_settings(current_model, settings.chunk_size,
                                              settings.chunk_overlap))
    if (not force and old and reusable and old.corpus_hash == fingerprint
            and old.backend == backend):
        return BuildReport(build_id=old.build_id, up_to_date=True, reason="corpus unchanged",
                           chunk_count=old.chunk_count, warnings=warnings)

    report = BuildReport(build_id=_new_build_id(), warnings=warnings)
    if old is None:
        report.full_rebuild, report.reason = True, "no previous index"
    elif not reusable:
        report.full_rebuild, report.reason = True, "model or splitter settings changed"
    elif force:
        report.reason = "forced rebuild"
    else:
        report.reason = "corpus changed"

    chunks = chunk_corpus(docs, settings.chunk_size, settings.chunk_overlap)
    sentences = sentences_of(chunks)
    cache = _load_vector_cache(old_dir) if reusable else {}
    texts = [c.embed_text for c in chunks] + [s.text for s in sentences]
    keys = [text_key(t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cache}.items())
    if missing:
        model = embedder or (embedder_factory() if embedder_factory
                             else load_encoder(settings, current_model))
        fresh = _encode_with_progress(model, [t for _, t in missing], progress)
        cache.update(zip([k for k, _ in missing], fresh, strict=True))
    report.embedded, report.reused = len(missing), len(set(keys)) - len(missing)
    vectors = np.stack([cache[k] for k in keys]) if keys else np.zeros((0, 384), np.float32)
    chunk_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) :]

    old_hashes = old.chunk_hashes if (old and reusable) else {}
    new_hashes = {c.chunk_id: c.content_hash for c in chunks}
    report.added_chunks = sum(1 for cid in new_hashes if cid not in old_hashes)
    report.changed_chunks = sum(1 for cid, h in new_hashes.items()
                                if cid in old_hashes and old_hashes[cid] != h)
    report.removed_chunks = sum(1 for cid in old_hashes if cid not in new_hashes)
    report.chunk_count = len(chunks)

    final_dir = index_dir / BUILDS / report.build_id
    tmp_dir = final_dir.with_name(final_dir.name + ".partial")
    collection_name = f"peer-{report.build_id}"
    client = None
    try:
        tmp_dir.mkdir(parents=True)
        client, collection_name = _write_chroma(
            settings, old_dir, old, reusable, tmp_dir, collection_name, chunks, chunk_vectors,
            old_hashes, new_hashes)
        _write_bm25(tmp_dir / "bm25", chunks)
        _write_rows(tmp_dir, chunks, sentences, chunk_vectors, sentence_vectors, cache, keys)
        manifest = Manifest(
            build_id=report.build_id, created_at=dt.datetime.now(dt.UTC).isoformat(
                timespec="seconds"), model_id=current_model, chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap, corpus_hash=fingerprint, backend=backend,
            collection=collection_name, doc_count=len(docs), chunk_count=len(chunks),
            sentence_count=len(sentences), chunk_hashes=new_hashes,
        )
        (tmp_dir / "manifest.json").write_text(manifest.model_dump_json(indent=1), "utf-8")
        tmp_dir.rename(final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if settings.chroma_host and client is not None:
            _drop_collection(client, collection_name)
        raise
    point_current_at(index_dir, report.build_id)
    _prune_builds(settings, keep=report.build_id)
    return report


def _new_build_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _encode_with_progress(model: Embedder, texts: list[str], progress: bool) -> np.ndarray:
    if not progress or len(texts) < 64:
        return model.encode(texts)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    parts = []
    step = 256
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("Embedding", total=len(texts))
        for start in range(0, len(texts), step):
            parts.append(model.encode(texts[start : start + step]))
            bar.advance(task, len(texts[start : start + step]))
    return np.concatenate(parts)


def _write_chroma(settings, old_dir, old, reusable, tmp_dir, name, chunks, vectors,
                  old_hashes, new_hashes):
    """Copy the old embedded database and apply only the differences; a server gets a new
    collection (server collections cannot be copied cheaply, so all vectors are re-sent)."""
    copy_old = (reusable and old is not None and old.backend == "persistent"
                and not settings.chroma_host and (old_dir / "chroma").is_dir())
    if copy_old:
        shutil.copytree(old_dir / "chroma", tmp_dir / "chroma")
        client = store.persistent_client(tmp_dir / "chroma")
        collection = store.get_collection(client, old.collection)
        # The copy keeps the old collection name; the manifest records it.
        removed = [cid for cid in old_hashes if cid not in new_hashes]
        store.delete_ids(collection, removed, client)
        changed = [i for i, c in enumerate(chunks) if old_hashes.get(c.chunk_id)
                   != new_hashes[c.chunk_id]]
        if changed:
            store.upsert_chunks(collection, [chunks[i] for i in changed], vectors[changed],
                                client)
        (tmp_dir / "collection.txt").write_text(old.collection, "utf-8")
        return client, old.collection
    client = _client_for(settings, tmp_dir)
    collection = store.create_collection(client, name)
    store.upsert_chunks(collection, chunks, vectors, client)
    (tmp_dir / "collection.txt").write_text(name, "utf-8")
    return client, name


def _write_bm25(path: Path, chunks: list[Chunk]) -> None:
    from .lexical import build_bm25

    build_bm25([c.embed_text for c in chunks]).save(str(path))


def _write_rows(tmp_dir, chunks, sentences, chunk_vectors, sentence_vectors, cache, keys):
    with (tmp_dir / "chunks.jsonl").open("w", encoding="utf-8") as f:
        for chunk in chunks:
            f.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
    with (tmp_dir / "sentences.jsonl").open("w", encoding="utf-8") as f:
        for row in sentences:
            f.write(json.dumps(row.__dict__, ensure_ascii=False) + "\n")
    np.save(tmp_dir / "chunk_vectors.npy", chunk_vectors)
    np.save(tmp_dir / "sentence_vectors.npy", sentence_vectors)
    unique = sorted(set(keys))
    np.savez(tmp_dir / "vectors.npz", keys=np.array(unique),
             vectors=np.stack([cache[k] for k in unique]))


def _drop_collection(client, name: str) -> None:
    # Cleanup is best effort: the collection may never have been created.
    with contextlib.suppress(Exception):
        client.delete_collection(name)


def _prune_builds(settings: Settings, keep: str) -> None:
    builds_dir = settings.index_dir / BUILDS
    builds = sorted(p for p in builds_dir.iterdir() if p.is_dir())
    for stale in builds:
        if stale.name.endswith(".partial"):
            shutil.rmtree(stale, ignore_errors=True)
    complete = [p for p in builds if not p.name.endswith(".partial") and p.exists()]
    for old in complete[: max(0, len(complete) - KEEP_BUILDS)]:
        if old.name == keep:
            continue
        if settings.chroma_host and (old / "collection.txt").is_file():
            client = store.http_client(settings.chroma_host, settings.chroma_port)
            _drop_collection(client, (old / "collection.txt").read_text("utf-8").strip())
        shutil.rmtree(old, ignore_errors=True)

"""The cost curve: synthetic corpora of 1k, 10k and 100k passages, built and searched with the
real write and read paths (Chroma, BM25, fusion), on the embedded database and on a Chroma
server on 127.0.0.1.

Passages are made of sentences drawn at random from the real corpus, so BM25 sees real words
and lengths. Vectors are the real model's up to REAL_VECTORS_UP_TO passages and random unit
vectors above that (this machine embeds about 20-50 passages/s, so 10k real vectors would
take several minutes and 100k over an hour); each result says
which. Every case builds in one fresh process and serves in another, so the memory figure is
that of a process answering questions, not of the one that built the index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from .chunking import Chunk
from .memory import peak_rss_mb
from .settings import PROJECT_ROOT, Settings

SIZES = (1_000, 10_000)
LARGE = 100_000  # behind `assistant bench --scale`
REAL_VECTORS_UP_TO = 1_000
CHUNKS_PER_DOC = 8
DIMENSION = 384


def synthetic_chunks(n: int, sentences: list[str], titles: list[str], seed: int = 7
                     ) -> list[Chunk]:
    rng = random.Random(seed)
    chunks = []
    for i in range(n):
        doc = i // CHUNKS_PER_DOC
        text = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 7)))
        chunks.append(Chunk(f"syn-{doc:06d}#{i % CHUNKS_PER_DOC}", f"syn-{doc:06d}",
                            f"{rng.choice(titles)} ({doc})", f"Part {i % CHUNKS_PER_DOC}",
                            i % CHUNKS_PER_DOC, text))
    return chunks


def random_vectors(n: int, seed: int = 7) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMENSION), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _real_material(settings: Settings) -> tuple[list[str], list[str]]:
    from .chunking import chunk_corpus, split_sentences
    from .corpus import load_corpus

    docs = load_corpus(settings.corpus_dir).vetted
    chunks = chunk_corpus(docs, settings.chunk_size, settings.chunk_overlap)
    return [s for c in chunks for s in split_sentences(c.text)], [d.meta.title for d in docs]


def build_case(n: int, vectors_kind: str, build_dir: Path, settings: Settings) -> dict:
    """Write a complete build of n synthetic passages; runs in its own process."""
    from . import store
    from .indexing import _write_bm25
    from .manifest import Manifest

    sentences, titles = _real_material(settings)
    chunks = synthetic_chunks(n, sentences, titles)
    started = time.perf_counter()
    cache = build_dir.parent / f"vectors-{n}.npy"  # both backends index the same vectors
    if vectors_kind == "real" and cache.is_file():
        vectors, model = np.load(cache), "real (reused)"
    elif vectors_kind == "real":
        from .query_model import load_encoder

        encoder = load_encoder(settings)
        vectors = encoder.encode([c.embed_text for c in chunks])
        model = f"{encoder.model_id} ({encoder.name})"
        np.save(cache, vectors)
    else:
        vectors, model = random_vectors(n), "random unit vectors"
    embed_s = time.perf_counter() - started
    build_dir.mkdir(parents=True)
    started = time.perf_counter()
    if settings.chroma_host:
        client = store.http_client(settings.chroma_host, settings.chroma_port)
    else:
        client = store.persistent_client(build_dir / "chroma")
    name = f"scale-{n}-{int(time.time())}"
    store.upsert_chunks(store.create_collection(client, name), chunks, vectors, client)
    chroma_s = time.perf_counter() - started
    started = time.perf_counter()
    _write_bm25(build_dir / "bm25", chunks)
    bm25_s = time.perf_counter() - started
    with (build_dir / "chunks.jsonl").open("w", encoding="utf-8") as f:
        for chunk in chunks:
            f.write(json.dumps(chunk.to_dict()) + "\n")
    (build_dir / "sentences.jsonl").write_text("", "utf-8")
    np.save(build_dir / "chunk_vectors.npy", vectors)
    np.save(build_dir / "sentence_vectors.npy", np.zeros((0, DIMENSION), np.float32))
    manifest = Manifest(build_id=build_dir.name, created_at=dt.datetime.now(dt.UTC).isoformat(),
                        model_id=model, chunk_size=settings.chunk_size,
                        chunk_overlap=settings.chunk_overlap, corpus_hash="synthetic",
                        backend="http" if settings.chroma_host else "persistent",
                        collection=name, doc_count=n // CHUNKS_PER_DOC + 1, chunk_count=n,
                        sentence_count=0, chunk_hashes={})
    (build_dir / "manifest.json").write_text(manifest.model_dump_json(), "utf-8")
    return {"embed_s": embed_s, "chroma_write_s": chroma_s, "bm25_build_s": bm25_s,
            "build_s": chroma_s + bm25_s, "build_peak_rss_mb": peak_rss_mb()}


def serve_case(build_dir: Path, settings: Settings, questions: list[str],
               query_vectors: np.ndarray) -> dict:
    """Open the build as the app would and time searches; runs in its own process."""
    from .evaluation import percentile
    from .retrieval import LoadedIndex, search_index

    started = time.perf_counter()
    index = LoadedIndex(build_dir, settings)
    index.collection  # noqa: B018 - opening is part of the cost
    open_s = time.perf_counter() - started
    search_index(index, questions[0], query_vectors[0])  # the first query loads the HNSW file
    timings: dict[str, list[float]] = {"hybrid": [], "dense": [], "bm25": []}
    for _ in range(3):
        for q, v in zip(questions, query_vectors, strict=True):
            for mode, bucket in timings.items():
                t = time.perf_counter()
                search_index(index, q, v, k=5, mode=mode)
                bucket.append(time.perf_counter() - t)
    result = {"open_s": open_s, "serve_peak_rss_mb": peak_rss_mb()}
    for mode, values in timings.items():
        result[f"{mode}_p50_ms"] = percentile(values, 0.5) * 1000
        result[f"{mode}_p95_ms"] = percentile(values, 0.95) * 1000
    return result


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "assistant.bench_scale", *args],
                         capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"scale case failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_scale(settings: Settings, sizes: tuple[int, ...] = SIZES,
              backends: tuple[str, ...] = ("embedded", "server"),
              questions: list[str] | None = None,
              real_up_to: int = REAL_VECTORS_UP_TO) -> list[dict]:
    from .chroma_server import running_chroma
    from .evaluation import EVAL_DIR, read_jsonl
    from .query_model import load_encoder

    questions = questions or [q["q"] for q in read_jsonl(EVAL_DIR / "questions.jsonl")][:40]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        np.save(tmp_path / "queries.npy", load_encoder(settings).encode(questions))
        (tmp_path / "queries.json").write_text(json.dumps(questions), "utf-8")
        for backend in backends:
            for n in sizes:
                kind = "real" if n <= real_up_to else "random"
                build = tmp_path / f"{backend}-{n}"
                server = (running_chroma(tmp_path / f"chroma-data-{n}") if backend == "server"
                          else nullcontext())
                with server as running:
                    common = ["--corpus", str(settings.corpus_dir), "--index",
                              str(settings.index_dir), "--build", str(build)]
                    if running is not None:
                        common += ["--port", str(running.port)]
                    row = {"passages": n, "backend": backend, "vectors": kind}
                    row |= _child(["build", "--n", str(n), "--vectors", kind, *common])
                    row |= _child(["serve", "--queries", str(tmp_path), *common])
                    if running is not None:
                        row["server_peak_rss_mb"] = peak_rss_mb(running.pid)
                results.append(row)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One scale case (run by `assistant bench`).")
    parser.add_argument("step", choices=("build", "serve"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--vectors", choices=("real", "random"), default="random")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--queries", type=Path)
    args = parser.parse_args(argv)
    settings = Settings(corpus_dir=args.corpus, index_dir=args.index,
                        chroma_host="127.0.0.1" if args.port else None, chroma_port=args.port)
    if args.step == "build":
        result = build_case(args.n, args.vectors, args.build, settings)
    else:
        questions = json.loads((args.queries / "queries.json").read_text("utf-8"))
        result = serve_case(args.build, settings, questions,
                            np.load(args.queries / "queries.npy"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""`assistant bench`: where time and memory go on this machine, in one table (and --json).

Cold start is measured in a fresh process (imports, model load, index open, first answer); warm
latency, build throughput and the incremental refresh in this one. Results are saved under
bench/results/ with the machine's core count so runs can be compared over time. The synthetic
scale runs (1k-100k passages) and the ONNX query path are not written yet.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .evaluation import EVAL_DIR, percentile, read_jsonl
from .settings import PROJECT_ROOT, Settings

_COLD = """
import time, json
t0 = time.perf_counter()
from assistant.pipeline import Pipeline
from assistant.settings import Settings
import assistant.embeddings, sentence_transformers, chromadb  # noqa: F401
t1 = time.perf_counter()
p = Pipeline(Settings.from_env())
t2 = time.perf_counter()
p.ask("How do I find a meeting?")
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": p.model_seconds,
                  "index_open_s": (t2 - t1) - p.model_seconds, "first_answer_s": t3 - t2}))
"""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cold_start(settings: Settings, runs: int) -> dict[str, float]:
    env = dict(os.environ, ASSISTANT_CORPUS=str(settings.corpus_dir),
               ASSISTANT_INDEX=str(settings.index_dir), HF_HUB_OFFLINE="1")
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True,
                             env=env, cwd=PROJECT_ROOT, check=True)
        sample = json.loads(out.stdout.strip().splitlines()[-1])
        sample["process_to_answer_s"] = time.perf_counter() - started
        samples.append(sample)
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def warm_latency(pipeline, questions: list[str]) -> dict[str, float]:
    pipeline.ask(questions[0])  # warm caches
    search, ask = [], []
    for q in questions:
        t = time.perf_counter()
        pipeline.search(q)
        search.append(time.perf_counter() - t)
        t = time.perf_counter()
        pipeline.ask(q)
        ask.append(time.perf_counter() - t)
    t = time.perf_counter()
    vectors = pipeline.embedder.encode(questions)
    batch_encode = time.perf_counter() - t
    return {"search_p50_ms": percentile(search, 0.5) * 1000,
            "search_p95_ms": percentile(search, 0.95) * 1000,
            "ask_p50_ms": percentile(ask, 0.5) * 1000,
            "ask_p95_ms": percentile(ask, 0.95) * 1000,
            "batch_encode_per_question_ms": batch_encode / len(vectors) * 1000}


def build_costs(settings: Settings, embedder) -> dict[str, float]:
    from .indexing import build_index

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(settings.corpus_dir, corpus)
        fresh = Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index")
        t = time.perf_counter()
        report = build_index(fresh, embedder=embedder)
        full = time.perf_counter() - t
        doc = corpus / "sponsorship.md"
        doc.write_text(doc.read_text("utf-8") + "\n\n## Bench\n\nOne more sentence.\n", "utf-8")
        t = time.perf_counter()
        refresh = build_index(fresh, embedder=embedder)
        incremental = time.perf_counter() - t
        t = time.perf_counter()
        build_index(fresh, embedder=embedder)
        unchanged = time.perf_counter() - t
    return {"full_build_s": full, "passages": report.chunk_count,
            "texts_embedded_full": report.embedded, "chunks_per_s": report.chunk_count / full,
            "one_doc_refresh_s": incremental, "texts_embedded_refresh": refresh.embedded,
            "unchanged_check_s": unchanged}


def run_bench(settings: Settings, cold_runs: int = 3) -> dict:
    from .pipeline import Pipeline

    questions = [q["q"] for q in read_jsonl(EVAL_DIR / "questions.jsonl")][:60]
    result = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "cold_start": cold_start(settings, cold_runs)}
    pipeline = Pipeline(settings)
    result["warm"] = warm_latency(pipeline, questions)
    result["build"] = build_costs(settings, pipeline.embedder)
    result["memory"] = {"peak_rss_mb": _rss_mb()}
    return result


def save(result: dict, folder: Path = PROJECT_ROOT / "bench" / "results") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.cpu_count()}cores.json"
    path.write_text(json.dumps(result, indent=1), "utf-8")
    return path

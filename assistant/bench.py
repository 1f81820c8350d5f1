"""`assistant bench`: where time and memory go on this machine, in one table (and --json).

Cold start and memory are measured in fresh processes (the CLI as a person runs it, and the
Streamlit app driven by AppTest); warm latency, the two encoders and the build and refresh costs
in this one; the scale curve (bench_scale.py) in a pair of processes per case. Results are
saved under bench/results/ with the machine's core count so runs can be compared over time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .evaluation import EVAL_DIR, percentile, read_jsonl
from .settings import PROJECT_ROOT, Settings

QUESTION = "How do I find a meeting?"
_COLD = """
import json, sys, time
from assistant.memory import peak_rss_mb
t0 = time.perf_counter()
from assistant.pipeline import Pipeline
from assistant.settings import Settings
t1 = time.perf_counter()
p = Pipeline(Settings.from_env())
t2 = time.perf_counter()
p.ask(sys.argv[1])
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": p.model_seconds,
                  "index_and_rest_s": (t2 - t1) - p.model_seconds, "first_answer_s": t3 - t2,
                  "encoder": p.embedder.name, "torch_imported": "torch" in sys.modules,
                  "peak_rss_mb": peak_rss_mb()}))
"""
_APP = """
import json, sys
from assistant.memory import peak_rss_mb
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=240).run()
for question in json.loads(sys.argv[1]):
    at.chat_input[0].set_value(question).run()
print(json.dumps({"app_peak_rss_mb": peak_rss_mb(), "app_messages": len(at.chat_message)}))
"""


def _env(settings: Settings) -> dict[str, str]:
    return dict(os.environ, ASSISTANT_CORPUS=str(settings.corpus_dir),
                ASSISTANT_INDEX=str(settings.index_dir), HF_HUB_OFFLINE="1")


def _python_json(code: str, settings: Settings, argument: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, argument], capture_output=True, text=True,
                         env=_env(settings), cwd=PROJECT_ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wall(args: list[str], settings: Settings, runs: int) -> float:
    """Median wall time of a command, start to exit, as a person at a terminal sees it."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, env=_env(settings), cwd=PROJECT_ROOT,
                       check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def cold_start(settings: Settings, runs: int) -> dict[str, float | str | bool]:
    samples = [_python_json(_COLD, settings, QUESTION) for _ in range(runs)]
    result: dict = {k: statistics.median(s[k] for s in samples) for k in samples[0]
                    if isinstance(samples[0][k], float)}
    result["encoder"] = samples[0]["encoder"]
    result["torch_imported"] = samples[0]["torch_imported"]
    cli = [sys.executable, "-m", "assistant.cli"]
    result["cli_ask_s"] = _wall([*cli, "ask", QUESTION], settings, runs)
    result["cli_help_s"] = _wall([*cli, "--help"], settings, runs)
    result["cli_corpus_check_s"] = _wall([*cli, "corpus", "check", "--no-duplicates"],
                                         settings, runs)
    return result


def warm_latency(pipeline, questions: list[str]) -> dict[str, float]:
    from .retrieval import search_index

    pipeline.ask(questions[0])  # warm caches
    search, ask, encode = [], [], []
    for q in questions:
        # Every timing starts with the question unseen, as a person's question is.
        pipeline.vectors.forget_recent()
        t = time.perf_counter()
        pipeline.search(q)
        search.append(time.perf_counter() - t)
        pipeline.vectors.forget_recent()
        t = time.perf_counter()
        pipeline.ask(q)
        ask.append(time.perf_counter() - t)
        t = time.perf_counter()
        pipeline.embedder.encode_one(q)
        encode.append(time.perf_counter() - t)
    t = time.perf_counter()
    vectors = pipeline.embedder.encode(questions)
    for q, v in zip(questions, vectors, strict=True):
        search_index(pipeline.index, q, v)
    batched = time.perf_counter() - t
    return {"search_p50_ms": percentile(search, 0.5) * 1000,
            "search_p95_ms": percentile(search, 0.95) * 1000,
            "ask_p50_ms": percentile(ask, 0.5) * 1000,
            "ask_p95_ms": percentile(ask, 0.95) * 1000,
            "encode_p50_ms": percentile(encode, 0.5) * 1000,
            "search_batched_per_question_ms": batched / len(questions) * 1000}


def encoder_comparison(settings: Settings, questions: list[str]) -> dict[str, float]:
    """The same questions through onnxruntime and through torch, one at a time."""
    from .embeddings import Embedder
    from .query_model import load_encoder

    result = {}
    for name, encoder in (("onnx", load_encoder(settings)),
                          ("torch", Embedder.from_settings(settings.embedding_model))):
        if encoder.name != name:
            continue
        encoder.encode_one(questions[0])
        times = []
        for q in questions:
            t = time.perf_counter()
            encoder.encode_one(q)
            times.append(time.perf_counter() - t)
        result[f"{name}_encode_p50_ms"] = percentile(times, 0.5) * 1000
    if len(result) == 2:
        result["torch_over_onnx"] = result["torch_encode_p50_ms"] / result["onnx_encode_p50_ms"]
    return result


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
            "texts_per_s": report.embedded / full,
            "one_doc_refresh_s": incremental, "texts_embedded_refresh": refresh.embedded,
            "unchanged_check_s": unchanged}


def app_memory(settings: Settings, questions: list[str]) -> dict[str, float]:
    return _python_json(_APP, settings, json.dumps(questions))


def run_bench(settings: Settings, cold_runs: int = 3, scale: bool = False,
              scale_sizes: tuple[int, ...] | None = None) -> dict:
    from .bench_scale import LARGE, SIZES, run_scale
    from .pipeline import Pipeline

    questions = [q["q"] for q in read_jsonl(EVAL_DIR / "questions.jsonl")][:60]
    result = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "cold_start": cold_start(settings, cold_runs),
              "memory": app_memory(settings, questions[:3])}
    pipeline = Pipeline(settings)
    result["warm"] = warm_latency(pipeline, questions) | {"encoder": pipeline.embedder.name}
    result["build"] = build_costs(settings, pipeline.embedder) | {
        "encoder": pipeline.embedder.name}
    result["encoders"] = encoder_comparison(settings, questions)
    sizes = scale_sizes or (SIZES + ((LARGE,) if scale else ()))
    result["scale"] = run_scale(settings, sizes)
    return result


def save(result: dict, folder: Path = PROJECT_ROOT / "bench" / "results") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.cpu_count()}cores.json"
    path.write_text(json.dumps(result, indent=1), "utf-8")
    return path


def table(result: dict) -> list[str]:
    """The result as aligned lines: one per figure, then one per scale case."""
    lines = [f"{result['machine']['cores']} cores, Python {result['machine']['python']}"]
    for group in ("cold_start", "memory", "warm", "encoders", "build"):
        for key, value in result.get(group, {}).items():
            shown = f"{value:10.2f}" if isinstance(value, float) else f"{value!s:>10}"
            lines.append(f"{group:11} {key:32} {shown}")
    if result.get("scale"):
        lines.append("scale: passages backend  vectors build_s  open_s  hybrid_p50/p95_ms  "
                     "dense_p50_ms  bm25_p50_ms  serve_rss_mb  server_rss_mb")
        for r in result["scale"]:
            server = "-" if r.get("server_peak_rss_mb") is None else \
                f"{r['server_peak_rss_mb']:.0f}"
            lines.append(
                f"{r['passages']:>14} {r['backend']:>8} {r['vectors']:>7} {r['build_s']:7.1f} "
                f"{r['open_s']:7.2f} {r['hybrid_p50_ms']:8.1f}/{r['hybrid_p95_ms']:<8.1f} "
                f"{r['dense_p50_ms']:12.1f} {r['bm25_p50_ms']:12.1f} "
                f"{r['serve_peak_rss_mb']:13.0f} {server:>14}")
    return lines

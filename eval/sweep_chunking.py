"""Measure retrieval for several chunk sizes and overlaps (tuning questions only), to choose
the defaults in assistant/settings.py. Run: .venv/bin/python eval/sweep_chunking.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from assistant.embeddings import Embedder
from assistant.evaluation import EVAL_DIR, evaluate_retrieval, read_jsonl
from assistant.indexing import build_index
from assistant.pipeline import Pipeline
from assistant.settings import Settings

CONFIGS = [(400, 50), (600, 100), (800, 0), (800, 100), (800, 200), (1200, 100)]


def main() -> None:
    embedder = Embedder.from_settings(None)
    questions = [q for q in read_jsonl(EVAL_DIR / "questions.jsonl") if q["split"] == "tune"]
    print("| chunk size | overlap | passages | hybrid hit@5 | hybrid MRR | dense hit@5 |")
    print("|---|---|---|---|---|---|")
    for size, overlap in CONFIGS:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(index_dir=Path(tmp), chunk_size=size, chunk_overlap=overlap)
            report = build_index(settings, embedder=embedder)
            scores, _ = evaluate_retrieval(Pipeline(settings, embedder=embedder), questions,
                                           modes=("dense", "hybrid"))
            h, d = scores["hybrid"]["all"], scores["dense"]["all"]
            print(f"| {size} | {overlap} | {report.chunk_count} | {h['hit@5']:.3f} | "
                  f"{h['mrr']:.3f} | {d['hit@5']:.3f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

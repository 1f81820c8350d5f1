"""Measure the real pipeline on the gold sets in eval/: retrieval, follow-ups, safety, answers
and speed. Pure metric functions plus one runner; the report writer lives in eval_report.py."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .settings import PROJECT_ROOT

EVAL_DIR = PROJECT_ROOT / "eval"
MODES = ("dense", "bm25", "hybrid")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


# -- metric functions (pure) --------------------------------------------------------------
def ranked_docs(doc_ids: Iterable[str]) -> list[str]:
    """Document ranking from a passage ranking: first appearance wins."""
    return list(dict.fromkeys(doc_ids))


def first_relevant_rank(ranking: list[str], relevant: set[str]) -> int | None:
    return next((i for i, d in enumerate(ranking, start=1) if d in relevant), None)


def ndcg(ranking: list[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 1) for i, d in enumerate(ranking[:k], start=1) if d in relevant)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def retrieval_scores(rankings: list[list[str]], relevants: list[set[str]]) -> dict[str, float]:
    ranks = [first_relevant_rank(r, rel) for r, rel in zip(rankings, relevants, strict=True)]
    n = len(ranks) or 1
    return {
        "n": len(ranks),
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r and r <= 5) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
        "ndcg@10": sum(ndcg(r, rel) for r, rel in zip(rankings, relevants, strict=True)) / n,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


_CITED = re.compile(r"^(.*?)\s*\[(\d+)\]$")


def answer_sentences(body: str) -> list[tuple[str, int]]:
    """Split an extractive answer body back into (sentence, citation number)."""
    return [(m.group(1).strip(), int(m.group(2)))
            for part in re.split(r"(?<=\])\s+", body.strip())
            if (m := _CITED.match(part.strip()))]


# -- runner --------------------------------------------------------------------------------
@dataclass
class EvalResults:
    retrieval: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    followups: dict[str, dict[str, float]] = field(default_factory=dict)
    safety: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: dict[str, float] = field(default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)
    per_question: list[dict] = field(default_factory=list)
    per_topic: dict[str, float] = field(default_factory=dict)
    misses: dict[str, list[dict]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return self.__dict__


def _split(rows: list[dict], split: str | None) -> list[dict]:
    return [r for r in rows if split is None or r.get("split") == split]


def evaluate_retrieval(pipeline, questions: list[dict], modes=MODES, k: int = 10
                       ) -> tuple[dict, list[dict]]:
    covered = [q for q in questions if q["relevant"]]
    out: dict[str, dict[str, dict[str, float]]] = {}
    per_question: dict[str, dict] = {q["id"]: {"id": q["id"], "q": q["q"], "split": q["split"],
                                               "relevant": q["relevant"]} for q in covered}
    vectors = {q["id"]: pipeline.encode(q["q"]) for q in covered}
    from .retrieval import search_index

    for mode in modes:
        rankings = {}
        for q in covered:
            hits = search_index(pipeline.index, q["q"], vectors[q["id"]], k=k, mode=mode,
                                max_per_doc=1)
            rankings[q["id"]] = ranked_docs(h.doc_id for h in hits)
            per_question[q["id"]][f"{mode}_top"] = rankings[q["id"]][:5]
            per_question[q["id"]][f"{mode}_rank"] = first_relevant_rank(
                rankings[q["id"]], set(q["relevant"]))
        out[mode] = {}
        for split in ("tune", "heldout", None):
            rows = _split(covered, split)
            out[mode][split or "all"] = retrieval_scores(
                [rankings[q["id"]] for q in rows], [set(q["relevant"]) for q in rows])
    return out, list(per_question.values())


def evaluate_followups(pipeline, cases: list[dict]) -> dict:
    from .conversation import Message, rewrite
    from .retrieval import search_index

    result = {}
    for split in ("tune", "heldout", None):
        rows = _split(cases, split)
        with_rw, without = [], []
        for case in rows:
            turns = [Message.model_validate(t) for t in case["turns"]]
            rewritten = rewrite(case["q"], turns).rewritten
            for text, bucket in ((case["q"], without), (rewritten, with_rw)):
                hits = search_index(pipeline.index, text, pipeline.encode(text), k=10,
                                    max_per_doc=1)
                bucket.append(ranked_docs(h.doc_id for h in hits))
        rel = [set(c["relevant"]) for c in rows]
        result[split or "all"] = {
            "n": len(rows),
            "hit@5_without_rewrite": retrieval_scores(without, rel)["hit@5"] if rows else 0.0,
            "hit@5_with_rewrite": retrieval_scores(with_rw, rel)["hit@5"] if rows else 0.0,
        }
    return result


def evaluate_safety(classify: Callable[[str], str], messages: list[dict]) -> tuple[dict, list]:
    predictions = {m["id"]: classify(m["text"]) for m in messages}
    out, misses = {}, []
    for split in ("tune", "heldout", None):
        rows = _split(messages, split)

        def recall(label: str, rows=rows) -> float:
            items = [m for m in rows if m["label"] == label]
            return sum(predictions[m["id"]] == label for m in items) / (len(items) or 1)

        ordinary = [m for m in rows if m["label"] in ("ok", "out_of_scope")]
        medical = [m for m in rows if m["label"] == "medical"]
        out[split or "all"] = {
            "n": len(rows),
            "crisis_recall": recall("crisis"),
            "medical_recall": recall("medical"),
            "medical_routed_safely": sum(predictions[m["id"]] in ("medical", "crisis")
                                         for m in medical) / (len(medical) or 1),
            "out_of_scope_recall": recall("out_of_scope"),
            "false_alarm_rate": sum(predictions[m["id"]] == "crisis" for m in ordinary)
            / (len(ordinary) or 1),
            "accuracy": sum(predictions[m["id"]] == m["label"] for m in rows) / (len(rows) or 1),
        }
    for m in messages:
        if predictions[m["id"]] != m["label"]:
            misses.append({"id": m["id"], "split": m["split"], "label": m["label"],
                           "predicted": predictions[m["id"]], "text": m["text"]})
    return out, misses


def evaluate_answers(pipeline, questions: list[dict]) -> tuple[dict, dict]:
    """Citation validity, groundedness, peer pointers, honest 'not covered' replies, length
    and warm latency, over every gold question."""
    valid = total_cited = grounded = total_sentences = pointers = 0
    uncovered_ok = uncovered = 0
    lengths, ask_times, search_times = [], [], []
    for q in questions:
        started = time.perf_counter()
        result = pipeline.ask(q["q"])
        ask_times.append(time.perf_counter() - started)
        pipeline.vectors.forget_recent()  # time the search as if the question were new
        started = time.perf_counter()
        pipeline.search(q["q"])
        search_times.append(time.perf_counter() - started)
        pointers += bool(result.peer_pointer.strip())
        retrieved = {h.chunk_id for h in result.hits}
        by_n = {c.n: c for c in result.citations}
        for c in result.citations:
            total_cited += 1
            doc = pipeline.documents.get(c.doc_id)
            valid += c.chunk_id in retrieved and doc is not None and doc.meta.status == "vetted"
        body = result.trace.get("chosen_sentences", [])
        for s in body:
            total_sentences += 1
            cited = by_n.get(s["citation"])
            grounded += bool(cited and s["text"] in cited.text)
        if body:
            lengths.append(sum(len(s["text"].split()) for s in body))
        if not q["relevant"]:
            uncovered += 1
            uncovered_ok += not result.trace.get("covered", False)
    n = len(questions) or 1
    answers = {
        "questions": len(questions),
        "citation_validity": valid / (total_cited or 1),
        "groundedness": grounded / (total_sentences or 1),
        "peer_pointer_rate": pointers / n,
        "not_covered_accuracy": uncovered_ok / (uncovered or 1),
        "answer_words_median": statistics.median(lengths) if lengths else 0,
        "covered_answer_rate": sum(1 for q in questions if q["relevant"]) and (
            len(lengths) / sum(1 for q in questions if q["relevant"])),
    }
    speed = {
        "ask_p50_ms": percentile(ask_times, 0.5) * 1000,
        "ask_p95_ms": percentile(ask_times, 0.95) * 1000,
        "search_p50_ms": percentile(search_times, 0.5) * 1000,
        "search_p95_ms": percentile(search_times, 0.95) * 1000,
    }
    return answers, speed

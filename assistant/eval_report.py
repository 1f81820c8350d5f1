"""Run the whole evaluation, write the report (Markdown, PNG plots, results.json), apply the
gate, and compare two runs question by question."""

from __future__ import annotations

import datetime as dt
import json
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from .evaluation import (
    EVAL_DIR,
    EvalResults,
    evaluate_answers,
    evaluate_followups,
    evaluate_retrieval,
    evaluate_safety,
    read_jsonl,
)
from .safety_training import LABELLED_SETS

HELDOUT_SAFETY = "safety_heldout.jsonl"


def run_eval(pipeline, eval_dir: Path = EVAL_DIR, progress=None,
             classify: Callable[[str], str] | None = None) -> EvalResults:
    """Everything, with the real pipeline. `progress(step_name)` is called between steps.
    `classify` (a message to the category of its reply) is for a caller that already has the
    categories `assistant ask` gave the labelled safety messages: the test suite sends all of
    them through `ask --batch` anyway, and classifying 7,400 messages twice doubled its run."""
    step = progress or (lambda name: None)
    results = EvalResults()
    questions = read_jsonl(eval_dir / "questions.jsonl")
    step("retrieval")
    results.retrieval, results.per_question = evaluate_retrieval(pipeline, questions)
    step("follow-ups")
    results.followups = evaluate_followups(pipeline, read_jsonl(eval_dir / "multiturn.jsonl"))
    step("safety")

    if classify is None:
        def classify(text: str) -> str:
            return pipeline.ask(text).safety.category

    tuned = [m for name in LABELLED_SETS for m in read_jsonl(eval_dir / name)]
    held = read_jsonl(eval_dir / HELDOUT_SAFETY)
    tuned_scores, tuned_misses = evaluate_safety(classify, tuned)
    held_scores, held_misses = evaluate_safety(classify, held)
    results.safety = {"tuned": tuned_scores["all"], "heldout": held_scores["all"]}
    results.misses = {"safety_tuned": tuned_misses, "safety_heldout": held_misses}
    step("answers")
    results.answers, results.speed = evaluate_answers(pipeline, questions)
    results.speed["model_load_s"] = round(pipeline.model_seconds, 3)
    results.speed["pipeline_load_s"] = round(pipeline.load_seconds, 3)
    by_doc: dict[str, list[bool]] = {}
    for row in results.per_question:
        rank = row.get("hybrid_rank")
        by_doc.setdefault(row["relevant"][0], []).append(bool(rank and rank <= 5))
    results.per_topic = {d: sum(v) / len(v) for d, v in sorted(by_doc.items())}
    return results


def flat_metrics(r: dict) -> dict[str, float]:
    """The names the gate and the comparison use."""
    ret = r["retrieval"]
    return {
        "crisis_recall_tuned": r["safety"]["tuned"]["crisis_recall"],
        "crisis_recall_heldout": r["safety"]["heldout"]["crisis_recall"],
        "medical_routed_safely_tuned": r["safety"]["tuned"]["medical_routed_safely"],
        "false_alarm_rate_tuned": r["safety"]["tuned"]["false_alarm_rate"],
        "false_alarm_rate_heldout": r["safety"]["heldout"]["false_alarm_rate"],
        "peer_pointer_rate": r["answers"]["peer_pointer_rate"],
        "groundedness": r["answers"]["groundedness"],
        "citation_validity": r["answers"]["citation_validity"],
        "not_covered_accuracy": r["answers"]["not_covered_accuracy"],
        "hybrid_hit5_tune": ret["hybrid"]["tune"]["hit@5"],
        "hybrid_hit5_heldout": ret["hybrid"]["heldout"]["hit@5"],
        "hybrid_mrr_tune": ret["hybrid"]["tune"]["mrr"],
        "hybrid_mrr_heldout": ret["hybrid"]["heldout"]["mrr"],
        "hit5_with_rewrite_all": r["followups"]["all"]["hit@5_with_rewrite"],
    }


def gate_failures(results: dict, thresholds_path: Path = EVAL_DIR / "thresholds.toml"
                  ) -> list[str]:
    bars = tomllib.loads(thresholds_path.read_text("utf-8"))
    values = flat_metrics(results)
    failures = []
    for section, items in bars.items():
        for name, bar in items.items():
            value = values[name]
            if section == "max" and value > bar:
                failures.append(f"{name} = {value:.3f} is above its limit {bar}")
            elif section != "max" and value < bar:
                failures.append(f"{name} = {value:.3f} is below its bar {bar}")
    return failures


def _table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(r: dict, failures: list[str]) -> str:
    ret = r["retrieval"]
    parts = [f"# Evaluation report ({r['created_at']})", "",
             f"Index build `{r['build_id']}`, corpus hash `{r['corpus_hash']}`, "
             f"model `{r['model_id']}`.", "",
             "## Gate", "", "passed" if not failures else
             "FAILED:\n" + "\n".join(f"- {f}" for f in failures), "",
             "## Retrieval (document level)", "",
             _table(["method", "part", "n", "hit@1", "hit@5", "MRR", "nDCG@10"],
                    [[m, part, s["n"], s["hit@1"], s["hit@5"], s["mrr"], s["ndcg@10"]]
                     for m in ret for part, s in ret[m].items()]), "",
             "![metrics per method](retrieval.png)", "",
             "## Follow-up questions (hit@5)", "",
             _table(["part", "n", "without rewrite", "with rewrite"],
                    [[p, s["n"], s["hit@5_without_rewrite"], s["hit@5_with_rewrite"]]
                     for p, s in r["followups"].items()]), "",
             "## Safety", "",
             _table(["set", "n", "crisis recall", "medical recall", "medical routed safely",
                     "out-of-scope recall", "false alarms", "accuracy"],
                    [[p, s["n"], s["crisis_recall"], s["medical_recall"],
                      s["medical_routed_safely"], s["out_of_scope_recall"],
                      s["false_alarm_rate"], s["accuracy"]] for p, s in r["safety"].items()]),
             "", "## Answers", "",
             _table(["metric", "value"], [[k, v] for k, v in r["answers"].items()]), "",
             "## Speed (warm, this machine)", "",
             _table(["metric", "value"], [[k, round(v, 3)] for k, v in r["speed"].items()]),
             "", "## Hit@5 per document (hybrid)", "", "![per-document hit rate](topics.png)",
             "", "## Retrieval misses (hybrid, not in top 5)", ""]
    misses = [q for q in r["per_question"] if not (q.get("hybrid_rank") or 99) <= 5]
    parts.append(_table(["id", "part", "question", "expected", "got"],
                        [[q["id"], q["split"], q["q"][:70], ", ".join(q["relevant"]),
                          ", ".join(q["hybrid_top"][:3])] for q in misses]) if misses else
                 "none")
    return "\n".join(parts) + "\n"


def write_plots(r: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(r["retrieval"])
    metrics = ["hit@1", "hit@5", "mrr", "ndcg@10"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.25
    for i, m in enumerate(methods):
        values = [r["retrieval"][m]["all"][k] for k in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], values, width, label=m)
    ax.set_xticks([x + width for x in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_title("Retrieval on all gold questions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "retrieval.png", dpi=110)
    plt.close(fig)
    topics = r["per_topic"]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.22 * len(topics))))
    ax.barh(list(topics), list(topics.values()), color="#1f5f8b")
    ax.set_xlim(0, 1)
    ax.set_title("Hybrid hit@5 by expected document")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(folder / "topics.png", dpi=110)
    plt.close(fig)


def write_report(pipeline, results: EvalResults, reports_dir: Path,
                 thresholds: Path = EVAL_DIR / "thresholds.toml") -> tuple[Path, list[str]]:
    data = results.to_json() | {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "build_id": pipeline.index.manifest.build_id,
        "corpus_hash": pipeline.index.manifest.corpus_hash,
        "model_id": pipeline.index.manifest.model_id,
    }
    failures = gate_failures(data, thresholds)
    data["gate_failures"] = failures
    folder = reports_dir / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(data, indent=1), "utf-8")
    write_plots(data, folder)
    (folder / "report.md").write_text(render_markdown(data, failures), "utf-8")
    return folder, failures


def compare(current: dict, other: dict) -> list[str]:
    """Per question: top document changed, newly missed, newly hit (hybrid, top 5)."""
    before = {q["id"]: q for q in other["per_question"]}
    lines = []
    for q in current["per_question"]:
        old = before.get(q["id"])
        if old is None:
            continue
        was = bool(old.get("hybrid_rank") and old["hybrid_rank"] <= 5)
        now = bool(q.get("hybrid_rank") and q["hybrid_rank"] <= 5)
        if was and not now:
            lines.append(f"NEWLY MISSED {q['id']}: {q['q']} (expected "
                         f"{', '.join(q['relevant'])}; now {', '.join(q['hybrid_top'][:3])})")
        elif now and not was:
            lines.append(f"NEWLY HIT    {q['id']}: {q['q']}")
        elif q["hybrid_top"][:1] != old["hybrid_top"][:1]:
            lines.append(f"TOP CHANGED  {q['id']}: {q['q']} ({old['hybrid_top'][:1]} -> "
                         f"{q['hybrid_top'][:1]})")
    a, b = flat_metrics(other), flat_metrics(current)
    lines += [f"{k}: {a[k]:.3f} -> {b[k]:.3f}" for k in b if abs(b[k] - a[k]) > 1e-9]
    return lines

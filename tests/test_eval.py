"""The evaluation suite: its metrics are right on small cases, and the real pipeline passes the
regression gate in eval/thresholds.toml (this is how `make test` runs the gate)."""

import json

import pytest

from assistant.eval_report import compare, gate_failures, run_eval, write_report
from assistant.evaluation import (
    EVAL_DIR,
    answer_sentences,
    ndcg,
    percentile,
    ranked_docs,
    read_jsonl,
    retrieval_scores,
)


def test_retrieval_metrics_on_a_small_example():
    rankings = [["a", "b", "c"], ["c", "b", "a"], ["x", "y", "z"]]
    relevant = [{"a"}, {"a"}, {"a"}]
    scores = retrieval_scores(rankings, relevant)
    assert scores["hit@1"] == pytest.approx(1 / 3)
    assert scores["hit@5"] == pytest.approx(2 / 3)
    assert scores["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert ndcg(["a"], {"a"}) == 1.0 and ndcg(["b", "a"], {"a"}) < 1.0


def test_helpers_keep_first_appearance_and_interpolate():
    assert ranked_docs(["a", "b", "a", "c"]) == ["a", "b", "c"]
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert answer_sentences("One thing. [1] Two things. [2]") == [("One thing.", 1),
                                                                  ("Two things.", 2)]


def test_gold_sets_are_big_enough_and_split():
    questions = read_jsonl(EVAL_DIR / "questions.jsonl")
    assert len(questions) >= 120
    assert sum(1 for q in questions if not q["relevant"]) >= 20
    assert {q["split"] for q in questions} == {"tune", "heldout"}
    assert len(read_jsonl(EVAL_DIR / "multiturn.jsonl")) >= 20


@pytest.fixture(scope="module")
def report(pipeline, answered, tmp_path_factory):
    """The safety section scores the categories `assistant ask --batch` gave the labelled
    messages (the `answered` fixture); retrieval, follow-ups and answers run here."""
    categories = {m["text"]: r["safety"]["category"] for m, r in answered}
    results = run_eval(pipeline, classify=categories.__getitem__)
    folder, failures = write_report(pipeline, results, tmp_path_factory.mktemp("reports"))
    return folder, failures


def test_the_real_pipeline_passes_the_gate(report):
    _, failures = report
    assert failures == []


def test_the_report_has_tables_plots_and_results(report):
    folder, _ = report
    text = (folder / "report.md").read_text()
    for heading in ("## Retrieval", "## Follow-up questions", "## Safety", "## Answers",
                    "## Speed"):
        assert heading in text
    assert (folder / "retrieval.png").stat().st_size > 1000
    assert (folder / "topics.png").stat().st_size > 1000
    data = json.loads((folder / "results.json").read_text())
    assert set(data["retrieval"]) == {"dense", "bm25", "hybrid"}


def test_the_gate_names_each_metric_below_its_bar(report):
    folder, _ = report
    data = json.loads((folder / "results.json").read_text())
    data["safety"]["tuned"]["crisis_recall"] = 0.99
    data["answers"]["peer_pointer_rate"] = 0.5
    failures = gate_failures(data)
    assert any(f.startswith("crisis_recall_tuned") for f in failures)
    assert any(f.startswith("peer_pointer_rate") for f in failures)


def test_compare_shows_questions_that_newly_miss(report):
    folder, _ = report
    data = json.loads((folder / "results.json").read_text())
    worse = json.loads(json.dumps(data))
    first = next(q for q in worse["per_question"] if q["hybrid_rank"] == 1)
    first["hybrid_rank"], first["hybrid_top"] = None, ["some-other-doc"]
    lines = compare(worse, data)
    assert any(line.startswith("NEWLY MISSED " + first["id"]) for line in lines)

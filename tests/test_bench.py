"""`assistant bench` measures what it says: warm latency from real questions, and a refresh
after one document changes that embeds only that document's new text."""

from assistant.bench import build_costs, warm_latency


def test_warm_latency_reports_medians_and_tails(pipeline):
    result = warm_latency(pipeline, ["What is a sponsor?", "How do I find a meeting?",
                                     "Is peer support free?"])
    assert 0 < result["search_p50_ms"] <= result["search_p95_ms"]
    assert 0 < result["ask_p50_ms"] <= result["ask_p95_ms"]


def test_refresh_after_one_change_embeds_only_that_change(real_settings, embedder):
    result = build_costs(real_settings, embedder)
    assert result["texts_embedded_full"] > 1000
    assert result["texts_embedded_refresh"] == 2  # one new passage and its one sentence
    assert result["one_doc_refresh_s"] < result["full_build_s"]

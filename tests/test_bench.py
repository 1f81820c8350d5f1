"""`assistant bench` measures what it says: warm latency from real questions, a refresh after
one document changes that embeds only that change, a cold start that never imports torch, and
synthetic scale cases built and searched through the real Chroma (embedded and server)."""

from assistant.bench import build_costs, cold_start, table, warm_latency
from assistant.bench_scale import _real_material, run_scale, synthetic_chunks


def test_warm_latency_reports_medians_and_tails(pipeline):
    result = warm_latency(pipeline, ["What is a sponsor?", "How do I find a meeting?",
                                     "Is peer support free?"])
    assert 0 < result["search_p50_ms"] <= result["search_p95_ms"]
    assert 0 < result["ask_p50_ms"] <= result["ask_p95_ms"]
    assert result["search_batched_per_question_ms"] > 0


def test_refresh_after_one_change_embeds_only_that_change(real_settings, embedder):
    result = build_costs(real_settings, embedder)
    assert result["texts_embedded_full"] > 1000
    assert result["texts_embedded_refresh"] == 2  # one new passage and its one sentence
    assert result["one_doc_refresh_s"] < result["full_build_s"]


def test_cold_start_is_measured_in_fresh_processes_on_the_onnx_path(real_settings):
    result = cold_start(real_settings, runs=1)
    assert result["encoder"] == "onnx" and result["torch_imported"] is False
    assert 0 < result["first_answer_s"] < result["cli_ask_s"]
    assert result["cli_help_s"] > 0 and result["peak_rss_mb"] > 0


def test_synthetic_passages_are_repeatable_and_made_of_real_sentences(real_settings):
    sentences, titles = _real_material(real_settings)
    first = synthetic_chunks(50, sentences, titles)
    assert first == synthetic_chunks(50, sentences, titles)
    assert len({c.chunk_id for c in first}) == 50
    assert all(any(s in c.text for s in sentences) for c in first)


def test_a_scale_case_is_built_and_searched_on_both_chroma_backends(real_settings):
    rows = run_scale(real_settings, sizes=(1500,), questions=["How do I find a meeting?",
                                                             "What is a sponsor?"],
                     real_up_to=0)
    assert [(r["backend"], r["passages"], r["vectors"]) for r in rows] == [
        ("embedded", 1500, "random"), ("server", 1500, "random")]
    for row in rows:
        assert 0 < row["hybrid_p50_ms"] <= row["hybrid_p95_ms"]
        assert row["build_s"] > 0 and row["serve_peak_rss_mb"] > 0
    assert rows[1]["server_peak_rss_mb"] > 0
    lines = table({"machine": {"cores": 2, "python": "3.11"}, "scale": rows})
    assert len(lines) == 4 and "server" in lines[-1]


def test_peak_memory_is_the_process_own_not_inherited_from_its_parent(embedder):
    import subprocess
    import sys

    from assistant.memory import peak_rss_mb

    parent = peak_rss_mb()  # this process holds the torch model: several hundred MB
    child = subprocess.run([sys.executable, "-c", "from assistant.memory import peak_rss_mb; "
                            "print(peak_rss_mb())"], capture_output=True, text=True, check=True)
    assert 0 < float(child.stdout) < parent / 2

"""The `assistant` command: JSON contracts other tools depend on, batch mode, and one clear line
(exit code 2, no traceback) for every bad input."""

import json
import os
import subprocess
import sys

import pytest

from assistant.settings import PROJECT_ROOT

SEARCH_HIT_KEYS = {"doc_id", "chunk_id", "title", "section", "text", "score", "dense_rank",
                   "bm25_rank"}
ASK_KEYS = {"query", "answer", "safety", "citations", "peer_pointer", "confidence"}
CITATION_KEYS = {"n", "doc_id", "title", "chunk_id", "section"}


def run(*args, settings=None, timeout=240):
    env = dict(os.environ)
    if settings is not None:
        env["ASSISTANT_CORPUS"] = str(settings.corpus_dir)
        env["ASSISTANT_INDEX"] = str(settings.index_dir)
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=PROJECT_ROOT)


def assert_one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("assistant: error:")


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("index", "search", "ask", "corpus"):
        assert command in result.stdout


def test_search_json_contract(real_settings):
    result = run("search", "--index", str(real_settings.index_dir), "--corpus",
                 str(real_settings.corpus_dir), "how do I find a meeting", "--k", "4", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "how do I find a meeting"
    assert len(data["hits"]) == 4
    for hit in data["hits"]:
        assert set(hit) == SEARCH_HIT_KEYS
        assert hit["dense_rank"] is not None or hit["bm25_rank"] is not None
    scores = [h["score"] for h in data["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_ask_json_contract_with_history(real_settings, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([
        {"role": "user", "content": "What is SMART Recovery?"},
        {"role": "assistant", "content": "SMART Recovery is a mutual-aid group."}]))
    result = run("ask", "is it free?", "--json", "--history", str(history),
                 settings=real_settings)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= ASK_KEYS
    assert data["safety"]["category"] in ("crisis", "medical", "out_of_scope", "ok")
    assert data["safety"]["reason"]
    assert data["peer_pointer"].strip()
    assert isinstance(data["confidence"], float)
    assert data["citations"] and all(set(c) >= CITATION_KEYS for c in data["citations"])
    assert "SMART" in data["trace"]["rewritten_query"]


def test_batch_answers_every_line_in_order_with_its_id(real_settings, tmp_path):
    batch = tmp_path / "requests.jsonl"
    lines = [{"id": "a", "q": "What is a recovery coach?"},
             {"id": 7, "q": "I want to kill myself"},
             {"q": "What is a warmline?"},
             {"id": "d", "q": "how do I find one?",
              "history": [{"role": "user", "content": "what is a recovery community centre"}]}]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    result = run("ask", "--batch", str(batch), settings=real_settings)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 7, 3, "d"]
    assert out[1]["safety"]["category"] == "crisis"
    assert all(o["peer_pointer"] for o in out)
    search = run("search", "--batch", str(batch), "--k", "2", settings=real_settings)
    assert search.returncode == 0, search.stderr
    found = [json.loads(line) for line in search.stdout.splitlines()]
    assert [o["id"] for o in found] == ["a", 7, 3, "d"]
    assert all(len(o["hits"]) == 2 for o in found)


def test_a_very_long_question_is_cut_and_answered(real_settings):
    question = "How do I find a meeting? " + "please " * 8000
    assert len(question) > 50_000
    result = run("ask", question, "--json", settings=real_settings)
    assert result.returncode == 0, result.stderr[-500:]
    data = json.loads(result.stdout)
    assert len(data["query"]) <= 2000 and data["peer_pointer"]


@pytest.mark.parametrize("args", [
    ("ask", ""),
    ("ask", "   "),
    ("search", ""),
    ("ask",),
    ("ask", "--batch", "/nonexistent/requests.jsonl"),
    ("ask", "hello", "--history", "/nonexistent/history.json"),
    ("search", "q", "--k", "zero"),
    ("search", "q", "--no-such-option"),
    ("ask", "q", "--batch", "/dev/null"),
    ("index", "--bogus"),
])
def test_bad_input_is_one_clear_line_and_exit_code_2(args):
    assert_one_line_error(run(*args))


def test_bad_history_and_batch_files_are_one_clear_line(tmp_path):
    bad_json = tmp_path / "h.json"
    bad_json.write_text("[{not json")
    assert_one_line_error(run("ask", "hello", "--history", str(bad_json)))
    wrong_shape = tmp_path / "h2.json"
    wrong_shape.write_text(json.dumps([{"role": "robot", "content": "x"}]))
    assert_one_line_error(run("ask", "hello", "--history", str(wrong_shape)))
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"q": "ok"}\n{"id": 2}\n')
    assert_one_line_error(run("ask", "--batch", str(batch)))
    binary = tmp_path / "b2.jsonl"
    binary.write_bytes(b"\xff\xfe\x00junk")
    assert_one_line_error(run("search", "--batch", str(binary)))


def test_a_missing_index_is_one_clear_line(tmp_path):
    result = run("search", "--index", str(tmp_path / "nothing"), "hello")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "assistant index" in result.stderr

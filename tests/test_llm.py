"""The optional LLM answer path, against a real HTTP server that speaks the OpenAI
chat-completions format and answers with fixtures built from real retrieved passages."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from assistant.chunking import split_sentences
from assistant.errors import AssistantError
from assistant.llm import (
    NOT_COVERED,
    LLMError,
    build_messages,
    call_llm,
    llm_answer,
    verify,
)

QUESTION = "What does a recovery coach do?"
TIMEOUT = 1.0  # the "slow" fixture waits longer than this


class ChatServer(ThreadingHTTPServer):
    """A stand-in for llama.cpp or Ollama: answers POST /v1/chat/completions with the fixture
    named by the X-Fixture header or else by the model name, and records every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ChatHandler)
        self.fixtures: dict[str, str] = {"notcovered": NOT_COVERED}
        self.requests: list[dict] = []
        self.release = threading.Event()  # set at teardown so a "slow" reply stops waiting

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw)
        self.server.requests.append({"path": self.path, "body": body,
                                     "headers": {k.lower(): v for k, v in self.headers.items()}})
        name = self.headers.get("X-Fixture") or body.get("model")
        if not self.path.endswith("/chat/completions"):
            return self._send(404, b'{"error": "not found"}')
        if name == "broken":
            return self._send(500, b'{"error": "the model crashed"}')
        if name == "garbage":
            return self._send(200, b"<html>this is not JSON</html>")
        if name == "slow":
            self.server.release.wait(TIMEOUT * 3)
        reply = {"id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant",
                                          "content": self.server.fixtures[name]}}]}
        self._send(200, json.dumps(reply).encode("utf-8"))

    def _send(self, status: int, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the "slow" fixture): nothing to tell it

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    srv = ChatServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def hits(pipeline):
    found = pipeline.search(QUESTION, k=5)
    assert len(found) == 5
    return found


def _long(text: str, words: int = 8) -> list[str]:
    return [s for s in split_sentences(text) if len(s.split()) >= words]


@pytest.fixture(scope="module")
def sentences(hits) -> dict[str, str]:
    """Sentences taken from the real passages: one from the first and one from the second
    that the first does not contain (so citing it as [1] is a misattribution)."""
    first = _long(hits[0].text)[0]
    second = next(s for s in _long(hits[1].text) if s not in hits[0].text)
    return {"first": first, "second": second}


@pytest.fixture(scope="module")
def stitched_sentence(hits) -> str:
    """The first half of a sentence of passage 1 joined with "and" to the second half of a
    sentence of passage 2: every word is real, the claim is in neither. For this question it
    reads "A recovery coach is a person with lived experience of recovery and licensed
    clinician who assesses, diagnoses and treats health conditions."""
    a = _long(hits[0].text, 10)[0].rstrip(".").split()
    b = _long(hits[1].text, 10)[0].rstrip(".").split()
    return f"{' '.join(a[: len(a) // 2])} and {' '.join(b[len(b) // 2:])}."


@pytest.fixture(scope="module")
def answers(server, sentences, stitched_sentence) -> dict[str, str]:
    first, second = sentences["first"], sentences["second"]
    server.fixtures.update({
        "grounded": f"{first} [1] {second} [2]",
        "invented": f"{first} [1] Recovery coaches earn $95,000 a year, call 555-0199. [1]",
        "misattributed": f"{second} [1]",
        "stitched": f"{stitched_sentence} [1]",
        "slow": f"{first} [1]",
    })
    return server.fixtures


@pytest.fixture()
def ask(pipeline, hits, server, answers):
    def run(model: str, timeout: float = TIMEOUT):
        settings = pipeline.settings.with_overrides(
            llm_base_url=server.base_url, llm_model=model, llm_timeout=timeout)
        return llm_answer(QUESTION, hits, pipeline.index, settings, pipeline.embedder.encode)

    return run


# -- the prompt and the request ---------------------------------------------------------------

def test_messages_number_every_passage_and_forbid_anything_else(hits):
    passages = [(i + 1, h.title, h.text) for i, h in enumerate(hits)]
    system, user = build_messages(QUESTION, passages)
    assert system["role"] == "system" and user["role"] == "user"
    assert "only from the numbered passages" in system["content"]
    assert "phone number" in system["content"] and "web address" in system["content"]
    assert NOT_COVERED in system["content"] and "[1]" in system["content"]
    assert "not a person" in system["content"]
    for n, title, text in passages:
        assert f"[{n}] {title}: {text.strip()[:40]}" in user["content"]
    assert user["content"].index("[5]") < user["content"].index(QUESTION)


def test_request_is_openai_chat_completions(ask, server, hits, monkeypatch):
    monkeypatch.setenv("ASSISTANT_LLM_API_KEY", "test-key")
    server.requests.clear()
    ask("grounded")
    request = server.requests[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "grounded"
    assert request["body"]["temperature"] == 0
    passages = [(i + 1, h.title, h.text) for i, h in enumerate(hits)]
    assert request["body"]["messages"] == build_messages(QUESTION, passages)
    assert request["headers"]["authorization"] == "Bearer test-key"
    assert request["headers"]["content-type"] == "application/json"


def test_call_llm_returns_the_message_content(server, answers):
    messages = [{"role": "user", "content": "hi"}]
    assert call_llm(server.base_url + "/", "notcovered", messages, TIMEOUT) == NOT_COVERED


# -- answers the checks accept and reject -----------------------------------------------------

def test_grounded_answer_is_accepted(ask, answers):
    result = ask("grounded")
    assert result.ok, result.reason
    assert [c.label for c in result.checks] == ["supported", "supported"]
    assert result.citations_used == [1, 2]
    assert [c.best_passage for c in result.checks] == [1, 2]
    assert result.text == answers["grounded"]


def test_invented_phone_number_and_salary_are_fabricated(ask):
    result = ask("invented")
    assert not result.ok
    assert [c.label for c in result.checks] == ["supported", "fabricated"]
    assert "sentence 2 is fabricated" in result.reason
    assert "95,000" in result.checks[1].note


def test_sentence_cited_to_the_wrong_passage_is_misattributed(ask):
    result = ask("misattributed")
    assert not result.ok
    check = result.checks[0]
    assert (check.label, check.cited, check.best_passage) == ("misattributed", [1], 2)
    assert "misattributed" in result.reason


def test_halves_of_two_passages_joined_into_one_claim_are_stitched(ask):
    result = ask("stitched")
    assert not result.ok
    assert result.checks[0].label == "stitched", result.checks[0]
    assert "passage [1]" in result.checks[0].note and "passage [2]" in result.checks[0].note


def test_not_covered_is_a_refusal_not_an_answer(ask):
    result = ask("notcovered")
    assert not result.ok and result.checks == []
    assert result.reason == "the model said the passages do not cover it"


# -- failures of the server never raise -------------------------------------------------------

def test_slow_server_times_out(ask):
    started = time.perf_counter()
    result = ask("slow")
    assert time.perf_counter() - started < 3.0
    assert not result.ok
    assert "timed out after 1.0 s" in result.reason


def test_server_error_is_reported_with_its_status(ask):
    result = ask("broken")
    assert not result.ok and "HTTP 500" in result.reason


def test_reply_that_is_not_json_is_malformed(ask):
    result = ask("garbage")
    assert not result.ok and "malformed response" in result.reason


def test_no_server_listening_is_a_connection_failure(pipeline, hits):
    with socket.socket() as s:  # a port that was free a moment ago, now closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = pipeline.settings.with_overrides(
        llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="grounded", llm_timeout=TIMEOUT)
    result = llm_answer(QUESTION, hits, pipeline.index, settings, pipeline.embedder.encode)
    assert not result.ok and "connection failed" in result.reason
    with pytest.raises(LLMError) as raised:
        call_llm(settings.llm_base_url, "grounded", [], TIMEOUT)
    assert isinstance(raised.value, AssistantError)


def test_nothing_configured_means_no_call(pipeline, hits):
    result = llm_answer(QUESTION, hits, pipeline.index, pipeline.settings,
                        pipeline.embedder.encode)
    assert not result.ok and result.reason == "no LLM configured"


# -- verify on its own ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def passages(hits) -> dict[int, str]:
    return {i + 1: h.text for i, h in enumerate(hits)}


def _labels(text: str, passages, embedder) -> list[str]:
    return [c.label for c in verify(text, passages, embedder.encode)]


def test_citation_marker_may_stand_before_or_after_the_full_stop(passages, sentences,
                                                                  embedder):
    first, second = sentences["first"], sentences["second"]
    text = f"{first[:-1]} [1]. {second} [2]\n[2]"
    checks = verify(text, passages, embedder.encode)
    assert [(c.label, c.cited) for c in checks] == [("supported", [1]), ("supported", [2])]


def test_a_close_paraphrase_of_the_cited_passage_is_supported(passages, embedder):
    # Passage 1 says a recovery coach "does not diagnose, prescribe or provide therapy".
    text = ("A recovery coach cannot diagnose you or prescribe medication, and does not provide "
            "therapy. [1]")
    assert _labels(text, passages, embedder) == ["supported"]


def test_a_negation_turned_around_is_fabricated(passages, embedder):
    text = ("A recovery coach offers hope and practical help, and they prescribe or provide "
            "therapy. [1]")
    checks = verify(text, passages, embedder.encode)
    assert checks[0].label == "fabricated"
    assert "prescribe" in checks[0].note
    assert checks[0].best_similarity >= 0.8  # the embedding alone would have let it through


def test_words_no_passage_has_make_a_close_sentence_fabricated(passages, embedder):
    text = ("A recovery coach is a person with lived experience of recovery who has a medical "
            "degree and can prescribe medication. [1]")
    checks = verify(text, passages, embedder.encode)
    assert checks[0].label == "fabricated" and "medical" in checks[0].note


def test_uncited_unknown_number_and_invented_address_are_fabricated(passages, sentences,
                                                                    embedder):
    first = sentences["first"]
    assert _labels(first, passages, embedder) == ["fabricated"]  # no citation
    assert _labels(f"{first} [7]", passages, embedder) == ["fabricated"]  # no passage 7
    url = f"{first[:-1]}, see www.recovery-coaches-now.org for more. [1]"
    checks = verify(url, passages, embedder.encode)
    assert checks[0].label == "fabricated" and "recovery-coaches-now.org" in checks[0].note


def test_index_vectors_stand_in_for_fresh_ones(pipeline, hits):
    """llm_answer reuses the sentence vectors saved in the index; they must be the vectors
    the embedder would give now."""
    index = pipeline.index
    sid = index.sentences_by_chunk[index.row_of[hits[0].chunk_id]][0]
    fresh = pipeline.embedder.encode([index.sentences[sid].text])[0]
    assert float(np.dot(fresh, index.sentence_vectors[sid])) > 0.999


# -- the pipeline uses the LLM only when every sentence checks out --------------------------

@pytest.fixture()
def llm_pipeline(pipeline, server):
    from dataclasses import replace

    original = pipeline.settings

    def use(model: str):
        pipeline.settings = replace(original, llm_base_url=server.base_url,
                                    llm_model=model, llm_timeout=TIMEOUT)
        return pipeline

    yield use
    pipeline.settings = original


def test_pipeline_shows_a_grounded_llm_answer_with_its_citations(llm_pipeline, answers):
    answer = llm_pipeline("grounded").ask(QUESTION)
    assert answer.trace["generator"] == "llm"
    assert answer.body.startswith(answers["grounded"].split("[1]")[0].strip()[:40])
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.peer_pointer in answer.answer


@pytest.mark.parametrize("model,reason", [("invented", "fabricated"),
                                          ("slow", "timed out"), ("broken", "HTTP 500")])
def test_pipeline_falls_back_to_the_extractive_answer(llm_pipeline, model, reason):
    answer = llm_pipeline(model).ask(QUESTION)
    assert answer.trace["generator"] == "extractive"
    assert reason in answer.trace["generator_reason"]
    assert "555-0199" not in answer.answer and answer.citations


def test_safety_routes_never_reach_the_llm(llm_pipeline, server):
    before = len(server.requests)
    pipe = llm_pipeline("grounded")
    assert pipe.ask("I want to kill myself").safety.category == "crisis"
    assert pipe.ask("how do I taper off methadone").safety.category == "medical"
    assert len(server.requests) == before

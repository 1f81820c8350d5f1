"""The web app's behaviour, page by page, through Streamlit's AppTest (no browser): the chat,
the therapist preview and the corpus page, against a real index built in a temporary folder.
Then the small library pieces the pages lean on: contact links, export, transcripts, feedback."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from assistant import corpus_status
from assistant.answer import Citation
from assistant.contacts import all_links
from assistant.corpus import load_corpus
from assistant.errors import InputError
from assistant.export import answer_html, answer_markdown, without_sources_list
from assistant.feedback import FeedbackStore
from assistant.pipeline import Answer
from assistant.resources import Region, load_resources
from assistant.safety import SafetyVerdict
from assistant.settings import PROJECT_ROOT, Settings
from assistant.transcript import parse_transcript

APP = str(PROJECT_ROOT / "app.py")
REAL_CORPUS = PROJECT_ROOT / "corpus"
CONTACT_HREF = re.compile(r'class="contact[^"]*" href="([^"]*)"')


def _use(monkeypatch, corpus: Path, index: Path) -> None:
    monkeypatch.setenv("ASSISTANT_CORPUS", str(corpus))
    monkeypatch.setenv("ASSISTANT_INDEX", str(index))
    for name in ("ASSISTANT_FEEDBACK_DB", "ASSISTANT_FEEDBACK_KEEP_TEXT", "ASSISTANT_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def app_env(monkeypatch, real_settings) -> Settings:
    _use(monkeypatch, real_settings.corpus_dir, real_settings.index_dir)
    return real_settings


@pytest.fixture()
def no_index(monkeypatch, tmp_path) -> Path:
    _use(monkeypatch, REAL_CORPUS, tmp_path / "empty-index")
    return tmp_path / "empty-index"


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str):
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at.chat_message[-1]


def html_of(node) -> str:
    return "\n".join(h.value for h in node.html)


def text_of(node) -> str:
    return "\n".join(m.value for m in node.markdown)


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# -- chat ---------------------------------------------------------------------------------------

def test_first_screen_says_what_this_is_and_offers_starters(app_env):
    at = open_app()
    assert at.title[0].value == "Peer support guide"
    assert "not a person" in at.markdown[0].value
    assert any("stored on our server" in c.value for c in at.caption)
    starters = [b.label for b in at.button if b.key and b.key.startswith("starter-")]
    assert 4 <= len(starters) <= 6
    assert at.sidebar.header[0].value == "Need to talk to someone now?"
    sidebar = html_of(at.sidebar)
    assert 'href="tel:911"' in sidebar and 'href="tel:988"' in sidebar
    exit_link = next(h.value for h in at.html if "quick-exit" in h.value)
    assert 'href="https://www.bbc.com/weather"' in exit_link and 'target="_self"' in exit_link
    assert not at.chat_message


def test_a_question_gets_a_cited_answer_with_sources(app_env):
    at = open_app()
    reply = ask(at, "What is peer support?")
    assert reply.name == "assistant"
    body = text_of(reply)
    assert "[1]" in body
    assert "**Sources**" not in body  # the list moves into the expander, with the passages
    sources = reply.expander[0]
    assert sources.label.startswith("Sources (")
    assert re.search(r"\*\*\[1\] .+\*\*", text_of(sources))
    assert any(re.fullmatch(r"Reviewed on \d{4}-\d{2}-\d{2}", c.value) for c in sources.caption)
    assert any(m.value.startswith("> ") for m in sources.markdown)  # the passage, quoted
    assert "Talk to a person" in body
    assert "contacts" not in html_of(reply)  # no crisis callout for an ordinary question


def test_a_starter_button_asks_its_question(app_env):
    at = open_app()
    click(at, "What is peer support?")
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.chat_message[0].text[0].value == "What is peer support?"
    assert not [b for b in at.button if b.key and b.key.startswith("starter-")]


def test_a_crisis_message_gets_the_callout_with_the_regions_numbers(app_env):
    at = open_app()
    reply = ask(at, "I want to kill myself")
    callout = html_of(reply)
    hrefs = CONTACT_HREF.findall(callout)
    assert {"tel:911", "tel:988", "sms:988", "sms:741741"} <= set(hrefs)
    assert all(re.fullmatch(r"(tel|sms):\d+", h) for h in hrefs)
    assert "danger right now" in text_of(reply)
    assert reply.markdown[0].value.startswith("I'm really glad you reached out")


def test_switching_region_changes_the_numbers(app_env):
    at = open_app()
    at.sidebar.selectbox[0].set_value("UK").run()
    sidebar = html_of(at.sidebar)
    assert 'href="tel:999"' in sidebar and 'href="tel:116123"' in sidebar
    assert "tel:911" not in sidebar
    hrefs = CONTACT_HREF.findall(html_of(ask(at, "I don't want to live anymore")))
    assert "tel:116123" in hrefs and "tel:988" not in hrefs


def test_crisis_lines_stay_until_start_over(app_env):
    at = open_app()
    ask(at, "I want to end my life")
    later = ask(at, "What is a sponsor?")
    assert "tel:988" in html_of(later)  # kept at the top while the conversation goes on
    assert "Earlier in this conversation" in text_of(later)
    click(at, "Start over")
    assert not at.chat_message
    assert at.session_state["messages"] == []
    fresh = ask(at, "What is a sponsor?")
    assert "contacts" not in html_of(fresh)


def test_user_text_is_shown_as_typed_never_as_markdown_or_html(app_env):
    at = open_app()
    typed = "<b>bold?</b> **stars** $x$ [link](http://example.com) :red[hi]"
    ask(at, typed)
    mine = at.chat_message[0]
    assert mine.name == "user"
    assert [t.value for t in mine.text] == [typed]
    assert not mine.markdown and not mine.html


def test_ratings_are_off_unless_the_operator_turns_them_on(app_env):
    at = open_app()
    ask(at, "What is peer support?")
    assert not at.feedback


@pytest.mark.parametrize("keep_text", [False, True])
def test_ratings_keep_text_only_when_asked(app_env, monkeypatch, tmp_path, keep_text):
    db = tmp_path / "feedback.sqlite"
    monkeypatch.setenv("ASSISTANT_FEEDBACK_DB", str(db))
    if keep_text:
        monkeypatch.setenv("ASSISTANT_FEEDBACK_KEEP_TEXT", "1")
    at = open_app()
    ask(at, "What does a recovery coach do?")
    at.feedback[0].set_value(1).run()
    [row] = FeedbackStore(db).rows()
    assert row["rating"] == 1 and row["category"] == "ok" and row["cited_documents"]
    if keep_text:
        assert row["question"] == "What does a recovery coach do?" and row["answer"]
        assert any("question and answer are kept" in c.value for c in at.caption)
    else:
        assert row["question"] is None and row["answer"] is None
        assert any("keeps only the rating" in c.value for c in at.caption)


def test_index_missing_shows_a_plain_message(no_index):
    at = open_app()
    warning = at.warning[0].value
    assert "hasn't been built" in warning and "assistant index" in warning
    assert at.chat_input[0].disabled
    assert 'href="tel:988"' in html_of(at.sidebar)  # help never depends on the index

    preview = open_app("pages/preview.py")
    preview.text_area[0].input("What is peer support?")
    click(preview, "Preview the answer")
    assert any("assistant index" in w.value for w in preview.warning)

    corpus = open_app("pages/corpus.py")
    assert any("No index has been built yet" in w.value for w in corpus.warning)
    assert len(corpus.dataframe[0].value) == len(load_corpus(REAL_CORPUS).documents)


def test_broken_resources_still_leave_emergency_advice(monkeypatch, corpus_copy, tmp_path):
    (corpus_copy / "resources.yaml").write_text("regions: [\n", encoding="utf-8")
    _use(monkeypatch, corpus_copy, tmp_path / "empty-index")
    at = open_app()
    assert any("local emergency number" in m.value for m in at.sidebar.markdown)
    assert any("assistant corpus check" in c.value for c in at.sidebar.caption)


# -- therapist preview ----------------------------------------------------------------------------

def test_preview_shows_the_answer_beside_its_trace(app_env):
    at = open_app("pages/preview.py")
    at.text_area[0].input("Is it free?")
    at.text_area[1].input("user: What is SMART Recovery?\n"
                          "assistant: SMART Recovery is a mutual-aid group.")
    click(at, "Preview the answer")
    headers = [h.value for h in at.header]
    assert "What the client sees" in headers and "Why this answer" in headers
    client, why = at.columns[0], at.columns[1]
    assert client.chat_message[-1].name == "assistant"
    assert "[1]" in text_of(client.chat_message[-1])
    trace = text_of(why).replace("\\", "")  # unescape the Markdown
    assert "**Route:** ok: answered from the corpus" in trace
    assert "**Confidence:**" in trace and "Reviewed " in trace
    assert any("SMART" in t.value for t in why.text)  # the rewritten follow-up query
    hits = why.dataframe[0].value
    assert {"fused (RRF)", "dense", "dense rank", "BM25", "BM25 rank"} <= set(hits.columns)
    assert len(why.dataframe[1].value) >= 1  # the sentences chosen
    assert [d.label for d in at.get("download_button")] == [
        "Download as Markdown", "Download a printable page (HTML)"]


def test_preview_with_an_earlier_crisis_keeps_the_callout(app_env):
    at = open_app("pages/preview.py")
    at.text_area[0].input("What is a sponsor?")
    at.text_area[1].input("user: I want to kill myself")
    click(at, "Preview the answer")
    assert "tel:988" in html_of(at.columns[0])
    assert "*crisis*" in text_of(at.columns[1])


def test_preview_explains_unreadable_earlier_turns(app_env):
    at = open_app("pages/preview.py")
    at.text_area[0].input("Is it free?")
    at.text_area[1].input("we talked about meetings")
    click(at, "Preview the answer")
    assert "couldn't be read" in at.warning[0].value
    assert not at.columns


# -- corpus ---------------------------------------------------------------------------------------

def test_corpus_page_lists_documents_and_index_status(app_env, monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_status, "EVAL_REPORTS", tmp_path / "reports")
    at = open_app("pages/corpus.py")
    table = at.dataframe[0].value
    docs = load_corpus(REAL_CORPUS).documents
    assert len(table) == len(docs)
    assert set(table["id"]) == {d.id for d in docs}
    assert (table["passages"] > 0).all()
    assert any(s.value.startswith("Current") for s in at.success)
    assert "**Built:**" in text_of(at)
    assert any("assistant eval" in i.value for i in at.info)

    at.text_input[0].input("sponsor").run()
    assert list(at.dataframe[0].value["id"]) == ["sponsorship"]

    click(at, "Refresh the index")
    assert any("already up to date" in s.value for s in at.success)


def test_corpus_page_highlights_overdue_reviews_and_problems(monkeypatch, corpus_copy, tmp_path):
    doc = corpus_copy / "sponsorship.md"
    text = doc.read_text(encoding="utf-8")
    text = re.sub(r"reviewed_on: .*", "reviewed_on: 2020-01-01", text, count=1)
    doc.write_text(re.sub(r"review_due: .*", "review_due: 2021-01-01", text, count=1), "utf-8")
    (corpus_copy / "broken.md").write_text("no front matter here\n", encoding="utf-8")
    _use(monkeypatch, corpus_copy, tmp_path / "empty-index")
    at = open_app("pages/corpus.py")
    overdue = next(w.value for w in at.warning if "past their review date" in w.value)
    assert "Sponsors and sponsorship" in overdue
    table = at.dataframe[0].value
    assert list(table.loc[table["overdue"] == "Overdue", "id"]) == ["sponsorship"]
    assert "1 problem(s) in the corpus" in at.error[0].value
    at.toggle[0].set_value(True).run()
    assert list(at.dataframe[0].value["id"]) == ["sponsorship"]


def test_corpus_page_shows_the_newest_eval_report(app_env, monkeypatch, tmp_path):
    reports = tmp_path / "reports"
    for stamp, words in (("20260101T000000", "older"), ("20261120T101500", "newest")):
        (reports / stamp).mkdir(parents=True)
        (reports / stamp / "report.md").write_text(f"# Eval\n\nThe {words} report.\n", "utf-8")
    monkeypatch.setattr(corpus_status, "EVAL_REPORTS", reports)
    at = open_app("pages/corpus.py")
    assert any("The newest report." in m.value for m in at.markdown)
    assert not any("The older report." in m.value for m in at.markdown)


# -- the library pieces the pages use -------------------------------------------------------------

def _region(**line) -> Region:
    return Region.model_validate({
        "code": "XX", "name": "Testland", "emergency": {"number": "1-1-2", "note": "Danger."},
        "resources": [{"id": "xx-line", "name": "Line <One>", "kind": "crisis_line",
                       "for": "anyone", "how": "Call it.", "verification": "confirmed",
                       "sources": ["https://example.org"], **line}]})


def test_contact_links_carry_digits_only():
    region = _region(call="+1 (800) 555-0100\"><script>", text="741741 x", text_keyword="HOME")
    assert [link.href for link in all_links(region)] == [
        "tel:112", "tel:18005550100", "sms:741741"]
    assert all_links(region)[-1].label == "Text HOME to 741741 x"
    for reg in load_resources(REAL_CORPUS).regions:
        assert all(re.fullmatch(r"(tel|sms):\d+", link.href) for link in all_links(reg))


def _answer(**changes) -> Answer:
    citation = Citation(1, "what-is-peer-support", "What <is> peer support?", "c#000",
                        "Basics", "2026-11-25", "Passage with <img src=x onerror=alert(1)>.")
    fields = dict(query="q", answer="", safety=SafetyVerdict("ok", "fine"),
                  citations=[citation], peer_pointer="**Talk to a person:** A warmline.",
                  confidence=0.8, region="XX",
                  body="Peers help. [1] <script>alert(1)</script>\n\n**Sources**\n1. What")
    return Answer(**(fields | changes))


def test_html_export_escapes_everything():
    page = answer_html("<script>alert('q')</script>", _answer(
        crisis_block="**Please reach out.** <iframe>"), region=_region(call="988"))
    assert "<script" not in page and "<img" not in page and "<iframe" not in page
    assert "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;" in page
    assert "What &lt;is&gt; peer support? — Basics (reviewed 2026-11-25)" in page
    assert '<a class="contact" href="tel:988">Call 988</a>' in page
    assert "<strong>Talk to a person:</strong>" in page


def test_markdown_export_has_question_answer_and_sources():
    docs = {d.id: d for d in load_corpus(REAL_CORPUS).vetted}
    text = answer_markdown("Is it *free*?", _answer(), docs)
    assert "> Is it \\*free\\*\\?" in text
    assert "Peers help. [1]" in text and "**Sources**" not in text
    assert "1. **What <is> peer support? — Basics (reviewed 2026-11-25)**" in text
    assert "   > Passage with" in text and "Based on: Substance Abuse" in text
    assert text.rstrip().endswith("does not give medical advice.")


def test_sources_list_is_split_off_the_body():
    assert without_sources_list("Text [1]\n\n**Sources**\n1. A") == "Text [1]"
    assert without_sources_list("No sources here.") == "No sources here."


def test_transcripts_read_lines_and_json():
    assert parse_transcript("User: hi\nassistant: hello\nthere\nuser: ok") == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello\nthere"},
        {"role": "user", "content": "ok"}]
    assert parse_transcript('[{"role": "user", "content": "hi"}]') == [
        {"role": "user", "content": "hi"}]
    assert parse_transcript("  ") == []
    for bad in ("hello", "[1, 2]", "[{", "user:"):
        with pytest.raises(InputError):
            parse_transcript(bad)


def test_feedback_store_updates_and_withdraws_a_rating(tmp_path):
    store = FeedbackStore(tmp_path / "sub" / "fb.sqlite")
    store.record("a1", 0, "secret question", _answer())
    store.record("a1", 1, "secret question", _answer())
    [row] = store.rows()
    assert row["rating"] == 1 and row["question"] is None
    store.record("a1", None, "secret question", _answer())
    assert store.rows() == []
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM feedback").fetchone() == (0,)

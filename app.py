"""The web app: a chat for newcomers, a preview for therapists and a corpus page for
maintainers. Start it with `make run` (or `streamlit run app.py`).

This file sets up what every page shares (the help panel with crisis lines is always on screen)
and holds the chat; the other pages are in pages/. The conversation lives only in the browser
session (st.session_state): nothing is written on the server unless the operator turns on
anonymous ratings (ASSISTANT_FEEDBACK_DB).
"""

from __future__ import annotations

import html
import uuid

import streamlit as st

from assistant import replies, web
from assistant.errors import IndexMissingError
from assistant.feedback import FeedbackError, FeedbackStore
from assistant.settings import Settings

INTRO = ("An **automated guide to peer support in recovery, not a person**. It answers from "
         "reviewed articles, shows where each answer comes from, and points you to people who "
         "have been there.")
PRIVACY = ("Private: nothing you write is stored on our server. Start over or leave the page, "
           "and the conversation is gone.")
PRIVACY_RATINGS = " Rating an answer keeps only the rating, not what you wrote."
PRIVACY_RATINGS_TEXT = ("Private: your conversation is not stored on our server, except when you "
                        "rate an answer: then that question and answer are kept with the rating, "
                        "to improve this guide. Start over or leave the page, and the "
                        "conversation is gone.")

STARTERS = 4  # from the suggestions in assistant/messages.yaml


def _privacy_note(store: FeedbackStore | None) -> str:
    if store is None:
        return PRIVACY
    return PRIVACY_RATINGS_TEXT if store.keep_text else PRIVACY + PRIVACY_RATINGS


def _ask_later(question: str) -> None:
    st.session_state["pending_question"] = question


def _start_over() -> None:
    for key in [k for k in st.session_state if str(k).startswith("feedback-")]:
        del st.session_state[key]
    st.session_state["messages"] = []


def _save_rating(store: FeedbackStore, message: dict) -> None:
    rating = st.session_state.get(f"feedback-{message['id']}")
    try:
        store.record(message["id"], rating, message["question"], message["answer"])
    except FeedbackError:
        st.toast("Sorry, your rating couldn't be saved.")


def _show_reply(message: dict, resources, store: FeedbackStore | None) -> None:
    web.show_answer(message["answer"], resources, message["id"])
    if store is not None:
        st.feedback("thumbs", key=f"feedback-{message['id']}", on_change=_save_rating,
                    args=(store, message))


def _answer(settings: Settings, question: str, history: list[dict], region: str | None):
    waiting = ("Looking through the reviewed articles…" if web.loaded_pipeline(settings)
               else "Getting ready. The first answer takes a few seconds…")
    with st.spinner(waiting):
        try:
            return web.get_pipeline(settings).ask(question, history=history, region=region)
        except Exception as exc:  # shown as a plain message, never a traceback
            web.show_problem(exc, lead="Sorry, I can't answer right now.")
            return None


def chat() -> None:
    settings = web.current_settings()
    web.start_loading(settings)
    resources = web.load_help(settings)
    region = st.session_state.get("region") or settings.region
    store = FeedbackStore.from_settings(settings)

    st.html(f'<a class="quick-exit" href="{html.escape(web.NEUTRAL_PAGE)}" target="_self" '
            'rel="noreferrer">Leave this page quickly</a>')
    with st.container(key="intro"):
        st.title("Peer support guide", anchor=False)
        st.markdown(INTRO)
        st.caption(":material/lock: " + _privacy_note(store))
    if resources is not None:
        # The sidebar is folded away on phones, so the numbers are repeated here for them.
        with st.container(key="mobile-help"):
            st.markdown("**Need to talk to someone now?**")
            web.show_region_help(resources.region(region), compact=True)

    ready = web.index_exists(settings)
    if not ready:
        what, todo = web.explain(IndexMissingError())
        st.warning(f"Answers aren't available yet. {what} {todo}", icon=":material/build:")

    messages: list[dict] = st.session_state.setdefault("messages", [])
    typed = st.chat_input("Ask a question about peer support", disabled=not ready,
                          max_chars=2000)
    question = typed or st.session_state.pop("pending_question", None)

    if not messages and not question:
        with st.container(key="starters"):
            st.header("Not sure where to start?", anchor=False)
            with st.container(horizontal=True, gap="small", key="starter-buttons"):
                for i, starter in enumerate(replies.messages()["suggestions"][:STARTERS]):
                    st.button(starter, key=f"starter-{i}", on_click=_ask_later,
                              args=(starter,), disabled=not ready)

    for message in messages:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                st.text(message["content"])
            else:
                _show_reply(message, resources, store)

    if question:
        history = [{"role": m["role"], "content": m["content"]} for m in messages]
        messages.append({"role": "user", "content": question})
        with st.chat_message("user"):
            st.text(question)
        with st.chat_message("assistant"):
            answer = _answer(settings, question, history, region)
            if answer is not None:
                reply = {"role": "assistant", "content": answer.answer, "answer": answer,
                         "question": question, "id": uuid.uuid4().hex}
                messages.append(reply)
                _show_reply(reply, resources, store)

    if messages:
        st.button("Start over", on_click=_start_over, icon=":material/restart_alt:",
                  help="Clears this conversation, including the crisis lines kept at the top.")


st.set_page_config(page_title="Peer support guide", page_icon=":material/diversity_3:")
web.use_styles()
web.help_sidebar(web.current_settings())
page = st.navigation([
    st.Page(chat, title="Chat", icon=":material/chat:", default=True),
    st.Page("pages/preview.py", title="Therapist preview", icon=":material/preview:"),
    st.Page("pages/corpus.py", title="Corpus and index", icon=":material/library_books:"),
], position="top")
page.run()

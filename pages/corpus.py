"""Corpus and index, for maintainers: every document with its vetting record, whether the
index is current, a button to refresh it, and the latest evaluation report."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from assistant import corpus_status, web
from assistant.corpus import load_corpus
from assistant.indexing import build_index

OVERDUE_STYLE = "background-color: #fde8e8; color: #5c0b0e; font-weight: 600"


def _refresh(settings) -> None:
    loaded = web.loaded_pipeline(settings)
    with st.spinner("Refreshing the index. Only changed passages are embedded…"):
        try:
            report = build_index(settings, embedder=loaded.embedder if loaded else None)
        except Exception as exc:  # a plain message, never a traceback
            web.show_problem(exc, lead="The index was not changed.")
            return
    web.forget_pipelines()
    if report.up_to_date:
        message = f"The index was already up to date ({report.chunk_count} passages)."
    else:
        message = (f"Index rebuilt ({report.reason}): {report.chunk_count} passages, "
                   f"{report.added_chunks} added, {report.changed_chunks} changed, "
                   f"{report.removed_chunks} removed.")
    st.session_state["index_message"] = message
    st.rerun()


def _index_section(settings, corpus) -> None:
    st.header("Index", anchor=False)
    try:
        status = corpus_status.index_status(settings, corpus)
    except Exception as exc:
        web.show_problem(exc)
        status = None
    message = st.session_state.pop("index_message", None)
    if message:
        st.success(message, icon=":material/check_circle:")
    if status is None or status.state == "missing":
        st.warning("No index has been built yet, so the chat can't answer. Build it with the "
                   "button below, or run `make run` (or `assistant index`).",
                   icon=":material/build:")
    else:
        m = status.manifest
        built = dt.datetime.fromisoformat(m.created_at).strftime("%Y-%m-%d %H:%M UTC")
        st.markdown(f"**Built:** {built}  \n**Passages:** {m.chunk_count} from "
                    f"{m.doc_count} documents  \n**Model:** `{m.model_id}`  \n"
                    f"**Build:** `{m.build_id}`, passages of up to {m.chunk_size} characters "
                    f"overlapping by {m.chunk_overlap}")
        if status.state == "stale":
            st.warning(f"Stale: {status.reason}. Refresh it so the chat answers from the latest "
                       "text.", icon=":material/update:")
        else:
            st.success(f"Current: {status.reason}.", icon=":material/check_circle:")
    stale = status is None or status.state != "current"
    if st.button("Refresh the index", type="primary" if stale else "secondary",
                 icon=":material/refresh:"):
        _refresh(settings)


def _documents_section(settings, corpus) -> None:
    st.header("Documents", anchor=False)
    if corpus.errors:
        st.error(f"{len(corpus.errors)} problem(s) in the corpus: those documents are left out "
                 "of the index until fixed. Run `assistant corpus check` for the full report.",
                 icon=":material/error:")
        with st.expander("Problems"):
            for problem in corpus.problems:
                st.text(str(problem))
    rows = corpus_status.document_rows(corpus, settings.index_dir)
    if not rows:
        st.info(f"No documents found in {settings.corpus_dir}.")
        return
    overdue = [r for r in rows if r.overdue]
    if overdue:
        st.warning(f"{len(overdue)} document(s) are past their review date: "
                   + ", ".join(r.title for r in overdue) + ".", icon=":material/event_busy:")

    search_col, status_col, overdue_col = st.columns([2, 2, 1], vertical_alignment="bottom")
    search = search_col.text_input("Search titles and ids", placeholder="e.g. sponsor")
    statuses = sorted({r.status for r in rows})
    chosen = status_col.multiselect("Status", statuses, default=statuses)
    only_overdue = overdue_col.toggle("Only overdue reviews")
    wanted = search.strip().lower()
    shown = [r for r in rows if r.status in chosen and (not only_overdue or r.overdue)
             and (not wanted or wanted in r.title.lower() or wanted in r.id)]
    columns = ["title", "status", "review due", "overdue", "words", "passages", "reviewed on",
               "audience", "id"]
    table = pd.DataFrame([{
        "title": r.title, "status": r.status, "review due": r.review_due,
        "overdue": "Overdue" if r.overdue else "", "words": r.words, "passages": r.passages,
        "reviewed on": r.reviewed_on, "audience": r.audience, "id": r.id,
    } for r in shown], columns=columns)
    styled = table.style.apply(
        lambda row: [OVERDUE_STYLE if row["overdue"] else ""] * len(row), axis=1)
    st.dataframe(styled, hide_index=True, width="stretch")
    st.caption(f"Showing {len(shown)} of {len(rows)} documents. Passages are counted in the "
               "current index; drafts are never indexed.")


def _eval_section() -> None:
    st.header("Latest evaluation", anchor=False)
    report = corpus_status.latest_eval_report(corpus_status.EVAL_REPORTS)
    if report is None:
        st.info("No evaluation report yet. Run `assistant eval` (or `make eval`); each run "
                "saves one under `eval/reports/<timestamp>/report.md`.",
                icon=":material/info:")
        return
    st.caption(f"From `{report.parent.name}`")
    with st.container(border=True, height=600):
        st.markdown(report.read_text(encoding="utf-8").replace("$", r"\$"))


settings = web.current_settings()
st.set_page_config(layout="wide")
st.title("Corpus and index", anchor=False)
st.markdown("The reviewed articles the assistant answers from, the search index built from them, "
            "and how well it did in the latest evaluation.")
corpus = load_corpus(settings.corpus_dir)
_index_section(settings, corpus)
_documents_section(settings, corpus)
_eval_section()

"""Therapist preview: what a client would see for a question, beside the trace of how the
answer was made, with an export to share."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from assistant import export, web
from assistant.answer import CONFIDENCE_THRESHOLD
from assistant.errors import InputError
from assistant.transcript import parse_transcript

EARLIER_HELP = ("One message per line, starting with `user:` or `assistant:` (a message may run "
                "over several lines), or a JSON list of `{\"role\": ..., \"content\": ...}`. "
                "Earlier turns shape follow-up questions, and an earlier crisis message keeps the "
                "crisis lines at the top.")


def _run(settings, question: str, earlier: str, region: str | None) -> None:
    st.session_state.pop("preview", None)
    if not question.strip():
        st.warning("Type a question to preview.")
        return
    try:
        history = parse_transcript(earlier)
    except InputError as exc:
        st.warning(f"The earlier turns couldn't be read: {exc}.")
        return
    with st.spinner("Preparing the answer…"):
        try:
            pipeline = web.get_pipeline(settings)
            answer = pipeline.ask(question, history=history, region=region)
        except Exception as exc:  # a plain message, never a traceback
            web.show_problem(exc)
            return
    st.session_state["preview"] = {"question": question, "history": history, "answer": answer,
                                   "documents": pipeline.documents}


def _client_view(preview: dict, resources, region) -> None:
    st.header("What the client sees", anchor=False)
    history = preview["history"]
    if history:
        with st.expander(f"Earlier turns ({len(history)})"):
            for turn in history:
                with st.chat_message(turn["role"]):
                    st.text(turn["content"])
    with st.chat_message("user"):
        st.text(preview["question"])
    with st.chat_message("assistant"):
        web.show_answer(preview["answer"], resources, "preview")
    args = (preview["question"], preview["answer"], preview["documents"])
    st.subheader("Share with a client", anchor=False)
    st.download_button("Download as Markdown", export.answer_markdown(*args),
                       file_name="peer-support-answer.md", mime="text/markdown",
                       on_click="ignore", icon=":material/download:", width="stretch")
    st.download_button("Download a printable page (HTML)",
                       export.answer_html(*args, region=region),
                       file_name="peer-support-answer.html", mime="text/html",
                       on_click="ignore", icon=":material/print:", width="stretch")


def _cited(n: int | None) -> str:
    return f"[{n}]" if n else ""


def _trace_view(preview: dict) -> None:
    answer, documents = preview["answer"], preview["documents"]
    trace = answer.trace
    st.header("Why this answer", anchor=False)
    lines = [f"**Route:** {export.escape_markdown(trace.get('route', ''))}",
             f"**Why:** {export.escape_markdown(answer.safety.reason)} (safety category "
             f"*{answer.safety.category}*)",
             f"**Confidence:** {answer.confidence:.2f} (the assistant answers from the articles "
             f"at {CONFIDENCE_THRESHOLD:.2f} or above)"]
    if trace.get("injection"):
        lines.append(f"**Note:** {export.escape_markdown(trace['injection'])}")
    st.markdown("  \n".join(lines))
    for note in trace.get("notes", []):
        st.caption(export.escape_markdown(note))
    if trace.get("rewritten_query"):
        st.markdown("**Searched for**" + (" (a follow-up, so rewritten with the earlier topic)"
                                          if trace.get("follow_up") else ""))
        st.text(trace["rewritten_query"])

    cited = {c.chunk_id: c.n for c in answer.citations}
    if trace.get("hits"):
        st.subheader("Passages found", anchor=False)
        st.dataframe(pd.DataFrame([{
            "cited": _cited(cited.get(h["chunk_id"])), "document": h["title"],
            "fused (RRF)": h["score"], "dense rank": h["dense_rank"], "dense": h["dense_score"],
            "BM25 rank": h["bm25_rank"], "BM25": h["bm25_score"], "section": h["section"],
        } for h in trace["hits"]]), hide_index=True, column_config={
            "document": st.column_config.TextColumn(width="medium"),
            "fused (RRF)": st.column_config.NumberColumn(format="%.4f"),
            "dense": st.column_config.NumberColumn(format="%.3f"),
            "BM25": st.column_config.NumberColumn(format="%.2f")})
    if trace.get("chosen_sentences"):
        st.subheader("Sentences chosen", anchor=False)
        st.dataframe(pd.DataFrame([{
            "cited": _cited(s["citation"]), "similarity": s["similarity"],
            "sentence": s["text"], "document": s["doc_id"],
        } for s in trace["chosen_sentences"]]), hide_index=True, column_config={
            "similarity": st.column_config.NumberColumn(format="%.3f")})
    if answer.citations:
        st.subheader("Sources and their review", anchor=False)
        numbers: dict[str, list[str]] = {}
        for c in answer.citations:
            numbers.setdefault(c.doc_id, []).append(f"[{c.n}]")
        for doc_id, cited_as in numbers.items():
            doc = documents.get(doc_id)
            name = doc.meta.title if doc else doc_id
            title = f"**{' '.join(cited_as)} {export.escape_markdown(name)}**"
            if doc is None:
                st.markdown(title)
                continue
            st.markdown(f"{title}  \nReviewed {doc.meta.reviewed_on}; next review due "
                        f"{doc.meta.review_due}.")
            with st.expander(f"References ({len(doc.meta.references)})"):
                st.markdown("\n".join(
                    f"- {export.escape_markdown(r.organisation)}: "
                    f"{export.escape_markdown(r.page)}" + (f" <{r.url}>" if r.url else "")
                    for r in doc.meta.references))
    with st.expander("Full trace (JSON)"):
        st.json(trace, expanded=1)


settings = web.current_settings()
st.set_page_config(layout="wide")
web.start_loading(settings)
resources = web.load_help(settings)
region = resources.region(st.session_state.get("region") or settings.region) if resources else None

st.title("Therapist preview", anchor=False)
st.markdown("Type a question the way a client might ask it. You'll see exactly what they would "
            "see and, beside it, how the answer was made. "
            + (f"Crisis lines and peer pointers are for **{region.name}**; change the region in "
               "the help panel." if region else ""))
with st.form("preview-form"):
    question = st.text_area("Question", placeholder="What happens at a first meeting?",
                            height=80, max_chars=2000)
    earlier = st.text_area("Earlier turns (optional)", help=EARLIER_HELP, height=100,
                           placeholder="user: I'm nervous about going to a meeting\n"
                                       "assistant: …")
    submitted = st.form_submit_button("Preview the answer", type="primary")
if submitted:
    _run(settings, question, earlier, region.code if region else None)

preview = st.session_state.get("preview")
if preview:
    client, why = st.columns(2, gap="large")
    with client:
        _client_view(preview, resources, region)
    with why:
        _trace_view(preview)

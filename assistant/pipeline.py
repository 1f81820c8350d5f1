"""One object that owns the loaded model, index, resources and safety checker, so the chat,
the therapist preview, the CLI and the eval suite all give exactly the same answers."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np

from . import replies
from .answer import Citation, Composition, compose
from .conversation import Message, is_follow_up, rewrite
from .corpus import load_corpus
from .embeddings import Embedder, text_key
from .errors import InputError
from .peers import peer_pointer
from .query_model import VectorMemo, asset_dir, load_encoder, load_known_vectors
from .resources import Region, Resources, load_resources
from .retrieval import Hit, LoadedIndex, search_index
from .safety import SafetyChecker, SafetyVerdict
from .settings import MAX_QUESTION_CHARS, Settings

HISTORY_MEMORY = 1024  # verdicts of earlier turns remembered (by hash) across replies

_NOT_A_PERSON = re.compile(
    r"\b(are|r)\s+(you|u)\s+(a\s+)?(real|human|person|bot|robot|ai|machine|computer|chatbot|"
    r"alive)\b|\b(am\s+i\s+(talking|speaking|chatting)\s+(to|with)\s+(a\s+)?(real|human|person|"
    r"bot|robot|ai))\b", re.I)
_SMALL_TALK = re.compile(
    r"^\W*(ok(ay)?|cool|thanks?|thank\s+you|thx|ty|got\s+it|great|nice|alright|sure|hi|hello|"
    r"hey|good\s+(morning|evening|afternoon))(\W+(so\s+much|a\s+lot|that\s+helped|cool|"
    r"thanks|there|again|ok))*\W*$", re.I)
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass|disable|turn\s+off)\s+(all\s+|your\s+|the\s+|"
    r"any\s+|previous\s+|prior\s+|these\s+)*(rules|instructions|safety|guidelines|filters?|"
    r"prompt|system)\b|\b(pretend|act|role-?play)\s+(to\s+be|as|you\s*'?re|that\s+you)|"
    r"\byou\s+are\s+now\b|\bjailbreak\b|\bdeveloper\s+mode\b|\bDAN\b", re.I)


def clean_question(question: str) -> str:
    text = (question or "").replace("\x00", " ").strip()
    if not text:
        raise InputError("the question is empty")
    return text[:MAX_QUESTION_CHARS]


def _language_issue(text: str) -> str | None:
    letters = re.findall(r"[^\W\d_]", text)
    if not letters:
        return "junk"
    latin = sum(1 for ch in letters if ch.isascii())
    return "non_english" if latin / len(letters) < 0.5 else None


@dataclass
class Answer:
    query: str
    answer: str
    safety: SafetyVerdict
    citations: list[Citation]
    peer_pointer: str
    confidence: float
    region: str
    crisis_block: str = ""  # shown as a callout by the app; also at the top of `answer`
    body: str = ""  # the answer without crisis block and pointer, for the app's layout
    hits: list[Hit] = field(default_factory=list)
    trace: dict = field(default_factory=dict)

    def to_json(self, with_trace: bool = True) -> dict:
        data = {
            "query": self.query,
            "answer": self.answer,
            "safety": {"category": self.safety.category, "reason": self.safety.reason},
            "citations": [c.to_json() for c in self.citations],
            "peer_pointer": self.peer_pointer,
            "confidence": self.confidence,
            "region": self.region,
        }
        if with_trace:
            data["trace"] = self.trace
        return data


class Pipeline:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        started = time.perf_counter()
        self.settings = settings
        self.index = LoadedIndex.open(settings)  # first: a missing index fails before the model
        model_started = time.perf_counter()
        # The ONNX export when `assistant index` wrote one (no torch in this process), else
        # the torch model.
        self.embedder = embedder or load_encoder(settings, self.index.manifest.model_id)
        self.model_seconds = time.perf_counter() - model_started
        self.resources: Resources = load_resources(settings.corpus_dir)
        corpus = load_corpus(settings.corpus_dir)
        self.documents = {d.id: d for d in corpus.vetted}
        self.reviewed_on = {d.id: str(d.meta.reviewed_on) for d in corpus.vetted}
        self.vectors = VectorMemo(self.embedder.encode, load_known_vectors(
            asset_dir(settings.index_dir, self.embedder.model_id)))
        self.safety = SafetyChecker(encode=self.vectors.encode)
        # Earlier turns are re-checked on every reply; remember their verdicts.
        self._history_verdicts: OrderedDict[str, str] = OrderedDict()
        self.index.collection  # noqa: B018 - a broken database fails here, not mid-answer
        self.load_seconds = time.perf_counter() - started

    # -- search ---------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        return self.vectors.encode_one(text)

    def search(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        query = clean_question(question)
        return search_index(self.index, query, self.encode(query), k=k, mode=mode)

    def region(self, code: str | None) -> Region:
        return self.resources.region(code or self.settings.region)

    # -- ask ------------------------------------------------------------------------------
    def ask(self, question: str, history: list[dict] | list[Message] | None = None,
            region: str | None = None) -> Answer:
        started = time.perf_counter()
        query = clean_question(question)
        turns = [m if isinstance(m, Message) else Message.model_validate(m)
                 for m in (history or [])]
        reg = self.region(region)
        pointer = peer_pointer(reg, query)
        trace: dict = {"region": reg.code, "generator": "extractive",
                       "encoder": getattr(self.embedder, "name", "torch")}

        issue = _language_issue(query)
        vector = self.encode(query)
        corpus_sim = float((self.index.chunk_vectors @ vector).max())
        verdict = self.safety.check(query, corpus_similarity=corpus_sim, vector=vector,
                                    follow_up=any(t.role == "user" for t in turns)
                                    and is_follow_up(query))
        earlier_crisis = self._earlier_crisis(turns)
        trace["safety"] = asdict(verdict) | {"earlier_crisis": earlier_crisis,
                                             "corpus_similarity": round(corpus_sim, 4)}

        answer = Answer(query, "", verdict, [], pointer, 0.0, reg.code, trace=trace)
        if verdict.category == "crisis":
            answer.crisis_block = replies.crisis_block(reg)
            answer.answer = answer.crisis_block
            trace["route"] = "crisis: retrieval skipped"
            if issue == "non_english":  # the models read English only: say so, numbers first
                answer.answer += "\n\n" + replies.messages()["non_english"]
                trace["route"] += "; non-English input"
            return self._finish(answer, started)
        if earlier_crisis:
            answer.safety = SafetyVerdict(
                "crisis", "an earlier message in this conversation was a crisis; the crisis "
                f"lines stay at the top until the conversation starts over (this message: "
                f"{verdict.category})", verdict.rules, "conversation", verdict.crisis_similarity)
            answer.crisis_block = replies.crisis_block(reg, kept=True)

        m = replies.messages()
        if issue == "junk":
            answer.body, trace["route"] = m["junk"], "unreadable input"
        elif issue == "non_english" and verdict.category != "medical":
            answer.body, trace["route"] = m["non_english"], "non-English input"
        elif _NOT_A_PERSON.search(query):
            answer.body, trace["route"] = m["not_a_person"], "asked whether it is a person"
        elif _SMALL_TALK.match(query):
            answer.safety = SafetyVerdict("ok", "a greeting or thanks", [], "none",
                                          verdict.crisis_similarity)
            answer.body = m["small_talk"] + "\n\n" + replies.suggestions_block()
            trace["route"] = "greeting or thanks"
        elif verdict.category == "out_of_scope":
            answer.body = m["out_of_scope"] + "\n\n" + replies.suggestions_block()
            trace["route"] = "out of scope: retrieval skipped"
        else:
            self._grounded(answer, query, vector, turns, verdict, trace)
        if _INJECTION.search(query):
            answer.body = m["injection_refusal"] + "\n\n" + answer.body
            trace["injection"] = "instruction to change the rules ignored"
        answer.answer = "\n\n".join(p for p in (answer.crisis_block, answer.body) if p)
        return self._finish(answer, started)

    def _grounded(self, answer: Answer, query: str, vector: np.ndarray, turns: list[Message],
                  verdict: SafetyVerdict, trace: dict) -> None:
        rw = rewrite(query, turns)
        search_text = rw.rewritten
        if verdict.category == "medical":
            search_text = f"{rw.rewritten} peer support alongside treatment"
        search_vector = vector if search_text == query else self.encode(search_text)
        hits = search_index(self.index, search_text, search_vector, k=8)
        comp: Composition = compose(self.index, search_vector, hits, search_text,
                                    self.reviewed_on)
        answer.hits, answer.confidence, answer.citations = hits, comp.confidence, comp.citations
        trace.update({
            "route": f"{verdict.category}: answered from the corpus",
            "rewritten_query": search_text, "follow_up": rw.is_follow_up,
            "hits": [h.to_json() for h in hits],
            "chosen_sentences": [asdict(s) for s in comp.sentences + comp.next_steps],
            "confidence": comp.confidence, "covered": comp.covered, "notes": comp.notes,
            "generator_reason": "default extractive answer (no LLM configured)",
        })
        m = replies.messages()
        preface = ""
        if verdict.category == "medical":
            preface = replies.medical_preface(query) + "\n\n"
            if comp.covered:
                preface += m["medical_bridge"] + "\n\n"
        if comp.covered:
            answer.body = preface + replies.answer_markdown(comp)
            if verdict.category == "ok" and self.settings.llm_base_url and \
                    self.settings.llm_model:
                self._try_llm(answer, search_text, hits, comp, trace)
            return
        related = [h.title if h.title.endswith("?") else f"Tell me about {h.title}"
                   for h in hits[:3]]
        related = list(dict.fromkeys(related))
        answer.body = (preface + m["not_covered"] + " " + m["not_covered_people"] + "\n\n"
                       + replies.suggestions_block(related if comp.confidence > 0.2 else None))

    def _try_llm(self, answer: Answer, question: str, hits: list[Hit], comp: Composition,
                 trace: dict) -> None:
        """Let the configured LLM rephrase the same passages; keep its answer only if every
        sentence is supported by a passage it cites. Safety routes never come here."""
        from .llm import llm_answer

        result = llm_answer(question, hits, self.index, self.settings, self.embedder.encode)
        trace["llm_checks"] = [asdict(c) for c in result.checks]
        if not result.ok:
            trace["generator_reason"] = f"LLM answer not used: {result.reason}"
            return
        renumber = {old: new for new, old in enumerate(result.citations_used, start=1)}
        text = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber.get(int(m.group(1)), '?')}]",
                      result.text)
        citations = [Citation(new, hits[old - 1].doc_id, hits[old - 1].title,
                              hits[old - 1].chunk_id, hits[old - 1].section,
                              self.reviewed_on.get(hits[old - 1].doc_id, ""), hits[old - 1].text)
                     for old, new in renumber.items()]
        answer.citations = citations
        answer.body = text + "\n\n" + replies.sources_markdown(
            Composition([], [], citations, comp.confidence, True))
        trace.update({"generator": "llm", "generator_reason": result.reason})

    def _earlier_crisis(self, turns: list[Message]) -> bool:
        return any(self._history_category(t.content) == "crisis"
                   for t in turns if t.role == "user")

    def _history_category(self, text: str) -> str:
        """Earlier turns are re-checked on every reply; their categories are remembered, keyed
        by a hash so no message text is kept in memory."""
        key = text_key(text)
        if key not in self._history_verdicts:
            self._history_verdicts[key] = self.safety.check(text).category
            while len(self._history_verdicts) > HISTORY_MEMORY:
                self._history_verdicts.popitem(last=False)
        return self._history_verdicts[key]

    def _finish(self, answer: Answer, started: float) -> Answer:
        answer.answer = f"{answer.answer}\n\n{answer.peer_pointer}".strip()
        answer.trace["seconds"] = round(time.perf_counter() - started, 4)
        return answer

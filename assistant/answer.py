"""Compose a grounded answer: sentences quoted from the retrieved passages as written, chosen
for relevance with redundancy removed (maximal marginal relevance), each with its citation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .retrieval import Hit, LoadedIndex

MIN_WORDS, TARGET_WORDS, MAX_WORDS = 80, 130, 180
MMR_LAMBDA = 0.7  # weight of relevance against novelty
PASSAGES_USED = 5  # sentences come from the best passages only
# An answer is only given when its best passage is at least this similar to the question;
# chosen on the covered and uncovered questions of eval/questions.jsonl (tuning part).
CONFIDENCE_THRESHOLD = 0.42
MIN_SENTENCE_SIMILARITY = 0.25  # never pad an answer with loosely related sentences
RELATIVE_FLOOR = 0.6  # nor with sentences far weaker than the best one
FILL_FLOOR = 0.8  # once the answer is long enough, only add sentences nearly as good as the best
_WEAK_START = re.compile(r"^(this|it|they|these|those|that|he|she|also|but|and|so)\b", re.I)
_STEP_START = re.compile(
    r"^(ask|call|try|look|visit|contact|search|go|reach|talk|find|check|join|use|start|bring|"
    r"text|write|email|sign|come|plan|tell|choose|pick|consider|attend|read|download|open)\b",
    re.I)
_INVOLVE = re.compile(
    r"\b(get(ting)? involved|involved|volunteer\w*|join|start(ing)?|find|how (do|can) i|where "
    r"(do|can) i|become|sign up|take part|first step|next step|begin)\b", re.I)


@dataclass(frozen=True)
class Chosen:
    text: str
    chunk_id: str
    doc_id: str
    similarity: float
    citation: int = 0


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    chunk_id: str
    section: str
    reviewed_on: str = ""
    text: str = ""

    def to_json(self) -> dict:
        return {"n": self.n, "doc_id": self.doc_id, "title": self.title,
                "chunk_id": self.chunk_id, "section": self.section,
                "reviewed_on": self.reviewed_on}


@dataclass
class Composition:
    sentences: list[Chosen]
    next_steps: list[Chosen]
    citations: list[Citation]
    confidence: float
    covered: bool
    candidates: int = 0
    notes: list[str] = field(default_factory=list)

    def body_markdown(self) -> str:
        return " ".join(f"{s.text} [{s.citation}]" for s in self.sentences)


def _usable(sentence: str) -> bool:
    words = sentence.split()
    return 5 <= len(words) <= 60 and not sentence.rstrip().endswith(":")


def _mmr(vectors: np.ndarray, relevance: np.ndarray, limit_words: list[int]) -> list[int]:
    """Pick sentences by relevance minus similarity to those already picked, until the answer
    reaches its target length."""
    chosen: list[int] = []
    total = 0
    top = float(relevance.max())
    floor = max(MIN_SENTENCE_SIMILARITY, RELATIVE_FLOOR * top)
    candidates = [i for i in range(len(relevance)) if relevance[i] >= floor]
    while candidates and total < TARGET_WORDS:
        if chosen:
            redundancy = (vectors[candidates] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(candidates))
        scores = MMR_LAMBDA * relevance[candidates] - (1 - MMR_LAMBDA) * redundancy
        best = candidates[int(np.argmax(scores))]
        candidates.remove(best)
        if chosen and (vectors[best] @ vectors[chosen].T).max() > 0.9:
            continue  # a near-repeat of a chosen sentence adds nothing
        if total + limit_words[best] > MAX_WORDS and total >= MIN_WORDS:
            continue
        if total >= MIN_WORDS and relevance[best] < FILL_FLOOR * top:
            break
        chosen.append(best)
        total += limit_words[best]
    return chosen


def compose(index: LoadedIndex, query_vector: np.ndarray, hits: list[Hit], question: str,
            reviewed_on: dict[str, str]) -> Composition:
    confidence = max((h.dense_score or 0.0) for h in hits) if hits else 0.0
    if confidence < CONFIDENCE_THRESHOLD:
        return Composition([], [], [], round(confidence, 4), False,
                           notes=[f"best passage similarity {confidence:.2f} is below "
                                  f"{CONFIDENCE_THRESHOLD}"])
    used = hits[:PASSAGES_USED]
    rows = []  # (sentence id, hit rank)
    for rank, hit in enumerate(used):
        chunk_row = index.row_of[hit.chunk_id]
        for sid in index.sentences_by_chunk.get(chunk_row, []):
            if _usable(index.sentences[sid].text):
                rows.append((sid, rank))
    if not rows:
        return Composition([], [], [], round(confidence, 4), False, notes=["no usable sentences"])
    ids = [sid for sid, _ in rows]
    vectors = index.sentence_vectors[ids]
    relevance = vectors @ query_vector
    # A small nudge for sentences from higher-ranked passages, and against sentences that lean
    # on a previous one ("This...", "They..."), which read badly when quoted alone.
    relevance = relevance + np.array([0.02 * (PASSAGES_USED - rank) for _, rank in rows])
    relevance = relevance - np.array([0.08 if _WEAK_START.match(index.sentences[s].text) else 0
                                      for s in ids])
    lengths = [len(index.sentences[s].text.split()) for s in ids]
    picked = _mmr(vectors, relevance, lengths)

    def chosen(i: int) -> Chosen:
        ref = index.sentences[ids[i]]
        chunk = index.chunks[ref.chunk_row]
        return Chosen(ref.text, chunk.chunk_id, chunk.doc_id, round(float(relevance[i]), 4))

    lead, rest = picked[:1], picked[1:]
    # Lead with the most direct sentence, then keep the rest in the order of their passages
    # and within a passage in reading order, which reads far better than score order.
    rest.sort(key=lambda i: (rows[i][1], index.sentences[ids[i]].chunk_row,
                             index.sentences[ids[i]].index))
    sentences = [chosen(i) for i in lead + rest]
    steps: list[Chosen] = []
    if _INVOLVE.search(question):
        taken = set(picked)
        for i in np.argsort(-relevance):
            if len(steps) == 3:
                break
            text = index.sentences[ids[i]].text
            if i not in taken and _STEP_START.match(text) and relevance[i] >= 0.25:
                steps.append(chosen(int(i)))
    citations: list[Citation] = []
    number: dict[str, int] = {}
    numbered: list[list[Chosen]] = [[], []]
    for group, items in enumerate((sentences, steps)):
        for s in items:
            if s.chunk_id not in number:
                number[s.chunk_id] = len(number) + 1
                chunk = index.chunks[index.row_of[s.chunk_id]]
                citations.append(Citation(number[s.chunk_id], chunk.doc_id, chunk.title,
                                          chunk.chunk_id, chunk.section,
                                          reviewed_on.get(chunk.doc_id, ""), chunk.text))
            numbered[group].append(Chosen(s.text, s.chunk_id, s.doc_id, s.similarity,
                                          number[s.chunk_id]))
    return Composition(numbered[0], numbered[1], citations, round(confidence, 4), True,
                       candidates=len(ids))

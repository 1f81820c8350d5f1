"""Decide, before anything is retrieved, what kind of message this is.

Two layers, both kept in data files a non-programmer can review:
1. patterns (safety_rules.yaml): phrases, slang and misspellings, with idioms removed first;
2. meaning (safety_exemplars.yaml): the message and each of its sentences compared with labelled
   examples, to catch crisis messages that no pattern names.
When in doubt, crisis wins: a false alarm costs a moment, a miss can cost a life.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml

Category = Literal["crisis", "medical", "out_of_scope", "ok"]
HERE = Path(__file__).resolve().parent

# Chosen on the tuning part of eval/safety_set.jsonl (see eval/README.md): the lowest
# similarity to a crisis example that still flags, and the margin by which a message must be
# closer to the crisis examples than to the ordinary ones.
SEMANTIC_THRESHOLD = 0.48
SEMANTIC_MARGIN = 0.05
# A message that plainly asks a medical question (dosing, tapering, mixing) sounds like an
# overdose example without being one; the semantic layer then needs a closer match.
SEMANTIC_THRESHOLD_MEDICAL = 0.58
# The third layer, a logistic regression over the message's embedding trained on the labelled
# sets by `python -m assistant.safety_training`; it flags at or above this probability.
CLASSIFIER_THRESHOLD = 0.7
CLASSIFIER_THRESHOLD_MEDICAL = 0.9
CLASSIFIER_FILE = HERE / "safety_classifier.npz"
# Below this similarity to every passage, a message with no recovery words is out of scope.
SCOPE_THRESHOLD = 0.25


@dataclass(frozen=True)
class SafetyVerdict:
    category: Category
    reason: str
    rules: list[str] = field(default_factory=list)  # ids of the pattern rules that fired
    layer: str = "none"  # "pattern", "semantic", "scope", "conversation" or "none"
    crisis_similarity: float = 0.0
    matched_text: str = ""  # the words or exemplar that triggered it, for the trace
    crisis_probability: float = 0.0  # the classifier's estimate, for the trace


@dataclass(frozen=True)
class Rule:
    id: str
    why: str
    patterns: tuple[re.Pattern, ...]


@dataclass(frozen=True)
class RuleSet:
    idioms: tuple[re.Pattern, ...]
    crisis: tuple[Rule, ...]
    medical: tuple[Rule, ...]
    in_scope: re.Pattern
    out_of_scope: tuple[re.Pattern, ...]


def _rules(entries: list[dict]) -> tuple[Rule, ...]:
    return tuple(Rule(e["id"], e["why"], tuple(re.compile(p, re.I) for p in e["patterns"]))
                 for e in entries)


@lru_cache(maxsize=4)
def load_rules(path: Path = HERE / "safety_rules.yaml") -> RuleSet:
    data = yaml.safe_load(path.read_text("utf-8"))
    terms = "|".join(str(t) for t in data["in_scope_terms"])
    return RuleSet(
        idioms=tuple(re.compile(i["pattern"], re.I) for i in data["idioms"]),
        crisis=_rules(data["crisis"]),
        medical=_rules(data["medical"]),
        in_scope=re.compile(rf"\b({terms})\b", re.I),
        out_of_scope=tuple(re.compile(p, re.I) for p in data.get("out_of_scope_terms", [])),
    )


@lru_cache(maxsize=4)
def load_exemplars(path: Path = HERE / "safety_exemplars.yaml") -> tuple[list[str], list[str]]:
    data = yaml.safe_load(path.read_text("utf-8"))
    return list(data["crisis"]), list(data["not_crisis"])


def normalise(text: str) -> str:
    """Lower case, straight quotes, folded spaces, and no accents, so patterns stay simple."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"[\u200b-\u200f\u2060]", "", text)  # zero-width characters
    text = re.sub(r"(.)\1{3,}", r"\1\1", text)  # "soooooo" -> "soo"
    return re.sub(r"\s+", " ", text).strip().lower()


def strip_idioms(text: str, rules: RuleSet) -> str:
    for idiom in rules.idioms:
        text = idiom.sub(" ~ ", text)
    return text


def _first_match(rules: tuple[Rule, ...], text: str) -> tuple[list[Rule], str]:
    fired, words = [], ""
    for rule in rules:
        for pattern in rule.patterns:
            m = pattern.search(text)
            if m:
                fired.append(rule)
                words = words or m.group(0).strip()
                break
    return fired, words


def split_for_safety(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?;])\s+|\n+|,\s+(?:and|but|also|so)\s+|\s+(?:but|also)\s+", text)
    return [p.strip() for p in parts if len(p.strip()) > 3]


class SafetyChecker:
    """Holds the compiled rules and the exemplar vectors; `encode` is the search model's."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray] | None = None,
                 rules: RuleSet | None = None,
                 threshold: float = SEMANTIC_THRESHOLD, margin: float = SEMANTIC_MARGIN):
        self.rules = rules or load_rules()
        self.encode = encode
        self.threshold, self.margin = threshold, margin
        self._crisis_texts, self._ordinary_texts = load_exemplars()
        self._classifier = load_classifier() if encode is not None else None
        if encode is not None:
            self._crisis = encode(self._crisis_texts)
            self._ordinary = encode(self._ordinary_texts)

    def semantic(self, text: str, vector: np.ndarray | None = None
                 ) -> tuple[float, float, str, float]:
        """Best similarity to a crisis example and to an ordinary one, over the whole message
        and each sentence, with the crisis example that matched, and the classifier's
        probability for the whole message. `vector`, when the caller already has the
        message's embedding, saves encoding it twice."""
        if self.encode is None:
            return 0.0, 0.0, "", 0.0
        sentences = split_for_safety(text)[:11]
        if vector is None:
            vectors = self.encode([text, *sentences])
        elif sentences:
            vectors = np.vstack([vector[None, :], self.encode(sentences)])
        else:
            vectors = vector[None, :]
        probability = 0.0
        if self._classifier is not None:
            weights, bias = self._classifier
            probability = float(1.0 / (1.0 + np.exp(-(vectors[0] @ weights + bias))))
        crisis = vectors @ self._crisis.T
        ordinary = vectors @ self._ordinary.T
        # The piece that looks most like a crisis decides; its ordinary similarity is the
        # comparison, so a long ordinary message cannot hide one alarming sentence.
        best_piece = int(crisis.max(axis=1).argmax())
        best = int(crisis[best_piece].argmax())
        return (float(crisis[best_piece, best]), float(ordinary[best_piece].max()),
                self._crisis_texts[best], probability)

    def check(self, message: str, corpus_similarity: float | None = None,
              vector: np.ndarray | None = None) -> SafetyVerdict:
        text = normalise(message)
        if not text:
            return SafetyVerdict("out_of_scope", "empty message", layer="scope")
        if not re.search(r"[^\W\d_]", text):
            return SafetyVerdict("out_of_scope", "no words to read", layer="scope")
        cleaned = strip_idioms(text, self.rules)
        fired, words = _first_match(self.rules.crisis, cleaned)
        c_sim, o_sim, exemplar, prob = self.semantic(message, vector)
        if fired:
            return SafetyVerdict("crisis", fired[0].why, [r.id for r in fired], "pattern",
                                 c_sim, words, prob)
        medical, medical_words = _first_match(self.rules.medical, cleaned)
        sem_bar = max(self.threshold, SEMANTIC_THRESHOLD_MEDICAL) if medical else self.threshold
        if c_sim >= sem_bar and c_sim - o_sim >= self.margin:
            return SafetyVerdict("crisis", "close in meaning to a crisis message: "
                                 f"\"{exemplar}\"", [], "semantic", c_sim, exemplar, prob)
        clf_bar = CLASSIFIER_THRESHOLD_MEDICAL if medical else CLASSIFIER_THRESHOLD
        if prob >= clf_bar:
            return SafetyVerdict("crisis", "the crisis classifier rates this message "
                                 f"{prob:.2f} (threshold {clf_bar})", [], "classifier", c_sim,
                                 "", prob)
        if medical:
            return SafetyVerdict("medical", medical[0].why, [r.id for r in medical], "pattern",
                                 c_sim, medical_words, prob)
        if any(p.search(text) for p in self.rules.out_of_scope):
            return SafetyVerdict("out_of_scope", "asks for something other than recovery or "
                                 "peer support", [], "scope", c_sim, "", prob)
        in_scope = bool(self.rules.in_scope.search(text))
        if not in_scope and corpus_similarity is not None and corpus_similarity < SCOPE_THRESHOLD:
            return SafetyVerdict("out_of_scope", "not about recovery, peer support or getting "
                                 "help", [], "scope", c_sim, "", prob)
        return SafetyVerdict("ok", "an ordinary question about peer support or recovery",
                             [], "none", c_sim, "", prob)


def load_classifier(path: Path = CLASSIFIER_FILE) -> tuple[np.ndarray, float] | None:
    """Weights of the crisis classifier; None (the layer is off) if the file is missing."""
    if not path.is_file():
        return None
    data = np.load(path)
    return data["weights"].astype(np.float32), float(data["bias"])

"""Decide, before anything is retrieved, what kind of message this is.

Three layers, the first two kept in data files a non-programmer can review:
1. patterns (safety_rules.yaml): phrases, slang and misspellings, with idioms, denials and
   history removed first;
2. meaning (safety_exemplars.yaml): the message and each of its sentences compared with labelled
   examples, to catch crisis messages that no pattern names;
3. three classifiers trained on the labelled sets (safety_training.py) over the message's
   embedding and its words: one for crisis messages, one for medical questions that no medical
   pattern names (everyday wording: "can I take cold medicine on bupe?"), and one for questions
   about something other than recovery.
Layers 2 and 3 read the message with the idioms removed, as layer 1 does (`meaning_text`).
When in doubt, crisis wins: a false alarm costs a moment, a miss can cost a life.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml

Category = Literal["crisis", "medical", "out_of_scope", "ok"]
HERE = Path(__file__).resolve().parent
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster

# The lowest similarity to a crisis example that still flags (chosen on the tuning part of
# eval/safety_set.jsonl, see eval/README.md), and the margin by which a message must be closer
# to the crisis examples than to the ordinary ones. The margin was 0.05 until round 18, when
# `python -m assistant.safety_training --cv-semantic` showed the layer adding false alarms
# that a wider margin removes: crisis missed / false alarms of the whole check on the 9,566
# tuning messages, 5-fold and with each first-contact round left out of training, 33/0.115 and
# 0/0.072 at 0.05, 33/0.107 and 0/0.059 at 0.15 (chosen: the widest that missed no more),
# 34/0.104 and 0/0.057 at 0.2. Round 25 (12,575 messages, two ordinary-traffic banks and
# v13-v24 left out) kept it: 37/0.118 and 0/0.077 at 0.05, 37/0.106 and 0/0.065 at 0.15,
# 38/0.102 and 0/0.061 at 0.2. Round 28 (14,010 messages, three ordinary-traffic banks, v13-v30
# left out) first gave 44/0.119 and 0/0.079 at 0.05, 44/0.110 and 0/0.072 at 0.1, 45/0.104 and
# 0/0.063 at 0.15, 47/0.100 and 0/0.061 at 0.2, so the rule asked for 0.1. The one message
# between them was a 12-year-old's disclosure that no pattern named ("my step-dad makes me do
# stuff when mum's at work"); with a pattern for it (abuse-disclosed) the rerun keeps 0.15:
# 44 missed at 0.05, 0.1 and 0.15 (false alarms 0.119, 0.110, 0.104), 46/0.100 at 0.2.
SEMANTIC_THRESHOLD = 0.48
SEMANTIC_MARGIN = 0.15
# A message that plainly asks a medical question (dosing, tapering, mixing) sounds like an
# overdose example without being one; the semantic layer then needs a closer match.
SEMANTIC_THRESHOLD_MEDICAL = 0.58
# The third layer, a logistic regression over the message's embedding and its hashed words and
# word pairs, trained on the labelled sets by `python -m assistant.safety_training`; it flags at
# or above this probability. Both thresholds come from `python -m assistant.safety_training
# --cv` (rerun in round 28; figures in safety_training.py): the highest threshold that found as
# many crisis messages as any lower one, both in 5-fold cross-validation of the whole check and
# in replays of four earlier first contacts (0.2, the grid's floor), then, among the medical
# thresholds that kept crisis recall at its best, the lowest that sent no more medical
# questions to crisis than the highest of them. A message that matches a medical rule needs the
# higher one, since dosing questions share most of their words with overdoses.
CLASSIFIER_THRESHOLD = 0.2
CLASSIFIER_THRESHOLD_MEDICAL = 0.25
# The medical classifier (medical questions against ordinary and out-of-scope ones) routes a
# message to a clinician at or above this probability, when no crisis layer fired: the lowest
# threshold at which the replay of the last first contact sent no more ordinary questions to a
# clinician than with the classifier off (`python -m assistant.safety_training --cv-medical`;
# figures in safety_training.py). A message it routes also needs the closer semantic match that
# a medical pattern asks for; the crisis classifier keeps its own bar, since raising that one
# lost crisis messages in the cross-validation.
MEDICAL_THRESHOLD = 0.6
# The semantic layer flags only when the crisis classifier gives the message at least this
# probability: (for any message, for one that asks a medical question). Medical questions about
# withdrawal symptoms read close to the withdrawal crisis examples; in `--cv-medical`, a floor of
# 0.1 for them sent fewer medical questions to crisis and lost no crisis message, while any floor
# for other messages lost one, so the first stays 0. (Round 17: floors of 0.05-0.3 for every
# message cut 5-fold false alarms from 0.140 to 0.134-0.130 with crisis recall the same to three
# places, but on first contact the floor of 0.05 hid "I need someone to talk me out of what I've
# planned" (classifier 0.02, similarity 0.57), so it stays 0.)
SEMANTIC_FLOOR = (0.0, 0.1)
# The scope classifier (out-of-scope questions against ordinary ones) sends a message with no
# recovery word to the out-of-scope reply at or above this probability. In 5-fold CV on the
# tuning sets (`python -m assistant.safety_training --cv-scope`) it found 0.957 of out-of-scope
# messages and sent 0.009 of ordinary ones there; the corpus-similarity rule it replaces (kept
# for when no classifier is trained) found 0.946 and sent 0.028 on v1-v16 and the first bank,
# the data its word lists were written from.
SCOPE_CLASSIFIER_THRESHOLD = 0.5
# A word of recovery ("clean", "pills", "recover", "sponsor") keeps a message in scope unless the
# scope classifier is at least this sure: "how do I recover deleted photos", "my dog won't take
# his worming pills". In round 18's `--cv-scope` (5-fold, 5,081 ok and out-of-scope messages),
# 0.95 found 0.953 of out-of-scope messages instead of 0.932 and sent 66 ordinary messages out
# of scope instead of 64 (0.9: 0.957 and 71; 0.8: 0.959 and 83).
SCOPE_THRESHOLD_RECOVERY_WORD = 0.95
CLASSIFIER_FILE = HERE / "safety_classifier.npz"
# Words and word pairs are hashed into this many slots (zlib.crc32, the same in every process).
# 2^17, not 2^14: the training data has about 23,000 distinct words and pairs, and with 2^14
# slots most unseen words shared one with a trained word, so everyday words ("radiators", "cold
# war") borrowed crisis weights. In replays of rounds 10-14 (the classifier trained on the sets
# before each), a threshold of 0.4 at 2^17 found as many crisis messages as 0.2 did at 2^14,
# with 52 false alarms instead of 82 in 490 ordinary messages (eval/README.md, round 14).
WORD_SLOTS = 1 << 17
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
    crisis_probability: float = 0.0  # the crisis classifier's estimate, for the trace
    medical_probability: float = 0.0  # the medical classifier's estimate, for the trace


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


def _read_yaml(path: Path) -> dict:
    return yaml.load(path.read_text("utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader


def _compile(pattern: str, families: dict[str, str]) -> re.Pattern:
    """`@name` in a pattern stands for the phrase family `name` (the `families` section of the
    rules file), so one list of, say, ways to say "years ago" serves every rule."""
    def family(m: re.Match) -> str:
        if m.group(1) not in families:
            raise ValueError(f"unknown phrase family @{m.group(1)} in {pattern!r}")
        return f"(?:{families[m.group(1)]})"
    return re.compile(re.sub(r"@([a-z_]+)", family, pattern), re.I)


def _rules(entries: list[dict], families: dict[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(e["id"], e["why"], tuple(_compile(p, families) for p in e["patterns"]))
                 for e in entries)


@lru_cache(maxsize=4)
def load_rules(path: Path = HERE / "safety_rules.yaml") -> RuleSet:
    data = _read_yaml(path)
    families: dict[str, str] = {}
    for name, phrases in (data.get("families") or {}).items():  # later ones may use earlier
        families[name] = "|".join(_compile(str(p), families).pattern for p in phrases)
    terms = "|".join(str(t) for t in data["in_scope_terms"])
    return RuleSet(
        idioms=tuple(_compile(i["pattern"], families) for i in data["idioms"]),
        crisis=_rules(data["crisis"], families),
        medical=_rules(data["medical"], families),
        in_scope=re.compile(rf"\b({terms})\b", re.I),
        out_of_scope=tuple(_compile(p, families) for p in data.get("out_of_scope_terms", [])),
    )


@lru_cache(maxsize=4)
def load_exemplars(path: Path = HERE / "safety_exemplars.yaml") -> tuple[list[str], list[str]]:
    data = _read_yaml(path)
    return list(data["crisis"]), list(data["not_crisis"])


@lru_cache(maxsize=4)
def load_everyday(path: Path = HERE / "safety_everyday.yaml") -> list[str]:
    """Everyday messages the classifiers learn as neither crisis nor medical (training only)."""
    return list(_read_yaml(path)["everyday"])


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


def meaning_text(message: str, rules: RuleSet) -> str:
    """What the exemplars and the classifier read: the message with its idioms, denials and
    history blanked, as the patterns see it ("I used to cut, years ago" should not sound like
    cutting now), or the message itself when nothing was blanked or nothing else is left."""
    cleaned = strip_idioms(normalise(message), rules)
    if "~" not in cleaned:
        return message
    left = re.sub(r"\s+", " ", cleaned.replace("~", " ")).strip()
    return left if re.search(r"[^\W\d_]", left) else message


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
                 threshold: float = SEMANTIC_THRESHOLD, margin: float = SEMANTIC_MARGIN,
                 with_classifier: bool = True,
                 exemplars: tuple[list[str], list[str]] | None = None,
                 classifiers: Classifiers | None = None,
                 medical_threshold: float | None = None,
                 semantic_floor: tuple[float, float] | None = None):
        self.rules = rules or load_rules()
        self.encode = encode
        self.threshold, self.margin = threshold, margin
        self._crisis_texts, self._ordinary_texts = exemplars or load_exemplars()
        # Off only when the classifiers themselves are being cross-validated (safety_training).
        self._classifiers = classifiers or (
            load_classifiers() if encode is not None and with_classifier else Classifiers())
        self.medical_threshold = medical_threshold or MEDICAL_THRESHOLD
        self.semantic_floor = semantic_floor or SEMANTIC_FLOOR
        if encode is not None:
            self._crisis = encode(self._crisis_texts)
            self._ordinary = encode(self._ordinary_texts)

    def semantic(self, text: str, vector: np.ndarray | None = None) -> Meaning:
        """Best similarity to a crisis example and to an ordinary one, over the whole message
        and each sentence, with the crisis example that matched, and the classifiers'
        probabilities for the whole message; all read `meaning_text`. `vector`, when the
        caller already has the message's embedding, saves encoding it twice."""
        if self.encode is None:
            return Meaning()
        read = meaning_text(text, self.rules)
        sentences = split_for_safety(read)[:11]
        if vector is None or read != text:
            vectors = self.encode([read, *sentences])
        elif sentences:
            vectors = np.vstack([vector[None, :], self.encode(sentences)])
        else:
            vectors = vector[None, :]
        crisis_p, medical_p, scope_p = self._classifiers.probabilities(read, vectors[0])
        crisis = vectors @ self._crisis.T
        ordinary = vectors @ self._ordinary.T
        # The piece that looks most like a crisis decides; its ordinary similarity is the
        # comparison, so a long ordinary message cannot hide one alarming sentence.
        best_piece = int(crisis.max(axis=1).argmax())
        best = int(crisis[best_piece].argmax())
        return Meaning(float(crisis[best_piece, best]), float(ordinary[best_piece].max()),
                       self._crisis_texts[best], crisis_p, medical_p, scope_p)

    def check(self, message: str, corpus_similarity: float | None = None,
              vector: np.ndarray | None = None, follow_up: bool = False) -> SafetyVerdict:
        """`follow_up`: the message continues a conversation ("is it free?"), so its topic is
        the history's and the scope classifier, which reads the message alone, is not asked."""
        text = normalise(message)
        if not text:
            return SafetyVerdict("out_of_scope", "empty message", layer="scope")
        if not re.search(r"[^\W\d_]", text):
            return SafetyVerdict("out_of_scope", "no words to read", layer="scope")
        cleaned = strip_idioms(text, self.rules)
        fired, words = _first_match(self.rules.crisis, cleaned)
        m = self.semantic(message, vector)

        def verdict(category: Category, reason: str, rules: list[str], layer: str,
                    words: str = "") -> SafetyVerdict:
            return SafetyVerdict(category, reason, rules, layer, m.crisis_similarity, words,
                                 m.crisis_probability, m.medical_probability)

        if fired:
            return verdict("crisis", fired[0].why, [r.id for r in fired], "pattern", words)
        medical, medical_words = _first_match(self.rules.medical, cleaned)
        medical_meaning = not medical and m.medical_probability >= self.medical_threshold
        asks_medical = bool(medical) or medical_meaning
        sem_bar = max(self.threshold, SEMANTIC_THRESHOLD_MEDICAL) if asks_medical \
            else self.threshold
        floor = self.semantic_floor[1 if asks_medical else 0]
        if m.crisis_similarity >= sem_bar and \
                m.crisis_similarity - m.ordinary_similarity >= self.margin and \
                (not self._classifiers.active or m.crisis_probability >= floor):
            return verdict("crisis", f"close in meaning to a crisis message: \"{m.exemplar}\"",
                           [], "semantic", m.exemplar)
        clf_bar = CLASSIFIER_THRESHOLD_MEDICAL if medical else CLASSIFIER_THRESHOLD
        if m.crisis_probability >= clf_bar:
            return verdict("crisis", "the crisis classifier rates this message "
                           f"{m.crisis_probability:.2f} (threshold {clf_bar})", [], "classifier")
        if medical:
            return verdict("medical", medical[0].why, [r.id for r in medical], "pattern",
                           medical_words)
        if medical_meaning:
            return verdict("medical", "the medical classifier rates this a question for a "
                           f"clinician ({m.medical_probability:.2f}, threshold "
                           f"{self.medical_threshold})", [], "classifier")
        if any(p.search(text) for p in self.rules.out_of_scope):
            return verdict("out_of_scope", "asks for something other than recovery or peer "
                           "support", [], "scope")
        if not follow_up:
            recovery_word = bool(self.rules.in_scope.search(text))
            if self._classifiers.scope is not None:
                bar = SCOPE_THRESHOLD_RECOVERY_WORD if recovery_word \
                    else SCOPE_CLASSIFIER_THRESHOLD
                if m.scope_probability >= bar:
                    return verdict("out_of_scope", "the scope classifier rates this message "
                                   f"{m.scope_probability:.2f} as not about recovery or peer "
                                   f"support (threshold {bar})", [], "scope")
            elif not recovery_word and corpus_similarity is not None \
                    and corpus_similarity < SCOPE_THRESHOLD:
                return verdict("out_of_scope", "not about recovery, peer support or getting "
                               "help", [], "scope")
        return verdict("ok", "an ordinary question about peer support or recovery", [], "none")


def word_slots(text: str) -> np.ndarray:
    """The hashed words and word pairs of a message, each once: the classifier's second set of
    features. Apostrophes are dropped, so "don't" and "dont" are the same word."""
    words = re.findall(r"[^\W_]+", normalise(text).replace("'", ""))
    grams = set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}
    return np.array(sorted({zlib.crc32(g.encode()) % WORD_SLOTS for g in grams}), dtype=np.int64)


def word_features(texts: list[str]):
    """Sparse rows of `word_slots`, scaled to unit length (for training; scipy comes with
    scikit-learn, which only training needs)."""
    from scipy import sparse

    slots = [word_slots(text) for text in texts]
    lengths = np.array([len(s) for s in slots], dtype=np.int64)
    values = np.repeat(1.0 / np.sqrt(np.maximum(lengths, 1)), lengths).astype(np.float32)
    indices = np.concatenate([np.zeros(0, dtype=np.int64), *slots])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return sparse.csr_matrix((values, indices, indptr), shape=(len(texts), WORD_SLOTS))


@dataclass(frozen=True)
class LinearClassifier:
    """Logistic regression over the message embedding and its hashed words and word pairs."""

    weights: np.ndarray  # over the embedding
    word_weights: np.ndarray  # over the word slots
    bias: float

    def probability(self, slots: np.ndarray, vector: np.ndarray) -> float:
        words = float(self.word_weights[slots].sum()) / np.sqrt(max(len(slots), 1))
        return float(1.0 / (1.0 + np.exp(-(float(vector @ self.weights) + words + self.bias))))


@dataclass(frozen=True)
class Classifiers:
    """The crisis, medical and scope classifiers; a missing one reads as probability 0."""

    crisis: LinearClassifier | None = None
    medical: LinearClassifier | None = None
    scope: LinearClassifier | None = None

    @property
    def active(self) -> bool:
        return self.crisis is not None

    def probabilities(self, text: str, vector: np.ndarray) -> tuple[float, float, float]:
        slots = word_slots(text)
        return tuple(c.probability(slots, vector) if c is not None else 0.0
                     for c in (self.crisis, self.medical, self.scope))


@dataclass(frozen=True)
class Meaning:
    """What the meaning layers make of a message (see `SafetyChecker.semantic`)."""

    crisis_similarity: float = 0.0
    ordinary_similarity: float = 0.0
    exemplar: str = ""
    crisis_probability: float = 0.0
    medical_probability: float = 0.0
    scope_probability: float = 0.0


def load_classifiers(path: Path = CLASSIFIER_FILE) -> Classifiers:
    """Both classifiers; without the file (before the first training) the layer is off."""
    if not path.is_file():
        return Classifiers()
    data = np.load(path)

    def part(prefix: str) -> LinearClassifier | None:
        if f"{prefix}weights" not in data:
            return None
        return LinearClassifier(data[f"{prefix}weights"].astype(np.float32),
                                data[f"{prefix}word_weights"].astype(np.float32),
                                float(data[f"{prefix}bias"]))
    return Classifiers(part(""), part("medical_"), part("scope_"))

"""An optional local LLM that rewords the vetted passages into a smoother answer.

The extractive answer (answer.py) quotes the corpus as written, so it can never say anything the
corpus does not. An LLM can: it may invent a phone number, pin a fact on the wrong source, or
join two true half-sentences into a false claim. So the model here may only rephrase vetted
text, and nothing it writes is trusted:

- it sees only the numbered passages already retrieved, and must cite one on every sentence;
- every sentence of its reply is checked against the passages it cites (`verify`): it must
  quote them, or be close in meaning to them (embedding similarity) while adding almost no
  words of its own and turning no "not" around; numbers, web addresses and emails must appear
  in those passages;
- any doubt (a sentence that is not "supported", a timeout, an error, "NOT COVERED") returns
  ok=False with the reason, and the caller keeps the extractive answer;
- safety routes (crisis, out of scope, ...) are decided before retrieval and never reach it.

Standard library and numpy only: the model is any OpenAI-compatible server (llama.cpp, Ollama,
vLLM) at `ASSISTANT_LLM_BASE_URL`, reached with urllib.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .answer import PASSAGES_USED
from .chunking import split_sentences
from .errors import AssistantError
from .retrieval import Hit, LoadedIndex
from .settings import Settings

Encode = Callable[[list[str]], np.ndarray]

SUPPORT_THRESHOLD = 0.8  # cosine similarity at which a sentence counts as saying the same thing
NOT_COVERED = "NOT COVERED"
MAX_RESPONSE_BYTES = 1_000_000
_QUOTE_MIN_WORDS = 5  # shorter quotes ("recovery coaches") prove nothing
_HALF_MIN_WORDS = 3
MAX_NEW_WORDS = 2  # content words a paraphrase may add that its passage does not have

SYSTEM_PROMPT = f"""\
You answer questions about peer support in recovery for a public information service.
You are an automated guide, not a person: never claim to be a person, a peer or a counsellor.

Rules:
- Answer only from the numbered passages you are given. Use their wording where you can.
- Never add any fact, number, phone number, organisation, name or web address that is not in \
the passages.
- End every sentence with the number of the passage it comes from, like [1] or [1][2].
- If the passages do not answer the question, reply exactly "{NOT_COVERED}" and nothing else.
- Write plainly and warmly, in 80 to 180 words, with no headings or lists.
- Give no medical advice: no diagnoses, doses, medicines or instructions about treatment."""


class LLMError(AssistantError):
    """The LLM server could not be reached or gave an unusable reply."""


@dataclass
class SentenceCheck:
    text: str  # the sentence as the model wrote it, citation markers included
    cited: list[int]
    label: str  # "supported", "misattributed", "stitched" or "fabricated"
    best_similarity: float
    best_passage: int | None
    note: str = ""  # why, when not supported


@dataclass
class LLMResult:
    ok: bool
    text: str
    citations_used: list[int]
    checks: list[SentenceCheck] = field(default_factory=list)
    reason: str = ""


# -- prompt and call ------------------------------------------------------------------------

def build_messages(question: str, passages: list[tuple[int, str, str]]) -> list[dict]:
    """The chat messages: the rules as the system prompt, then the numbered passages and the
    question as the user message. `passages` are (citation number, title, text)."""
    listed = "\n\n".join(f"[{n}] {title}: {text.strip()}" for n, title, text in passages)
    user = (f"Passages:\n\n{listed}\n\nQuestion: {question.strip()}\n\n"
            f"Answer only from the passages above, citing one on every sentence, or reply "
            f'"{NOT_COVERED}".')
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def call_llm(base_url: str, model: str, messages: list[dict], timeout: float) -> str:
    """POST to an OpenAI-compatible `/chat/completions` and return the reply text.

    Raises LLMError with a short reason on a timeout, a refused connection, an HTTP error or a
    reply that is not the expected JSON. The timeout is urllib's: it bounds each wait on the
    socket (connecting, the first byte, each later read), not the whole exchange.
    """
    body = json.dumps({"model": model, "messages": messages, "temperature": 0}).encode("utf-8")
    request = urllib.request.Request(
        base_url.rstrip("/") + "/chat/completions", data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Bearer " + os.environ.get("ASSISTANT_LLM_API_KEY", "none")})
    timed_out = f"timed out after {float(timeout)} s"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise LLMError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise LLMError(timed_out) from exc
        raise LLMError(f"connection failed: {exc.reason}") from exc
    except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
        raise LLMError(timed_out) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise LLMError(f"connection failed: {exc.__class__.__name__}") from exc
    if len(raw) > MAX_RESPONSE_BYTES:
        raise LLMError("malformed response: larger than 1 MB")
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"malformed response: {exc.__class__.__name__}") from exc
    if not isinstance(content, str):
        raise LLMError("malformed response: message content is not text")
    return content


# -- verification ---------------------------------------------------------------------------

_MARKERS = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
_MARKER_NUMBERS = re.compile(r"\d+")
_SPLIT = re.compile(r"(?<=[.!?\]])\s+(?=[\"“'‘(]?[A-Z0-9*])")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_NUMBER = re.compile(r"\d[\d\-.,/() ]*\d|\d")
_URL = re.compile(r"(?:https?://|www\.)[^\s)\]>\"']+|\b[\w-]+(?:\.[\w-]+)*\.(?:org|com|gov|net|"
                  r"edu|info|io|co|uk|us|ca|au|nz|ie)\b(?:/[^\s)\]>\"']*)?", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CONJUNCTION = {"and", "but", "while", "whereas", "so"}


def _split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Sentences of the reply with the citation numbers each carries. A marker standing alone
    (on its own line, say) belongs to the sentence before it."""
    out: list[tuple[str, list[int]]] = []
    for line in text.replace("**", "").splitlines():
        line = _BULLET.sub("", line).strip()
        for piece in _SPLIT.split(line):
            piece = piece.strip()
            if not piece:
                continue
            cited = [int(n) for m in _MARKERS.findall(piece) for n in _MARKER_NUMBERS.findall(m)]
            if not _clean(piece).strip(" .!?") and out:
                out[-1][1].extend(cited)
                continue
            out.append((piece, cited))
    return [(s, list(dict.fromkeys(c))) for s, c in out]


def _clean(sentence: str) -> str:
    """The sentence without its citation markers, as it would read in a passage."""
    text = _MARKERS.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", _norm(text))


def _contains(fragment: str, text: str, min_words: int) -> bool:
    """The fragment appears in the text word for word."""
    frag = _tokens(fragment)
    if len(frag) < min_words:
        return False
    return f" {' '.join(frag)} " in f" {' '.join(_tokens(text))} "


# Words a quote may not leave out: without them the passage says something else (a negation,
# a hedge, a condition, or the link to who does what: "a doctor who can prescribe").
_KEEP = set("""not no never nor neither cannot without non only if unless except sometimes
usually often may might rarely some can could will would should must who which that whose
whom""".split())


def _must_keep(word: str) -> bool:
    return word in _KEEP or word.endswith("n't")


_MAX_GAPS, _MAX_GAP_WORDS = 2, 6


def _quotes(sentence: str, source: str) -> bool:
    """True when the sentence is the source's words in the source's order, with at most two
    short runs left out inside it (and any lead-in or tail), none of them a negation or a
    hedge: "a coach offers hope" quotes "what a recovery coach offers is hope", while "stop
    taking it" does not quote "do not stop taking it"."""
    words, hay = _tokens(sentence), _tokens(source)
    if len(words) < _QUOTE_MIN_WORDS:
        return False
    for start in (i for i, w in enumerate(hay) if w == words[0]):
        if any(_must_keep(w) for w in hay[:start]):
            continue
        at, gaps, ok = start, 0, True
        for w in words[1:]:
            nxt = next((j for j in range(at + 1, len(hay)) if hay[j] == w), None)
            if nxt is None:
                ok = False
                break
            skipped = hay[at + 1:nxt]
            if skipped:
                gaps += 1
                if (gaps > _MAX_GAPS or len(skipped) > _MAX_GAP_WORDS
                        or any(_must_keep(x) for x in skipped)):
                    ok = False
                    break
            at = nxt
        if ok and not any(_must_keep(w) for w in hay[at + 1:]):
            return True
    return False


def _digits(token: str) -> str:
    return re.sub(r"\D", "", token)


def _unsupported_detail(sentence: str, source: str) -> str | None:
    """A number of 3+ digits, a web address or an email in the sentence that the source text
    does not contain: the classic invented phone number."""
    source_numbers = [_digits(t) for t in _NUMBER.findall(source)]
    for token in _NUMBER.findall(sentence):
        digits = _digits(token)
        if len(digits) >= 3 and not any(digits in s for s in source_numbers):
            return token.strip()
    low = source.lower()
    for pattern in (_EMAIL, _URL):
        for m in pattern.finditer(sentence):
            found = m.group(0).rstrip(".,;:!?")
            bare = re.sub(r"^(https?://)?(www\.)?", "", found.lower()).rstrip("/")
            if bare not in low:
                return found
    return None


@dataclass
class _Units:
    """The pieces of the passages a sentence may be matched against, with their vectors."""

    texts: list[str]
    passage: list[int]  # citation number of each unit
    sentence: list[int]  # which passage sentence each unit comes from
    vectors: np.ndarray

    def best(self, vector: np.ndarray, allowed: set[int]) -> tuple[float, int | None, int]:
        """Best similarity among the units of the allowed passages: (similarity, passage,
        unit), or (0, None, -1) when there are none."""
        idx = [i for i, p in enumerate(self.passage) if p in allowed]
        if not idx:
            return 0.0, None, -1
        sims = self.vectors[idx] @ vector
        j = int(np.argmax(sims))
        return float(sims[j]), self.passage[idx[j]], idx[j]


def _passage_units(passages: dict[int, str], encode: Encode, halves: bool) -> _Units:
    """Whole-sentence units: each passage sentence and each pair of neighbours (a reply
    sentence may merge two). Half units: each sentence and its halves, for `_stitched`."""
    texts: list[str] = []
    passage: list[int] = []
    sentence: list[int] = []
    sid = 0
    for n, text in passages.items():
        sents = split_sentences(text)
        for i, s in enumerate(sents):
            pieces = [s]
            if halves:
                pieces += [p for pair in _halves(s) for p in pair]
            elif i + 1 < len(sents):
                pieces.append(f"{s} {sents[i + 1]}")
            for p in dict.fromkeys(pieces):
                texts.append(p)
                passage.append(n)
                sentence.append(sid)
            sid += 1
    vectors = np.asarray(encode(texts), dtype=np.float32) if texts else np.zeros((0, 0))
    return _Units(texts, passage, sentence, vectors)


def _halves(sentence: str) -> list[tuple[str, str]]:
    """Ways to cut a sentence in two near its middle: at a comma, semicolon or conjunction,
    and plainly at the middle word."""
    words = sentence.rstrip(".!?").split()
    n = len(words)
    if n < 2 * _HALF_MIN_WORDS:
        return []
    cuts: list[tuple[int, int]] = []  # (end of the first half, start of the second)
    for i in range(_HALF_MIN_WORDS, n - _HALF_MIN_WORDS + 1):
        if not 0.25 * n <= i <= 0.75 * n:
            continue
        if words[i - 1][-1] in ",;:":
            cuts.append((i, i + 1 if words[i].lower() in _CONJUNCTION else i))
        elif words[i].lower() in _CONJUNCTION:
            cuts.append((i, i + 1))
    cuts.append((n // 2, n // 2))
    out = []
    for end, start in dict.fromkeys(cuts):
        first, second = " ".join(words[:end]).rstrip(",;:"), " ".join(words[start:])
        if len(first.split()) >= _HALF_MIN_WORDS and len(second.split()) >= _HALF_MIN_WORDS:
            out.append((first, second))
    return out


def _stitched(clean: str, halves: _Units, encode: Encode, threshold: float) -> str | None:
    """If the two halves of the sentence come from two passage sentences that are not one
    sentence or two neighbours, say which: real words joined into a claim no passage makes."""
    cuts = _halves(clean)
    if not cuts or not halves.texts:
        return None
    vectors = encode([h for pair in cuts for h in pair])
    whole = [i for i in range(len(halves.texts))
             if i == 0 or halves.sentence[i] != halves.sentence[i - 1]]  # the sentences
    for k, (first, second) in enumerate(cuts):
        sources: list[dict[int, int]] = []  # passage sentence -> its citation number
        for half, vector in ((first, vectors[2 * k]), (second, vectors[2 * k + 1])):
            # Where the half is quoted from, else the one sentence closest to it: MiniLM puts
            # most fragments on one topic above the bar, so "any match" would find a
            # sentence that covers both halves almost every time.
            found = {halves.sentence[i]: halves.passage[i] for i in whole
                     if _contains(half, halves.texts[i], _HALF_MIN_WORDS + 1)}
            if not found:
                sims = halves.vectors @ vector
                top = int(np.argmax(sims))
                if sims[top] >= threshold:
                    found = {halves.sentence[top]: halves.passage[top]}
            sources.append(found)
        if not sources[0] or not sources[1]:
            continue
        together = any(abs(a - b) <= 1 and sources[0][a] == sources[1][b]
                       for a in sources[0] for b in sources[1])
        if not together:
            a, b = next(iter(sources[0].values())), next(iter(sources[1].values()))
            return (f'"{first}" is from passage [{a}] and "{second}" from passage [{b}], '
                    f"but no passage says them together")
    return None


# Words that carry no claim of their own, so a paraphrase may add them freely.
_STOPWORDS = set("""a about above after again against all also although am an and any are
around as at be because been before being below between both but by can could did do does
doing done down during each even ever every few for from further had has have having he her
here hers him his how however i if in into is it its itself just least less like lot lots
many may me might more most much must my no nor not of off often on once one ones only or
other others our ours out over own perhaps quite rather really same she should so some
someone something sometimes still such than that the their theirs them then there these
they thing things this those though through to too under until up upon us usually very was
way ways we well were what when where whether which while who whom whose why will with
within without would yet you your yours yourself""".split())
_NEGATION = {"not", "no", "never", "nor", "neither", "cannot", "without", "non", "none"}
_SCOPE_END = {"but", "while", "although", "however", "instead", "whereas", "though"}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[.;:!?]")


def _words(text: str) -> list[str]:
    return _WORD.findall(_norm(text))


def _is_content(word: str) -> bool:
    return word.isalpha() and len(word) > 2 and word not in _STOPWORDS


def _content(text: str) -> set[str]:
    return {w for w in _words(text) if _is_content(w)}


def _known(word: str, vocabulary: set[str]) -> bool:
    """A crude stem match, so "trained" is known from "training" and "coaches" from "coach"."""
    if word in vocabulary:
        return True
    stem = word[: max(4, len(word) - 3)]
    return len(word) > 4 and any(v.startswith(stem) for v in vocabulary)


def _new_words(clean: str, source: str) -> list[str]:
    vocabulary = set(_words(source))
    return sorted(w for w in _content(clean) if not _known(w, vocabulary))


def _polarity(text: str, reach: int) -> dict[str, set[bool]]:
    """For each content word, whether it appears negated (True), plainly (False) or both: a
    word is negated when "not", "no", "never", "non-"... stands at most `reach` words before
    it in the same clause."""
    out: dict[str, set[bool]] = {}
    since = reach + 1
    for w in _words(text):
        if w in ".;:!?" or w in _SCOPE_END:
            since = reach + 1
        elif w in _NEGATION or w.endswith("n't"):
            since = 0
        else:
            since += 1
            if _is_content(w):
                out.setdefault(w, set()).add(since <= reach)
    return out


def _flipped(clean: str, source: str) -> str | None:
    """A word the source only ever negates that the sentence states plainly ("coaches
    prescribe" from "a coach does not diagnose, prescribe or provide therapy"), or the other
    way round. Wide scopes where a flip is claimed, narrow ones where it is denied, so an
    unusual sentence shape errs towards no flag."""
    wide, narrow = _polarity(source, 6), _polarity(source, 3)
    for word, seen in _polarity(clean, 6).items():
        if seen == {False} and narrow.get(word) == {True}:
            return f'it states "{word}" where the passage says the opposite'
    for word, seen in _polarity(clean, 3).items():
        if seen == {True} and wide.get(word) == {False}:
            return f'it negates "{word}", which the passage states'
    return None


class _Checker:
    """Labels one reply sentence at a time, embedding the passages once."""

    def __init__(self, passages: dict[int, str], encode: Encode, threshold: float):
        self.passages, self.encode, self.threshold = passages, encode, threshold
        self.units = _passage_units(passages, encode, halves=False)
        self._halves: _Units | None = None

    def halves(self) -> _Units:
        if self._halves is None:  # only needed for sentences no passage supports
            self._halves = _passage_units(self.passages, self.encode, halves=True)
        return self._halves

    def _quoted_in(self, clean: str) -> list[int]:
        """The passages the sentence quotes (see `_quotes`), from a sentence or two
        neighbouring sentences of one passage."""
        found = {n for t, n in zip(self.units.texts, self.units.passage, strict=True)
                 if _quotes(clean, t)}
        return sorted(found)

    def _says(self, clean: str, vector: np.ndarray, numbers: set[int]
              ) -> tuple[bool, float, int | None, str]:
        """Whether these passages say what the sentence says: close in meaning, with no more
        than MAX_NEW_WORDS content words they lack and no negation turned around."""
        sim, n, _ = self.units.best(vector, numbers)
        if sim < self.threshold:
            return False, sim, n, f"no passage says it (best similarity {sim:.2f})"
        source = " ".join(self.passages[k] for k in sorted(numbers))
        new = _new_words(clean, source)
        if len(new) > MAX_NEW_WORDS:
            return False, sim, n, f"it adds words its passage lacks: {', '.join(new[:5])}"
        flip = _flipped(clean, source)
        if flip:
            return False, sim, n, flip
        return True, sim, n, ""

    def check(self, raw: str, cited: list[int], clean: str, vector: np.ndarray) -> SentenceCheck:
        passages = self.passages

        def result(label: str, sim: float, n: int | None, note: str = "") -> SentenceCheck:
            return SentenceCheck(raw, cited, label, round(sim, 4), n, note)

        any_sim, any_n, _ = self.units.best(vector, set(passages))
        if not cited:
            return result("fabricated", any_sim, any_n, "it cites no passage")
        missing = [n for n in cited if n not in passages]
        if missing:
            return result("fabricated", any_sim, any_n,
                          f"it cites [{missing[0]}], which is not one of the passages")
        detail = _unsupported_detail(clean, " ".join(passages[n] for n in cited))
        if detail:
            return result("fabricated", any_sim, any_n,
                          f'"{detail}" is not in the cited passages')
        quoted = self._quoted_in(clean)
        cited_sim = self.units.best(vector, set(cited))[0]
        if any(n in cited for n in quoted):
            return result("supported", cited_sim, next(n for n in quoted if n in cited))
        if quoted:
            return result("misattributed", self.units.best(vector, {quoted[0]})[0], quoted[0],
                          f"it quotes passage [{quoted[0]}], not {_cites(cited)}")
        ok, sim, n, why = self._says(clean, vector, set(cited))
        if ok:
            return result("supported", sim, n)
        elsewhere = [self._says(clean, vector, {k}) for k in passages if k not in cited]
        elsewhere = [e for e in elsewhere if e[0]]
        if elsewhere:
            _, other_sim, other_n, _ = max(elsewhere, key=lambda e: e[1])
            return result("misattributed", other_sim, other_n,
                          f"it is from passage [{other_n}], not {_cites(cited)}")
        stitch = _stitched(clean, self.halves(), self.encode, self.threshold)
        if stitch:
            return result("stitched", any_sim, any_n, stitch)
        return result("fabricated", sim, n, why)


def verify(answer_text: str, passages: dict[int, str], encode: Encode,
           threshold: float = SUPPORT_THRESHOLD) -> list[SentenceCheck]:
    """Label every sentence of an LLM reply against the numbered passages it may cite.

    - supported: it cites existing passages and says what they say. Either it quotes a
      cited passage (five or more of its words in its order, leaving out at most two short
      runs and never a negation, hedge or condition), or it is at cosine similarity >=
      threshold to a sentence (or two neighbouring sentences) of a cited passage, adds at
      most MAX_NEW_WORDS content words the cited passages lack, and states nothing they only
      ever negate (nor negates what they only state). The two extra guards exist because
      MiniLM scores a true sentence with a false clause added at 0.85-0.95;
    - misattributed: not supported by the passages it cites, but by another one;
    - stitched: no passage supports it, but its two halves (cut at a comma, semicolon or
      conjunction near the middle, or at the middle word) are quoted from, or closest to, two
      passage sentences that are not the same or neighbours: real words joined into a claim
      no passage makes;
    - fabricated: anything else, including a sentence with no citation, a citation to a
      passage that does not exist, or a number of three or more digits, a web address or an
      email that the cited passages do not contain.

    `encode` maps a list of texts to L2-normalised rows (cosine = dot product).
    """
    split = _split_answer(answer_text)
    if not split:
        return []
    cleaned = [_clean(s) for s, _ in split]
    checker = _Checker(passages, encode, threshold)
    vectors = np.asarray(encode(cleaned), dtype=np.float32)
    return [checker.check(raw, cited, clean, vector)
            for (raw, cited), clean, vector in zip(split, cleaned, vectors, strict=True)]


def _cites(numbers: list[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


# -- the answer path ------------------------------------------------------------------------

def _index_encoder(index: LoadedIndex, hits: list[Hit], encode: Encode) -> Encode:
    """`encode`, but passage sentences embedded at index time are looked up, not embedded
    again."""
    known: dict[str, np.ndarray] = {}
    for hit in hits:
        row = index.row_of.get(hit.chunk_id)
        for sid in index.sentences_by_chunk.get(row, []) if row is not None else []:
            known[index.sentences[sid].text] = index.sentence_vectors[sid]

    def cached(texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        fresh = np.asarray(encode(todo), dtype=np.float32) if todo else []
        vectors = known | dict(zip(todo, fresh, strict=True))
        return np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, 0))

    return cached


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def llm_answer(question: str, hits: list[Hit], index: LoadedIndex, settings: Settings,
               encode: Encode) -> LLMResult:
    """Ask the LLM to answer from the top passages and check every sentence it writes.

    ok=True only when every sentence is supported by a passage it cites; otherwise `reason`
    names the first problem and the caller keeps the extractive answer. Never raises on a
    failure of the LLM.
    """
    if not settings.llm_base_url or not settings.llm_model:
        return LLMResult(False, "", [], reason="no LLM configured")
    used = hits[:PASSAGES_USED]
    if not used:
        return LLMResult(False, "", [], reason="no passages to answer from")
    numbered = [(i + 1, h.title, h.text) for i, h in enumerate(used)]
    try:
        text = call_llm(settings.llm_base_url, settings.llm_model,
                        build_messages(question, numbered), settings.llm_timeout).strip()
    except LLMError as exc:
        return LLMResult(False, "", [], reason=f"LLM call failed: {exc}")
    if re.fullmatch(r"\W*not\s+covered\W*", text, re.I):
        return LLMResult(False, text, [], reason="the model said the passages do not cover it")
    if not text:
        return LLMResult(False, "", [], reason="the model returned an empty answer")
    passages = {n: body for n, _, body in numbered}
    checks = verify(text, passages, _index_encoder(index, used, encode))
    cited = list(dict.fromkeys(n for c in checks for n in c.cited if n in passages))
    for i, c in enumerate(checks, start=1):
        if c.label != "supported":
            return LLMResult(False, text, cited, checks,
                             f'sentence {i} is {c.label}: "{_shorten(_clean(c.text))}" '
                             f"({c.note})")
    if not checks:
        return LLMResult(False, text, cited, checks, "the model's answer has no sentences")
    return LLMResult(True, text, cited, checks, f"LLM answer: all {len(checks)} sentences "
                     "supported by the passages they cite")

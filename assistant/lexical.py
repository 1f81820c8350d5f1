"""BM25 over the passages (bm25s), with English stop words and Snowball stemming so that
"meetings" finds "meeting" and "sponsors" finds "sponsor"."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str], return_ids: bool = True):
    """The same stop words and stemming at index and query time."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False,
                          return_ids=return_ids)


def build_bm25(texts: list[str]):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(tokenize(texts), show_progress=False)
    return retriever


def load_bm25(path: str):
    import bm25s

    return bm25s.BM25.load(path)


def bm25_search(retriever, query: str, k: int) -> list[tuple[int, float]]:
    """Top passages as (row, score), best first; passages with no matching term are left out."""
    tokens = tokenize([query], return_ids=False)
    known = [t for t in tokens[0] if t in retriever.vocab_dict]
    if not known:
        return []
    scores = retriever.get_scores(known)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

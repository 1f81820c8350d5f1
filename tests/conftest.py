"""Shared fixtures: the real model, loaded once, and real indexes built in temporary folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from assistant.embeddings import Embedder  # noqa: E402
from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402

REAL_CORPUS = PROJECT_ROOT / "corpus"


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to encode."""

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.path, self.model_id, self.dimension = inner.path, inner.model_id, inner.dimension
        self.encoded = 0

    def encode(self, texts, progress=False):
        self.encoded += len(texts)
        return self.inner.encode(texts)

    def encode_one(self, text):
        return self.inner.encode_one(text)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.from_settings(None)


@pytest.fixture()
def counting_embedder(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def copy_corpus(dest: Path) -> Path:
    shutil.copytree(REAL_CORPUS, dest)
    return dest


@pytest.fixture()
def corpus_copy(tmp_path) -> Path:
    """A private copy of the real corpus that a test may change."""
    return copy_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory, embedder) -> Settings:
    """The real corpus, indexed once per test session into a temporary folder, as
    `assistant index` does it: with the verified ONNX export beside it, so processes started
    on this index (the CLI, the app) take the torch-free query path, as they do in use."""
    from assistant.indexing import build_index
    from assistant.query_model import ensure_assets
    from assistant.safety import load_exemplars

    index_dir = tmp_path_factory.mktemp("index")
    settings = Settings(corpus_dir=REAL_CORPUS, index_dir=index_dir)
    build_index(settings, embedder=embedder)
    crisis, ordinary = load_exemplars()
    ensure_assets(settings, crisis + ordinary, torch_embedder=lambda: embedder)
    return settings


@pytest.fixture(scope="session")
def pipeline(real_settings, embedder):
    from assistant.pipeline import Pipeline

    return Pipeline(real_settings, embedder=embedder)


@pytest.fixture(scope="session")
def answered(real_settings, tmp_path_factory):
    """Every labelled safety message (tuning sets, banks, held-out set) with its reply from one
    `assistant ask --batch` run in the US region: shared by the CLI safety tests and the
    evaluation gate, so the 15,000 messages are classified once per test session."""
    from tests.safety_batch import HELDOUT, TUNED, ask_all

    return ask_all(TUNED + HELDOUT, real_settings, tmp_path_factory.mktemp("batch"), "US")

"""The torch-free query path: the ONNX export reproduces the torch model's vectors, answers do
not change with it, a fresh process never imports torch, and torch takes over when the export
is missing or broken."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from assistant import onnx_export
from assistant.errors import ModelError
from assistant.evaluation import EVAL_DIR, read_jsonl
from assistant.query_model import asset_dir, ensure_assets, load_encoder
from assistant.settings import PROJECT_ROOT, Settings

QUESTIONS = [q["q"] for q in read_jsonl(EVAL_DIR / "questions.jsonl")]
SAFETY = [m["text"] for m in read_jsonl(EVAL_DIR / "safety_set_v4.jsonl")]


@pytest.fixture(scope="module")
def onnx_encoder(real_settings, embedder):
    encoder = load_encoder(real_settings, embedder.model_id)
    assert encoder.name == "onnx", encoder.reason
    return encoder


def test_the_export_reproduces_the_torch_vectors_one_by_one_and_in_batches(onnx_encoder,
                                                                           embedder):
    texts = QUESTIONS + SAFETY[:100] + ["", "a", "word " * 400]
    reference = embedder.encode(texts)
    assert np.abs(onnx_encoder.encode(texts) - reference).max() < 1e-4
    single = np.vstack([onnx_encoder.encode_one(t) for t in texts[:60]])
    assert np.abs(single - reference[:60]).max() < 1e-4
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_answers_and_safety_verdicts_are_the_same_with_either_encoder(real_settings, pipeline,
                                                                      onnx_encoder):
    from assistant.pipeline import Pipeline

    fast = Pipeline(real_settings, embedder=onnx_encoder)
    for text in QUESTIONS[:40] + SAFETY[:40]:
        a, b = pipeline.ask(text), fast.ask(text)
        assert (a.safety.category, a.answer) == (b.safety.category, b.answer), text
    assert fast.ask("What is a sponsor?").trace["encoder"] == "onnx"


def test_an_export_that_does_not_match_is_not_kept(embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "MAX_DIFFERENCE", -1.0)  # no export can pass this bar
    with pytest.raises(ModelError, match="does not reproduce"):
        onnx_export.export_model(embedder, tmp_path / "export")
    assert list(tmp_path.iterdir()) == []


def test_torch_answers_when_there_is_no_export_or_it_is_damaged(real_settings, tmp_path,
                                                                embedder):
    index = tmp_path / "index"
    shutil.copytree(real_settings.index_dir, index)
    settings = Settings(corpus_dir=real_settings.corpus_dir, index_dir=index)
    folder = asset_dir(index, embedder.model_id)
    (folder / "model.onnx").write_bytes(b"not a model")
    damaged = load_encoder(settings, embedder.model_id)
    assert damaged.name == "torch" and "not usable" in damaged.reason
    shutil.rmtree(folder)
    missing = load_encoder(settings, embedder.model_id)
    assert missing.name == "torch" and "no ONNX export" in missing.reason
    with pytest.raises(ModelError, match="no ONNX export"):
        load_encoder(Settings(index_dir=index, encoder="onnx"), embedder.model_id)
    with pytest.raises(ModelError, match="must be one of"):
        load_encoder(Settings(index_dir=index, encoder="gpu"), embedder.model_id)
    assert load_encoder(Settings(index_dir=index, encoder="torch")).name == "torch"


def test_the_exemplar_vectors_are_stored_and_refreshed_when_the_exemplars_change(
        real_settings, tmp_path, embedder):
    from assistant.query_model import load_known_vectors

    index = tmp_path / "index"
    shutil.copytree(real_settings.index_dir, index)
    settings = Settings(corpus_dir=real_settings.corpus_dir, index_dir=index)
    folder = asset_dir(index, embedder.model_id)
    before = load_known_vectors(folder)
    report = ensure_assets(settings, ["a brand new exemplar message"])
    assert not report.exported and report.known_vectors == len(before) + 1


def test_a_fresh_ask_process_answers_without_importing_torch(real_settings):
    code = ("import sys, json\nfrom assistant.cli import main\nsys.argv = ['assistant', "
            "'ask', '--json', 'How do I find a meeting?']\ntry:\n    main()\nexcept SystemExit:"
            "\n    pass\nsys.stderr.write(json.dumps(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('torch', 'sentence_transformers', 'sklearn'))))\n")
    env = {"ASSISTANT_CORPUS": str(real_settings.corpus_dir),
           "ASSISTANT_INDEX": str(real_settings.index_dir), "PATH": "/usr/bin:/bin",
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=PROJECT_ROOT, timeout=120)
    assert json.loads(result.stdout)["citations"], result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
    assert json.loads(result.stdout)["trace"]["encoder"] == "onnx"


def test_the_vector_memo_encodes_each_new_text_once_and_keeps_no_text(embedder):
    from assistant.query_model import VectorMemo

    calls = []

    def encode(texts):
        calls.append(list(texts))
        return embedder.encode(texts)

    memo = VectorMemo(encode, known={}, recent=2)
    texts = ["What is a sponsor?", "How do I find a meeting?", "What is a sponsor?"]
    assert np.allclose(memo.encode(texts), embedder.encode(texts), atol=1e-6)
    assert calls == [texts[:2]]
    memo.encode_one("What is a sponsor?")
    assert len(calls) == 1  # remembered
    memo.encode(["a", "b", "c"])
    memo.encode_one("What is a sponsor?")
    assert calls[-1] == ["What is a sponsor?"]  # pushed out by newer texts: encoded again
    assert all(len(key) == 20 and " " not in key for key in memo._recent)

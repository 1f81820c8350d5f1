"""Train the crisis classifier (the safety check's third layer) on the labelled messages in
eval/safety_set*.jsonl and the exemplars; run `python -m assistant.safety_training` after any
change to them. A test fails if the stored weights are out of date with their training data.

Only the tuning parts are used: the held-out set (eval/safety_heldout.jsonl) never is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .safety import CLASSIFIER_FILE, HERE, load_exemplars
from .settings import PROJECT_ROOT

TRAINING_FILES = ("safety_set.jsonl", "safety_set_v2.jsonl", "safety_set_v3.jsonl",
                  "safety_set_v4.jsonl")
REGULARISATION_C = 4.0  # chosen by 5-fold cross-validation on the tuning sets (see eval/README)


def training_data(eval_dir: Path = PROJECT_ROOT / "eval") -> tuple[list[str], list[bool]]:
    texts, labels = [], []
    for name in TRAINING_FILES:
        for line in (eval_dir / name).read_text("utf-8").splitlines():
            row = json.loads(line)
            if row["split"] == "tune":
                texts.append(row["text"])
                labels.append(row["label"] == "crisis")
    crisis, ordinary = load_exemplars()
    return texts + crisis + ordinary, labels + [True] * len(crisis) + [False] * len(ordinary)


def data_hash(texts: list[str], labels: list[bool], model: str) -> str:
    digest = hashlib.sha256(model.encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{int(label)}\t{text}\n".encode())
    digest.update((HERE / "safety_exemplars.yaml").read_bytes())
    return digest.hexdigest()[:16]


def train(out: Path = CLASSIFIER_FILE) -> dict:
    from sklearn.linear_model import LogisticRegression

    from .embeddings import Embedder

    embedder = Embedder.from_settings(None)
    texts, labels = training_data()
    vectors = embedder.encode(texts)
    model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000)
    model.fit(vectors, np.array(labels))
    np.savez(out, weights=model.coef_[0].astype(np.float32), bias=np.float32(model.intercept_[0]),
             data_hash=np.array(data_hash(texts, labels, embedder.model_id)))
    return {"examples": len(texts), "crisis": int(sum(labels)), "file": str(out)}


if __name__ == "__main__":
    print(train())

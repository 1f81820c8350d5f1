"""Export the embedding model to ONNX at index time and check it against the torch model.

Questions are then encoded by onnxruntime (assistant/onnx_encoder.py) in a process that never
imports torch: about 0.4 s to start instead of ~5 s, and a third of the memory. The export is
only kept if its vectors match the torch vectors on probe texts of every length, so the fast
path cannot quietly drift from the reference.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

MAX_DIFFERENCE = 1e-4  # largest allowed difference in any vector component
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Short, long, truncated, batched and non-ASCII texts: padding and truncation must agree too.
PROBES = (
    "hi",
    "How do I find a meeting near me?",
    "I want to talk to someone who has been through this.",
    "What does a recovery coach do, and how is that different from a sponsor or a therapist?",
    "Café, naïve, and 12-step groups: ¿dónde está la reunión? 🙂",
    "peer support " * 300,  # longer than the model's window: cut the same way on both paths
)


@dataclass
class ExportReport:
    folder: Path
    seconds: float
    max_difference: float
    probes: int


def export_model(embedder, folder: Path) -> ExportReport:
    """Write model.onnx, tokenizer.json and export.json into `folder` (replaced atomically);
    raises ModelError, leaving nothing behind, if the vectors do not match."""
    import torch

    started = time.perf_counter()
    st_model = embedder._model
    transformer = st_model[0].auto_model.eval()
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        sample = st_model.tokenizer(["a short one", "and a somewhat longer sentence"],
                                    padding=True, return_tensors="pt")
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about shape checks it freezes; the verification below is what
            # shows the graph is right for every length and batch size.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LastHiddenState(transformer), tuple(sample[name] for name in INPUTS),
                str(tmp / "model.onnx"), input_names=list(INPUTS),
                output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
                dynamic_axes={name: {0: "batch", 1: "tokens"}
                              for name in (*INPUTS, "last_hidden_state")},
            )
        shutil.copy2(embedder.path / "tokenizer.json", tmp / "tokenizer.json")
        max_length = int(st_model.max_seq_length)
        (tmp / "export.json").write_text(json.dumps({
            "model_id": embedder.model_id, "model_path": str(embedder.path),
            "max_seq_length": max_length, "dimension": embedder.dimension,
            "torch": torch.__version__, "opset": OPSET}, indent=1), "utf-8")
        difference = _verify(embedder, tmp)
        meta = json.loads((tmp / "export.json").read_text("utf-8"))
        meta |= {"verified_max_difference": difference, "verified_probes": len(PROBES)}
        (tmp / "export.json").write_text(json.dumps(meta, indent=1), "utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportReport(folder, time.perf_counter() - started, difference, len(PROBES))


def _verify(embedder, folder: Path) -> float:
    from .onnx_encoder import OnnxEncoder

    onnx = OnnxEncoder(folder, verified_only=False)
    texts = list(PROBES)
    # One at a time (the query path) and as one padded batch (the indexing path).
    reference = embedder.encode(texts)
    single = np.vstack([onnx.encode([t]) for t in texts])
    batched = onnx.encode(texts)
    difference = float(max(np.abs(single - reference).max(), np.abs(batched - reference).max()))
    if not difference <= MAX_DIFFERENCE:
        raise ModelError(f"the ONNX export does not reproduce the model's vectors (largest "
                         f"difference {difference:.2e} > {MAX_DIFFERENCE:.0e}); it was not kept "
                         "and questions will be encoded with torch")
    return difference


def _LastHiddenState(transformer):  # noqa: N802 - builds a torch module, named like one
    """The transformer with plain tensor inputs and one output; pooling and normalisation are
    done in numpy by the encoder, exactly as sentence-transformers does them."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    return LastHiddenState(transformer)

"""Every labelled safety message, and a way to send a list of them through `assistant ask
--batch` in one fresh process, the way a deployment runs it. The US run over all of them is a
session fixture (`answered`, in conftest.py): the CLI tests check each reply, and the evaluation
gate scores the same categories instead of classifying the 7,400 labelled messages again."""

from __future__ import annotations

import json

from assistant.eval_report import HELDOUT_SAFETY
from assistant.evaluation import EVAL_DIR, read_jsonl
from assistant.safety_training import TRAINING_FILES
from tests.test_cli import run

TUNED = [m | {"file": name} for name in TRAINING_FILES for m in read_jsonl(EVAL_DIR / name)]
HELDOUT = [m | {"file": HELDOUT_SAFETY} for m in read_jsonl(EVAL_DIR / HELDOUT_SAFETY)]


def ask_all(messages: list[dict], settings, tmp_path, region: str) -> list[tuple[dict, dict]]:
    """Each message with the JSON reply `assistant ask --batch --region REGION` gave it."""
    batch = tmp_path / f"batch-{region}.jsonl"
    batch.write_text("".join(json.dumps({"id": f"{m['file']}:{m['id']}", "q": m["text"]}) + "\n"
                             for m in messages), "utf-8")
    result = run("ask", "--batch", str(batch), "--region", region, settings=settings,
                 timeout=900)
    assert result.returncode == 0, result.stderr
    replies = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(replies) == len(messages)
    return [(m, replies[f"{m['file']}:{m['id']}"]) for m in messages]

"""Read earlier turns of a conversation as someone pastes them: a JSON list of
{"role", "content"} messages, or plain lines starting with `user:` or `assistant:`."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from .conversation import Message
from .errors import InputError

_SPEAKER = re.compile(r"^\s*(user|assistant)\s*:\s?(.*)$", re.I)


def parse_transcript(text: str) -> list[dict]:
    """Messages as dicts for `Pipeline.ask(history=...)`; raise InputError saying what to fix.

    In the line form a message runs until the next `user:` or `assistant:` line, so pasted
    answers may span several lines.
    """
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        return _from_json(text)
    messages: list[dict] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = _SPEAKER.match(line)
        if found:
            messages.append({"role": found[1].lower(), "content": found[2].strip()})
        elif messages:
            messages[-1]["content"] = f"{messages[-1]['content']}\n{line}".strip()
        elif line.strip():
            raise InputError(f"line {number} should start with 'user:' or 'assistant:'")
    empty = [i for i, m in enumerate(messages, start=1) if not m["content"]]
    if empty:
        raise InputError(f"message {empty[0]} is empty")
    return messages


def _from_json(text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"the earlier turns are not valid JSON: {exc.msg} (line {exc.lineno})"
                         ) from exc
    if not isinstance(data, list):
        raise InputError("the earlier turns must be a JSON list of messages")
    try:
        return [Message.model_validate(m).model_dump() for m in data]
    except ValidationError as exc:
        raise InputError("each earlier message needs a role ('user' or 'assistant') and "
                         f"content ({exc.error_count()} problem(s))") from exc

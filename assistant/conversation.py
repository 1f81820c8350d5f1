"""Understand follow-up questions ("is it free?", "how do I find one?") from the conversation:
the question is rewritten with the topic of the earlier turns before retrieval. The CLI's
--history and the app's chat history both come through here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_PRONOUNS = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|those|these|that|this|one|ones|there|he|she|him|her"
    r"|such|same|so)\b", re.I)
_CONNECTIVES = re.compile(
    r"^\s*(and|but|also|so|what about|how about|what if|and if|or|then|ok|okay|what else|"
    r"anything else|more|why|how come|really|is it|are they|do they|can i|can they|does it)\b",
    re.I)
_STOP = set(
    """
    a an the and or but if so of to in on at for with about from by is are was were be been
    being do does did can could would should will shall may might must i me my we our you
    your he she it its they them their this that these those there here what which who whom
    whose when where why how any some more most other such no nor not only own same than too
    very just also please tell know want need get got like really thing things one ones
    something anything
    """.split()
)
_SOURCE_LINE = re.compile(r"^\s*1\.\s+\*?\*?(.+?)\*?\*?\s+(?:—|-|:)", re.M)


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


@dataclass(frozen=True)
class Rewrite:
    question: str
    rewritten: str
    is_follow_up: bool
    topic: str


def content_words(text: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9'&-]*", text)
    return [w for w in words if w.lower() not in _STOP and len(w) > 1]


def is_follow_up(question: str) -> bool:
    words = re.findall(r"\w+", question)
    if not words:
        return False
    if _CONNECTIVES.match(question):
        return True
    return len(words) <= 9 and bool(_PRONOUNS.search(question)) and len(
        content_words(question)) <= 3


def _last_topic(history: list[Message]) -> str:
    """The subject of the conversation: the latest user question that stands on its own,
    plus the first source of the latest answer when the answer lists one."""
    topic = ""
    for message in reversed(history):
        if message.role == "user" and not is_follow_up(message.content):
            topic = " ".join(content_words(message.content))
            break
    answers = [m for m in history if m.role == "assistant"]
    if answers:
        source = _SOURCE_LINE.search(answers[-1].content)
        extra = source.group(1) if source else " ".join(content_words(answers[-1].content)[:12])
        topic = f"{topic} {extra}".strip()
    return topic[:300]


def rewrite(question: str, history: list[Message] | None) -> Rewrite:
    if not history or not is_follow_up(question):
        return Rewrite(question, question, False, "")
    topic = _last_topic(history)
    if not topic:
        return Rewrite(question, question, False, "")
    return Rewrite(question, f"{question} (about: {topic})", True, topic)

"""The texts the assistant writes itself, filled from messages.yaml and resources.yaml.

They add no facts of their own: numbers come from resources.yaml, answers from the corpus.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from .answer import Composition
from .resources import Region

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def messages() -> dict:
    return yaml.load((HERE / "messages.yaml").read_text("utf-8"),  # noqa: S506 - safe loader
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def emergency_line(region: Region) -> str:
    m = messages()
    if region.emergency.number:
        return m["crisis_emergency"].format(emergency=f"call {region.emergency.number}")
    return m["crisis_emergency_unknown"]


def crisis_block(region: Region, kept: bool = False) -> str:
    """Emergency number and crisis lines first, then hope, then one line of peer support."""
    m = messages()
    lines = [m["crisis_kept"] if kept else m["crisis_intro"], "", emergency_line(region), "",
             m["crisis_talk_now"], ""]
    lines += [f"- {r.contact_line()}" for r in region.crisis_lines[:3]]
    lines += ["", m["crisis_hope"], "", m["crisis_afterwards"]]
    return "\n".join(lines)


def medical_preface(question: str) -> str:
    m = messages()
    text = m["medical_notice"]
    if any(w in question.lower() for w in ("detox", "withdraw", "taper", "stop", "quit",
                                            "cold turkey", "come off", "coming off", "cut down")):
        text += " " + m["medical_detox"]
    return text


def suggestions_block(extra: list[str] | None = None) -> str:
    m = messages()
    items = list(dict.fromkeys((extra or []) + m["suggestions"]))[:5]
    return m["suggest_intro"] + "\n" + "\n".join(f"- {s}" for s in items)


def answer_markdown(comp: Composition) -> str:
    """Answer sentences, then next steps, then sources with their review dates."""
    m = messages()
    parts = [comp.body_markdown()]
    if comp.next_steps:
        parts.append(m["next_steps_title"] + "\n" + "\n".join(
            f"- {s.text} [{s.citation}]" for s in comp.next_steps))
    parts.append(sources_markdown(comp))
    return "\n\n".join(parts)


def sources_markdown(comp: Composition) -> str:
    m = messages()
    rows = []
    for c in comp.citations:
        section = f" — {c.section}" if c.section else ""
        reviewed = f" (reviewed {c.reviewed_on})" if c.reviewed_on else ""
        rows.append(f"{c.n}. {c.title}{section}{reviewed}")
    return m["sources_title"] + "\n" + "\n".join(rows)

"""The line every reply ends with: a concrete way to reach a human peer, fitted to the question
and drawn only from corpus/resources.yaml."""

from __future__ import annotations

import re

from .resources import Region, Resource

_TOPICS: list[tuple[str, tuple[str, ...]]] = [
    (r"\b(family|families|mum|mom|dad|parent\w*|son|daughter|husband|wife|partner|loved one|"
     r"brother|sister|child|kids?|al-?anon|nar-?anon)\b", ("family_support", "meeting_finder")),
    (r"\b(meeting\w*|group\w*|aa|na|smart|12[- ]step|twelve|sponsor\w*|online|zoom)\b",
     ("meeting_finder", "peer_directory", "warmline")),
    (r"\b(lonely|alone|talk|listen\w*|warm ?line\w*|someone|isolat\w*|anxious|sad|depress\w*)\b",
     ("warmline", "peer_directory", "mental_health_line", "crisis_line")),
    (r"\b(overdose|naloxone|narcan|harm reduction|using alone|use alone)\b",
     ("overdose_line", "substance_use_helpline")),
    (r"\b(teen\w*|young|youth|school|college|student\w*|kid)\b",
     ("youth_line", "meeting_finder")),
]
_DEFAULT_KINDS = ("warmline", "peer_directory", "meeting_finder", "substance_use_helpline",
                  "mental_health_line", "crisis_line", "directory")


# A question that names a fellowship gets that fellowship's finder when the region has one.
_FELLOWSHIPS = [(r"\b(na|narcotics anonymous)\b", "narcotics"),
                (r"\b(aa|alcoholics anonymous)\b", "alcoholics"),
                (r"\bsmart\b", "smart"), (r"\bal-?anon\b", "al-anon")]


def _pick(region: Region, kinds: tuple[str, ...], question: str = "") -> Resource | None:
    wanted = [name for pattern, name in _FELLOWSHIPS if re.search(pattern, question)]
    for kind in kinds:
        found = region.of_kind(kind)
        named = [r for r in found for w in wanted if w in f"{r.name} {r.id}".lower()]
        if named or found:
            return (named or found)[0]
    return None


def peer_pointer(region: Region, question: str = "") -> str:
    """Never empty: falls back through the kinds until the region offers one."""
    text = question.lower()
    resource = None
    for pattern, kinds in _TOPICS:
        if re.search(pattern, text):
            resource = _pick(region, kinds, text)
            if resource:
                break
    resource = resource or _pick(region, _DEFAULT_KINDS) or region.resources[0]
    intro = {
        "meeting_finder": "To find a meeting with people who have been there",
        "family_support": "For support as a family member",
        "warmline": "To talk with a peer who has been there",
        "peer_directory": "To talk with a peer who has been there",
        "overdose_line": "If you use alone, a peer can stay on the line with you",
        "youth_line": "For young people who want to talk to someone",
    }.get(resource.kind, "To reach a person who can help")
    return (f"**Talk to a person:** {intro}: {resource.name}. {resource.how} "
            "A local recovery community centre or a mutual-aid meeting is another good place "
            "to start.")

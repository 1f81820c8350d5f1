"""Tappable ways to reach a person: `tel:` and `sms:` links built only from the `call` and `text`
fields of resources.yaml, keeping digits alone, so a link can never carry anything else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .resources import Region

CRISIS_LINES_SHOWN = 3  # the crisis block lists the same number of lines


@dataclass(frozen=True)
class ContactLink:
    kind: Literal["emergency", "call", "text"]
    label: str  # e.g. "Call 988" or "Text HOME to 741741"
    href: str  # "tel:988" or "sms:741741": digits only after the scheme
    name: str  # the service, e.g. "988 Suicide & Crisis Lifeline"
    hours: str = ""


def digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def emergency_link(region: Region) -> ContactLink | None:
    number = digits(region.emergency.number)
    if not number:
        return None
    return ContactLink("emergency", f"Call {region.emergency.number}", f"tel:{number}",
                       "Emergency services")


def crisis_links(region: Region, limit: int = CRISIS_LINES_SHOWN) -> list[ContactLink]:
    """A call and a text link for each of the region's first crisis lines that has them."""
    links = []
    for resource in region.crisis_lines[:limit]:
        hours = resource.hours or ""
        if digits(resource.call):
            links.append(ContactLink("call", f"Call {resource.phone_label}",
                                     f"tel:{digits(resource.call)}", resource.name, hours))
        if digits(resource.text):
            keyword = f"{resource.text_keyword} to " if resource.text_keyword else ""
            links.append(ContactLink("text", f"Text {keyword}{resource.text}",
                                     f"sms:{digits(resource.text)}", resource.name, hours))
    return links


def all_links(region: Region, limit: int = CRISIS_LINES_SHOWN) -> list[ContactLink]:
    """The emergency number first, then the crisis lines."""
    first = emergency_link(region)
    return ([first] if first else []) + crisis_links(region, limit)

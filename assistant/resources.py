"""Human help by region, from corpus/resources.yaml: the numbers every reply points to.

Only services confirmed against a public source are in that file; this module never adds any.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

ResourceKind = Literal[
    "crisis_line", "text_line", "substance_use_helpline", "mental_health_line", "warmline",
    "peer_directory", "meeting_finder", "family_support", "youth_line", "overdose_line",
    "poison_line", "directory",
]

# The kinds that reach a person who listens; used to pick peer pointers and crisis lines.
CRISIS_KINDS = ("crisis_line", "text_line")


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    kind: ResourceKind
    call: str | None = None
    call_display: str | None = None
    text: str | None = None
    text_keyword: str | None = None
    chat: HttpUrl | None = None
    web: HttpUrl | None = None
    email: str | None = None
    app: str | None = None  # an app to search for by name, where no address is confirmed
    hours: str | None = None  # left out where no source gives them
    languages: str | None = None
    for_: str = Field(alias="for")
    how: str
    peer_run: bool = False
    verification: Literal["confirmed", "confirmed-secondary"]
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _reachable(self) -> Resource:
        if not any((self.call, self.text, self.chat, self.web, self.email, self.app)):
            raise ValueError("a resource needs at least one way to reach it")
        return self

    @property
    def phone_label(self) -> str | None:
        return self.call_display or self.call

    def contact_line(self) -> str:
        """One plain line: name, how to reach it, hours."""
        hours = f" ({self.hours})" if self.hours else ""
        return f"**{self.name}**: {self.how}{hours}"


class Emergency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str | None = None
    note: str


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z]{2,4}$")
    name: str
    emergency: Emergency
    resources: list[Resource] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_crisis_line(self) -> Region:
        if not any(r.kind in (*CRISIS_KINDS, "directory") for r in self.resources):
            raise ValueError(f"region {self.code} has no crisis line or directory")
        return self

    def of_kind(self, *kinds: str) -> list[Resource]:
        return [r for r in self.resources if r.kind in kinds]

    @property
    def crisis_lines(self) -> list[Resource]:
        return self.of_kind(*CRISIS_KINDS) or self.of_kind("directory")


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewed_on: dt.date
    review_due: dt.date
    default_region: str
    regions: list[Region] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Resources:
        codes = [r.code for r in self.regions]
        if len(set(codes)) != len(codes):
            raise ValueError("region codes must be unique")
        if self.default_region not in codes:
            raise ValueError(f"default_region {self.default_region} is not a region")
        ids = [res.id for region in self.regions for res in region.resources]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"resource ids must be unique: {', '.join(dupes)}")
        return self

    def region(self, code: str | None) -> Region:
        """The region for a code, falling back to the international list, then the default."""
        wanted = (code or self.default_region).upper()
        by_code = {r.code: r for r in self.regions}
        return by_code.get(wanted) or by_code.get("INTL") or by_code[self.default_region]

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.regions]


def parse_resources(path: Path) -> Resources:
    """Raise yaml.YAMLError, OSError, UnicodeDecodeError or pydantic.ValidationError if bad."""
    from .corpus import load_yaml

    return Resources.model_validate(load_yaml(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float) -> Resources:
    return parse_resources(Path(path))


def load_resources(corpus_dir: Path) -> Resources:
    path = corpus_dir / "resources.yaml"
    return _cached(str(path), path.stat().st_mtime)

"""Administrative divisions (行政区划代码, GB/T 2260): where a project is, so analysts can rank cities and counties.

The scoring sheets rank divisions (the Jiangxi 2023 sheet: "前四名 / 中间四名 / 最后四名" among the 设区市), so
every project carries the 6-digit code of the division that handles it. The code is hierarchical:

- ``36 00 00`` a province (江西省), ``36 07 00`` a city (赣州市), ``36 07 02`` a county or district (章贡区);
- the province is the first two digits, the city the first four, the county all six.

So a filter on a city (``360700``) is a prefix (``3607``) and takes in its counties; the province and city of
any code are derived from it, never stored apart.

Names come from ``workflows/divisions.yaml`` (data, validated here); a code not listed there is still a valid
code (a deployment may file projects of a county the list lacks) and is shown as the code itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["PROVINCES", "DivisionError", "Division", "Divisions", "check_code", "prefix", "levels", "load_divisions"]

#: The provincial-level prefixes of GB/T 2260 (mainland, plus 71 台湾, 81 香港, 82 澳门).
PROVINCES: frozenset[str] = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
    "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"})
_CODE = re.compile(r"^[0-9]{6}$")


class DivisionError(ValueError):
    """Not a 行政区划代码 (six digits, a known province, no county without its city)."""


def check_code(code: str) -> str:
    """``code`` if it is a well-formed 6-digit division code, else :class:`DivisionError` saying why."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise DivisionError(f"{code!r} is not a 6-digit 行政区划代码")
    if code[:2] not in PROVINCES:
        raise DivisionError(f"{code}: {code[:2]} is not a province code")
    if code[2:4] == "00" and code[4:] != "00":
        raise DivisionError(f"{code}: a county code needs its city's digits (the 3rd and 4th are 00)")
    return code


def prefix(code: str) -> str:
    """The prefix every code inside ``code`` starts with: ``36`` for 360000, ``3607`` for 360700, the code for a
    county."""
    check_code(code)
    if code[2:] == "0000":
        return code[:2]
    if code[4:] == "00":
        return code[:4]
    return code


@dataclass(frozen=True)
class Levels:
    province: str
    city: str | None
    county: str | None


def levels(code: str) -> Levels:
    """The province, city and county codes of ``code`` (None where ``code`` is above that level)."""
    check_code(code)
    return Levels(province=code[:2] + "0000", city=None if code[2:4] == "00" else code[:4] + "00",
                  county=None if code[4:] == "00" else code)


class Division(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return check_code(value)


class Divisions(BaseModel):
    """The named divisions a deployment knows, and which of them a scoring sheet ranks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    divisions: tuple[Division, ...]
    ranked: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Per province prefix, the codes its scoring sheet ranks against each other (the 设区市)."""

    @field_validator("divisions")
    @classmethod
    def _unique(cls, value: tuple[Division, ...]) -> tuple[Division, ...]:
        codes = [d.code for d in value]
        if len(set(codes)) != len(codes):
            raise ValueError("division codes must be unique")
        return value

    def name(self, code: str) -> str:
        """The division's name, its city's and province's before it when known (赣州市章贡区), else the code."""
        named = {d.code: d.name for d in self.divisions}
        if code in named and code[2:] != "0000":
            lv = levels(code)
            parent = named.get(lv.city) if lv.county and lv.city else None
            return f"{parent}{named[code]}" if parent else named[code]
        return named.get(code, code)

    def within(self, code: str) -> list[Division]:
        """The listed divisions inside ``code`` (itself included)."""
        p = prefix(code)
        return [d for d in self.divisions if d.code.startswith(p)]

    def cities(self, province: str) -> list[str]:
        """The codes the province's sheet ranks: ``ranked`` when given, else its listed cities."""
        p = prefix(province)[:2]
        if p in self.ranked:
            return list(self.ranked[p])
        return [d.code for d in self.divisions if d.code.startswith(p) and d.code[2:4] != "00" and d.code[4:] == "00"]


@lru_cache(maxsize=4)
def load_divisions(root: Path | None = None) -> Divisions:
    """``workflows/divisions.yaml`` (or ``root``'s), validated."""
    from engine.domain.catalogue import DEFAULT_ROOT

    path = (root or DEFAULT_ROOT) / "divisions.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        listed = [{"code": str(code), "name": name} for code, name in (raw.get("divisions") or {}).items()]
        return Divisions(divisions=tuple(listed),
                         ranked={str(k): tuple(str(c) for c in v) for k, v in (raw.get("ranked") or {}).items()})
    except (ValidationError, DivisionError, AttributeError) as exc:
        raise DivisionError(f"{path}: {exc}") from exc

"""电子证照 (electronic certificates), 免于提交 and the national project code (项目代码), as pure rules.

Certificates are a *projection of ledger events* (the contract between the parts of the engine): a
``matter_completed`` with an approving outcome (准予许可, 超时默许) issues the certificate of the matter's type
(``Matter.certificate``); a ``permit_revoked`` naming a ``matter_key`` revokes that matter's certificate, and one
naming only a stage revokes every certificate of the stage. :func:`changes` turns a step's events into those
changes; the service layer writes them in the same transaction as the events.

免于提交: a material a catalogue entry declares ``provided_by`` a certificate type is never asked for while the
project holds a *valid* certificate of that type ("政府部门核发的材料一律免于提交", policy-compilation.txt:1193); a
revoked or expired certificate exempts nothing.

项目代码: the code the national investment-project platform (全国投资项目在线审批监管平台) gives a project:
``YYYY-AAAAAA-BB-CC-NNNNNN`` — year of coding, the 6-digit 行政区划代码 of the coding authority, the two-digit
国民经济行业 division (GB/T 4754), the management type (01 审批, 02 核准, 03 备案) and a 6-digit serial. The format
follows the platform's published coding rule as seen in public integrations; it is not in the product's sources.

No SQL, no HTTP: time and catalogue come in as arguments.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.divisions import DivisionError, check_code

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Matter outcomes whose result is issued (a certificate exists): 准予许可 and 超时默许 (deemed approved).
ISSUING_OUTCOMES = frozenset({"approved", "silent_consent"})

STATUS_LABELS = {"valid": "有效", "revoked": "已撤销", "expired": "已过期"}
KIND_LABELS = {"licence": "许可证", "approval": "批复文件", "opinion": "审查意见", "filing": "备案证明"}

# -- 项目代码 -----------------------------------------------------------------------------------------------------
PROJECT_CODE = re.compile(r"^(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})$")
MANAGEMENT_TYPES = {"01": "审批", "02": "核准", "03": "备案"}
#: the case's investment mode (workflows/case.yaml ``investment_mode``) → the code's management type
INVESTMENT_MODE_TYPES = {"approval": "01", "ratification": "02", "filing": "03"}


class ProjectCodeError(ValueError):
    """A project code that is not the national format; the message says which part is wrong."""


def check_project_code(value: str, *, investment_mode: str | None = None) -> str:
    """``value`` if it is a well-formed national project code (and, given the project's investment mode, of the
    matching management type), else :class:`ProjectCodeError` naming the wrong part."""
    code = value.strip() if isinstance(value, str) else value
    match = PROJECT_CODE.match(code) if isinstance(code, str) else None
    if match is None:
        raise ProjectCodeError(f"{value!r} is not a project code of the national format YYYY-AAAAAA-BB-CC-NNNNNN "
                               "(e.g. 2026-360100-47-01-123456: year, 行政区划代码, 行业代码, 项目类型, serial)")
    year, division, industry, kind, serial = match.groups()
    if not 2000 <= int(year) <= 2099:
        raise ProjectCodeError(f"{code}: year {year} is not a coding year (2000–2099)")
    try:
        check_code(division)
    except DivisionError as exc:
        raise ProjectCodeError(f"{code}: 赋码地区 {exc}") from None
    if not 1 <= int(industry) <= 97:
        raise ProjectCodeError(f"{code}: 行业代码 {industry} is not a 国民经济行业 division (01–97, GB/T 4754)")
    if kind not in MANAGEMENT_TYPES:
        raise ProjectCodeError(f"{code}: 项目类型 {kind} is none of 01 审批, 02 核准, 03 备案")
    if int(serial) == 0:
        raise ProjectCodeError(f"{code}: serial 000000 is not issued")
    expected = INVESTMENT_MODE_TYPES.get(investment_mode or "")
    if expected is not None and kind != expected:
        raise ProjectCodeError(f"{code}: 项目类型 {kind}（{MANAGEMENT_TYPES[kind]}）does not match the project's "
                               f"investment mode {investment_mode!r}（{MANAGEMENT_TYPES[expected]}, {expected}）")
    return code


# -- numbers and validity -----------------------------------------------------------------------------------------
def local_date(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def expiry(issued_at: datetime, validity_months: int | None) -> datetime | None:
    """When a certificate issued at ``issued_at`` stops being valid: the start (Asia/Shanghai) of the same date
    ``validity_months`` later — valid through the day before, as the dates on a paper permit read. None: no expiry."""
    if validity_months is None:
        return None
    day = add_months(local_date(issued_at), validity_months)
    return datetime.combine(day, time(0, 0), SHANGHAI).astimezone(timezone.utc)


def counter_name(code: str, issued_at: datetime) -> str:
    """The counter a number's ``{seq}`` comes from: one per certificate type and issue year."""
    return f"cert:{code}:{local_date(issued_at).year}"


def format_number(fmt: str, *, code: str, issued_at: datetime, division: str | None, seq: int) -> str:
    return fmt.format(code=code, year=local_date(issued_at).year, division=division or "000000", seq=seq)


# -- the projection -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issue:
    """A certificate to create (its number is drawn when it is written)."""

    matter_key: str
    matter_id: str
    stage: str | None
    type_id: str
    type_name: str
    kind: str
    code: str
    department: str | None
    issued_at: datetime
    expires_at: datetime | None
    outcome: str


@dataclass(frozen=True)
class Revoke:
    """Certificates to revoke: one matter's (``matter_key``) or, when None, every one of ``stage``."""

    stage: str | None
    matter_key: str | None
    at: datetime
    reason: str | None


@dataclass
class Changes:
    issues: list[Issue] = field(default_factory=list)
    revocations: list[Revoke] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.issues or self.revocations)


def changes(catalogue: Any, events: Iterable[Any]) -> Changes:
    """The certificate changes a step's ledger events imply, in event order (see the module docstring)."""
    out = Changes()
    for event in events:
        if event.type == "matter_completed" and (event.data or {}).get("outcome") in ISSUING_OUTCOMES:
            if not event.matter_id or event.matter_id not in catalogue.matters:
                continue
            type_id = catalogue.matter(event.matter_id).certificate
            if not type_id:
                continue
            ctype = catalogue.certificate_type(type_id)
            out.issues.append(Issue(
                matter_key=event.matter_key or event.matter_id, matter_id=event.matter_id, stage=event.stage,
                type_id=ctype.id, type_name=ctype.name, kind=ctype.kind, code=ctype.code, department=event.department,
                issued_at=event.at, expires_at=expiry(event.at, ctype.validity_months), outcome=event.data["outcome"]))
        elif event.type == "permit_revoked":
            reason = (event.data or {}).get("reason")
            out.revocations.append(Revoke(stage=event.stage, matter_key=event.matter_key, at=event.at, reason=reason))
    return out


# -- 免于提交 ------------------------------------------------------------------------------------------------------
def is_valid(certificate: Mapping[str, Any], now: datetime) -> bool:
    """Valid at ``now``: neither revoked nor expired (an expiry date already passed counts even before the timer
    pass has marked it)."""
    if certificate.get("status") != "valid":
        return False
    expires = certificate.get("expires_at")
    return expires is None or expires > now


def exemptions(materials: Sequence[tuple[str, str, str, str | None]], certificates: Iterable[Mapping[str, Any]],
               now: datetime) -> dict[str, dict[str, Any]]:
    """Which of a filing's materials a valid certificate provides.

    ``materials`` are ``(matter_id, material_id, material_name, provided_by)``; the answer maps
    ``matter:material`` to the certificate that provides it (its number, type and name) — the newest valid
    certificate of the type, so a reissued permit is the one referred to.
    """
    newest: dict[str, Mapping[str, Any]] = {}
    for cert in certificates:
        if is_valid(cert, now):
            held = newest.get(cert["type_id"])
            if held is None or (cert["issued_at"], cert["number"]) > (held["issued_at"], held["number"]):
                newest[cert["type_id"]] = cert
    out: dict[str, dict[str, Any]] = {}
    for matter_id, material_id, name, provided_by in materials:
        cert = newest.get(provided_by or "")
        if cert is not None:
            out[f"{matter_id}:{material_id}"] = {"material": f"{matter_id}:{material_id}", "name": name,
                                                 "certificate": cert["number"], "type_id": cert["type_id"],
                                                 "type_name": cert["type_name"], "label": "免于提交"}
    return out

"""The functions BPMN expressions and scripts may call (documented in docs/authoring-models.md).

Models call them by name (``matters = stage_matters(project_type, stage)``, a timer's
``matter_due_at(matter)``). Each delegates to the :class:`ExecutionContext` of the engine operation
running now — the project, its ledger, the catalogue, the calendar and the injected clock — held in a
context variable so that concurrent operations never see each other's project.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.domain.timing import due_date

if TYPE_CHECKING:  # pragma: no cover
    from engine.services.execution import ExecutionContext

_context: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar("gongai_execution", default=None)


@contextmanager
def executing(context: ExecutionContext) -> Iterator[ExecutionContext]:
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def current() -> ExecutionContext:
    context = _context.get()
    if context is None:
        raise RuntimeError("no engine operation is running: model functions only work inside the engine")
    return context


# -- catalogue look-ups ---------------------------------------------------------------------------------------
def stage_matters(project_type: str, stage: str) -> list[dict[str, Any]]:
    """The matters of ``stage`` for ``project_type`` (exemptions applied), as task data for multi-instance."""
    return current().stage_matters(project_type, stage)


def later_phases(project_type: str) -> list[dict[str, Any]]:
    """分阶段施工许可: the phases issued after their stage closed (the profile's ``phased_permit``), as task data."""
    return current().later_phases(project_type)


def acceptance_units(project_type: str, unit_works: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """联合验收: one entry per unit work with its first batch (先行验收 items, or all) and second batch."""
    return current().acceptance_units(project_type, unit_works)


def joint_opinion(project_type: str) -> dict[str, Any]:
    """联合验收意见书: the one final matter of joint acceptance (replaces each unit's 竣工验收备案), as task data."""
    return current().joint_opinion(project_type)


def record_early_acceptance(unit: dict[str, Any]) -> None:
    """先行验收: the early opinion was issued; the commitment stays open until the unit's remaining items pass."""
    current().record_early_acceptance(unit)


def commitment_checks(project_type: str, stage: str, missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The matters whose tolerated materials the agencies must post-check (核查)."""
    return current().commitment_checks(project_type, stage, missing)


# -- deadlines (working days, Asia/Shanghai; ISO 8601 UTC strings for timer events) --------------------------
def matter_due_at(matter: dict[str, Any]) -> str:
    """Committed due date of a running matter, pushed later by its clock stops."""
    return current().matter_due_at(matter)


def matter_warning_at(matter: dict[str, Any]) -> str:
    """When the yellow warning is due: the profile's warning days before the committed due date."""
    return current().matter_warning_at(matter)


def intake_due_at(stage: str) -> str:
    """When a pending intake is deemed accepted (行政许可法第三十二条: five days, the profile's working days)."""
    return current().intake_due_at(stage)


def commitment_reminder_at(stage: str) -> str:
    """When to remind the owner of its supply deadline (the profile's warning days before it)."""
    return current().commitment_reminder_at(stage)


def statement_due_at(stage: str) -> str:
    """陈述申辩 deadline for the owner, counted from now in the profile's working days."""
    return current().statement_due_at(stage)


def commitment_due_at(stage: str) -> str:
    """Deadline for supplying tolerated materials (容缺补齐), counted from the stage's acceptance."""
    return current().commitment_due_at(stage)


def statement_reminder_at(stage: str) -> str:
    """When to remind the owner of its 陈述申辩 deadline (the profile's warning days before it)."""
    return current().statement_reminder_at(stage)


def correction_due_at(matter: dict[str, Any]) -> str:
    """补正 deadline of a matter waiting for a correction (the profile's ``correction.limit_wd``)."""
    return current().correction_due_at(matter)


def filing_correction_due_at(stage: str) -> str:
    """一次性告知's correction deadline at the window (the profile's ``correction.intake_limit_wd``, else ``limit_wd``)."""
    return current().filing_correction_due_at(stage)


def filing_correction_reminder_at(stage: str) -> str:
    """When to remind the owner of its correction deadline at the window (the profile's warning days before it)."""
    return current().filing_correction_reminder_at(stage)


def record_filing_withdrawn(stage: str) -> None:
    """视为撤回: the filing was not corrected by the 一次性告知's deadline (stage result ``withdrawn``, a notice)."""
    current().record_filing_withdrawn(stage)


def stage_closing_result(stage: str, intake: str) -> str:
    """approved / approved_with_tolerance (容缺通过) / approved_on_commitment (告知承诺通过) for 综合出件."""
    return current().stage_closing_result(stage, intake)


def precondition_reason(matter: dict[str, Any]) -> str:
    """Why a dependant ends without a permit (its precondition refused, ended or revoked)."""
    return current().precondition_reason(matter)


def correction_lapsed(matter: dict[str, Any]) -> dict[str, Any]:
    """补正期限届满: end the stop, end the matter (视为撤回 / 终止 per profile), notify; the matter result."""
    return current().correction_lapsed(matter)


def notify_revocation(stage: str, reason: str) -> None:
    """拟撤销告知 with the 核查 findings and the 陈述申辩 deadline."""
    current().notify_revocation(stage, reason)


def precondition_status(matter: dict[str, Any]) -> str:
    """依法出证: ``issued`` / ``refused`` / ``pending`` for the preconditions of ``matter`` on this project's route."""
    return current().precondition_status(matter)


MAX_WORKING_DAYS = 2_500
"""Most working days a model may count forward (about ten years; the calendar walks day by day)."""


def working_days_after(instant: str, days: int) -> str:
    """24:00 (Asia/Shanghai) of the ``days``-th working day after the day of ``instant`` (受理次日起算)."""
    count = int(days)
    if not 0 <= count <= MAX_WORKING_DAYS:
        raise ValueError(f"working_days_after: days must be between 0 and {MAX_WORKING_DAYS:,}, not {count:,}")
    return due_date(datetime.fromisoformat(instant), count, 0.0, current().calendar).isoformat()


# -- recording (the ledger) -----------------------------------------------------------------------------------
def start_matter(matter: dict[str, Any]) -> None:
    current().start_matter(matter)


def stop_clock(matter: dict[str, Any], kind: str, procedure: Any = None) -> None:
    current().stop_clock(matter, kind, procedure)


def resume_clock(matter: dict[str, Any], kind: str) -> None:
    current().resume_clock(matter, kind)


def record_matter_result(matter: dict[str, Any], result: dict[str, Any]) -> None:
    current().record_matter_result(matter, result)


def record_unit_result(unit: dict[str, Any], result: dict[str, Any]) -> None:
    """联合验收: record one unit work's result (accepted / refused); it stands whatever the other units do."""
    current().record_unit_result(unit, result)


def record_warning(matter: dict[str, Any], colour: str) -> None:
    current().record_warning(matter, colour)


def record_silent_consent(matter: dict[str, Any]) -> None:
    current().record_silent_consent(matter)


def record_acceptance(stage: str, intake: str, missing: list[dict[str, Any]] | None = None) -> None:
    current().record_acceptance(stage, intake, missing)


def record_deemed_acceptance(stage: str, received_at: str) -> None:
    current().record_deemed_acceptance(stage, received_at)


def record_stage_result(stage: str, result: str) -> None:
    current().record_stage_result(stage, result)


def revoke_permit(stage: str, reason: str) -> None:
    current().revoke_permit(stage, reason)


def record_credit(stage: str, reason: str) -> None:
    current().record_credit(stage, reason)


def notify_owner(kind: str, stage: str, text: str) -> None:
    current().notify(kind, stage=stage, text=text)


#: The names models may call, for the sandboxed script engine and the validator.
MODEL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        stage_matters, later_phases, acceptance_units, joint_opinion, record_early_acceptance, commitment_checks, matter_due_at, matter_warning_at, commitment_due_at, commitment_reminder_at, intake_due_at, statement_due_at,
        working_days_after, precondition_status, start_matter, stop_clock, resume_clock, record_matter_result, record_unit_result, record_warning,
        record_silent_consent, record_acceptance, record_deemed_acceptance, record_stage_result, revoke_permit, record_credit, notify_owner,
        statement_reminder_at, correction_due_at, stage_closing_result, precondition_reason, correction_lapsed, notify_revocation,
        filing_correction_due_at, filing_correction_reminder_at, record_filing_withdrawn,
    )
}

"""The project ledger: what has happened to a project's stages and matters, and how long it took.

SpiffWorkflow keeps only each task's last state; the timing rules need the whole story — when a stage was
accepted (受理), when each matter's clock stopped for 补正 or a 特别程序 and when it resumed, how each
matter and stage ended. The ledger keeps that story as *subjects* (one per stage, matter, special procedure
and post-check) and emits an append-only list of :class:`Event` records, which the service layer persists
in the same transaction as the workflow state.

It is pure domain: no SQL, no HTTP, no SpiffWorkflow. Time comes in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.domain.timing import ClockStop, Timing, TimingRule, measure
from engine.domain.workcalendar import WorkCalendar

Level = Literal["project", "stage", "matter", "special", "check", "filing"]

#: Stage results, with the national status labels (办结（通过） / 办结（容缺通过）…) analysts expect.
STAGE_RESULT_LABELS: dict[str, str] = {
    "approved": "办结（通过）",
    "approved_with_tolerance": "办结（容缺通过）",
    "approved_on_commitment": "办结（告知承诺通过）",
    "refused": "不予许可",
    "revoked": "撤销许可",
    "withdrawn": "视为撤回（逾期未补正）",
}

#: Project results (``projects.result``) with the labels pages and reports show. A route that completes ends
#: ``approved``, or ``approved_with_revocations`` when some issued permits were revoked on the way (撤销 is per
#: permit); a route that cannot go on ends ``refused`` / ``revoked`` (a mandatory matter could not be issued
#: because its precondition was revoked) / ``withdrawn`` (撤回申请, or a filing 视为撤回). See project_result.
PROJECT_RESULT_LABELS: dict[str, str] = {
    "approved": "办结（通过）",
    "approved_with_revocations": "办结（部分许可已撤销）",
    "refused": "不予许可（审批终止）",
    "revoked": "前置许可撤销（审批终止）",
    "withdrawn": "已撤回",
}
#: A stage filing's outcome at the window (受理用时, level ``filing``).
FILING_OUTCOME_LABELS: dict[str, str] = {"accepted": "已受理", "deemed": "视为受理（逾期未作决定）",
                                         "withdrawn": "视为撤回（逾期未补正）"}
#: The project status each result leaves (anything else: ``stopped``).
PROJECT_RESULT_STATUS: dict[str, str] = {"approved": "completed", "approved_with_revocations": "completed",
                                         "withdrawn": "withdrawn"}

#: Matter outcomes and their labels.
MATTER_OUTCOME_LABELS: dict[str, str] = {
    "approved": "准予许可",
    "silent_consent": "超时默许",
    "refused": "不予许可",
    "terminated": "终止（前置事项未获许可）",
    "withdrawn": "视为撤回（逾期未补正）",
    "revoked": "撤销许可",
}

#: The national data-exchange result of a finished matter (办理状态, see engine/analytics/exchange.py): how it was
#: approved — in full (办结（通过）), with materials tolerated (容缺通过) or on a signed commitment (告知承诺通过).
def matter_result_label(outcome: str | None, *, tolerance: bool = False, commitment: bool = False) -> str | None:
    if outcome in ("approved", "silent_consent"):
        if commitment:
            return "办结（告知承诺通过）"
        return "办结（容缺通过）" if tolerance else "办结（通过）"
    return MATTER_OUTCOME_LABELS.get(outcome or "")


#: 单位工程 results in 联合验收.
UNIT_OUTCOME_LABELS: dict[str, str] = {"accepted": "验收通过", "refused": "验收不通过"}
EARLY_ACCEPTANCE_LABELS: dict[str, str] = {
    "open": "先行验收（承诺其余事项投入使用前验收）", "fulfilled": "承诺兑现：其余事项验收通过",
    "broken": "承诺未兑现：其余事项验收不通过，不得投入使用",
}
"""先行验收 + 承诺 (cases-shaanxi.txt:587–593): opened with the early opinion, closed by the remaining items."""


class LedgerError(ValueError):
    """A transition the rules do not allow (e.g. resuming a clock that is not stopped)."""


@dataclass
class Event:
    """One row of the event log (事件日志). ``type`` is a stable, documented vocabulary (see EVENT_TYPES)."""

    type: str
    at: datetime
    stage: str | None = None
    matter_key: str | None = None
    matter_id: str | None = None
    department: str | None = None
    actor: str | None = None
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


#: The event vocabulary, with the process-mining lifecycle transition each maps to.
EVENT_TYPES: dict[str, str] = {
    "project_started": "start",
    "project_completed": "complete",
    "project_stopped": "complete",
    "project_withdrawn": "withdraw",  # 撤回申请
    "task_ready": "schedule",
    "task_completed": "complete",
    "task_claimed": "assign",  # 认领
    "task_released": "reassign",
    "stage_submitted": "complete",  # 阶段申报（一张表单）
    "intake_notice": "complete",  # 一次性告知
    "stage_accepted": "start",  # 受理
    "stage_completed": "complete",  # 综合出件 / 不予许可
    "matter_started": "start",
    "matter_completed": "complete",
    "clock_stopped": "suspend",  # 补正开始 / 特别程序开始
    "clock_resumed": "resume",  # 补正结束 / 特别程序结束
    "matter_warning": "complete",  # 黄牌预警 / 红牌逾期
    "silent_consent": "complete",  # 超时默许
    "commitment_signed": "complete",  # 告知承诺书
    "documents_supplied": "complete",
    "post_check": "complete",  # 核查
    "permit_revoked": "complete",  # 撤销 (matter_key: that matter's permit)
    "revocation_scope": "complete",  # 撤销的范围：核查未通过的事项及其后续事项
    "credit_recorded": "complete",
    "notification": "complete",
}


@dataclass
class Subject:
    """Something that is timed: a stage, a matter, a special procedure (特别程序), a post-check (核查), or a stage
    filing at the window (``filing``: from submission to acceptance, 视为受理 or 视为撤回 — 受理用时)."""

    key: str
    level: Level
    name: str
    stage: str | None = None
    matter_id: str | None = None
    department: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    committed_limit_wd: int | None = None
    statutory_limit_wd: int | None = None
    stops: list[ClockStop] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def open_stop(self) -> ClockStop | None:
        return next((stop for stop in self.stops if stop.end is None), None)

    def end_open_stop(self, at: datetime) -> None:
        """The clock runs again from ``at`` (nothing happens when it was not stopped)."""
        if (stop := self.open_stop) is not None:
            self.stops[self.stops.index(stop)] = ClockStop(stop.start, at, stop.kind)

    @property
    def is_open(self) -> bool:
        return self.started_at is not None and self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "level": self.level,
            "name": self.name,
            "stage": self.stage,
            "matter_id": self.matter_id,
            "department": self.department,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "outcome": self.outcome,
            "committed_limit_wd": self.committed_limit_wd,
            "statutory_limit_wd": self.statutory_limit_wd,
            "stops": [{"start": _iso(s.start), "end": _iso(s.end), "kind": s.kind} for s in self.stops],
            "warnings": list(self.warnings),
            "attrs": dict(self.attrs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subject:
        return cls(
            key=data["key"],
            level=data["level"],
            name=data["name"],
            stage=data.get("stage"),
            matter_id=data.get("matter_id"),
            department=data.get("department"),
            started_at=_parse(data.get("started_at")),
            ended_at=_parse(data.get("ended_at")),
            outcome=data.get("outcome"),
            committed_limit_wd=data.get("committed_limit_wd"),
            statutory_limit_wd=data.get("statutory_limit_wd"),
            stops=[ClockStop(_parse(s["start"]), _parse(s.get("end")), s["kind"]) for s in data.get("stops", [])],
            warnings=list(data.get("warnings", [])),
            attrs=dict(data.get("attrs", {})),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ProjectLedger:
    """The timed subjects of one project and the events that changed them.

    ``dirty`` names the subjects changed since the last :meth:`flush`, so persistence writes only those
    (a step's cost must not grow with the project's history).
    """

    def __init__(self, project_id: str, subjects: Iterable[Subject] = ()) -> None:
        self.project_id = project_id
        self.subjects: dict[str, Subject] = {s.key: s for s in subjects}
        self.pending_events: list[Event] = []
        self.dirty: set[str] = set()

    # -- reading -------------------------------------------------------------------------------------------
    def get(self, key: str) -> Subject:
        try:
            return self.subjects[key]
        except KeyError:
            raise LedgerError(f"no timed subject '{key}' in project {self.project_id}") from None

    def find(self, key: str) -> Subject | None:
        return self.subjects.get(key)

    def of_level(self, level: Level) -> Iterator[Subject]:
        return (s for s in self.subjects.values() if s.level == level)

    def matters_of_stage(self, stage: str) -> list[Subject]:
        return [s for s in self.subjects.values() if s.level == "matter" and s.stage == stage]

    # -- writing -------------------------------------------------------------------------------------------
    def emit(self, event: Event) -> Event:
        self.pending_events.append(event)
        return event

    def _touch(self, subject: Subject) -> None:
        self.subjects[subject.key] = subject
        self.dirty.add(subject.key)

    def flush(self) -> tuple[list[Subject], list[Event]]:
        """Hand over the changed subjects and the new events, and forget them."""
        changed = [self.subjects[key] for key in sorted(self.dirty)]
        events, self.pending_events, self.dirty = self.pending_events, [], set()
        return changed, events

    # -- the filing at the window (受理用时) ---------------------------------------------------------------------
    def receive_filing(self, stage: str, name: str, at: datetime, *, limit_wd: int | None) -> Subject:
        """提交阶段申报, or 重新提交 after a 一次性告知: the window holds the filing from ``at``.

        The filing is timed as its own subject (``<stage>/filing``) from the first submission to the window's
        decision, against the window's limit (行政许可法第三十二条: five days): the time the owner spends
        correcting after a 一次性告知 is a clock stop, so what remains is the window's own time — holding files
        before acceptance is the 隐性审批 the reform forbids, and it is measured, not hidden in no stage."""
        key = f"{stage}/filing"
        subject = self.find(key)
        if subject is None or subject.ended_at is not None:
            subject = Subject(key=key, level="filing", name=name, stage=stage, department="window", started_at=at,
                              committed_limit_wd=limit_wd, statutory_limit_wd=limit_wd)
        else:  # 重新提交: the owner's 补正 ends, the window holds the filing again
            subject.end_open_stop(at)
        self._touch(subject)
        return subject

    def filing_returned(self, stage: str, at: datetime) -> None:
        """一次性告知: the filing goes back to the owner; its clock stops until the owner resubmits."""
        subject = self.find(f"{stage}/filing")
        if subject is not None and subject.is_open and subject.open_stop is None:
            subject.stops.append(ClockStop(at, None, "correction"))
            self._touch(subject)

    def _close_filing(self, stage: str, at: datetime, outcome: str) -> Subject | None:
        subject = self.find(f"{stage}/filing")
        if subject is None or subject.ended_at is not None:
            return None
        subject.end_open_stop(at)
        subject.ended_at, subject.outcome = at, outcome
        self._touch(subject)
        return subject

    def accept_stage(
        self,
        stage: str,
        name: str,
        at: datetime,
        *,
        intake: str,
        limit_wd: int | None,
        department: str | None,
        missing: Sequence[str] = (),
        decided_at: datetime | None = None,
    ) -> Subject:
        """受理: the stage's clock starts (its limit is counted from the next day), and the filing's time at the
        window ends at the decision (``decided_at``; a 视为受理 starts the stage at receipt, decided at the limit)."""
        self._close_filing(stage, decided_at or at, "deemed" if intake == "deemed" else "accepted")
        subject = self.find(stage) or Subject(key=stage, level="stage", name=name, stage=stage)
        if subject.started_at is not None:
            raise LedgerError(f"stage {stage} was already accepted at {subject.started_at.isoformat()}")
        subject.started_at = at
        subject.department = department
        subject.committed_limit_wd = limit_wd
        subject.statutory_limit_wd = limit_wd
        subject.attrs["intake"] = intake
        if missing:
            subject.attrs["missing"] = list(missing)
        self._touch(subject)
        self.emit(Event("stage_accepted", at, stage=stage, department=department, data={"intake": intake, "missing": list(missing)}))
        return subject

    def withdraw_filing(self, stage: str, name: str, at: datetime, *, reason: str, department: str | None) -> Subject:
        """视为撤回 at the window: the owner let the 一次性告知's correction deadline pass. The filing was never
        accepted, so the stage's clock never ran (the 补正 time counts in no stage and, as the wait before an
        acceptance, not in the whole process either). The stage's result ``withdrawn`` is its ``stage_completed``
        event; the filing is kept as a ``filing`` subject (``<stage>/filing``, timed at the window only, never as a
        stage), so that stage statistics count accepted stages only and the project's result can read it (:func:`project_result`)."""
        if (found := self.find(stage)) is not None and found.started_at is not None:
            raise LedgerError(f"stage {stage} was already accepted, its filing cannot be withdrawn")
        subject = self._close_filing(stage, at, "withdrawn") or Subject(key=f"{stage}/filing", level="filing",
                                                                          name=name, stage=stage, ended_at=at,
                                                                          outcome="withdrawn")
        subject.department = department
        subject.attrs["intake"] = "withdrawn"
        subject.attrs["reason"] = reason
        self._touch(subject)
        self.emit(Event("stage_completed", at, stage=stage, department=department, data={
            "result": "withdrawn", "label": STAGE_RESULT_LABELS["withdrawn"], "reason": reason}))
        return subject

    def complete_stage(self, stage: str, result: str, at: datetime, *, actor: str | None = None) -> Subject:
        """综合出件 (or 不予许可): the stage's clock ends with its result."""
        if result not in STAGE_RESULT_LABELS:
            raise LedgerError(f"unknown stage result '{result}'")
        subject = self.get(stage)
        if subject.ended_at is not None:
            raise LedgerError(f"stage {stage} already ended ({subject.outcome})")
        subject.ended_at = at
        subject.outcome = result
        self._touch(subject)
        self.emit(Event("stage_completed", at, stage=stage, department=subject.department, actor=actor,
                        data={"result": result, "label": STAGE_RESULT_LABELS[result]}))
        return subject

    def revoke_matter(self, key: str, reason: str, at: datetime) -> Subject:
        """撤销 of one matter's permit (a broken commitment, or a permit built on a revoked one): its outcome
        becomes ``revoked``; the ``permit_revoked`` event names the matter (certificates read it per matter)."""
        subject = self.get(key)
        subject.attrs["revoked_at"] = at.isoformat()
        subject.attrs["revocation_reason"] = reason
        subject.attrs["outcome_before_revocation"] = subject.outcome
        subject.outcome = "revoked"
        self._touch(subject)
        self.emit(Event("permit_revoked", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, data={"reason": reason}))
        return subject

    def mark_stage_revoked(self, stage: str, reason: str, at: datetime) -> Subject:
        """Some of the stage's permits were revoked: the standing is recorded beside the stage (``revoked_at``,
        ``revoked_matters``) while its outcome and timing stay those of its processing (撤销 is per permit, the
        matter and its certificate carry it). 核查 never done (the documents never came) end with it."""
        subject = self.get(stage)
        subject.attrs["revoked_at"] = at.isoformat()
        subject.attrs["revocation_reason"] = reason
        subject.attrs["revoked_matters"] = sorted(m.key for m in self.matters_of_stage(stage) if m.outcome == "revoked")
        self._touch(subject)
        for check in self.of_level("check"):
            if check.stage == stage and check.is_open:
                check.ended_at = at
                check.outcome = "not_checked"
                check.attrs["reason"] = "许可已撤销，核查未进行"
                self._touch(check)
        return subject

    def close_open(self, at: datetime, *, reason: str) -> list[Subject]:
        """The project ended (不予许可 / 撤销 stop it): whatever was still running ends with it ("cancelled").

        Without this, a stage that was under way beside a revoked one stays open for ever and is measured
        again at every later reading, growing in every span and overdue statistic.
        """
        closed = []
        stopped: dict[str, str] = {}  # matter key → the kind of its open stop (补正, 前置条件: its resumption is logged)
        for subject in self.subjects.values():
            if subject.level == "project" or not subject.is_open:
                continue
            if subject.open_stop is not None and subject.open_stop.kind != "special":  # specials end with their own
                stopped[subject.key] = subject.open_stop.kind
            subject.stops = [ClockStop(stop.start, at, stop.kind) if stop.end is None else stop for stop in subject.stops]
            subject.ended_at = at
            subject.outcome = subject.outcome or "cancelled"
            subject.attrs["reason"] = reason
            self._touch(subject)
            closed.append(subject)
        self._log_cancelled(closed, stopped, at, reason)
        return closed

    def _log_cancelled(self, closed: list[Subject], stopped: dict[str, str], at: datetime, reason: str) -> None:
        """The event log ends what the ledger ended: each open clock stop resumes, each matter and stage completes
        as cancelled (终止) — or a process-mining trace would show them started and never ended."""
        order = {"special": 0, "matter": 1, "check": 2, "stage": 3}
        data = {"outcome": "cancelled", "label": "终止", "cancelled": True, "reason": reason}
        for subject in sorted(closed, key=lambda s: (order.get(s.level, 9), s.key)):
            common = dict(stage=subject.stage, matter_id=subject.matter_id, department=subject.department)
            if subject.level == "special":
                key = subject.attrs.get("matter_key")
                self.emit(Event("clock_resumed", at, matter_key=key, **common,
                                data={"kind": "special", "cancelled": True}))
                continue
            if subject.level == "matter":
                if subject.key in stopped:
                    self.emit(Event("clock_resumed", at, matter_key=subject.key, **common,
                                    data={"kind": stopped[subject.key], "cancelled": True}))
                self.emit(Event("matter_completed", at, matter_key=subject.key, **common, data=dict(data)))
            elif subject.level == "stage":
                self.emit(Event("stage_completed", at, **common, data={"result": "cancelled", **data}))

    def start_matter(
        self,
        key: str,
        at: datetime,
        *,
        name: str,
        stage: str,
        matter_id: str,
        department: str,
        committed_limit_wd: int | None,
        statutory_limit_wd: int | None,
        attrs: dict[str, Any] | None = None,
    ) -> Subject:
        existing = self.find(key)
        if existing is not None and existing.started_at is not None:
            raise LedgerError(f"matter {key} already started at {existing.started_at.isoformat()}")
        subject = Subject(
            key=key, level="matter", name=name, stage=stage, matter_id=matter_id, department=department,
            started_at=at, committed_limit_wd=committed_limit_wd, statutory_limit_wd=statutory_limit_wd,
            attrs=dict(attrs or {}),
        )
        self._touch(subject)
        self.emit(Event("matter_started", at, stage=stage, matter_key=key, matter_id=matter_id, department=department,
                        data={"committed_limit_wd": committed_limit_wd, "statutory_limit_wd": statutory_limit_wd}))
        return subject

    def stop_clock(self, key: str, kind: str, at: datetime, *, procedure: dict[str, Any] | None = None,
                   stops_clock: bool = True, actor: str | None = None, reason: Any = None) -> Subject:
        """补正开始 / 特别程序开始.

        A special procedure (特别程序) is always recorded and timed as its own sub-step with its own limit;
        whether it also stops the matter's clock is the jurisdiction's rule (``stops_clock``: Jiangxi counts
        procedures inside the limit, others exclude them), decided by the caller from the profile.
        """
        subject = self.get(key)
        if not subject.is_open:
            raise LedgerError(f"matter {key} is not running, its clock cannot stop")
        if subject.open_stop is not None or self._open_special(key) is not None:
            raise LedgerError(f"the clock of {key} is already stopped")
        if kind not in ("correction", "special", "precondition"):
            raise LedgerError(f"unknown clock stop kind '{kind}'")
        if kind == "correction" or stops_clock:
            subject.stops.append(ClockStop(at, None, kind))  # type: ignore[arg-type]
        self._touch(subject)
        data: dict[str, Any] = {"kind": kind, "stops_clock": kind == "correction" or stops_clock}
        if reason:
            data["reason"] = reason
        if kind == "special":
            if not procedure:
                raise LedgerError("a special procedure needs its catalogue entry")
            data["procedure"] = procedure["id"]
            n = sum(1 for s in self.of_level("special") if s.attrs.get("matter_key") == key)
            special = Subject(
                key=f"{key}#special{n + 1}", level="special", name=procedure["name"], stage=subject.stage,
                matter_id=subject.matter_id, department=subject.department, started_at=at,
                committed_limit_wd=procedure.get("limit_wd"), statutory_limit_wd=procedure.get("limit_wd"),
                attrs={"matter_key": key, "procedure": procedure["id"], "stops_clock": stops_clock},
            )
            self._touch(special)
        self.emit(Event("clock_stopped", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, actor=actor, data=data))
        return subject

    def _open_special(self, key: str) -> Subject | None:
        return next((s for s in self.of_level("special") if s.attrs.get("matter_key") == key and s.ended_at is None), None)

    def resume_clock(self, key: str, kind: str, at: datetime, *, actor: str | None = None) -> Subject:
        """补正结束 / 特别程序结束."""
        subject = self.get(key)
        stop = subject.open_stop
        special = self._open_special(key) if kind == "special" else None
        if kind == "special" and special is None:
            raise LedgerError(f"{key} has no special procedure running")
        if kind == "correction" and (stop is None or stop.kind != "correction"):
            raise LedgerError(f"the clock of {key} is not stopped for correction")
        if kind == "precondition" and not subject.is_open:
            raise LedgerError(f"matter {key} is not running")
        if stop is not None and stop.kind == kind:
            subject.end_open_stop(at)
        self._touch(subject)
        if special is not None:
            special.ended_at = at
            special.outcome = "completed"
            self._touch(special)
        self.emit(Event("clock_resumed", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, actor=actor, data={"kind": kind}))
        return subject

    def complete_matter(self, key: str, outcome: str, at: datetime, *, actor: str | None = None,
                        reason: str | None = None) -> Subject:
        if outcome not in MATTER_OUTCOME_LABELS:
            raise LedgerError(f"unknown matter outcome '{outcome}'")
        subject = self.get(key)
        if subject.ended_at is not None:
            raise LedgerError(f"matter {key} already ended ({subject.outcome})")
        subject.ended_at = at
        subject.outcome = outcome
        if reason:
            subject.attrs["reason"] = reason
        self._touch(subject)
        data: dict[str, Any] = {"outcome": outcome, "label": MATTER_OUTCOME_LABELS[outcome]}
        if reason:
            data["reason"] = reason
        self.emit(Event("matter_completed", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, actor=actor, data=data))
        return subject

    def record_unit_result(self, stage: str, unit: str, outcome: str, at: datetime) -> None:
        """联合验收: one unit work's result stands on its own (a failed unit does not refuse the others)."""
        if outcome not in UNIT_OUTCOME_LABELS:
            raise LedgerError(f"unknown unit outcome '{outcome}'")
        subject = self.get(stage)
        subject.attrs.setdefault("units", {})[unit] = outcome
        self._touch(subject)
        self.emit(Event("unit_completed", at, stage=stage, data={"unit": unit, "outcome": outcome,
                                                                  "label": UNIT_OUTCOME_LABELS[outcome]}))
        if subject.attrs.get("early_acceptance", {}).get(unit) == "open":
            self.record_early_acceptance(stage, unit, "fulfilled" if outcome == "accepted" else "broken", at)

    def record_early_acceptance(self, stage: str, unit: str, status: str, at: datetime) -> None:
        """先行验收: the early opinion opens a commitment (equipment may move in, the remaining items must pass
        before use); the unit's final result fulfils or breaks it. Kept on the stage per unit, with an event."""
        if status not in EARLY_ACCEPTANCE_LABELS:
            raise LedgerError(f"unknown early-acceptance status '{status}'")
        subject = self.get(stage)
        subject.attrs.setdefault("early_acceptance", {})[unit] = status
        self._touch(subject)
        self.emit(Event("early_acceptance", at, stage=stage, data={"unit": unit, "status": status,
                                                                    "label": EARLY_ACCEPTANCE_LABELS[status]}))

    def record_warning(self, key: str, colour: str, at: datetime) -> bool:
        """黄牌 (yellow) / 红牌 (red): recorded once per matter and colour. Returns whether it was new."""
        subject = self.get(key)
        if colour in subject.warnings or subject.ended_at is not None:
            return False
        subject.warnings.append(colour)
        self._touch(subject)
        self.emit(Event("matter_warning", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, data={"colour": colour}))
        return True

    def record_silent_consent(self, key: str, at: datetime, *, responsible: dict[str, Any]) -> Subject:
        """超时默许: the matter is deemed approved; the department (and its head and handler) are responsible."""
        subject = self.get(key)
        subject.attrs["silent_consent"] = True
        subject.attrs["responsible"] = responsible
        self._touch(subject)
        self.emit(Event("silent_consent", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, data={"responsible": responsible}))
        return subject

    def start_check(self, key: str, at: datetime, *, name: str, stage: str, matter_id: str, department: str,
                    limit_wd: int | None) -> Subject:
        """核查: the agency's post-check of a commitment, timed against its own limit."""
        subject = self.find(key) or Subject(key=key, level="check", name=name, stage=stage, matter_id=matter_id,
                                            department=department)
        subject.started_at = at
        subject.committed_limit_wd = subject.statutory_limit_wd = limit_wd
        self._touch(subject)
        return subject

    def complete_check(self, key: str, passed: bool, at: datetime, *, actor: str | None, findings: str | None) -> Subject:
        subject = self.get(key)
        subject.ended_at = at
        subject.outcome = "passed" if passed else "failed"
        if findings:
            subject.attrs["findings"] = findings
        self._touch(subject)
        self.emit(Event("post_check", at, stage=subject.stage, matter_key=key, matter_id=subject.matter_id,
                        department=subject.department, actor=actor, data={"passed": passed, "findings": findings}))
        return subject

    # -- timing --------------------------------------------------------------------------------------------
    def matter_timing(self, key: str, *, now: datetime, rule: TimingRule, calendar: WorkCalendar) -> Timing:
        subject = self.get(key)
        return _measure(subject, subject.stops, now=now, rule=rule, calendar=calendar)

    def stage_stops(self, stage: str, *, now: datetime, rule: TimingRule) -> list[ClockStop]:
        """The stage's clock is stopped while every matter still open in it is stopped (no agency is working).

        With parallel matters, one matter waiting for 补正 does not stop the stage while others are being
        handled; when the last open matter waits on the applicant, the whole stage waits on the applicant.
        """
        matters = [m for m in self.matters_of_stage(stage) if m.started_at is not None]
        subject = self.find(stage)
        if subject is None or subject.started_at is None or not matters:
            return []
        horizon = subject.ended_at or now
        points = {subject.started_at, horizon}
        for matter in matters:
            points.add(matter.started_at)  # type: ignore[arg-type]
            if matter.ended_at:
                points.add(matter.ended_at)
            for stop in matter.stops:
                points.add(stop.start)
                points.add(stop.end or now)
        ordered = sorted(p for p in points if subject.started_at <= p <= horizon)
        stops: list[ClockStop] = []
        for left, right in zip(ordered, ordered[1:]):
            if right <= left:
                continue
            middle = left + (right - left) / 2
            open_now = [m for m in matters if m.started_at <= middle and (m.ended_at is None or m.ended_at > middle)]
            if open_now and all(_stopped_at(m, middle, now, rule) for m in open_now):
                if stops and stops[-1].end == left:
                    stops[-1] = ClockStop(stops[-1].start, right, "correction")
                else:
                    stops.append(ClockStop(left, right, "correction"))
        if stops and subject.ended_at is None and stops[-1].end == horizon:
            stops[-1] = ClockStop(stops[-1].start, None, "correction")  # still stopped now
        elif subject.ended_at is None:
            # stopped from this very instant (the last open matter's 补正 starts now, or the last working matter
            # ended now): no interval up to ``now`` shows it, yet the stop is open — the whole process, stored
            # with this reading, must not go on counting until the next change
            open_now = [m for m in matters if m.ended_at is None]
            if open_now and all(any(s.end is None and s.start <= now and rule.stops_clock(s) for s in m.stops)
                                for m in open_now):
                stops.append(ClockStop(now, None, "correction"))
        return stops

    def stage_timing(self, stage: str, *, now: datetime, rule: TimingRule, calendar: WorkCalendar) -> Timing:
        subject = self.get(stage)
        stops = self.stage_stops(stage, now=now, rule=rule)
        # stage stops are already the effective ones: measure them as corrections (they always count)
        return _measure(subject, stops, now=now, rule=rule, calendar=calendar)

    def project_window(self, stages: Sequence[str], *, now: datetime, rule: TimingRule) -> tuple[datetime | None, datetime | None, list[ClockStop]]:
        """The whole process (全流程): from the first stage's acceptance to the last stage's result.

        Approval time counts only the time some stage of the four was running with its clock going; gaps
        between stages (the owner preparing the next filing) and stage clock stops are excluded, and stages
        running at the same time (带方案出让: 工程建设许可 ‖ 施工许可) are not counted twice.
        """
        subjects = [self.subjects[s] for s in stages if s in self.subjects and self.subjects[s].started_at]
        if not subjects:
            return None, None, []
        start = min(s.started_at for s in subjects)  # type: ignore[type-var]
        finished = all(s.ended_at is not None for s in subjects)
        end = max(s.ended_at for s in subjects) if finished else None  # type: ignore[type-var]
        horizon = end or now
        active: list[tuple[datetime, datetime]] = []
        stopped_now = end is None  # every running stage's clock is stopped at ``now`` (none running: not stopped)
        running = False
        for subject in subjects:
            s_end = subject.ended_at or now
            cursor = subject.started_at
            stage_stops = self.stage_stops(subject.key, now=now, rule=rule)
            if subject.ended_at is None:
                running = True
                stopped_now = stopped_now and bool(stage_stops) and stage_stops[-1].end is None
            for stop in stage_stops:
                if stop.start > cursor:  # type: ignore[operator]
                    active.append((cursor, stop.start))  # type: ignore[arg-type]
                cursor = stop.end or s_end
            if s_end > cursor:  # type: ignore[operator]
                active.append((cursor, s_end))  # type: ignore[arg-type]
        active.sort()
        merged: list[list[datetime]] = []
        for left, right in active:
            if merged and left <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], right)
            else:
                merged.append([left, right])
        gaps: list[ClockStop] = []
        cursor = start
        for left, right in merged:
            if left > cursor:
                gaps.append(ClockStop(cursor, left, "correction"))
            cursor = max(cursor, right)
        if cursor < horizon:
            gaps.append(ClockStop(cursor, None if end is None else horizon, "correction"))
        elif running and stopped_now:
            # every running stage stopped this very instant: an open gap from now, or the stored window would
            # count the stop as approval time until the project next changes
            gaps.append(ClockStop(cursor, None, "correction"))
        return start, end, gaps


def _stopped_at(matter: Subject, instant: datetime, now: datetime, rule: TimingRule) -> bool:
    for stop in matter.stops:
        if stop.start <= instant < (stop.end or now) and rule.stops_clock(stop):
            return True
    return False


def _measure(subject: Subject, stops: Sequence[ClockStop], *, now: datetime, rule: TimingRule,
             calendar: WorkCalendar) -> Timing:
    if subject.started_at is None:
        raise LedgerError(f"{subject.key} has not started")
    return measure(
        start=subject.started_at,
        end=subject.ended_at,
        now=now,
        committed_limit_wd=subject.committed_limit_wd,
        statutory_limit_wd=subject.statutory_limit_wd,
        stops=stops,
        rule=rule,
        calendar=calendar,
        silent_consent=subject.outcome == "silent_consent",
    )


def project_result(ledger: ProjectLedger, *, side_stages: Iterable[str] = ()) -> tuple[str, list[Subject]]:
    """A finished project's result and the matters whose permits were revoked.

    The route stopped at its first stage (by end) that was refused or whose filing was 视为撤回: ``withdrawn``;
    ``revoked`` when the stage was refused only because mandatory matters ended at the precondition gate on a
    revoked precondition (``precondition_revoked``: the legal order cannot go on), else ``refused``. A route that
    completed ends ``approved``, or ``approved_with_revocations`` when permits were revoked on the way.
    ``side_stages`` (the 联合报装 track) never stop the route.
    """
    side = set(side_stages)
    revoked = sorted((m for m in ledger.of_level("matter") if m.outcome == "revoked"), key=lambda m: m.key)
    ended = sorted((s for s in [*ledger.of_level("stage"), *ledger.of_level("filing")]
                    if s.stage not in side and s.ended_at is not None), key=lambda s: (s.ended_at, s.key))
    for stage in ended:
        if stage.outcome == "withdrawn":
            return "withdrawn", revoked
        if stage.outcome == "refused":
            matters = ledger.matters_of_stage(stage.key)
            own = any(m.outcome in ("refused", "withdrawn") for m in matters)
            on_revocation = any(m.outcome == "terminated" and m.attrs.get("precondition_revoked") for m in matters)
            return ("revoked" if on_revocation and not own else "refused"), revoked
    return ("approved_with_revocations" if revoked else "approved"), revoked

"""Step library for the behaviour specifications (行为规格) in ``features/*.feature``.

The scenarios drive the REAL engine — :class:`ApprovalService` on a fresh in-memory SQLite database
migrated with Alembic, the bundled BPMN models, the default catalogue and the real working-day calendar —
with a :class:`VirtualClock`, so that every figure a scenario asserts (due dates, span and approval working
days) is what the product would report. Nothing of the engine is mocked.

Conventions of the step texts:

- times are Asia/Shanghai local times written ``"2026-09-29 10:00"``; a due date at midnight is written the
  way the rules state it, ``"2026-10-08 24:00"`` (the end of the 8th);
- departments, stages and matters are named by their catalogue ids (``zrzy``, ``S2``,
  ``s2_greening_scheme_review``); a matter of a unit work is named by its key (``S4/U1/s4_fire_acceptance``);
- moving the clock fires every timer on the way, each at its own due instant (as the scheduler would).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pytest_bdd import given, parsers, then, when

from engine.clock import VirtualClock
from engine.domain.actors import Actor
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import CalendarDataMissing, WorkCalendar
from engine.persistence.db import make_engine, migrate
from engine.persistence.uow import UnitOfWork
from engine.services.approval import ApprovalService
from engine.services.errors import Invalid
from engine.simulation.cases import typical_case

SHANGHAI = ZoneInfo("Asia/Shanghai")
REVIEW_TASKS = ("Task_Review", "Task_ReviewSilent")
_CATALOGUE = load_catalogue()  # immutable; loading it once keeps the suite fast


# ---------------------------------------------------------------------------------------------- the world
@dataclass
class World:
    """One scenario's engine, clock and project, plus what the steps observed."""

    svc: ApprovalService
    clock: VirtualClock
    caught: list[warnings.WarningMessage]
    project_id: str | None = None
    owner_id: str | None = None
    error: Exception | None = None
    seen: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> str:
        assert self.project_id, "no project was filed in this scenario"
        return self.project_id

    # -- time --------------------------------------------------------------------------------------------
    def move_to(self, local: str) -> None:
        """Set the clock to ``local``, firing each due timer at its own instant on the way."""
        target = parse_local(local)
        now = self.clock.now()
        assert target >= now, f"the clock cannot go back from {fmt_local(now)} to {local}"
        for _ in range(200):
            due = self.svc.next_timer_at()
            if due is None:
                break
            due = due if due.tzinfo else due.replace(tzinfo=ZoneInfo("UTC"))
            if due > target:
                break
            # SpiffWorkflow fires a timer strictly after its instant (``due < now``) while the service reports
            # a project due at ``due <= now``: step one microsecond past the instant so the timer really fires.
            self.clock.set(max(due + timedelta(microseconds=1), self.clock.now()))
            if self.svc.fire_timers() == 0:
                break
        self.clock.set(target)

    # -- tasks -------------------------------------------------------------------------------------------
    def ready(self, *, stage: str | None = None, spec: str | tuple[str, ...] | None = None,
              department: str | None = None, matter: str | None = None, state: str | None = "ready") -> list[dict[str, Any]]:
        rows = self.svc.list_tasks(project_id=self.pid, stage=stage, state=state)
        specs = (spec,) if isinstance(spec, str) else spec
        out = []
        for row in rows:
            if specs and row["spec_id"] not in specs:
                continue
            if department and row["department"] != department:
                continue
            if matter and not _is_matter(row, matter):
                continue
            out.append(row)
        return out

    def one(self, **query: Any) -> dict[str, Any]:
        rows = self.ready(**query)
        assert len(rows) == 1, f"expected exactly one ready task for {query}, found {[r['name'] for r in rows]}"
        return rows[0]

    def complete(self, row: dict[str, Any], payload: dict[str, Any]) -> None:
        self.svc.complete_task(row["id"], payload, actor=actor_for(row))

    def drive(self, keep_going) -> int:  # noqa: ANN001 - a predicate on task rows
        """Complete, at the current instant, every ready task ``keep_going`` accepts (with default payloads)."""
        done = 0
        for _ in range(300):
            rows = [r for r in self.svc.list_tasks(project_id=self.pid) if keep_going(r)]
            if not rows:
                return done
            self.complete(rows[0], default_payload(rows[0]))
            done += 1
        raise AssertionError("the project did not settle after 300 task completions")

    # -- reading -----------------------------------------------------------------------------------------
    def timing_entry(self, what: str) -> dict[str, Any]:
        timing = self.svc.timing(self.pid)
        if what in ("project", "全流程"):
            assert timing["project"] is not None, "the whole process has no timing yet"
            return timing["project"]
        entries = timing["stages"] + timing["matters"] + timing["post_checks"]
        hits = [e for e in entries if e["key"] == what] or [e for e in timing["matters"] if e["matter_id"] == what]
        assert len(hits) == 1, f"expected one timed subject '{what}', found {[e['key'] for e in hits]}"
        return hits[0]

    def events(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.svc.events(self.pid)
                if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


def _is_matter(row: dict[str, Any], matter: str) -> bool:
    if row.get("matter_key") == matter:
        return True
    data = (row.get("data") or {}).get("matter") or {}
    return "/" not in matter and data.get("id") == matter


def actor_for(row: dict[str, Any]) -> Actor:
    """The real user who may complete a task row: its owner, a window officer, or an officer of its department."""
    role = row["role"]
    if role == "owner":
        return Actor(row["owner_id"], "owner")
    if role == "window":
        return Actor("window-officer", "window", "window")
    return Actor(f"officer-{row['department']}", role, row["department"])


def default_payload(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec_id"]
    return {
        "Task_SubmitFiling": {},
        "Task_Intake": {"outcome": "complete"},
        "Task_Review": {"decision": "approve"},
        "Task_ReviewSilent": {"decision": "approve"},
        "Task_IssueResult": {"certificate_no": f"证-{row['stage']}"},
        "Task_JointOpinion": {"certificate_no": "联验-001"},
        "Task_EarlyOpinion": {"opinion": "先行验收合格"},
        "Task_PostCheck": {"passed": True},
        "Task_Statement": {"statement": "申请维持许可"},
        "Task_RevocationDecision": {"decision": "keep", "reason": "陈述申辩理由成立"},
        "Task_SupplyDocuments": {"documents": ["补齐材料"]},
        "Task_SignCommitment": {"signatory": "张三", "accepted_terms": True},
        "Task_CorrectFiling": {"supplied": ["补正材料"]},
        "Task_MatterCorrection": {"supplied": ["补正材料"]},
        "Task_SpecialProcedure": {"conclusion": "通过"},
    }.get(spec, {})


# ---------------------------------------------------------------------------------------------- time text
def parse_local(text: str) -> datetime:
    """``"2026-09-29 10:00"`` (or ``"… 24:00"``) in Asia/Shanghai → an aware instant."""
    text = text.strip()
    if text.endswith("24:00"):
        day = datetime.strptime(text[:-5].strip(), "%Y-%m-%d")
        return (day + timedelta(days=1)).replace(tzinfo=SHANGHAI)
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


def fmt_local(value: datetime | str | None) -> str | None:
    """An instant as Asia/Shanghai ``YYYY-MM-DD HH:MM``; local midnight reads ``<previous day> 24:00``."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = value.astimezone(SHANGHAI)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)).date().isoformat()} 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture
def world() -> Iterator[World]:
    """A fresh engine per scenario: in-memory SQLite migrated by Alembic, bundled models, real calendar.

    Warnings are recorded for the whole scenario, so a scenario can assert the calendar's loud
    CalendarDataMissing warning whichever step first touched the uncovered year.
    """
    db = make_engine("sqlite://")
    migrate(db)
    clock = VirtualClock(datetime(2026, 9, 1, 9, 0, tzinfo=SHANGHAI))
    # a calendar of its own: it warns once per uncovered year and instance, so no other test can eat the warning
    svc = ApprovalService(db, catalogue=_CATALOGUE, calendar=WorkCalendar.default(), clock=clock)
    svc.deploy_bundled()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalendarDataMissing)
        yield World(svc=svc, clock=clock, caught=caught)
    db.dispose()


# ---------------------------------------------------------------------------------------------- 假如 (given)
@given(parsers.parse('时钟为 "{at}"'))
def clock_at(world: World, at: str) -> None:
    world.clock.set(parse_local(at))


@given(parsers.parse('建设单位 "{owner}" 申报了一个 "{ptype}" 类型的项目'))
def file_project(world: World, owner: str, ptype: str) -> None:
    world.owner_id = owner
    world.project_id = world.svc.start_project(
        {"name": f"{ptype} 示例项目", "project_type": ptype, "owner_id": owner, "include_planning": False,
         "case": typical_case(ptype)},
        actor=Actor(owner, "owner"),
    )


@given(parsers.parse('建设单位 "{owner}" 申报了一个 "{ptype}" 类型的项目，单位工程如下：'))
def file_project_with_units(world: World, owner: str, ptype: str, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    units = []
    for raw in rows:
        row = dict(zip(header, raw))
        units.append({"id": row["单位工程"], "name": row["名称"], "early_items": _ids(row.get("先行验收事项", ""))})
    world.owner_id = owner
    world.project_id = world.svc.start_project(
        {"name": f"{ptype} 示例项目", "project_type": ptype, "owner_id": owner, "include_planning": False,
         "unit_works": units, "case": typical_case(ptype)},
        actor=Actor(owner, "owner"),
    )


@given(parsers.parse('"{stage}" 阶段已于 "{at}" 全部办结'))
def stage_done(world: World, stage: str, at: str) -> None:
    world.move_to(at)
    world.drive(lambda r: r["stage"] == stage)
    entry = world.timing_entry(stage)
    assert entry["result_label"] == "办结（通过）", entry


@given(parsers.parse('"{stage}" 之前的全部阶段已于 "{at}" 办结'))
def stages_before_done(world: World, stage: str, at: str) -> None:
    world.move_to(at)
    world.drive(lambda r: r["stage"] != stage)
    assert world.ready(stage=stage, spec="Task_SubmitFiling"), f"stage {stage} is not open for filing"


# ---------------------------------------------------------------------------------------------- 当 (when)
@when(parsers.parse('时钟走到 "{at}"'))
def clock_reaches(world: World, at: str) -> None:
    world.move_to(at)


@when(parsers.parse('综合窗口于 "{at}" 受理 "{stage}" 阶段申报（材料齐全）'))
def window_accepts(world: World, at: str, stage: str) -> None:
    world.move_to(at)
    submit_pending_filing(world, stage)
    world.complete(world.one(stage=stage, spec="Task_Intake"), {"outcome": "complete"})


def submit_pending_filing(world: World, stage: str) -> None:
    """A filing is accepted only once submitted: the owner's 提交阶段申报 happens at the same moment."""
    if world.ready(stage=stage, spec="Task_SubmitFiling"):
        world.complete(world.one(stage=stage, spec="Task_SubmitFiling"), {})


@when(parsers.parse('综合窗口于 "{at}" 对 "{stage}" 阶段申报容缺受理，缺少 "{missing}"'))
def window_tolerates(world: World, at: str, stage: str, missing: str) -> None:
    world.move_to(at)
    submit_pending_filing(world, stage)
    row = world.one(stage=stage, spec="Task_Intake")
    try:
        world.complete(row, {"outcome": "tolerance", "missing": _ids(missing)})
        world.error = None
    except Invalid as exc:
        world.error = exc


@when(parsers.parse('建设单位于 "{at}" 签署告知承诺书'))
def owner_signs(world: World, at: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_SignCommitment"), {"signatory": "建设单位法定代表人", "accepted_terms": True})


@when(parsers.parse('建设单位于 "{at}" 补齐 "{stage}" 阶段的容缺材料'))
def owner_supplies(world: World, at: str, stage: str) -> None:
    world.move_to(at)
    world.svc.supply_documents(world.pid, stage, ["宗地测量成果报告"], actor=Actor(world.owner_id or "", "owner"))


@when(parsers.parse('部门 "{dept}" 于 "{at}" 核查通过'))
def post_check_passes(world: World, dept: str, at: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_PostCheck", department=dept), {"passed": True})


@when(parsers.parse('部门 "{dept}" 于 "{at}" 核查不通过，发现 "{findings}"'))
def post_check_fails(world: World, dept: str, at: str, findings: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_PostCheck", department=dept), {"passed": False, "findings": findings})


@when(parsers.parse('部门 "{dept}" 于 "{at}" 批准事项 "{matter}"'))
def dept_approves(world: World, dept: str, at: str, matter: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec=REVIEW_TASKS, department=dept, matter=matter), {"decision": "approve"})


@when(parsers.parse('部门 "{dept}" 于 "{at}" 以 "{reason}" 为由不予许可事项 "{matter}"'))
def dept_refuses(world: World, dept: str, at: str, reason: str, matter: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec=REVIEW_TASKS, department=dept, matter=matter),
                   {"decision": "refuse", "reason": reason})


@when(parsers.parse('部门 "{dept}" 于 "{at}" 要求补正事项 "{matter}"：{items}'))
def dept_requests_correction(world: World, dept: str, at: str, matter: str, items: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec=REVIEW_TASKS, department=dept, matter=matter),
                   {"decision": "correction", "items": _ids(items)})


@when(parsers.parse('建设单位于 "{at}" 提交事项 "{matter}" 的补正材料'))
def owner_corrects(world: World, at: str, matter: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_MatterCorrection", matter=matter), {"supplied": ["更正后的用地红线图"]})


@when(parsers.parse('部门 "{dept}" 于 "{at}" 办结 "{stage}" 阶段的全部事项'))
def dept_finishes_stage(world: World, dept: str, at: str, stage: str) -> None:
    world.move_to(at)
    rows = world.ready(stage=stage, spec=REVIEW_TASKS, department=dept)
    assert rows, f"department {dept} has no ready matter in stage {stage}"
    for row in rows:
        world.complete(row, {"decision": "approve"})


@when(parsers.parse('除 "{depts}" 外的部门于 "{at}" 办结 "{stage}" 阶段的全部事项'))
def other_depts_finish_stage(world: World, depts: str, at: str, stage: str) -> None:
    world.move_to(at)
    keep = set(_ids(depts))
    rows = [r for r in world.ready(stage=stage, spec=REVIEW_TASKS) if r["department"] not in keep]
    assert rows, f"no other department has a ready matter in stage {stage}"
    for row in rows:
        world.complete(row, {"decision": "approve"})


@when(parsers.parse('各部门于 "{at}" 办结 "{stage}" 阶段的全部事项'))
def all_depts_finish_stage(world: World, at: str, stage: str) -> None:
    world.move_to(at)
    rows = world.ready(stage=stage, spec=REVIEW_TASKS)
    assert rows, f"no matter is ready in stage {stage}"
    for row in rows:
        world.complete(row, {"decision": "approve"})


@when(parsers.parse('牵头部门 "{dept}" 于 "{at}" 对 "{stage}" 阶段综合出件'))
def lead_issues(world: World, dept: str, at: str, stage: str) -> None:
    world.move_to(at)
    world.complete(world.one(stage=stage, spec="Task_IssueResult", department=dept),
                   {"certificate_no": f"{stage}-2026-001"})


@when(parsers.parse('牵头部门 "{dept}" 于 "{at}" 对单位工程 "{unit}" 出具先行验收意见'))
def lead_early_opinion(world: World, dept: str, at: str, unit: str) -> None:
    world.move_to(at)
    rows = [r for r in world.ready(spec="Task_EarlyOpinion", department=dept)
            if ((r.get("data") or {}).get("unit") or {}).get("key") == unit]
    assert len(rows) == 1, f"expected one early-acceptance task of unit {unit}, found {len(rows)}"
    world.complete(rows[0], {"opinion": "规划、消防先行验收合格，设备可进场"})


@when(parsers.parse('牵头部门 "{dept}" 于 "{at}" 出具联合验收意见书 "{number}"'))
def lead_joint_opinion(world: World, dept: str, at: str, number: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_JointOpinion", department=dept), {"certificate_no": number})


# ---------------------------------------------------------------------------------------------- 那么 (then)
@then(parsers.parse('"{stage}" 阶段结果为 "{label}"'))
def stage_result_is(world: World, stage: str, label: str) -> None:
    assert world.timing_entry(stage)["result_label"] == label


@then(parsers.parse('"{stage}" 阶段尚未办结，也没有综合出件任务'))
def stage_still_running(world: World, stage: str) -> None:
    entry = world.timing_entry(stage)
    assert entry["end"] is None and entry["result_label"] is None, entry
    assert not world.ready(stage=stage, spec="Task_IssueResult")


@then(parsers.parse('"{stage}" 阶段的综合出件任务只生成一次，由牵头部门 "{dept}" 办理'))
def issue_task_once(world: World, stage: str, dept: str) -> None:
    rows = world.ready(stage=stage, spec="Task_IssueResult", state=None)
    assert len(rows) == 1, f"综合出件 tasks of {stage}: {len(rows)}"
    assert rows[0]["role"] == "lead" and rows[0]["department"] == dept, rows[0]


@then(parsers.parse('"{stage}" 阶段只办结一次'))
def stage_completed_once(world: World, stage: str) -> None:
    assert len(world.events("stage_completed", stage=stage)) == 1


@then(parsers.parse('"{what}" 的跨度用时为 {natural:g} 个自然日、{working:g} 个工作日'))
def span_is(world: World, what: str, natural: float, working: float) -> None:
    entry = world.timing_entry(what)
    assert entry["span_natural_days"] == pytest.approx(natural, abs=1e-4), entry
    assert entry["span_working_days"] == pytest.approx(working, abs=1e-4), entry


@then(parsers.parse('"{what}" 的审批用时为 {days:g} 个工作日'))
def approval_days_is(world: World, what: str, days: float) -> None:
    entry = world.timing_entry(what)
    assert entry["approval_working_days"] == pytest.approx(days, abs=1e-4), entry


@then(parsers.parse('"{what}" 的停表时间为 {days:g} 个工作日'))
def stopped_days_is(world: World, what: str, days: float) -> None:
    entry = world.timing_entry(what)
    assert entry["stopped_working_days"] == pytest.approx(days, abs=1e-4), entry


@then(parsers.parse('"{what}" 的承诺到期时间为 "{due}"'))
def committed_due_is(world: World, what: str, due: str) -> None:
    assert fmt_local(world.timing_entry(what)["committed_due"]) == due


@then(parsers.parse('"{what}" 的法定到期时间为 "{due}"'))
def statutory_due_is(world: World, what: str, due: str) -> None:
    assert fmt_local(world.timing_entry(what)["statutory_due"]) == due


@then(parsers.parse('"{what}" 的计时状态为 "{status}"'))
def status_is(world: World, what: str, status: str) -> None:
    assert world.timing_entry(what)["status"] == status


@then(parsers.parse('"{what}" 的剩余时间为 {days:g} 个工作日'))
def remaining_is(world: World, what: str, days: float) -> None:
    assert world.timing_entry(what)["remaining_working_days"] == pytest.approx(days, abs=1e-4)


@then(parsers.parse('事项 "{matter}" 的待办颜色为 "{colour}"'))
def task_colour_is(world: World, matter: str, colour: str) -> None:
    assert world.one(spec=REVIEW_TASKS, matter=matter)["colour"] == colour


@then(parsers.parse('事项 "{matter}" 于 "{at}" 收到 "{colour}" 预警'))
def warning_at(world: World, matter: str, at: str, colour: str) -> None:
    hits = [e for e in world.events("matter_warning") if (e["matter_key"] == matter or e["matter_id"] == matter)
            and (e.get("data") or {}).get("colour") == colour]
    assert len(hits) == 1, f"{colour} warnings of {matter}: {hits}"
    assert fmt_local(hits[0]["at"]) == at


@then(parsers.parse('事项 "{matter}" 没有 "{colour}" 预警'))
def no_warning(world: World, matter: str, colour: str) -> None:
    assert not [e for e in world.events("matter_warning") if (e["matter_key"] == matter or e["matter_id"] == matter)
                and (e.get("data") or {}).get("colour") == colour]


@then(parsers.parse('事项 "{matter}" 于 "{at}" 超时默许，责任部门为 "{dept}"'))
def silent_consent(world: World, matter: str, at: str, dept: str) -> None:
    entry = world.timing_entry(matter)
    assert entry["outcome"] == "silent_consent" and entry["status"] == "silent_consent", entry
    assert fmt_local(entry["end"]) == at
    assert entry["responsible"]["department"] == dept, entry
    events = [e for e in world.events("silent_consent") if e["matter_id"] == matter or e["matter_key"] == matter]
    assert len(events) == 1 and fmt_local(events[0]["at"]) == at


@then(parsers.parse('事项 "{matter}" 的结果为 "{outcome}"'))
def matter_outcome(world: World, matter: str, outcome: str) -> None:
    assert world.timing_entry(matter)["outcome"] == outcome


@then(parsers.parse('事项 "{matter}" 的不予许可理由 "{reason}" 已记录'))
def refusal_reason(world: World, matter: str, reason: str) -> None:
    hits = [e for e in world.events("matter_completed") if e["matter_id"] == matter]
    assert len(hits) == 1 and hits[0]["data"]["outcome"] == "refused", hits
    assert hits[0]["data"]["reason"] == reason


@then(parsers.parse('项目状态为 "{status}"，结果为 "{result}"'))
def project_state(world: World, status: str, result: str) -> None:
    summary = world.svc.project(world.pid)
    assert (summary["status"], summary["result"]) == (status, result), summary


@then(parsers.parse('项目仍在办理中'))
def project_running(world: World) -> None:
    assert world.svc.project(world.pid)["status"] == "running"


@then(parsers.parse('"{stage}" 阶段等待建设单位申报'))
def stage_open(world: World, stage: str) -> None:
    world.one(stage=stage, spec="Task_SubmitFiling")


@then(parsers.parse('"{stage}" 阶段尚未开始'))
def stage_not_open(world: World, stage: str) -> None:
    assert not world.ready(stage=stage, state=None), f"stage {stage} already has tasks"


@then(parsers.parse('没有任何待办任务'))
def nothing_ready(world: World) -> None:
    assert world.svc.list_tasks(project_id=world.pid) == []


@then(parsers.parse('建设单位收到 "{kind}" 通知'))
def owner_notified(world: World, kind: str) -> None:
    kinds = [n["kind"] for n in world.svc.notifications(world.pid)]
    assert kind in kinds, kinds


@then(parsers.parse('建设单位 "{owner}" 有一条信用记录，原因为 "{reason}"，时间为 "{at}"'))
def credit_record(world: World, owner: str, reason: str, at: str) -> None:
    records = world.svc.credit_records(owner)
    assert len(records) == 1, records
    assert records[0]["reason"] == reason and records[0]["project_id"] == world.pid
    assert fmt_local(records[0]["at"]) == at


@then(parsers.parse('建设单位 "{owner}" 没有信用记录'))
def no_credit(world: World, owner: str) -> None:
    assert world.svc.credit_records(owner) == []


@then(parsers.parse('"{stage}" 阶段的许可于 "{at}" 被撤销，理由为 "{reason}"'))
def permit_revoked(world: World, stage: str, at: str, reason: str) -> None:
    hits = world.events("permit_revoked", stage=stage)
    assert len(hits) == 1, hits
    assert fmt_local(hits[0]["at"]) == at and hits[0]["data"]["reason"] == reason


@then(parsers.parse('容缺受理被拒绝，提示包含 "{text}"'))
def tolerance_refused(world: World, text: str) -> None:
    assert isinstance(world.error, Invalid), world.error
    assert text in str(world.error), str(world.error)


@then(parsers.parse('"{stage}" 阶段的受理任务仍待办理'))
def intake_still_ready(world: World, stage: str) -> None:
    world.one(stage=stage, spec="Task_Intake")
    assert not world.events("stage_accepted", stage=stage)


@then(parsers.parse('"{stage}" 阶段的待办事项为 "{matters}"'))
def ready_matters(world: World, stage: str, matters: str) -> None:
    keys = sorted(r["matter_key"] for r in world.ready(stage=stage, spec=REVIEW_TASKS))
    assert keys == sorted(_ids(matters)), keys


@then(parsers.parse('"{first}" 与 "{second}" 阶段的申报任务同时就绪'))
def intakes_together(world: World, first: str, second: str) -> None:
    a, b = world.one(stage=first, spec="Task_SubmitFiling"), world.one(stage=second, spec="Task_SubmitFiling")
    assert a["created_at"] == b["created_at"], (a["created_at"], b["created_at"])


@then(parsers.parse('"{stage}" 阶段的 "{spec}" 任务共生成 {count:d} 个'))
def task_count(world: World, stage: str, spec: str, count: int) -> None:
    assert len(world.ready(stage=stage, spec=spec, state=None)) == count


@then(parsers.parse('日历发出 CalendarDataMissing 警告，说明 "{year}" 年使用兜底规则'))
def calendar_warned(world: World, year: str) -> None:
    hits = [w for w in world.caught if issubclass(w.category, CalendarDataMissing)]
    assert len(hits) == 1, [str(w.message) for w in hits]
    message = str(hits[0].message)
    assert f"No holiday data for {year}" in message and "fallback rule" in message, message


@then(parsers.parse('日历没有发出 CalendarDataMissing 警告'))
def calendar_quiet(world: World) -> None:
    assert not [w for w in world.caught if issubclass(w.category, CalendarDataMissing)]


# ---------------------------------------------------------------------------------------------- 情形 (the case)
def _answers(ptype: str, text: str) -> dict[str, Any]:
    """The type's typical case with the scenario's answers over it: "k=v; k=a,b" (v true/false, number, text;
    "-" leaves the question unanswered)."""
    case: dict[str, Any] = typical_case(ptype)
    multi = {q.id for q in _CATALOGUE.case.questions if q.type == "multi"}
    for part in text.replace("；", ";").split(";"):
        if not part.strip():
            continue
        key, _, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if raw == "-":
            case.pop(key, None)
        elif key in multi:
            case[key] = _ids(raw)
        elif raw in ("true", "false"):
            case[key] = raw == "true"
        else:
            try:
                case[key] = float(raw)
            except ValueError:
                case[key] = raw
    return case


@given(parsers.parse('建设单位 "{owner}" 申报 "{ptype}" 类型的项目，情形为 "{answers}"'))
def file_project_with_case(world: World, owner: str, answers: str, ptype: str) -> None:
    world.owner_id = owner
    world.project_id = world.svc.start_project(
        {"name": f"{ptype} 示例项目", "project_type": ptype, "owner_id": owner, "include_planning": False,
         "case": _answers(ptype, answers)},
        actor=Actor(owner, "owner"),
    )


@given(parsers.parse('使用 "{profile}" 口径'))
def use_profile(world: World, profile: str) -> None:
    """The jurisdiction's profile (workflows/profiles/<profile>.yaml) on the same database and clock."""
    assert world.project_id is None, "choose the profile before filing"
    world.svc = ApprovalService(world.svc.db, catalogue=load_catalogue(profile), calendar=world.svc.calendar,
                                clock=world.clock)


def _planned(world: World, matter: str) -> dict[str, Any]:
    plan = world.svc.plan(world.pid)
    hits = [m for s in plan["stages"] for m in s["matters"] if m["matter_id"] == matter]
    assert len(hits) == 1, f"{matter} is not a candidate of this project's route"
    return hits[0]


@then(parsers.parse('项目办理事项 "{matter}"'))
def plan_selects(world: World, matter: str) -> None:
    planned = _planned(world, matter)
    assert planned["selected"], planned
    assert planned["rule"]["source"] == "decision_table" and planned["rule"]["text"], planned


@then(parsers.parse('项目不办理事项 "{matter}"，依据为 "{text}"'))
def plan_skips(world: World, matter: str, text: str) -> None:
    planned = _planned(world, matter)
    assert not planned["selected"], planned
    assert text in planned["rule"]["text"], planned["rule"]


@then(parsers.parse('按情形 "{answers}" 申报 "{ptype}" 类型的项目被拒绝，提示包含 "{text}"'))
def filing_refused(world: World, answers: str, ptype: str, text: str) -> None:
    with pytest.raises(Invalid) as refused:
        world.svc.start_project({"name": "x", "project_type": ptype, "owner_id": "owner-x",
                                 "case": _answers(ptype, answers)}, actor=Actor("owner-x", "owner"))
    assert text in str(refused.value), str(refused.value)
    with UnitOfWork(world.svc.db, read_only=True) as uow:  # nothing was filed
        assert uow.projects.list(owner_ids=["owner-x"]) == []


@then(parsers.parse('事项 "{matter}" 正在等待前置事项出证'))
def matter_waits(world: World, matter: str) -> None:
    entry = world.timing_entry(matter)
    assert entry["end"] is None, entry
    waits = [e for e in world.events("clock_stopped") if e["matter_key"] == matter and e["data"]["kind"] == "precondition"]
    resumed = [e for e in world.events("clock_resumed") if e["matter_key"] == matter and e["data"]["kind"] == "precondition"]
    assert len(waits) == len(resumed) + 1, (waits, resumed)
    assert not world.ready(spec=REVIEW_TASKS, matter=matter.split("/")[-1]), "the agency has nothing left to do"


@then(parsers.parse('事项 "{later}" 在事项 "{earlier}" 之后出证'))
def issued_in_order(world: World, later: str, earlier: str) -> None:
    a, b = world.timing_entry(earlier), world.timing_entry(later)
    assert a["end"] is not None and b["end"] is not None, (a, b)
    assert b["end"] >= a["end"], (a["end"], b["end"])


@then(parsers.parse('单位工程 "{unit}" 的验收结果为 "{label}"'))
def unit_result(world: World, unit: str, label: str) -> None:
    from engine.domain.ledger import UNIT_OUTCOME_LABELS

    units = world.timing_entry("S4").get("units") or {}
    assert UNIT_OUTCOME_LABELS.get(units.get(unit, "")) == label, units
    events = [e for e in world.events("unit_completed") if e["data"]["unit"] == unit]
    assert len(events) == 1 and events[0]["data"]["label"] == label, events


@then("单位工程不单独办理竣工验收备案")
def no_unit_filing(world: World) -> None:
    """联合验收意见书 replaces each unit's 竣工验收备案: no matter of S4 is keyed by a unit and is the final one."""
    finals = {m for m, v in _CATALOGUE.matters.items() if v.acceptance_role == "final"}
    ran = [e["matter_key"] for e in world.events("matter_started")] or [
        e["key"] for e in world.svc.timing(world.pid)["matters"]]
    per_unit = [k for k in ran if k.startswith("S4/") and k.count("/") == 2 and k.rsplit("/", 1)[-1] in finals]
    assert not per_unit, per_unit
    assert not [r for r in world.ready(stage="S4", spec=REVIEW_TASKS) if r["matter_key"].rsplit("/", 1)[-1] in finals]


@then(parsers.parse('单位工程 "{unit}" 的先行验收承诺为 "{status}"'))
def early_acceptance_status(world: World, unit: str, status: str) -> None:
    assert (world.timing_entry("S4").get("early_acceptance") or {}).get(unit) == status
    assert [e["data"]["status"] for e in world.events("early_acceptance") if e["data"]["unit"] == unit][-1] == status


@then(parsers.parse('不动产首次登记以 "{matter}" 为前置事项'))
def registration_requires(world: World, matter: str) -> None:
    assert _planned(world, "s5_first_registration")["requires"] == [matter]


@then(parsers.parse('"{stage}" 阶段的关键路径事项为 "{key}"'))
def stage_critical_matter(world: World, stage: str, key: str) -> None:
    """关键路径: the matter that ended last among those that held the stage open (subjects.critical)."""
    from sqlalchemy import select

    from engine.persistence import tables as t

    s = t.subjects
    with world.svc.db.connect() as conn:
        rows = conn.execute(select(s.c.key).where(s.c.project_id == world.pid, s.c.stage == stage,
                                                  s.c.critical.is_(True))).scalars().all()
    assert rows == [key], rows


@then(parsers.parse('"{stage}" 阶段的受理方式为 "{intake}"'))
def stage_intake_kind(world: World, stage: str, intake: str) -> None:
    assert world.timing_entry(stage)["intake"] == intake


@then(parsers.parse('事项 "{matter}" 不再有待办审查任务'))
def no_review_left(world: World, matter: str) -> None:
    assert not world.ready(spec=REVIEW_TASKS, matter=matter)
    cancelled = [e for e in world.events("task_completed") if (e.get("data") or {}).get("cancelled")]
    assert cancelled, "the review task was withdrawn from the agency's inbox"


# ---------------------------------------------------------------------------------------------- 陈述申辩
@when(parsers.parse('建设单位于 "{at}" 陈述申辩："{statement}"'))
def owner_states_case(world: World, at: str, statement: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_Statement"), {"statement": statement})


@when(parsers.parse('牵头部门 "{dept}" 于 "{at}" 作出撤销决定，理由为 "{reason}"'))
def lead_revokes(world: World, dept: str, at: str, reason: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_RevocationDecision", department=dept), {"decision": "revoke", "reason": reason})


@when(parsers.parse('牵头部门 "{dept}" 于 "{at}" 作出维持决定，理由为 "{reason}"'))
def lead_keeps(world: World, dept: str, at: str, reason: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_RevocationDecision", department=dept), {"decision": "keep", "reason": reason})


@then(parsers.parse('建设单位于 "{at}" 收到 "{kind}" 通知'))
def notice_at(world: World, at: str, kind: str) -> None:
    sent = [n for n in world.svc.notifications(world.pid) if n["kind"] == kind]
    assert [fmt_local(n["at"]) for n in sent] == [at], [fmt_local(n["at"]) for n in sent]


# ---------------------------------------------------------------------------------------------- 一窗受理
@given(parsers.parse('建设单位于 "{at}" 提交 "{stage}" 阶段申报'))
def owner_files(world: World, at: str, stage: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_SubmitFiling", stage=stage), {})


@when(parsers.parse('综合窗口于 "{at}" 一次性告知 "{stage}" 阶段缺少 "{missing}"'))
def window_notice(world: World, at: str, stage: str, missing: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_Intake", stage=stage), {"outcome": "incomplete", "missing": _ids(missing)})


@when(parsers.parse('建设单位于 "{at}" 按一次性告知补正'))
def owner_corrects_filing(world: World, at: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_CorrectFiling"), {"supplied": ["补正材料"]})


@then(parsers.parse('综合窗口于 "{at}" 再次告知 "{stage}" 阶段缺少 "{missing}" 被拒绝，提示包含 "{text}"'))
def second_notice_refused(world: World, at: str, stage: str, missing: str, text: str) -> None:
    world.move_to(at)
    row = world.one(spec="Task_Intake", stage=stage)
    with pytest.raises(Invalid) as refused:
        world.complete(row, {"outcome": "incomplete", "missing": _ids(missing)})
    assert text in str(refused.value), str(refused.value)
    assert world.one(spec="Task_Intake", stage=stage)["id"] == row["id"]  # nothing changed


@when(parsers.parse('综合窗口于 "{at}" 以 "{reason}" 为由再次告知 "{stage}" 阶段缺少 "{missing}"'))
def second_notice_with_reason(world: World, at: str, reason: str, stage: str, missing: str) -> None:
    world.move_to(at)
    world.complete(world.one(spec="Task_Intake", stage=stage),
                   {"outcome": "incomplete", "missing": _ids(missing), "new_defect": reason})


@then(parsers.parse('"{stage}" 阶段的一次性告知共 {count:d} 次，第 {n:d} 次的原因为 "{reason}"'))
def notices_counted(world: World, stage: str, count: int, n: int, reason: str) -> None:
    notices = world.events("intake_notice", stage=stage)
    assert len(notices) == count, notices
    assert notices[n - 1]["data"]["notice_no"] == n and notices[n - 1]["data"]["new_defect"] == reason


# ---------------------------------------------------------------------------------------------- 告知承诺制
def _file_committed(world: World, owner: str, matters: str, ptype: str) -> str:
    return world.svc.start_project(
        {"name": f"{ptype} 告知承诺项目", "project_type": ptype, "owner_id": owner, "include_planning": False,
         "case": typical_case(ptype), "commitment_matters": _ids(matters), "commitment_signatory": "法定代表人"},
        actor=Actor(owner, "owner"),
    )


@given(parsers.parse('建设单位 "{owner}" 以告知承诺制申报 "{matters}" 的 "{ptype}" 类型项目'))
def file_committed(world: World, owner: str, matters: str, ptype: str) -> None:
    world.owner_id = owner
    world.project_id = _file_committed(world, owner, matters, ptype)


@when(parsers.parse('建设单位 "{owner}" 以告知承诺制申报 "{matters}" 的 "{ptype}" 类型项目被拒绝，提示包含 "{text}"'))
def file_committed_refused(world: World, owner: str, matters: str, ptype: str, text: str) -> None:
    with pytest.raises(Invalid) as caught:
        _file_committed(world, owner, matters, ptype)
    assert text in str(caught.value), str(caught.value)


@then(parsers.parse('没有立项任何项目'))
def nothing_filed(world: World) -> None:
    from sqlalchemy import func, select

    from engine.persistence import tables

    with world.svc.db.connect() as conn:
        filed = conn.execute(select(func.count()).select_from(tables.projects)).scalar_one()
    assert filed == (1 if world.project_id else 0), "a refused filing files nothing"


@then(parsers.parse('事项 "{matter}" 的办理方式为 "{mode}"'))
def matter_mode(world: World, matter: str, mode: str) -> None:
    planned = [m for s in world.svc.plan(world.pid)["stages"] for m in s["matters"] if m["matter_id"] == matter]
    assert len(planned) == 1 and planned[0]["mode"] == mode, planned


@then(parsers.parse('事项 "{matter}" 的材料 "{material}" 以承诺代替'))
def material_waived(world: World, matter: str, material: str) -> None:
    planned = [m for s in world.svc.plan(world.pid)["stages"] for m in s["matters"] if m["matter_id"] == matter]
    waived = {m["id"] for m in planned[0]["materials"] if m.get("waived_by_commitment")}
    assert waived == {material}, planned[0]["materials"]


@then(parsers.parse('建设单位已就事项 "{matter}" 签署告知承诺书'))
def commitment_signed(world: World, matter: str) -> None:
    hits = world.events("commitment_signed", matter_id=matter)
    assert len(hits) == 1 and hits[0]["data"]["signatory"] == "法定代表人", hits


@when(parsers.parse('综合窗口于 "{at}" 将 "{stage}" 阶段的 "{missing}" 列为缺件被拒绝，提示包含 "{text}"'))
def window_lists_waived(world: World, at: str, stage: str, missing: str, text: str) -> None:
    world.move_to(at)
    submit_pending_filing(world, stage)
    with pytest.raises(Invalid) as caught:
        world.complete(world.one(stage=stage, spec="Task_Intake"), {"outcome": "incomplete", "missing": _ids(missing)})
    assert text in str(caught.value), str(caught.value)
    assert not world.events("intake_notice", stage=stage), "a refused notice leaves nothing behind"


@then(parsers.parse('事项 "{matter}" 的结果标签为 "{label}"'))
def matter_label(world: World, matter: str, label: str) -> None:
    assert world.timing_entry(matter)["result_label"] == label


@then(parsers.parse('部门 "{dept}" 有一项事项 "{matter}" 的核查任务'))
def post_check_task(world: World, dept: str, matter: str) -> None:
    world.one(spec="Task_PostCheck", department=dept, matter=matter)


@then(parsers.parse('建设单位收到 "{kind}" 通知，内容包含 "{text}"'))
def owner_notified_with(world: World, kind: str, text: str) -> None:
    bodies = [n["body"] for n in world.svc.notifications(world.pid) if n["kind"] == kind]
    assert any(text in body for body in bodies), bodies


@then(parsers.parse('事项 "{matter}" 的许可于 "{at}" 被撤销'))
def matter_revoked(world: World, matter: str, at: str) -> None:
    hits = [e for e in world.events("permit_revoked") if matter in (e["matter_id"], e["matter_key"])]
    assert len(hits) == 1 and hits[0]["matter_key"], hits
    assert fmt_local(hits[0]["at"]) == at
    assert world.timing_entry(matter)["outcome"] == "revoked"


@then(parsers.parse('事项 "{matter}" 仍有待办审查任务'))
def review_left(world: World, matter: str) -> None:
    world.one(spec=REVIEW_TASKS, matter=matter)


@given(parsers.parse('管理员记录建设单位 "{owner}" 的失信信息 "{reason}"'))
def admin_records_credit(world: World, owner: str, reason: str) -> None:
    world.svc.record_credit(owner, reason, actor=Actor("root-admin", "admin"))


@then(parsers.parse('事项 "{matter}" 的停表均已结束'))
def stops_closed(world: World, matter: str) -> None:
    entry = world.timing_entry(matter)
    assert entry["clock_stops"] and all(stop["end"] is not None for stop in entry["clock_stops"]), entry["clock_stops"]



# ---------------------------------------------------------------------------------------------- 电子证照
def _certificate(world: World, type_name: str) -> dict[str, Any]:
    certs = [c for c in world.svc.certificates.page(Actor(world.owner_id or "", "owner"), project_id=world.pid,
                                                    limit=1000)[0] if c["type_name"] == type_name]
    assert len(certs) == 1, f"expected one {type_name}, found {[c['number'] for c in certs]}"
    return certs[0]


@then(parsers.parse('项目持有有效的 "{type_name}"，由部门 "{dept}" 签发，编号以 "{prefix}" 开头'))
def holds_certificate(world: World, type_name: str, dept: str, prefix: str) -> None:
    cert = _certificate(world, type_name)
    assert cert["status"] == "valid" and cert["department"] == dept and cert["number"].startswith(prefix), cert
    assert cert["holder"]["owner_id"] == world.owner_id


@then(parsers.parse('"{stage}" 阶段申报的 "{material}" 免于提交，来源为 "{type_name}" 的编号'))
def material_exempted(world: World, stage: str, material: str, type_name: str) -> None:
    cert = _certificate(world, type_name)
    filed = world.events("stage_submitted", stage=stage)[-1]["data"]
    found = [e for e in filed.get("exempted") or [] if e["material"].endswith(f":{material}")]
    assert found and all(e["certificate"] == cert["number"] and e["label"] == "免于提交" for e in found), filed
    assert all(e["material"] in filed["materials"] for e in found)


@then(parsers.parse('"{stage}" 阶段申报的 "{material}" 不免于提交'))
def material_not_exempted(world: World, stage: str, material: str) -> None:
    filed = world.events("stage_submitted", stage=stage)[-1]["data"]
    assert not [e for e in filed.get("exempted") or [] if e["material"].endswith(f":{material}")], filed


@then(parsers.parse('综合窗口于 "{at}" 一次性告知 "{stage}" 阶段缺少 "{missing}" 被拒绝，提示包含 "{text}"'))
def window_notice_refused(world: World, at: str, stage: str, missing: str, text: str) -> None:
    world.move_to(at)
    with pytest.raises(Invalid) as err:
        world.complete(world.one(spec="Task_Intake", stage=stage), {"outcome": "incomplete", "missing": _ids(missing)})
    assert text in str(err.value), str(err.value)
    assert world.one(spec="Task_Intake", stage=stage), "the intake is still open: nothing changed"


@when(parsers.parse('"{matter_key}" 的许可于 "{at}" 被撤销，原因为 "{reason}"'))
def permit_revoked(world: World, matter_key: str, at: str, reason: str) -> None:
    """The ledger event the 撤销 of one permit writes (``permit_revoked`` with its ``matter_key``, the contract the
    certificates project), through a service step so that the event and the certificate commit together."""
    from engine.domain.actors import SYSTEM
    from engine.domain.ledger import Event

    world.move_to(at)
    stage = matter_key.split("/")[0]

    def work(uow, project, runtime, workflow, ctx):  # noqa: ANN001
        ctx.ledger.emit(Event("permit_revoked", ctx.now, stage=stage, matter_key=matter_key, data={"reason": reason}))

    world.svc._operate(world.pid, SYSTEM, work)


@then(parsers.parse('项目的 "{type_name}" 状态为 "{label}"'))
def certificate_status(world: World, type_name: str, label: str) -> None:
    assert _certificate(world, type_name)["status_label"] == label


@when(parsers.parse('建设单位设置项目代码 "{code}"'))
def owner_sets_code(world: World, code: str) -> None:
    world.seen["events_before"] = len(world.svc.events(world.pid))
    try:
        world.svc.certificates.set_project_code(world.pid, code, actor=Actor(world.owner_id or "", "owner"))
        world.error = None
    except Invalid as exc:
        world.error = exc


@then(parsers.parse('设置被拒绝（422），提示包含 "{text}"'))
def code_refused(world: World, text: str) -> None:
    assert world.error is not None and text in str(world.error), world.error
    assert world.error.status == 422  # the problem document's status (api/problems.py)


@then("项目没有项目代码，事件日志没有变化")
def code_unchanged(world: World) -> None:
    assert world.svc.project(world.pid)["project_code"] is None
    assert len(world.svc.events(world.pid)) == world.seen["events_before"]


@then(parsers.parse('项目的每一份电子证照都显示项目代码 "{code}"'))
def code_on_certificates(world: World, code: str) -> None:
    certs = world.svc.certificates.page(Actor(world.owner_id or "", "owner"), project_id=world.pid, limit=1000)[0]
    assert certs and all(c["project_code"] == code for c in certs)
    assert world.svc.project(world.pid)["project_code"] == code


@when(parsers.parse('建设单位于 "{at}" 提交 "{stage}" 阶段申报'))
def owner_files_now(world: World, at: str, stage: str) -> None:
    owner_files(world, at, stage)


# ---------------------------------------------------------------------------------------------- 一次性告知的补正期限
@given(parsers.parse('地方口径的窗口补正期限为 {days:d} 个工作日'))
def window_correction_limit(world: World, days: int, tmp_path: Path) -> None:
    """The default profile with ``correction.intake_limit_wd`` set (a jurisdiction's own file, loaded and validated)."""
    assert world.project_id is None, "choose the profile before filing"
    source = Path(load_catalogue().profile_path)
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data.setdefault("correction", {})["intake_limit_wd"] = days
    profile = tmp_path / "window_limit.yaml"
    profile.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    world.svc = ApprovalService(world.svc.db, catalogue=load_catalogue(str(profile)), calendar=world.svc.calendar,
                                clock=world.clock)
    world.svc.deploy_bundled()


@then(parsers.parse('"{stage}" 阶段于 "{at}" 视为撤回，未受理、不计时'))
def filing_withdrawn(world: World, stage: str, at: str) -> None:
    ended = world.events("stage_completed", stage=stage)
    assert [(fmt_local(e["at"]), e["data"]["result"], e["data"]["label"]) for e in ended] == \
        [(at, "withdrawn", "视为撤回（逾期未补正）")], ended
    assert not world.events("stage_accepted", stage=stage), "a withdrawn filing was never accepted"
    assert stage not in [s["key"] for s in world.svc.timing(world.pid)["stages"]], "and is never timed"


@then(parsers.parse('"{stage}" 阶段申报的受理用时：申报至{outcome}共 {natural:g} 个自然日，窗口用时 {used:d} 个工作日（补正 {stops:d} 次不计），{status}'))
def filing_time(world: World, stage: str, outcome: str, natural: float, used: int, stops: int, status: str) -> None:
    """受理用时: the filing's subject, from its first submission to the window's decision; the owner's 补正 is a
    clock stop, so the working days used are the window's own (against its limit, 行政许可法第三十二条)."""
    [entry] = [f for f in world.svc.timing(world.pid)["filings"] if f["stage"] == stage]
    outcomes = {"受理": "accepted", "视为受理": "deemed", "视为撤回": "withdrawn"}
    assert entry["outcome"] == outcomes[outcome], entry
    assert entry["span_natural_days"] == natural, entry
    assert entry["approval_days_used"] == used, (entry["start"], entry["end"], entry["committed_due"], entry["span_natural_days"])
    assert len(entry["clock_stops"]) == stops and all(s["end"] for s in entry["clock_stops"]), entry["clock_stops"]
    assert entry["statutory_overdue"] is (status == "超过窗口时限"), entry
    assert status in ("未超过窗口时限", "超过窗口时限"), status


@then(parsers.parse('全流程于 "{stage}" 阶段办结时结束，停表均已结束'))
def whole_process_ends_with(world: World, stage: str) -> None:
    whole, last = world.timing_entry("project"), world.timing_entry(stage)
    assert whole["end"] == last["end"], (whole["end"], last["end"])
    assert all(stop["end"] is not None for stop in whole["clock_stops"]), whole["clock_stops"]


@then(parsers.parse('建设单位没有收到 "{kind}" 通知'))
def owner_not_notified(world: World, kind: str) -> None:
    assert kind not in [n["kind"] for n in world.svc.notifications(world.pid)]


@then(parsers.parse('项目办结事件的结果为 "{label}"，列出已撤销的许可 "{keys}"'))
def completed_with_revocations(world: World, label: str, keys: str) -> None:
    done = world.events("project_completed")
    assert len(done) == 1, done
    data = done[0]["data"]
    assert data["label"] == label, data
    assert [m["matter_key"] for m in data["revoked_matters"]] == _ids(keys), data


@then(parsers.parse('事项 "{matter}" 终止，理由包含 "{text}"'))
def matter_terminated_because(world: World, matter: str, text: str) -> None:
    hits = [e for e in world.events("matter_completed") if matter in (e["matter_id"], e["matter_key"])]
    assert len(hits) == 1 and hits[0]["data"]["outcome"] == "terminated", hits
    assert text in hits[0]["data"]["reason"], hits[0]["data"]["reason"]

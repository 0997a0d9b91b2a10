"""Scenario files: a timestamped list of actions replayed exactly on a virtual clock.

A scenario reproduces one case to the second — what an analyst or a test needs to check a timing by
hand. Format (YAML)::

    start: 2026-09-28T09:00:00+08:00      # the virtual clock starts here (Asia/Shanghai if no offset)
    profile: default                      # catalogue profile (jurisdiction)
    projects:
      - id: P1
        project_type: social_general
        owner: o1
        unit_works: [{id: U1, name: 1号楼}]  # optional; also name, owner_credit_good, include_planning …
    actions:
      - {at: "2026-09-28T10:00+08:00", project: P1, do: accept, stage: S1}
      - {at: "2026-09-29T15:00+08:00", do: approve, matter: s1_project_ratification}
      - {do: request_correction, matter: s1_energy_review, items: [节能报告补充]}
      - {at: "2026-10-12T09:00+08:00", do: run_until}

Each action names what it does (``do``), which project (optional when there is one), and the task it
completes by ``stage`` / ``matter`` (a matter id, or a full key such as ``S4/U1/s4_fire_acceptance``) /
``unit``. The replay finds that one ready task, completes it with the proper payload as the proper actor
(the owner, a window officer, or an officer of the task's department — or ``actor: {id, role,
department}`` to test the guards), and fires every timer the clock passes on the way. ``at`` is optional
(default: the previous action's time) and never goes back.

Anything wrong — an unknown field, no such ready task, a payload the engine refuses — raises
:class:`ScenarioError` with one line naming the action number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from engine.clock import VirtualClock
from engine.domain.project import ProjectFiling
from engine.domain.actors import Actor
from engine.domain.tasks import TaskIds
from engine.services.approval import ApprovalService
from engine.services.errors import Conflict, Forbidden, Invalid, NotFound
from engine.simulation.cases import typical_case
from engine.simulation.driver import Driver
from engine.simulation.workload import Workload

SHANGHAI = ZoneInfo("Asia/Shanghai")

_REVIEW = (TaskIds.REVIEW, TaskIds.REVIEW_SILENT)

#: do → (task kinds it completes, fields it accepts besides at/project/do/actor/note)
ACTIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "submit": ((TaskIds.SUBMIT_FILING,), frozenset({"stage", "materials", "declared_missing"})),
    "accept": ((TaskIds.INTAKE,), frozenset({"stage"})),
    "intake": ((TaskIds.INTAKE,), frozenset({"stage", "outcome", "missing"})),
    "correct_filing": ((TaskIds.CORRECT_FILING,), frozenset({"stage", "supplied"})),
    "sign_commitment": ((TaskIds.SIGN_COMMITMENT,), frozenset({"stage", "signatory"})),
    "approve": (_REVIEW, frozenset({"stage", "matter", "unit", "certificate_no"})),
    "refuse": (_REVIEW, frozenset({"stage", "matter", "unit", "reason"})),
    "request_correction": (_REVIEW, frozenset({"stage", "matter", "unit", "items"})),
    "resubmit": ((TaskIds.MATTER_CORRECTION,), frozenset({"stage", "matter", "unit", "supplied"})),
    "start_special": (_REVIEW, frozenset({"stage", "matter", "unit", "procedure"})),
    "end_special": ((TaskIds.SPECIAL_PROCEDURE,), frozenset({"stage", "matter", "unit", "conclusion"})),
    "supply_documents": ((TaskIds.SUPPLY_DOCUMENTS,), frozenset({"stage", "documents"})),
    "post_check": ((TaskIds.POST_CHECK,), frozenset({"stage", "matter", "passed", "findings"})),
    "state_case": ((TaskIds.STATEMENT,), frozenset({"stage", "statement"})),
    "decide_revocation": ((TaskIds.REVOCATION_DECISION,), frozenset({"stage", "decision", "reason"})),
    "issue": ((TaskIds.ISSUE_RESULT,), frozenset({"stage", "certificate_no", "opinion"})),
    "early_opinion": ((TaskIds.EARLY_OPINION,), frozenset({"stage", "unit", "certificate_no", "opinion"})),
    "joint_opinion": ((TaskIds.JOINT_OPINION,), frozenset({"stage", "certificate_no", "opinion"})),
    "run_until": ((), frozenset()),
}
_COMMON = frozenset({"at", "project", "do", "actor", "note"})
_TOP = frozenset({"name", "description", "start", "profile", "projects", "actions"})
# a project takes every filing field (the filing model checks their values), so a new one needs no change here
_PROJECT_FIELDS = frozenset({"id", "at", "owner"}) | frozenset(ProjectFiling.model_fields)


class ScenarioError(ValueError):
    """A scenario that cannot be replayed; the message is one line and names the action."""


@dataclass
class ScenarioProject:
    id: str
    at: datetime
    filing: dict[str, Any]


@dataclass
class Scenario:
    start: datetime
    profile: str
    projects: list[ScenarioProject]
    actions: list[dict[str, Any]]
    name: str | None = None
    source: str | None = None
    times: list[datetime] = field(default_factory=list)


def parse_instant(value: Any, where: str) -> datetime:
    """An ISO 8601 instant; without an offset it is Asia/Shanghai (where the approvals happen)."""
    if isinstance(value, datetime):
        instant = value
    elif isinstance(value, date):
        instant = datetime.combine(value, time(9, 0))
    elif isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScenarioError(f"{where}: '{value}' is not an ISO 8601 date-time (e.g. 2026-09-28T09:00+08:00)") from None
    else:
        raise ScenarioError(f"{where}: expected a date-time, got {value!r}")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=SHANGHAI)
    return instant.astimezone(timezone.utc)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}:{where} is not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return parse_scenario(raw, source=str(path))


def parse_scenario(raw: Any, *, source: str | None = None) -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario is a mapping with start, projects and actions")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise ScenarioError(f"unknown top-level field(s) {', '.join(unknown)} (known: {', '.join(sorted(_TOP))})")
    if "start" not in raw:
        raise ScenarioError("the scenario needs 'start' (the virtual clock's first instant)")
    start = parse_instant(raw["start"], "start")
    projects_raw = raw.get("projects") or []
    if not isinstance(projects_raw, list) or not projects_raw:
        raise ScenarioError("the scenario needs 'projects': a list of at least one project")
    projects: list[ScenarioProject] = []
    for i, p in enumerate(projects_raw, 1):
        where = f"project {i}"
        if not isinstance(p, dict):
            raise ScenarioError(f"{where}: expected a mapping")
        bad = sorted(set(p) - _PROJECT_FIELDS)
        if bad:
            raise ScenarioError(f"{where}: unknown field(s) {', '.join(bad)}")
        if "id" not in p or "project_type" not in p:
            raise ScenarioError(f"{where}: needs 'id' and 'project_type'")
        pid = str(p["id"])
        filing = {k: v for k, v in p.items() if k not in ("id", "at", "owner")}
        filing["owner_id"] = str(p.get("owner") or p.get("owner_id") or f"owner-{pid}")
        filing.setdefault("name", f"场景项目 {pid}")
        if "case" not in filing:  # a scenario may omit the 情形: the type's typical case (engine.simulation.cases)
            try:
                filing["case"] = typical_case(str(p["project_type"]))
            except KeyError:
                raise ScenarioError(f"{where}: give 'case' (情形 answers) for project type {p['project_type']!r}") from None
        at = parse_instant(p["at"], f"{where}.at") if "at" in p else start
        projects.append(ScenarioProject(pid, max(at, start), filing))
    ids = [p.id for p in projects]
    if len(set(ids)) != len(ids):
        raise ScenarioError("project ids must be unique")
    actions_raw = raw.get("actions") or []
    if not isinstance(actions_raw, list):
        raise ScenarioError("'actions' must be a list")
    actions: list[dict[str, Any]] = []
    times: list[datetime] = []
    previous = start
    for n, a in enumerate(actions_raw, 1):
        if not isinstance(a, dict):
            raise ScenarioError(f"action {n}: expected a mapping with 'do'")
        do = a.get("do")
        if do not in ACTIONS:
            raise ScenarioError(f"action {n}: unknown do '{do}' (known: {', '.join(ACTIONS)})")
        allowed = _COMMON | ACTIONS[do][1]
        bad = sorted(set(a) - allowed)
        if bad:
            raise ScenarioError(f"action {n} ({do}): unknown field(s) {', '.join(bad)} "
                                f"(allowed: {', '.join(sorted(allowed - {'do'}))})")
        at = parse_instant(a["at"], f"action {n} ({do}).at") if "at" in a else previous
        if at < previous:
            raise ScenarioError(f"action {n} ({do}): at {a['at']} is before the previous action; the clock never goes back")
        if do == "run_until" and "at" not in a:
            raise ScenarioError(f"action {n} (run_until): needs 'at'")
        project = a.get("project")
        if project is None:
            if len(projects) != 1:
                raise ScenarioError(f"action {n} ({do}): say which 'project' (the scenario has several)")
            project = projects[0].id
        elif str(project) not in ids:
            raise ScenarioError(f"action {n} ({do}): unknown project '{project}' (known: {', '.join(ids)})")
        actions.append({**a, "project": str(project)})
        times.append(at)
        previous = at
    return Scenario(start=start, profile=str(raw.get("profile") or "default"), projects=projects, actions=actions,
                    name=raw.get("name"), source=source, times=times)


def payload_for(action: dict[str, Any]) -> dict[str, Any]:
    do = action["do"]
    if do == "submit":
        return {"materials": list(action.get("materials") or []),
                "declared_missing": list(action.get("declared_missing") or [])}
    if do == "accept":
        return {"outcome": "complete"}
    if do == "intake":
        out = {"outcome": action.get("outcome", "complete")}
        if action.get("missing"):
            out["missing"] = list(action["missing"])
        return out
    if do in ("correct_filing", "resubmit"):
        return {"supplied": list(action.get("supplied") or [])}
    if do == "sign_commitment":
        return {"signatory": action.get("signatory") or "法定代表人", "accepted_terms": True}
    if do == "approve":
        return {"decision": "approve", **({"certificate_no": action["certificate_no"]} if action.get("certificate_no") else {})}
    if do == "refuse":
        return {"decision": "refuse", "reason": action.get("reason")}
    if do == "request_correction":
        return {"decision": "correction", "items": list(action.get("items") or [])}
    if do == "start_special":
        return {"decision": "special", "procedure": action.get("procedure")}
    if do == "end_special":
        return {"conclusion": action.get("conclusion") or "同意"}
    if do == "supply_documents":
        return {"documents": list(action.get("documents") or ["容缺材料"])}
    if do == "state_case":
        return {"statement": action.get("statement") or "申请维持许可"}
    if do == "decide_revocation":
        return {"decision": action.get("decision", "revoke"), "reason": action.get("reason") or "陈述申辩理由不成立"}
    if do == "post_check":
        out = {"passed": action.get("passed", True)}
        if action.get("findings"):
            out["findings"] = action["findings"]
        return out
    return {k: action[k] for k in ("certificate_no", "opinion") if action.get(k)}


def _matches(task: dict[str, Any], action: dict[str, Any]) -> bool:
    if action.get("stage") and task.get("stage") != action["stage"]:
        return False
    key = task.get("matter_key") or ""
    matter = action.get("matter")
    if matter and not (key == matter or key.endswith("/" + str(matter))):
        return False
    unit = action.get("unit")
    if unit:
        data_unit = (task.get("data") or {}).get("unit")
        unit_key = data_unit.get("key") if isinstance(data_unit, dict) else data_unit
        if unit_key != unit and f"/{unit}/" not in key:
            return False
    return True


def _describe(task: dict[str, Any]) -> str:
    bits = [task["spec_id"], task.get("stage") or ""]
    if task.get("matter_key"):
        bits.append(task["matter_key"])
    return " ".join(b for b in bits if b)


@dataclass
class ReplayResult:
    scenario: Scenario
    timings: dict[str, dict[str, Any]]
    projects: dict[str, dict[str, Any]]
    finished_at: datetime
    timers_fired: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name or self.scenario.source,
            "profile": self.scenario.profile,
            "measured_at": self.finished_at.isoformat(),
            "timers_fired": self.timers_fired,
            "projects": [{**self.projects[pid], "timing": self.timings[pid]} for pid in self.projects],
        }


def replay(scenario: Scenario, service: ApprovalService, clock: VirtualClock) -> ReplayResult:
    """Replay every action in order; raise :class:`ScenarioError` naming the first action that fails."""
    driver = Driver(service, clock)
    pending = sorted(scenario.projects, key=lambda p: p.at)

    def start_due(until: datetime) -> None:
        while pending and pending[0].at <= until:
            project = pending.pop(0)
            driver.advance_to(project.at)
            try:
                service.start_project(project.filing, actor=Actor(project.filing["owner_id"], "owner"),
                                      project_id=project.id)
            except (Invalid, Conflict, Forbidden, NotFound) as exc:
                raise ScenarioError(f"project {project.id}: {_one_line(exc)}") from None
            except ValueError as exc:  # the filing's own validation (pydantic)
                raise ScenarioError(f"project {project.id}: {_one_line(exc)}") from None

    for n, (action, at) in enumerate(zip(scenario.actions, scenario.times, strict=True), 1):
        do = action["do"]
        start_due(at)
        driver.advance_to(at)
        if do == "run_until":
            continue
        if any(p.id == action["project"] for p in pending):
            raise ScenarioError(f"action {n} ({do}): project {action['project']} has not started yet")
        specs = ACTIONS[do][0]
        ready = service.list_tasks(project_id=action["project"])
        candidates = [t for t in ready if t["spec_id"] in specs and _matches(t, action)]
        if not candidates:
            what = ", ".join(f"{k}={action[k]}" for k in ("stage", "matter", "unit") if action.get(k)) or "any"
            have = "; ".join(sorted(_describe(t) for t in ready)) or "none"
            raise ScenarioError(f"action {n} ({do}): project {action['project']} has no ready "
                                f"{'/'.join(specs)} task for {what} at {at.isoformat()} (ready: {have})")
        if len(candidates) > 1:
            have = "; ".join(sorted(_describe(t) for t in candidates))
            raise ScenarioError(f"action {n} ({do}): several ready tasks match ({have}); add stage, matter or unit")
        task = candidates[0]
        actor = _actor(action, task, n)
        try:
            service.complete_task(task["id"], payload_for(action), actor=actor)
        except (Invalid, Conflict, Forbidden, NotFound) as exc:
            raise ScenarioError(f"action {n} ({do}): {_one_line(exc)}") from None
    start_due(clock.now())
    timings = {p.id: service.timing(p.id) for p in scenario.projects if not any(q.id == p.id for q in pending)}
    projects = {pid: service.project(pid) for pid in timings}
    return ReplayResult(scenario, timings, projects, clock.now(), driver.timers_fired)


def _actor(action: dict[str, Any], task: dict[str, Any], n: int) -> Actor:
    spec = action.get("actor")
    if spec is None:
        return Workload.actor_for(task)
    if not isinstance(spec, dict) or "id" not in spec or "role" not in spec:
        raise ScenarioError(f"action {n} ({action['do']}): actor needs id and role (and department for officers)")
    return Actor(str(spec["id"]), spec["role"], spec.get("department"),
                 frozenset(str(o) for o in spec.get("owner_ids") or ()))


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    return " ".join(text.split())

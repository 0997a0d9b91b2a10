"""A seeded synthetic workload: which projects arrive, and how every actor behaves on every task.

Why seeded by *names* and not by one stream: each decision draws from its own ``random.Random`` seeded
with ``seed/project/task-kind/key/round``. A decision therefore never depends on the order in which the
driver happens to meet tasks, so the same seed gives the same run (and the same report) every time,
and changing one knob changes only the decisions it touches.

The behaviour is meant to be plausible, not calibrated: agencies answer within a lognormal share of their
committed limit (a few "slow" agencies overrun it — overdue matters, and 超时默许 where the matter allows
silent consent); owners take days to file the next stage, to correct (补正) and to supply tolerated
materials; a few owners break their commitment (告知承诺) and lose the permit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.domain.actors import Actor
from engine.domain.catalogue import Catalogue
from engine.domain.tasks import TaskIds
from engine.domain.workcalendar import WorkCalendar
from engine.simulation.cases import draw_case

#: Share of each project type in a batch (small low-risk projects are the most frequent, and cheapest).
DEFAULT_MIX: dict[str, float] = {
    "social_small": 0.55,
    "social_general": 0.15,
    "land_with_scheme": 0.10,
    "gov_building": 0.10,
    "gov_municipal": 0.10,
}

UNIT_NAMES = ("1号楼", "2号楼", "3号楼", "地下车库", "配套用房")
#: Of 策划生成 (S0) filings, the share that hand in a regional assessment's results (区域评估成果; drawn on its own
#: stream, so no other draw changes).
REGIONAL_ASSESSMENT_P = 0.4


@dataclass(frozen=True)
class WorkloadSettings:
    """The knobs of the synthetic workload; the defaults give a realistic mixed batch."""

    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    arrival_working_days: float = 15.0
    """Projects arrive spread over this many working days after the start."""
    unit_weights: tuple[float, ...] = (0.9, 0.08, 0.02)
    """Probability of 1, 2, 3 … unit works (单位工程)."""
    early_acceptance_p: float = 0.5
    """Probability that a multi-unit project accepts one unit's fire/planning items first (先行验收)."""
    owner_next_stage_days: tuple[float, float] = (2.0, 12.0)
    """Natural days the owner takes to file the next stage (uniform)."""
    intake_incomplete_p: float = 0.08
    abandon_correction_p: float = 0.05
    """Of 一次性告知 at the window: the owner never corrects the filing (the deadline makes it 视为撤回)."""
    intake_tolerance_p: float = 0.06
    broken_promise_p: float = 0.15
    """Of tolerance filings: the owner never supplies the documents (the deadline timer revokes the permit)."""
    post_check_fail_p: float = 0.05
    commitment_p: float = 0.3
    """Of projects whose plan has 告知承诺制 matters (and whose owner's credit allows it): the share that files
    some of them on a signed commitment."""
    commitment_check_fail_p: float = 0.12
    """核查 of a matter decided on a commitment finds the promise broken (陈述申辩, then mostly 撤销)."""
    correction_p: float = 0.06
    special_p: float = 0.08
    refuse_p: float = 0.003
    agency_share_median: float = 0.35
    """Agencies answer in this share of the committed limit (median of a lognormal)."""
    agency_share_sigma: float = 0.35
    slow_departments: tuple[str, ...] = ("yl", "jt")
    """Agencies that often overrun their limit; for silent-consent matters that means 超时默许."""
    slow_share_median: float = 0.7
    slow_share_sigma: float = 0.35
    credit_bad_p: float = 0.05
    planning_stage_p: float = 0.5
    """Of the project types whose route has 策划生成 (S0), the share that goes through it in the system."""
    response_lognormal: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Department → (mean, sd) of log working days an agency takes to answer, fitted from a log
    (``gongai simulate --fit-from``); replaces the share-of-limit rule for those departments."""


@dataclass(frozen=True)
class ProjectPlan:
    id: str
    arrival: datetime
    filing: dict[str, Any]
    bad_credit: bool = False
    """The owner has a 失信 record before it files (recorded by the driver as external credit information)."""


@dataclass(frozen=True)
class Decision:
    """What an actor does with a ready task, and when."""

    at: datetime
    payload: dict[str, Any]
    actor: Actor


class Workload:
    """Generates the projects of a batch and decides every task completion, deterministically for a seed."""

    def __init__(self, catalogue: Catalogue, calendar: WorkCalendar, *, seed: int = 7,
                 settings: WorkloadSettings | None = None) -> None:
        self.catalogue = catalogue
        self.calendar = calendar
        self.seed = seed
        self.settings = settings or WorkloadSettings()
        self._rounds: dict[tuple[str, str], int] = {}
        self._filings: dict[str, dict[str, Any]] = {}
        self._bad_credit: set[str] = set()
        self._matters: dict[str, dict[str, set[str]]] = {}  # project → stage → matters its case selected
        self._filed: dict[str, set[str]] = {}  # stages each project has filed (the first is filed on arrival)

    # -- randomness ---------------------------------------------------------------------------------------------
    def rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(str(p) for p in (self.seed, *parts)))

    def _round(self, project_id: str, key: str) -> int:
        n = self._rounds.get((project_id, key), 0)
        self._rounds[(project_id, key)] = n + 1
        return n

    # -- projects -----------------------------------------------------------------------------------------------
    def projects(self, count: int, start: datetime, *, prefix: str = "SIM") -> list[ProjectPlan]:
        """``count`` projects arriving over the first working days after ``start``, in arrival order."""
        s = self.settings
        types = [t for t in s.mix if t in self.catalogue.project_types]
        weights = [s.mix[t] for t in types]
        divisions = self.divisions()
        plans = []
        for i in range(count):
            rng = self.rng("project", i)
            ptype = rng.choices(types, weights)[0]
            n_units = rng.choices(range(1, len(s.unit_weights) + 1), s.unit_weights)[0]
            items = [m.id for m in self.catalogue.matters_for(ptype, "S4") if m.acceptance_role == "item"]
            early_ok = [i for i in ("s4_fire_acceptance", "s4_planning_verification") if i in items]
            units = []
            for u in range(n_units):
                unit: dict[str, Any] = {"id": f"U{u + 1}", "name": UNIT_NAMES[u % len(UNIT_NAMES)]}
                if u == 0 and n_units > 1 and early_ok and rng.random() < s.early_acceptance_p:
                    unit["early_items"] = [rng.choice(early_ok)]
                units.append(unit)
            pid = f"{prefix}-{i + 1:04d}"
            filing = {
                "name": f"{self.catalogue.project_type(ptype).name}示例项目{i + 1}",
                "project_type": ptype,
                "owner_id": f"owner-{i + 1:04d}",
                "case": draw_case(ptype, rng),
                "investment_wan_yuan": round(rng.lognormvariate(math.log(8000), 0.8), 1),
                "floor_area_m2": round(rng.lognormvariate(math.log(20000), 0.7)),
                "unit_works": units,
            }
            if self.catalogue.project_type(ptype).planning_stage:
                filing["include_planning"] = rng.random() < s.planning_stage_p
            if divisions:  # 行政区划: its own stream, so adding it changed none of the other draws
                filing["division_code"] = self.rng("division", i).choice(divisions)
            arrival = self.calendar.add_working_time(start, rng.uniform(0, s.arrival_working_days))
            plans.append(ProjectPlan(pid, arrival, filing, bad_credit=rng.random() < s.credit_bad_p))
            if plans[-1].bad_credit:
                self._bad_credit.add(pid)
            self._filings[pid] = filing
        plans.sort(key=lambda p: (p.arrival, p.id))
        return plans

    def commitment_matters(self, plan: ProjectPlan, selected: list[str]) -> list[str]:
        """告知承诺制 at filing: which of the selected matters allowing it the owner files on a commitment (its own
        random stream, so adding it changed none of the other draws; never for an owner with a 失信 record)."""
        allowed = [m for m in selected if m in self.catalogue.matters and self.catalogue.matter(m).commitment_allowed]
        rng = self.rng("commitment", plan.id)
        if plan.bad_credit or not allowed or rng.random() >= self.settings.commitment_p:
            return []
        return sorted(rng.sample(allowed, rng.randint(1, min(2, len(allowed)))))

    def divisions(self) -> list[str]:
        """The codes projects are drawn in: the listed counties of each ranked city, or the city itself when none
        is listed (workflows/divisions.yaml), so every city the scoring sheet ranks has projects."""
        from engine.domain.divisions import load_divisions

        try:
            known = load_divisions(self.catalogue.root)
        except (OSError, ValueError):
            return []
        out: list[str] = []
        for province in sorted({d.code[:2] for d in known.divisions}):
            for city in known.cities(province + "0000"):
                counties = [d.code for d in known.within(city) if d.code != city]
                out += counties or [city]
        return out

    def remember(self, project_id: str, filing: dict[str, Any], plan: dict[str, Any] | None = None) -> None:
        """Keep what a project filed and — once the service planned it — the matters its case selected."""
        self._filings[project_id] = filing
        if plan is not None:
            self._matters[project_id] = {s["stage"]: {m["matter_id"] for m in s["matters"] if m["selected"]}
                                         for s in plan["stages"]}

    def _waived(self, project_id: str) -> set[str]:
        """``matter:material`` refs the project's 告知承诺书 replaces (the window never asks for them)."""
        committed = self._filings.get(project_id, {}).get("commitment_matters") or []
        return {f"{m}:{w}" for m in committed for w in self.catalogue.matter(m).commitment_waives}

    def _selected(self, project_id: str, stage: str) -> set[str]:
        planned = self._matters.get(project_id)
        if planned is None:
            ptype = self._filings.get(project_id, {}).get("project_type", "")
            return {m.id for m in self.catalogue.matters_for(ptype, stage)}
        return planned.get(stage, set())

    # -- actors -------------------------------------------------------------------------------------------------
    @staticmethod
    def actor_for(task: dict[str, Any]) -> Actor:
        """The user who completes ``task``: its owner, a window officer or an officer of its department."""
        role, dept = task["role"], task.get("department")
        if role == "owner":
            return Actor(task["owner_id"], "owner")
        if role == "window":
            return Actor("window-officer", "window", dept or "window")
        if role in ("agency", "lead"):
            return Actor(f"{dept}-officer", role, dept)
        return Actor("system", "system")

    # -- decisions ----------------------------------------------------------------------------------------------
    def decide(self, task: dict[str, Any], now: datetime) -> Decision | None:
        """How and when ``task`` gets completed; None means never (a broken promise, left to the deadline timer)."""
        spec = task["spec_id"]
        pid = task["project_id"]
        key = _task_key(task)
        n = self._round(pid, f"{spec}:{key}")
        rng = self.rng(pid, spec, key, n)
        actor = self.actor_for(task)
        s = self.settings
        data = task.get("data") or {}
        matter = data.get("matter") or {}

        def wd(days: float) -> datetime:
            return self.calendar.add_working_time(now, max(days, 0.02))

        def nd(days: float) -> datetime:
            return now + timedelta(days=days)

        if spec == TaskIds.SUBMIT_FILING:
            # the owner prepares each stage's filing: the first soon after registering, later ones some days
            # after the previous stage's result (the gap is the owner's time, not approval time)
            stage = task.get("stage") or ""
            filed_before = self._filed.setdefault(pid, set())
            first_filing = not (filed_before - {stage})
            filed_before.add(stage)
            at = wd(rng.uniform(0.05, 0.5)) if first_filing else nd(rng.uniform(*s.owner_next_stage_days))
            payload: dict[str, Any] = {}
            if stage == "S0" and self.rng(pid, "regional_assessment").random() < REGIONAL_ASSESSMENT_P:
                payload["materials"] = ["s0_planning_conditions:regional_assessment"]  # 区域评估成果应用
            return Decision(at, payload, actor)
        if spec == TaskIds.INTAKE:
            stage = task.get("stage") or ""
            at = wd(rng.uniform(0.05, 0.5)) if n == 0 else wd(rng.uniform(0.1, 1.0))
            exempted = {e.get("material") for e in ((data.get("filing") or {}).get("exempted") or [])}
            payload = self._intake(pid, stage, rng, first=(n == 0), exempted=exempted)
            return Decision(at, payload, actor)
        if spec == TaskIds.CORRECT_FILING:
            if rng.random() < s.abandon_correction_p:
                return None
            return Decision(nd(rng.uniform(2, 8)), {"supplied": list(data.get("missing") or []) or ["补正材料"]}, actor)
        if spec == TaskIds.SIGN_COMMITMENT:
            return Decision(nd(rng.uniform(0.1, 1.5)), {"signatory": "法定代表人", "accepted_terms": True}, actor)
        if spec in (TaskIds.REVIEW, TaskIds.REVIEW_SILENT):
            limit = float(matter.get("committed_limit_wd") or 5)
            slow = task.get("department") in s.slow_departments
            median, sigma = (s.slow_share_median, s.slow_share_sigma) if slow else (s.agency_share_median, s.agency_share_sigma)
            fitted = s.response_lognormal.get(task.get("department") or "")
            if fitted is not None:
                at = wd(rng.lognormvariate(*fitted))
            else:
                at = wd(limit * rng.lognormvariate(math.log(median), sigma))
            payload = self._review(matter, rng, first=(n == 0))
            return Decision(at, payload, actor)
        if spec == TaskIds.MATTER_CORRECTION:
            return Decision(nd(rng.uniform(2, 10)), {"supplied": ["补正材料"]}, actor)
        if spec == TaskIds.SPECIAL_PROCEDURE:
            proc_id = data.get("procedure")
            limit = 5.0
            if proc_id in self.catalogue.special_procedures:
                proc = self.catalogue.special_procedure(proc_id)
                limit = float(self.catalogue.profile.special_procedure_limits_wd.get(proc.id, proc.limit_wd))
            return Decision(wd(limit * rng.uniform(0.4, 1.05)), {"conclusion": "同意"}, actor)
        if spec in (TaskIds.ISSUE_RESULT, TaskIds.JOINT_OPINION, TaskIds.EARLY_OPINION):
            return Decision(wd(rng.uniform(0.2, 1.2)), {"certificate_no": f"{pid}-{key}".replace("/", "-")}, actor)
        if spec == TaskIds.SUPPLY_DOCUMENTS:
            if rng.random() < s.broken_promise_p:
                return None
            return Decision(nd(rng.uniform(3, 14)), {"documents": ["容缺材料"]}, actor)
        if spec == TaskIds.STATEMENT:  # 陈述申辩: most owners state their case, some let the deadline pass
            if rng.random() < 0.3:
                return None
            return Decision(nd(rng.uniform(1, 4)), {"statement": "已按承诺整改，申请维持许可"}, actor)
        if spec == TaskIds.REVOCATION_DECISION:
            keep = rng.random() < 0.2
            return Decision(wd(rng.uniform(0.5, 2)), {"decision": "keep" if keep else "revoke",
                                                       "reason": "陈述申辩理由成立" if keep else "陈述申辩理由不成立"}, actor)
        if spec == TaskIds.POST_CHECK:
            committed = (task.get("data") or {}).get("matter", {}).get("mode") == "commitment"
            passed = rng.random() >= (s.commitment_check_fail_p if committed else s.post_check_fail_p)
            payload: dict[str, Any] = {"passed": passed}
            if not passed:
                payload["findings"] = "实际情况与承诺内容不符"
            return Decision(wd(rng.uniform(1, 8)), payload, actor)
        return Decision(wd(rng.uniform(0.2, 1.0)), {}, actor)

    def _intake(self, project_id: str, stage: str, rng: random.Random, *, first: bool,
                exempted: set[Any] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
        """The window's completeness check; what the filing took from a certificate (免于提交) is never missing."""
        s = self.settings
        if not first:
            return {"outcome": "complete"}
        roll = rng.random()
        ptype = self._filings.get(project_id, {}).get("project_type")
        credit = project_id not in self._bad_credit
        if ptype and roll < s.intake_tolerance_p:
            selected = self._selected(project_id, stage)
            candidates = [f"{m.id}:{mat.id}" for m in self.catalogue.matters_for(ptype, stage) if m.tolerance_allowed
                          and m.id in selected for mat in m.materials if not mat.key
                          and f"{m.id}:{mat.id}" not in self._waived(project_id)
                          and f"{m.id}:{mat.id}" not in exempted]
            if candidates:
                missing = [rng.choice(candidates)]
                if self.catalogue.tolerance_check(ptype, stage, missing, credit, matter_ids=sorted(selected)).allowed:
                    return {"outcome": "tolerance", "missing": missing}
        if ptype and roll < s.intake_tolerance_p + s.intake_incomplete_p:
            selected = self._selected(project_id, stage)
            materials = [f"{m.id}:{mat.id}" for m in self.catalogue.matters_for(ptype, stage) if m.id in selected
                         for mat in m.materials if f"{m.id}:{mat.id}" not in self._waived(project_id)
                          and f"{m.id}:{mat.id}" not in exempted]
            if materials:
                return {"outcome": "incomplete", "missing": [rng.choice(materials)]}
        return {"outcome": "complete"}

    def _review(self, matter: dict[str, Any], rng: random.Random, *, first: bool) -> dict[str, Any]:
        s = self.settings
        roll = rng.random()
        if roll < s.refuse_p:
            return {"decision": "refuse", "reason": "不符合法定条件"}
        if first and roll < s.refuse_p + s.correction_p:
            return {"decision": "correction", "items": ["补充说明材料"]}
        procs = ()
        if matter.get("id") in self.catalogue.matters:
            procs = self.catalogue.matter(matter["id"]).special_procedures
        if first and procs and roll < s.refuse_p + s.correction_p + s.special_p:
            return {"decision": "special", "procedure": rng.choice(procs)}
        return {"decision": "approve"}


def _task_key(task: dict[str, Any]) -> str:
    data = task.get("data") or {}
    unit = data.get("unit")
    unit_key = unit.get("key") if isinstance(unit, dict) else unit
    return task.get("matter_key") or "/".join(str(x) for x in (task.get("stage"), unit_key) if x) or "-"

"""``python -m bench engine [--projects N] [--repeat R] [--profile]``: the engine against raw SpiffWorkflow.

The same full projects (mixed project types; fixed decisions: every matter approved, one 补正 correction, one
容缺受理 tolerance with its commitment, supply and 核查) are driven

1. through **raw SpiffWorkflow 3.2** on the same ``bpmn/*.bpmn`` models, with a plain script engine whose
   model functions are cheap stubs (matter lists built from the catalogue, far-future deadlines, no-op
   recording), completing ready user tasks with the task data the engine would set — once without any
   persistence, and once serialising the whole workflow to JSON after every step (what a naive integration
   does to persist it);
2. through **ApprovalService** on a SQLite file with the virtual clock: the real thing, with persistence,
   the event log, the human-task projection and the timing of every subject.

The aim (issue 2) is the engine at most twice raw SpiffWorkflow's time. Machines are noisy, so every
variant runs ``--repeat`` times and the median is reported; nothing here asserts on time. A second
measurement drives one long project (many intake corrections, several unit works) and compares its last 20
completions with its first 20: a step's cost must not grow with the project's history.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.domain.actors import Actor
from engine.domain.catalogue import Catalogue, load_catalogue
from engine.domain.tasks import parse_payload
from engine.simulation.cases import typical_case

BPMN_DIR = Path(__file__).resolve().parents[1] / "bpmn"
START = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # Monday 09:00 Asia/Shanghai
STEP = timedelta(minutes=10)  # virtual time between two completions: no deadline falls due in the bench
FAR_FUTURE = "2099-12-31T16:00:00+00:00"
MIX = ("gov_building", "social_general", "social_small", "land_with_scheme", "gov_municipal")


# -- the projects and their fixed decisions ----------------------------------------------------------------------
def filing_for(index: int, *, units: int | None = None) -> dict[str, Any]:
    project_type = MIX[index % len(MIX)]
    count = units if units is not None else 1 + index % 2
    unit_works = [{"id": f"U{u + 1}", "name": f"{u + 1}号楼"} for u in range(count)]
    if project_type == "land_with_scheme":  # 先行验收 of the fire acceptance on the first unit
        unit_works[0]["early_items"] = ["s4_fire_acceptance"]
    return {"name": f"基准项目{index}", "project_type": project_type, "owner_id": f"owner-{index}",
            "include_planning": index % 3 == 0, "unit_works": unit_works, "case": typical_case(project_type)}


_RULES: dict[str, Any] = {}


def selected_matters(catalogue: Catalogue, project_type: str, stage: str) -> list[Any]:
    """The matters the typical case of ``project_type`` selects in ``stage`` (the engine's own plan), so the
    raw-SpiffWorkflow driver and the participants run exactly the matters the engine runs."""
    from engine.domain.plan import build_plan
    from engine.services.approval import load_matter_rules

    rules = _RULES.setdefault(str(catalogue.matter_rules_path), load_matter_rules(catalogue))
    plan = build_plan(catalogue, project_type, catalogue.route_stages(project_type, True),
                      catalogue.case.validate_answers(project_type, typical_case(project_type)), rules)
    return [catalogue.matter(m) for m in plan.selected_ids(stage)]


@dataclass
class Plan:
    """What a project's participants decide, the same in both drivers: everything approved, except one matter
    returned for correction (补正) and one stage accepted with a tolerated material (容缺受理)."""

    catalogue: Catalogue
    project_type: str
    intake_rounds: int = 0  # extra 一次性告知 → 补正 rounds at the first stage (the long project)
    corrected: bool = False
    tolerance: tuple[str, str] | None = None  # (stage, material ref)
    rounds_left: int = field(init=False)

    def __post_init__(self) -> None:
        self.rounds_left = self.intake_rounds
        candidates = []
        for stage in self.catalogue.route_stages(self.project_type, False):
            refs = [f"{m.id}:{mat.id}" for m in selected_matters(self.catalogue, self.project_type, stage)
                    if m.tolerance_allowed for mat in m.materials if not mat.key
                    and not mat.provided_by]  # a certificate's material is 免于提交, never missing
            if refs:
                candidates.append((stage, refs[0]))
        self.tolerance = candidates[1] if len(candidates) > 1 else (candidates[0] if candidates else None)

    def payload(self, spec_id: str, stage: str | None) -> dict[str, Any]:
        """The completion payload, as a user would send it to the API."""
        if spec_id == "Task_SubmitFiling":
            return {"materials": [], "declared_missing": []}
        if spec_id == "Task_Intake":
            if self.rounds_left > 0:
                self.rounds_left -= 1
                ref = next(f"{m.id}:{mat.id}" for m in selected_matters(self.catalogue, self.project_type, stage or "S1")
                           for mat in m.materials if not mat.provided_by)
                first = self.rounds_left == self.intake_rounds - 1
                # 一次性告知: a further notice names the new defect the correction brought in
                return {"outcome": "incomplete", "missing": [ref]} | ({} if first else {"new_defect": "补正材料引入新问题"})
            if self.tolerance is not None and stage == self.tolerance[0]:
                return {"outcome": "tolerance", "missing": [self.tolerance[1]]}
            return {"outcome": "complete"}
        if spec_id in ("Task_Review", "Task_ReviewSilent"):
            if not self.corrected:
                self.corrected = True
                return {"decision": "correction", "reason": "材料不全", "items": ["补充说明"]}
            return {"decision": "approve"}
        if spec_id in ("Task_CorrectFiling", "Task_MatterCorrection"):
            return {"supplied": ["补充材料"]}
        if spec_id == "Task_SignCommitment":
            return {"signatory": "张三", "accepted_terms": True}
        if spec_id == "Task_SupplyDocuments":
            return {"documents": ["补齐材料"]}
        if spec_id == "Task_PostCheck":
            return {"passed": True}
        if spec_id == "Task_SpecialProcedure":
            return {"conclusion": "同意"}
        return {"certificate_no": "BENCH-1"}


# -- raw SpiffWorkflow ---------------------------------------------------------------------------------------------
class StubFunctions:
    """The model functions as cheap stubs: the catalogue's matter lists, far-future deadlines, no recording."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def _matter(self, stage: str, matter_id: str, key: str) -> dict[str, Any]:
        data = self.catalogue.matter_task_data(matter_id)
        data.update(key=key, stage=stage)
        if data.get("post_check_limit_wd") is None:
            data["post_check_limit_wd"] = self.catalogue.profile.commitment.post_check_limit_wd
        return data

    def functions(self) -> dict[str, Callable[..., Any]]:
        cat = self.catalogue

        def stage_matters(project_type, stage):
            return [self._matter(stage, m.id, f"{stage}/{m.id}") for m in selected_matters(cat, project_type, stage)]

        def acceptance_units(project_type, unit_works):
            matters = selected_matters(cat, project_type, "S4")
            items = [m for m in matters if m.acceptance_role == "item"]
            final = next(m for m in matters if m.acceptance_role == "final")
            units = []
            for unit in unit_works:
                uid = unit["id"]
                early = [m for m in items if m.id in set(unit.get("early_items") or [])]
                first, second = (early, [m for m in items if m not in early]) if early else (items, [])
                units.append({"key": uid, "name": unit.get("name", uid), "stage": "S4", "early": bool(early),
                              "first_batch": [self._matter("S4", m.id, f"S4/{uid}/{m.id}") for m in first],
                              "second_batch": [self._matter("S4", m.id, f"S4/{uid}/{m.id}") for m in second],
                              "final": self._matter("S4", final.id, f"S4/{uid}/{final.id}")})
            return units

        def commitment_checks(project_type, stage, missing):
            ids = list(dict.fromkeys(item["matter_id"] for item in missing))
            return [self._matter(stage, i, f"{stage}/check/{i}") for i in ids]

        def far_future(*_args):
            return FAR_FUTURE

        def nothing(*_args):
            return None

        def joint_opinion(project_type):
            final = next(m for m in selected_matters(cat, project_type, "S4") if m.acceptance_role == "final")
            return self._matter("S4", final.id, f"S4/{final.id}")

        def stage_closing_result(_stage, intake):
            return "approved_with_tolerance" if intake == "tolerance" else "approved"

        stubs: dict[str, Callable[..., Any]] = {
            "stage_matters": stage_matters, "acceptance_units": acceptance_units,
            "commitment_checks": commitment_checks, "precondition_status": lambda _matter: "issued",
            # the raw run files no phased permit and no commitment mode: nothing runs after its stage
            "later_phases": lambda _project_type: [], "joint_opinion": joint_opinion,
            "stage_closing_result": stage_closing_result,
        }
        from engine.services.functions import MODEL_FUNCTIONS

        for name in MODEL_FUNCTIONS:
            if name not in stubs:
                stubs[name] = far_future if name.endswith("_at") or name == "working_days_after" else nothing
        return stubs


def resolve_materials(catalogue: Catalogue, project_type: str, stage: str, refs: list[str]) -> list[dict[str, Any]]:
    """Material refs to the entries the engine puts in task data (as ApprovalService._materials does)."""
    out = []
    for ref in refs:
        matter_id, _, material_id = ref.rpartition(":")
        for m in selected_matters(catalogue, project_type, stage):
            for mat in m.materials:
                if mat.id == material_id and (not matter_id or m.id == matter_id):
                    out.append({"id": f"{m.id}:{mat.id}", "name": mat.name, "key": mat.key, "matter_id": m.id,
                                "department": m.department})
    return out


def task_data(catalogue: Catalogue, project_type: str, spec_id: str, stage: str | None,
              payload: dict[str, Any]) -> dict[str, Any]:
    """The process variables the engine sets for a completion (ApprovalService._task_data, without the ledger)."""
    if spec_id == "Task_SubmitFiling":
        return {"filing": {"materials": payload["materials"], "declared_missing": payload["declared_missing"],
                           "note": None}}
    if spec_id == "Task_Intake":
        outcome = payload["outcome"]
        missing = resolve_materials(catalogue, project_type, stage or "", payload.get("missing", []))
        return {"intake": outcome, "missing": missing if outcome == "tolerance" else []}
    if spec_id in ("Task_Review", "Task_ReviewSilent"):
        return {"decision": payload["decision"], "reason": payload.get("reason"),
                "correction_items": payload.get("items", []), "procedure": None}
    if spec_id == "Task_PostCheck":
        return {"check_result": {"passed": payload["passed"], "findings": None}}
    if spec_id == "Task_SignCommitment":
        return {"commitment_signed": True}
    if spec_id == "Task_SupplyDocuments":
        return {"supplied_documents": payload["documents"]}
    parsed = parse_payload(spec_id, payload)
    return parsed if isinstance(parsed, dict) else parsed.model_dump(exclude_none=True)


class RawSpiff:
    """The bundled models parsed once by SpiffWorkflow's own parser, run with a plain script engine."""

    def __init__(self, catalogue: Catalogue) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

        parser = BpmnParser()
        parser.add_bpmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.bpmn"))])
        self.top = parser.get_spec("project_approval")
        self.subprocesses = parser.get_subprocess_specs("project_approval")
        self.catalogue = catalogue
        self.script_engine = PythonScriptEngine(environment=TaskDataEnvironment(StubFunctions(catalogue).functions()))
        self.serializer = BpmnWorkflowSerializer()

    def run_project(self, filing: dict[str, Any], plan: Plan, *, serialise: bool = False,
                    on_step: Callable[[float], None] | None = None) -> int:
        """Drive one project to its end; returns the number of task completions."""
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        cat = self.catalogue
        ptype = cat.project_type(filing["project_type"])
        stages = cat.route_stages(ptype.id, filing.get("include_planning"))
        workflow = BpmnWorkflow(self.top, self.subprocesses, script_engine=self.script_engine)
        data = {"project_type": ptype.id, "route": ptype.route, "include_planning": "S0" in stages,
                "include_registration": bool(ptype.registration),
                "combined_registration": ptype.combined_registration, "utility_track": False,
                "unit_works": [{"id": u["id"], "name": u["name"], "early_items": u.get("early_items", [])}
                               for u in filing["unit_works"]]}
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()
        if serialise:
            self.serializer.serialize_json(workflow)
        steps = 0
        while not workflow.is_completed():
            began = time.perf_counter()
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError(f"raw workflow of {ptype.id} stalled after {steps} completions")
            task = ready[0]
            spec_id = task.task_spec.bpmn_id
            tdata = task.data
            matter = tdata.get("matter") if isinstance(tdata.get("matter"), dict) else {}
            unit = tdata.get("unit") if isinstance(tdata.get("unit"), dict) else {}
            stage = tdata.get("stage") or matter.get("stage") or unit.get("stage")
            task.data.update(task_data(cat, ptype.id, spec_id, stage, plan.payload(spec_id, stage)))
            task.run()
            workflow.refresh_timers()
            workflow.do_engine_steps()
            if serialise:
                self.serializer.serialize_json(workflow)
            steps += 1
            if on_step is not None:
                on_step(time.perf_counter() - began)
        return steps


# -- the engine ---------------------------------------------------------------------------------------------------
class Engine:
    """ApprovalService on a fresh SQLite file in ``directory``, with a virtual clock."""

    def __init__(self, catalogue: Catalogue, directory: Path, name: str = "engine.db") -> None:
        from engine.clock import VirtualClock
        from engine.persistence.db import make_engine, migrate
        from engine.services.approval import ApprovalService

        self.db = make_engine(f"sqlite:///{directory / name}")
        migrate(self.db)
        self.clock = VirtualClock(START)
        self.service = ApprovalService(self.db, catalogue=catalogue, clock=self.clock)
        self.service.deploy_bundled()
        self.catalogue = catalogue

    def run_project(self, filing: dict[str, Any], plan: Plan, *, on_step: Callable[[float], None] | None = None) -> int:
        return drive(self.service, self.clock, filing, plan, on_step=on_step)


def actor_for(row: dict[str, Any]) -> Actor:
    if row["role"] == "owner":
        return Actor(row["owner_id"], "owner")
    if row["role"] == "window":
        return Actor("window-1", "window", "window")
    return Actor(f"officer-{row['department']}", row["role"], row["department"])


def _task_order(row: dict[str, Any]) -> tuple:
    """Soonest due first, then a stable order (task ids are random): the same project runs the same way."""
    return (row["due_at"] is None, row["due_at"] or START, row.get("stage") or "", row.get("matter_key") or "",
            row["spec_id"])


def drive(service: Any, clock: Any, filing: dict[str, Any], plan: Plan, *,
          on_step: Callable[[float], None] | None = None) -> int:
    """Drive one project through ApprovalService to its end (a completion every ``STEP`` of virtual time)."""
    pid = service.start_project(filing)
    steps = 0
    while True:
        began = time.perf_counter()
        clock.advance(STEP)
        ready = service.list_tasks(project_id=pid)
        if not ready:
            break
        row = min(ready, key=_task_order)
        service.complete_task(row["id"], plan.payload(row["spec_id"], row.get("stage")), actor=actor_for(row))
        steps += 1
        if on_step is not None:
            on_step(time.perf_counter() - began)
    status = service.project(pid)["status"]
    if status != "completed":
        raise RuntimeError(f"project {pid} ended {status}, expected completed")
    return steps


# -- measurements -------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    completions: int


def _projects(catalogue: Catalogue, count: int) -> list[tuple[dict[str, Any], Plan]]:
    out = []
    for i in range(count):
        filing = filing_for(i)
        out.append((filing, Plan(catalogue, filing["project_type"])))
    return out


def time_raw(raw: RawSpiff, catalogue: Catalogue, count: int, *, serialise: bool) -> Sample:
    work = _projects(catalogue, count)
    began = time.perf_counter()
    steps = sum(raw.run_project(f, p, serialise=serialise) for f, p in work)
    return Sample(time.perf_counter() - began, steps)


def time_engine(catalogue: Catalogue, count: int, *, profile: cProfile.Profile | None = None) -> Sample:
    with tempfile.TemporaryDirectory(prefix="gongai-bench-") as tmp:
        engine = Engine(catalogue, Path(tmp))
        work = _projects(catalogue, count)
        if profile is not None:
            profile.enable()
        began = time.perf_counter()
        steps = sum(engine.run_project(f, p) for f, p in work)
        elapsed = time.perf_counter() - began
        if profile is not None:
            profile.disable()
        engine.db.dispose()
    return Sample(elapsed, steps)


def long_project(catalogue: Catalogue, rounds: int = 60) -> tuple[dict[str, Any], Plan]:
    """gov_building with 策划生成, six unit works, and ``rounds`` 一次性告知 → 补正 rounds at its first intake."""
    filing = filing_for(0, units=6) | {"include_planning": True, "name": "长流程基准项目"}
    return filing, Plan(catalogue, filing["project_type"], intake_rounds=rounds)


def _step_times(variant: str, catalogue: Catalogue, raw: RawSpiff, rounds: int) -> list[float]:
    times: list[float] = []
    filing, plan = long_project(catalogue, rounds)
    if variant == "engine":
        with tempfile.TemporaryDirectory(prefix="gongai-bench-") as tmp:
            engine = Engine(catalogue, Path(tmp))
            engine.run_project(filing, plan, on_step=times.append)
            engine.db.dispose()
    else:
        raw.run_project(filing, plan, serialise=variant == "raw+serialise", on_step=times.append)
    return times


def growth(catalogue: Catalogue, raw: RawSpiff, repeat: int = 3) -> dict[str, Any]:
    """Does a step's cost grow with the project's history? Two views, medians over ``repeat`` runs:

    - ``first20``/``last20``: the first and the last 20 completions of one long project (different kinds of
      step: the last ones run 联合验收 of six unit works side by side, so some growth is the wider work);
    - ``same_steps``: the same last 20 completions, once without and once after 120 extra completions of
      history (60 补正 rounds at the first intake) — the same work, only the history differs.
    """
    out: dict[str, Any] = {}
    for variant in ("engine", "raw", "raw+serialise"):
        firsts, lasts, shorts = [], [], []
        for _ in range(repeat):
            long_times = _step_times(variant, catalogue, raw, 60)
            short_times = _step_times(variant, catalogue, raw, 0)
            firsts.append(statistics.median(long_times[:20]))
            lasts.append(statistics.median(long_times[-20:]))
            shorts.append(statistics.median(short_times[-20:]))
            out["completions"] = (len(short_times), len(long_times))
        first, last, short = (statistics.median(v) * 1000 for v in (firsts, lasts, shorts))
        out[variant] = {"first20_ms": first, "last20_ms": last, "ratio": last / first,
                        "short_last20_ms": short, "same_steps_ratio": last / short}
    return out


def top_costs(profile: cProfile.Profile, limit: int = 25) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profile, stream=buffer)
    stats.sort_stats("cumulative").print_stats(limit)
    buffer.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(limit)
    return buffer.getvalue()


def run(projects: int = 20, *, repeat: int = 5, profile: bool = False, as_json: bool = False) -> dict[str, Any]:
    catalogue = load_catalogue()
    raw = RawSpiff(catalogue)
    # warm-up: imports, parsed specs, compiled expressions, catalogue caches
    time_raw(raw, catalogue, 2, serialise=True)
    time_engine(catalogue, 2)
    samples: dict[str, list[Sample]] = {"raw": [], "raw+serialise": [], "engine": []}
    for _ in range(repeat):  # interleaved, so drift in machine speed hits every variant alike
        samples["raw"].append(time_raw(raw, catalogue, projects, serialise=False))
        samples["raw+serialise"].append(time_raw(raw, catalogue, projects, serialise=True))
        samples["engine"].append(time_engine(catalogue, projects))
    ratios = {
        "engine/raw": statistics.median(e.seconds / r.seconds for e, r in zip(samples["engine"], samples["raw"])),
        "engine/raw+serialise": statistics.median(
            e.seconds / r.seconds for e, r in zip(samples["engine"], samples["raw+serialise"])),
    }
    result: dict[str, Any] = {"projects": projects, "repeat": repeat, "variants": {}, "ratios": ratios}
    for name, runs in samples.items():
        seconds = statistics.median(s.seconds for s in runs)
        completions = runs[0].completions
        result["variants"][name] = {"seconds": seconds, "completions": completions,
                                    "ms_per_completion": seconds / completions * 1000}
    result["growth"] = growth(catalogue, raw)
    if profile:
        prof = cProfile.Profile()
        time_engine(catalogue, max(2, projects // 4), profile=prof)
        result["profile"] = top_costs(prof)
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "profile"}, indent=2))
    else:
        _print(result)
    if profile:
        print(result["profile"])
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"{result['projects']} full projects ({', '.join(MIX)}), median of {result['repeat']} runs")
    print(f"{'variant':<16}{'total s':>10}{'completions':>14}{'ms/completion':>16}")
    for name, v in result["variants"].items():
        print(f"{name:<16}{v['seconds']:>10.3f}{v['completions']:>14}{v['ms_per_completion']:>16.3f}")
    for name, ratio in result["ratios"].items():
        print(f"{name:<24}{ratio:>6.2f}x")
    g = result["growth"]
    short, long = g["completions"]
    print(f"step cost and history (median ms per completion; a project of {short} completions and the same "
          f"project with {long - short} more of history):")
    print(f"  {'variant':<16}{'first 20':>10}{'last 20':>10}{'ratio':>8}   {'last 20, short history':>24}{'ratio':>8}")
    for name in ("engine", "raw", "raw+serialise"):
        v = g[name]
        print(f"  {name:<16}{v['first20_ms']:>10.3f}{v['last20_ms']:>10.3f}{v['ratio']:>8.2f}   "
              f"{v['short_last20_ms']:>24.3f}{v['same_steps_ratio']:>8.2f}")

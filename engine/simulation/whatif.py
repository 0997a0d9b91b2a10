"""What-if simulation (改革效果模拟): the same seeded workload under two configurations, compared.

Why through the real engine: a reform changes models (并联 vs 串联), limits (承诺时限), routes (二三阶段合并)
or behaviour (容缺受理 share), and its effect on stage and whole-process durations comes out of timers,
clock stops and the ledger exactly as in production. Both runs use the same seed, so the same projects
arrive at the same instants and every actor's decision draws from the same generator (the workload seeds
each decision by project/task/key/round); the only difference between the runs is the reform.

A configuration is data: a jurisdiction profile plus a small *reform* YAML file (``workflows/reforms/``)::

    name: 第二阶段串联审批（对照）
    profile: default                       # base profile
    serial_stage: S2                       # that stage's matters one after another (bpmn/variants/)
    matter_overrides:                      # committed limits etc. (same fields as a profile's)
      s2_design_scheme_review: {committed_limit_wd: 3}
    route_overrides: {social_general: merged_2_3}
    tolerance: true                        # 容缺受理 offered more often (intake share, see TOLERANCE_SHARE)
    workload: {intake_incomplete_p: 0.02}  # any WorkloadSettings field

The comparison is paired by project: for each stage (and the whole process) the mean difference
variant − baseline over the projects that finished it in both runs, with a seeded bootstrap 95 % interval.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import statistics
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from engine.assets import bundled_dir
from engine.domain.catalogue import Catalogue, Matter, MatterOverride, load_catalogue
from engine.simulation.workload import WorkloadSettings

ROOT = Path(__file__).resolve().parents[2]
BPMN_DIR = bundled_dir("bpmn")  # installed package or checkout (engine/assets.py)
VARIANTS_DIR = BPMN_DIR / "variants"
SERIAL_MODEL = VARIANTS_DIR / "stage_approval_serial.bpmn"
SERIAL_PROCESS = "stage_approval_serial"
TOLERANCE_SHARE = 0.30
"""``tolerance: true``: share of first filings the window accepts with a tolerated missing material."""
WHOLE = "project"
STAGE_ORDER = ("S0", "S1", "S2", "S3", "S23", "S4", "S5")
MEASURES = ("span_working_days", "approval_working_days")

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class ReformError(ValueError):
    """A reform file is malformed or names something the catalogue does not know."""


@dataclass(frozen=True)
class Reform:
    """One configuration: a profile and the changes of a reform (all optional)."""

    name: str
    profile: str = "default"
    description: str | None = None
    serial_stage: str | None = None
    matter_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    route_overrides: Mapping[str, str] = field(default_factory=dict)
    tolerance: bool = False
    workload: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(self).items()}


_REFORM_KEYS = {"name", "profile", "description", "serial_stage", "matter_overrides", "route_overrides",
                "tolerance", "workload"}


def load_reform(spec: str | Path) -> Reform:
    """A reform from a YAML file, or a bare profile id (``default``: the profile as it is)."""
    path = Path(spec)
    if path.suffix not in (".yaml", ".yml"):
        return Reform(name=str(spec), profile=str(spec))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ReformError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ReformError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ReformError(f"{path}: expected a mapping")
    unknown = sorted(set(data) - _REFORM_KEYS)
    if unknown:
        raise ReformError(f"{path}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_REFORM_KEYS))})")
    for key in ("matter_overrides", "route_overrides", "workload"):
        if not isinstance(data.get(key) or {}, dict):
            raise ReformError(f"{path}: {key}: expected a mapping")
    tolerance = data.get("tolerance", False)
    if tolerance in ("on", "off"):
        tolerance = tolerance == "on"
    if not isinstance(tolerance, bool):
        raise ReformError(f"{path}: tolerance: expected true/false (on/off)")
    return Reform(name=str(data.get("name") or path.stem), profile=str(data.get("profile") or "default"),
                  description=data.get("description"), serial_stage=data.get("serial_stage"),
                  matter_overrides=dict(data.get("matter_overrides") or {}),
                  route_overrides=dict(data.get("route_overrides") or {}), tolerance=tolerance,
                  workload=dict(data.get("workload") or {}), source=str(path))


# -- building a configuration ------------------------------------------------------------------------------------
def build_catalogue(reform: Reform) -> Catalogue:
    """The profile's catalogue with the reform's matter and route changes, in memory (files untouched)."""
    catalogue = load_catalogue(reform.profile)
    where = reform.source or reform.name
    matters = dict(catalogue.matters)
    for matter_id, changes in reform.matter_overrides.items():
        if matter_id not in matters:
            raise ReformError(f"{where}: matter_overrides: unknown matter {matter_id!r}")
        try:
            override = MatterOverride.model_validate(changes)
            # re-validate the whole matter so its own rules (承诺时限 ≤ 法定时限 …) still hold
            matters[matter_id] = Matter.model_validate({**matters[matter_id].model_dump(), **override.changes()})
        except ValueError as exc:
            raise ReformError(f"{where}: matter_overrides.{matter_id}: {' '.join(str(exc).split())}") from None
    types = dict(catalogue.project_types)
    limits = {k: dict(v) for k, v in catalogue.profile.stage_limits_wd.items()}
    for ptype, route in reform.route_overrides.items():
        if ptype not in types:
            raise ReformError(f"{where}: route_overrides: unknown project type {ptype!r}")
        if route not in catalogue.routes:
            raise ReformError(f"{where}: route_overrides.{ptype}: unknown route {route!r} "
                              f"(known: {', '.join(catalogue.routes)})")
        types[ptype] = types[ptype].model_copy(update={"route": route})
        for sid in catalogue.routes[route].stages:  # a merged stage's limit: the sum of the stages it merges
            if sid not in limits.get(ptype, {}):
                parts = catalogue.stage(sid).merges
                if not parts or any(p not in limits.get(ptype, {}) for p in parts):
                    raise ReformError(f"{where}: route_overrides.{ptype}: profile has no limit for {sid}")
                limits[ptype][sid] = sum(limits[ptype][p] for p in parts)
    profile = catalogue.profile.model_copy(update={"stage_limits_wd": limits})
    if reform.serial_stage is not None and reform.serial_stage not in catalogue.stages:
        raise ReformError(f"{where}: serial_stage: unknown stage {reform.serial_stage!r}")
    return catalogue.model_copy(update={"matters": matters, "project_types": types, "profile": profile})


def build_settings(reform: Reform, base: WorkloadSettings | None = None) -> WorkloadSettings:
    """The workload knobs of a configuration: the base, ``tolerance`` and the reform's ``workload`` fields."""
    settings = base or WorkloadSettings()
    names = {f.name for f in dataclasses.fields(WorkloadSettings)}
    changes: dict[str, Any] = {}
    if reform.tolerance:
        changes["intake_tolerance_p"] = TOLERANCE_SHARE
    for key, value in reform.workload.items():
        if key not in names:
            raise ReformError(f"{reform.source or reform.name}: workload: unknown setting {key!r}")
        changes[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(settings, **changes)


def model_files(reform: Reform) -> dict[str, bytes]:
    """The BPMN files to deploy: the bundled models, and for ``serial_stage`` the serial stage model with the
    main process's calls of that stage pointed at it (rewritten in memory; ``bpmn/`` is never edited)."""
    files = {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}
    if reform.serial_stage is None:
        return files
    files[SERIAL_MODEL.name] = SERIAL_MODEL.read_bytes()
    files["project_approval.bpmn"] = _point_stage_calls(files["project_approval.bpmn"], reform.serial_stage,
                                                        SERIAL_PROCESS)
    return files


def _point_stage_calls(main: bytes, stage: str, called: str) -> bytes:
    """Set ``calledElement`` of the stage calls whose preceding script sets ``stage = "<stage>"``."""
    from lxml import etree

    from engine.bpmn.safe_xml import parse_xml

    root = parse_xml(main, source="project_approval.bpmn")
    ns = {"bpmn": _BPMN}
    scripts = {el.get("id"): (el.findtext("bpmn:script", default="", namespaces=ns) or "")
               for el in root.iterfind(".//bpmn:scriptTask", ns)}
    flows = {f.get("targetRef"): f.get("sourceRef") for f in root.iterfind(".//bpmn:sequenceFlow", ns)}
    changed = 0
    for call in root.iterfind(".//bpmn:callActivity", ns):
        if call.get("calledElement") != "stage_approval":
            continue
        script = scripts.get(flows.get(call.get("id"), ""), "")
        if f'stage = "{stage}"' in script:
            call.set("calledElement", called)
            changed += 1
    if not changed:
        raise ReformError(f"serial_stage: the main process has no stage_approval call for stage {stage}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- fitting response times from a log --------------------------------------------------------------------------
def fit_response_times(db_url: str, *, min_count: int = 3) -> dict[str, tuple[float, float]]:
    """Per department, (mean, sd) of log approval working days of the finished matters in a database.

    Departments with fewer than ``min_count`` finished matters keep the workload's default behaviour."""
    from sqlalchemy import select

    from engine.persistence import tables as t
    from engine.persistence.db import make_engine

    engine = make_engine(db_url)
    try:
        s = t.subjects
        with engine.connect() as conn:
            rows = conn.execute(select(s.c.department, s.c.approval_working_days).where(
                s.c.level == "matter", s.c.ended_at.is_not(None), s.c.approval_working_days > 0,
                s.c.outcome != "silent_consent")).all()
    finally:
        engine.dispose()
    logs: dict[str, list[float]] = defaultdict(list)
    for department, days in rows:
        if department:
            logs[department].append(math.log(days))
    return {d: (round(statistics.fmean(v), 4), round(statistics.stdev(v), 4))
            for d, v in sorted(logs.items()) if len(v) >= min_count}


# -- statistics -------------------------------------------------------------------------------------------------
def bootstrap_ci(differences: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of paired differences (seeded, so reproducible).

    Resamples the differences with replacement; the interval is the (1−level)/2 and (1+level)/2 quantiles
    (nearest-rank on the sorted resampled means). None for fewer than two differences."""
    n = len(differences)
    if n < 2:
        return None
    rng = random.Random(seed)
    values = list(differences)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(resamples))
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    lo = means[max(0, math.ceil(lo_q * resamples) - 1)]
    hi = means[min(resamples - 1, math.ceil(hi_q * resamples) - 1)]
    return lo, hi


@dataclass(frozen=True)
class Comparison:
    """Baseline vs variant for one scope (a stage or the whole process) and one measure."""

    scope: str
    measure: str
    pairs: int
    baseline_mean: float | None
    variant_mean: float | None
    difference: float | None
    ci: tuple[float, float] | None
    baseline_only: int = 0
    variant_only: int = 0

    @property
    def significant(self) -> bool:
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)

    def to_dict(self) -> dict[str, Any]:
        r = lambda v: None if v is None else round(v, 3)  # noqa: E731
        return {"scope": self.scope, "measure": self.measure, "pairs": self.pairs,
                "baseline_mean": r(self.baseline_mean), "variant_mean": r(self.variant_mean),
                "difference": r(self.difference), "ci95": None if self.ci is None else [r(self.ci[0]), r(self.ci[1])],
                "excludes_zero": self.significant, "baseline_only": self.baseline_only,
                "variant_only": self.variant_only}


def compare(baseline: Mapping[str, Mapping[str, Mapping[str, float]]],
            variant: Mapping[str, Mapping[str, Mapping[str, float]]], *, seed: int = 0,
            resamples: int = 2000) -> list[Comparison]:
    """Paired comparison of ``{project: {scope: {measure: value}}}`` figures of two runs."""
    scopes = {s for runs in (baseline, variant) for p in runs.values() for s in p}
    order = lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else (99 if s == WHOLE else 50), s)  # noqa: E731
    out = []
    for scope in sorted(scopes, key=order):
        for measure in MEASURES:
            b = {p: v[scope][measure] for p, v in baseline.items() if scope in v and v[scope].get(measure) is not None}
            v_ = {p: v[scope][measure] for p, v in variant.items() if scope in v and v[scope].get(measure) is not None}
            common = sorted(set(b) & set(v_))
            diffs = [v_[p] - b[p] for p in common]
            out.append(Comparison(
                scope, measure, len(common),
                statistics.fmean(b[p] for p in common) if common else None,
                statistics.fmean(v_[p] for p in common) if common else None,
                statistics.fmean(diffs) if diffs else None,
                bootstrap_ci(diffs, seed=seed, resamples=resamples),
                baseline_only=len(set(b) - set(v_)), variant_only=len(set(v_) - set(b))))
    return out


# -- running a configuration ------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What one configuration's run produced: per-project figures and each stage's critical path."""

    name: str
    figures: dict[str, dict[str, dict[str, float]]]
    critical: dict[str, dict[str, Any]]
    run: dict[str, Any]


def run_configuration(reform: Reform, *, projects: int, seed: int, start: datetime, db_path: str,
                      response_fit: Mapping[str, tuple[float, float]] | None = None,
                      base_settings: WorkloadSettings | None = None) -> RunResult:
    """Simulate the seeded batch under ``reform`` into a fresh SQLite database at ``db_path``."""
    from engine.clock import VirtualClock
    from engine.domain.workcalendar import CalendarDataMissing, WorkCalendar
    from engine.persistence.db import make_engine, migrate
    from engine.services.approval import ApprovalService
    from engine.simulation.driver import simulate
    from engine.simulation.workload import Workload

    catalogue = build_catalogue(reform)
    settings = build_settings(reform, base_settings)
    if response_fit:
        settings = dataclasses.replace(settings, response_lognormal=dict(response_fit))
    files = model_files(reform)
    for suffix in ("", "-wal", "-shm"):
        Path(db_path + suffix).unlink(missing_ok=True)
    db = make_engine(f"sqlite:///{db_path}")
    try:
        migrate(db)
        clock = VirtualClock(start)
        calendar = WorkCalendar.default()
        service = ApprovalService(db, catalogue=catalogue, calendar=calendar, clock=clock)
        service.deploy(files, by="simulate")
        workload = Workload(catalogue, calendar, seed=seed, settings=settings)
        plans = workload.projects(projects, clock.now(), prefix="W")
        calendar_log = logging.getLogger("engine.domain.workcalendar")
        level = calendar_log.level
        calendar_log.setLevel(logging.ERROR)  # a long batch runs into an uncovered year: the CLI says so once
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CalendarDataMissing)
                result = simulate(service, clock, workload, plans)
        finally:
            calendar_log.setLevel(level)
        figures, critical = _read_figures(db, files, reform)
    finally:
        db.dispose()
    run = result.to_dict()
    run["calendar_covered"] = bool(result.ended_at is None or calendar.covers(result.ended_at.date()))
    return RunResult(reform.name, figures, critical, run)


def _read_figures(db: Any, files: Mapping[str, bytes], reform: Reform) -> tuple[dict, dict]:
    from engine.analytics.critical_path import critical_path_share, longest_path, observed_matter_means, stage_graph
    from engine.persistence.uow import UnitOfWork

    figures: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    with UnitOfWork(db) as uow:
        rows = uow.subjects.query(finished=True)
    for row in rows:
        if row["level"] not in ("stage", "project") or row["outcome"] == "cancelled":
            continue
        scope = WHOLE if row["level"] == "project" else (row["stage"] or row["key"])
        figures[row["project_id"]][scope] = {m: row[m] for m in MEASURES}
    critical: dict[str, dict[str, Any]] = {}
    with db.connect() as conn:
        stages = sorted({s for p in figures.values() for s in p if s != WHOLE},
                        key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else 99)
        shares = critical_path_share(conn)
        for stage in stages:
            means = observed_matter_means(conn, stage)
            if not means:
                continue
            serial = stage == reform.serial_stage
            model = files[SERIAL_MODEL.name] if serial else files["stage_approval.bpmn"]
            path = longest_path(stage_graph(model, means))
            top = max((r for r in shares if r["stage"] == stage), key=lambda r: (r["critical"], r["matter_id"]),
                      default=None)
            critical[stage] = {"serial": serial, "length": round(path.length, 3),
                               "critical_matter": path.critical_matter,
                               "most_often_last": top["matter_id"] if top else None,
                               "most_often_last_share": top["share"] if top else None}
    return dict(figures), critical


def _run_in_child(args: tuple[Reform, dict[str, Any]]) -> RunResult:
    reform, kwargs = args
    return run_configuration(reform, **kwargs)


def whatif(baseline: Reform, variant: Reform, *, projects: int = 60, seed: int = 7,
           start: datetime, workdir: str | None = None, response_fit: Mapping[str, tuple[float, float]] | None = None,
           base_settings: WorkloadSettings | None = None, jobs: int = 2,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run both configurations on the same seeded workload and compare them; returns a JSON-ready document."""
    build_catalogue(baseline), build_catalogue(variant)  # fail early, before any simulation runs
    build_settings(baseline, base_settings), build_settings(variant, base_settings)
    with tempfile.TemporaryDirectory(prefix="gongai-whatif-", dir=workdir) as tmp:
        common = {"projects": projects, "seed": seed, "start": start, "response_fit": response_fit,
                  "base_settings": base_settings}
        jobs_args = [(baseline, {**common, "db_path": str(Path(tmp) / "baseline.db")}),
                     (variant, {**common, "db_path": str(Path(tmp) / "variant.db")})]
        if jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context(method)) as pool:
                base_run, var_run = pool.map(_run_in_child, jobs_args)
        else:
            base_run = _run_in_child(jobs_args[0])
            if progress:
                progress("baseline")
            var_run = _run_in_child(jobs_args[1])
        if progress:
            progress("variant")
    comparisons = compare(base_run.figures, var_run.figures, seed=seed)
    return {
        "seed": seed, "projects": projects, "start": start.isoformat(),
        "baseline": {"reform": baseline.to_dict(), "run": base_run.run, "critical_path": base_run.critical},
        "variant": {"reform": variant.to_dict(), "run": var_run.run, "critical_path": var_run.critical},
        "response_fit": {d: list(v) for d, v in (response_fit or {}).items()},
        "comparisons": [c.to_dict() for c in comparisons],
    }

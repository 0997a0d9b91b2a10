"""The synthetic workload and the driver: deterministic for a seed, and exercising the engine's paths."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import WorkCalendar
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.simulation.driver import simulate
from engine.simulation.report import build_report, percentile, to_csv
from engine.simulation.workload import Workload, WorkloadSettings

# a batch starting in September runs into 2027, which the holiday data does not cover yet (stated fallback)
pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")

START = datetime(2026, 9, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CALENDAR = WorkCalendar.default()


def run_batch(tmp_path: Path, name: str, *, projects: int = 3, seed: int = 11, settings: WorkloadSettings | None = None):
    db = make_engine(f"sqlite:///{tmp_path / name}")
    migrate(db)
    clock = VirtualClock(START)
    catalogue = load_catalogue()
    service = ApprovalService(db, catalogue=catalogue, calendar=CALENDAR, clock=clock)
    service.deploy_bundled()
    workload = Workload(catalogue, CALENDAR, seed=seed, settings=settings)
    result = simulate(service, clock, workload, workload.projects(projects, clock.now()))
    return build_report(db, catalogue), result, service


def test_same_seed_same_report(tmp_path: Path) -> None:
    first, r1, _ = run_batch(tmp_path, "a.db")
    second, r2, _ = run_batch(tmp_path, "b.db")
    assert first == second
    assert r1.tasks_completed == r2.tasks_completed and r1.timers_fired == r2.timers_fired
    assert to_csv(first) == to_csv(second)


def test_every_project_runs_to_an_end(tmp_path: Path) -> None:
    report, result, _ = run_batch(tmp_path, "c.db")
    assert report["projects"]["total"] == 3
    assert report["projects"]["by_status"].get("running", 0) == 0
    assert result.tasks_completed > 3 * 10
    for stage in report["stages"]:
        assert stage["count"] > 0
        assert 0 < stage["span_working_days"]["median"] < 60
        assert stage["approval_working_days"]["mean"] <= stage["span_working_days"]["mean"] + 1e-9


def test_workload_projects_are_seeded() -> None:
    catalogue = load_catalogue()
    a = Workload(catalogue, CALENDAR, seed=5).projects(20, START)
    b = Workload(catalogue, CALENDAR, seed=5).projects(20, START)
    c = Workload(catalogue, CALENDAR, seed=6).projects(20, START)
    assert a == b
    assert a != c
    assert all(p.arrival >= START for p in a)
    assert len({p.filing["project_type"] for p in a}) >= 3


def test_slow_agency_and_tolerance_paths(tmp_path: Path) -> None:
    """Pushing the knobs makes 超时默许, tolerance and corrections happen in a tiny batch."""
    settings = WorkloadSettings(mix={"social_small": 1.0}, slow_departments=("yl", "jt"), slow_share_median=3.0,
                                intake_tolerance_p=1.0, broken_promise_p=0.0, correction_p=0.5)
    report, result, service = run_batch(tmp_path, "d.db", projects=2, seed=3, settings=settings)
    assert report["matters"]["silent_consent"] >= 2
    assert result.by_task.get("Task_SignCommitment", 0) >= 1
    assert result.by_task.get("Task_SupplyDocuments", 0) >= 1
    assert result.by_task.get("Task_MatterCorrection", 0) >= 1


def test_percentile_is_linear() -> None:
    assert percentile([], 0.9) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(11))), 0.9) == 9.0


def test_shards_give_the_same_figures_as_one_process(tmp_path: Path) -> None:
    """Projects never interact, so splitting a batch over processes changes nothing in the report."""
    from engine.simulation.driver import simulate_parallel

    reports = []
    for jobs in (1, 2):
        work = tmp_path / f"j{jobs}"
        work.mkdir()
        db = make_engine(f"sqlite:///{work / 'out.db'}")
        migrate(db)
        ApprovalService(db, catalogue=load_catalogue(), calendar=CALENDAR, clock=VirtualClock(START)).deploy_bundled()
        run = simulate_parallel(str(work / "out.db"), profile="default", seed=4, start=START, count=4, jobs=jobs,
                                workdir=str(work))
        assert run["projects"] == 4
        reports.append(build_report(db, load_catalogue()))
    assert reports[0] == reports[1]


def test_simulated_cases_keep_the_case_model_and_the_legal_order(tmp_path: Path) -> None:
    """On a simulated batch: no project ran matters that exclude each other, no permit came before its
    precondition, and the cases differ (not every project does every optional matter)."""
    report, _, service = run_batch(tmp_path, "i.db", projects=8, seed=5)
    integrity = report["route_integrity"]
    assert integrity["projects"] == 8
    assert integrity["exclusive"]["count"] == 0, integrity["exclusive"]["examples"]
    assert integrity["order"]["count"] == 0, integrity["order"]["examples"]
    from engine.persistence.uow import UnitOfWork

    with UnitOfWork(service.db, read_only=True) as uow:
        ran = {(r["project_id"], r["matter_id"]) for r in uow.subjects.query(level="matter")}
    per_project: dict[str, set[str]] = {}
    for pid, matter in ran:
        per_project.setdefault(pid, set()).add(matter)
    optional = {"s2_cultural_relics_opinion", "s2_eia_approval", "s2_traffic_impact_opinion", "s2_municipal_occupation",
                "s1_energy_review", "s2_soil_water_conservation"}
    assert len({frozenset(m & optional) for m in per_project.values()}) > 1, "every project ran the same optional matters"


def test_route_integrity_finds_a_permit_issued_before_its_precondition() -> None:
    """The check can fail: a construction permit issued before its planning permit is reported."""
    from datetime import timedelta

    from engine.analytics.integrity import route_integrity

    def row(key: str, matter: str, hours: float, outcome: str = "approved") -> dict:
        return {"project_id": "P1", "key": key, "matter_id": matter, "outcome": outcome,
                "ended_at": START + timedelta(hours=hours)}

    rows = [row("S2/s2_construction_planning_permit", "s2_construction_planning_permit", 10),
            row("S3/s3_drawing_review", "s3_drawing_review", 1),
            row("S3/s3_construction_permit", "s3_construction_permit", 5),
            row("S1/s1_project_filing", "s1_project_filing", 1), row("S1/s1_project_ratification", "s1_project_ratification", 1)]
    found = route_integrity(rows, load_catalogue())
    assert found["order"]["count"] == 1 and found["order"]["examples"][0]["precondition"] == "S2/s2_construction_planning_permit"
    assert found["exclusive"]["count"] == 1 and found["exclusive"]["examples"][0]["matters"] == ["s1_project_filing", "s1_project_ratification"]

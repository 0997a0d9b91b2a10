"""行政区划代码 on every project: validated on filing, stored on projects and subjects, in the facet every measure
filters by (a city takes in its counties), and drawn by the demo's workload."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from engine.analytics.measures import Filters, report
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.domain.divisions import DivisionError, check_code, levels, load_divisions, prefix
from engine.domain.project import ProjectFiling
from engine.domain.workcalendar import WorkCalendar
from engine.persistence import facets, tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.analytics import analytics_filters
from engine.services.approval import ApprovalService
from engine.services.errors import Invalid
from engine.simulation.scenario import parse_scenario, replay
from engine.simulation.workload import Workload

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")


def test_codes_are_checked_and_their_levels_derived() -> None:
    assert levels("360702") == levels("360702")
    lv = levels("360702")
    assert (lv.province, lv.city, lv.county) == ("360000", "360700", "360702")
    assert levels("360700").county is None and levels("360000").city is None
    assert (prefix("360000"), prefix("360700"), prefix("360702")) == ("36", "3607", "360702")
    for bad in ("36070", "3607021", "990000", "360021", "36O700"):
        with pytest.raises(DivisionError):
            check_code(bad)
    names = load_divisions()
    assert names.name("360702") == "赣州市章贡区" and names.name("369999") == "369999"
    assert len(names.cities("360000")) == 11  # the 设区市 the Jiangxi sheet ranks


def test_the_filing_validates_the_division() -> None:
    base = {"name": "x", "project_type": "social_small", "owner_id": "o"}
    assert ProjectFiling.model_validate(base).division_code is None
    assert ProjectFiling.model_validate({**base, "division_code": "360702"}).division_code == "360702"
    with pytest.raises(ValidationError, match="division_code"):
        ProjectFiling.model_validate({**base, "division_code": "990000"})


def test_a_division_joins_the_facet_only_when_there_is_one() -> None:
    """Rows without a division keep the ids migration 0007 gave them (nothing to backfill)."""
    five = ("social_small", "default", "S1", "zrzy", "s1_land_use_planning_permit")
    assert facets.facet_id(*five) == facets.facet_id(*five, None)
    assert facets.facet_id(*five) != facets.facet_id(*five, "360702")


def _actions(pid: str) -> list[dict]:
    return [{"at": "2026-11-02T10:00+08:00", "project": pid, "do": "submit", "stage": "S1"},
            {"at": "2026-11-02T10:00+08:00", "project": pid, "do": "accept", "stage": "S1"},
            {"at": "2026-11-02T16:00+08:00", "project": pid, "do": "approve", "matter": "s1_project_filing"},
            {"at": "2026-11-03T16:00+08:00", "project": pid, "do": "approve", "matter": "s1_land_use_planning_permit"},
            {"at": "2026-11-04T10:00+08:00", "project": pid, "do": "issue", "stage": "S1"}]


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> ApprovalService:
    """Three small projects: two in 赣州 (章贡区, 南康区), one in 南昌 (东湖区)."""
    where = {"G1": "360702", "G2": "360703", "N1": "360102"}
    raw = {"start": "2026-11-02T09:00:00+08:00",
           "projects": [{"id": pid, "project_type": "social_small", "owner": "o1", "division_code": code}
                        for pid, code in where.items()],
           "actions": [a for pid in where for a in _actions(pid)]}
    raw["actions"].sort(key=lambda a: a["at"])
    scenario = parse_scenario(raw)
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('division') / 'd.db'}")
    migrate(db)
    clock = VirtualClock(scenario.start)
    service = ApprovalService(db, catalogue=load_catalogue(), calendar=WorkCalendar.default(), clock=clock)
    service.deploy_bundled()
    replay(scenario, service, clock)
    return service


def test_division_is_stored_on_projects_and_subjects(three: ApprovalService) -> None:
    with three.db.connect() as conn:
        projects = dict(conn.execute(select(t.projects.c.id, t.projects.c.division_code)).all())
        subjects = set(conn.execute(select(t.subjects.c.project_id, t.subjects.c.division_code)).all())
        used = conn.execute(select(t.subjects.c.approval_days_used).where(t.subjects.c.key == "S1")).scalars().all()
    assert projects == {"G1": "360702", "G2": "360703", "N1": "360102"}
    assert subjects == set(projects.items())
    assert used == [2, 2, 2]  # accepted Mon, issued Wed: Tue and Wed, the clerk's count


def test_every_measure_filters_by_division_and_a_city_takes_in_its_counties(three: ApprovalService) -> None:
    with three.db.connect() as conn:
        def stages(division: str | None) -> int:
            rows = report(conn, Filters(division=division))["stages"]
            return sum(r["count"] for r in rows)

        assert stages(None) == 3
        assert stages("360700") == 2 and stages("360702") == 1 and stages("360100") == 1
        assert stages("360000") == 3 and stages("361100") == 0
        ganzhou = report(conn, Filters(division="360700"))
        assert ganzhou["overdue"]["stage"]["committed"]["of"] == 2 and ganzhou["parallel"]["of"] == 4
        assert ganzhou["matters"] and sum(r["count"] for r in ganzhou["matters"]) == 4


def test_timings_filter_by_division_like_the_report(three: ApprovalService) -> None:
    from engine.services.queries import timings

    def stage_count(division: str | None) -> int:
        return sum(row["count"] for row in timings(three.db, by="stage", division=division))

    assert stage_count(None) == 3 and stage_count("360700") == 2 and stage_count("360702") == 1
    assert timings(three.db, by="stage", division="361100") == []
    matters = timings(three.db, by="matter", division="360100")
    assert {row["matter_id"]: row["count"] for row in matters} == {"s1_land_use_planning_permit": 1,
                                                                   "s1_project_filing": 1}


def test_the_service_checks_the_division_filter() -> None:
    with pytest.raises(Invalid, match="division"):
        analytics_filters(load_catalogue(), division="990000")
    assert analytics_filters(load_catalogue(), division="360700").division == "360700"


def test_the_demo_draws_a_division_for_every_project() -> None:
    workload = Workload(load_catalogue(), WorkCalendar.default(), seed=3)
    plans = workload.projects(40, datetime(2026, 3, 2, tzinfo=timezone.utc))
    codes = {p.filing["division_code"] for p in plans}
    assert all(check_code(c) for c in codes) and len(codes) > 5
    cities = {levels(c).city for c in codes}
    assert cities <= set(load_divisions().cities("360000"))

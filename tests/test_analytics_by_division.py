"""Every measure of the report grouped by 行政区划代码 (``group_by=division``; ``gongai measures --by division``),
computed in SQL, checked against a Python reference over the subjects' own rows.

Five small 简易低风险 projects: two in 赣州市章贡区 (360702), one filed at the city itself (赣州市, 360700 — its
own group, not merged with its county's), one in 南昌市东湖区 (360102) and one without a division. Their S1s run
at different speeds (one takes a week, so its stage is late), so the groups differ.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from engine.analytics.measures import Filters, divisions_present, report, report_by_division
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import WorkCalendar
from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.analytics import kpi_report
from engine.services.approval import ApprovalService
from engine.services.users import UserStore
from engine.simulation.scenario import parse_scenario, replay

pytestmark = pytest.mark.filterwarnings("ignore::engine.domain.workcalendar.CalendarDataMissing")

WHERE = {"A": "360702", "B": "360700", "C": "360702", "D": "360102", "E": None}
#: the day each project's land-use permit is approved and its S1 issued (Nov 2026; accepted on Mon 2 Nov)
FINISH = {"A": (3, 4), "B": (4, 5), "C": (10, 11), "D": (3, 3), "E": (5, 6)}


def _actions(pid: str) -> list[dict[str, Any]]:
    approve, issue = FINISH[pid]
    return [{"at": "2026-11-02T10:00+08:00", "project": pid, "do": "submit", "stage": "S1"},
            {"at": "2026-11-02T11:00+08:00", "project": pid, "do": "accept", "stage": "S1"},
            {"at": "2026-11-02T16:00+08:00", "project": pid, "do": "approve", "matter": "s1_project_filing"},
            {"at": f"2026-11-{approve:02d}T15:00+08:00", "project": pid, "do": "approve",
             "matter": "s1_land_use_planning_permit"},
            {"at": f"2026-11-{issue:02d}T17:00+08:00", "project": pid, "do": "issue", "stage": "S1"}]


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> ApprovalService:
    projects = [{"id": pid, "project_type": "social_small", "owner": "o1", **({"division_code": code} if code else {})}
                for pid, code in WHERE.items()]
    actions = sorted((a for pid in WHERE for a in _actions(pid)), key=lambda a: a["at"])
    scenario = parse_scenario({"start": "2026-11-02T09:00:00+08:00", "projects": projects, "actions": actions})
    db = make_engine(f"sqlite:///{tmp_path_factory.mktemp('by-division') / 'd.db'}")
    migrate(db)
    clock = VirtualClock(scenario.start)
    service = ApprovalService(db, catalogue=load_catalogue(), calendar=WorkCalendar.default(), clock=clock)
    service.deploy_bundled()
    replay(scenario, service, clock)
    return service


# -- the Python reference -------------------------------------------------------------------------------------------
def _stats(values: list[float]) -> dict[str, float | None]:
    v = sorted(values)
    n = len(v)
    if not n:
        return {"mean": None, "median": None, "p90": None, "max": None}
    return {"mean": round(sum(v) / n, 4), "median": round((v[(n - 1) // 2] + v[n // 2]) / 2, 4),
            "p90": round(v[math.ceil(0.9 * n) - 1], 4), "max": round(v[-1], 4)}


def _reference(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The measures the report gives, worked out in Python from one division's subject rows."""
    out: dict[str, Any] = {}
    for level, group, name in (("stage", "stage", "stages"), ("matter", "department", "departments"),
                               ("matter", "matter_id", "matters"), ("project", None, "whole_process")):
        by: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r["level"] == level and r["ended_at"] is not None:
                by[r[group] if group else "all"].append(r)
        out[name] = {g: {"count": len(members), **{m: _stats([r[m] for r in members if r[m] is not None])
                                                   for m in ("approval_working_days", "approval_days_used",
                                                             "span_working_days")}}
                     for g, members in by.items()}
    for level in ("matter", "stage", "project"):
        finished = [r for r in rows if r["level"] == level and r["ended_at"] is not None]
        out[f"overdue_{level}"] = (sum(1 for r in finished if r["overdue"]), len(finished))
    started = [r for r in rows if r["level"] == "stage" and r["started_at"] is not None]
    out["tolerance"] = (sum(1 for r in started if r["intake"] == "tolerance"), len(started))
    return out


def _measured(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("stages", "departments", "matters", "whole_process"):
        out[name] = {row["group"]: {"count": row["count"], **{m: row[m] for m in (
            "approval_working_days", "approval_days_used", "span_working_days")}} for row in data[name]}
    for level in ("matter", "stage", "project"):
        rate = data["overdue"][level]["committed"]
        out[f"overdue_{level}"] = (rate["count"], rate["of"])
    out["tolerance"] = (data["commitments"]["tolerance"]["count"], data["commitments"]["tolerance"]["of"])
    return out


def test_each_division_group_is_its_own_rows_measured(five: ApprovalService) -> None:
    with five.db.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(t.subjects)).mappings()]
        grouped = report_by_division(conn, Filters(), now=five.clock.now())
        assert divisions_present(conn, Filters()) == ["360102", "360700", "360702", None]
        assert divisions_present(conn, Filters(division="360700")) == ["360700", "360702"]  # the city and its county
    groups = {g["division"]: g["report"] for g in grouped["groups"]}
    assert list(groups) == ["360102", "360700", "360702", None]
    for code, data in groups.items():
        mine = [r for r in rows if r["division_code"] == code]
        assert _measured(data) == _reference(mine), code
    # the groups differ (the slow S1 is in 章贡区) and add up to the ungrouped report
    assert groups["360702"]["stages"][0]["count"] == 2 and groups["360700"]["stages"][0]["count"] == 1
    assert _measured(groups["360702"]) != _measured(groups["360700"])
    with five.db.connect() as conn:
        everything = report(conn, Filters(), now=five.clock.now())
    assert sum(g["overdue"]["matter"]["committed"]["of"] for g in groups.values()) == \
        everything["overdue"]["matter"]["committed"]["of"]


def test_the_grouping_keeps_the_other_filters(five: ApprovalService) -> None:
    with five.db.connect() as conn:
        grouped = report_by_division(conn, Filters(division="360700", department="zrzy"), now=five.clock.now())
        rows = [dict(r) for r in conn.execute(select(t.subjects)).mappings()]
    groups = {g["division"]: g["report"] for g in grouped["groups"]}
    assert list(groups) == ["360700", "360702"]
    for code, data in groups.items():
        zrzy = [r for r in rows if r["division_code"] == code and r["level"] == "matter" and r["department"] == "zrzy"]
        assert {row["group"] for row in data["departments"]} == {"zrzy"}
        assert data["departments"][0]["count"] == len([r for r in zrzy if r["ended_at"] is not None])


def test_the_api_and_the_cli_group_by_division(five: ApprovalService) -> None:
    from api.app import create_app
    from engine.cli import app

    token = UserStore(five.db).add("by-division-analyst", "analyst")[1]
    client = TestClient(create_app(five), raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}
    body = client.get("/analytics/report", headers=h, params={"group_by": "division"}).json()
    assert body["group_by"] == "division"
    assert [(g["division"], g["name"]) for g in body["groups"]][:3] == [
        ("360102", "南昌市东湖区"), ("360700", "赣州市"), ("360702", "赣州市章贡区")]
    assert body["groups"][3]["division"] is None and body["groups"][3]["name"] == "未填行政区划"
    direct = kpi_report(five.db, five.catalogue, Filters(), now=five.clock.now(), group_by="division")
    assert body == __import__("json").loads(__import__("json").dumps(direct))
    assert all(g["scoring_sheet"] for g in body["groups"])  # every measure, the sheet's indicators too
    bad = client.get("/analytics/report", headers=h, params={"group_by": "county"})
    assert bad.status_code == 422 and "group_by" in bad.json()["detail"]
    out = CliRunner().invoke(app, ["measures", "--db", str(five.db.url), "--by", "division"], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert out.output.index("360102") < out.output.index("360700") < out.output.index("赣州市章贡区")
    wrong = CliRunner().invoke(app, ["measures", "--db", str(five.db.url), "--by", "county"])
    assert wrong.exit_code == 2 and "--by" in wrong.output

"""The analysts' HTTP routes against the engine's own figures: ``/analytics/report`` is ``measures.report`` on the
same database, ``/analytics/events.xes`` is the event log trace by trace, ``/analytics/timings`` filters by
matter and jurisdiction; unknown filter values are 422 problems naming them, other roles get 403.

The data: the three projects of tests/analytics_scenario.py (social_general, driven through the service) in
the API harness's own database, plus one 简易低风险 (social_small) project driven over HTTP through its S1, so
that a project-type filter has something to tell apart.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.analytics import measures
from engine.analytics.scoring import sheet_values
from engine.analytics.measures import Filters
from engine.bpmn.safe_xml import parse_xml
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import SHANGHAI
from engine.persistence import tables as t
from engine.simulation.cases import typical_case
from tests.analytics_scenario import build
from tests.test_api_support import Harness, default_payload, make_harness

FILING_MATTERS = sorted(m.id for m in load_catalogue().matters.values() if m.kind == "filing")


def _drive_first_stage(hz: Harness, pid: str, stage: str) -> None:
    """Complete every ready task of ``stage`` over HTTP until the project moves past it."""
    for _ in range(60):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        if not ready or any(task["stage"] != stage for task in ready):
            return
        task = ready[0]
        if task["spec_id"] == "Task_SubmitFiling":
            hz.post("owner1", f"/projects/{pid}/filings", {"stage": stage})
        else:
            hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", default_payload(task))
    raise AssertionError(f"{stage} of {pid} did not finish in 60 steps")


@pytest.fixture(scope="module")
def hz(tmp_path_factory) -> Harness:
    where = tmp_path_factory.mktemp("api-analytics")
    _, ids = build(f"sqlite:///{where / 'api.db'}")  # make_harness opens the same file (migrate is idempotent)
    harness = make_harness(where)
    small = harness.post("owner1", "/projects", {"name": "小型仓库", "project_type": "social_small", "case": typical_case("social_small")}, status=201)["id"]
    _drive_first_stage(harness, small, "S1")
    harness.ids = {**ids, "small": small}  # type: ignore[attr-defined]
    return harness


def _direct(hz: Harness, filters: Filters = Filters(), threshold: float = 10.0) -> dict[str, Any]:
    with hz.service.db.connect() as conn:
        data = measures.report(conn, filters, filing_matters=FILING_MATTERS, threshold_minutes=threshold,
                               now=hz.clock.now())
        # and the scoring sheet's indicators (engine/analytics/scoring.py), as kpi_report adds them
        data["scoring_sheet"] = sheet_values(conn, filters, catalogue=hz.service.catalogue,
                                             filing_matters=FILING_MATTERS, threshold_minutes=threshold,
                                             now=hz.clock.now())
    return json.loads(json.dumps(data))


def _problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()["detail"]


# -- /analytics/report ------------------------------------------------------------------------------------------
def test_report_is_the_measures_report(hz: Harness) -> None:
    api = hz.get("analyst1", "/analytics/report")
    assert api == _direct(hz)
    assert api["stages"] and api["matters"] and api["off_system_suspects"]["count"] >= 1  # the scenario's 3-minute permit
    assert hz.get("admin", "/analytics/report") == api


@pytest.mark.parametrize("query, filters, threshold", [
    ("project_type=social_general&stage=S1", Filters(project_type="social_general", stage="S1"), 10.0),
    ("department=fgw&suspect_minutes=2.5", Filters(department="fgw"), 2.5),
    ("matter=s1_energy_review&jurisdiction=default", Filters(matter="s1_energy_review", jurisdiction="default"), 10.0),
    ("since=2026-10-01T00:00:00&until=2026-11-03T00:00:00",  # naive = Asia/Shanghai
     Filters(since=datetime(2026, 10, 1, tzinfo=SHANGHAI), until=datetime(2026, 11, 3, tzinfo=SHANGHAI)), 10.0),
    ("since=2026-11-01T00:00:00%2B00:00", Filters(since=datetime.fromisoformat("2026-11-01T00:00:00+00:00")), 1440.0),
])
def test_report_filters_are_the_measures_filters(hz: Harness, query: str, filters: Filters, threshold: float) -> None:
    if threshold != 10.0 and "suspect_minutes" not in query:
        query += f"&suspect_minutes={threshold:g}"
    assert hz.get("analyst1", f"/analytics/report?{query}") == _direct(hz, filters, threshold)


def test_a_project_type_filter_splits_the_counts(hz: Harness) -> None:
    def s1(query: str) -> tuple[int, int]:
        data = hz.get("analyst1", f"/analytics/report?stage=S1{query}")
        finished = {row["group"]: row["count"] for row in data["stages"]}.get("S1", 0)
        return finished, data["commitments"]["tolerance"]["of"]  # finished / accepted S1 stages

    everything, general, small = s1(""), s1("&project_type=social_general"), s1("&project_type=social_small")
    assert general == (3, 3) and small == (1, 1)  # A, B, C and the 简易低风险 project
    assert everything == (general[0] + small[0], general[1] + small[1])
    assert s1("&project_type=gov_building") == (0, 0)
    assert s1("&jurisdiction=jiangxi") == (0, 0) and s1("&jurisdiction=default") == everything


@pytest.mark.parametrize("query, named", [
    ("project_type=castle", "'castle'"),
    ("stage=S9", "'S9'"),
    ("department=nowhere", "'nowhere'"),
    ("matter=s9_magic", "'s9_magic'"),
    ("jurisdiction=atlantis", "'atlantis'"),
    ("jurisdiction=..%2Fdefault", "jurisdiction"),  # the pattern keeps paths out of the profile look-up
    ("suspect_minutes=0", "suspect_minutes"),
    ("suspect_minutes=-3", "suspect_minutes"),
    ("suspect_minutes=1441", "suspect_minutes"),
    ("suspect_minutes=nan", "suspect_minutes"),
    ("suspect_minutes=soon", "suspect_minutes"),
    ("since=2026-11-01T00:00:00&until=2026-11-01T00:00:00", "2026-11-01T00:00:00"),
    ("since=2026-12-01&until=2026-11-01", "2026-12-01T00:00:00 is not before until 2026-11-01"),  # dates: midnight
])
def test_report_refuses_unknown_or_bad_filters(hz: Harness, query: str, named: str) -> None:
    detail = _problem(hz.client.get(f"/analytics/report?{query}", headers=hz.h("analyst1")), 422)
    assert named in detail


@pytest.mark.parametrize("who", ["owner1", "agent1", "window1", "officer-zjj"])
@pytest.mark.parametrize("url", ["/analytics/report", "/analytics/events.xes", "/analytics/timings?by=matter&matter=s1_energy_review"])
def test_only_analysts_and_admins(hz: Harness, who: str, url: str) -> None:
    assert _problem(hz.client.get(url, headers=hz.h(who)), 403)


# -- /analytics/events.xes --------------------------------------------------------------------------------------
def test_events_xes_is_the_event_log(hz: Harness) -> None:
    r = hz.client.get("/analytics/events.xes", headers=hz.h("analyst1"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    assert r.headers["content-disposition"] == 'attachment; filename="gongai-events.xes"'
    root = parse_xml(r.content, source="gongai-events.xes")  # the project's hardened parser: no DTD, no entities
    assert root.tag == "log" and root.get("xes.version") == "1849-2016"
    traces = {next(a.get("value") for a in trace.findall("string") if a.get("key") == "concept:name"): trace
              for trace in root.findall("trace")}
    assert sorted(traces) == sorted(hz.ids.values())  # type: ignore[attr-defined]
    assert len(root.findall("trace")) == len(traces)  # one trace per project
    with hz.service.db.connect() as conn:
        rows = dict(conn.execute(select(t.events.c.project_id, func.count()).group_by(t.events.c.project_id)).all())
    assert {pid: len(trace.findall("event")) for pid, trace in traces.items()} == rows


def _xes_traces(hz: Harness, query: str) -> dict[str, list[int]]:
    r = hz.client.get(f"/analytics/events.xes?{query}", headers=hz.h("analyst1"))
    assert r.status_code == 200, r.text
    root = parse_xml(r.content, source="gongai-events.xes")
    return {next(a.get("value") for a in trace.findall("string") if a.get("key") == "concept:name"):
            [int(next(a.get("value") for a in e if a.get("key") == "event_id")) for e in trace.findall("event")]
            for trace in root.findall("trace")}


def test_events_xes_of_one_project_is_one_trace(hz: Harness) -> None:
    pid = hz.ids["B"]  # type: ignore[attr-defined]
    traces = _xes_traces(hz, f"project_id={pid}")
    with hz.service.db.connect() as conn:
        ids = list(conn.execute(select(t.events.c.id).where(t.events.c.project_id == pid)
                                .order_by(t.events.c.at, t.events.c.id)).scalars())
    assert list(traces) == [pid] and traces[pid] == ids


def test_events_xes_window_is_on_the_event_instant(hz: Harness) -> None:
    since, until = datetime(2026, 11, 3, tzinfo=SHANGHAI), datetime(2026, 11, 5, 12, tzinfo=SHANGHAI)
    traces = _xes_traces(hz, "since=2026-11-03&until=2026-11-05T12:00:00")  # naive = Asia/Shanghai
    with hz.service.db.connect() as conn:
        rows = conn.execute(select(t.events.c.project_id, t.events.c.id)
                            .where(t.events.c.at >= since, t.events.c.at < until)
                            .order_by(t.events.c.project_id, t.events.c.at, t.events.c.id)).all()
    expected: dict[str, list[int]] = {}
    for pid, event_id in rows:
        expected.setdefault(pid, []).append(event_id)
    assert expected and traces == expected


@pytest.mark.parametrize("query, status, named", [
    ("project_id=P2099-999999", 422, "'P2099-999999'"),
    ("since=2026-11-05&until=2026-11-03", 422, "is not before until"),
])
def test_events_xes_refuses_unknown_projects_and_backward_windows(hz: Harness, query: str, status: int,
                                                                  named: str) -> None:
    assert named in _problem(hz.client.get(f"/analytics/events.xes?{query}", headers=hz.h("analyst1")), status)


# -- /analytics/timings -----------------------------------------------------------------------------------------
def test_timings_by_matter_filter(hz: Harness) -> None:
    rows = hz.get("analyst1", "/analytics/timings?by=matter&matter=s1_energy_review")
    assert [row["matter_id"] for row in rows] == ["s1_energy_review"]
    with hz.service.db.connect() as conn:
        subjects = Counter(conn.execute(select(t.subjects.c.matter_id).where(t.subjects.c.level == "matter")).scalars())
    assert rows[0]["count"] == subjects["s1_energy_review"] == 3
    everything = {row["matter_id"]: row for row in hz.get("analyst1", "/analytics/timings?by=matter")}
    assert rows[0] == everything["s1_energy_review"]  # the same figures, the other matters left out
    by_department = hz.get("analyst1", "/analytics/timings?by=department&matter=s1_energy_review")
    assert [(row["department"], row["count"]) for row in by_department] == [("fgw", 3)]


def test_timings_jurisdiction_filter(hz: Harness) -> None:
    everything = hz.get("analyst1", "/analytics/timings?by=stage")
    assert everything and hz.get("analyst1", "/analytics/timings?by=stage&jurisdiction=default") == everything
    assert hz.get("analyst1", "/analytics/timings?by=stage&jurisdiction=jiangxi") == []


@pytest.mark.parametrize("query, named", [
    ("by=matter&matter=s9_magic", "'s9_magic'"),
    ("by=stage&matter=s1_energy_review", "by=stage"),  # the measures apply a matter filter to matter levels only
    ("by=stage&jurisdiction=atlantis", "'atlantis'"),
    ("by=stage&project_type=castle", "'castle'"),
    # department (like matter) filters matter-level figures only; a stage row's department is its lead
    ("by=stage&department=zrzy", "by=stage"),
    ("by=project&department=zrzy", "by=project"),
    ("by=project&stage=S1", "by=project"),  # the whole process has no stage
    ("by=stage&division=990000", "990000"),  # not a province code
    ("by=stage&division=36070", "division"),  # not six digits
])
def test_timings_refuses_unknown_filters(hz: Harness, query: str, named: str) -> None:
    assert named in _problem(hz.client.get(f"/analytics/timings?{query}", headers=hz.h("analyst1")), 422)


def test_timings_department_filter_on_matter_groupings_is_the_report_s(hz: Harness) -> None:
    """Where department is allowed, both halves of a row (counts and distribution) come from the same matters."""
    rows = hz.get("analyst1", "/analytics/timings?by=department&department=fgw")
    assert [row["department"] for row in rows] == ["fgw"]
    report = {row["group"]: row for row in hz.get("analyst1", "/analytics/report?department=fgw")["departments"]}
    assert rows[0]["finished"] == report["fgw"]["count"]
    assert rows[0]["approval_working_days"] == {k: report["fgw"]["approval_working_days"][k]
                                                for k in ("mean", "median", "p90", "max")}
    by_matter = hz.get("analyst1", "/analytics/timings?by=matter&department=fgw")
    assert by_matter and sum(row["count"] for row in by_matter) == rows[0]["count"]


def test_timings_by_filing_is_the_window_s_time_per_stage(hz: Harness) -> None:
    """受理用时: each stage filing from submission to the window's decision, per stage, as stored."""
    rows = {row["stage"]: row for row in hz.get("analyst1", "/analytics/timings?by=filing")}
    with hz.service.db.connect() as conn:
        stored = Counter(conn.execute(select(t.subjects.c.stage).where(
            t.subjects.c.level == "filing", t.subjects.c.started_at.is_not(None))).scalars())
    assert stored and {stage: row["count"] for stage, row in rows.items()} == dict(stored)
    small = next(f for f in hz.service.timing(hz.ids["small"])["filings"] if f["stage"] == "S1")  # type: ignore[attr-defined]
    assert small["outcome"] == "accepted" and small["end"] is not None  # filed and accepted over HTTP
    for row in rows.values():
        assert row["finished"] <= row["count"]
        a, s = row["approval_working_days"], row["span_working_days"]
        if a["max"] is not None:  # the window's own time never exceeds the whole wait
            assert a["max"] <= s["max"] + 1e-9
    assert hz.get("analyst1", "/analytics/timings?by=filing&stage=S1") == [rows["S1"]]

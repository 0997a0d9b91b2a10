"""Critical path of a stage: the BPMN graph with the matter multi-instance expanded, weighted by durations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from engine.analytics.critical_path import (
    critical_path_share,
    department_critical_share,
    longest_path,
    observed_matter_means,
    stage_critical_path,
    stage_graph,
)
from engine.analytics.measures import Filters, department_durations, last_to_finish
from engine.persistence import facets, tables as t

ROOT = Path(__file__).resolve().parents[1]
PARALLEL = ROOT / "bpmn" / "stage_approval.bpmn"
SERIAL = ROOT / "bpmn" / "variants" / "stage_approval_serial.bpmn"
MATTERS = {"design": 4.0, "planning": 6.5, "greening": 2.0}


def test_parallel_stage_critical_path_runs_through_the_longest_matter() -> None:
    path = longest_path(stage_graph(PARALLEL, MATTERS, weights={"Call_Intake": 0.5, "Task_IssueResult": 1.0}))
    assert path.critical_matter == "planning"
    assert [n for n in path.nodes if n.startswith("matter:")] == ["matter:planning"]
    assert path.nodes[0] == "StartEvent_Stage" and "Task_IssueResult" in path.nodes
    assert path.length == pytest.approx(0.5 + 6.5 + 1.0)


def test_serial_stage_chains_every_matter() -> None:
    graph = stage_graph(SERIAL, MATTERS)
    assert graph.has_edge("matter:design", "matter:planning") and graph.has_edge("matter:planning", "matter:greening")
    path = longest_path(graph)
    assert path.length == pytest.approx(12.5)
    assert [n for n in path.nodes if n.startswith("matter:")] == ["matter:design", "matter:planning", "matter:greening"]
    assert path.critical_matter == "planning"


def test_sequential_override_and_empty_stage() -> None:
    assert longest_path(stage_graph(PARALLEL, MATTERS, sequential=True)).length == pytest.approx(12.5)
    empty = longest_path(stage_graph(PARALLEL, {}))
    assert empty.length == 0 and empty.critical_matter is None


def test_a_cycle_is_refused() -> None:
    graph = stage_graph(PARALLEL, MATTERS)
    graph.add_edge("Task_IssueResult", "Call_Intake")
    with pytest.raises(ValueError, match="cycle"):
        longest_path(graph)


@pytest.fixture()
def conn():
    engine = create_engine("sqlite://")
    t.metadata.create_all(engine, tables=[t.subjects, t.subject_facets])
    start = datetime(2026, 9, 1, 1, tzinfo=timezone.utc)
    rows = []
    # P1: planning ends last; P2: design ends last; P3: planning again
    for pid, durations in (("P1", {"design": 3, "planning": 5}), ("P2", {"design": 6, "planning": 2}),
                           ("P3", {"design": 1, "planning": 4, "greening": 2})):
        for matter, days in durations.items():
            rows.append({"project_id": pid, "key": f"S2/{matter}", "level": "matter", "project_type": "social_general",
                         "stage": "S2", "matter_id": matter, "department": "yl" if matter == "greening" else "zrzy",
                         "started_at": start, "ended_at": start + timedelta(days=days), "outcome": "approved",
                         "span_working_days": float(days), "approval_working_days": float(days), "state": {},
                         **facets.keys("social_general", "default", "S2", "yl" if matter == "greening" else "zrzy",
                                       matter, start)})
    for pid in ("P1", "P2", "P3"):  # the flag the engine stores (_flush_ledger)
        mine = [r for r in rows if r["project_id"] == pid]
        last = last_to_finish((r["key"], r["matter_id"], r["ended_at"]) for r in mine)
        for r in mine:
            r["critical"] = r["key"] == last
    with engine.begin() as c:
        facets.ensure(c, {("social_general", "default", "S2", r["department"], r["matter_id"]) for r in rows})
        c.execute(insert(t.subjects), rows)
    with engine.connect() as c:
        yield c


def test_critical_path_share_counts_the_matter_that_ended_last(conn) -> None:
    rows = {r["matter_id"]: r for r in critical_path_share(conn)}
    assert rows["planning"]["critical"] == 2 and rows["planning"]["stages"] == 3
    assert rows["planning"]["share"] == pytest.approx(2 / 3, abs=1e-4)
    assert rows["design"]["critical"] == 1 and rows["greening"]["critical"] == 0
    assert department_critical_share(list(rows.values())) == {"yl": 0.0, "zrzy": pytest.approx(3 / 6, abs=1e-4)}
    assert [r["matter_id"] for r in critical_path_share(conn, Filters(department="yl"))] == ["greening"]
    assert critical_path_share(conn, Filters(stage="S3")) == []
    # the bottleneck figures carry the same counts, per department
    by_department = {r["group"]: r["critical_path"] for r in department_durations(conn)}
    assert by_department == {"yl": {"count": 0, "of": 1, "rate": 0.0}, "zrzy": {"count": 3, "of": 6, "rate": 0.5}}


def test_last_to_finish_by_hand() -> None:
    t0 = datetime(2026, 9, 1, tzinfo=timezone.utc)
    assert last_to_finish([("S2/a", "a", t0), ("S2/b", "b", t0 + timedelta(hours=1)), ("S2/c", "c", None)]) == "S2/b"
    assert last_to_finish([("S2/a", "a", t0), ("S2/b", "b", t0)]) == "S2/b"  # a tie: the greater matter id
    assert last_to_finish([("S2/c", "c", None)]) is None


def test_stage_critical_path_from_observed_means(conn) -> None:
    assert observed_matter_means(conn, "S2") == {"design": pytest.approx(10 / 3), "greening": 2.0,
                                                 "planning": pytest.approx(11 / 3)}
    assert stage_critical_path(conn, PARALLEL, "S2").critical_matter == "planning"
    assert stage_critical_path(conn, SERIAL, "S2").length == pytest.approx(10 / 3 + 2 + 11 / 3)

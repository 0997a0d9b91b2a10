"""Three analytics defects found on the demo's own figures (issue 11), each pinned by a test.

- the demo merges its shards without ``subject_facets``: every filtered measure read 0 of 0;
- a running project whose only open matter waits for 补正: the whole process ignored the stop (it stopped at
  the very instant of the flush, so the stored window had no open gap) and kept counting;
- a revoked project's stages and matters cancelled with it ended in the ledger but not in the event log, so
  their XES traces had a start and no end.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from engine.analytics.export import write_xes
from engine.analytics.measures import Filters, report, stage_durations
from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import SHANGHAI, WorkCalendar
from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.simulation.scenario import parse_scenario, replay

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def test_merged_shards_keep_their_facets(tmp_path: Path) -> None:
    """After ``simulate_parallel`` every subject's facet is listed, so a stage filter finds what no filter finds."""
    from engine.simulation.driver import simulate_parallel

    db = make_engine(f"sqlite:///{tmp_path / 'out.db'}")
    migrate(db)
    ApprovalService(db, catalogue=load_catalogue(), calendar=WorkCalendar.default(),
                    clock=VirtualClock(START)).deploy_bundled()
    simulate_parallel(str(tmp_path / "out.db"), profile="default", seed=4, start=START, count=4, jobs=2,
                      workdir=str(tmp_path))
    with db.connect() as conn:
        unlisted = conn.execute(select(func.count()).select_from(t.subjects).where(
            t.subjects.c.facet.not_in(select(t.subject_facets.c.id)))).scalar_one()
        assert unlisted == 0
        everything = {row["group"]: row["count"] for row in stage_durations(conn)}
        assert everything, "the demo finished some stages"
        for stage, count in everything.items():
            assert [row["count"] for row in stage_durations(conn, Filters(stage=stage))] == [count]
        kind = conn.execute(select(t.projects.c.project_type).limit(1)).scalar_one()
        assert report(conn, Filters(project_type=kind))["stages"], "a project-type filter finds that type's stages"


def test_every_table_is_merged_or_known_not_to_be() -> None:
    """A table added later is not silently left out of the demo's merge (as ``subject_facets`` was)."""
    from engine.simulation.driver import MERGED_TABLES, NOT_MERGED

    assert set(t.metadata.tables) == set(MERGED_TABLES) | set(NOT_MERGED)


def _run(raw: dict, tmp_path: Path) -> tuple[ApprovalService, dict]:
    scenario = parse_scenario(raw)
    db = make_engine(f"sqlite:///{tmp_path / 'scenario.db'}")
    migrate(db)
    clock = VirtualClock(scenario.start)
    service = ApprovalService(db, catalogue=load_catalogue(scenario.profile), calendar=WorkCalendar.default(),
                              clock=clock)
    service.deploy_bundled()
    return service, replay(scenario, service, clock).timings


def test_open_correction_stops_the_whole_process(tmp_path: Path) -> None:
    """S1's last open matter waits for 补正 for weeks: the stage and the whole process are both stopped."""
    raw = {
        "start": "2026-11-02T09:00:00+08:00",
        "projects": [{"id": "P1", "project_type": "social_small", "owner": "o1"}],
        "actions": [
            {"at": "2026-11-02T10:00+08:00", "do": "submit", "stage": "S1"},
            {"at": "2026-11-02T10:00+08:00", "do": "accept", "stage": "S1"},
            {"at": "2026-11-02T16:00+08:00", "do": "approve", "matter": "s1_project_filing"},
            {"at": "2026-11-03T11:00+08:00", "do": "request_correction", "matter": "s1_land_use_planning_permit",
             "items": ["补充宗地图"]},
            {"at": "2026-12-31T09:00+08:00", "do": "run_until"},
        ],
    }
    service, timings = _run(raw, tmp_path)
    timing = timings["P1"]
    stage = next(s for s in timing["stages"] if s["key"] == "S1")
    whole = timing["project"]
    # Mon 10:00 → Tue 11:00: 25 h of work, then stopped
    assert stage["approval_working_days"] == pytest.approx(25 / 24, abs=1e-3)
    assert stage["status"] != "overdue"
    assert whole["approval_working_days"] == pytest.approx(stage["approval_working_days"], abs=1e-3)
    assert whole["status"] != "overdue"


REVOKED = {
    "start": "2026-11-02T09:00:00+08:00",
    "projects": [{"id": "P1", "project_type": "social_small", "owner": "o1"}],
    "actions": [
        {"at": "2026-11-02T10:00+08:00", "do": "submit", "stage": "S1"},
        {"at": "2026-11-02T10:00+08:00", "do": "intake", "stage": "S1", "outcome": "tolerance",
         "missing": ["s1_land_use_planning_permit:parcel_survey"]},
        {"do": "sign_commitment", "stage": "S1"},
        {"at": "2026-11-03T10:00+08:00", "do": "approve", "matter": "s1_project_filing"},
        {"do": "approve", "matter": "s1_land_use_planning_permit"},
        {"at": "2026-11-04T10:00+08:00", "do": "issue", "stage": "S1"},
        {"at": "2026-11-09T10:00+08:00", "do": "submit", "stage": "S23"},
        {"at": "2026-11-09T10:00+08:00", "do": "accept", "stage": "S23"},
        {"at": "2026-11-10T10:00+08:00", "do": "request_correction", "matter": "s3_construction_permit",
         "items": ["补充施工图审查合格书"]},
        # the supply deadline passes (24:00 Mon 30 Nov): 拟撤销告知, no 陈述申辩, the lead department revokes
        {"at": "2026-12-09T10:00+08:00", "do": "decide_revocation", "stage": "S1", "decision": "revoke"},
        {"at": "2026-12-10T09:00+08:00", "do": "run_until"},
    ],
}


def test_revoked_project_trace_ends_what_it_starts(tmp_path: Path) -> None:
    """Every stage, matter and clock stop started in a revoked project's trace is ended in it."""
    service, timings = _run(REVOKED, tmp_path)
    # S23 is refused on its own (the construction permit's 补正 lapsed before the revocation ended the planning
    # permit), so the route stopped on a refusal, not on the revocation
    assert service.project("P1")["result"] == "refused"
    out = BytesIO()
    with service.db.connect() as conn:
        write_xes(conn, out, project_id="P1")
    events = etree.fromstring(out.getvalue()).findall("trace/event")
    opened: Counter[tuple[str, str]] = Counter()
    for event in events:
        attrs = {a.get("key"): a.get("value") for a in event}
        name, instance, transition = attrs["concept:name"], attrs.get("concept:instance", ""), attrs["lifecycle:transition"]
        if not (name.startswith("stage:") or name.startswith("matter:")):
            continue
        if transition == "start":
            opened[(name, instance)] += 1
        elif transition == "complete" and attrs["event_type"] in ("stage_completed", "matter_completed"):
            opened[(name, instance)] -= 1
        elif transition == "suspend":
            opened[("stop", instance)] += 1
        elif transition == "resume":
            opened[("stop", instance)] -= 1
    assert {k: v for k, v in opened.items() if v} == {}
    cancelled = [a for e in events for a in e if a.get("key") == "data" and "cancelled" in a.get("value")]
    assert cancelled, "the cancelled stages say so"
    # the ledger and the log agree: what ends cancelled in the timing ended in the log at the same instant
    s23 = next(s for s in timings["P1"]["stages"] if s["key"] == "S23")
    assert s23["outcome"] == "refused"  # its planning permit was built on the revoked S1 permit (terminated)


def test_the_merged_demo_database_keeps_its_audit_chain(tmp_path: Path) -> None:
    """Shards are merged into one database: the events' audit chain (ids renumbered) still verifies."""
    from engine.persistence.audit import verify
    from engine.simulation.driver import simulate_parallel

    db_path = tmp_path / "demo.db"
    db = make_engine(f"sqlite:///{db_path}")
    migrate(db)
    ApprovalService(db, catalogue=load_catalogue(), calendar=WorkCalendar.default(),
                    clock=VirtualClock(datetime(2026, 9, 1, 9, 0, tzinfo=SHANGHAI))).deploy_bundled()
    db.dispose()
    simulate_parallel(str(db_path), profile="default", seed=3, start=datetime(2026, 9, 1, 9, 0, tzinfo=SHANGHAI),
                      count=4, jobs=2, workdir=str(tmp_path))
    with make_engine(f"sqlite:///{db_path}").connect() as conn:
        checked, problems = verify(conn)
    assert checked > 0 and problems == []


def test_broken_commitments_count_revocations_not_stage_outcomes(tmp_path: Path) -> None:
    """撤销 is per permit and the stage keeps its result: a broken commitment is a committed stage whose follow-up
    revoked (its revocation_scope), not a stage outcome — the rate must not read 0 because no stage says revoked."""
    from engine.analytics.measures import tolerance_and_commitment

    service, timings = _run(REVOKED, tmp_path)
    assert next(s for s in timings["P1"]["stages"] if s["key"] == "S1")["outcome"] == "approved_with_tolerance"
    with service.db.connect() as conn:
        shares = tolerance_and_commitment(conn)
    assert (shares["broken_commitments"]["count"], shares["broken_commitments"]["of"]) == (1, 1)

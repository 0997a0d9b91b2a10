"""What makes the measures fast at scale stays exactly what they measure (docs/analytics.md, Performance).

- ``subjects.parallel_after`` (并联): kept by the engine as matters start and end, computed the same by the
  migration's SQL backfill, and giving the same rate as the window definition it replaces, at any ``now``.
- Distributions read from the index order (unfiltered) and from a ROW_NUMBER pass (filtered) agree.
- Migrations 0004/0005 go down and up again. The stored/definition comparisons run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib
import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, inspect, select, update

from engine.analytics import measures
from engine.analytics.measures import ALWAYS, Filters, parallel_after, parallel_rate
from engine.persistence import facets, tables as t
from engine.persistence.db import make_engine, migrate, missing_schema
from tests.analytics_scenario import build, local
from tests.pg_server import pg_server  # noqa: F401  (fixture)

_s = t.subjects
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
from bench.analytics_bench import legacy_parallel_rate  # the window definition parallel_after replaced

backfill = importlib.import_module("engine.persistence.migrations.versions.0005_parallel_after").backfill
_m0007 = importlib.import_module("engine.persistence.migrations.versions.0007_subject_facets")
facet_backfill, critical_backfill = _m0007.backfill, _m0007.backfill_critical


# -- the definition, taken apart ----------------------------------------------------------------------------------
def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_parallel_after_by_hand() -> None:
    # a alone: never
    assert parallel_after([("a", h(0), h(5))]) == {"a": None}
    # both finished, overlapping: always; touching (b starts when a ends): neither
    assert parallel_after([("a", h(0), h(5)), ("b", h(1), h(3))]) == {"a": ALWAYS, "b": ALWAYS}
    assert parallel_after([("a", h(0), h(5)), ("b", h(5), h(6))]) == {"a": None, "b": None}
    # a running, b started later and finished: a from b's start; b from its own start (a still runs)
    got = parallel_after([("a", h(0), None), ("b", h(2), h(3))])
    assert got["a"] == h(2)  # next start 2 h: parallel once now > 2 h
    assert got["b"] == h(2)  # a (earlier) is running: parallel once now > b's start
    # same start: ordered by key
    assert parallel_after([("y", h(0), h(1)), ("x", h(0), h(2))]) == {"x": ALWAYS, "y": ALWAYS}


def _random_siblings(rnd: random.Random, n: int) -> list[tuple[str, datetime, datetime | None]]:
    out = []
    for i in range(n):
        start = h(rnd.choice([0, 0, 1, 2, 3.5, 6]))
        end = None if rnd.random() < 0.3 else start + timedelta(hours=rnd.choice([0, 0.5, 1, 2, 4]))
        out.append((f"S2/m{i}", start, end))
    return out


def _figures(rnd: random.Random, start: datetime, end: datetime | None) -> dict[str, Any]:
    span = ((end or start) - start).total_seconds() / 86400
    return {"span_natural_days": round(span, 4), "span_working_days": round(span * 5 / 7, 4),
            "approval_natural_days": None if rnd.random() < 0.2 else round(span * rnd.choice([0.5, 1.0]), 4),
            "approval_working_days": round(span * rnd.choice([0.25, 0.5, 0.75]), 4),
            # the whole days (受理次日起算), missing on rows written before migration 0012 stored them
            "approval_days_used": None if end is None or rnd.random() < 0.1 else math.ceil(span * 5 / 7)}


@pytest.fixture(params=["sqlite", "postgresql"])
def generated(request, tmp_path):
    """Random project stages written straight into ``subjects`` (started, finished, running, ties, touching),
    on SQLite and on PostgreSQL (the backfill's window SQL and the stored comparison must hold on both)."""
    if request.param == "sqlite":
        db = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    else:
        db = make_engine(request.getfixturevalue("pg_server").create_database())
    migrate(db)
    rnd = random.Random(7)
    with db.begin() as conn:
        definition = conn.execute(insert(t.definitions).values(process_id="p", version=1, content_hash="h", files={},
                                                               deployed_at=T0)).inserted_primary_key[0]
        for p in range(40):
            pid = f"P{p}"
            conn.execute(insert(t.projects).values(
                id=pid, name=pid, project_type="social_general" if p % 2 else "gov_building", owner_id="o",
                profile="jiangxi" if p % 3 == 0 else "default", definition_id=definition, status="running", filing={},
                created_at=T0, version=1))
            for stage in ("S1", "S2"):
                siblings = [(k.replace("S2", stage), s, e) for k, s, e in _random_siblings(rnd, rnd.randrange(1, 6))]
                after = parallel_after(siblings)
                for i, (key, start, end) in enumerate(siblings):
                    project_type = "social_general" if p % 2 else "gov_building"
                    profile = "jiangxi" if p % 3 == 0 else "default"
                    facets.ensure(conn, [(project_type, profile, stage, f"d{i % 3}", f"m{i}")])
                    conn.execute(insert(t.subjects).values(
                        project_id=pid, key=key, level="matter", project_type=project_type,
                        stage=stage, matter_id=f"m{i}", department=f"d{i % 3}", started_at=start, ended_at=end,
                        state={}, parallel_after=after[key], **_figures(rnd, start, end),
                        **facets.keys(project_type, profile, stage, f"d{i % 3}", f"m{i}", start)))
    return db


def test_stored_rate_equals_the_window_definition_at_any_now(generated) -> None:
    with generated.connect() as conn:
        for hours in (0, 0.5, 1, 2, 2.5, 3.5, 4, 6, 7, 100):
            now = h(hours)
            for f in (Filters(), Filters(department="d1"), Filters(stage="S2", project_type="social_general"),
                      Filters(jurisdiction="jiangxi"), Filters(since=h(1), until=h(5))):
                assert parallel_rate(conn, f, now=now) == legacy_parallel_rate(conn, f, now=now), (hours, f)


def test_backfill_sql_computes_what_the_engine_stores(generated) -> None:
    with generated.begin() as conn:
        stored = dict(conn.execute(select(_s.c.key + "@" + _s.c.project_id, _s.c.parallel_after)).all())
        conn.execute(update(_s).values(parallel_after=None))
        backfill(conn)
        assert dict(conn.execute(select(_s.c.key + "@" + _s.c.project_id, _s.c.parallel_after)).all()) == stored
    assert any(v is not None and v != ALWAYS for v in stored.values())  # the running case is exercised


def _reference(values: list[float]) -> dict[str, float | None]:
    v = sorted(values)
    n = len(v)
    if not n:
        return {"mean": None, "median": None, "p90": None, "max": None}
    return {"mean": round(sum(v) / n, 4), "median": round((v[(n - 1) // 2] + v[n // 2]) / 2, 4),
            "p90": round(v[math.ceil(0.9 * n) - 1], 4), "max": round(v[-1], 4)}


def test_distributions_on_both_paths_match_a_python_reference(generated, monkeypatch) -> None:
    with generated.connect() as conn:
        rows = conn.execute(select(_s).where(_s.c.level == "matter", _s.c.ended_at.is_not(None))).mappings().all()
        cases = [("department", Filters()), ("matter_id", Filters()), (None, Filters()),
                 ("department", Filters(stage="S2")), ("matter_id", Filters(jurisdiction="jiangxi")),
                 ("department", Filters(project_type="gov_building", since=h(1.5), until=h(6))),
                 ("matter_id", Filters(department="d1", stage="S1", jurisdiction="default")),
                 ("department", Filters(matter="m2", since=h(2)))]
        for path in ("as built", "row_number only"):
            if path == "row_number only":
                monkeypatch.setattr(measures, "_INDEX_ORDERED", {})
            for by, f in cases:
                got = {r["group"]: r for r in measures.distribution(conn, "matter", by, f)}
                chosen = [r for r in rows if (f.stage is None or r["stage"] == f.stage)
                          and (f.jurisdiction is None or (int(r["project_id"][1:]) % 3 == 0) == (f.jurisdiction == "jiangxi"))
                          and (f.project_type is None or r["project_type"] == f.project_type)
                          and (f.department is None or r["department"] == f.department)
                          and (f.matter is None or r["matter_id"] == f.matter)
                          and (f.since is None or r["started_at"] >= f.since)
                          and (f.until is None or r["started_at"] < f.until)]
                assert chosen, f
                keys = {r[by] if by else "all" for r in chosen}
                assert set(got) == keys, (path, by, f)
                for key in keys:
                    mine = [r for r in chosen if (r[by] if by else "all") == key]
                    assert got[key]["count"] == len(mine)
                    for metric in measures.METRICS:
                        expected = _reference([r[metric] for r in mine if r[metric] is not None])
                        for stat, value in expected.items():
                            assert got[key][metric][stat] == pytest.approx(value, abs=2e-4) if value is not None \
                                else got[key][metric][stat] is None, (path, by, f, key, metric, stat)


# -- through the engine ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    service, ids = build(f"sqlite:///{tmp_path_factory.mktemp('facts') / 'a.db'}")
    with service.db.connect() as conn:
        yield service, ids, conn


def test_engine_keeps_parallel_after_as_matters_start_and_end(world) -> None:
    service, ids, conn = world
    rows = conn.execute(select(_s.c.project_id, _s.c.stage, _s.c.key, _s.c.started_at, _s.c.ended_at,
                               _s.c.parallel_after).where(_s.c.level == "matter")).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.project_id, row.stage), []).append(row)
    assert len(groups) >= 4
    for members in groups.values():
        expected = parallel_after([(r.key, r.started_at, r.ended_at) for r in members if r.started_at is not None])
        assert {r.key: r.parallel_after for r in members if r.started_at is not None} == expected
    for now in (local(2026, 11, 3, 12, 0), local(2026, 11, 12, 12, 0)):
        for f in (Filters(), Filters(department="rf"), Filters(stage="S2")):
            assert parallel_rate(conn, f, now=now) == legacy_parallel_rate(conn, f, now=now)


def test_engine_flags_the_matter_that_ended_last_and_the_backfill_agrees(world) -> None:
    _, _, conn = world
    matters = select(_s.c.project_id, _s.c.stage, _s.c.key, _s.c.matter_id, _s.c.ended_at, _s.c.critical).where(
        _s.c.level == "matter")
    rows = conn.execute(matters).all()
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.project_id, row.stage), []).append(row)
    assert sum(1 for r in rows if r.critical) >= 4
    for members in groups.values():
        last = measures.last_to_finish((r.key, r.matter_id, r.ended_at) for r in members)
        assert {r.key: r.critical for r in members} == {r.key: (None if r.ended_at is None else r.key == last)
                                                         for r in members}
    stored = {(r.project_id, r.key): r.critical for r in rows}
    try:  # the migration's SQL computes the same
        conn.execute(update(_s).values(critical=None))
        critical_backfill(conn)
        assert {(r.project_id, r.key): r.critical for r in conn.execute(matters)} == stored
    finally:
        conn.rollback()


def test_engine_values_survive_a_backfill(world) -> None:
    _, _, conn = world  # the module's connection holds the write lock: work in it, then roll back
    matters = select(_s.c.key + "@" + _s.c.project_id, _s.c.parallel_after).where(_s.c.level == "matter")
    stored = dict(conn.execute(matters).all())
    try:
        conn.execute(update(_s).values(parallel_after=None))
        backfill(conn)
        assert dict(conn.execute(matters).all()) == stored
    finally:
        conn.rollback()
    assert dict(conn.execute(matters).all()) == stored


def test_index_order_and_row_number_paths_agree(world, monkeypatch) -> None:
    _, _, conn = world
    cases = [("matter", "department", Filters()), ("matter", "matter_id", Filters()), ("stage", "stage", Filters()),
             ("matter", "department", Filters(department="fgw"))]
    fast = [measures.distribution(conn, level, by, f) for level, by, f in cases]
    assert all(measures._index_ordered(level, by, f) for level, by, f in cases)
    monkeypatch.setattr(measures, "_INDEX_ORDERED", {})
    assert [measures.distribution(conn, level, by, f) for level, by, f in cases] == fast
    assert fast[0] and fast[2]


# -- migrations ------------------------------------------------------------------------------------------------------
def test_analytics_migrations_down_and_up(tmp_path) -> None:
    from alembic import command

    from engine.persistence.db import alembic_config

    def indexes() -> set[str]:
        return {ix["name"] for ix in inspect(db).get_indexes("subjects")}

    def columns() -> set[str]:
        return {c["name"] for c in inspect(db).get_columns("subjects")}

    db = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(db)
    assert missing_schema(db) == []  # the migrations build every table and index tables.py defines
    assert {"ix_subjects_done_department", "ix_subjects_done_matter_awd", "ix_subjects_done_stage_swd",
            "ix_subjects_done_span", "ix_subjects_facts"} <= indexes()
    assert {"facet", "started_us"} <= columns()
    config = alembic_config(db)
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    assert {"ix_subjects_done_outcome", "ix_subjects_level_started"} <= indexes() and "facet" not in columns()
    with db.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert "parallel_after" not in columns()
    assert not any(n.startswith("ix_subjects_done") for n in indexes())
    migrate(db)
    assert {"parallel_after", "facet", "started_us"} <= columns() and "ix_subjects_facts" in indexes()


def test_facet_backfill_computes_what_the_engine_stores(world) -> None:
    _, _, conn = world  # the module's connection holds the write lock: work in it, then roll back
    keys = select(_s.c.key + "@" + _s.c.project_id, _s.c.facet, _s.c.started_us)
    stored = {row[0]: tuple(row[1:]) for row in conn.execute(keys)}
    combos = set(conn.execute(select(t.subject_facets)).all())
    assert stored and all(facet is not None for facet, _ in stored.values())
    try:
        conn.execute(update(_s).values(facet=None, started_us=None))
        conn.execute(t.subject_facets.delete())
        facet_backfill(conn)
        assert {row[0]: tuple(row[1:]) for row in conn.execute(keys)} == stored
        assert set(conn.execute(select(t.subject_facets)).all()) == combos
    finally:
        conn.rollback()


def test_facet_keys_name_the_filter_dimensions() -> None:
    a = facets.facet_id("social_general", "default", "S2", "zrzy", "s2_permit")
    assert a == facets.facet_id("social_general", "default", "S2", "zrzy", "s2_permit") > 0
    assert a != facets.facet_id("social_general", "jiangxi", "S2", "zrzy", "s2_permit")
    assert facets.facet_id("t", "p", None, None, None) != facets.facet_id("t", "p", "", None, None)
    assert facets.instant_us(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc)) == 1_000_005
    assert facets.instant_us(None) is None


def test_parallel_report_equals_the_serial_one(world) -> None:
    _, _, conn = world
    for f in (Filters(), Filters(stage="S2", department="fgw")):
        now = local(2026, 11, 12, 12, 0)
        assert measures.report(conn, f, now=now, parallel=True) == measures.report(conn, f, now=now)


def test_report_ranks_bottlenecks_from_its_own_distributions(world) -> None:
    _, _, conn = world
    for f in (Filters(), Filters(stage="S2"), Filters(department="fgw")):
        data = measures.report(conn, f, now=local(2026, 11, 12, 12, 0))
        assert data["bottlenecks"]["departments"] == measures.bottlenecks(conn, f, by="department")
        assert data["bottlenecks"]["matters"] == measures.bottlenecks(conn, f, by="matter_id")


def test_special_procedures_and_joint_acceptance_follow_subject_keys(tmp_path) -> None:
    """联合验收 is per unit work (keys ``S4/<unit>/<matter>``): a special procedure belongs to the one matter whose
    key it extends, not to every unit's matter of the same id; a stage is joint when its matters span ≥ 2 departments."""
    db = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    migrate(db)
    with db.begin() as conn:
        definition = conn.execute(insert(t.definitions).values(process_id="p", version=1, content_hash="k", files={},
                                                               deployed_at=T0)).inserted_primary_key[0]

        def subject(pid: str, key: str, level: str, department: str | None, matter: str | None, **extra: Any) -> None:
            facets.ensure(conn, [("gov_building", "default", "S4", department, matter)])
            conn.execute(insert(t.subjects).values(
                project_id=pid, key=key, level=level, project_type="gov_building", stage="S4", matter_id=matter,
                department=department, started_at=h(0), ended_at=h(5), state={}, span_natural_days=0.2,
                span_working_days=0.2, approval_natural_days=0.2, approval_working_days=0.2,
                **facets.keys("gov_building", "default", "S4", department, matter, h(0)), **extra))

        for pid, departments in (("J1", ("d1", "d2")), ("J2", ("d1", "d1"))):
            conn.execute(insert(t.projects).values(id=pid, name=pid, project_type="gov_building", owner_id="o",
                                                   profile="default", definition_id=definition, status="completed",
                                                   filing={}, created_at=T0, version=1))
            subject(pid, "S4", "stage", "zjj", None)
            for unit in ("u1", "u2"):
                for matter, department in zip(("m_a", "m_b"), departments):
                    subject(pid, f"S4/{unit}/{matter}", "matter", department, matter)
        subject("J1", "S4/u1/m_a#special1", "special", "d1", "m_a", procedure="expert_review")
    with db.connect() as conn:
        specials = measures.special_procedures(conn)
        assert specials["matters_with_special"] == {"count": 1, "of": 8, "rate": 0.125}
        assert specials["by_procedure"]["expert_review"]["finished"] == 1
        assert measures.joint_acceptance_rate(conn) == {"count": 1, "of": 2, "rate": 0.5}
        assert measures.joint_acceptance_rate(conn, Filters(project_type="social_general"))["of"] == 0

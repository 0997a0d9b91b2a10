"""Analytics at scale: N generated projects written straight into ``subjects`` and ``events`` with bulk
inserts (not through the engine, which would take hours), then every measure timed on the database.

The data is synthetic but shaped like the real thing: the catalogue's stages, matters and departments per
project type; about 15 % of matters stopped for 补正, 5 % with a 特别程序, 2 % 超时默许, 10 % of stages 容缺
with a signed commitment (1 in 10 of those revoked), a few seconds-fast approvals. Working days are
approximated as 5/7 of natural days (no calendar in the loop); the point is the query cost, not the figures.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, insert, literal, or_, select

from engine.analytics import measures as m
from engine.domain.catalogue import load_catalogue
from engine.persistence import facets, tables as t
from engine.persistence.db import make_engine, migrate

_ORIGIN = datetime(2025, 1, 1, 1, 0, tzinfo=timezone.utc)
_SHANGHAI = ZoneInfo("Asia/Shanghai")
_BATCH = 20_000


def _routes(catalogue: Any) -> dict[str, list[tuple[str, list[Any]]]]:
    routes = {}
    for pt in catalogue.project_types:
        stages = []
        for stage in ("S1", "S2", "S3", "S23", "S4"):
            try:
                catalogue.stage_limit_wd(pt, stage)
                matters = catalogue.matters_for(pt, stage)
            except Exception:  # the stage is not on this type's route
                continue
            if matters:
                stages.append((stage, matters))
        routes[pt] = stages
    return routes


def generate(db: Any, projects: int, *, seed: int = 1) -> dict[str, int]:
    """Write ``projects`` projects' subjects and events; returns row counts."""
    rnd = random.Random(seed)
    catalogue = load_catalogue()
    routes = _routes(catalogue)
    types = sorted(routes)
    leads = {}
    counts = {"projects": 0, "subjects": 0, "events": 0}
    with db.begin() as conn:
        definition = conn.execute(insert(t.definitions).values(
            process_id="bench", version=1, content_hash=f"bench-{seed}-{projects}", files={},
            deployed_at=_ORIGIN)).inserted_primary_key[0]
    buffers: dict[str, list[dict[str, Any]]] = {"projects": [], "subjects": [], "events": []}
    profiles: dict[str, str] = {}
    facet_rows: dict[tuple[Any, ...], None] = {}

    def flush(force: bool = False) -> None:
        if not force and len(buffers["events"]) < _BATCH * 5:
            return
        with db.begin() as conn:
            facets.ensure(conn, list(facet_rows))
            for name in ("projects", "subjects", "events"):
                if buffers[name]:
                    conn.execute(insert(getattr(t, name)), buffers[name])
                    counts[name] += len(buffers[name])
                    buffers[name] = []

    def subject(pid: str, pt: str, key: str, level: str, stage: str | None, matter_id: str | None, dept: str | None,
                start: datetime, end: datetime | None, outcome: str | None, stopped_days: float = 0.0,
                limit_wd: int | None = None, statutory_wd: int | None = None, **extra: Any) -> None:
        span = ((end or start) - start).total_seconds() / 86400.0
        wd = span * 5 / 7
        profile = profiles[pid]
        facet_rows[(pt, profile, stage, dept, matter_id)] = None
        committed_due = start + timedelta(days=(limit_wd or 0) * 7 / 5 + stopped_days) if limit_wd is not None else None
        statutory_due = start + timedelta(days=(statutory_wd or 0) * 7 / 5 + stopped_days) if statutory_wd is not None else None
        buffers["subjects"].append(dict(
            project_id=pid, key=key, level=level, project_type=pt, stage=stage, matter_id=matter_id, department=dept,
            started_at=start, ended_at=end, outcome=outcome, committed_due=committed_due,
            span_natural_days=round(span, 4), span_working_days=round(wd, 4),
            approval_natural_days=round(max(span - stopped_days, 0.0), 4),
            approval_working_days=round(max(wd - stopped_days * 5 / 7, 0.0), 4),
            overdue=bool(end and committed_due and end > committed_due and outcome != "silent_consent"),
            statutory_due=statutory_due, statutory_overdue=bool(end and statutory_due and end > statutory_due),
            intake=extra.get("intake"), procedure=extra.get("procedure"), parallel_after=None, critical=None,
            state=_state(key, level, stage, matter_id, dept, start, end, outcome, limit_wd, statutory_wd, stopped_days),
            **facets.keys(pt, profile, stage, dept, matter_id, start),
        ))

    def event(pid: str, pt: str, at: datetime, kind: str, **kw: Any) -> None:
        buffers["events"].append(dict(project_id=pid, project_type=pt, at=at, type=kind, stage=kw.get("stage"),
                                      matter_key=kw.get("matter_key"), matter_id=kw.get("matter_id"),
                                      department=kw.get("department"), actor=kw.get("actor"), task_id=None,
                                      data=kw.get("data", {})))

    for n in range(projects):
        pid = f"B{n:07d}"
        pt = types[n % len(types)]
        start = _ORIGIN + timedelta(minutes=rnd.randrange(0, 60 * 24 * 365))
        profiles[pid] = "jiangxi" if n % 4 == 0 else "default"
        buffers["projects"].append(dict(id=pid, name=f"项目{n}", project_type=pt, owner_id=f"owner{n % 5000}",
                                        profile=profiles[pid], definition_id=definition,
                                        status="completed", result="approved", filing={}, created_at=start,
                                        completed_at=None, next_timer_at=None, version=1))
        event(pid, pt, start, "project_started")
        cursor = start
        unfinished = rnd.random() < 0.1
        route = routes[pt]
        for index, (stage, matters) in enumerate(route):
            if unfinished and index == len(route) - 1:
                break
            accepted = cursor + timedelta(hours=rnd.uniform(12, 240))
            tolerance = rnd.random() < 0.1
            lead = leads.setdefault((pt, stage), catalogue.lead_department(stage, pt).id)
            event(pid, pt, accepted, "stage_accepted", stage=stage, department=lead,
                  data={"intake": "tolerance" if tolerance else "complete"})
            if tolerance:
                event(pid, pt, accepted, "commitment_signed", stage=stage, actor=f"owner{n % 5000}")
            stage_end = accepted
            stage_matters: list[dict[str, Any]] = []
            for matter in matters:
                key = f"{stage}/{matter.id}"
                mk = dict(stage=stage, matter_key=key, matter_id=matter.id, department=matter.department)
                event(pid, pt, accepted, "matter_started", **mk)
                roll = rnd.random()
                if roll < 0.01:
                    end = accepted + timedelta(seconds=rnd.uniform(5, 300))  # 秒办
                else:
                    end = accepted + timedelta(days=rnd.expovariate(1 / max(matter.committed_limit_wd * 0.9, 0.5)))
                stopped = 0.0
                if rnd.random() < 0.15:
                    stop_at = accepted + (end - accepted) / 3
                    stopped = rnd.uniform(0.5, 6)
                    event(pid, pt, stop_at, "clock_stopped", **mk, data={"kind": "correction"})
                    event(pid, pt, stop_at + timedelta(days=stopped), "clock_resumed", **mk, data={"kind": "correction"})
                    end += timedelta(days=stopped)
                if matter.special_procedures and rnd.random() < 0.05:
                    proc = matter.special_procedures[0]
                    sp_start = accepted + (end - accepted) / 2
                    sp_days = rnd.uniform(1, 10)
                    event(pid, pt, sp_start, "clock_stopped", **mk, data={"kind": "special", "procedure": proc})
                    event(pid, pt, sp_start + timedelta(days=sp_days), "clock_resumed", **mk, data={"kind": "special"})
                    subject(pid, pt, f"{key}#special1", "special", stage, matter.id, matter.department, sp_start,
                            sp_start + timedelta(days=sp_days), "completed", procedure=proc)
                    end += timedelta(days=sp_days)
                    stopped += sp_days
                outcome = "approved"
                if matter.silent_consent_allowed and rnd.random() < 0.1:
                    outcome = "silent_consent"
                    event(pid, pt, end, "silent_consent", **mk)
                elif rnd.random() < 0.01:
                    outcome = "refused"
                event(pid, pt, end, "matter_completed", **mk, actor=f"officer-{matter.department}",
                      data={"outcome": outcome})
                subject(pid, pt, key, "matter", stage, matter.id, matter.department, accepted, end, outcome, stopped,
                        matter.committed_limit_wd, matter.statutory_limit_wd)
                stage_matters.append(buffers["subjects"][-1])
                stage_end = max(stage_end, end)
            # 并联: what the engine's _flush_ledger stores when the stage's matters start and end
            after = m.parallel_after([(r["key"], r["started_at"], r["ended_at"]) for r in stage_matters])
            last = m.last_to_finish([(r["key"], r["matter_id"], r["ended_at"]) for r in stage_matters])
            for row in stage_matters:
                row["parallel_after"] = after[row["key"]]
                row["critical"] = row["key"] == last  # 关键路径, as the engine stores it
            stage_end += timedelta(hours=rnd.uniform(1, 24))
            revoked = tolerance and rnd.random() < 0.1
            result = "revoked" if revoked else ("approved_with_tolerance" if tolerance else "approved")
            event(pid, pt, stage_end, "stage_completed", stage=stage, department=lead, data={"result": result})
            limit = catalogue.stage_limit_wd(pt, stage)
            subject(pid, pt, stage, "stage", stage, None, lead, accepted, stage_end, result, 0.0, limit, limit,
                    intake="tolerance" if tolerance else "complete")
            if tolerance:
                checked = stage_end + timedelta(days=rnd.uniform(1, 20))
                subject(pid, pt, f"{stage}/check", "check", stage, matters[0].id, matters[0].department, stage_end,
                        checked, "failed" if revoked else "passed")
                event(pid, pt, checked, "post_check", stage=stage, data={"passed": not revoked})
            cursor = stage_end
        whole = catalogue.whole_process_limit_wd(pt)
        subject(pid, pt, "project", "project", None, None, None, start, None if unfinished else cursor,
                None, 0.0, whole, whole)
        if not unfinished:
            event(pid, pt, cursor, "project_completed")
        flush()
    flush(force=True)
    return counts


def _state(key: str, level: str, stage: str | None, matter_id: str | None, department: str | None, start: datetime,
           end: datetime | None, outcome: str | None, limit_wd: int | None, statutory_wd: int | None,
           stopped_days: float) -> dict[str, Any]:
    """A ``Subject.to_dict()`` of the engine's shape and size (~450 bytes): the rows the bench reads are as wide
    as a real deployment's, so a plan that fetches table rows costs here what it costs there."""
    stops = [] if not stopped_days else [{"kind": "correction", "start": (start + timedelta(days=1)).isoformat(),
                                           "end": (start + timedelta(days=1 + stopped_days)).isoformat(),
                                           "reason": "补正材料"}]
    return {"key": key, "level": level, "name": f"{stage or ''} {matter_id or level} 审批事项", "stage": stage,
            "matter_id": matter_id, "department": department, "started_at": start.isoformat(),
            "ended_at": end.isoformat() if end else None, "outcome": outcome, "committed_limit_wd": limit_wd,
            "statutory_limit_wd": statutory_wd, "stops": stops, "warnings": ["yellow"] if end and limit_wd else [],
            "attrs": {}}


# -- the implementations before migrations 0004/0005, kept to be timed against (``--compare``) --------------------
def legacy_distribution(conn: Any, level: str, by: str | None, filters: m.Filters = m.Filters(),
                        metrics: tuple[str, ...] = m.METRICS) -> list[dict[str, Any]]:
    """The former ``measures.distribution``: four ROW_NUMBER/COUNT windows over the subjects' rows."""
    _s = t.subjects
    group = _s.c[by] if by else literal("all")
    partition = [group] if by else None
    cols: list[Any] = [group.label("g")]
    for name in metrics:
        col = _s.c[name]
        cols += [col.label(name), func.count(col).over(partition_by=partition).label(f"n_{name}"),
                 func.row_number().over(partition_by=partition, order_by=col.asc().nulls_last()).label(f"rn_{name}")]
    inner = select(*cols).where(*m.conditions(filters, level), _s.c.ended_at.is_not(None)).subquery()
    aggregates: list[Any] = [inner.c.g, func.count().label("count")]
    for name in metrics:
        v, n, rn = inner.c[name], inner.c[f"n_{name}"], inner.c[f"rn_{name}"]
        aggregates += [func.avg(v).label(f"{name}__mean"),
                       func.avg(case((or_(rn == (n + 1) // 2, rn == (n + 2) // 2), v))).label(f"{name}__median"),
                       func.max(case((rn == (n * 9 + 9) // 10, v))).label(f"{name}__p90"),
                       func.max(v).label(f"{name}__max")]
    out = []
    for row in conn.execute(select(*aggregates).group_by(inner.c.g).order_by(inner.c.g)).mappings():
        item: dict[str, Any] = {"group": row["g"], "count": int(row["count"])}
        for name in metrics:
            item[name] = {stat: m._round(row[f"{name}__{stat}"]) for stat in ("mean", "median", "p90", "max")}
        out.append(item)
    return out


def legacy_parallel_rate(conn: Any, filters: m.Filters = m.Filters(), *, now: datetime) -> dict[str, Any]:
    """The former ``measures.parallel_rate`` (the definition, verbatim): LEAD and a running MAX over every matter,
    per project stage. tests/test_analytics_facts.py checks the stored ``parallel_after`` against it."""
    _s = t.subjects
    end = func.coalesce(_s.c.ended_at, literal(now, t.UTCDateTime()))
    window = {"partition_by": [_s.c.project_id, _s.c.stage], "order_by": [_s.c.started_at, _s.c.key]}
    sibling = m.Filters(project_type=filters.project_type, jurisdiction=filters.jurisdiction)
    inner = select(_s.c.project_id, _s.c.key, _s.c.stage, _s.c.department, _s.c.matter_id, _s.c.started_at,
                   _s.c.facet, _s.c.started_us, end.label("end_at"), func.lead(_s.c.started_at).over(**window).label("next_start"),
                   func.max(end).over(**window, rows=(None, -1)).label("prev_end"),
                   ).where(*m.conditions(sibling, "matter"), _s.c.started_at.is_not(None)).subquery()
    own = m.Filters(stage=filters.stage, department=filters.department, matter=filters.matter,
                    since=filters.since, until=filters.until)
    parallel = or_(inner.c.next_start < inner.c.end_at, inner.c.prev_end > inner.c.started_at)
    total, count = conn.execute(select(func.count(), func.sum(case((parallel, 1), else_=0)))
                                .where(*m.conditions(own, "matter", inner))).one()
    return m._rate(count, total)


def _without_critical_path(rows: Any) -> Any:
    if isinstance(rows, list):
        return [{k: v for k, v in row.items() if k != "critical_path"} for row in rows]
    return rows


class _Clock:
    """Times each measure and prints it with its ratio to the run's baseline (a plain count over subjects)."""

    def __init__(self) -> None:
        self.baseline = 0.0
        self.figures: dict[str, float] = {}

    def __call__(self, label: str, fn: Any) -> Any:
        began = time.perf_counter()
        result = fn()
        took = time.perf_counter() - began
        self.figures[label] = took
        ratio = f"{took / self.baseline:9.1f}×" if self.baseline else ""
        print(f"  {label:<50} {took:8.2f} s {ratio}", flush=True)
        return result


#: what a deployment would give PostgreSQL on this machine (the defaults are sized for a laptop in 2005)
POSTGRES_SETTINGS = "-c shared_buffers=2GB -c work_mem=256MB -c effective_cache_size=8GB -c max_wal_size=8GB"


def run(projects: int, *, url: str | None = None, export: bool = False, seed: int = 1, compare: bool = False,
        generate_data: bool = True, analyze: bool = False, postgres: bool = False) -> None:
    if postgres:  # a throwaway server, installed and started as the tests do, removed afterwards
        from tests.pg_server import start_server

        server = start_server(POSTGRES_SETTINGS)
        print(f"PostgreSQL server in {server.root} ({POSTGRES_SETTINGS})")
        try:
            return run(projects, url=server.create_database("bench"), export=export, seed=seed, compare=compare,
                       generate_data=generate_data, analyze=analyze)
        finally:
            server.stop()
    workdir = None
    if url is None:
        workdir = tempfile.mkdtemp(prefix="gongai-bench-")
        url = f"sqlite:///{os.path.join(workdir, 'bench.db')}"
    db = make_engine(url)
    migrate(db)
    if generate_data:
        print(f"generating {projects:,} projects into {url}")
        began = time.perf_counter()
        counts = generate(db, projects, seed=seed)
        print(f"  {counts['projects']:,} projects, {counts['subjects']:,} subjects, {counts['events']:,} events "
              f"in {time.perf_counter() - began:.1f} s")
        if db.dialect.name == "sqlite":  # as a running server's database is: its log folded into the file
            with db.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:  # measure a database generated by an earlier run (--db URL --no-generate)
        with db.connect() as conn:
            sizes = {name: conn.execute(select(func.count()).select_from(getattr(t, name))).scalar()
                     for name in ("projects", "subjects", "events")}
        print(f"measuring {url}: {sizes['projects']:,} projects, {sizes['subjects']:,} subjects, "
              f"{sizes['events']:,} events")
    timed = _Clock()
    with db.connect() as conn:
        if db.dialect.name == "postgresql":  # statistics and the visibility map, as autovacuum keeps them
            with db.connect().execution_options(isolation_level="AUTOCOMMIT") as maintenance:
                maintenance.exec_driver_sql("VACUUM ANALYZE")
        elif analyze:  # statistics for SQLite's planner, in this transaction only
            conn.exec_driver_sql("ANALYZE")
            print("(with ANALYZE statistics)")
        catalogue = load_catalogue()
        filing = [x.id for x in catalogue.matters.values() if x.kind == "filing"]
        f = m.Filters()
        now = datetime.now(timezone.utc)
        print("baseline (ratios below are against it):")
        timed("SELECT count(*) FROM subjects", lambda: conn.execute(select(func.count()).select_from(t.subjects)).scalar())
        timed.baseline = timed.figures["SELECT count(*) FROM subjects"]
        print("measures (no filter):                               time   × baseline")
        total = time.perf_counter()
        new = {
            "stage": timed("stage_durations (四阶段)", lambda: m.stage_durations(conn, f)),
            "process": timed("process_durations (全流程)", lambda: m.process_durations(conn, f)),
            "process_by_type": timed("process_durations by project type",
                                     lambda: m.process_durations(conn, f, by_project_type=True)),
            "department": timed("department_durations", lambda: m.department_durations(conn, f)),
            "matter": timed("matter_durations", lambda: m.matter_durations(conn, f)),
        }
        timed("bottlenecks (departments)", lambda: m.bottlenecks(conn, f))
        timed("overdue_rates (committed + statutory)", lambda: m.overdue_rates(conn, f))
        timed("silent_consent_rate (超时默许)", lambda: m.silent_consent_rate(conn, f))
        new["parallel"] = timed("parallel_rate (并联)", lambda: m.parallel_rate(conn, f, now=now))
        timed("tolerance_and_commitment (容缺/承诺)", lambda: m.tolerance_and_commitment(conn, f))
        timed("joint_acceptance_rate (联合验收)", lambda: m.joint_acceptance_rate(conn, f))
        timed("special_procedures (特别程序)", lambda: m.special_procedures(conn, f))
        timed("off_system_suspects (体外循环)", lambda: m.off_system_suspects(conn, f, filing_matters=filing))
        all_measures = time.perf_counter() - total
        print(f"  {'all measures':<50} {all_measures:8.2f} s {all_measures / timed.baseline:9.1f}×")
        quarter = (datetime(2025, 4, 1, tzinfo=_SHANGHAI), datetime(2025, 7, 1, tzinfo=_SHANGHAI))
        print("the whole report (every measure), by filter:")
        for label, filters in (
                ("no filter", f),
                ("social_general · S2 · default profile", m.Filters(project_type="social_general", stage="S2",
                                                                    jurisdiction="default")),
                ("jurisdiction jiangxi (¼ of the projects)", m.Filters(jurisdiction="jiangxi")),
                ("accepted in 2025 Q2", m.Filters(since=quarter[0], until=quarter[1])),
                ("department zrzy · gov_building", m.Filters(department="zrzy", project_type="gov_building")),
                ("stage S4 · 2025 Q2", m.Filters(stage="S4", since=quarter[0], until=quarter[1])),
        ):
            timed(f"report: {label}", lambda: m.report(conn, filters, filing_matters=filing, now=now))
            timed("  the same on two connections (parallel=True)",
                  lambda: m.report(conn, filters, filing_matters=filing, now=now, parallel=True))
        if compare:
            print("before (the implementations replaced by migrations 0004/0005, same data):")
            old = {
                "stage": timed("legacy stage_durations", lambda: legacy_distribution(conn, "stage", "stage")),
                "process": timed("legacy process_durations", lambda: legacy_distribution(conn, "project", None)),
                "process_by_type": timed("legacy process_durations by project type",
                                         lambda: legacy_distribution(conn, "project", "project_type")),
                "department": timed("legacy department_durations",
                                    lambda: legacy_distribution(conn, "matter", "department")),
                "matter": timed("legacy matter_durations", lambda: legacy_distribution(conn, "matter", "matter_id")),
                "parallel": timed("legacy parallel_rate", lambda: legacy_parallel_rate(conn, f, now=now)),
            }
            for key in old:
                same = old[key] == _without_critical_path(new[key])  # (the legacy code had no 关键路径 counts)
                print(f"  {key:<14} same result: {'yes' if same else 'NO'}")
            pairs = [("stage_durations (四阶段)", "legacy stage_durations"),
                     ("department_durations", "legacy department_durations"),
                     ("matter_durations", "legacy matter_durations"), ("parallel_rate (并联)", "legacy parallel_rate")]
            for after, before in pairs:
                print(f"  speed-up {after:<34} {timed.figures[before] / timed.figures[after]:8.1f}×")
        if export:
            from engine.analytics.export import write_csv, write_xes

            with open(os.devnull, "wb") as sink:
                timed("export XES", lambda: write_xes(conn, sink))
            with open(os.devnull, "w") as sink:
                timed("export CSV", lambda: write_csv(conn, sink))
    if workdir:
        print(f"(database left in {workdir}; delete it when done)")

"""Analytics at scale: N generated projects written straight into ``subjects`` and ``events`` with bulk
inserts (not through the engine, which would take hours), then every measure timed on the database.

The data is synthetic but shaped like the real thing: the catalogue's stages, matters and departments per
project type; about 15 % of matters stopped for 补正, 5 % with a 特别程序, 2 % 超时默许, 10 % of stages 容缺
with a signed commitment (1 in 10 of those revoked), a few seconds-fast approvals. Working days are
approximated as 5/7 of natural days (no calendar in the loop); the point is the query cost, not the figures.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert

from engine.analytics import measures as m
from engine.domain.catalogue import load_catalogue
from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate

_ORIGIN = datetime(2025, 1, 1, 1, 0, tzinfo=timezone.utc)
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

    def flush(force: bool = False) -> None:
        if not force and len(buffers["events"]) < _BATCH * 5:
            return
        with db.begin() as conn:
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
            intake=extra.get("intake"), procedure=extra.get("procedure"), state={},
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
        buffers["projects"].append(dict(id=pid, name=f"项目{n}", project_type=pt, owner_id=f"owner{n % 5000}",
                                        profile="jiangxi" if n % 4 == 0 else "default", definition_id=definition,
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
                stage_end = max(stage_end, end)
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


def _timed(label: str, fn: Any) -> Any:
    began = time.perf_counter()
    result = fn()
    print(f"  {label:<42} {time.perf_counter() - began:8.2f} s")
    return result


def run(projects: int, *, url: str | None = None, export: bool = False, seed: int = 1) -> None:
    workdir = None
    if url is None:
        workdir = tempfile.mkdtemp(prefix="gongai-bench-")
        url = f"sqlite:///{os.path.join(workdir, 'bench.db')}"
    db = make_engine(url)
    migrate(db)
    print(f"generating {projects:,} projects into {url}")
    began = time.perf_counter()
    counts = generate(db, projects, seed=seed)
    print(f"  {counts['projects']:,} projects, {counts['subjects']:,} subjects, {counts['events']:,} events "
          f"in {time.perf_counter() - began:.1f} s")
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        catalogue = load_catalogue()
        filing = [x.id for x in catalogue.matters.values() if x.kind == "filing"]
        f = m.Filters()
        print("measures (no filter):")
        total = time.perf_counter()
        _timed("stage_durations (四阶段)", lambda: m.stage_durations(conn, f))
        _timed("process_durations (全流程)", lambda: m.process_durations(conn, f))
        _timed("process_durations by project type", lambda: m.process_durations(conn, f, by_project_type=True))
        _timed("department_durations", lambda: m.department_durations(conn, f))
        _timed("matter_durations", lambda: m.matter_durations(conn, f))
        _timed("bottlenecks (departments)", lambda: m.bottlenecks(conn, f))
        _timed("overdue_rates (committed + statutory)", lambda: m.overdue_rates(conn, f))
        _timed("silent_consent_rate (超时默许)", lambda: m.silent_consent_rate(conn, f))
        _timed("parallel_rate (并联)", lambda: m.parallel_rate(conn, f))
        _timed("tolerance_and_commitment (容缺/承诺)", lambda: m.tolerance_and_commitment(conn, f))
        _timed("joint_acceptance_rate (联合验收)", lambda: m.joint_acceptance_rate(conn, f))
        _timed("special_procedures (特别程序)", lambda: m.special_procedures(conn, f))
        _timed("off_system_suspects (体外循环)", lambda: m.off_system_suspects(conn, f, filing_matters=filing))
        print(f"  {'all measures':<42} {time.perf_counter() - total:8.2f} s")
        filtered = m.Filters(project_type="social_general", stage="S2", jurisdiction="default")
        print("report with a filter (social_general, S2, default profile):")
        _timed("report", lambda: m.report(conn, filtered, filing_matters=filing))
        if export:
            from engine.analytics.export import write_csv, write_xes

            with open(os.devnull, "wb") as sink:
                _timed("export XES", lambda: write_xes(conn, sink))
            with open(os.devnull, "w") as sink:
                _timed("export CSV", lambda: write_csv(conn, sink))
    if workdir:
        print(f"(database left in {workdir}; delete it when done)")

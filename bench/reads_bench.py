"""``python -m bench reads [--projects 1000,20000]``: the list routes at growing data sizes (issue 14).

A read route must cost about the same at 1,000 and 100,000 projects: it filters and paginates in the database
instead of loading every project into Python. This bench fills a SQLite file with synthetic projects (rows
written directly: a project, and five tasks of random departments, one of them ready), then times through the
real app (in-process test client, so only the server's work is timed) the first page and a page deep in the
list of

- ``GET /projects`` as an agency officer (the department is involved in about one project in twenty),
- ``GET /tasks?project_type=…`` as an analyst,

and, with ``--compare``, the implementation they replaced (every project loaded and filtered in Python), on the
same data. Medians of several calls; nothing asserts on time.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

DEPARTMENTS = ("fgw", "zrzy", "zjj", "sthj", "rf")
TYPES = ("gov_building", "social_general", "social_small", "land_with_scheme", "gov_municipal")
START = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)


def fill(db: Any, projects: int, seed: int = 1) -> None:
    """``projects`` synthetic projects with five tasks each (one ready), in batches."""
    from engine.persistence import tables as t

    rng = random.Random(seed)
    with db.begin() as conn:
        definition = conn.execute(select(t.definitions.c.id)).scalar()
    batch_p: list[dict[str, Any]] = []
    batch_t: list[dict[str, Any]] = []

    def flush() -> None:
        with db.begin() as conn:
            if batch_p:
                conn.execute(insert(t.projects), batch_p)
            if batch_t:
                conn.execute(insert(t.tasks), batch_t)
        batch_p.clear()
        batch_t.clear()

    for i in range(projects):
        pid = f"B{i:07d}"
        created = START + timedelta(minutes=i)
        ptype = TYPES[i % len(TYPES)]
        batch_p.append(dict(id=pid, name=f"项目{i}", project_type=ptype, owner_id=f"owner-{i % 500}", profile="default",
                            definition_id=definition, status="running", result=None, filing={}, plan=None,
                            created_at=created, completed_at=None, next_timer_at=None, version=1))
        for k in range(5):
            department = rng.choice(DEPARTMENTS) if rng.random() < 0.05 else None
            ready = k == 4
            batch_t.append(dict(id=f"{pid}-{k}", project_id=pid, spec_id="Task_Review" if department else "Task_Intake",
                                name="审查", role="agency" if department else "window", department=department,
                                owner_id=f"owner-{i % 500}", stage="S1", matter_key=None, matter_name=None,
                                state="ready" if ready else "done", created_at=created + timedelta(seconds=k),
                                completed_at=None if ready else created, due_at=created + timedelta(days=20),
                                actor=None, claimed_by=None, claimed_at=None, data={}))
        if len(batch_p) >= 5000:
            flush()
    flush()


def legacy_agency_projects(db: Any, department: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The replaced implementation: every project (up to 100,000) loaded and filtered in Python."""
    from engine.persistence import tables as t
    from engine.persistence.uow import UnitOfWork

    with UnitOfWork(db, read_only=True) as uow:
        ids = set(uow.conn.execute(select(t.tasks.c.project_id).where(t.tasks.c.department == department)
                                   .distinct()).scalars())
        rows = [r for r in uow.projects.list(limit=100_000) if r["id"] in ids]
    return rows[offset:offset + limit]


def median_ms(call: Any, repeat: int) -> float:
    """The median of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


@contextmanager
def filled_app(size: int, prefix: str) -> Iterator[tuple[Any, Any, float]]:
    """A fresh SQLite database of ``size`` synthetic projects behind the real app: (app, its user store, seconds the
    fill took); the database goes with the ``with`` block."""
    from api.app import create_app
    from engine.persistence.db import make_engine, migrate
    from engine.services.users import UserStore

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = make_engine(url)
        migrate(db)
        app = create_app(database_url=url)
        began = time.perf_counter()
        fill(app.state.service.db, size)
        filled = time.perf_counter() - began
        try:
            yield app, UserStore(db), filled
        finally:
            db.dispose()
            app.state.service.db.dispose()


def run(sizes: list[int], *, compare: bool = False, repeat: int = 7, quiet: bool = False) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient

    say = (lambda *_: None) if quiet else (lambda text: print(text, flush=True))
    results = []
    for size in sizes:
        with filled_app(size, "gongai-reads-") as (app, store, filled):
            agency = store.add("bench-agency", "agency", department="zjj")[1]
            analyst = store.add("bench-analyst", "analyst")[1]
            row: dict[str, Any] = {"projects": size, "fill_s": round(filled, 1)}
            with TestClient(app) as client:
                def get(url: str, token: str) -> Any:
                    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 200, response.text
                    return response

                first = get("/projects?limit=100", agency)
                row["agency_projects_first_page_ms"] = median_ms(lambda: get("/projects?limit=100", agency), repeat)
                cursor = first.headers.get("X-Next-Cursor")
                for _ in range(3):  # a page a few pages in
                    if cursor:
                        cursor = get(f"/projects?limit=100&cursor={cursor}", agency).headers.get("X-Next-Cursor")
                if cursor:
                    row["agency_projects_fourth_page_ms"] = median_ms(
                        lambda: get(f"/projects?limit=100&cursor={cursor}", agency), repeat)
                row["tasks_by_type_first_page_ms"] = median_ms(
                    lambda: get("/tasks?project_type=social_small&limit=100", analyst), repeat)
                if compare:
                    service_db = app.state.service.db
                    row["legacy_agency_projects_ms"] = median_ms(lambda: legacy_agency_projects(service_db, "zjj"),
                                                                  max(3, repeat // 2))
        results.append(row)
        say(json.dumps(row))
    return results

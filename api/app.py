"""The FastAPI application: thin routes over the service layer, grouped by audience.

``create_app(service=None)`` builds the app around an :class:`ApprovalService`; without one it opens the
database (``GONGAI_DATABASE_URL`` or the embedded SQLite default), migrates it and deploys the bundled
models, which is what ``gongai serve`` does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from fastapi import FastAPI, Request
from sqlalchemy import text

from api import admin, analytics, catalogue, certificates, charts, credit, observability, pages, problems, projects, tasks
from api.heavy import HeavySlots, default_slots
from api.inputs import JsonGuard
from api.security import FailedAuthLimiter, SecurityHeaders
from engine.ops.metrics import watch_pool
from engine.persistence.db import is_current, make_engine, migrate, missing_schema
from engine.services.approval import ApprovalService
from engine.services.idempotency import IdempotencyStore
from engine.services.users import UserStore, auth_cache_from_environment

MAX_BODY_BYTES = 1 << 20  # 1 MiB
log = logging.getLogger("gongai.readiness")


def default_worker_threads() -> int:
    """Four per CPU, at least 8: how many requests run their (synchronous) work at once in one process.

    The work is Python holding the GIL most of the time: with forty threads (anyio's default) taking turns every
    few milliseconds, every request in flight finished late — on 2 CPUs at 50 clients, 8 threads instead of 40 cut
    p99 from 2.3–2.5 s to 1.1–1.2 s for about the same throughput (docs/performance.md). The others wait their
    turn in arrival order; waiting on the database releases the GIL, which is what the extra threads are for.
    """
    return max(8, 4 * (os.cpu_count() or 1))


@asynccontextmanager
async def _worker_threads(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.worker_threads
    yield


def create_app(service: ApprovalService | None = None, *, database_url: str | None = None, profile: str = "default",
               max_body_bytes: int = MAX_BODY_BYTES, deploy_bundled: bool = True,
               metrics_token: str | None = None, worker_threads: int | None = None) -> FastAPI:
    if service is None:
        from engine.domain.catalogue import load_catalogue

        db = make_engine(database_url)
        migrate(db)
        service = ApprovalService(db, catalogue=load_catalogue(profile))
        if deploy_bundled:
            service.deploy_bundled()
    app = FastAPI(
        lifespan=_worker_threads,
        title="gongai API",
        version="0.1.0",
        description="工程建设项目审批 — projects, tasks, timings. Every call but the health probes needs "
                    "`Authorization: Bearer <token>` (tokens come from `gongai users add`). "
                    "Errors are problem details (RFC 9457).",
        docs_url=None, redoc_url=None,  # /docs is served by api.pages from local files (no CDN)
    )
    app.state.service = service
    app.state.worker_threads = worker_threads or default_worker_threads()
    app.state.heavy = HeavySlots(default_slots(app.state.worker_threads))  # exports and reports: api/heavy.py
    app.state.users = UserStore(service.db, departments=service.catalogue.departments,
                                cache_for=auth_cache_from_environment())  # GONGAI_AUTH_CACHE_SECONDS
    app.state.idempotency = IdempotencyStore(service.db)
    app.state.auth_limiter = FailedAuthLimiter()  # 429 after 20 bad tokens from one address in 5 minutes
    problems.install(app)
    app.add_middleware(JsonGuard)  # inside the body limit: non-finite numbers, lone surrogates → 422
    app.add_middleware(problems.BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)  # every response, problems included
    app.add_middleware(observability.Observe)  # outermost: request id, access log, latency by route
    app.state.metrics_token = observability.metrics_token(metrics_token)
    watch_pool(service.db)
    for module in (projects, certificates, catalogue, tasks, analytics, charts, credit, admin, observability):
        app.include_router(module.router)
    pages.install(app)  # the web pages (/, /ui/…), /static and /docs

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness (can serve): database reachable, migrations current, schema complete; missing holiday data is a warning")
    def readyz(request: Request) -> Any:
        checks = readiness(request.app.state.service)
        if all(c["ok"] for c in checks.values()):
            warnings = [f"{name}: {c['warning']}" for name, c in checks.items() if c.get("warning")]
            return {"status": "ready", "checks": checks, "warnings": warnings}
        failing = "; ".join(f"{name}: {c['detail']}" for name, c in checks.items() if not c["ok"])
        return problems.problem(503, f"not ready: {failing}", request.url.path, checks=checks)

    return app


def readiness(service: ApprovalService) -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with service.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True, "detail": "reachable"}
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = {"ok": False, "detail": f"unreachable: {type(exc).__name__}"}
        return checks
    try:
        current = is_current(service.db)
        checks["migrations"] = {"ok": current, "detail": "current" if current else "behind: run `gongai db upgrade`"}
    except Exception as exc:  # noqa: BLE001
        checks["migrations"] = {"ok": False, "detail": f"cannot read: {type(exc).__name__}"}
    try:
        missing = missing_schema(service.db)
        checks["schema"] = {"ok": not missing, "detail": "complete" if not missing else
                            f"missing {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}: "
                            "recreate them (see engine/persistence/tables.py) or restore the database"}
    except Exception as exc:  # noqa: BLE001
        checks["schema"] = {"ok": False, "detail": f"cannot read: {type(exc).__name__}"}
    checks["holidays"] = holiday_check(service)
    return checks


_warned_years: set[int] = set()


def holiday_check(service: ApprovalService) -> dict[str, Any]:
    """Missing holiday data for this year is a warning, never an outage: the engine serves on the documented
    fallback calendar (engine/domain/workcalendar.py), and every replica leaving the load balancer on
    1 January would stop the whole service for a data file. The warning shows here, in the log (once per
    year and process) and in the ``gongai_holiday_data_missing`` metric."""
    from engine.domain.workcalendar import HOLIDAYS_DIR_ENV

    today = service.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    covered = service.calendar.covers(today)
    _holidays_missing(not covered)
    if covered:
        return {"ok": True, "detail": f"{today} covered"}
    warning = (f"no holiday data for {today.year}: due dates use the fallback calendar (weekends and fixed-date "
               f"holidays only); add {today.year}.yaml to the folder named by {HOLIDAYS_DIR_ENV} "
               f"(or workflows/holidays/) and restart")
    if today.year not in _warned_years:
        _warned_years.add(today.year)
        log.warning(warning)
    return {"ok": True, "warning": warning, "detail": warning}


def _holidays_missing(missing: bool) -> None:
    """Tell the metrics (if any are collected in this process) whether this year's holiday data is missing."""
    try:
        from engine.ops.metrics import HOLIDAY_DATA_MISSING
    except ImportError:  # pragma: no cover - before the metrics module exists
        return
    HOLIDAY_DATA_MISSING.set(1 if missing else 0)



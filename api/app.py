"""The FastAPI application: thin routes over the service layer, grouped by audience.

``create_app(service=None)`` builds the app around an :class:`ApprovalService`; without one it opens the
database (``GONGAI_DATABASE_URL`` or the embedded SQLite default), migrates it and deploys the bundled
models, which is what ``gongai serve`` does.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from sqlalchemy import text

from api import admin, analytics, catalogue, charts, credit, pages, problems, projects, tasks
from api.inputs import JsonGuard
from api.security import FailedAuthLimiter, SecurityHeaders
from engine.persistence.db import is_current, make_engine, migrate, missing_schema
from engine.services.approval import ApprovalService
from engine.services.idempotency import IdempotencyStore
from engine.services.users import UserStore

MAX_BODY_BYTES = 1 << 20  # 1 MiB


def create_app(service: ApprovalService | None = None, *, database_url: str | None = None, profile: str = "default",
               max_body_bytes: int = MAX_BODY_BYTES, deploy_bundled: bool = True) -> FastAPI:
    if service is None:
        from engine.domain.catalogue import load_catalogue

        db = make_engine(database_url)
        migrate(db)
        service = ApprovalService(db, catalogue=load_catalogue(profile))
        if deploy_bundled:
            service.deploy_bundled()
    app = FastAPI(
        title="gongai API",
        version="0.1.0",
        description="工程建设项目审批 — projects, tasks, timings. Every call but the health probes needs "
                    "`Authorization: Bearer <token>` (tokens come from `gongai users add`). "
                    "Errors are problem details (RFC 9457).",
        docs_url=None, redoc_url=None,  # /docs is served by api.pages from local files (no CDN)
    )
    app.state.service = service
    app.state.users = UserStore(service.db, departments=service.catalogue.departments)
    app.state.idempotency = IdempotencyStore(service.db)
    app.state.auth_limiter = FailedAuthLimiter()  # 429 after 20 bad tokens from one address in 5 minutes
    problems.install(app)
    app.add_middleware(JsonGuard)  # inside the body limit: non-finite numbers, lone surrogates → 422
    app.add_middleware(problems.BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)  # outermost: every response, problems included
    for module in (projects, catalogue, tasks, analytics, charts, credit, admin):
        app.include_router(module.router)
    pages.install(app)  # the web pages (/, /ui/…), /static and /docs

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: database reachable, migrations current, schema complete, holidays cover today")
    def readyz(request: Request) -> Any:
        checks = readiness(request.app.state.service)
        if all(c["ok"] for c in checks.values()):
            return {"status": "ready", "checks": checks}
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
    today = service.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    covered = service.calendar.covers(today)
    checks["holidays"] = {"ok": covered, "detail": f"{today} covered" if covered else
                          f"no holiday data for {today.year}: add workflows/holidays/{today.year}.yaml"}
    return checks



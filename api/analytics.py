"""Routes for analysts (工改办, 营商办): timings from the ``subjects`` table, the case list, the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse

from api.auth import require
from engine.domain.actors import Actor
from engine.services import queries

router = APIRouter(prefix="/analytics", tags=["analytics (analysts)"])
readers = require("analyst", "admin")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _aware(value: datetime | None) -> datetime | None:
    """Naive instants in a query are read as Asia/Shanghai time (the calendar's zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


@router.get("/timings", summary="Span and approval time per stage / whole process / department / matter")
def timings(request: Request, actor: Actor = Depends(readers),
            by: Literal["stage", "project", "department", "matter"] = "stage",
            project_type: str | None = Query(default=None, max_length=40),
            stage: str | None = Query(default=None, max_length=10),
            department: str | None = Query(default=None, max_length=40),
            since: datetime | None = Query(default=None, description="started at or after (naive = Asia/Shanghai)"),
            until: datetime | None = Query(default=None, description="started before (naive = Asia/Shanghai)"),
            finished: bool = Query(default=False, description="only finished stages / matters")) -> list[dict[str, Any]]:
    return queries.timings(request.app.state.service.db, by=by, project_type=project_type, stage=stage,
                           department=department, since=_aware(since), until=_aware(until), finished_only=finished)


@router.get("/cases", summary="The case list with overdue status")
def cases(request: Request, actor: Actor = Depends(readers),
          status: Literal["running", "completed", "stopped", "withdrawn"] | None = None,
          project_type: str | None = Query(default=None, max_length=40),
          overdue: bool | None = None,
          limit: int = Query(default=500, ge=1, le=10_000), offset: int = Query(default=0, ge=0, le=1_000_000_000)) -> list[dict[str, Any]]:
    return queries.cases(request.app.state.service.db, status=status, project_type=project_type, overdue=overdue,
                         limit=limit, offset=offset)


@router.get("/events.csv", response_class=PlainTextResponse, summary="The event log (事件日志) as CSV")
def events_csv(request: Request, actor: Actor = Depends(readers),
               project_id: str | None = Query(default=None, max_length=40),
               since_id: int = Query(default=0, ge=0, le=2**62)) -> PlainTextResponse:
    text = queries.events_csv(request.app.state.service.db, project_id=project_id, since_id=since_id)
    return PlainTextResponse(text, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="gongai-events.csv"'})

"""Routes for analysts (工改办, 营商办): timings from the ``subjects`` table, the KPI report, the case list, the
event log as CSV and as XES (process mining).

The filters are checked by ``engine.services.analytics.analytics_filters`` against the service's catalogue and
profiles: an unknown id is a 422 naming it, not an empty answer an analyst could mistake for "no such cases".
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy import select

from api.auth import require
from engine.domain.actors import Actor
from engine.domain.authorisation import ANALYTICS_READERS
from engine.persistence import tables as t
from engine.services import queries
from engine.services.analytics import analytics_filters, analytics_window, kpi_report, scoring_ranking, scoring_xlsx
from engine.services.errors import Invalid

router = APIRouter(prefix="/analytics", tags=["analytics (analysts)"])
readers = require(*ANALYTICS_READERS)
#: The XES document is kept in memory up to this size, then on disk (see ``events_xes``).
SPOOL_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024

# The filters shared by the routes, as Annotated aliases (one declaration, one OpenAPI description).
ProjectType = Annotated[str | None, Query(max_length=40, description="a catalogue project type, e.g. social_general")]
Stage = Annotated[str | None, Query(max_length=10, description="S0 … S5, S23")]
Department = Annotated[str | None, Query(max_length=40, description="a catalogue department, e.g. zrzy")]
Jurisdiction = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_-]+$",
                                           description="the projects' profile, e.g. jiangxi")]
Since = Annotated[datetime | None, Query(description="started at or after (naive = Asia/Shanghai)")]
Until = Annotated[datetime | None, Query(description="started before (naive = Asia/Shanghai)")]
Division = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="行政区划代码: a province, city (with its "
                                       "counties) or county, e.g. 360700")]


@router.get("/timings", summary="Span and approval time per stage / whole process / department / matter, or the "
                            "filings' time at the window per stage (by=filing: 受理用时, submission to acceptance)")
def timings(request: Request, actor: Actor = Depends(readers),
            by: Literal["stage", "project", "department", "matter", "filing"] = "stage",
            project_type: ProjectType = None,
            stage: str | None = Query(default=None, max_length=10, description="S0 … S5, S23 (not with by=project)"),
            department: str | None = Query(default=None, max_length=40,
                                           description="a catalogue department (by=department or by=matter only)"),
            matter: str | None = Query(default=None, max_length=80,
                                       description="a catalogue matter id (by=department or by=matter only)"),
            jurisdiction: Jurisdiction = None, since: Since = None, until: Until = None, division: Division = None,
            finished: bool = Query(default=False, description="only finished stages / matters")) -> list[dict[str, Any]]:
    service = request.app.state.service
    f = analytics_filters(service.catalogue, project_type=project_type, stage=stage, department=department,
                          matter=matter, jurisdiction=jurisdiction, since=since, until=until, division=division)
    return queries.timings(service.db, by=by, project_type=project_type, stage=stage, department=department,
                           matter=matter, jurisdiction=jurisdiction, since=f.since, until=f.until, division=f.division,
                           finished_only=finished)


@router.get("/report", summary="The KPI report (as `gongai measures`): durations, overdue and KPI rates, bottlenecks")
def report(request: Request, actor: Actor = Depends(readers),
           project_type: ProjectType = None, stage: Stage = None, department: Department = None,
           matter: str | None = Query(default=None, max_length=80, description="a catalogue matter id"),
           jurisdiction: Jurisdiction = None, since: Since = None, until: Until = None, division: Division = None,
           suspect_minutes: float = Query(default=10.0, gt=0, le=1440,
                                          description="体外循环: non-filing matters finished faster than this"),
           group_by: Literal["division"] | None = Query(
               default=None, description="division: every measure once per 行政区划代码 the projects carry "
                                         "(``groups``; ``division`` null: filed without one)")) -> dict[str, Any]:
    """``engine.analytics.measures.report`` for these filters, at the service clock's now (并联 of running matters).

    A sync route: FastAPI runs it in its thread pool, so the SQL aggregations never block the event loop.
    """
    service = request.app.state.service
    filters = analytics_filters(service.catalogue, project_type=project_type, stage=stage, department=department,
                                matter=matter, jurisdiction=jurisdiction, since=since, until=until, division=division)
    with request.app.state.heavy():
        return kpi_report(service.db, service.catalogue, filters, threshold_minutes=suspect_minutes,
                          now=service.clock.now(), group_by=group_by)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/scoring", summary="The scoring sheet (评分细则): a division's peers ranked on its indicators")
def scoring(request: Request, actor: Actor = Depends(readers),
            division: Annotated[str, Query(pattern=r"^[0-9]{6}$", description="行政区划代码 whose peers are ranked: a "
                                           "province ranks its cities, a city its counties")] = "360000",
            since: Since = None, until: Until = None, project_type: ProjectType = None,
            jurisdiction: Jurisdiction = None) -> dict[str, Any]:
    """``engine.analytics.scoring.ranking``: each indicator as the sheet defines it, scored by its rule; indicators
    the system cannot compute are listed with the reason (``not_computed``)."""
    service = request.app.state.service
    with request.app.state.heavy():
        return scoring_ranking(service.db, service.catalogue, division=division, since=since, until=until,
                               project_type=project_type, jurisdiction=jurisdiction, now=service.clock.now())


@router.get("/scoring.xlsx", response_class=Response, summary="The scoring sheet as a spreadsheet (xlsx)",
            responses={200: {"content": {XLSX: {}}}})
def scoring_sheet_xlsx(request: Request, actor: Actor = Depends(readers),
                       division: Annotated[str, Query(pattern=r"^[0-9]{6}$", description="行政区划代码")] = "360000",
                       since: Since = None, until: Until = None, project_type: ProjectType = None,
                       jurisdiction: Jurisdiction = None) -> Response:
    service = request.app.state.service
    with request.app.state.heavy():
        result = scoring_ranking(service.db, service.catalogue, division=division, since=since, until=until,
                                 project_type=project_type, jurisdiction=jurisdiction, now=service.clock.now())
        body = scoring_xlsx(result)
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="gongai-scoring-{division}.xlsx"'})


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
    with request.app.state.heavy():
        text = queries.events_csv(request.app.state.service.db, project_id=project_id, since_id=since_id)
    return PlainTextResponse(text, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="gongai-events.csv"'})


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(_CHUNK):
            yield chunk
    finally:
        spool.close()


@router.get("/events.xes", response_class=StreamingResponse, summary="The event log as XES (IEEE 1849) for pm4py, ProM, Disco",
            responses={200: {"content": {"application/xml": {}}}})
def events_xes(request: Request, actor: Actor = Depends(readers),
               project_id: str | None = Query(default=None, max_length=40,
                                              description="only this project: one trace, e.g. P2026-000001"),
               since: datetime | None = Query(default=None, description="only events at or after (naive = Asia/Shanghai)"),
               until: datetime | None = Query(default=None, description="only events before (naive = Asia/Shanghai)"),
               ) -> StreamingResponse:
    """One trace per project (``engine.analytics.export.write_xes``), written to a spooled file, then streamed.

    ``project_id`` exports one case (an unknown id is a 422, not an empty log); ``since`` / ``until`` cut on
    the event instant, so a project running across the window's edge is exported in part.

    Writing the whole document before the first byte goes out costs the time to first byte, but a failure
    mid-export is still a 500 problem instead of a truncated 200 document a mining tool might half-import, and
    the read transaction ends before a slow client downloads. Memory stays bounded: past ``SPOOL_BYTES`` the
    document lives in a temporary file, read back in chunks.
    """
    from engine.analytics.export import write_xes

    service = request.app.state.service
    start, end = analytics_window(since, until)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        with request.app.state.heavy(), service.db.connect() as conn:
            if project_id is not None and conn.execute(
                    select(t.projects.c.id).where(t.projects.c.id == project_id)).first() is None:
                raise Invalid(f"project_id: unknown project {project_id!r}")
            write_xes(conn, spool, project_id=project_id, since=start, until=end)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return StreamingResponse(_chunks(spool), media_type="application/xml",
                             headers={"Content-Disposition": 'attachment; filename="gongai-events.xes"'})

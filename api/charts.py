"""Chart routes: the analytics charts for analysts, and a project's Gantt for whoever may see the project.

``GET /analytics/charts/{kind}.svg|png`` takes the analytics filters, checked like ``/analytics/report`` by
``engine.services.analytics.analytics_filters`` (naive instants are Asia/Shanghai time);
``GET /projects/{id}/gantt.svg|png`` is authorised like the project view: owners see their own projects,
agencies the projects involving their department, analysts everything (others get the same 403 as for the project view).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.analytics import Department, Division, Jurisdiction, ProjectType, Since, Stage, Until, readers
from api.auth import current_actor
from engine.domain.actors import Actor
from engine.services import queries
from engine.services.analytics import analytics_filters, profile_catalogue

router = APIRouter(tags=["charts"])
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
Kind = Literal["stage_boxplots", "weekly_rates", "department_bottlenecks"]


def _respond(body: bytes, fmt: str) -> Response:
    return Response(body, media_type=MEDIA[fmt], headers={"Cache-Control": "no-store"})


@router.get("/analytics/charts/{kind}.{fmt}", summary="An analytics chart (stage box plots, weekly rates, bottlenecks)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
async def analytics_chart(request: Request, kind: Kind, fmt: Literal["svg", "png"], actor: Actor = Depends(readers),
                          project_type: ProjectType = None, stage: Stage = None, department: Department = None,
                          matter: str | None = Query(default=None, max_length=80, description="a catalogue matter id"),
                          jurisdiction: Jurisdiction = None, since: Since = None, until: Until = None,
                          division: Division = None) -> Response:
    """The filters are checked as for ``/analytics/report`` (an unknown id is a 422, not an empty chart); the
    box plots' limits come from the filtered profile, loaded from the service's own catalogue root."""
    from engine.analytics.charts import BUILDERS, render

    service = request.app.state.service
    filters = analytics_filters(service.catalogue, project_type=project_type, stage=stage, department=department,
                                matter=matter, jurisdiction=jurisdiction, since=since, until=until, division=division)

    def draw() -> bytes:  # matplotlib (and a profile's YAML) is CPU work: off the event loop
        # the profile was checked above; one that is listed but does not load is the server's fault (500)
        catalogue = profile_catalogue(service.catalogue, jurisdiction)
        with service.db.connect() as conn:
            return render(BUILDERS[kind](conn, filters, catalogue=catalogue), fmt)

    return _respond(await run_in_threadpool(draw), fmt)


@router.get("/projects/{project_id}/gantt.{fmt}", summary="A project's timeline: matters by stage, clock stops, critical path",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
async def project_gantt(request: Request, fmt: Literal["svg", "png"],
                        project_id: str = Path(description="project id, e.g. P2026-000001", max_length=40),
                        actor: Actor = Depends(current_actor)) -> Response:
    from engine.analytics.charts import project_gantt as gantt

    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return _respond(await run_in_threadpool(gantt, service, project_id, fmt=fmt), fmt)

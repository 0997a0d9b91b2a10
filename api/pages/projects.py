"""Project pages: my projects (owners, agents) or the projects a role may see, a new project, and a project's
progress — stages and matters with status, department, due date, remaining working days, colour and clock
stops, the highlighted BPMN diagram, the owner's open steps, notifications and certificates.

Reads and the filing go through the API route functions (``api.projects``, ``api.charts``) with the session's
actor, so a page shows exactly what the JSON API would show that user.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api import catalogue as catalogue_api
from api import charts as chart_api
from api import projects as project_api
from api.pages import common, diagram
from api.pages.common import FormRejected, PageRoute, actor_of, form_of, listed, redirect, refusal, render
from api.pages.work import DONE_MESSAGES
from engine.domain.actors import Actor
from engine.persistence.uow import ConcurrentUpdate, UnitOfWork
from engine.services import queries
from engine.services.errors import Conflict, NotFound, ServiceError

router = APIRouter(prefix="/ui/projects", route_class=PageRoute, include_in_schema=False)
FILERS = ("owner", "agent")
NEW_FIELDS = ("name", "project_type", "owner_id", "location", "investment_wan_yuan")


def _pid() -> Any:
    return Path(max_length=40)


@router.get("")
def project_list(request: Request, actor: Actor = Depends(actor_of),
                 status: Literal["running", "completed", "stopped", "withdrawn", ""] = "",
                 project_type: str | None = Query(default=None, max_length=40),
                 cursor: str | None = Query(default=None, max_length=500),
                 trail: str | None = Query(default=None, max_length=common.TRAIL_CHARS + 600)) -> Response:
    """The projects the API lists for this actor, a page at a time (its keyset cursors, 上一页 / 下一页)."""
    current, earlier = common.page_cursor(cursor, trail)
    listing = common.listing_response()
    rows = project_api.list_projects(request, actor, status=status or None, project_type=project_type or None,
                                     limit=common.PAGE_SIZE, offset=0, cursor=current, response=listing)
    pages = common.pager(request, current, earlier, listing.headers.get("X-Next-Cursor"), len(rows))
    return render(request, "projects.html", projects=rows, filters={"status": status, "project_type": project_type or ""},
                  may_file=actor.role in FILERS, pages=pages)


@router.get("/new")
def new_project(request: Request, actor: Actor = Depends(actor_of),
                project_type: str | None = Query(default=None, max_length=40)) -> Response:
    return _new_page(request, actor, form={"project_type": project_type or ""})


@router.post("/new")
async def file_project(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    """新建项目 in two steps on one page: answer the 情形 questions, see the matters they require (the API's
    ``POST /catalogue/plan-preview``), then file (``POST /projects``, owners and agents only)."""
    form = await form_of(request)
    preview = None
    try:
        body = _new_body(request, form)
        if form.get("intent") != "file":
            preview = catalogue_api.plan_preview(
                catalogue_api.PlanPreviewIn(project_type=body.project_type, case=body.case), request, actor)
            return _new_page(request, actor, form=form, preview=preview)
        created = project_api.create_project(body, request, project_api.require("owner", "agent")(actor))
    except (ServiceError, ConcurrentUpdate, ValidationError, FormRejected) as exc:
        return _new_page(request, actor, exc=exc, form=form)
    return redirect(f"/ui/projects/{created['id']}?ok=created")


def _questions(request: Request, project_type: str | None) -> list[dict[str, Any]]:
    if not project_type or project_type not in request.app.state.service.catalogue.project_types:
        return []
    return request.app.state.service.case_questions(project_type)


def _new_body(request: Request, form: dict[str, Any]) -> project_api.NewProject:
    errors: dict[str, str] = {}
    if not (form.get("name") or "").strip():
        errors["name"] = "请填写项目名称"
    if not form.get("project_type"):
        errors["project_type"] = "请选择项目类型"
    investment = None
    raw = (form.get("investment_wan_yuan") or "").strip()
    if raw:
        try:
            investment = float(raw)
        except ValueError:
            errors["investment_wan_yuan"] = "请填写数字"
        else:
            if investment < 0:
                errors["investment_wan_yuan"] = "不能为负数"
    case: dict[str, Any] = {}
    for q in _questions(request, form.get("project_type")):
        field = "case." + q["id"]
        value = form.get(field)
        if q["type"] == "multi":
            case[q["id"]] = listed(form, field)
        elif q["type"] == "bool":
            if value in ("yes", "no"):
                case[q["id"]] = value == "yes"
        elif q["type"] == "number":
            text = str(value or "").strip()
            if text:
                try:
                    case[q["id"]] = float(text) if any(c in text for c in ".eE") else int(text)
                except ValueError:
                    errors[field] = "请填写数字"
        elif value:
            case[q["id"]] = value
    if errors:
        raise FormRejected(errors)
    return project_api.NewProject(name=form["name"].strip(), project_type=form["project_type"], case=case,
                                  owner_id=(form.get("owner_id") or None), location=(form.get("location") or "").strip() or None,
                                  investment_wan_yuan=investment,
                                  commitment_matters=listed(form, "commitment_matters"))


def _new_page(request: Request, actor: Actor, *, exc: Exception | None = None, form: dict[str, Any] | None = None,
              preview: dict[str, Any] | None = None) -> Response:
    project_api.require("owner", "agent")(actor)  # only those who may file see the form (403 page otherwise)
    form = form or {}
    status, errors, heading = (200, {}, None)
    if exc is not None:
        # the questionnaire names each question (case.<id>): each problem is shown beside its question
        status, errors, heading = refusal(exc, (*NEW_FIELDS, "case."))
    catalogue = request.app.state.service.catalogue
    return render(request, "project_new.html", status=status, errors=errors, heading=heading, form=form,
                  project_types=list(catalogue.project_types.values()), principals=sorted(actor.owner_ids),
                  questions=_questions(request, form.get("project_type")), preview=preview)


certificates_router = APIRouter(prefix="/ui/certificates", route_class=PageRoute, include_in_schema=False)


@certificates_router.get("")
def certificate_list(request: Request, actor: Actor = Depends(actor_of),
                     status: Literal["valid", "revoked", "expired", ""] = "") -> Response:
    """我的电子证照: every certificate of the projects the caller may see (an owner: its own)."""
    from api import certificates as certificate_api

    rows = certificate_api.list_certificates(request, actor, status=status or None, limit=1000)
    return render(request, "certificates.html", certificates=rows, filters={"status": status})


@router.get("/{project_id}")
def project_page(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of),
                 ok: str | None = Query(default=None, max_length=20)) -> Response:
    return _project_view(request, project_id, actor, ok=ok)


@router.post("/{project_id}/project-code")
async def record_project_code(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of)) -> Response:
    """登记项目代码 as the investment platform assigned it (``PUT /projects/{id}/project-code``: owner, agent or
    window, once); a refusal is shown beside the field and records nothing."""
    form = await form_of(request)
    try:
        body = project_api.ProjectCodeIn(project_code=str(form.get("project_code") or "").strip())
        project_api.set_project_code(body, request, project_id,
                                     project_api.require(*project_api.OWNER_SIDE, "window")(actor))
    except (ServiceError, ValidationError) as exc:
        status, errors, heading = refusal(exc, ("project_code",))
        return _project_view(request, project_id, actor, status=status, errors=errors, heading=heading,
                             form={"project_code": form.get("project_code") or ""})
    return redirect(f"/ui/projects/{project_id}?ok=project_code")


def _project_view(request: Request, project_id: str, actor: Actor, *, ok: str | None = None, status: int = 200,
                  errors: dict[str, str] | None = None, heading: str | None = None,
                  form: dict[str, Any] | None = None) -> Response:
    summary = project_api.get_project(request, project_id, actor)  # visibility as GET /projects/{id}
    progress = summary["progress"]
    events = project_api.timeline(request, project_id, actor)
    notices = project_api.notifications(request, project_id, actor)
    certificates = project_api.project_certificates(request, project_id, actor, limit=1000)  # 电子证照
    references = _certificates(events, progress)  # numbers officers typed with their decisions (部门文书编号)
    try:
        plan = project_api.plan(request, project_id, actor)
    except Conflict:  # filed before case plans existed
        plan = None
    done = {"created": "项目已创建，请办理第一阶段申报", "project_code": "项目代码已登记"}.get(ok or "") or DONE_MESSAGES.get(ok or "")
    return render(request, "project.html", status, project=summary, progress=progress, open_tasks=summary["open_tasks"],
                  notices=notices, certificates=certificates, references=references, plan=plan, done=done,
                  errors=errors or {}, heading=heading, form=form or {})


DiagramModel = Literal["project_approval", "stage_approval", "joint_acceptance", "stage_intake", "matter_approval",
                       "unit_acceptance", "commitment_followup"]


@router.get("/{project_id}/diagram.bpmn")
def diagram_xml(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of),
                model: DiagramModel | None = None) -> Response:
    """A model of the definition version this project runs (for the bpmn-js viewer): the main one, or the stage,
    intake, matter, unit-acceptance or follow-up model a drill-down shows."""
    service = request.app.state.service
    row = queries.visible_project(service.db, actor, project_id)
    with UnitOfWork(service.db, read_only=True) as uow:
        definition = uow.definitions.get(row["definition_id"])
    files = (definition or {}).get("files") or {}
    process_id = model or (definition or {}).get("process_id", "project_approval")
    text = files.get(f"{process_id}.bpmn") or next((v for v in files.values() if f'id="{process_id}"' in v), "")
    if not text:
        raise NotFound(f"definition {row['definition_id']} does not exist")
    return Response(text, media_type="application/xml", headers={"Cache-Control": "private, max-age=300"})


@router.get("/{project_id}/diagram-state.json")
def diagram_state(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of)) -> Response:
    """Element id → done | active | overdue | refused, for the stages' call activities (Call_S1 …)."""
    progress = project_api.progress(request, project_id, actor)
    return Response(json.dumps(element_states(progress)), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


@router.get("/{project_id}/diagram-view.json")
def diagram_view(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of),
                 model: DiagramModel | None = None, stage: str | None = Query(default=None, max_length=10),
                 matter: str | None = Query(default=None, max_length=160)) -> Response:
    """One level of the diagram (``api.pages.diagram.view``): its marks (from the ledger and the task rows) and
    the levels below it. The main model without ``model``; a drilled-in model needs its ``stage``."""
    service = request.app.state.service
    progress = project_api.progress(request, project_id, actor)  # the visibility rule of GET /projects/{id}/progress
    if model not in (None, "project_approval") and not stage:
        raise FormRejected({"stage": "请选择阶段"})
    with UnitOfWork(service.db, read_only=True) as uow:
        tasks = uow.tasks.list(project_id=project_id, state=None, limit=None)
    names = {s.id: s.name for s in service.catalogue.stages.values()}
    data = diagram.view(progress, tasks, now=service.clock.now(), stage_names=names, model=model, stage=stage,
                        matter=matter)
    return Response(json.dumps(data, ensure_ascii=False), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def element_states(progress: dict[str, Any]) -> dict[str, str]:
    return diagram.main_states(progress)


@router.get("/{project_id}/gantt.svg")
async def gantt(request: Request, project_id: str = _pid(), actor: Actor = Depends(actor_of)) -> Response:
    return await chart_api.project_gantt(request, "svg", project_id, actor)


def _certificates(events: list[dict[str, Any]], progress: dict[str, Any]) -> list[dict[str, Any]]:
    """Document numbers officers gave with approvals and combined results (部门文书编号; the certificates themselves
    are the records of GET /projects/{id}/certificates)."""
    names = {m["key"]: m["name"] for m in progress.get("matters", [])}
    out = []
    for event in events:
        data = event.get("data") or {}
        payload = data.get("payload") or {}
        if event["type"] == "task_completed" and payload.get("certificate_no"):
            out.append({"number": payload["certificate_no"], "at": event["at"], "stage": event.get("stage"),
                        "what": names.get(event.get("matter_key") or "", data.get("name") or ""),
                        "department": event.get("department")})
    return out

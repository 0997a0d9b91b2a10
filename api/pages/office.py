"""Sign-in, the analysts' dashboard and the administrators' pages, plus the locally served API docs.

The dashboard shows ``GET /analytics/report`` and the charts of ``/analytics/charts``; its images and
downloads are page routes that call those API functions with the session's actor (an ``<img>`` cannot send
a bearer header). Administration calls ``api.admin``'s functions: deploy (validation messages one per line),
definition versions, users.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api import admin as admin_api
from api import analytics as analytics_api
from api import charts as chart_api
from api.pages import common, session
from api.pages.common import (
    CsrfRefused,
    FormRejected,
    PageRoute,
    actor_of,
    env,
    error_page,
    form_of,
    redirect,
    refusal,
    render,
    safe_next,
)
from engine.domain.actors import Actor
from engine.domain.catalogue import list_profiles
from engine.services.errors import ServiceError

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FILTERS = ("project_type", "stage", "department", "matter", "jurisdiction", "since", "until", "division")


# -- sign-in ---------------------------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request, next: str | None = Query(default=None, max_length=300)) -> Response:
    actor = session.load(request).actor
    if actor is not None:
        return redirect(safe_next(next, actor))
    return render(request, "signin.html", next=next or "", errors={}, form={})


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await form_of(request)
    errors = {}
    name, token = (form.get("name") or "").strip(), (form.get("token") or "").strip()
    if not name:
        errors["name"] = "请填写用户名"
    if not token:
        errors["token"] = "请填写访问令牌"
    if not errors:
        actor = session.sign_in(request, name, token)
        if actor is not None:
            return redirect(safe_next(form.get("next"), actor))
        errors["token"] = "用户名或令牌不正确，或令牌已被吊销"
    return render(request, "signin.html", status=401 if "token" in errors and name and token else 422,
                  next=form.get("next") or "", errors=errors, form={"name": name})


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    await form_of(request)
    session.sign_out(request)
    return redirect("/")


# -- analysts ------------------------------------------------------------------------------------------------------
def _filters(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {k: (q.get(k) or "").strip()[:100] for k in FILTERS}


def _when(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise FormRejected({field: "日期格式应为 YYYY-MM-DD"}) from None


def _filter_args(f: dict[str, Any]) -> dict[str, Any]:
    return {"project_type": f["project_type"] or None, "stage": f["stage"] or None, "department": f["department"] or None,
            "matter": f["matter"] or None, "jurisdiction": f["jurisdiction"] or None,
            "since": _when(f["since"], "since"), "until": _when(f["until"], "until"), "division": _division(f["division"])}


def _division(value: str) -> str | None:
    if value and not (len(value) == 6 and value.isdigit()):
        raise FormRejected({"division": "行政区划代码为 6 位数字，如 360100"})
    return value or None


@router.get("/ui/analytics")
def dashboard(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    """工改办 dashboard: the KPI report, the charts, the case list and downloads, under one set of filters."""
    analytics_api.readers(actor)
    f = _filters(request)
    status, errors, heading, report = 200, {}, None, None
    filings: list[dict[str, Any]] = []
    try:
        args = _filter_args(f)
        report = analytics_api.report(request, actor, suspect_minutes=10.0, group_by=None, **args)
        # 受理用时 per stage: the window's own time (the department and matter filters do not apply to filings)
        filings = analytics_api.timings(request, actor, by="filing", finished=False,
                                        **(args | {"department": None, "matter": None}))
    except (ServiceError, FormRejected, ValidationError) as exc:
        status, errors, heading = refusal(exc, FILTERS)
    page = _case_page(request)
    cases = analytics_api.cases(request, actor, status=None, project_type=f["project_type"] or None, overdue=None,
                                limit=common.PAGE_SIZE + 1, offset=(page - 1) * common.PAGE_SIZE) if report is not None else []
    more = len(cases) > common.PAGE_SIZE  # one row past the page says whether another page follows
    cases = cases[:common.PAGE_SIZE]
    query = "&".join(f"{k}={quote(v)}" for k, v in f.items() if v)
    at = "/ui/analytics?" + (query + "&" if query else "") + "page="
    pages = {"number": page, "shown": len(cases), "more": more, "next": at + str(page + 1) if more else None,
             "previous": at + str(page - 1) if page > 1 else None, "first": at + "1" if page > 2 else None}
    catalogue = request.app.state.service.catalogue
    from engine.domain.catalogue import list_profiles

    return render(request, "analytics.html", status=status, report=report, errors=errors, heading=heading, filters=f,
                  query=query, cases=cases, profiles=list_profiles(catalogue.root), pages=pages, filings=filings)


def _case_page(request: Request) -> int:
    """The case list's page number (``page``, 1 when absent or not a sensible number)."""
    raw = request.query_params.get("page") or "1"
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


@router.get("/ui/analytics/charts/{kind}.svg")
async def chart(request: Request, kind: chart_api.Kind, actor: Actor = Depends(actor_of)) -> Response:
    f = _filters(request)
    return await chart_api.analytics_chart(request, kind, "svg", analytics_api.readers(actor), **_filter_args(f))


@router.get("/ui/analytics/events.csv")
def events_csv(request: Request, actor: Actor = Depends(actor_of),
               project_id: str | None = Query(default=None, max_length=40)) -> Response:
    return analytics_api.events_csv(request, analytics_api.readers(actor), project_id=project_id or None, since_id=0)


@router.get("/ui/analytics/scoring.xlsx")
def scoring_xlsx(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    """评分细则 as a spreadsheet for the chosen division (the province's peers when none is chosen)."""
    f = _filters(request)
    args = _filter_args(f)
    return analytics_api.scoring_sheet_xlsx(request, analytics_api.readers(actor), division=args["division"] or "360000",
                                            since=args["since"], until=args["until"], project_type=args["project_type"],
                                            jurisdiction=args["jurisdiction"])


@router.get("/ui/analytics/events.xes")
def events_xes(request: Request, actor: Actor = Depends(actor_of),
               project_id: str | None = Query(default=None, max_length=40)) -> Response:
    return analytics_api.events_xes(request, analytics_api.readers(actor), project_id=project_id or None,
                                    since=None, until=None)


# -- administrators ------------------------------------------------------------------------------------------------
@router.get("/ui/admin")
def admin_page(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    return _admin(request, actor)


def _admin(request: Request, actor: Actor, *, status: int = 200, errors: dict[str, str] | None = None,
           heading: str | None = None, deployed: dict[str, Any] | None = None, created: dict[str, Any] | None = None,
           problems: list[str] | None = None, form: dict[str, Any] | None = None,
           rules_deployed: dict[str, Any] | None = None, rules_problems: list[str] | None = None) -> Response:
    admin_api.admins(actor)
    return render(request, "admin.html", status=status, errors=errors or {}, heading=heading, deployed=deployed,
                  created=created, problems=problems or [], form=form or {},
                  rules_deployed=rules_deployed, rules_problems=rules_problems or [],
                  rule_tables=admin_api.list_rules(request, actor), profiles=list_profiles(),
                  current_profile=request.app.state.service.catalogue.profile.id,
                  definitions=admin_api.definitions(request, actor), users=admin_api.list_users(request, actor),
                  roles=list(admin_api.UserIn.model_fields["role"].annotation.__args__),
                  departments=list(request.app.state.service.catalogue.departments.values()))


@router.post("/ui/admin/definitions")
async def deploy(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    """Upload a model (every .bpmn file of it); the validation messages come back one per line."""
    admin_api.admins(actor)
    form = await request.form()
    if not session.csrf_ok(request, form.get("csrf")):
        raise CsrfRefused()
    files: dict[str, str] = {}
    for upload in form.getlist("files"):
        if hasattr(upload, "read") and upload.filename:
            raw = await upload.read()
            try:
                files[upload.filename] = raw.decode("utf-8")
            except UnicodeDecodeError:
                return _admin(request, actor, status=422, errors={"files": f"{upload.filename}：不是 UTF-8 编码的文本文件"})
    if not files:
        return _admin(request, actor, status=422, errors={"files": "请选择一个或多个 .bpmn 文件"})
    try:
        body = admin_api.DeployIn(files=files, process_id=str(form.get("process_id") or "project_approval"))
        deployed = admin_api.deploy(body, request, actor)
    except (ServiceError, ValidationError) as exc:
        status, errors, heading = refusal(exc, ("files", "process_id"))
        text = next(iter(errors.values()), "")
        problems = [line.strip() for line in text.splitlines() if line.strip()]
        return _admin(request, actor, status=status, heading="模型校验未通过，未部署", problems=problems)
    return _admin(request, actor, deployed=deployed)


@router.post("/ui/admin/rules")
async def deploy_rules(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    """Upload a matter-selection table (DMN) for a profile; every fault comes back with its row and column."""
    admin_api.admins(actor)
    form = await request.form()
    if not session.csrf_ok(request, form.get("csrf")):
        raise CsrfRefused()
    upload = form.get("dmn")
    if not (hasattr(upload, "read") and upload.filename):
        return _admin(request, actor, status=422, errors={"dmn": "请选择一个 .dmn 决策表文件"})
    try:
        text = (await upload.read()).decode("utf-8")
    except UnicodeDecodeError:
        return _admin(request, actor, status=422, errors={"dmn": f"{upload.filename}：不是 UTF-8 编码的文本文件"})
    try:
        body = admin_api.RulesIn(profile=str(form.get("profile") or ""), dmn=text)
        deployed = admin_api.deploy_rules(body, request, actor)
    except (ServiceError, ValidationError) as exc:
        found = list(getattr(exc, "problems", None) or [])
        status, errors, heading = refusal(exc, ("profile", "dmn"))
        if not found:
            return _admin(request, actor, status=status, errors=errors, heading=heading)
        return _admin(request, actor, status=status, heading="决策表校验未通过，未发布", rules_problems=found)
    return _admin(request, actor, rules_deployed=deployed)


@router.post("/ui/admin/users")
async def add_user(request: Request, actor: Actor = Depends(actor_of)) -> Response:
    form = await form_of(request)
    admin_api.admins(actor)
    owners = [o.strip() for o in str(form.get("owner_ids") or "").replace("，", ",").split(",") if o.strip()]
    try:
        body = admin_api.UserIn(name=(form.get("name") or "").strip(), role=form.get("role") or "",
                                department=form.get("department") or None, owner_ids=owners)
        created = admin_api.add_user(body, request, actor)
    except (ServiceError, ValidationError) as exc:
        status, errors, heading = refusal(exc, ("name", "role", "department", "owner_ids"))
        return _admin(request, actor, status=status, errors=errors, heading=heading, form=form)
    return _admin(request, actor, created=created)


@router.post("/ui/admin/users/{name}/revoke")
async def revoke(request: Request, name: str, actor: Actor = Depends(actor_of)) -> Response:
    await form_of(request)
    try:
        admin_api.disable_user(request, name, actor)
    except ServiceError as exc:
        status, errors, heading = refusal(exc)
        return _admin(request, actor, status=status, errors=errors, heading=heading)
    return redirect("/ui/admin")


@router.get("/ui/{rest:path}")
def unknown_page(request: Request, rest: str, actor: Actor = Depends(actor_of)) -> Response:
    """Any other address under /ui/: a Chinese 404 page (registered last, after every real page)."""
    return error_page(request, 404, f"没有这个页面：/ui/{rest}")


# -- API docs, served locally (no CDN) --------------------------------------------------------------------------------
docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/docs")
def docs() -> HTMLResponse:
    """Swagger UI from /static/vendor, started by an external script (no inline script: a strict CSP holds)."""
    return HTMLResponse(env.get_template("docs.html").render())


__all__ = ["router", "docs_router"]

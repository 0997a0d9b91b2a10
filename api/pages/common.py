"""What every page shares: templates, the signed-in actor, CSRF checks, Chinese labels and error pages.

Pages are entry points like the JSON routes and call the same code: where an API route exists, a page calls
that route's function with the session's actor (so its role gate, visibility rule and service call are the
ones the API runs), and renders the result. A refusal is shown in Chinese, next to the field it names when
it names one; nothing has changed then, since the service layer's transaction was rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from api.pages import refusals, session
from engine.domain.actors import Actor
from engine.domain.workcalendar import SHANGHAI
from engine.persistence.uow import ConcurrentUpdate
from engine.services.errors import ServiceError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"

ROLE_LABELS = {"owner": "建设单位", "agent": "帮办代办", "window": "综合窗口", "agency": "审批部门",
               "lead": "牵头部门", "analyst": "工改办（分析）", "admin": "系统管理员"}
STATUS_LABELS = {"on_time": "正常", "warning": "预警", "overdue": "超期", "silent_consent": "超时默许",
                 "running": "办理中", "completed": "已办结", "stopped": "已终止", "withdrawn": "已撤回",
                 "ready": "待办", "done": "已办", "cancelled": "已取消"}
COLOUR_LABELS = {"green": "绿色（正常）", "yellow": "黄色（预警）", "red": "红色（超期）", "none": "—"}
OUTCOME_LABELS = {"approved": "准予许可", "refused": "不予许可", "revoked": "撤销", "silent_consent": "超时默许",
                  "issued": "已出件", "withdrawn": "已撤回", "passed": "核查通过", "failed": "核查不通过"}
STOP_LABELS = {"correction": "补正停表", "special": "特别程序停表", "procedure": "特别程序停表",
               "intermediary": "中介服务停表"}
EVENT_LABELS = {"project_started": "项目申报", "stage_submitted": "提交阶段申报", "task_ready": "任务生成",
                "task_completed": "任务办结", "task_claimed": "认领", "task_released": "释放认领",
                "intake_notice": "一次性告知", "commitment_signed": "签署告知承诺书", "documents_supplied": "补齐容缺材料",
                "project_completed": "项目办结", "stage_accepted": "阶段受理", "stage_completed": "阶段办结",
                "matter_started": "事项开始", "matter_completed": "事项办结", "matter_warning": "事项预警",
                "clock_stopped": "停表", "clock_resumed": "恢复计时", "notification": "发出通知",
                "credit_recorded": "记入信用记录", "permit_revoked": "撤销许可", "post_check": "承诺核查",
                "silent_consent": "超时默许", "project_stopped": "项目终止", "project_withdrawn": "项目撤回"}
HOME = {"owner": "/ui/projects", "agent": "/ui/projects", "window": "/ui/inbox", "agency": "/ui/inbox",
        "lead": "/ui/inbox", "analyst": "/ui/analytics", "admin": "/ui/admin"}
#: The navigation each role sees (label, path); what a role may not use is not shown.
NAV = {
    "owner": [("我的项目", "/ui/projects"), ("新建项目", "/ui/projects/new"), ("待办事项", "/ui/inbox"),
              ("电子证照", "/ui/certificates")],
    "agent": [("代办项目", "/ui/projects"), ("新建项目", "/ui/projects/new"), ("待办事项", "/ui/inbox"),
              ("电子证照", "/ui/certificates")],
    "window": [("受理队列", "/ui/inbox"), ("全部项目", "/ui/projects")],
    "agency": [("待办任务", "/ui/inbox"), ("相关项目", "/ui/projects")],
    "lead": [("待办任务", "/ui/inbox"), ("相关项目", "/ui/projects")],
    "analyst": [("统计分析", "/ui/analytics"), ("全部项目", "/ui/projects")],
    "admin": [("系统管理", "/ui/admin"), ("统计分析", "/ui/analytics"), ("全部项目", "/ui/projects"),
              ("待办任务", "/ui/inbox")],
}
#: Plain words for the HTTP statuses a refusal carries.
REFUSAL = {400: "请求有误", 401: "请先登录", 403: "无权执行此操作", 404: "未找到", 409: "状态已变化，操作未执行",
           413: "提交内容过大", 422: "填写有误，操作未执行", 500: "系统错误，操作未执行"}


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form (the JSON API answers 401 instead)."""


class FormRejected(Exception):
    """A form the page refuses before calling the service: field → Chinese message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def _dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if not value or not isinstance(value, (str, datetime)):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        return value.strftime(fmt)
    return value.astimezone(SHANGHAI).strftime(fmt)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True,
                  lstrip_blocks=True)
env.filters.update(dt=_dt, num=_num, pct=_pct, date=lambda v: _dt(v, "%Y-%m-%d"))
env.globals.update(ROLE_LABELS=ROLE_LABELS, STATUS_LABELS=STATUS_LABELS, COLOUR_LABELS=COLOUR_LABELS,
                   OUTCOME_LABELS=OUTCOME_LABELS, STOP_LABELS=STOP_LABELS,
                   EVENT_LABELS=EVENT_LABELS)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    sess = session.load(request)
    actor = sess.actor
    catalogue = request.app.state.service.catalogue
    html = env.get_template(template).render(
        request=request, actor=actor, csrf=sess.csrf, nav=NAV.get(actor.role, []) if actor else [],
        path=request.url.path, catalogue=catalogue, dept_name=lambda d: dept_name(catalogue, d),
        stage_name=lambda s: stage_name(catalogue, s), **context)
    return HTMLResponse(html, status_code=status)


def dept_name(catalogue: Any, department: str | None) -> str:
    if not department:
        return "—"
    found = catalogue.departments.get(department)
    return found.name if found else department


def stage_name(catalogue: Any, stage: str | None) -> str:
    if not stage:
        return "—"
    found = catalogue.stages.get(stage)
    return f"{found.name}（{stage}）" if found else stage


def actor_of(request: Request) -> Actor:
    """The signed-in actor (a page dependency); without a session the page redirects to sign-in."""
    actor = session.load(request).actor
    if actor is None:
        raise SignInRequired()
    return actor


async def form_of(request: Request) -> dict[str, Any]:
    """The submitted form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form()
    if not session.csrf_ok(request, form.get("csrf")):
        raise CsrfRefused()
    return {k: (form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k)) for k in form.keys()}


class CsrfRefused(ServiceError):
    status = 403

    def __init__(self) -> None:
        super().__init__("表单已过期或来源不明（CSRF 校验失败）：请刷新页面后重试")


def listed(form: Mapping[str, Any], name: str) -> list[str]:
    value = form.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if str(v).strip()]


def lines(text: Any) -> list[str]:
    """One item per non-empty line (补正 items, supplied documents)."""
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def refusal(exc: Exception, fields: tuple[str, ...] = ()) -> tuple[int, dict[str, str], str]:
    """(status, field errors, general message) for an error the service layer or a body model raised.

    Every refusal is said in Chinese (``api.pages.refusals``): a problem that names one of the form's ``fields``
    is shown next to that field (a name ending in '.' takes in the fields under it, e.g. ``case.``), anything
    else at the top of the form, its field named in Chinese.
    """
    if isinstance(exc, FormRejected):
        return 422, exc.errors, REFUSAL[422]
    if isinstance(exc, ValidationError):
        pairs: list[tuple[str | None, str]] = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ()))
            message = str(err.get("msg", "")).removeprefix("Value error, ")
            pairs.append((field or None, _zh_validation(err.get("type", ""), message)))
        return 422, _placed(pairs, fields), REFUSAL[422]
    if isinstance(exc, ConcurrentUpdate):
        return 409, {"_": "项目正在被他人办理，请刷新后重试"}, REFUSAL[409]
    status = getattr(exc, "status", 500)
    return status, _placed(refusals.explain(str(exc)), fields), REFUSAL.get(status, REFUSAL[500])


def _placed(pairs: list[tuple[str | None, str]], fields: tuple[str, ...]) -> dict[str, str]:
    """Each message beside its field when the form has it, the others together at the top (key ``_``)."""
    errors: dict[str, str] = {}
    general: list[str] = []
    for field, message in pairs:
        key = None
        if field is not None:
            top = field.split(".")[0]
            if field in fields or any(f.endswith(".") and field.startswith(f) for f in fields):
                key = field
            elif top in fields:
                key = top
        if key is None:
            label = refusals.FIELDS.get(field.split(".")[0]) if field else None
            general.append(f"{label}：{message}" if label else message)
        else:
            errors[key] = f"{errors[key]}；{message}" if key in errors else message
    if general:
        errors["_"] = "；".join(general)
    return errors


def _zh_validation(kind: str, message: str) -> str:
    return {"missing": "必填", "string_too_short": "不能为空", "too_short": "至少填写一项",
            "string_too_long": "内容过长", "float_parsing": "请填写数字",
            "greater_than_equal": "不能为负数", "int_parsing": "请填写整数"}.get(kind) or refusals.explain_text(message)


#: Rows a listing page shows; the rest is a click away (never cut off silently).
PAGE_SIZE = 50
#: How long the trail of earlier pages (for 上一页) may grow in the URL before its oldest entries are dropped.
TRAIL_CHARS = 6000


def page_cursor(cursor: str | None, trail: str | None) -> tuple[str | None, list[str]]:
    """The API cursor of the page to show and the start cursors of the pages before it ("" is the first page).

    Listing pages follow the API's keyset cursors (``X-Next-Cursor``): the URL carries the current page's
    cursor and, for 上一页, the trail of the earlier pages' (a keyset cursor only goes forward)."""
    earlier = [("" if c == "0" else c) for c in (trail or "").split(".") if c]
    return (cursor or None), earlier


def pager(request: Request, cursor: str | None, earlier: list[str], following: str | None, shown: int) -> dict[str, Any]:
    """Links to the next and previous pages of a listing (``following``: the API's ``X-Next-Cursor``)."""
    def url(to: str | None, trail: list[str]) -> str:
        target = request.url.remove_query_params(["cursor", "trail", "ok"])
        if to:
            target = target.include_query_params(cursor=to)
        encoded = ".".join(c or "0" for c in trail)
        while len(encoded) > TRAIL_CHARS and trail:
            trail = trail[1:]
            encoded = ".".join(c or "0" for c in trail)
        if encoded:
            target = target.include_query_params(trail=encoded)
        return f"{target.path}?{target.query}" if target.query else target.path

    return {"number": len(earlier) + 1, "shown": shown, "more": following is not None,
            "next": url(following, [*earlier, cursor or ""]) if following else None,
            "previous": url(earlier[-1], earlier[:-1]) if earlier else None,
            "first": url(None, []) if earlier else None}


def listing_response() -> Response:
    """A response object for a route function a page calls, so the page can read the ``X-Next-Cursor`` it sets."""
    return Response()


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, actor: Actor) -> str:
    """Only a page of this site (no open redirect); else the role's home page."""
    if target and target.startswith("/ui/") and "//" not in target and "\\" not in target:
        return target
    return HOME.get(actor.role, "/ui/projects")


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    return render(request, "error.html", status=status, heading=REFUSAL.get(status, REFUSAL[500]), detail=detail)


class PageRoute(APIRoute):
    """A route that answers in HTML: errors become a Chinese page, a missing session the sign-in form."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                return session.save(request, redirect("/?next=" + quote(request.url.path)))
            except (ServiceError, ConcurrentUpdate, FormRejected) as exc:
                status, errors, _ = refusal(exc)
                response = error_page(request, status, errors.get("_") or "；".join(
                    f"{refusals.FIELDS.get(k, k)}：{v}" for k, v in errors.items()))
            except RequestValidationError as exc:
                pairs = [(".".join(str(p) for p in e.get("loc", ())[1:]) or None,
                          _zh_validation(e.get("type", ""), str(e.get("msg", "")).removeprefix("Value error, ")))
                         for e in exc.errors()]
                response = error_page(request, 422, _placed(pairs, ())["_"])
            return session.save(request, response)

        return page_handler

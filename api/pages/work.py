"""Pages for whoever completes tasks: the inbox (window, agencies, lead departments, and owners' own steps),
claiming, and the task page with its decision forms.

Every read and every action calls the API route function of the same name (``api.tasks``) with the session's
actor: the department check, the claim rule and the payload rules are the API's, not re-implemented here.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api import projects as project_api
from api import tasks as task_api
from api.pages import common
from api.pages.common import (
    FormRejected,
    PageRoute,
    actor_of,
    form_of,
    lines,
    listed,
    redirect,
    refusal,
    render,
)
from engine.domain.actors import Actor
from engine.services.errors import Conflict, ServiceError
from engine.persistence.uow import ConcurrentUpdate
from pydantic import ValidationError

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

REVIEWS = ("Task_Review", "Task_ReviewSilent")
OWNER_STEPS = ("Task_SubmitFiling", "Task_CorrectFiling", "Task_MatterCorrection", "Task_SignCommitment",
               "Task_SupplyDocuments")
ISSUES = ("Task_IssueResult", "Task_JointOpinion", "Task_EarlyOpinion")
DONE_MESSAGES = {"approve": "已准予许可", "refuse": "已作出不予许可决定", "correction": "已发出补正通知（停表）",
                 "special": "特别程序已启动（停表）", "complete": "已办理完成", "claim": "已认领", "release": "已释放"}


def _tid() -> Any:
    return Path(max_length=40)


@router.get("/inbox")
def inbox(request: Request, actor: Actor = Depends(actor_of),
          stage: str | None = Query(default=None, max_length=10),
          project_id: str | None = Query(default=None, max_length=40),
          project_type: str | None = Query(default=None, max_length=40),
          matter_id: str | None = Query(default=None, max_length=80),
          colour: Literal["green", "yellow", "red", "none", ""] = "",
          ok: str | None = Query(default=None, max_length=20),
          cursor: str | None = Query(default=None, max_length=500),
          trail: str | None = Query(default=None, max_length=common.TRAIL_CHARS + 600)) -> Response:
    """待办: the API inbox (soonest due first, 黄/红 warning colours) with its filters, a page at a time (the
    API's keyset cursors; a page filtered by matter or colour may hold fewer rows while more follow)."""
    current, earlier = common.page_cursor(cursor, trail)
    listing = common.listing_response()
    rows = task_api.inbox(request, actor, stage=stage or None, project_id=project_id or None,
                          project_type=project_type or None, matter_id=matter_id or None, task=None,
                          colour=colour or None, state="ready", limit=common.PAGE_SIZE, cursor=current,
                          response=listing)
    pages = common.pager(request, current, earlier, listing.headers.get("X-Next-Cursor"), len(rows))
    filters = {"stage": stage or "", "project_id": project_id or "", "project_type": project_type or "", "matter_id": matter_id or "", "colour": colour}
    return render(request, "inbox.html", tasks=rows, filters=filters, stages=list(request.app.state.service.catalogue.stages),
                  done=DONE_MESSAGES.get(ok or ""), pages=pages)


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, task_id: str = _tid(), actor: Actor = Depends(actor_of)) -> Response:
    form = await form_of(request)
    back = "/ui/tasks/" + task_id if form.get("back") == "task" else "/ui/inbox"
    try:
        if form.get("release"):
            task_api.release(request, task_id, actor)
            return redirect(back + "?ok=release")
        task_api.claim(request, task_id, actor)
        return redirect(back + "?ok=claim")
    except (ServiceError, ConcurrentUpdate) as exc:
        return _task_page(request, actor, task_id, exc=exc)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str = _tid(), actor: Actor = Depends(actor_of),
              ok: str | None = Query(default=None, max_length=20)) -> Response:
    return _task_page(request, actor, task_id, done=DONE_MESSAGES.get(ok or ""))


@router.post("/tasks/{task_id}")
async def act(request: Request, task_id: str = _tid(), actor: Actor = Depends(actor_of)) -> Response:
    """One decision on the task; a refusal re-renders the page with the message next to its field."""
    form = await form_of(request)
    action = str(form.get("action") or "")
    task = task_api.get_task(request, task_id, actor)
    try:
        _perform(request, actor, task, action, form)
    except (ServiceError, ConcurrentUpdate, ValidationError, FormRejected) as exc:
        return _task_page(request, actor, task_id, exc=exc, form=form, action=action)
    if task["role"] == "owner":
        return redirect(f"/ui/projects/{task['project_id']}?ok={action}")
    return redirect(f"/ui/inbox?ok={action}")


def _perform(request: Request, actor: Actor, task: dict[str, Any], action: str, form: dict[str, Any]) -> None:
    tid, spec = task["id"], task["spec_id"]
    if spec in REVIEWS and action == "approve":
        task_api.approve(task_api.ApproveIn(certificate_no=(form.get("certificate_no") or "").strip() or None,
                                            reason=(form.get("opinion") or "").strip() or None), request, tid, None, actor)
    elif spec in REVIEWS and action == "refuse":
        reason = (form.get("reason") or "").strip()
        if not reason:
            raise FormRejected({"reason": "不予许可必须填写理由"})
        task_api.refuse(task_api.RefuseIn(reason=reason), request, tid, None, actor)
    elif spec in REVIEWS and action == "correction":
        items = lines(form.get("items"))
        if not items:
            raise FormRejected({"items": "请逐条列明需要补正的内容（每行一项，一次性告知）"})
        task_api.request_correction(task_api.CorrectionRequestIn(items=items), request, tid, None, actor)
    elif spec in REVIEWS and action == "special":
        procedure = (form.get("procedure") or "").strip()
        if not procedure:
            raise FormRejected({"procedure": "请选择特别程序"})
        task_api.start_special(task_api.SpecialIn(procedure=procedure, reason=(form.get("reason_special") or None)),
                               request, tid, None, actor)
    elif action == "complete":
        task_api.complete_task(request, tid, None, _payload(request, task, form), actor)
    else:
        raise FormRejected({"_": "未知的操作"})


def _payload(request: Request, task: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
    """The completion payload of a task kind, from its form (the service validates it again)."""
    spec = task["spec_id"]
    if spec == "Task_SubmitFiling":
        materials, missing = [], []
        for material in filing_materials(request, task):
            choice = form.get("m_" + material["id"])
            if choice == "missing":
                missing.append(material["id"])
            elif choice == "submitted":
                materials.append(material["id"])
        payload: dict[str, Any] = {"materials": materials, "declared_missing": missing}
        if (form.get("note") or "").strip():
            payload["note"] = form["note"].strip()
        return payload
    if spec == "Task_Intake":
        outcome = form.get("outcome")
        missing = listed(form, "missing")
        if outcome not in ("complete", "tolerance", "incomplete"):
            raise FormRejected({"outcome": "请选择受理结果"})
        if outcome == "complete" and missing:
            raise FormRejected({"missing": "材料齐全受理时不应勾选缺少的材料"})
        if outcome != "complete" and not missing:
            raise FormRejected({"missing": "容缺受理或一次性告知须勾选缺少的材料"})
        return {"outcome": outcome, "missing": missing if outcome != "complete" else []}
    if spec in ("Task_CorrectFiling", "Task_MatterCorrection"):
        supplied = lines(form.get("supplied"))
        if not supplied:
            raise FormRejected({"supplied": "请列出补正提交的材料（每行一项）"})
        payload = {"supplied": supplied}
        if (form.get("note") or "").strip():
            payload["note"] = form["note"].strip()
        return payload
    if spec == "Task_SignCommitment":
        errors = {}
        if not (form.get("signatory") or "").strip():
            errors["signatory"] = "请填写签署人"
        if form.get("accepted_terms") != "yes":
            errors["accepted_terms"] = "请阅读并勾选同意告知承诺书条款"
        if errors:
            raise FormRejected(errors)
        return {"signatory": form["signatory"].strip(), "accepted_terms": True}
    if spec == "Task_SupplyDocuments":
        documents = lines(form.get("documents"))
        if not documents:
            raise FormRejected({"documents": "请列出补齐的容缺材料（每行一项）"})
        return {"documents": documents}
    if spec == "Task_SpecialProcedure":
        return {"conclusion": (form.get("conclusion") or "").strip() or None}
    if spec in ISSUES:
        return {k: v for k in ("certificate_no", "opinion") if (v := (form.get(k) or "").strip())}
    if spec == "Task_PostCheck":
        passed = form.get("passed")
        if passed not in ("yes", "no"):
            raise FormRejected({"passed": "请选择核查结论"})
        findings = (form.get("findings") or "").strip()
        if passed == "no" and not findings:
            raise FormRejected({"findings": "核查不通过须写明核查意见"})
        return {"passed": passed == "yes", "findings": findings or None}
    return {}


def filing_materials(request: Request, task: dict[str, Any]) -> list[dict[str, Any]]:
    """The stage's material checklist (一张表单): each material once, with the matters that need it."""
    service = request.app.state.service
    project = service.project(task["project_id"])
    try:  # the matters this project's case selected (its plan), as the service resolves filed materials
        plan = service.plan(task["project_id"])
        matters = [service.catalogue.matter(m["matter_id"]) for st in plan["stages"] if st["stage"] == task["stage"]
                   for m in st["matters"] if m["selected"]]
    except Conflict:  # filed before case plans existed: its type's catalogue matters
        matters = service.catalogue.matters_for(project["project_type"], task["stage"])
    out: dict[str, dict[str, Any]] = {}
    for matter in matters:
        for material in matter.materials:
            entry = out.setdefault(material.id, {"id": material.id, "name": material.name, "key": material.key,
                                                 "matters": [], "tolerable": False})
            entry["key"] = entry["key"] or material.key
            entry["matters"].append(matter.name)
            entry["tolerable"] = entry["tolerable"] or (matter.tolerance_allowed and not material.key)
    if task.get("spec_id") == "Task_SubmitFiling":  # 免于提交: what a valid certificate provides is not asked for
        for key, exempt in service.certificates.filing_exemptions(task["project_id"], task["stage"]).items():
            if key.rpartition(":")[2] in out:
                out[key.rpartition(":")[2]]["exempt"] = exempt
    return list(out.values())


def _task_page(request: Request, actor: Actor, task_id: str, *, exc: Exception | None = None,
               form: dict[str, Any] | None = None, action: str = "", done: str | None = None) -> Response:
    task = task_api.get_task(request, task_id, actor)  # the API's visibility rule (department, owner)
    service = request.app.state.service
    pid = task["project_id"]
    project = service.project(pid)
    progress = project_api.progress(request, pid, actor)
    events = [e for e in project_api.timeline(request, pid, actor)
              if (task.get("matter_key") and e.get("matter_key") == task["matter_key"])
              or (e.get("stage") == task.get("stage") and not e.get("matter_key"))]
    stage_matters = [m for m in progress["matters"] if m.get("stage") == task.get("stage")]
    this_matter = next((m for m in stage_matters if m["key"] == task.get("matter_key")), None)
    stage = next((s for s in progress["stages"] if s["key"] == task.get("stage")), None)
    filed = next((e["data"] for e in reversed(events) if e["type"] == "stage_submitted"), None)
    exempted = {}
    if filed is not None:  # the event names materials as matter:material; the checklist lists each material once
        exempted = {str(e["material"]).rpartition(":")[2]: e for e in filed.get("exempted") or []}
        filed = {k: sorted({str(i).rpartition(":")[2] for i in filed.get(k) or []}) for k in ("materials", "declared_missing")}
    materials = filing_materials(request, task) if task.get("stage") else []
    for material in materials:  # the window sees where a material came from (免于提交: the certificate's number)
        if material["id"] in exempted and "exempt" not in material:
            material["exempt"] = exempted[material["id"]]
    matter_id = ((task.get("data") or {}).get("matter") or {}).get("id")
    if matter_id and matter_id in service.catalogue.matters:
        matter = service.catalogue.matters[matter_id]
        materials = [{"id": m.id, "name": m.name, "key": m.key, "matters": [matter.name],
                      "tolerable": matter.tolerance_allowed and not m.key} for m in matter.materials]
        procedures = [service.catalogue.special_procedures[p] for p in matter.special_procedures
                      if p in service.catalogue.special_procedures] or list(service.catalogue.special_procedures.values())
    else:
        procedures = list(service.catalogue.special_procedures.values())
    status, errors, heading = (200, {}, None)
    if exc is not None:
        status, errors, heading = refusal(exc, fields=("reason", "items", "procedure", "outcome", "missing", "supplied",
                                                       "signatory", "accepted_terms", "documents", "passed",
                                                       "findings", "certificate_no", "materials", "declared_missing"))
    may_act = task["state"] == "ready" and _may_complete(actor, task)
    return render(request, "task.html", status=status, task=task, project=project, progress=progress, stage=stage,
                  stage_matters=stage_matters, this_matter=this_matter, events=events, filed=filed,
                  materials=materials, names={m['id']: m['name'] for m in materials}, procedures=procedures, errors=errors, heading=heading, form=form or {},
                  action=action, may_act=may_act, done=done, REVIEWS=REVIEWS, ISSUES=ISSUES, OWNER_STEPS=OWNER_STEPS)


def _may_complete(actor: Actor, task: dict[str, Any]) -> bool:
    from engine.domain.authorisation import completion_refusal

    return completion_refusal(actor, task) is None

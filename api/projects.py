"""Routes for project owners (建设单位) and agents (帮办代办), and the progress views every reader shares."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_actor, require
from api.completion import IdemKey, complete, once
from api.paging import next_page
from engine.domain.actors import Actor
from engine.domain.authorisation import OWNER_SIDE
from engine.domain.project import ProjectFiling
from engine.domain.tasks import TaskIds
from engine.ops.metrics import PROJECTS_FILED
from engine.services import queries
from engine.services.errors import Conflict, Invalid
from engine.services.idempotency import request_hash

router = APIRouter(prefix="/projects", tags=["projects (owners, agents, progress)"])

def _pid() -> Any:
    return Path(description="project id, e.g. P2026-000001", max_length=40)



class NewProject(ProjectFiling):
    """A project filing; ``owner_id`` defaults to the calling owner (an agent must name its principal)."""

    owner_id: str | None = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]


class FilingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str | None = Field(default=None, max_length=10, description="the stage filed (S1, S2, …); optional when only one is open")
    materials: list[str] = Field(default_factory=list, max_length=200, description="material ids submitted (一张表单)")
    declared_missing: list[str] = Field(default_factory=list, max_length=200,
                                        description="material ids declared missing (the window decides on 容缺)")
    note: str | None = Field(default=None, max_length=2000)
    task_id: str | None = Field(default=None, max_length=40)


class ProjectCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_code: str = Field(min_length=1, max_length=40, description=(
        "项目代码 as the national investment-project platform issued it, e.g. 2026-360100-47-01-123456"))


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why the owner withdraws (撤回申请), required")


class CommitmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signatory: str = Field(min_length=1, max_length=100, description="who signs the 告知承诺书")
    accepted_terms: Literal[True]
    stage: str | None = Field(default=None, max_length=10)
    task_id: str | None = Field(default=None, max_length=40)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplied: list[str] = Field(default_factory=list, max_length=200, description="materials supplied (补正)")
    note: str | None = Field(default=None, max_length=2000)
    stage: str | None = Field(default=None, max_length=10)
    task_id: str | None = Field(default=None, max_length=40)


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[str] = Field(min_length=1, max_length=200, description="the tolerated (容缺) documents now supplied")
    stage: str | None = Field(default=None, max_length=10)
    task_id: str | None = Field(default=None, max_length=40)


@router.post("", status_code=201, summary="File a new project (validated against the catalogue)")
def create_project(body: NewProject, request: Request, actor: Actor = Depends(require(*OWNER_SIDE)),
                   idempotency_key: str | None = IdemKey) -> dict[str, Any]:
    filing = body.model_dump()
    if filing["owner_id"] is None:
        if actor.role == "agent":
            raise Invalid("owner_id: an agent must name the owner it files for")
        filing["owner_id"] = actor.id
    service = request.app.state.service

    def shown(stored: dict[str, Any]) -> dict[str, Any]:  # a retry with the key shows the project filed first
        return service.project(stored["project_id"]) | {"links": _links(stored["project_id"])}

    def work(record: Any) -> dict[str, Any]:
        also = None if record is None else (lambda uow, pid: record(uow, {"project_id": pid}))
        return {"project_id": service.start_project(filing, actor=actor, also=also)}

    digest = request_hash(request.url.path, _jsonable(filing))
    result = shown(once(request, actor, idempotency_key, digest, work, status=201))
    PROJECTS_FILED.inc()
    return result


@router.get("", summary="Projects the caller may see, oldest first; when more exist the X-Next-Cursor and Link "
                        "(rel=next) headers say so")
def list_projects(request: Request, actor: Actor = Depends(current_actor),
                  status: Literal["running", "completed", "stopped", "withdrawn"] | None = None,
                  project_type: str | None = Query(default=None, max_length=40),
                  project_code: Annotated[str | None, Query(max_length=40, description="项目代码 (exact)")] = None,
                  limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=1_000_000_000),
                  cursor: Annotated[str | None, Query(max_length=500, description="the X-Next-Cursor of the previous page")] = None,
                  response: Response = None) -> list[dict[str, Any]]:  # type: ignore[assignment] - FastAPI injects it
    if project_code is not None:
        project_code = _checked_code(project_code)
    rows, following = queries.project_page(request.app.state.service.db, actor, status=status,
                                           project_type=project_type, limit=limit, offset=offset, cursor=cursor,
                                           project_code=project_code)
    next_page(request, response, following)
    return rows


@router.get("/{project_id}", summary="A project with the progress of every stage and matter")
def get_project(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return service.project(project_id) | {"progress": queries.decorate_timing(service.timing(project_id)),
                                          "open_tasks": _tasks(request, actor, project_id, "ready"),
                                          "links": _links(project_id)}


@router.get("/{project_id}/plan", summary="The matters this project's case requires, and the rule that decided each (and each skipped one)")
def plan(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return service.plan(project_id)


@router.get("/{project_id}/progress", summary="Each stage and matter: status, department, due date, remaining working days, colour, clock stops")
def progress(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return queries.decorate_timing(service.timing(project_id))


@router.get("/{project_id}/certificates", summary="The project's certificates (电子证照), oldest first; paginated like other lists")
def project_certificates(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor),
                         status: Literal["valid", "revoked", "expired"] | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
                         cursor: Annotated[str | None, Query(max_length=500)] = None,
                         response: Response = None) -> list[dict[str, Any]]:  # type: ignore[assignment]
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    rows, following = service.certificates.page(actor, project_id=project_id, status=status, limit=limit,
                                                offset=offset, cursor=cursor)
    next_page(request, response, following)
    return rows


@router.put("/{project_id}/project-code", summary="Record the project's 项目代码 from the investment platform (owner, agent or window; once)")
def set_project_code(body: ProjectCodeIn, request: Request, project_id: str = _pid(),
                     actor: Actor = Depends(require(*OWNER_SIDE, "window"))) -> dict[str, Any]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return service.certificates.set_project_code(project_id, body.project_code, actor=actor)


@router.get("/{project_id}/timeline", summary="The project's full event log, oldest first")
def timeline(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return [_plain(e) for e in service.events(project_id)]


@router.get("/{project_id}/notifications", summary="Notices sent to the owner (outbox)")
def notifications(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    return [_plain(n) for n in service.notifications(project_id)]


@router.get("/{project_id}/tasks", summary="The project's tasks the caller may see")
def project_tasks(request: Request, project_id: str = _pid(), actor: Actor = Depends(current_actor),
                  state: Literal["ready", "done", "cancelled", "all"] = "ready") -> list[dict[str, Any]]:
    queries.visible_project(request.app.state.service.db, actor, project_id)
    return _tasks(request, actor, project_id, None if state == "all" else state)


@router.post("/{project_id}/filings", summary="Submit a stage filing (提交阶段申报): one form, its materials, declared missing items")
def submit_filing(body: FilingIn, request: Request, project_id: str = _pid(), idempotency_key: str | None = IdemKey,
                  actor: Actor = Depends(require(*OWNER_SIDE))) -> dict[str, Any]:
    task_id = _owner_task(request, actor, project_id, (TaskIds.SUBMIT_FILING,), body.stage, body.task_id)
    payload: dict[str, Any] = {"materials": body.materials, "declared_missing": body.declared_missing}
    if body.note:
        payload["note"] = body.note
    return complete(request, actor, task_id, payload, idempotency_key)


@router.post("/{project_id}/withdraw", summary="Withdraw a running project (撤回申请); every open task and clock ends")
def withdraw(body: WithdrawIn, request: Request, project_id: str = _pid(),
             actor: Actor = Depends(require(*OWNER_SIDE)), idempotency_key: str | None = IdemKey) -> dict[str, Any]:
    service = request.app.state.service
    queries.visible_project(service.db, actor, project_id)
    digest = request_hash(request.url.path, project_id, body.reason)
    return once(request, actor, idempotency_key, digest,
                lambda record: service.withdraw(project_id, actor=actor, reason=body.reason, also=record))


@router.post("/{project_id}/commitment", summary="Sign the commitment (告知承诺书) of a tolerated filing")
def sign_commitment(body: CommitmentIn, request: Request, project_id: str = _pid(), idempotency_key: str | None = IdemKey,
                    actor: Actor = Depends(require(*OWNER_SIDE))) -> dict[str, Any]:
    task_id = _owner_task(request, actor, project_id, (TaskIds.SIGN_COMMITMENT,), body.stage, body.task_id)
    payload = {"signatory": body.signatory, "accepted_terms": True}
    return complete(request, actor, task_id, payload, idempotency_key)


@router.post("/{project_id}/corrections", summary="Resubmit after a correction notice (补正)")
def resubmit(body: CorrectionIn, request: Request, project_id: str = _pid(), idempotency_key: str | None = IdemKey,
             actor: Actor = Depends(require(*OWNER_SIDE))) -> dict[str, Any]:
    task_id = _owner_task(request, actor, project_id, (TaskIds.CORRECT_FILING, TaskIds.MATTER_CORRECTION), body.stage,
                          body.task_id)
    payload: dict[str, Any] = {"supplied": body.supplied}
    if body.note:
        payload["note"] = body.note
    return complete(request, actor, task_id, payload, idempotency_key)


@router.post("/{project_id}/documents", summary="Supply the documents missing from a tolerated filing (补齐容缺材料)")
def supply_documents(body: DocumentsIn, request: Request, project_id: str = _pid(), idempotency_key: str | None = IdemKey,
                     actor: Actor = Depends(require(*OWNER_SIDE))) -> dict[str, Any]:
    task_id = _owner_task(request, actor, project_id, (TaskIds.SUPPLY_DOCUMENTS,), body.stage, body.task_id)
    return complete(request, actor, task_id, {"documents": body.documents}, idempotency_key)


def _owner_task(request: Request, actor: Actor, project_id: str, specs: tuple[str, ...], stage: str | None,
                task_id: str | None) -> str:
    db = request.app.state.service.db
    queries.visible_project(db, actor, project_id)
    ready = queries.ready_tasks_of(db, project_id, specs, stage)
    if task_id is not None:
        ready = [t for t in ready if t["id"] == task_id]
    if not ready:
        where = f" in stage {stage}" if stage else ""
        raise Conflict(f"project {project_id} has no ready {' / '.join(specs)} task{where}")
    if len(ready) > 1:
        listed = ", ".join(f"{t['id']} ({t['stage']}, {t.get('matter_name') or t['name']})" for t in ready)
        raise Conflict(f"task_id: several tasks of this kind are ready ({listed}); name one in 'task_id'")
    return ready[0]["id"]


def _checked_code(code: str) -> str:
    from engine.domain.certificates import ProjectCodeError, check_project_code

    try:
        return check_project_code(code)
    except ProjectCodeError as exc:
        raise Invalid(f"project_code: {exc}") from None


def _tasks(request: Request, actor: Actor, project_id: str, state: str | None) -> list[dict[str, Any]]:
    rows = request.app.state.service.list_tasks(actor=actor, project_id=project_id, state=state)
    return [_plain(r) for r in rows]


def _links(project_id: str) -> dict[str, str]:
    base = f"/projects/{project_id}"
    return {"self": base, "progress": base + "/progress", "timeline": base + "/timeline",
            "notifications": base + "/notifications", "tasks": base + "/tasks", "plan": base + "/plan",
            "certificates": base + "/certificates"}


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    from api.auth import public

    return public(row)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str, ensure_ascii=False))

"""Routes for window officers (综合窗口), agencies (审批部门) and lead departments (牵头部门): the inbox, claiming
and completing tasks. Owners and agents use the same inbox for their own steps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_actor, public
from api.completion import IdemKey, complete
from api.paging import next_page
from engine.domain.actors import Actor
from engine.domain.authorisation import OWNER_SIDE, may_see_task
from engine.domain.tasks import PAYLOADS
from engine.persistence.uow import UnitOfWork
from engine.services import queries
from engine.services.errors import Forbidden, NotFound

router = APIRouter(prefix="/tasks", tags=["tasks (window, agencies, lead departments)"])

def _tid() -> Any:
    return Path(description="task id (from the inbox)", max_length=40)


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate_no: str | None = Field(default=None, max_length=100, description="电子证照 number")
    reason: str | None = Field(default=None, max_length=2000)


class RefuseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="why (不予许可), required")


class CorrectionRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[str] = Field(min_length=1, max_length=200, description="every item to correct (一次性告知), required")
    reason: str | None = Field(default=None, max_length=2000)


class SpecialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    procedure: str = Field(min_length=1, max_length=40, description="expert_review, site_survey, hearing, …")
    reason: str | None = Field(default=None, max_length=2000)


@router.get("", summary="Inbox: ready tasks for the caller, soonest due first, with warning colour; when more "
                        "exist the X-Next-Cursor and Link (rel=next) headers say so")
def inbox(request: Request, actor: Actor = Depends(current_actor),
          stage: str | None = Query(default=None, max_length=10),
          project_id: str | None = Query(default=None, max_length=40),
          project_type: str | None = Query(default=None, max_length=40),
          matter_id: str | None = Query(default=None, max_length=80),
          task: str | None = Query(default=None, max_length=120, description="BPMN task id, e.g. Task_Review"),
          colour: Literal["green", "yellow", "red", "none"] | None = None,
          state: Literal["ready", "done", "cancelled"] = "ready",
          limit: int = Query(default=200, ge=1, le=1000),
          cursor: Annotated[str | None, Query(max_length=500, description="the X-Next-Cursor of the previous page")] = None,
          response: Response = None) -> list[dict[str, Any]]:  # type: ignore[assignment] - FastAPI injects it
    """Filtered and paginated by the database; ``matter_id`` and ``colour`` (computed from the working-day
    calendar) filter the page afterwards, so a page may hold fewer than ``limit`` tasks while more follow."""
    service = request.app.state.service
    role = "owner" if actor.role in OWNER_SIDE else None
    after = queries.task_position(queries.decode_cursor(cursor)) if cursor else None
    rows, more = service.task_page(actor=actor, role=role, project_id=project_id, stage=stage, state=state,
                                   project_type=project_type, spec_id=task, limit=limit, after=after)
    following = queries.task_cursor(rows[-1]) if more and rows else None
    if matter_id:
        rows = [r for r in rows if ((r.get("data") or {}).get("matter") or {}).get("id") == matter_id]
    if colour:
        rows = [r for r in rows if r.get("colour") == colour]
    next_page(request, response, following)
    return [_view(r) for r in rows]


@router.get("/{task_id}", summary="One task, with the payload its completion takes")
def get_task(request: Request, task_id: str = _tid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return _view(_visible_task(request, actor, task_id), schema=True)


@router.post("/{task_id}/claim", summary="Claim a task (认领): colleagues cannot complete it until it is released")
def claim(request: Request, task_id: str = _tid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    _visible_task(request, actor, task_id)
    return _view(request.app.state.service.claim_task(task_id, actor=actor))


@router.delete("/{task_id}/claim", summary="Release a claimed task (its claimer or an administrator)")
def release(request: Request, task_id: str = _tid(), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    _visible_task(request, actor, task_id)
    return _view(request.app.state.service.release_task(task_id, actor=actor))


@router.post("/{task_id}/complete", summary="Complete a task with its payload (see the task's 'payload_schema')")
def complete_task(request: Request, task_id: str = _tid(), idempotency_key: str | None = IdemKey,
                  payload: dict[str, Any] = Body(default_factory=dict, description="the task kind's payload"),
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return complete(request, actor, task_id, payload, idempotency_key)


@router.post("/{task_id}/approve", summary="Approve a matter (准予许可)")
def approve(body: ApproveIn, request: Request, task_id: str = _tid(), idempotency_key: str | None = IdemKey,
            actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return complete(request, actor, task_id, {"decision": "approve", **body.model_dump(exclude_none=True)}, idempotency_key)


@router.post("/{task_id}/refuse", summary="Refuse a matter (不予许可); a reason is required")
def refuse(body: RefuseIn, request: Request, task_id: str = _tid(), idempotency_key: str | None = IdemKey,
           actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return complete(request, actor, task_id, {"decision": "refuse", "reason": body.reason}, idempotency_key)


@router.post("/{task_id}/request-correction", summary="Request a correction (补正, clock stops); items are required")
def request_correction(body: CorrectionRequestIn, request: Request, task_id: str = _tid(),
                       idempotency_key: str | None = IdemKey, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return complete(request, actor, task_id, {"decision": "correction", **body.model_dump(exclude_none=True)},
                    idempotency_key)


@router.post("/{task_id}/special-procedure", summary="Start a special procedure (特别程序); end it by completing Task_SpecialProcedure")
def start_special(body: SpecialIn, request: Request, task_id: str = _tid(), idempotency_key: str | None = IdemKey,
                  actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return complete(request, actor, task_id, {"decision": "special", **body.model_dump(exclude_none=True)},
                    idempotency_key)


def _visible_task(request: Request, actor: Actor, task_id: str) -> dict[str, Any]:
    service = request.app.state.service
    with UnitOfWork(service.db, read_only=True) as uow:
        row = uow.tasks.get(task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    queries.visible_project(service.db, actor, row["project_id"])
    if not may_see_task(actor, row):
        raise Forbidden(f"task {task_id} belongs to another department, not to '{actor.department}'")
    return row


def _view(row: dict[str, Any], *, schema: bool = False) -> dict[str, Any]:
    out = public(row)
    model = PAYLOADS.get(row["spec_id"])
    if schema:
        out["payload_schema"] = model.model_json_schema() if model else {"type": "object"}
    out["links"] = {"complete": f"/tasks/{row['id']}/complete", "project": f"/projects/{row['project_id']}"}
    return out

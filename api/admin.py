"""Routes for administrators: deploy process definitions (versioned), manage users, see and retry incidents."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from lxml import etree
from SpiffWorkflow.exceptions import SpiffWorkflowException
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require
from engine.domain.actors import Actor
from engine.domain.authorisation import ADMINISTRATORS, ANALYTICS_READERS
from engine.services import incidents, queries, rules, versions
from engine.services.errors import Conflict, Invalid

router = APIRouter(prefix="/admin", tags=["administration"])
admins = require(*ADMINISTRATORS)


class DeployIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: dict[str, str] = Field(min_length=1, description="BPMN file name → XML text (all files of the model)")
    process_id: str = Field(default="project_approval", min_length=1, max_length=200)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="the user's id; an owner's name is its owner_id")
    role: Literal["owner", "agent", "window", "agency", "lead", "analyst", "admin"]
    department: str | None = Field(default=None, max_length=40, description="agency / lead officers: their department")
    owner_ids: list[str] = Field(default_factory=list, max_length=100, description="agents: the owners who authorised them")


@router.post("/definitions", status_code=201, summary="Validate and deploy a BPMN definition (a new version)")
def deploy(body: DeployIn, request: Request, actor: Actor = Depends(admins)) -> dict[str, Any]:
    bad = [name for name in body.files if not name.endswith(".bpmn") or "/" in name or "\\" in name]
    if bad:
        raise Invalid(f"files: names must be plain '*.bpmn' file names, not {', '.join(map(repr, bad))}")
    files = {name: text.encode("utf-8") for name, text in body.files.items()}
    try:
        return request.app.state.service.deploy(files, process_id=body.process_id, by=actor.id)
    except (etree.Error, SpiffWorkflowException) as exc:
        # until engine.bpmn.validation lands, XML / BPMN parse failures surface here; they are the caller's error
        raise Invalid(f"files: the model does not parse: {exc}") from None


@router.get("/definitions", summary="Deployed definitions and their versions")
def definitions(request: Request, actor: Actor = Depends(require(*ANALYTICS_READERS))) -> list[dict[str, Any]]:
    return queries.definitions(request.app.state.service.db)


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: str = Field(min_length=1, max_length=100, description="the profile (jurisdiction) the table is for")
    dmn: str = Field(min_length=1, description="the DMN 1.3 decision table (workflows/rules/matter_selection.dmn format)")


@router.post("/rules", status_code=201,
             summary="Validate and deploy a matter-selection decision table for a profile (a new rules version)")
def deploy_rules(body: RulesIn, request: Request, actor: Actor = Depends(admins)) -> dict[str, Any]:
    """Checked exactly as at service start; refused with 422 listing every fault (row and column) in
    ``problems``, nothing stored. New filings of the profile use it; filed projects keep their plan."""
    return rules.deploy_rules(request.app.state.service, body.dmn.encode("utf-8"), profile=body.profile, actor=actor)


@router.get("/rules", summary="Deployed decision tables and their versions (in_use: what new filings use)")
def list_rules(request: Request, actor: Actor = Depends(require(*ANALYTICS_READERS))) -> list[dict[str, Any]]:
    return rules.list_rules(request.app.state.service)


@router.get("/rules/{rules_id}", summary="One deployed decision table with its DMN text")
def get_rules(request: Request, rules_id: int = Path(ge=1),
              actor: Actor = Depends(require(*ANALYTICS_READERS))) -> dict[str, Any]:
    return rules.get_rules(request.app.state.service, rules_id)


@router.get("/users", summary="Users (tokens are never shown again)")
def list_users(request: Request, actor: Actor = Depends(admins)) -> list[dict[str, Any]]:
    return request.app.state.users.list()


@router.post("/users", status_code=201, summary="Create a user; the response carries its token, once")
def add_user(body: UserIn, request: Request, actor: Actor = Depends(admins)) -> dict[str, Any]:
    user, token = request.app.state.users.add(body.name, body.role, department=body.department, owner_ids=body.owner_ids,
                                              by=actor.id)
    return user | {"token": token}


@router.delete("/users/{name}", summary="Revoke a user's token")
def disable_user(request: Request, name: str = Path(max_length=100), actor: Actor = Depends(admins)) -> dict[str, Any]:
    if name == actor.id:
        raise Conflict("name: administrators cannot revoke their own token")
    return request.app.state.users.disable(name, by=actor.id)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "agent", "window", "agency", "lead", "analyst", "admin"]
    department: str | None = Field(default=None, max_length=40)
    owner_ids: list[str] = Field(default_factory=list)


@router.put("/users/{name}/role", summary="Change a user's role (recorded with who changed it)")
def change_role(body: RoleIn, request: Request, name: str = Path(max_length=100),
                actor: Actor = Depends(admins)) -> dict[str, Any]:
    if name == actor.id and body.role != "admin":
        raise Conflict("role: administrators cannot take away their own administrator role")
    return request.app.state.users.change_role(name, body.role, department=body.department, owner_ids=body.owner_ids,
                                               by=actor.id)


@router.get("/incidents", summary="Incidents: projects whose timers failed (open first by default: ?status=open)")
def list_incidents(request: Request, actor: Actor = Depends(admins),
                   status: Literal["open", "resolved"] | None = None,
                   limit: int = Query(default=100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return incidents.list_incidents(request.app.state.service, status=status, limit=limit)


@router.get("/incidents/{incident_id}", summary="One incident with its error and traceback")
def get_incident(request: Request, incident_id: int = Path(ge=1), actor: Actor = Depends(admins)) -> dict[str, Any]:
    return incidents.get_incident(request.app.state.service, incident_id)


@router.post("/incidents/{incident_id}/retry",
             summary="Run the project's due timers now: resolved if they run, else still open with the new error")
def retry_incident(request: Request, incident_id: int = Path(ge=1), actor: Actor = Depends(admins)) -> dict[str, Any]:
    return incidents.retry_incident(request.app.state.service, incident_id, actor=actor)


class MigrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_version: int | None = Field(default=None, ge=1, description="target version (default: the newest)")
    mapping: dict[str, str] = Field(default_factory=dict, description="old element id → new element id")
    dry_run: bool = False


@router.post("/projects/{project_id}/migrate",
             summary="Move a running project to a new definition version (409 naming what does not map)")
def migrate_project(body: MigrateIn, request: Request, project_id: str = Path(max_length=40),
                    actor: Actor = Depends(admins)) -> dict[str, Any]:
    return versions.migrate_project(request.app.state.service, project_id, to_version=body.to_version,
                                    mapping=body.mapping, actor=actor, dry_run=body.dry_run)

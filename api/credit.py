"""Routes over credit standing (信用): what decides 容缺受理 eligibility is the system's records, never the
owner's own word; an administrator enters external 失信 information from the credit platform."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_actor
from engine.domain.actors import Actor

router = APIRouter(tags=["credit (信用)"])


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500, description="the 失信 record as the credit platform states it")


@router.get("/owners/{owner_id}/credit", summary="An owner's credit standing and records (the owner itself, window, analysts, administrators)")
def credit(request: Request, owner_id: str = Path(max_length=100), actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return request.app.state.service.credit_standing(owner_id, actor=actor)


@router.post("/admin/credit-records", status_code=201, summary="Record external credit information (administrators)")
def add_credit(body: CreditIn, request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return request.app.state.service.record_credit(body.owner_id, body.reason, actor=actor)

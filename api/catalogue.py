"""Routes over the catalogue: the 情形 questionnaire and the matters a case would require (before filing).

An owner answers the questions, sees which matters its case requires and why (the decision table's 依据),
and only then files: the list it saw is the list the project runs (policy-compilation.txt:1183).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import current_actor
from engine.domain.actors import Actor

router = APIRouter(prefix="/catalogue", tags=["catalogue (情形 and matters)"])


class PlanPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_type: str = Field(max_length=40)
    case: dict[str, Any] = Field(default_factory=dict, max_length=100, description="情形 answers, by question id")
    include_planning: bool | None = None


@router.get("/case-questions", summary="The 情形 questions an owner of this project type answers")
def case_questions(request: Request, project_type: str = Query(max_length=40),
                   actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    return request.app.state.service.case_questions(project_type)


@router.post("/plan-preview", summary="The matters a case requires, per stage, each with the rule that decided it")
def plan_preview(body: PlanPreviewIn, request: Request, actor: Actor = Depends(current_actor)) -> dict[str, Any]:
    return request.app.state.service.preview_plan(body.project_type, body.case, include_planning=body.include_planning)

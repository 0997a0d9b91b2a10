"""A construction project (工程建设项目) as the engine knows it: what it is and who owns it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from engine.domain.plan import ProjectPlan

ProjectStatus = Literal["running", "completed", "stopped", "withdrawn"]
MAX_UNIT_WORKS = 500
"""Most unit works (单位工程) one project may declare; each becomes acceptance tasks."""
MatterId = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class UnitWork(BaseModel):
    """单位工程: a building or structure that can be accepted on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=100)
    early_items: list[MatterId] = Field(default_factory=list, max_length=50,
                                        description="matter ids accepted first (先行验收)")


class ProjectFiling(BaseModel):
    """What an owner files to start a project; validated against the catalogue by the service layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    project_type: str = Field(min_length=1, max_length=40)
    owner_id: str = Field(min_length=1, max_length=100)
    owner_name: str | None = Field(default=None, max_length=200)
    case: dict[str, Any] = Field(default_factory=dict, max_length=100)
    """情形: the owner's answers to the catalogue's questions (workflows/case.yaml); they decide which matters
    the project must do. Checked by the service against the questionnaire, defaults filled in."""
    location: str | None = Field(default=None, max_length=200)
    division_code: str | None = Field(default=None, max_length=6,
                                      description="行政区划代码 of the handling division (6 digits)")
    project_code: str | None = Field(default=None, max_length=40, description=(
        "项目代码 from the national investment-project platform, e.g. 2026-360100-47-01-123456 (optional at filing; "
        "the owner or the window may set it later)"))
    investment_wan_yuan: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    floor_area_m2: float | None = Field(default=None, ge=0, le=1e10, allow_inf_nan=False)
    include_planning: bool | None = None
    include_registration: bool | None = None
    commitment_matters: list[MatterId] = Field(default_factory=list, max_length=50)
    """告知承诺制: matters of the plan the owner files on a signed commitment (each must allow it, be in the
    project's plan, and the owner's credit must not bar it)."""
    commitment_signatory: str | None = Field(default=None, max_length=100)
    """Who signs the 告知承诺书 for the owner (default: the filing user)."""
    unit_works: list[UnitWork] = Field(default_factory=lambda: [UnitWork(id="U1", name="1号单位工程")],
                                       max_length=MAX_UNIT_WORKS)

    @field_validator("division_code")
    @classmethod
    def _division(cls, value: str | None) -> str | None:
        from engine.domain.divisions import check_code  # GB/T 2260: six digits, a known province

        return None if value is None else check_code(value)

    @field_validator("project_code")
    @classmethod
    def _project_code(cls, value: str | None) -> str | None:
        from engine.domain.certificates import check_project_code  # the national format

        return None if value is None else check_project_code(value)

    @field_validator("unit_works")
    @classmethod
    def _unique_units(cls, value: list[UnitWork]) -> list[UnitWork]:
        ids = [u.id for u in value]
        if len(set(ids)) != len(ids):
            raise ValueError("unit work ids must be unique")
        if not value:
            raise ValueError("a project has at least one unit work (单位工程)")
        return value


class Project(BaseModel):
    """A running or finished project."""

    model_config = ConfigDict(extra="forbid")

    id: str
    filing: ProjectFiling
    profile: str
    definition_id: int
    status: ProjectStatus = "running"
    created_at: datetime
    completed_at: datetime | None = None
    result: str | None = None
    plan: ProjectPlan | None = None
    """The matters its case requires (None only for projects filed before plans existed)."""
    project_code: str | None = None
    """项目代码 (projects.project_code): given at filing or set later, so read from the project row."""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Project:
        """The project a stored record describes (a ``projects`` row as a mapping: filing and plan as JSON)."""
        plan = record.get("plan")
        return cls(id=record["id"], filing=ProjectFiling.model_validate(record["filing"]), profile=record["profile"],
                   definition_id=record["definition_id"], status=record["status"], created_at=record["created_at"],
                   completed_at=record["completed_at"], result=record["result"],
                   project_code=record.get("project_code"),
                   plan=ProjectPlan.model_validate(plan) if plan else None)

    @property
    def project_type(self) -> str:
        return self.filing.project_type

    def to_summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.filing.name,
            "project_type": self.project_type,
            "owner_id": self.filing.owner_id,
            "project_code": self.project_code,
            "status": self.status,
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }

"""Human tasks: who is responsible for them, and what a completion must contain.

The BPMN models put every user task in a lane: 建设单位 (the owner), 综合窗口 (the one-stop window),
审批部门 (the agency of the task's matter) or 牵头部门 (the stage's lead department). This module turns a
lane plus the task's data into a responsible party, and validates a completion's payload for the task
kinds the product models use (by BPMN id) — before SpiffWorkflow sees it, because SpiffWorkflow would
accept anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

Role = Literal["owner", "window", "agency", "lead", "system"]

#: lane name in the models → responsible role (a modelling convention, see docs/authoring-models.md)
LANE_ROLES: dict[str, Role] = {
    "建设单位": "owner",
    "综合窗口": "window",
    "审批部门": "agency",
    "牵头部门": "lead",
}

WINDOW_DEPARTMENT = "window"


class TaskIds:
    """The BPMN ids of the user tasks the engine's code relies on (payloads, routes, due dates, simulations).

    Written here once; deploying the main process checks that its models define every one of them
    (:data:`RELIED_ON_TASKS`, ``engine.services.models.relied_on_problems``), and that every lane holding a
    user task is one of :data:`LANE_ROLES`.
    """

    SUBMIT_FILING = "Task_SubmitFiling"
    INTAKE = "Task_Intake"
    CORRECT_FILING = "Task_CorrectFiling"
    SIGN_COMMITMENT = "Task_SignCommitment"
    REVIEW = "Task_Review"
    REVIEW_SILENT = "Task_ReviewSilent"
    MATTER_CORRECTION = "Task_MatterCorrection"
    SPECIAL_PROCEDURE = "Task_SpecialProcedure"
    ISSUE_RESULT = "Task_IssueResult"
    JOINT_OPINION = "Task_JointOpinion"
    EARLY_OPINION = "Task_EarlyOpinion"
    SUPPLY_DOCUMENTS = "Task_SupplyDocuments"
    POST_CHECK = "Task_PostCheck"
    STATEMENT = "Task_Statement"
    REVOCATION_DECISION = "Task_RevocationDecision"


@dataclass(frozen=True)
class Responsibility:
    role: Role
    department: str | None  # None for the owner's tasks


MAX_ITEMS = 200
"""Most entries of any list in a payload (materials, missing, 补正 items, documents)."""
Item = Annotated[str, StringConstraints(min_length=1, max_length=500)]
"""One list entry: a material id or a 补正 item (one sentence)."""
Text = Annotated[str, StringConstraints(max_length=2000)]
"""A free-text field (reason, note, opinion, findings)."""
Short = Annotated[str, StringConstraints(min_length=1, max_length=100)]
"""A short identifier-like field (certificate number, signatory, procedure id)."""


class PayloadError(ValueError):
    """A completion payload that breaks the task's rules; the message names the field."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilingPayload(_Payload):
    """提交阶段申报: the owner's one form for the stage (一张表单) — the materials it brings and the ones it
    declares missing (the window decides at intake whether they can be tolerated)."""

    materials: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="material ids submitted")
    declared_missing: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS,
                                         description="material ids the owner declares missing")
    note: Text | None = None

    @model_validator(mode="after")
    def _disjoint(self) -> FilingPayload:
        both = sorted(set(self.materials) & set(self.declared_missing))
        if both:
            raise ValueError(f"materials cannot be both submitted and declared missing: {', '.join(both)}")
        return self


class IntakePayload(_Payload):
    """一窗受理 outcome: complete (受理), tolerance (容缺受理) or incomplete (一次性告知)."""

    outcome: Literal["complete", "tolerance", "incomplete"]
    missing: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS,
                                description="material ids missing from the filing")
    note: Text | None = None
    new_defect: Text | None = Field(default=None, description=(
        "一次性告知 is given once per filing: a further notice only for a defect the correction itself introduced, "
        "with this reason recorded"))

    @model_validator(mode="after")
    def _consistent(self) -> IntakePayload:
        if self.outcome == "complete" and self.missing:
            raise ValueError("outcome 'complete' cannot list missing materials")
        if self.outcome != "complete" and not self.missing:
            raise ValueError(f"outcome '{self.outcome}' must list the missing materials in 'missing'")
        return self


class CorrectionPayload(_Payload):
    """补正: what the owner supplied."""

    supplied: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    note: Text | None = None


class CommitmentPayload(_Payload):
    """告知承诺书: the owner's signed commitment."""

    signatory: Short
    accepted_terms: Literal[True]


class ReviewPayload(_Payload):
    """部门审查 decision."""

    decision: Literal["approve", "refuse", "correction", "special"]
    reason: Text | None = None
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="补正 items (every one, 一次性告知)")
    procedure: Short | None = Field(default=None, description="special procedure id (专家评审, 现场踏勘 …)")
    certificate_no: Short | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ReviewPayload:
        if self.decision == "refuse" and not (self.reason and self.reason.strip()):
            raise ValueError("a refusal (不予许可) needs a 'reason'")
        if self.decision == "correction" and not self.items:
            raise ValueError("a correction request (补正) must list every item in 'items'")
        if self.decision == "special" and not self.procedure:
            raise ValueError("a special procedure (特别程序) needs 'procedure'")
        return self


class SpecialDonePayload(_Payload):
    conclusion: Text | None = None


class IssuePayload(_Payload):
    """综合出件 / 联合验收意见书 / 先行验收意见."""

    certificate_no: Short | None = None
    opinion: Text | None = None


class SupplyPayload(_Payload):
    """补齐容缺材料."""

    documents: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)


class PostCheckPayload(_Payload):
    """核查 of a commitment."""

    passed: bool
    findings: Text | None = None

    @model_validator(mode="after")
    def _reasons(self) -> PostCheckPayload:
        if not self.passed and not (self.findings and self.findings.strip()):
            raise ValueError("a failed post-check (核查不通过) needs 'findings'")
        return self


class StatementPayload(_Payload):
    """陈述申辩: the owner's statement against an intended revocation (its right before the decision)."""

    statement: str = Field(min_length=1, max_length=5000)
    evidence: list[str] = Field(default_factory=list, max_length=50, description="documents it relies on")


class RevocationDecisionPayload(_Payload):
    """撤销决定: after hearing the owner, revoke the permit or keep it — with the reason either way."""

    decision: Literal["revoke", "keep"]
    reason: str = Field(min_length=1, max_length=2000)


PAYLOADS: dict[str, type[_Payload]] = {
    TaskIds.SUBMIT_FILING: FilingPayload,
    TaskIds.INTAKE: IntakePayload,
    TaskIds.CORRECT_FILING: CorrectionPayload,
    TaskIds.SIGN_COMMITMENT: CommitmentPayload,
    TaskIds.REVIEW: ReviewPayload,
    TaskIds.REVIEW_SILENT: ReviewPayload,
    TaskIds.MATTER_CORRECTION: CorrectionPayload,
    TaskIds.SPECIAL_PROCEDURE: SpecialDonePayload,
    TaskIds.ISSUE_RESULT: IssuePayload,
    TaskIds.JOINT_OPINION: IssuePayload,
    TaskIds.EARLY_OPINION: IssuePayload,
    TaskIds.SUPPLY_DOCUMENTS: SupplyPayload,
    TaskIds.POST_CHECK: PostCheckPayload,
    TaskIds.STATEMENT: StatementPayload,
    TaskIds.REVOCATION_DECISION: RevocationDecisionPayload,
}


RELIED_ON_TASKS: frozenset[str] = frozenset(PAYLOADS)
"""Every task id the code relies on (each has a payload model)."""


def parse_payload(spec_id: str, payload: Any) -> _Payload | dict[str, Any]:
    """Validate ``payload`` for a task of BPMN id ``spec_id``; unknown task kinds take any JSON object."""
    if not isinstance(payload, dict):
        raise PayloadError("the completion payload must be a JSON object")
    model = PAYLOADS.get(spec_id)
    if model is None:
        return dict(payload)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError("; ".join(_describe(err) for err in exc.errors())) from None


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()))
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def responsibility(lane: str | None, data: dict[str, Any], lead_department: str | None) -> Responsibility:
    """Who must complete a task in ``lane`` with task data ``data``."""
    role = LANE_ROLES.get(lane or "")
    if role == "owner":
        return Responsibility("owner", None)
    if role == "window":
        return Responsibility("window", WINDOW_DEPARTMENT)
    if role == "agency":
        matter = data.get("matter") or {}
        return Responsibility("agency", matter.get("department"))
    if role == "lead":
        return Responsibility("lead", lead_department)
    return Responsibility("window", WINDOW_DEPARTMENT)  # unlaned tasks of other models: the window handles them

"""The approval catalogue: project types, stages, departments, matters, limits and profiles.

Why data and not code: every city publishes its own matter list, limits and rules (whether
特别程序 stop the clock, which matters allow 超时默许, which project types are exempt from
施工图审查 …). A new jurisdiction must be a new YAML file under ``workflows/profiles/``, never an
``if city == …`` in the engine. This module turns the YAML in ``workflows/`` into frozen, validated
objects and answers the questions the engine asks (route, matters of a stage, limits, 容缺受理).

Models forbid unknown fields so that a typo in a data file fails loudly at load time instead of
silently falling back to a default. All problems found while loading are collected and raised
together in one :class:`CatalogueError`, one problem per line, each naming the file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from engine.assets import bundled_dir, catalogue_root
from engine.domain.case import CaseQuestionnaire

__all__ = [
    "DEFAULT_ROOT",
    "Catalogue",
    "CatalogueError",
    "CertificateType",
    "CommitmentDefaults",
    "Department",
    "ExtraExemption",
    "Material",
    "Matter",
    "MatterOverride",
    "PhasedPermit",
    "Profile",
    "ProjectType",
    "Route",
    "SpecialProcedure",
    "Stage",
    "ToleranceDecision",
    "UnknownIdError",
    "list_profiles",
    "load_catalogue",
]

DEFAULT_ROOT = bundled_dir("workflows")  # the product's own catalogue; catalogue_root() honours GONGAI_CATALOGUE_DIR
"""The repository's ``workflows/`` directory, where the base catalogue and profiles live."""

PROFILES_DIR = "profiles"

AsciiId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
StageId = Annotated[str, StringConstraints(pattern=r"^S[0-9A-Z]+$")]  # S0–S5, merged S23, the utility track SU
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
WorkingDays = Annotated[StrictInt, Field(ge=1)]
"""A limit in working days (工作日). At least 1: a matter "done in 0 days" is 秒办, a red flag."""

SafetyDomain = Literal["national_security", "public_safety", "ecological_safety", "industrial_policy"]

_SAFETY_DOMAIN_CN: dict[str, str] = {
    "national_security": "国家安全",
    "public_safety": "公共安全",
    "ecological_safety": "生态安全",
    "industrial_policy": "产业政策",
}


class CatalogueError(ValueError):
    """The data files are inconsistent; ``problems`` lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UnknownIdError(KeyError):
    """A query named an id the catalogue does not know (a KeyError, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class _Frozen(BaseModel):
    """Base: immutable, and unknown fields are errors so that typos in data fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- base data models


class Department(_Frozen):
    """An approving agency, the comprehensive window, the registry or a utility company."""

    id: AsciiId
    name: Text
    kind: Literal["agency", "window", "registry", "utility"]
    description: str | None = None


class Stage(_Frozen):
    """One approval stage: one lead department, parallel matters, one limit (一家牵头、并联审批、限时办结)."""

    id: StageId
    name: Text
    order: StrictInt
    lead: AsciiId
    lead_overrides: dict[AsciiId, AsciiId] = Field(default_factory=dict)
    """Project type id → department id: S1 is led by 发改 for government-funded projects."""
    counts_in_four_stages: StrictBool
    merges: tuple[StageId, ...] = ()
    """A merged stage (S23) owns no matters; it takes those of the stages it merges."""
    joint_acceptance: StrictBool = False
    """联合验收: its matters carry an acceptance_role, one of them issues the 联合验收意见书."""
    description: str | None = None

    def lead_for(self, project_type_id: str) -> str:
        """The lead department id for a project type."""
        return self.lead_overrides.get(project_type_id, self.lead)


class Route(_Frozen):
    """The ordered core stages of a project type; ``concurrent`` ones run at the same time."""

    id: AsciiId
    name: Text
    stages: tuple[StageId, ...] = Field(min_length=1)
    concurrent: tuple[StageId, ...] = ()


class ProjectType(_Frozen):
    """A project type: it picks the route, the S1 lead and which matters apply."""

    id: AsciiId
    name: Text
    investment: Literal["government", "social"]
    route: AsciiId
    planning_stage: StrictBool
    """Whether 策划生成 (S0) is on the route by default."""
    registration: StrictBool
    """Whether 不动产首次登记 (S5) follows acceptance."""
    combined_registration: StrictBool = False
    """验登合一: joint acceptance and first registration are one application — S5 is accepted when the
    联合验收意见书 is issued, without a second filing (policy-compilation.txt:1775)."""
    description: str | None = None


class CertificateType(_Frozen):
    """A kind of certificate (电子证照) a matter's approving result issues: licence, approval, opinion or filing.

    ``validity_months`` is data because validities differ by law and by jurisdiction (施工许可证: three months to
    start work, 建筑法第九条); a profile may change it (``certificate_validity_months``)."""

    id: AsciiId
    name: Text
    kind: Literal["licence", "approval", "opinion", "filing"]
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}$")]
    """The type's part of a certificate number (see ``Profile.certificate_number_format``)."""
    validity_months: Annotated[StrictInt, Field(ge=1, le=1200)] | None = None
    validity_source: str | None = None


class Material(_Frozen):
    """An application material; ``key`` (关键材料) materials can never be tolerated (容缺)."""

    id: AsciiId
    name: Text
    key: StrictBool
    provided_by: AsciiId | None = None
    """The certificate type that provides this material: while the project holds a valid certificate of that type
    the owner does not submit it (免于提交, policy-compilation.txt:1193)."""


class Phase(_Frozen):
    """One phase of a matter issued in phases (分阶段施工许可: 基坑 / 地下室 / 地上)."""

    id: AsciiId
    name: Text


class Matter(_Frozen):
    """An approval matter (审批事项) as the engine runs it: a parallel task of a stage."""

    id: AsciiId
    name: Text
    department: AsciiId
    stage: StageId
    kind: Literal["approval", "filing"]
    statutory_limit_wd: WorkingDays
    committed_limit_wd: WorkingDays
    mandatory: StrictBool
    tolerance_allowed: StrictBool
    commitment_allowed: StrictBool
    silent_consent_allowed: StrictBool
    safety_domain: SafetyDomain | None = None
    """Set where national/public/ecological safety or industrial policy is involved: no 容缺 then."""
    applies_to: tuple[AsciiId, ...] | None = None
    """Project types the matter applies to; None means all."""
    exempt_for: tuple[AsciiId, ...] = ()
    acceptance_role: Literal["item", "final"] | None = None
    post_check_limit_wd: WorkingDays | None = None
    commitment_waives: tuple[AsciiId, ...] = ()
    """告知承诺制: the supporting materials a signed commitment replaces (the agency decides without them and
    checks them in its 核查 afterwards); only for ``commitment_allowed`` matters."""
    special_procedures: tuple[AsciiId, ...] = ()
    requires: tuple[AsciiId, ...] = ()
    """Legal order: matters whose result must be issued before this one's (并联审查, 依法出证)."""
    requires_source: str | None = None
    """The law or policy line that sets the order (e.g. 建筑法 art. 8)."""
    excludes: tuple[AsciiId, ...] = ()
    """Matters a project never does together with this one (审批 / 核准 / 备案 are alternatives)."""
    phases: tuple[Phase, ...] = ()
    """Issued in these phases, in order, when the case answers ``phases_when`` with true (分阶段施工许可)."""
    phases_when: AsciiId | None = None
    """The case question (a bool) by which the owner asks for the phased issue."""
    formerly: tuple[AsciiId, ...] = ()
    """Ids this matter had in earlier catalogue releases: plans stored before a rename still resolve
    (e.g. 竣工验收备案 ``s4_completion_filing`` became the 联合验收意见书 ``s4_joint_acceptance_opinion``)."""
    certificate: AsciiId | None = None
    """The certificate type (certificates.yaml) an approving result issues (电子证照); None: no certificate."""
    source: str | None = None
    description: str | None = None
    materials: tuple[Material, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _own_rules(self) -> Matter:
        """Rules a single matter can check by itself; cross-file rules live in the loader."""
        problems: list[str] = []
        if self.committed_limit_wd > self.statutory_limit_wd:
            problems.append(
                f"committed_limit_wd ({self.committed_limit_wd}) exceeds "
                f"statutory_limit_wd ({self.statutory_limit_wd})"
            )
        if self.tolerance_allowed and self.safety_domain is not None:
            problems.append(
                f"tolerance_allowed is forbidden for a {self.safety_domain} matter "
                f"（涉及{_SAFETY_DOMAIN_CN[self.safety_domain]}的事项不得容缺受理）"
            )
        if self.tolerance_allowed and all(m.key for m in self.materials):
            problems.append("tolerance_allowed but every material is key: nothing could be tolerated")
        if self.id in self.requires:
            problems.append("requires itself")
        if self.post_check_limit_wd is not None and not self.commitment_allowed:
            problems.append("post_check_limit_wd is set but commitment_allowed is false")
        if self.commitment_waives and not self.commitment_allowed:
            problems.append("commitment_waives is set but commitment_allowed is false")
        unknown = [w for w in self.commitment_waives if w not in {m.id for m in self.materials}]
        if unknown:
            problems.append(f"commitment_waives: {', '.join(unknown)} are not materials of this matter")
        dupes = [mid for mid, n in Counter(m.id for m in self.materials).items() if n > 1]
        if dupes:
            problems.append(f"duplicate material id(s): {', '.join(dupes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def applies(self, project_type_id: str) -> bool:
        """Whether the matter is on the list for this project type (applies_to minus exemptions)."""
        if self.applies_to is not None and project_type_id not in self.applies_to:
            return False
        return project_type_id not in self.exempt_for

    def material(self, material_id: str) -> Material:
        for m in self.materials:
            if m.id == material_id:
                return m
        raise UnknownIdError(f"matter {self.id!r} has no material {material_id!r}")


class SpecialProcedure(_Frozen):
    """特别程序 / 中介服务: a timed sub-step of a matter with its own limit."""

    id: AsciiId
    name: Text
    kind: Literal["procedure", "intermediary"]
    limit_wd: WorkingDays
    description: str | None = None


# --------------------------------------------------------------------------- profile models


class CommitmentDefaults(_Frozen):
    """告知承诺 / 容缺 defaults of a jurisdiction."""

    supply_deadline_wd: WorkingDays
    """Deadline for supplying tolerated materials (容缺补齐)."""
    post_check_limit_wd: WorkingDays
    """核查 limit for commitment matters that set none."""
    statement_limit_wd: WorkingDays = 5
    """陈述申辩: working days the owner has to state its case once told of an intended revocation."""


class CreditRule(_Frozen):
    """How long a 失信 record bars a privilege (容缺受理 or 告知承诺制) — for some matters, or for all."""

    privilege: Literal["tolerance", "commitment"]
    bar_days: Annotated[StrictInt, Field(ge=0)]
    """Days a 失信 record counts against the owner (from the record's date)."""
    matters: tuple[AsciiId, ...] | None = None
    """The matters the rule is for; None: every matter (the first rule that matches decides)."""
    source: str | None = None


class CorrectionRules(_Frozen):
    """补正: how long an owner has to correct, and what happens when it lets the deadline pass."""

    limit_wd: WorkingDays = 20
    """Working days from the correction notice (the clock stop's start)."""
    on_expiry: Literal["withdrawn", "terminated"] = "withdrawn"
    """``withdrawn``: the application of the matter is 视为撤回; ``terminated``: the matter is 终止办理."""
    intake_limit_wd: WorkingDays | None = None
    """一次性告知 at the window: working days the owner has to correct its filing after the notice; None: ``limit_wd``.
    Past it the filing is 视为撤回 (it was never accepted, so there is nothing to terminate)."""

    @property
    def filing_limit_wd(self) -> int:
        """The window's correction deadline in working days (``intake_limit_wd``, else ``limit_wd``)."""
        return self.limit_wd if self.intake_limit_wd is None else self.intake_limit_wd


class MatterOverride(_Frozen):
    """A jurisdiction's change to one matter's limits and flags; unset fields keep the base value."""

    statutory_limit_wd: WorkingDays | None = None
    committed_limit_wd: WorkingDays | None = None
    mandatory: StrictBool | None = None
    tolerance_allowed: StrictBool | None = None
    commitment_allowed: StrictBool | None = None
    silent_consent_allowed: StrictBool | None = None
    post_check_limit_wd: WorkingDays | None = None
    source: str | None = None

    def changes(self) -> dict[str, Any]:
        """The fields this override actually sets (without its source note)."""
        return self.model_dump(exclude_none=True, exclude={"source"})


class ExtraExemption(_Frozen):
    """A jurisdiction exempts more project types from a matter (e.g. 免于办理建设工程规划许可)."""

    matter: AsciiId
    project_types: tuple[AsciiId, ...] = Field(min_length=1)
    reason: str | None = None
    source: str | None = None


class PhasedPermit(_Frozen):
    """分阶段施工许可: which phase's permit closes the stage (the later phases run on, each timed on its own)."""

    stage_ends_after: AsciiId
    """A phase id of every phased matter (``foundation`` / ``basement`` / ``superstructure``): when that phase is
    issued the stage can close and the next one start; later phases are issued in order after it, and still
    before whatever legally requires the permit (the acceptance items, ``requires`` in matters.yaml)."""
    source: str | None = None


class Profile(_Frozen):
    """The rules and numbers of one jurisdiction (工改办口径)."""

    id: Text
    """The file stem (``default``, ``jiangxi``)."""
    name: Text
    description: str | None = None
    whole_process_limit_wd: dict[AsciiId, WorkingDays]
    stage_limits_wd: dict[AsciiId, dict[StageId, WorkingDays]]
    special_procedures_stop_clock: StrictBool
    """True: 专家评审/技术审查/现场踏勘/听证/公示 are excluded from approval time."""
    intermediary_stops_clock: StrictBool
    """True: 中介服务 time is excluded from approval time (赣州 counts it inside)."""
    warning_days: Annotated[StrictInt, Field(ge=0)]
    """Yellow warning when this many working days or fewer remain."""
    intake_limit_wd: WorkingDays = 5
    """一窗受理: the window decides within this many working days of a submission, else the filing is deemed
    accepted (行政许可法第三十二条)."""
    stop_push: Literal["days", "hours"] = "days"
    """How a clock stop (补正, 特别程序) pushes a due date: by the whole working days it covered (``days``: the
    stop's day counts as worked, counting resumes the day after; as the Administrative Licensing Law counts
    days) or by the stopped working time to the hour (``hours``). engine/domain/timing.py."""
    tolerance_requires_good_credit: StrictBool
    """容缺受理 only for owners without a 失信 record in the last ``credit_bar_days`` (the system's records,
    never the owner's own word)."""
    credit_bar_days: Annotated[StrictInt, Field(ge=0)] = 365
    """The default bar of a 失信 record, for privileges and matters no ``credit_rules`` entry covers."""
    commitment_requires_good_credit: StrictBool = True
    """告知承诺制 only for owners without a 失信 record within the bar (credit_rules / credit_bar_days)."""
    credit_rules: tuple[CreditRule, ...] = ()
    """Per privilege and matter: for how long a 失信 record bars 容缺受理 / 告知承诺制 (first match decides)."""
    correction: CorrectionRules = Field(default_factory=CorrectionRules)
    commitment: CommitmentDefaults
    matter_rules: str = "rules/matter_selection.dmn"
    """The decision table (DMN 1.3, relative to the catalogue folder) that selects matters from a case."""
    precondition_wait_stops_clock: StrictBool = True
    """True: a matter approved before its precondition is issued waits with its clock stopped (the wait is
    recorded as its own interval); False: the wait counts in the matter's time."""
    phased_permit: PhasedPermit | None = None
    """分阶段施工许可: the phase that ends the stage; None: the stage closes after the last phase."""
    special_procedure_limits_wd: dict[AsciiId, WorkingDays] = Field(default_factory=dict)
    certificate_number_format: Annotated[str, StringConstraints(min_length=1, max_length=80)] = "{code}-{year}-{seq:06d}"
    """How certificate numbers are written: ``{code}`` the type's code, ``{year}`` the issue year (Asia/Shanghai),
    ``{division}`` the project's 行政区划代码 (``000000`` when it has none), ``{seq}`` a counter per type and year
    (required: it makes numbers unique). Numbers are ASCII-safe by default so they work in URLs."""
    certificate_reminder_days: Annotated[StrictInt, Field(ge=0, le=365)] = 30
    """无感服务: the owner is reminded this many natural days before a certificate expires (0: no reminder)."""
    certificate_validity_months: dict[AsciiId, Annotated[StrictInt, Field(ge=1, le=1200)]] = Field(default_factory=dict)
    """Certificate type → this jurisdiction's validity in months (instead of certificates.yaml's)."""
    matter_overrides: dict[AsciiId, MatterOverride] = Field(default_factory=dict)
    type_committed_limits_wd: dict[AsciiId, dict[AsciiId, WorkingDays]] = Field(default_factory=dict)
    """Project type → matter → a shorter committed limit for that type (带方案出让: construction-start
    formalities within 5 working days of the land contract, policy-compilation.txt:3008)."""
    extra_exemptions: tuple[ExtraExemption, ...] = ()
    sources: dict[str, str] = Field(default_factory=dict)
    """Field name → citation of the policy line it follows (e.g. ``policy-compilation.txt:2436``)."""


class ToleranceDecision(_Frozen):
    """Outcome of the 容缺受理 rule: accept with missing materials, or why not."""

    allowed: bool
    reasons: list[str] = Field(default_factory=list)
    supply_deadline_wd: int | None = None
    """When allowed with materials missing: working days the owner has to supply them."""
    matter_ids: list[str] = Field(default_factory=list)
    """Matters that would be accepted with tolerance (容缺通过 candidates)."""


# --------------------------------------------------------------------------- the catalogue

_M = TypeVar("_M")


def _get(mapping: dict[str, _M], key: str, what: str) -> _M:
    try:
        return mapping[key]
    except KeyError:
        raise UnknownIdError(f"unknown {what} id {key!r}; known: {', '.join(mapping)}") from None


class Catalogue(_Frozen):
    """The base catalogue merged with one profile: what the engine asks its questions of.

    Matters here already carry the profile's overrides and extra exemptions, and commitment
    matters carry the effective 核查 limit, so callers never merge anything themselves.
    """

    root: Path
    profile_path: Path
    profile: Profile
    planning_stage: StageId
    registration_stage: StageId
    utility_stage: StageId | None = None
    """水电气信联合报装: a track beside stages 2–4 on every route (its matters chosen by the case)."""
    departments: dict[str, Department]
    stages: dict[str, Stage]
    routes: dict[str, Route]
    project_types: dict[str, ProjectType]
    matters: dict[str, Matter]
    special_procedures: dict[str, SpecialProcedure]
    case: CaseQuestionnaire
    certificate_types: dict[str, CertificateType] = Field(default_factory=dict)
    """电子证照 types (workflows/certificates.yaml), validities already merged with the profile's."""

    # ---- lookups

    @property
    def matter_rules_path(self) -> Path:
        """The profile's decision table file (an adapter evaluates it; see engine.bpmn.dmn)."""
        return self.root / self.profile.matter_rules

    def project_type(self, project_type_id: str) -> ProjectType:
        return _get(self.project_types, project_type_id, "project type")

    def stage(self, stage_id: str) -> Stage:
        return _get(self.stages, stage_id, "stage")

    def department(self, department_id: str) -> Department:
        return _get(self.departments, department_id, "department")

    def matter(self, matter_id: str) -> Matter:
        """The matter with this id, or with this former id (a plan stored before the matter was renamed)."""
        found = self.matters.get(matter_id)
        if found is None:
            found = next((m for m in self.matters.values() if matter_id in m.formerly), None)
        return found if found is not None else _get(self.matters, matter_id, "matter")

    def certificate_type(self, type_id: str) -> CertificateType:
        return _get(self.certificate_types, type_id, "certificate type")

    def special_procedure(self, procedure_id: str) -> SpecialProcedure:
        """The procedure with this profile's limit applied."""
        return _get(self.special_procedures, procedure_id, "special procedure")

    def route(self, project_type_id: str) -> Route:
        return self.routes[self.project_type(project_type_id).route]

    # ---- routes and stages

    def route_stages(self, project_type_id: str, include_planning: bool | None = None) -> list[str]:
        """Ordered stage ids the project type walks through.

        ``include_planning`` None follows the type's default for 策划生成; True/False forces it.
        Concurrent stages are listed in their nominal order; see :meth:`concurrent_stages`.
        """
        pt = self.project_type(project_type_id)
        planning = pt.planning_stage if include_planning is None else include_planning
        stages: list[str] = [self.planning_stage] if planning else []
        stages.extend(self.routes[pt.route].stages)
        if self.utility_stage:  # the utility track starts once the land and project are settled (after S1)
            stages.insert(stages.index(self.routes[pt.route].stages[0]) + 1, self.utility_stage)
        if pt.registration:
            stages.append(self.registration_stage)
        return stages

    def concurrent_stages(self, project_type_id: str) -> set[str]:
        """Stages that run at the same time on this type's route (拿地即开工: {"S2", "S3"})."""
        return set(self.route(project_type_id).concurrent)

    def lead_department(self, stage_id: str, project_type_id: str) -> Department:
        """牵头部门 of a stage for a project type (S1: 发改 for government-funded projects)."""
        self.project_type(project_type_id)
        return self.department(self.stage(stage_id).lead_for(project_type_id))

    # ---- matters

    def matters_for(self, project_type_id: str, stage_id: str) -> list[Matter]:
        """Matters of a stage for a project type, in catalogue order.

        Applies ``applies_to`` and the exemptions of the data and of the profile. A merged stage
        (S23) returns the matters of the stages it merges, in stage order.
        """
        self.project_type(project_type_id)
        stage = self.stage(stage_id)
        stage_ids = stage.merges or (stage.id,)
        return [
            m
            for sid in stage_ids
            for m in self.matters.values()
            if m.stage == sid and m.applies(project_type_id)
        ]

    def stage_candidates(self, stage_id: str) -> list[Matter]:
        """Every catalogue matter a route stage may hold (a merged stage: those of the stages it merges)."""
        stage = self.stage(stage_id)
        stage_ids = stage.merges or (stage.id,)
        return [m for sid in stage_ids for m in self.matters.values() if m.stage == sid]

    def type_rule(self, matter: Matter, project_type_id: str) -> tuple[str, str] | None:
        """The catalogue rule that keeps ``matter`` off every project of this type, as (rule id, text), or None."""
        if matter.applies_to is not None and project_type_id not in matter.applies_to:
            names = "、".join(self.project_types[p].name for p in matter.applies_to if p in self.project_types)
            return "applies_to", f"目录：本事项仅适用于{names}"
        if project_type_id in matter.exempt_for:
            reasons = [ex.reason for ex in self.profile.extra_exemptions
                       if ex.matter == matter.id and project_type_id in ex.project_types and ex.reason]
            why = reasons[0] if reasons else f"{self.project_types[project_type_id].name}免于办理"
            return "exempt_for", f"目录：{why}"
        return None

    def credit_bar_days(self, privilege: str, matter_id: str | None = None) -> int:
        """Days a 失信 record bars ``privilege`` (``tolerance`` / ``commitment``) for this matter: the first
        matching ``credit_rules`` entry of the profile, else the profile's ``credit_bar_days``."""
        for rule in self.profile.credit_rules:
            if rule.privilege == privilege and (rule.matters is None or matter_id in rule.matters):
                return rule.bar_days
        return self.profile.credit_bar_days

    def matter_task_data(self, matter: Matter | str) -> dict[str, Any]:
        """JSON-serialisable data a BPMN task needs to run and time one matter."""
        m = self.matter(matter) if isinstance(matter, str) else matter
        return {
            "id": m.id,
            "name": m.name,
            "department": m.department,
            "stage": m.stage,
            "mandatory": m.mandatory,
            "silent_consent_allowed": m.silent_consent_allowed,
            "tolerance_allowed": m.tolerance_allowed,
            "commitment_allowed": m.commitment_allowed,
            "committed_limit_wd": m.committed_limit_wd,
            "statutory_limit_wd": m.statutory_limit_wd,
            "acceptance_role": m.acceptance_role,
            "post_check_limit_wd": m.post_check_limit_wd,
        }

    # ---- limits and clock rules

    def stage_limit_wd(self, project_type_id: str, stage_id: str) -> int:
        """The profile's limit for a stage of a project type, in working days."""
        self.project_type(project_type_id)
        self.stage(stage_id)
        limits = self.profile.stage_limits_wd.get(project_type_id, {})
        if stage_id not in limits:
            raise UnknownIdError(
                f"profile {self.profile.id!r} has no limit for stage {stage_id} of "
                f"project type {project_type_id!r} (not on its route)"
            )
        return limits[stage_id]

    def whole_process_limit_wd(self, project_type_id: str) -> int:
        """全流程审批时限 (立项 to 竣工验收) for a project type, in working days."""
        self.project_type(project_type_id)
        return self.profile.whole_process_limit_wd[project_type_id]

    def stops_clock(self, procedure_id: str) -> bool:
        """Whether this special procedure is excluded from the parent matter's approval time here."""
        proc = self.special_procedure(procedure_id)
        if proc.kind == "intermediary":
            return self.profile.intermediary_stops_clock
        return self.profile.special_procedures_stop_clock

    # ---- 容缺受理

    def tolerance_check(
        self,
        project_type_id: str,
        stage_id: str,
        missing_material_ids: list[str],
        owner_credit_good: bool,
        matter_ids: list[str] | None = None,
        credit_reason: str | None = None,
    ) -> ToleranceDecision:
        """The 容缺受理 rule: may a stage filing be accepted with these materials missing?

        Allowed only if every missing material is non-key, every matter that lists it allows
        tolerance, and (where the profile says so) the owner's credit is good. A material id may
        be qualified as ``matter_id:material_id``; unqualified, it means that document in every
        matter of the stage that lists it (one form per stage, 一张表单).
        """
        self.project_type(project_type_id)
        self.stage(stage_id)
        missing = list(dict.fromkeys(missing_material_ids))
        if not missing:
            return ToleranceDecision(allowed=True)
        matters = self.matters_for(project_type_id, stage_id)
        if matter_ids is not None:  # the project's own plan: only the matters its case requires
            matters = [m for m in matters if m.id in set(matter_ids)]
        reasons: list[str] = []
        tolerated: list[str] = []
        if self.profile.tolerance_requires_good_credit and not owner_credit_good:
            reasons.append(
                credit_reason or f"owner credit is not good: a 失信 record within {self.profile.credit_bar_days} days; profile "
                f"{self.profile.id!r} requires good credit for tolerance（容缺受理要求建设单位信用良好）"
            )
        for ref in missing:
            matter_id, _, material_id = ref.rpartition(":")
            candidates = [m for m in matters if not matter_id or m.id == matter_id]
            hits = [(m, mat) for m in candidates for mat in m.materials if mat.id == material_id]
            if not hits:
                reasons.append(
                    f"unknown material {ref!r}: no matter of stage {stage_id} for "
                    f"{project_type_id} lists it"
                )
            for m, mat in hits:
                if mat.key:
                    reasons.append(
                        f"missing material {mat.id!r}（{mat.name}）is a key material of matter "
                        f"{m.id!r}（{m.name}）: 关键材料不得容缺"
                    )
                elif not m.tolerance_allowed:
                    why = (
                        f"，涉及{_SAFETY_DOMAIN_CN[m.safety_domain]}" if m.safety_domain else ""
                    )
                    reasons.append(
                        f"missing material {mat.id!r}（{mat.name}）: matter {m.id!r}（{m.name}）"
                        f"does not allow tolerance（不适用容缺受理{why}）"
                    )
                elif m.id not in tolerated:
                    tolerated.append(m.id)
        if reasons:
            return ToleranceDecision(allowed=False, reasons=reasons)
        return ToleranceDecision(
            allowed=True,
            supply_deadline_wd=self.profile.commitment.supply_deadline_wd,
            matter_ids=tolerated,
        )


# --------------------------------------------------------------------------- loading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def list_profiles(root: Path | None = None) -> list[str]:
    """Ids of the profiles in ``<root>/profiles`` (file stems), sorted."""
    base = Path(root) if root is not None else catalogue_root()
    return sorted(p.stem for p in (base / PROFILES_DIR).glob("*.yaml"))


def load_catalogue(profile: str = "default", root: Path | None = None) -> Catalogue:
    """Load and validate the base catalogue under ``root`` merged with one profile.

    ``profile`` is a profile id in ``<root>/profiles`` or a path to a profile YAML file.
    Raises :class:`CatalogueError` listing every problem found, one per line.
    """
    base = Path(root) if root is not None else catalogue_root()
    return _Loader(base, _resolve_profile(profile, base)).load()


def _resolve_profile(profile: str | Path, root: Path) -> Path:
    p = Path(profile)
    if p.suffix in {".yaml", ".yml"} or len(p.parts) > 1:
        return p
    return root / PROFILES_DIR / f"{profile}.yaml"


def _fmt_error(err: Any, prefix: tuple[Any, ...] = ()) -> str:
    """One pydantic error as a readable phrase naming the field (``prefix`` locates the item)."""
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown field {loc!r}"
    if kind == "missing":
        return f"missing field {loc!r}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not loc:
        return msg
    value = repr(err.get("input"))
    if len(value) > 60:
        value = value[:57] + "..."
    return f"{loc}: {msg} (got {value})"


def _fmt_known(ids: Any) -> str:
    ids = sorted(ids)
    return ", ".join(ids) if len(ids) <= 20 else ", ".join(ids[:20]) + ", …"


class _Loader:
    """One load: reads the files, collects every problem, builds the Catalogue."""

    FILES = {
        "departments": "departments.yaml",
        "stages": "stages.yaml",
        "project_types": "project_types.yaml",
        "matters": "matters.yaml",
        "special_procedures": "special_procedures.yaml",
        "case": "case.yaml",
        "certificates": "certificates.yaml",
    }

    def __init__(self, root: Path, profile_path: Path) -> None:
        self.root = root
        self.profile_path = profile_path
        self.problems: list[str] = []
        self.pending_limit_checks: list[tuple[str, str, int]] = []
        self.phased_matters: list[Matter] = []
        # ids seen in raw data, valid or not: references to an invalid item are not reported twice
        self.seen: dict[str, set[str]] = {}
        # labels for cross-reference messages: kind -> id -> "file: key[i] (id=…)"
        self.labels: dict[str, dict[str, str]] = {}

    def problem(self, path: Path, where: str, message: str) -> None:
        self.problems.append(f"{path}: {where}: {message}" if where else f"{path}: {message}")

    # ---- file reading

    def read(self, path: Path) -> Any:
        if not path.is_file():
            self.problem(path, "", "file not found")
            return None
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
        except yaml.YAMLError as exc:
            self.problem(path, "", f"invalid YAML: {' '.join(str(exc).split())}")
            return None
        except UnicodeDecodeError as exc:
            self.problem(path, "", f"not UTF-8: {exc}")
            return None

    def top(self, path: Path, data: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(path, "", f"expected a mapping with keys {sorted(required)}")
            return {}
        for key in data:
            if key not in allowed:
                self.problem(path, "", f"unknown top-level key {key!r} (allowed: {sorted(allowed)})")
        for key in sorted(required - set(data)):
            self.problem(path, "", f"missing top-level key {key!r}")
        return data

    def items(self, path: Path, key: str, raw: Any, model: type[_M], kind: str) -> dict[str, _M]:
        """Validate a list of items; report item errors and duplicate ids; return id → model."""
        self.seen.setdefault(kind, set())
        self.labels.setdefault(kind, {})
        out: dict[str, _M] = {}
        if raw is None:
            return out
        if not isinstance(raw, list):
            self.problem(path, key, "expected a list")
            return out
        first_index: dict[str, int] = {}
        for i, item in enumerate(raw):
            item_id = item.get("id") if isinstance(item, dict) else None
            label = f"{key}[{i}]" + (f" (id={item_id})" if item_id is not None else "")
            if isinstance(item_id, str):
                self.seen[kind].add(item_id)
                if item_id in first_index:
                    self.problem(
                        path, label, f"duplicate {kind} id {item_id!r} (first at {key}[{first_index[item_id]}])"
                    )
                    continue
                first_index[item_id] = i
            try:
                obj = model.model_validate(item)
            except ValidationError as exc:
                for err in exc.errors():
                    self.problem(path, label, _fmt_error(err))
                continue
            out[obj.id] = obj  # type: ignore[attr-defined]
            self.labels[kind][obj.id] = f"{path}: {label}"  # type: ignore[attr-defined]
        return out

    def ref(self, label: str, kind: str, value: str, field: str) -> bool:
        """Check one reference; report it naming the file, item, field and bad value."""
        if value in self.seen.get(kind, set()):
            return True
        known = _fmt_known(self.seen.get(kind, set()))
        self.problems.append(f"{label}: {field}: unknown {kind} {value!r} (known: {known})")
        return False

    # ---- the load

    def load(self) -> Catalogue:
        paths = {k: self.root / v for k, v in self.FILES.items()}

        dep_data = self.top(paths["departments"], self.read(paths["departments"]), {"departments"}, {"departments"})
        departments = self.items(paths["departments"], "departments", dep_data.get("departments"), Department, "department")

        st_path = paths["stages"]
        st_data = self.top(
            st_path,
            self.read(st_path),
            {"stages", "routes", "planning_stage", "registration_stage", "utility_stage"},
            {"stages", "routes", "planning_stage", "registration_stage"},
        )
        stages = self.items(st_path, "stages", st_data.get("stages"), Stage, "stage")
        routes = self.load_routes(st_path, st_data.get("routes"))

        pt_data = self.top(paths["project_types"], self.read(paths["project_types"]), {"project_types"}, {"project_types"})
        project_types = self.items(
            paths["project_types"], "project_types", pt_data.get("project_types"), ProjectType, "project type"
        )

        sp_data = self.top(
            paths["special_procedures"], self.read(paths["special_procedures"]),
            {"special_procedures"}, {"special_procedures"},
        )
        procedures = self.items(
            paths["special_procedures"], "special_procedures", sp_data.get("special_procedures"),
            SpecialProcedure, "special procedure",
        )

        c_path = paths["certificates"]
        c_data = self.top(c_path, self.read(c_path), {"certificate_types"}, {"certificate_types"}) if c_path.is_file() else {}
        certificate_types = self.items(c_path, "certificate_types", c_data.get("certificate_types"), CertificateType,
                                       "certificate type")

        m_data = self.top(paths["matters"], self.read(paths["matters"]), {"matters"}, {"matters"})
        matters = self.items(paths["matters"], "matters", m_data.get("matters"), Matter, "matter")
        case = self.load_case(paths["case"])

        planning_stage = self.check_stage_pointer(st_path, st_data, "planning_stage")
        registration_stage = self.check_stage_pointer(st_path, st_data, "registration_stage")
        utility_stage = self.check_stage_pointer(st_path, st_data, "utility_stage") if "utility_stage" in st_data else None
        self.check_stages(stages)
        self.check_routes(st_path, routes, planning_stage, registration_stage)
        self.check_project_types(project_types)
        self.check_matters(matters, stages)
        self.check_certificates(matters, certificate_types)
        self.check_legal_order(matters, stages, routes)
        self.check_phases(matters, case)
        self.phased_matters = [m for m in matters.values() if m.phases]

        profile = self.load_profile()
        if profile is not None:
            self.check_profile(profile, project_types, routes, stages, planning_stage, registration_stage, utility_stage)
            matters = self.merge_matters(profile, matters)
            self.check_type_limits(matters)
            self.check_certificate_profile(profile, certificate_types)
            certificate_types = {
                cid: c.model_copy(update={"validity_months": profile.certificate_validity_months[cid]})
                if cid in profile.certificate_validity_months else c
                for cid, c in certificate_types.items()
            }
            procedures = {
                pid: p.model_copy(update={"limit_wd": profile.special_procedure_limits_wd[pid]})
                if pid in profile.special_procedure_limits_wd else p
                for pid, p in procedures.items()
            }
        self.check_joint_acceptance(matters, stages, routes, project_types)

        if profile is not None and not (self.root / profile.matter_rules).is_file():
            self.problem(self.profile_path, "matter_rules", f"decision table {profile.matter_rules!r} not found under {self.root}")
        if self.problems or profile is None or case is None:
            raise CatalogueError(self.problems)
        return Catalogue(
            root=self.root,
            profile_path=self.profile_path,
            profile=profile,
            planning_stage=planning_stage,
            registration_stage=registration_stage,
            utility_stage=utility_stage,
            departments=departments,
            stages=stages,
            routes=routes,
            project_types=project_types,
            matters=matters,
            special_procedures=procedures,
            case=case,
            certificate_types=certificate_types,
        )

    def load_case(self, path: Path) -> CaseQuestionnaire | None:
        data = self.top(path, self.read(path), {"questions"}, {"questions"})
        try:
            return CaseQuestionnaire.model_validate({"questions": data.get("questions") or []})
        except ValidationError as exc:
            for err in exc.errors():
                self.problem(path, "", _fmt_error(err))
            return None

    def check_certificates(self, matters: dict[str, Matter], types: dict[str, CertificateType]) -> None:
        """Matters issue known certificate types; a material is provided by a type some matter issues (else no
        certificate could ever exempt it), and one material id has one ``provided_by`` everywhere."""
        issued = {m.certificate for m in matters.values() if m.certificate}
        providers: dict[str, tuple[str | None, str]] = {}
        for mid, m in matters.items():
            label = self.labels["matter"][mid]
            if m.certificate:
                self.ref(label, "certificate type", m.certificate, "certificate")
            for mat in m.materials:
                if mat.provided_by:
                    if self.ref(label, "certificate type", mat.provided_by, f"materials.{mat.id}.provided_by") \
                            and mat.provided_by not in issued:
                        self.problems.append(f"{label}: materials.{mat.id}.provided_by: no matter issues "
                                             f"certificate type {mat.provided_by!r}; nothing could provide it")
                if mat.id in providers and providers[mat.id][0] != mat.provided_by:
                    self.problems.append(f"{label}: materials.{mat.id}.provided_by: {mat.provided_by!r} here but "
                                         f"{providers[mat.id][0]!r} in {providers[mat.id][1]!r}; one id is one document")
                providers.setdefault(mat.id, (mat.provided_by, mid))
        codes = Counter(t.code for t in types.values())
        for code, n in codes.items():
            if n > 1:
                self.problems.append(f"{self.root / self.FILES['certificates']}: code {code!r} is used by {n} "
                                     "certificate types; numbers would not say which")

    def check_certificate_profile(self, profile: Profile, types: dict[str, CertificateType]) -> None:
        """The number format names only known fields and has the counter; validity overrides name known types."""
        import string

        path = self.profile_path
        fmt = profile.certificate_number_format
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None}
        except ValueError as exc:
            self.problem(path, "certificate_number_format", f"not a valid format ({exc})")
            fields = None
        if fields is not None:
            unknown = fields - {"code", "year", "division", "seq"}
            if unknown:
                self.problem(path, "certificate_number_format", f"unknown field(s) {', '.join(sorted(unknown))} "
                                                                "(known: code, year, division, seq)")
            if "seq" not in fields:
                self.problem(path, "certificate_number_format", "must contain {seq}: the counter makes numbers unique")
            if not unknown:
                try:
                    fmt.format(code="AB", year=2026, division="360100", seq=1)
                except (ValueError, KeyError, IndexError) as exc:
                    self.problem(path, "certificate_number_format", f"not a valid format ({exc})")
        self.seen.setdefault("certificate type", set()).update(types)
        for cid in profile.certificate_validity_months:
            self.ref(f"{path}", "certificate type", cid, "certificate_validity_months")

    def check_phases(self, matters: dict[str, Matter], case: CaseQuestionnaire | None) -> None:
        """A phased matter names a yes/no case question, and its phase ids are unique."""
        questions = {q.id: q for q in case.questions} if case else {}
        for mid, m in matters.items():
            label = self.labels["matter"][mid]
            if bool(m.phases) != bool(m.phases_when):
                self.problems.append(f"{label}: phases and phases_when go together")
            if m.phases_when and case is not None and getattr(questions.get(m.phases_when), "type", None) != "bool":
                self.problems.append(f"{label}: phases_when: {m.phases_when!r} is not a yes/no question of case.yaml")
            ids = [p.id for p in m.phases]
            if len(set(ids)) != len(ids):
                self.problems.append(f"{label}: phases: duplicate phase id")

    def check_legal_order(self, matters: dict[str, Matter], stages: dict[str, Stage],
                          routes: dict[str, Route]) -> None:
        """``requires`` names known matters, never a later stage's (unless concurrent), and has no cycle."""
        import networkx as nx

        concurrent = {frozenset(r.concurrent) for r in routes.values() if r.concurrent}
        graph = nx.DiGraph()
        for mid, m in matters.items():
            label = self.labels["matter"][mid]
            for pre in m.requires:
                if not self.ref(label, "matter", pre, "requires") or pre not in matters:
                    continue
                graph.add_edge(pre, mid)
                a, b = stages.get(matters[pre].stage), stages.get(m.stage)
                if a and b and a.order > b.order and frozenset({a.id, b.id}) not in concurrent:
                    self.problems.append(f"{label}: requires: {pre!r} belongs to a later stage ({a.id} after {b.id})")
        for mid, m in matters.items():
            label = self.labels["matter"][mid]
            for other in m.excludes:
                if self.ref(label, "matter", other, "excludes") and other in matters and mid not in matters[other].excludes:
                    self.problems.append(f"{label}: excludes: {other!r} does not exclude {mid!r} back (exclusion is mutual)")
        for cycle in nx.simple_cycles(graph):
            self.problems.append(f"{self.root / self.FILES['matters']}: requires: cycle {' → '.join([*cycle, cycle[0]])}")

    def load_routes(self, path: Path, raw: Any) -> dict[str, Route]:
        self.seen.setdefault("route", set())
        out: dict[str, Route] = {}
        if raw is None:
            return out
        if not isinstance(raw, dict):
            self.problem(path, "routes", "expected a mapping of route id → route")
            return out
        for rid, body in raw.items():
            self.seen["route"].add(str(rid))
            label = f"routes.{rid}"
            if not isinstance(body, dict):
                self.problem(path, label, "expected a mapping")
                continue
            try:
                out[rid] = Route.model_validate({"id": rid, **body})
            except ValidationError as exc:
                for err in exc.errors():
                    self.problem(path, label, _fmt_error(err))
        return out

    def check_stage_pointer(self, path: Path, data: dict[str, Any], key: str) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problem(path, key, f"expected a stage id, got {value!r}")
            return ""
        self.ref(f"{path}", "stage", value, key)
        return value

    def check_stages(self, stages: dict[str, Stage]) -> None:
        for sid, st in stages.items():
            label = self.labels["stage"][sid]
            self.ref(label, "department", st.lead, "lead")
            for pt, dep in st.lead_overrides.items():
                self.ref(label, "project type", pt, "lead_overrides")
                self.ref(label, "department", dep, f"lead_overrides.{pt}")
            for merged in st.merges:
                if self.ref(label, "stage", merged, "merges") and merged in stages and stages[merged].merges:
                    self.problems.append(f"{label}: merges: stage {merged!r} is itself a merged stage")

    def check_routes(self, path: Path, routes: dict[str, Route], planning: str, registration: str) -> None:
        for rid, route in routes.items():
            label = f"{path}: routes.{rid}"
            for sid in route.stages:
                self.ref(label, "stage", sid, "stages")
                if sid in (planning, registration):
                    self.problems.append(
                        f"{label}: stages: {sid!r} is added by the project type flags, not by the route"
                    )
            for sid in route.concurrent:
                if sid not in route.stages:
                    self.problems.append(f"{label}: concurrent: {sid!r} is not one of the route's stages")
            dupes = [s for s, n in Counter(route.stages).items() if n > 1]
            if dupes:
                self.problems.append(f"{label}: stages: repeated stage(s) {', '.join(dupes)}")

    def check_project_types(self, project_types: dict[str, ProjectType]) -> None:
        for pid, pt in project_types.items():
            self.ref(self.labels["project type"][pid], "route", pt.route, "route")

    def check_matters(self, matters: dict[str, Matter], stages: dict[str, Stage]) -> None:
        material_names: dict[str, tuple[str, str]] = {}
        former_owner: dict[str, str] = {}
        for mid, m in matters.items():
            label = self.labels["matter"][mid]
            for old in m.formerly:
                if old in matters or old in former_owner:
                    taken = "a current matter id" if old in matters else f"already a former id of {former_owner[old]}"
                    self.problems.append(f"{label}: formerly: {old!r} is {taken}")
                former_owner[old] = mid
            self.ref(label, "department", m.department, "department")
            if self.ref(label, "stage", m.stage, "stage") and m.stage in stages:
                stage = stages[m.stage]
                if stage.merges:
                    self.problems.append(
                        f"{label}: stage: {m.stage!r} is a merged stage; file the matter under one of "
                        f"{', '.join(stage.merges)}"
                    )
                if stage.joint_acceptance and m.acceptance_role is None:
                    self.problems.append(
                        f"{label}: acceptance_role: missing for a matter of joint-acceptance stage "
                        f"{m.stage} (item | final)"
                    )
                if not stage.joint_acceptance and m.acceptance_role is not None:
                    self.problems.append(
                        f"{label}: acceptance_role: only matters of a joint-acceptance stage have one"
                    )
            for pt in m.applies_to or ():
                self.ref(label, "project type", pt, "applies_to")
            for pt in m.exempt_for:
                self.ref(label, "project type", pt, "exempt_for")
            for sp in m.special_procedures:
                self.ref(label, "special procedure", sp, "special_procedures")
            for mat in m.materials:
                if mat.id in material_names and material_names[mat.id][0] != mat.name:
                    other_name, other_matter = material_names[mat.id]
                    self.problems.append(
                        f"{label}: materials: {mat.id!r} is named {mat.name!r} here but "
                        f"{other_name!r} in {other_matter!r}; one id is one document"
                    )
                material_names.setdefault(mat.id, (mat.name, mid))

    # ---- profile

    def load_profile(self) -> Profile | None:
        """Validate the profile; overrides and exemptions entry by entry so all errors show."""
        path = self.profile_path
        if not path.is_file():
            avail = list_profiles(self.root)
            self.problem(path, "", f"profile not found (available: {', '.join(avail) or 'none'})")
            return None
        data = self.read(path)
        if data is None:
            return None
        if not isinstance(data, dict):
            self.problem(path, "", "expected a mapping")
            return None
        data = dict(data)
        overrides = self.profile_entries(path, data.pop("matter_overrides", None))
        exemptions = self.profile_exemptions(path, data.pop("extra_exemptions", None))
        label = f"{path}"
        for mid in overrides:
            self.ref(label, "matter", mid, "matter_overrides")
        for i, ex in exemptions:
            self.ref(label, "matter", ex.matter, f"extra_exemptions[{i}].matter")
            for pt in ex.project_types:
                self.ref(label, "project type", pt, f"extra_exemptions[{i}].project_types")
        try:
            profile = Profile.model_validate({"id": path.stem, **data})
        except ValidationError as exc:
            for err in exc.errors():
                self.problem(path, "", _fmt_error(err))
            return None
        return profile.model_copy(
            update={"matter_overrides": overrides, "extra_exemptions": tuple(ex for _, ex in exemptions)}
        )

    def profile_entries(self, path: Path, raw: Any) -> dict[str, MatterOverride]:
        out: dict[str, MatterOverride] = {}
        if raw is None:
            return out
        if not isinstance(raw, dict):
            self.problem(path, "matter_overrides", "expected a mapping of matter id → fields")
            return out
        for mid, body in raw.items():
            try:
                out[str(mid)] = MatterOverride.model_validate(body if body is not None else {})
            except ValidationError as exc:
                for err in exc.errors():
                    self.problem(path, "", _fmt_error(err, ("matter_overrides", mid)))
        return out

    def profile_exemptions(self, path: Path, raw: Any) -> list[tuple[int, ExtraExemption]]:
        out: list[tuple[int, ExtraExemption]] = []
        if raw is None:
            return out
        if not isinstance(raw, list):
            self.problem(path, "extra_exemptions", "expected a list of {matter, project_types}")
            return out
        for i, body in enumerate(raw):
            try:
                out.append((i, ExtraExemption.model_validate(body)))
            except ValidationError as exc:
                for err in exc.errors():
                    self.problem(path, "", _fmt_error(err, (f"extra_exemptions[{i}]",)))
        return out

    def check_profile(
        self,
        profile: Profile,
        project_types: dict[str, ProjectType],
        routes: dict[str, Route],
        stages: dict[str, Stage],
        planning: str,
        registration: str,
        utility: str | None = None,
    ) -> None:
        path = self.profile_path
        label = f"{path}"
        for pt in profile.whole_process_limit_wd:
            self.ref(label, "project type", pt, "whole_process_limit_wd")
        for pt in project_types:
            if pt not in profile.whole_process_limit_wd:
                self.problem(path, "whole_process_limit_wd", f"missing project type {pt!r}")
            if pt not in profile.stage_limits_wd:
                self.problem(path, "stage_limits_wd", f"missing project type {pt!r}")
        for pt, limits in profile.stage_limits_wd.items():
            if not self.ref(label, "project type", pt, "stage_limits_wd") or pt not in project_types:
                continue
            ptype = project_types[pt]
            route = routes.get(ptype.route)
            if route is None:
                continue
            expected = [planning, *route.stages] + ([registration] if ptype.registration else []) + ([utility] if utility else [])
            for sid in limits:
                if self.ref(label, "stage", sid, f"stage_limits_wd.{pt}") and sid not in expected:
                    self.problem(path, f"stage_limits_wd.{pt}", f"stage {sid!r} is not on the route of {pt!r}")
            for sid in expected:
                if sid and sid not in limits:
                    self.problem(path, f"stage_limits_wd.{pt}", f"missing limit for stage {sid!r}")
            whole = profile.whole_process_limit_wd.get(pt)
            counted = [s for s in route.stages if s in limits and s in stages and stages[s].counts_in_four_stages]
            serial = sum(limits[s] for s in counted if s not in route.concurrent)
            parallel = max((limits[s] for s in counted if s in route.concurrent), default=0)
            if whole is not None and serial + parallel > whole:
                self.problem(
                    path,
                    f"stage_limits_wd.{pt}",
                    f"four-stage limits add up to {serial + parallel} working days, more than "
                    f"whole_process_limit_wd {whole}",
                )
        for pt, limits in profile.type_committed_limits_wd.items():
            self.ref(label, "project type", pt, "type_committed_limits_wd")
            for mid, days in limits.items():
                if self.ref(label, "matter", mid, f"type_committed_limits_wd.{pt}"):
                    self.pending_limit_checks.append((pt, mid, days))
        for sp in profile.special_procedure_limits_wd:
            self.ref(label, "special procedure", sp, "special_procedure_limits_wd")
        if profile.phased_permit is not None:
            phased = [m for m in self.phased_matters if m.phases]
            for m in phased:
                ids = [ph.id for ph in m.phases]
                if profile.phased_permit.stage_ends_after not in ids:
                    self.problem(path, "phased_permit.stage_ends_after",
                                 f"{profile.phased_permit.stage_ends_after!r} is not a phase of {m.id} "
                                 f"(phases: {', '.join(ids)})")
            if not phased:
                self.problem(path, "phased_permit", "no matter of the catalogue is issued in phases")
        for i, rule in enumerate(profile.credit_rules):
            for mid in rule.matters or ():
                self.ref(label, "matter", mid, f"credit_rules[{i}].matters")
        for field in profile.sources:
            if field not in Profile.model_fields or field == "sources":
                self.problem(path, "sources", f"unknown profile field {field!r}")

    def check_type_limits(self, matters: dict[str, Matter]) -> None:
        """A type's committed limit never exceeds the matter's statutory limit."""
        for pt, mid, days in self.pending_limit_checks:
            if mid in matters and days > matters[mid].statutory_limit_wd:
                self.problem(self.profile_path, f"type_committed_limits_wd.{pt}.{mid}",
                             f"{days} exceeds the statutory limit ({matters[mid].statutory_limit_wd})")

    def merge_matters(self, profile: Profile, matters: dict[str, Matter]) -> dict[str, Matter]:
        """Apply overrides and extra exemptions, fill the 核查 default, and re-validate each matter."""
        extra: dict[str, list[str]] = {}
        for ex in profile.extra_exemptions:
            extra.setdefault(ex.matter, []).extend(ex.project_types)
        merged: dict[str, Matter] = {}
        for mid, m in matters.items():
            override = profile.matter_overrides.get(mid)
            changes = override.changes() if override else {}
            data = m.model_dump()
            data.update(changes)
            if mid in extra:
                data["exempt_for"] = tuple(dict.fromkeys([*m.exempt_for, *extra[mid]]))
            if not data["commitment_allowed"]:
                if "post_check_limit_wd" not in changes:
                    data["post_check_limit_wd"] = None
            elif data["post_check_limit_wd"] is None:
                data["post_check_limit_wd"] = profile.commitment.post_check_limit_wd
            try:
                merged[mid] = Matter.model_validate(data)
            except ValidationError as exc:
                for err in exc.errors():
                    self.problem(self.profile_path, f"matter_overrides.{mid}", _fmt_error(err))
                merged[mid] = m
        return merged

    def check_joint_acceptance(
        self,
        matters: dict[str, Matter],
        stages: dict[str, Stage],
        routes: dict[str, Route],
        project_types: dict[str, ProjectType],
    ) -> None:
        """Each type's joint acceptance must end in exactly one 联合验收意见书 (final) matter."""
        for pid, pt in project_types.items():
            route = routes.get(pt.route)
            if route is None:
                continue
            for sid in route.stages:
                stage = stages.get(sid)
                if stage is None or not stage.joint_acceptance:
                    continue
                finals = [
                    m.id for m in matters.values()
                    if m.stage == sid and m.acceptance_role == "final" and m.applies(pid)
                ]
                if len(finals) != 1:
                    self.problems.append(
                        f"{self.root / self.FILES['matters']}: project type {pid!r} has "
                        f"{len(finals)} matters with acceptance_role final in stage {sid} "
                        f"({', '.join(finals) or 'none'}); exactly one must issue the 联合验收意见书"
                    )

"""A project's plan: which matters its case requires, why, and in which legal order they are issued.

This is the one place where "a project's case decides its route" is computed. ``build_plan`` walks the
project type's route, takes every catalogue matter of each stage and decides it:

1. the catalogue's type rules first (``applies_to`` / ``exempt_for`` / the profile's exemptions): a matter
   that never applies to the type is skipped, citing that rule;
2. then the jurisdiction's decision table (DMN, ``workflows/rules/*.dmn``) on the project's 情形: the first
   row that matches decides, and its row id and 依据 are kept;
3. a matter no row mentions is not done (the table is the published guide: no step beyond it,
   policy-compilation.txt:2168).

Every matter — selected or skipped — carries the rule that decided it, so a clerk can answer "why must I
do 文物保护意见?" from the plan. The plan also resolves the legal order (``requires`` in the catalogue) to
the preconditions actually on this project's route: a dependant may be reviewed while its precondition
runs (并联 / 同步办理) but is issued only after it (建筑法 art. 8). The decision table itself is evaluated
by an adapter (``engine.bpmn.dmn``) behind the :class:`MatterRules` protocol, so this module needs no BPMN
library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from engine.domain.catalogue import Catalogue

RuleSource = Literal["catalogue", "decision_table", "not_listed"]


class PlanConflict(ValueError):
    """The rules selected matters that exclude each other: the decision table contradicts the catalogue."""


class RuleDecision(BaseModel):
    """What a decision table said about one matter: the row that matched and its 依据."""

    model_config = ConfigDict(frozen=True)

    applies: bool
    rule_id: str
    row: int
    basis: str


class MatterRules(Protocol):
    """The jurisdiction's matter-selection rules (a DMN decision table behind an adapter)."""

    version: str
    """Content hash of the rules, recorded on every plan (which rules decided this project)."""

    def decide(self, matter_id: str, facts: Mapping[str, Any]) -> RuleDecision | None:
        """The first matching row for ``matter_id`` under ``facts``, or None when no row mentions it."""


class RuleRef(BaseModel):
    """Why a matter is on (or off) a project's route."""

    model_config = ConfigDict(frozen=True)

    source: RuleSource
    id: str
    text: str
    row: int | None = None


class PlannedMatter(BaseModel):
    model_config = ConfigDict(frozen=True)

    matter_id: str
    name: str
    department: str
    stage: str
    """The route stage it runs in (a merged stage such as S23 for S2/S3 matters of small projects)."""
    selected: bool
    rule: RuleRef
    requires: tuple[str, ...] = ()
    """Selected preconditions on this project's route: issued before this matter may be issued."""
    phases: tuple[str, ...] = ()
    """Phase ids when the case asks for the phased issue (分阶段施工许可), issued in this order."""
    mode: Literal["standard", "commitment"] = "standard"
    """How the owner files it: ``commitment`` = 告知承诺制 (decided on a signed commitment without the
    supporting materials, post-checked 核查 afterwards). The one place the mode is kept."""
    stage_ends_after: str | None = None
    """The phase whose issue closes the stage (the profile's ``phased_permit`` when the project was filed);
    the phases after it run on beside the next stages. None: the stage closes after the last phase."""

    @property
    def stage_phases(self) -> tuple[str, ...]:
        """The phases the stage itself waits for (up to ``stage_ends_after``)."""
        if self.stage_ends_after in self.phases:
            return self.phases[: self.phases.index(self.stage_ends_after) + 1]
        return self.phases

    @property
    def later_phases(self) -> tuple[str, ...]:
        """The phases issued after the stage has closed (分阶段施工许可 beyond ``stage_ends_after``)."""
        return self.phases[len(self.stage_phases):]


class ProjectPlan(BaseModel):
    """The matters of one project, per route stage, each with the rule that decided it."""

    model_config = ConfigDict(frozen=True)

    project_type: str
    stages: tuple[str, ...]
    case: dict[str, Any]
    rules_version: str
    matters: tuple[PlannedMatter, ...]

    def selected(self, stage: str) -> list[PlannedMatter]:
        return [m for m in self.matters if m.stage == stage and m.selected]

    def selected_ids(self, stage: str | None = None) -> list[str]:
        """The selected matters (of ``stage``) in legal order: each after the preconditions it ``requires``,
        otherwise in catalogue order. Parallel review does not care, but a sequential run (the serial what-if
        variant, a city that reviews one by one) would wait forever on a dependant listed before its
        precondition."""
        pending = [m for m in self.matters if m.selected and (stage is None or m.stage == stage)]
        listed = {m.matter_id for m in pending}
        ordered: list[str] = []
        while pending:
            # requires has no cycle (checked when the catalogue loads), so some matter is always free
            free = next(m for m in pending if all(r in ordered or r not in listed for r in m.requires))
            ordered.append(free.matter_id)
            pending.remove(free)
        return ordered

    def get(self, matter_id: str) -> PlannedMatter | None:
        return next((m for m in self.matters if m.matter_id == matter_id), None)

    def requires(self, matter_id: str) -> tuple[str, ...]:
        planned = self.get(matter_id)
        return planned.requires if planned else ()

    def dependants(self, matter_id: str) -> list[str]:
        """Selected matters that wait for ``matter_id`` (directly)."""
        return [m.matter_id for m in self.matters if m.selected and matter_id in m.requires]

    def all_dependants(self, matter_id: str) -> list[str]:
        """Every selected matter that builds on ``matter_id``, directly or through others (in plan order)."""
        found: list[str] = []
        todo = [matter_id]
        while todo:
            for dep in self.dependants(todo.pop()):
                if dep not in found and dep != matter_id:
                    found.append(dep)
                    todo.append(dep)
        order = [m.matter_id for m in self.matters]
        return sorted(found, key=order.index)

    def committed_ids(self, stage: str | None = None) -> list[str]:
        """Selected matters the owner files under 告知承诺制."""
        return [m.matter_id for m in self.matters
                if m.selected and m.mode == "commitment" and (stage is None or m.stage == stage)]

    def with_commitments(self, matter_ids: list[str]) -> ProjectPlan:
        """The plan with these matters in 告知承诺制 (the caller has checked they may be)."""
        chosen = set(matter_ids)
        return self.model_copy(update={"matters": tuple(
            m.model_copy(update={"mode": "commitment"}) if m.matter_id in chosen else m for m in self.matters)})


def case_facts(project_type: str, case: Mapping[str, Any]) -> dict[str, Any]:
    """The names a decision table reads: the case answers plus the project type."""
    return {**case, "project_type": project_type}


def build_plan(catalogue: Catalogue, project_type: str, stages: list[str], case: Mapping[str, Any],
               rules: MatterRules) -> ProjectPlan:
    """Decide every catalogue matter of the route's stages for this case (see the module docstring)."""
    facts = case_facts(project_type, case)
    planned: list[PlannedMatter] = []
    for stage in stages:
        for matter in catalogue.stage_candidates(stage):
            type_rule = catalogue.type_rule(matter, project_type)
            if type_rule is not None:
                rule = RuleRef(source="catalogue", id=type_rule[0], text=type_rule[1])
                selected = False
            else:
                decision = rules.decide(matter.id, {**facts, "matter": matter.id})
                if decision is None:
                    rule = RuleRef(source="not_listed", id="-", text="决策表未列出该事项：不办理（不得增加办事指南外的环节）")
                    selected = False
                else:
                    rule = RuleRef(source="decision_table", id=decision.rule_id, row=decision.row, text=decision.basis)
                    selected = decision.applies
            phased = selected and matter.phases and matter.phases_when and case.get(matter.phases_when) is True
            phases = tuple(p.id for p in matter.phases) if phased else ()
            setting = catalogue.profile.phased_permit
            ends = setting.stage_ends_after if phases and setting and setting.stage_ends_after != phases[-1] else None
            planned.append(PlannedMatter(matter_id=matter.id, name=matter.name, department=matter.department,
                                         stage=stage, selected=selected, rule=rule, phases=phases,
                                         stage_ends_after=ends))
    chosen = {m.matter_id for m in planned if m.selected}
    for m in planned:
        clash = sorted(set(catalogue.matter(m.matter_id).excludes) & chosen) if m.selected else []
        if clash:
            other = next(p for p in planned if p.matter_id == clash[0])
            raise PlanConflict(f"the rules select {m.matter_id} ({m.rule.id}) and {other.matter_id} ({other.rule.id}), "
                               "which exclude each other: correct the decision table")
    planned = [m.model_copy(update={"requires": tuple(r for r in catalogue.matter(m.matter_id).requires if r in chosen)})
               if m.selected else m for m in planned]
    return ProjectPlan(project_type=project_type, stages=tuple(stages), case=dict(case),
                       rules_version=rules.version, matters=tuple(planned))

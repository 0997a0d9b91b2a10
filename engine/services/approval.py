"""The service layer: every use case of the engine, one transaction each.

The CLI, the simulations and the HTTP API call these methods and nothing below them. A method loads the
project (from the in-memory identity map when the database version matches, so a busy project is not
deserialised on every step), runs SpiffWorkflow inside an :class:`ExecutionContext`, and writes back only
what changed — workflow parts, timed subjects, the human-task projection, new events, notices and credit
records — then commits once. Any error rolls everything back and evicts the cached copy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy.exc import IntegrityError

from engine.assets import bundled_dir
from engine.bpmn.runtime import ProcessRuntime, content_hash
from engine.bpmn.sandbox import capture_output
from engine.clock import Clock, SystemClock
from engine.bpmn.dmn import DecisionTableError, DmnMatterRules
from engine.domain.actors import SYSTEM, Actor
from engine.domain.authorisation import (
    completion_refusal,
    credit_read_refusal,
    may_act_for_owner,
    may_record_credit,
    may_read_project,
    release_refusal,
    task_scope,
)
from engine.domain.case import CaseError
from engine.domain.certificates import Changes, changes as certificate_changes
from engine.domain.catalogue import Catalogue, CatalogueError, UnknownIdError
from engine.domain.plan import PlanConflict, ProjectPlan, build_plan
from engine.services.rules import current_rules
from engine.domain.ledger import (FILING_OUTCOME_LABELS, PROJECT_RESULT_LABELS, PROJECT_RESULT_STATUS, Event, LedgerError,
                                  ProjectLedger, Subject, matter_result_label, project_result)
from engine.analytics.figures import stopped_natural_days
from engine.analytics.measures import last_to_finish, parallel_after
from engine.domain.timing import ClockStop
from engine.domain.project import Project, ProjectFiling
from engine.domain.tasks import (
    CommitmentPayload,
    FilingPayload,
    IntakePayload,
    PayloadError,
    PostCheckPayload,
    ReviewPayload,
    RevocationDecisionPayload,
    StatementPayload,
    SupplyPayload,
    TaskIds,
    parse_payload,
    responsibility,
)
from engine.domain.workcalendar import WorkCalendar
from engine.ops import metrics
from engine.persistence.ids import next_project_number
from engine.persistence.incidents import is_outage
from engine.persistence.uow import ConcurrentUpdate, UnitOfWork
from engine.services import functions
from engine.services.cache import WorkflowCache, default_max_bytes, estimate_bytes
from engine.services.errors import Conflict, Forbidden, Invalid, ModelFailure, NotFound
from engine.services.execution import ExecutionContext
from engine.services.models import load_definition

log = logging.getLogger(__name__)

BPMN_DIR = bundled_dir("bpmn")  # installed package or checkout (engine/assets.py)
MAIN_PROCESS = "project_approval"
FOUR_STAGES = ("S1", "S2", "S3", "S23", "S4")


@dataclass
class _Cached:
    version: int
    workflow: Any
    ledger: ProjectLedger
    ready: frozenset[str] = frozenset()  # the task ids the projection holds as ready at this version


@dataclass
class _Writes:
    """The rows one operation writes, prepared outside the writing transaction."""

    values: dict[str, Any] = field(default_factory=dict)  # the project row (status, next timer, …)
    closed: list[tuple[str, str, datetime, str | None]] = field(default_factory=list)  # (task, state, at, actor)
    ready: frozenset[str] = frozenset()  # ready human tasks after the step
    new_tasks: list[dict[str, Any]] = field(default_factory=list)
    subjects: list[tuple[Subject, dict[str, Any]]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    credit: list[dict[str, Any]] = field(default_factory=list)
    certificates: Changes = field(default_factory=Changes)  # 电子证照 issued / revoked by the step's events
    parts: dict[str, tuple[dict[str, Any], bool]] = field(default_factory=dict)


class StepUnit:
    """The unit of work an operation's step sees: reads go to the operation's read snapshot, writes are queued.

    Queued writes (:meth:`later`, :meth:`close_task`) run in the short writing transaction after the step, in
    order, and only if the project's version is still the one the step read — so a step that is run again after
    a concurrent change never writes twice.
    """

    def __init__(self, reader: UnitOfWork) -> None:
        self._reader = reader
        self.writes: list[Callable[[UnitOfWork], None]] = []
        self.closed: list[tuple[str, str, datetime, str | None]] = []
        # reading repositories of the snapshot
        self.projects, self.tasks, self.credit = reader.projects, reader.tasks, reader.credit
        self.subjects, self.events, self.definitions = reader.subjects, reader.events, reader.definitions
        self.certificates = reader.certificates

    def later(self, write: Callable[[UnitOfWork], None]) -> None:
        self.writes.append(write)

    def close_task(self, task_id: str, *, state: str, at: datetime, actor: str | None) -> None:
        """Close a task the step completed (written with the step's other task changes, in one statement)."""
        self.closed.append((task_id, state, at, actor))


class ApprovalService:
    """Deploy models, start projects, list and complete tasks, fire timers, read timings."""

    def __init__(self, db: Engine, *, catalogue: Catalogue, calendar: WorkCalendar | None = None,
                 clock: Clock | None = None, cache_size: int | None = None, cache_bytes: int | None = None) -> None:
        self.db = db
        self.catalogue = catalogue
        self.calendar = calendar or WorkCalendar.default()
        self.clock = clock or SystemClock()
        self._runtimes: dict[int, ProcessRuntime] = {}
        # live workflows between operations, bounded in estimated bytes (GONGAI_CACHE_MB, default 128 MB)
        self._cache: WorkflowCache[_Cached] = WorkflowCache(
            default_max_bytes() if cache_bytes is None else cache_bytes, cache_size)
        self.rules = load_matter_rules(catalogue)
        """The profile's file; an administrator's deployed table, when there is one, is used instead (rules.py)."""
        self._deployed_rules: dict[str, DmnMatterRules] = {}  # rules_version → checked table
        from engine.services.certificates import CertificateService  # 电子证照, 免于提交, 项目代码

        self.certificates = CertificateService(db, catalogue, self.clock)

    # -- definitions ----------------------------------------------------------------------------------------------
    def deploy(self, files: Mapping[str, bytes], *, process_id: str = MAIN_PROCESS, by: str | None = None) -> dict[str, Any]:
        """Validate and store a definition; the same content deploys once (versioned by content)."""
        digest = content_hash(files)
        with UnitOfWork(self.db) as uow:
            existing = uow.definitions.by_hash(digest)
            if existing:
                return {"id": existing["id"], "process_id": existing["process_id"], "version": existing["version"], "created": False}
            load_definition(files, process_id, main=process_id == MAIN_PROCESS)  # raises Invalid with every problem
            text = {name: data.decode("utf-8") for name, data in files.items()}
            try:
                definition_id = uow.definitions.add(process_id=process_id, content_hash=digest, files=text,
                                                    at=self.clock.now(), by=by)
                uow.commit()
            except IntegrityError:  # another process deployed at the same moment (two starting together)
                uow.rollback()
                return self._deployed_meanwhile(digest)
            row = uow.definitions.get(definition_id)
        assert row is not None
        return {"id": definition_id, "process_id": process_id, "version": row["version"], "created": True}

    def _deployed_meanwhile(self, digest: str) -> dict[str, Any]:
        with UnitOfWork(self.db, read_only=True) as uow:
            existing = uow.definitions.by_hash(digest)
        if existing is None:
            raise Conflict("another definition was deployed at the same moment; deploy again")
        return {"id": existing["id"], "process_id": existing["process_id"], "version": existing["version"], "created": False}

    def deploy_bundled(self) -> dict[str, Any]:
        """Deploy the product's own models from ``bpmn/`` (idempotent)."""
        files = {p.name: p.read_bytes() for p in sorted(BPMN_DIR.glob("*.bpmn"))}
        return self.deploy(files, by="system")

    def _runtime(self, definition_id: int, uow: UnitOfWork) -> ProcessRuntime:
        runtime = self._runtimes.get(definition_id)
        if runtime is None:
            row = uow.definitions.get(definition_id)
            if row is None:
                raise NotFound(f"definition {definition_id} does not exist")
            files = {name: text.encode("utf-8") for name, text in row["files"].items()}
            runtime = load_definition(files, row["process_id"])
            self._runtimes[definition_id] = runtime
        return runtime

    # -- projects -------------------------------------------------------------------------------------------------
    def start_project(self, filing: ProjectFiling | Mapping[str, Any], *, actor: Actor = SYSTEM,
                      project_id: str | None = None, also: Callable[[UnitOfWork, str], None] | None = None) -> str:
        """Register a project and start its approval process at its first stage's filing.

        ``also`` runs inside the filing's transaction with the new id (the API stores idempotency keys so).
        """
        if not isinstance(filing, ProjectFiling):
            filing = ProjectFiling.model_validate(dict(filing))
        if not may_act_for_owner(actor, filing.owner_id):
            raise Forbidden("only an owner (建设单位), in its own name, or its agent (帮办代办) may file a project")
        ptype = self._project_type(filing.project_type)
        stages = self.catalogue.route_stages(ptype.id, filing.include_planning)
        plan = self._plan(ptype.id, stages, filing.case)
        filing = filing.model_copy(update={"case": plan.case})
        if filing.commitment_matters:
            plan = self._commitment_plan(plan, filing.owner_id, filing.commitment_matters)
        if filing.project_code:
            self.certificates.check_code(filing.project_code, plan.case)
        s4_items = {m for m in plan.selected_ids("S4") if self.catalogue.matter(m).acceptance_role == "item"}
        for unit in filing.unit_works:
            unknown = [i for i in unit.early_items if i not in s4_items]
            if unknown:
                raise Invalid(f"unit_works.{unit.id}.early_items: {', '.join(unknown)} are not acceptance items "
                              f"for {ptype.id} (known: {', '.join(sorted(s4_items))})")
        now = self.clock.now()
        with UnitOfWork(self.db) as uow:
            definition = uow.definitions.latest(MAIN_PROCESS)
            if definition is None:
                raise Conflict("no approval model is deployed; run `gongai deploy` (or deploy_bundled) first")
            runtime = self._runtime(definition["id"], uow)
            pid = project_id or self._new_project_id(uow, now)
            if uow.projects.get(pid):
                raise Conflict(f"project {pid} already exists")
            if filing.project_code:
                self.certificates.check_unique(uow, filing.project_code)
            include_planning = "S0" in stages
            include_registration = filing.include_registration if filing.include_registration is not None else ptype.registration
            project = Project(id=pid, filing=filing, profile=self.catalogue.profile.id, definition_id=definition["id"],
                              created_at=now, plan=plan, project_code=filing.project_code)
            uow.projects.add(dict(
                id=pid, name=filing.name, project_type=ptype.id, owner_id=filing.owner_id, profile=project.profile,
                definition_id=definition["id"], status="running", result=None, filing=filing.model_dump(mode="json"),
                plan=plan.model_dump(mode="json"), created_at=now, completed_at=None, next_timer_at=None,
                division_code=filing.division_code, project_code=filing.project_code,
            ))
            ledger = ProjectLedger(pid)
            ctx = self._context(project, ledger, actor)
            ledger.emit(Event("project_started", now, actor=actor.id, data={
                "name": filing.name, "route": ptype.route, "case": plan.case, "rules_version": plan.rules_version,
                "matters": plan.selected_ids()}))
            for matter_id in plan.committed_ids():  # 告知承诺书: signed with the filing, one per matter
                ledger.emit(Event("commitment_signed", now, stage=plan.get(matter_id).stage, matter_id=matter_id,
                                  actor=actor.id, data={"signatory": filing.commitment_signatory or actor.id,
                                                        "mode": "commitment", "matter_id": matter_id}))
            data = {
                "project_type": ptype.id,
                "route": ptype.route,
                "include_planning": include_planning,
                "include_registration": bool(include_registration),
                "combined_registration": ptype.combined_registration,
                "utility_track": bool(plan.selected_ids("SU")) if "SU" in plan.stages else False,
                "unit_works": [u.model_dump() for u in filing.unit_works],
            }
            with functions.executing(ctx), _running_model(pid):
                workflow = runtime.new_workflow(data)
                runtime.advance(workflow, self.clock)
            version, ready = self._sync(uow, project, 1, runtime, workflow, ctx, new=True)
            if also is not None:
                also(uow, pid)
            uow.commit()
        self._remember(pid, _Cached(version, workflow, ledger, ready))
        return pid

    # -- the case (情形) and the plan ------------------------------------------------------------------------------
    def _project_type(self, project_type: str):
        try:
            return self.catalogue.project_type(project_type)
        except UnknownIdError:
            known = ", ".join(sorted(self.catalogue.project_types))
            raise Invalid(f"project_type: unknown project type '{project_type}' (known: {known})") from None

    def _plan(self, project_type: str, stages: list[str], answers: Mapping[str, Any]) -> ProjectPlan:
        try:
            case = self.catalogue.case.validate_answers(project_type, answers)
        except CaseError as exc:
            raise Invalid(str(exc)) from None
        try:
            return build_plan(self.catalogue, project_type, stages, case, current_rules(self))
        except PlanConflict as exc:
            raise Invalid(f"case: {exc}") from None

    def _commitment_plan(self, plan: ProjectPlan, owner_id: str, matter_ids: list[str]) -> ProjectPlan:
        """告知承诺制 chosen at filing: every named matter must allow it, be in this project's plan and not be
        barred by the owner's credit; otherwise a 422 naming each refused matter (nothing is filed)."""
        problems: list[str] = []
        with UnitOfWork(self.db, read_only=True) as uow:
            records = uow.credit.for_owner(owner_id)
        for matter_id in dict.fromkeys(matter_ids):
            try:
                matter = self.catalogue.matter(matter_id)
            except UnknownIdError:
                problems.append(f"commitment_matters: unknown matter '{matter_id}'")
                continue
            if not matter.commitment_allowed:
                problems.append(f"commitment_matters: {matter_id}（{matter.name}）does not allow 告知承诺制")
            elif matter_id not in plan.selected_ids():
                problems.append(f"commitment_matters: {matter_id}（{matter.name}）is not in this project's plan")
            else:
                bar = self._credit_bar(records, "commitment", matter_id)
                if bar:
                    problems.append(f"commitment_matters: {matter_id}（{matter.name}）: {bar}")
        if problems:
            message = "; ".join(problems)  # every refused matter named (api/pages/refusals.py words each)
            raise Invalid(message)
        return plan.with_commitments(list(dict.fromkeys(matter_ids)))

    def _credit_bar(self, records: list[dict[str, Any]], privilege: str, matter_id: str | None) -> str | None:
        """Why the owner's 失信 records bar ``privilege`` for this matter (the profile's credit rules), or None."""
        if privilege == "commitment" and not self.catalogue.profile.commitment_requires_good_credit:
            return None
        if privilege == "tolerance" and not self.catalogue.profile.tolerance_requires_good_credit:
            return None
        days = self.catalogue.credit_bar_days(privilege, matter_id)
        since = self.clock.now() - timedelta(days=days)
        hits = [r for r in records if r["at"] >= since]
        if not hits:
            return None
        what = {"tolerance": "容缺受理", "commitment": "告知承诺制"}[privilege]
        return (f"owner credit is not good: a 失信 record of {hits[-1]['at'].date().isoformat()} bars {what} for "
                f"{days} days（{hits[-1]['reason']}）")

    def case_questions(self, project_type: str) -> list[dict[str, Any]]:
        """The 情形 questionnaire an owner of ``project_type`` answers (choices offered to that type only)."""
        return self.catalogue.case.for_type(self._project_type(project_type).id)

    def preview_plan(self, project_type: str, case: Mapping[str, Any] | None = None, *,
                     include_planning: bool | None = None) -> dict[str, Any]:
        """The matters a project with this case would do, and why — before anything is filed."""
        ptype = self._project_type(project_type)
        stages = self.catalogue.route_stages(ptype.id, include_planning)
        return plan_view(self.catalogue, self._plan(ptype.id, stages, case or {}))

    def plan(self, project_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """A filed project's matters with the rule that decided each (a clerk's "why must I do this?")."""
        with UnitOfWork(self.db, read_only=True) as uow:
            row = uow.projects.get(project_id)
            if row is None or (actor is not None and not _may_read(actor, row, uow)):
                raise NotFound(f"project {project_id} does not exist")
        project = Project.from_record(row)
        if project.plan is None:
            raise Conflict(f"project {project_id} was filed before case plans existed; it runs its type's catalogue matters")
        return {"project_id": project_id} | plan_view(self.catalogue, project.plan)

    def owner_credit_good(self, owner_id: str) -> bool:
        """信用: no 失信 record of the owner within the profile's ``credit_bar_days`` (the system's records)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            return self._credit_good(uow, owner_id)

    def _credit_good(self, uow: UnitOfWork, owner_id: str) -> bool:
        since = self.clock.now() - timedelta(days=self.catalogue.profile.credit_bar_days)
        return not any(r["at"] >= since for r in uow.credit.for_owner(owner_id))

    def credit_standing(self, owner_id: str, *, actor: Actor) -> dict[str, Any]:
        """An owner's 信用 as the rules read it: good or not, why, and for how long a record bars 容缺受理."""
        refusal = credit_read_refusal(actor, owner_id)
        if refusal:
            raise Forbidden(refusal)
        with UnitOfWork(self.db, read_only=True) as uow:
            good = self._credit_good(uow, owner_id)
            records = uow.credit.for_owner(owner_id)
        rules = [{"privilege": r.privilege, "matters": list(r.matters) if r.matters is not None else None,
                  "bar_days": r.bar_days} for r in self.catalogue.profile.credit_rules]
        return {"owner_id": owner_id, "good": good, "bar_days": self.catalogue.profile.credit_bar_days,
                "rules": rules,
                "records": [{"at": r["at"].isoformat(), "project_id": r["project_id"], "stage": r["stage"],
                             "reason": r["reason"]} for r in records]}

    def record_credit(self, owner_id: str, reason: str, *, actor: Actor) -> dict[str, Any]:
        """An operator records external credit information (失信记录 from the credit platform)."""
        if not may_record_credit(actor):
            raise Forbidden("only an administrator records external credit information")
        if not owner_id.strip() or not reason.strip():
            raise Invalid("owner_id and reason: both are required")
        row = {"project_id": None, "owner_id": owner_id, "at": self.clock.now(), "stage": None,
               "reason": f"{reason}（{actor.id} 录入）"}
        with UnitOfWork(self.db) as uow:
            uow.credit.add([row])
            uow.commit()
        return {"owner_id": owner_id, "at": row["at"].isoformat(), "reason": row["reason"]}

    def _new_project_id(self, uow: UnitOfWork, now: datetime) -> str:
        """P<year>-<number>: the number from the database (engine/persistence/ids.py), safe across processes."""
        while True:  # skips only numbers an explicitly chosen id (project_id=…) already took
            candidate = f"P{now.year}-{next_project_number(uow.conn):06d}"
            if uow.projects.get(candidate) is None:
                return candidate

    def _context(self, project: Project, ledger: ProjectLedger, actor: Actor) -> ExecutionContext:
        return ExecutionContext(project=project, ledger=ledger, catalogue=self.catalogue, calendar=self.calendar,
                                clock=self.clock, actor=actor.id)

    # -- the operation skeleton -----------------------------------------------------------------------------------
    #: how often an operation is run again when another request changed its project between its read and its write
    OPERATION_ATTEMPTS = 8

    def _operate(self, project_id: str | None, actor: Actor, work: Callable[[StepUnit, Project, ProcessRuntime, Any, ExecutionContext], Any],
                 *, locate: Callable[[UnitOfWork], str] | None = None) -> Any:
        """Run ``work`` on the project read from a snapshot, then write what changed in one short transaction.

        The workflow step runs without any write lock (SQLite's lock is database-wide, so holding it for the step
        serialised every project of every process); the write transaction starts with the versioned UPDATE of the
        project row (the optimistic check) and writes only rows prepared beforehand. When another request changed
        the project in between, nothing is written and the whole operation — read, step, write — runs again on the
        new state (:class:`ConcurrentUpdate` escapes only after ``OPERATION_ATTEMPTS``). ``locate`` reads, on the
        same snapshot, what names the project (a task row) when the caller does not know it yet.
        """
        for attempt in range(self.OPERATION_ATTEMPTS):
            try:
                return self._operate_once(project_id, actor, work, locate)
            except ConcurrentUpdate:
                if attempt == self.OPERATION_ATTEMPTS - 1:
                    raise
                time.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _operate_once(self, project_id: str | None, actor: Actor,
                      work: Callable[[StepUnit, Project, ProcessRuntime, Any, ExecutionContext], Any],
                      locate: Callable[[UnitOfWork], str] | None) -> Any:
        # The cached copy is taken out of the identity map while this operation mutates it, so no other
        # thread can see a half-changed workflow; it goes back only after a successful commit.
        with UnitOfWork(self.db, read_only=True) as reader:
            if locate is not None:
                project_id = locate(reader)
            assert project_id is not None
            row = reader.projects.get(project_id)
            if row is None:
                raise NotFound(f"project {project_id} does not exist")
            cached = self._cache.take(project_id)
            project = Project.from_record(row)
            runtime = self._runtime(row["definition_id"], reader)
            if cached is not None and cached.version == row["version"]:
                workflow, ledger, known = cached.workflow, cached.ledger, set(cached.ready)
            else:
                top, parts = reader.parts.load(project_id)
                workflow = runtime.load(top, parts)
                ledger = ProjectLedger(project_id, reader.subjects.load(project_id))
                known = reader.tasks.ready_ids(project_id)
            step = StepUnit(reader)
            ctx = self._context(project, ledger, actor)
            with functions.executing(ctx), _running_model(project_id):
                result = work(step, project, runtime, workflow, ctx)
            writes = self._prepare(project, runtime, workflow, ctx, known - {c[0] for c in step.closed})
            writes.closed[:0] = step.closed
        with UnitOfWork(self.db) as uow:
            version = uow.projects.update(project_id, row["version"], **writes.values)
            self._apply(uow, project, writes)
            for write in step.writes:
                write(uow)
            uow.commit()
        self._remember(project_id, _Cached(version, workflow, ledger, writes.ready))
        return result

    def _remember(self, project_id: str, entry: _Cached) -> None:
        self._cache.put(project_id, entry, estimate_bytes(entry.workflow))

    # -- tasks ----------------------------------------------------------------------------------------------------
    def list_tasks(self, *, actor: Actor | None = None, role: str | None = None, department: str | None = None,
                   project_id: str | None = None, state: str | None = "ready", stage: str | None = None) -> list[dict[str, Any]]:
        """Tasks visible to ``actor``, soonest due first; agencies see only their department's."""
        return self.task_page(actor=actor, role=role, department=department, project_id=project_id, state=state,
                              stage=stage, limit=None)[0]

    def task_page(self, *, actor: Actor | None = None, role: str | None = None, department: str | None = None,
                  project_id: str | None = None, state: str | None = "ready", stage: str | None = None,
                  project_type: str | None = None, spec_id: str | None = None, limit: int | None = 200,
                  after: tuple[datetime | None, datetime, str] | None = None) -> tuple[list[dict[str, Any]], bool]:
        """One page of :meth:`list_tasks` filtered and ordered by the database, and whether more rows follow it
        (``after``: the keyset position of the previous page's last row, see ``queries.task_position``)."""
        owner_ids = None
        if actor is not None:
            scope = task_scope(actor)
            role = scope.get("role", role)
            department = scope.get("department", department)
            owner_ids = scope.get("owner_ids")
        with UnitOfWork(self.db, read_only=True) as uow:
            rows = uow.tasks.list(state=state, role=role, department=department, owner_ids=owner_ids,
                                  project_id=project_id, stage=stage, project_type=project_type, spec_id=spec_id,
                                  limit=None if limit is None else limit + 1, after=after)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if more else rows
        now = self.clock.now()
        for row in rows:
            row["colour"] = self._colour(row.get("due_at"), now) if row["state"] == "ready" else None
        return rows, more

    def _colour(self, due: datetime | None, now: datetime) -> str:
        if due is None:
            return "none"
        # far from now the colour needs no day-by-day walk (which costs a lookup per calendar day): any 14
        # natural days hold a working day (the longest 放假 is 9 days), and 2×warning+14 natural days hold more
        # than ``warning_days`` of them — an inbox of long-overdue tasks stays cheap to read
        warning = self.catalogue.profile.warning_days
        if due < now - timedelta(days=14):
            return "red"
        if due > now + timedelta(days=2 * warning + 14):
            return "green"
        remaining = self.calendar.working_days(now, due)
        if remaining < 0:
            return "red"
        if remaining <= self.catalogue.profile.warning_days:
            return "yellow"
        return "green"

    def complete_task(self, task_id: str, payload: Mapping[str, Any], *, actor: Actor,
                      also: Callable[[UnitOfWork, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Complete a ready task with a validated payload; refuse anything else, changing nothing.

        ``also`` runs inside the completing transaction with the result (the API stores idempotency keys so).
        """
        row: dict[str, Any] = {}
        parsed: Any = None

        def locate(reader: UnitOfWork) -> str:
            """The task row (refusals first), read on the operation's own snapshot: no separate transaction."""
            nonlocal parsed
            row.clear()
            row.update(self._actionable_task(reader, task_id, actor))
            try:
                parsed = parse_payload(row["spec_id"], dict(payload))
            except PayloadError as exc:
                raise Invalid(f"{row['name']}: {exc}") from None
            return row["project_id"]

        def work(uow: StepUnit, project: Project, runtime: ProcessRuntime, workflow: Any, ctx: ExecutionContext) -> dict[str, Any]:
            try:
                task = runtime.get_task(workflow, task_id)
            except KeyError:
                raise Conflict(f"task {task_id} is no longer part of project {project.id}") from None
            if not task.has_state(_READY) :
                raise Conflict(f"task {task_id} ({row['name']}) is not ready")
            data = self._task_data(row, parsed, project, ctx, uow)
            now = self.clock.now()
            uow.close_task(task_id, state="done", at=now, actor=actor.id)
            ctx.ledger.emit(Event("task_completed", now, stage=row.get("stage"), matter_key=row.get("matter_key"),
                                  matter_id=_matter_id(row), department=row.get("department"), actor=actor.id,
                                  task_id=task_id, data={"task": row["spec_id"], "name": row["name"],
                                                         "payload": _jsonable(payload)}))
            runtime.run_task(workflow, task_id, data, self.clock)
            result = {"task_id": task_id, "project_id": project.id, "completed_at": now.isoformat()}
            if also is not None:
                uow.later(lambda writer: also(writer, result))
            return result

        try:
            return self._operate(None, actor, work, locate=locate)
        except LedgerError as exc:
            raise Conflict(str(exc)) from None

    @staticmethod
    def _actionable_task(uow: UnitOfWork, task_id: str, actor: Actor) -> dict[str, Any]:
        """The task row, if it exists, is ready and ``actor`` may act on it; otherwise the refusal."""
        row = uow.tasks.get(task_id, with_project=True)  # the caller reads the project next: same statement
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        if row["state"] != "ready":
            raise Conflict(f"task {task_id} ({row['name']}) is not ready: it is {row['state']}")
        refusal = completion_refusal(actor, row)
        if refusal:
            raise Forbidden(refusal)
        return row

    def claim_task(self, task_id: str, *, actor: Actor) -> dict[str, Any]:
        """认领: the officer takes a ready task of its department; colleagues cannot complete it meanwhile."""
        now = self.clock.now()
        with UnitOfWork(self.db) as uow:
            row = self._actionable_task(uow, task_id, actor)
            if row.get("claimed_by") != actor.id:
                if not uow.tasks.claim(task_id, actor=actor.id, at=now, expected=None):
                    raise Conflict(f"task {task_id} was claimed by someone else meanwhile")
                self._log_task_event(uow, row, "task_claimed", actor, now)
            uow.commit()
            return uow.tasks.get(task_id) or row

    def release_task(self, task_id: str, *, actor: Actor) -> dict[str, Any]:
        """Give a claimed task back (its claimer, or an administrator)."""
        now = self.clock.now()
        with UnitOfWork(self.db) as uow:
            row = uow.tasks.get(task_id)
            if row is None:
                raise NotFound(f"task {task_id} does not exist")
            claimer = row.get("claimed_by")
            if claimer is None:
                raise Conflict(f"task {task_id} is not claimed")
            refusal = release_refusal(actor, claimer)
            if refusal:
                raise Forbidden(refusal)
            if not uow.tasks.claim(task_id, actor=None, at=None, expected=claimer):
                raise Conflict(f"task {task_id} changed meanwhile")
            self._log_task_event(uow, row, "task_released", actor, now)
            uow.commit()
            return uow.tasks.get(task_id) or row

    @staticmethod
    def _log_task_event(uow: UnitOfWork, row: dict[str, Any], kind: str, actor: Actor, at: datetime) -> None:
        """Append a task's claim/release to the event log (outside a workflow step, so no ledger)."""
        project = uow.projects.get(row["project_id"])
        uow.events.append(row["project_id"], project["project_type"] if project else "",
                          [Event(kind, at, stage=row.get("stage"), matter_key=row.get("matter_key"),
                                 department=row.get("department"), actor=actor.id, task_id=row["id"])])

    def _task_data(self, row: dict[str, Any], parsed: Any, project: Project, ctx: ExecutionContext,
                   uow: UnitOfWork) -> dict[str, Any]:
        """Turn a validated payload into the process variables the model reads, enforcing domain rules."""
        now = self.clock.now()
        stage = row.get("stage")
        if isinstance(parsed, FilingPayload):
            submitted = self._materials(project, stage, parsed.materials, field="materials")
            declared = self._materials(project, stage, parsed.declared_missing, field="declared_missing")
            # 免于提交: what a valid certificate of the project provides is filled in from it, never asked for
            exempted = self.certificates.exemptions(uow.certificates, project, stage, now)
            declared = [m for m in declared if m["id"] not in exempted]
            materials = list(dict.fromkeys([m["id"] for m in submitted] + list(exempted)))
            self._received(ctx, stage or "", now)
            ctx.ledger.emit(Event("stage_submitted", now, stage=stage, actor=ctx.actor, data={
                "materials": materials, "declared_missing": [m["id"] for m in declared],
                **({"exempted": list(exempted.values())} if exempted else {})}))
            return {"filing": {"materials": materials, "declared_missing": [m["id"] for m in declared],
                               "exempted": list(exempted.values()), "note": parsed.note},
                    "received_at": now.isoformat()}  # 视为受理 counts from the day the window received it
        if isinstance(parsed, IntakePayload):
            missing = self._required(project, self._materials(project, stage, parsed.missing), parsed.missing)
            self.certificates.refuse_exempted_missing(uow.certificates, row, missing, now)
            if parsed.outcome == "tolerance":
                records = uow.credit.for_owner(project.filing.owner_id)
                bars = list(dict.fromkeys(bar for m in dict.fromkeys(item["matter_id"] for item in missing)
                                          if (bar := self._credit_bar(records, "tolerance", m))))
                decision = self.catalogue.tolerance_check(
                    project.project_type, stage, parsed.missing, not bars,
                    matter_ids=project.plan.selected_ids(stage) if project.plan else None,
                    credit_reason="; ".join(bars) if bars else None)
                if not decision.allowed:
                    raise Invalid("容缺受理 is not allowed: " + "; ".join(decision.reasons))
            if parsed.outcome == "incomplete":
                earlier = [e for e in uow.events.for_project(project.id)
                           if e["type"] == "intake_notice" and e["stage"] == stage]
                if earlier and not (parsed.new_defect and parsed.new_defect.strip()):
                    first = earlier[0]
                    raise Invalid(
                        f"new_defect: stage {stage} already had its 一次性告知 ({first['at'].isoformat()}: "
                        f"{'；'.join((first.get('data') or {}).get('items') or [])}); a further notice is refused unless "
                        "the correction itself introduced a new defect — give 'new_defect' with the reason")
                ctx.ledger.emit(Event("intake_notice", now, stage=stage, department="window", actor=ctx.actor,
                                      data={"items": [m["name"] for m in missing], "notice_no": len(earlier) + 1,
                                            "new_defect": parsed.new_defect}))
                ctx.notify("correction_notice", stage=stage, text="；".join(m["name"] for m in missing),
                           data={"items": missing})
                ctx.ledger.filing_returned(stage or "", now)  # with the owner until it resubmits: not the window's time
            return {"intake": parsed.outcome, "missing": missing if parsed.outcome == "tolerance" else []}
        if isinstance(parsed, ReviewPayload):
            data: dict[str, Any] = {"decision": parsed.decision, "reason": parsed.reason,
                                    "correction_items": parsed.items, "procedure": None}
            if parsed.decision == "special":
                try:
                    proc = self.catalogue.special_procedure(parsed.procedure or "")
                except UnknownIdError:
                    known = ", ".join(sorted(self.catalogue.special_procedures))
                    raise Invalid(f"procedure: unknown special procedure '{parsed.procedure}' (known: {known})") from None
                data["procedure"] = proc.id
            if parsed.certificate_no:
                data["certificate_no"] = parsed.certificate_no
            return data
        if isinstance(parsed, PostCheckPayload):
            ctx.ledger.complete_check(row["matter_key"], parsed.passed, now, actor=ctx.actor, findings=parsed.findings)
            return {"check_result": {"passed": parsed.passed, "findings": parsed.findings}}
        if isinstance(parsed, StatementPayload):
            ctx.ledger.emit(Event("statement_submitted", now, stage=stage, actor=ctx.actor,
                                  data={"statement": parsed.statement, "evidence": parsed.evidence}))
            return {"statement": {"text": parsed.statement, "evidence": parsed.evidence}}
        if isinstance(parsed, RevocationDecisionPayload):
            ctx.ledger.emit(Event("revocation_decided", now, stage=stage, department=row.get("department"),
                                  actor=ctx.actor, data={"decision": parsed.decision, "reason": parsed.reason}))
            return {"revocation": {"decision": parsed.decision, "reason": parsed.reason}}
        if isinstance(parsed, CommitmentPayload):
            ctx.ledger.emit(Event("commitment_signed", now, stage=stage, actor=ctx.actor,
                                  data={"signatory": parsed.signatory}))
            return {"commitment_signed": True}
        if isinstance(parsed, SupplyPayload):
            ctx.ledger.emit(Event("documents_supplied", now, stage=stage, actor=ctx.actor,
                                  data={"documents": parsed.documents}))
            # 核查 is counted from the moment the agency has the supplied documents, not from the stage result:
            # an owner supplying on the last day of its deadline must not make the agency's check overdue
            for check in [s for s in ctx.ledger.of_level("check") if s.stage == stage and s.ended_at is None]:
                ctx.ledger.start_check(check.key, now, name=check.name, stage=stage, matter_id=check.matter_id or "",
                                       department=check.department or "", limit_wd=check.committed_limit_wd)
            return {"supplied_documents": parsed.documents}
        if isinstance(parsed, dict):
            return parsed
        data = parsed.model_dump(exclude_none=True)
        if row["spec_id"] == "Task_CorrectFiling":  # a resubmission after the 一次性告知 is received anew
            data["received_at"] = now.isoformat()
            self._received(ctx, stage or "", now)
        return data

    def _received(self, ctx: ExecutionContext, stage: str, now: datetime) -> None:
        """The window holds a stage filing from now (submitted, or resubmitted after a 一次性告知): 受理用时."""
        ctx.ledger.receive_filing(stage, ctx.stage_name(stage), now, limit_wd=self.catalogue.profile.intake_limit_wd)

    def _required(self, project: Project, found: list[dict[str, Any]], asked: list[str]) -> list[dict[str, Any]]:
        """The materials a filing still needs: under 告知承诺制 the signed commitment replaces the matter's
        ``commitment_waives`` materials, so the window may not list them as missing (a 422 naming them)."""
        if project.plan is None or not project.plan.committed_ids():
            return found
        committed = set(project.plan.committed_ids())

        def waived(item: dict[str, Any]) -> bool:
            return (item["matter_id"] in committed and
                    item["id"].split(":", 1)[1] in self.catalogue.matter(item["matter_id"]).commitment_waives)

        kept = [item for item in found if not waived(item)]
        refused = [ident for ident in asked
                   if not any(k["id"].endswith(":" + ident.rpartition(":")[2]) and
                              (not ident.rpartition(":")[0] or k["matter_id"] == ident.rpartition(":")[0]) for k in kept)]
        if refused:
            raise Invalid(f"missing: {', '.join(refused)} replaced by the signed commitment (告知承诺制): the matter is "
                          "decided without it and checked in the 核查 afterwards")
        return kept

    def _materials(self, project: Project, stage: str | None, ids: list[str], *, field: str = "missing") -> list[dict[str, Any]]:
        """Resolve material ids (``material`` or ``matter:material``) of a stage filing to named entries."""
        if not ids:
            return []
        if project.plan is not None:
            matters = [self.catalogue.matter(m) for m in project.plan.selected_ids(stage)]
        else:
            matters = self.catalogue.matters_for(project.project_type, stage or "")
        out: list[dict[str, Any]] = []
        unknown: list[str] = []
        for ident in ids:
            matter_id, _, material_id = ident.rpartition(":")
            found = [(m, mat) for m in matters for mat in m.materials
                     if mat.id == material_id and (not matter_id or m.id == matter_id)]
            if not found:
                unknown.append(ident)
            for matter, material in found:
                out.append({"id": f"{matter.id}:{material.id}", "name": material.name, "key": material.key,
                            "matter_id": matter.id, "department": matter.department})
        if unknown:
            raise Invalid(f"{field}: unknown material(s) {', '.join(unknown)} for stage {stage} of this project")
        return out

    def submit_filing(self, project_id: str, stage: str, *, actor: Actor, materials: list[str] | None = None,
                      declared_missing: list[str] | None = None, note: str | None = None) -> dict[str, Any]:
        """提交阶段申报: the owner files the stage (one form, its materials, the ones it declares missing)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            rows = uow.tasks.list(project_id=project_id, stage=stage)
        match = [r for r in rows if r["spec_id"] == TaskIds.SUBMIT_FILING]
        if not match:
            raise Conflict(f"project {project_id} is not waiting for a filing of stage {stage}")
        payload: dict[str, Any] = {"materials": materials or [], "declared_missing": declared_missing or []}
        if note:
            payload["note"] = note
        return self.complete_task(match[0]["id"], payload, actor=actor)

    def withdraw(self, project_id: str, *, actor: Actor, reason: str,
                 also: Callable[[UnitOfWork, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """撤回申请: the owner (or its agent) withdraws a running project; everything still open ends with it."""
        if not reason or not reason.strip():
            raise Invalid("reason: a withdrawal needs a reason")
        with UnitOfWork(self.db, read_only=True) as uow:
            row = uow.projects.get(project_id)
        if row is None or not may_act_for_owner(actor, row["owner_id"]):
            if row is not None and actor.role not in ("owner", "agent"):
                raise Forbidden("only the project's owner (建设单位) or its agent may withdraw it")
            raise NotFound(f"project {project_id} does not exist")
        if row["status"] != "running":
            raise Conflict(f"project {project_id} is {row['status']}, it cannot be withdrawn")

        def work(uow: StepUnit, project: Project, runtime: ProcessRuntime, workflow: Any, ctx: ExecutionContext) -> dict[str, Any]:
            now = self.clock.now()
            ctx.project_result = "withdrawn"
            ctx.notify("withdrawn", text=f"项目已撤回：{reason}")
            workflow.cancel()
            result = {"project_id": project.id, "status": "withdrawn", "withdrawn_at": now.isoformat(), "reason": reason}
            if also is not None:
                uow.later(lambda writer: also(writer, result))  # inside the writing transaction
            return result

        return self._operate(project_id, actor, work)

    def supply_documents(self, project_id: str, stage: str, documents: list[str], *, actor: Actor) -> dict[str, Any]:
        """Deliver the 'documents supplied' event of a tolerance commitment (补齐容缺材料)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            rows = uow.tasks.list(project_id=project_id, stage=stage)
        match = [r for r in rows if r["spec_id"] == TaskIds.SUPPLY_DOCUMENTS]
        if not match:
            raise Conflict(f"project {project_id} is not waiting for tolerated documents of stage {stage}")
        return self.complete_task(match[0]["id"], {"documents": documents}, actor=actor)

    # -- timers ---------------------------------------------------------------------------------------------------
    def fire_timers(self, *, limit: int = 500) -> int:
        """Advance every project whose earliest timer is due on the engine's clock. Returns how many ran.

        A project that fails to load or step becomes an incident (engine/services/incidents.py) and the round
        goes on with the others; a database outage (``is_outage``) ends the round for the caller to back off.
        """
        now = self.clock.now()
        with UnitOfWork(self.db, read_only=True) as uow:
            due = uow.projects.due_timers(now, limit)
        metrics.TIMERS_DUE.set(len(due))
        fired = 0
        for project_id, due_at in due:
            try:
                self.run_timers(project_id)
                fired += 1
                metrics.TIMERS_FIRED.inc()
                metrics.TIMERS_LATE.observe(max(0.0, (now - due_at).total_seconds()))
            except ConcurrentUpdate:
                log.info("project %s changed while firing timers; it will be retried", project_id)
            except Exception as exc:  # noqa: BLE001 - one broken project (ModelFailure included) must not stop the others
                if is_outage(exc):
                    raise
                with UnitOfWork(self.db) as uow:
                    incident = uow.incidents.record(project_id, "timer", exc, self.clock.now())
                    uow.commit()
                metrics.INCIDENTS_OPENED.inc()
                log.error("timers of project %s failed; incident %s opened, its timers wait for an administrator",
                          project_id, incident, exc_info=exc, extra={"project": project_id, "incident": incident})
        with UnitOfWork(self.db, read_only=True) as uow:
            metrics.INCIDENTS_OPEN.set(uow.incidents.count_open())
        self.certificates.expiry_pass()  # 电子证照: expired ones marked, 到期提醒 queued
        return fired

    def run_timers(self, project_id: str) -> None:
        """Fire whatever is due in one project (one transaction)."""
        self._operate(project_id, SYSTEM, lambda uow, p, runtime, wf, ctx: runtime.advance(wf, self.clock))

    def next_timer_at(self) -> datetime | None:
        with UnitOfWork(self.db, read_only=True) as uow:
            return uow.projects.next_timer_at()

    # -- persistence of one operation -----------------------------------------------------------------------------
    def _sync(self, uow: UnitOfWork, project: Project, version: int, runtime: ProcessRuntime, workflow: Any,
              ctx: ExecutionContext, *, new: bool = False) -> tuple[int, frozenset[str]]:
        """Prepare and write an operation's changes inside ``uow`` (a new project: nothing to compare with);
        returns the project's new version and its ready task ids."""
        writes = self._prepare(project, runtime, workflow, ctx, set() if new else uow.tasks.ready_ids(project.id))
        self._apply(uow, project, writes)
        if not new:
            version = uow.projects.update(project.id, version, **writes.values)
        return version, writes.ready

    def _prepare(self, project: Project, runtime: ProcessRuntime, workflow: Any, ctx: ExecutionContext,
                 known: set[str]) -> _Writes:
        """Everything a step changed, as rows — computed before the writing transaction opens (no lock held).

        ``known`` are the task ids the projection holds as ready (less those the step itself closed).
        """
        now = self.clock.now()
        ledger = ctx.ledger
        writes = _Writes()
        # human-task projection
        ready = {t.id: t for t in runtime.ready_human_tasks(workflow)}
        writes.ready = frozenset(ready)
        for gone in sorted(known - set(ready)):
            writes.closed.append((gone, "cancelled", now, None))
            ledger.emit(Event("task_completed", now, task_id=gone, data={"cancelled": True}))
        for task_id in sorted(set(ready) - known):
            task = ready[task_id]
            row = self._task_row(project, task, ctx)
            writes.new_tasks.append(row)
            ledger.emit(Event("task_ready", now, stage=row["stage"], matter_key=row["matter_key"],
                              matter_id=_matter_id(row), department=row["department"], task_id=task_id,
                              data={"task": task.spec_id, "name": task.name, "role": row["role"]}))
        # project outcome
        values: dict[str, Any] = {"next_timer_at": runtime.next_timer_at(workflow)}
        if workflow.is_completed():
            result, revoked = (ctx.project_result, []) if ctx.project_result else self._project_result(ledger)
            status = PROJECT_RESULT_STATUS.get(result, "stopped")
            ledger.close_open(now, reason=f"项目已终止（{PROJECT_RESULT_LABELS.get(result, result)}）")
            values.update(status=status, result=result, completed_at=now, next_timer_at=None)
            kind = {"completed": "project_completed", "withdrawn": "project_withdrawn"}.get(status, "project_stopped")
            data: dict[str, Any] = {"result": result, "label": PROJECT_RESULT_LABELS.get(result, result)}
            if revoked:  # 撤销 is per permit: which ones no longer stand
                data["revoked_matters"] = [{"matter_key": m.key, "matter_id": m.matter_id, "name": m.name,
                                            "reason": m.attrs.get("revocation_reason")} for m in revoked]
            owner_act = ctx.project_result == "withdrawn"  # 撤回申请 (the owner), not a filing 视为撤回 (the clock)
            ledger.emit(Event(kind, now, actor=ctx.actor if owner_act else None, data=data))
        writes.values = values
        # timing subjects (changed ones, their stages, and the whole process)
        writes.subjects, writes.events = self._flush_ledger(project, ledger, now, finished=bool(workflow.is_completed()))
        writes.certificates = certificate_changes(self.catalogue, writes.events)
        writes.notices, writes.credit = ctx.notices, ctx.credit
        ctx.notices, ctx.credit = [], []
        top, parts = runtime.dump(workflow)
        writes.parts = {"top": (top, bool(workflow.is_completed()))}
        for part_id, part in parts.items():
            writes.parts[part_id] = (part, bool(part.get("completed")))
        return writes

    def _apply(self, uow: UnitOfWork, project: Project, writes: _Writes) -> None:
        """Write prepared rows (the project row itself is the caller's: it carries the version check)."""
        uow.tasks.close_many(writes.closed)
        uow.tasks.add_many(writes.new_tasks)
        uow.subjects.save(project.id, project.project_type, writes.subjects, profile=project.profile,
                          division_code=project.filing.division_code)
        uow.events.append(project.id, project.project_type, writes.events)
        if writes.certificates:  # the projection, in the transaction that writes its events
            self.certificates.apply(uow, project, writes.certificates)
        uow.notifications.add(writes.notices)
        uow.credit.add(writes.credit)
        uow.parts.save(project.id, writes.parts)

    def _flush_ledger(self, project: Project, ledger: ProjectLedger, now: datetime, *, finished: bool = True) -> tuple[list[tuple[Subject, dict[str, Any]]], list[Event]]:
        rule = TimingRuleFor(self.catalogue)
        dirty_stages = {ledger.subjects[k].stage for k in ledger.dirty if ledger.subjects[k].stage}
        for stage in dirty_stages:
            if stage in ledger.subjects:
                ledger.dirty.add(stage)
        if dirty_stages & set(FOUR_STAGES):
            start, end, gaps = ledger.project_window(FOUR_STAGES, now=now, rule=rule)
            acceptance = ledger.find("S4")
            if end is not None and not finished and (acceptance is None or acceptance.ended_at is None):
                # every stage so far has ended but the process goes on to 竣工验收 (the owner prepares the next
                # filing): the whole process is still open and the wait until the next acceptance is not counted
                end, gaps = None, [*gaps, ClockStop(end, None, "correction")]
            if start is not None:
                subject = ledger.find("project") or Subject(key="project", level="project", name=project.filing.name)
                subject.started_at, subject.ended_at, subject.stops = start, end, gaps
                limit = self.catalogue.whole_process_limit_wd(project.project_type)
                subject.committed_limit_wd = subject.statutory_limit_wd = limit
                ledger.subjects["project"] = subject
                ledger.dirty.add("project")
        # 并联 (analytics): a matter starting or ending can change when its stage siblings count as parallel
        for stage in dirty_stages:
            siblings = [m for m in ledger.of_level("matter") if m.stage == stage and m.started_at is not None]
            for key, after in parallel_after([(m.key, m.started_at, m.ended_at) for m in siblings]).items():
                value = after.isoformat() if after else None
                if ledger.subjects[key].attrs.get("parallel_after") != value:
                    ledger.subjects[key].attrs["parallel_after"] = value
                    ledger.dirty.add(key)
            # 关键路径: the finished matter that ended last held the stage open (measures.last_to_finish)
            # — among the matters that held it open: not 分阶段施工许可 phases started after the stage closed
            closed = (ledger.find(stage) or Subject(key=stage, level="stage", name=stage)).ended_at
            last = last_to_finish((m.key, m.matter_id, m.ended_at) for m in siblings
                                  if closed is None or m.started_at < closed)
            for m in siblings:
                critical = None if m.ended_at is None else m.key == last
                if m.attrs.get("critical") != critical:
                    m.attrs["critical"] = critical
                    ledger.dirty.add(m.key)
        changed, events = ledger.flush()
        rows = []
        for subject in changed:
            figures: dict[str, Any] = {}
            if subject.started_at is not None:
                timing = self._timing(ledger, subject, now)
                figures = {
                    "committed_due": timing.committed_due,
                    "span_natural_days": round(timing.span_natural_days, 4),
                    "span_working_days": round(timing.span_working_days, 4),
                    "approval_working_days": round(timing.approval_working_days, 4),
                    "approval_days_used": timing.approval_days_used,
                    "span_days_used": timing.span_days_used,
                    "overdue": timing.status == "overdue",
                    "statutory_due": timing.statutory_due,
                    "statutory_overdue": timing.statutory_overdue,
                    "approval_natural_days": round(timing.span_natural_days - stopped_natural_days(
                        subject.started_at, subject.ended_at, now,
                        ledger.stage_stops(subject.key, now=now, rule=rule) if subject.level == "stage" else subject.stops,
                        rule), 4),
                }
            figures["intake"] = subject.attrs.get("intake") if subject.level == "stage" else None
            figures["procedure"] = subject.attrs.get("procedure") if subject.level == "special" else None
            after = subject.attrs.get("parallel_after") if subject.level == "matter" else None
            figures["parallel_after"] = datetime.fromisoformat(after) if after else None
            figures["critical"] = subject.attrs.get("critical") if subject.level == "matter" else None
            rows.append((subject, figures))
        return rows, events

    def _timing(self, ledger: ProjectLedger, subject: Subject, now: datetime):
        rule = TimingRuleFor(self.catalogue)
        if subject.level == "stage":
            return ledger.stage_timing(subject.key, now=now, rule=rule, calendar=self.calendar)
        from engine.domain.ledger import _measure  # the same measurement, on the subject's own stops

        return _measure(subject, subject.stops, now=now, rule=rule, calendar=self.calendar)

    def _project_result(self, ledger: ProjectLedger) -> tuple[str, list[Subject]]:
        """The finished route's result (engine.domain.ledger.project_result; the 联合报装 track never stops it)."""
        return project_result(ledger, side_stages=[self.catalogue.utility_stage or ""])

    def _task_row(self, project: Project, task: Any, ctx: ExecutionContext) -> dict[str, Any]:
        data = dict(task.data)
        matter = data.get("matter") if isinstance(data.get("matter"), dict) else None
        unit = data.get("unit") if isinstance(data.get("unit"), dict) else None
        stage = data.get("stage") or (matter or {}).get("stage") or (unit or {}).get("stage")
        lead = None
        if stage:
            try:
                lead = self.catalogue.lead_department(stage, project.project_type).id
            except UnknownIdError:
                lead = None
        who = responsibility(task.lane, data, lead)
        due = self._task_due(ctx.ledger, task.spec_id, stage, matter)
        view = {k: data[k] for k in ("stage", "filing", "intake", "missing", "correction_items", "decision", "procedure", "unit",
                                     "revoke_reason", "statement") if k in data}
        if matter:
            view["matter"] = {k: matter.get(k) for k in ("key", "id", "name", "department", "committed_limit_wd",
                                                          "statutory_limit_wd", "silent_consent_allowed", "mode")}
        return dict(
            id=task.id, project_id=project.id, spec_id=task.spec_id, name=task.name, role=who.role,
            department=who.department, owner_id=project.filing.owner_id, stage=stage,
            matter_key=(matter or {}).get("key"), matter_name=(matter or {}).get("name"), state="ready",
            created_at=self.clock.now(), completed_at=None, due_at=due, actor=None, data=_jsonable(view),
        )

    def _task_due(self, ledger: ProjectLedger, spec_id: str, stage: str | None, matter: dict[str, Any] | None) -> datetime | None:
        now = self.clock.now()
        rule = TimingRuleFor(self.catalogue)
        key = (matter or {}).get("key")
        subject = ledger.find(key) if key else None
        if subject is not None and subject.started_at is not None and subject.ended_at is None:
            return self._timing(ledger, subject, now).committed_due
        if stage and spec_id in (TaskIds.ISSUE_RESULT, TaskIds.JOINT_OPINION) and ledger.find(stage):
            return ledger.stage_timing(stage, now=now, rule=rule, calendar=self.calendar).committed_due
        return None

    # -- reading --------------------------------------------------------------------------------------------------
    def project(self, project_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        with UnitOfWork(self.db, read_only=True) as uow:
            row = uow.projects.get(project_id)
            if row is None or (actor is not None and not _may_read(actor, row, uow)):
                raise NotFound(f"project {project_id} does not exist")
            return Project.from_record(row).to_summary() | {"version": row["version"]}

    def timing(self, project_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """Every matter's, stage's and the whole project's timing, measured now (or at their end)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            row = uow.projects.get(project_id)
            if row is None or (actor is not None and not _may_read(actor, row, uow)):
                raise NotFound(f"project {project_id} does not exist")
            ledger = ProjectLedger(project_id, uow.subjects.load(project_id))
        now = self.clock.now()
        out: dict[str, Any] = {"project_id": project_id, "project_type": row["project_type"], "status": row["status"],
                               "result": row["result"], "measured_at": now.isoformat(), "stages": [], "matters": [],
                               "special_procedures": [], "post_checks": [], "filings": [], "project": None}
        order = {"S0": 0, "S1": 1, "SU": 2, "S2": 2, "S3": 3, "S23": 3, "S4": 4, "S5": 5}
        for subject in sorted(ledger.subjects.values(), key=lambda s: (order.get(s.stage or "", 9), s.key)):
            if subject.started_at is None:
                continue
            entry = {"key": subject.key, "name": subject.name, "stage": subject.stage, "matter_id": subject.matter_id,
                     "department": subject.department, "outcome": subject.outcome,
                     "clock_stops": [{"start": s.start.isoformat(), "end": s.end.isoformat() if s.end else None,
                                      "kind": s.kind} for s in subject.stops],
                     **self._timing(ledger, subject, now).to_dict()}
            if subject.attrs.get("silent_consent"):
                entry["responsible"] = subject.attrs.get("responsible")
            if subject.level == "matter":  # the national result (办结（通过） / （容缺通过） / （告知承诺通过）)
                stage = ledger.find(subject.stage or "")
                entry["mode"] = subject.attrs.get("mode", "standard")
                entry["result_label"] = matter_result_label(
                    subject.outcome, commitment=entry["mode"] == "commitment",
                    tolerance=stage is not None and stage.attrs.get("intake") == "tolerance")
                if subject.outcome == "revoked":
                    entry["revocation_reason"] = subject.attrs.get("revocation_reason")
            if subject.level == "filing" and subject.outcome:
                entry["result_label"] = FILING_OUTCOME_LABELS.get(subject.outcome, subject.outcome)
            if subject.level == "stage":
                entry["result_label"] = _label(subject.outcome)
                entry["intake"] = subject.attrs.get("intake")
                if subject.attrs.get("revoked_matters"):  # permits of the stage revoked later (撤销 is per permit)
                    entry["revoked_matters"] = list(subject.attrs["revoked_matters"])
                if subject.attrs.get("units"):
                    entry["units"] = dict(subject.attrs["units"])
                if subject.attrs.get("early_acceptance"):
                    entry["early_acceptance"] = dict(subject.attrs["early_acceptance"])
            bucket = {"stage": "stages", "matter": "matters", "special": "special_procedures", "check": "post_checks",
                      "filing": "filings"}  # 受理用时: submission to the window's decision
            if subject.level == "project":
                out["project"] = entry
            else:
                out[bucket[subject.level]].append(entry)
        return out

    def events(self, project_id: str) -> list[dict[str, Any]]:
        with UnitOfWork(self.db, read_only=True) as uow:
            return uow.events.for_project(project_id)

    def notifications(self, project_id: str) -> list[dict[str, Any]]:
        with UnitOfWork(self.db, read_only=True) as uow:
            return uow.notifications.for_project(project_id)

    def credit_records(self, owner_id: str) -> list[dict[str, Any]]:
        with UnitOfWork(self.db, read_only=True) as uow:
            return uow.credit.for_owner(owner_id)


def TimingRuleFor(catalogue: Catalogue):  # noqa: N802 - reads like a type at call sites
    from engine.domain.timing import TimingRule

    return TimingRule.for_profile(catalogue.profile)


@contextmanager
def _running_model(project_id: str) -> Iterator[None]:
    """Run model code for ``project_id``: its ``print`` output is kept (bounded) and logged with the project;
    a failure of the model becomes a :class:`ModelFailure` naming the element, logged for the administrator."""
    with capture_output() as output:
        try:
            yield
        except SpiffWorkflowException as exc:
            task = getattr(exc, "task", None)
            spec = getattr(task, "task_spec", None)
            element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None) or "unknown element"
            name = getattr(spec, "bpmn_name", None)
            label = f"'{element}'" + (f" ({name})" if name else "")
            text = str(exc)
            text = text if len(text) <= 500 else text[:500] + "…"
            log.error("model failure in project %s at element %s: %s", project_id, element, text,
                      extra={"project_id": project_id, "element": element})
            raise ModelFailure(f"the approval model failed at element {label}: {text}; nothing was changed "
                               f"(the administrator can see this failure in the log)",
                               element=str(element), project_id=project_id) from None
        finally:
            if output.lines or output.dropped:
                log.info("model output in project %s: %s%s", project_id, json.dumps(output.lines, ensure_ascii=False),
                         f" (+{output.dropped} lines dropped)" if output.dropped else "",
                         extra={"project_id": project_id})


def _label(outcome: str | None) -> str | None:
    from engine.domain.ledger import STAGE_RESULT_LABELS

    return STAGE_RESULT_LABELS.get(outcome or "")


def _may_read(actor: Actor, row: dict[str, Any], uow: UnitOfWork) -> bool:
    return may_read_project(actor, row["owner_id"], lambda department: uow.tasks.involves(row["id"], department))


def load_matter_rules(catalogue: Catalogue) -> DmnMatterRules:
    """The profile's decision table, validated against its questions and matters (refused with row and column)."""
    try:
        return DmnMatterRules.for_catalogue(catalogue)
    except DecisionTableError as exc:
        raise CatalogueError([str(exc)]) from None


def plan_view(catalogue: Catalogue, plan: ProjectPlan) -> dict[str, Any]:
    """The plan as owners, clerks and pages read it: per stage, every matter with its rule and materials."""
    stages = []
    for stage in plan.stages:
        matters = []
        for m in (p for p in plan.matters if p.stage == stage):
            matter = catalogue.matter(m.matter_id)
            matters.append({
                "matter_id": m.matter_id, "name": m.name, "department": m.department,
                "department_name": catalogue.department(m.department).name, "selected": m.selected,
                "rule": m.rule.model_dump(), "requires": list(m.requires),
                "requires_source": matter.requires_source if m.requires else None,
                "materials": [mat.model_dump() | ({"waived_by_commitment": True}
                                                  if m.mode == "commitment" and mat.id in matter.commitment_waives else {})
                              for mat in matter.materials] if m.selected else [],
                "mode": m.mode,
                "commitment_allowed": matter.commitment_allowed,
                **({"phases": list(m.phases), "stage_phases": list(m.stage_phases)} if m.phases else {}),
            })
        stages.append({"stage": stage, "name": catalogue.stage(stage).name, "matters": matters})
    return {"project_type": plan.project_type, "case": plan.case, "rules_version": plan.rules_version,
            "stages": stages}


def _matter_id(row: Mapping[str, Any]) -> str | None:
    matter = (row.get("data") or {}).get("matter") or {}
    return matter.get("id")


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


from SpiffWorkflow.util.task import TaskState as _TaskState  # noqa: E402

_READY = _TaskState.READY

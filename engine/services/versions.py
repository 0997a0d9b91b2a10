"""Moving running projects to a new version of their process definition (版本迁移).

A running project keeps the definition version it started with; deploying a new version changes only new
projects. An administrator may move running projects to the new version when the change allows it:

- every task of the project's workflow — waiting (READY / WAITING / STARTED) and finished — must find its
  element in the new version, under the same BPMN id or under the id a **mapping** names (``{"old": "new"}``);
  a waiting task must map onto an element of the same kind (a user task onto a user task, a timer onto a
  timer);
- every sub-process the project runs must exist in the new version.

Otherwise the move is refused, naming each task that has no counterpart, and nothing changes. A move keeps the
tasks' states and data, runs whatever the new version makes runnable, records a ``definition_migrated`` event
(in the project's audit chain) and is checked by reloading the saved workflow before it commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from SpiffWorkflow.util.task import TaskState

from engine.domain.actors import SYSTEM, Actor
from engine.domain.ledger import Event, ProjectLedger
from engine.persistence import tables as t
from engine.persistence.uow import UnitOfWork
from engine.services import functions
from engine.domain.project import Project
from engine.services.approval import ApprovalService
from engine.services.errors import Conflict, NotFound

_WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _kind(spec: Any) -> str:
    return type(spec).__name__


def plan_migration(workflow: Any, runtime: Any, mapping: Mapping[str, str], version: int) -> tuple[list[tuple[Any, Any, Any]], list[str]]:
    """([(workflow part, task, new spec)], problems) for moving ``workflow`` onto ``runtime``'s specs."""
    moves: list[tuple[Any, Any, Any]] = []
    problems: dict[str, str] = {}
    parts = [(workflow, runtime.top_spec)]
    for sub in workflow.subprocesses.values():
        parts.append((sub, runtime.subprocess_specs.get(sub.spec.name)))
    for part, new_spec in parts:
        if new_spec is None:
            problems[f"process:{part.spec.name}"] = (f"the sub-process '{part.spec.name}' this project runs is not "
                                                     f"in version {version}")
            continue
        for task in part.tasks.values():
            old = task.task_spec
            name = mapping.get(old.name, old.name)
            target = new_spec.task_specs.get(name)
            waiting = task.has_state(_WAITING)
            label = f"'{old.name}'" + (f" ({old.bpmn_name})" if getattr(old, "bpmn_name", None) else "")
            if target is None:
                state = "waiting" if waiting else "finished"
                problems.setdefault(f"{state}:{old.name}", (
                    f"{state} task {label} of process '{part.spec.name}' has no counterpart in version {version}: "
                    f"map it to an element of the new version ({old.name}=NEW_ID)"))
            elif waiting and _kind(target) != _kind(old):
                problems.setdefault(f"kind:{old.name}", (
                    f"waiting task {label} is a {_kind(old)} but '{name}' in version {version} is a {_kind(target)}"))
            else:
                moves.append((part, task, target))
    return moves, list(problems.values())


def migrate_project(service: ApprovalService, project_id: str, *, to_version: int | None = None,
                    mapping: Mapping[str, str] | None = None, actor: Actor = SYSTEM,
                    dry_run: bool = False) -> dict[str, Any]:
    """Move one running project to ``to_version`` (default: the newest) of its process; refuse with Conflict."""
    mapping = dict(mapping or {})
    with UnitOfWork(service.db) as uow:
        row = uow.projects.get(project_id, for_update=True)
        if row is None:
            raise NotFound(f"project {project_id} does not exist")
        current = uow.definitions.get(row["definition_id"])
        assert current is not None
        if to_version is None:
            target = uow.definitions.latest(current["process_id"])
        else:
            found = uow.conn.execute(select(t.definitions).where(
                (t.definitions.c.process_id == current["process_id"]) & (t.definitions.c.version == to_version))
            ).mappings().first()
            target = dict(found) if found else None
        if target is None:
            raise NotFound(f"to_version: version {to_version} of process '{current['process_id']}' is not deployed")
        summary = {"project_id": project_id, "from_version": current["version"], "to_version": target["version"],
                   "mapping": mapping}
        if row["status"] != "running":
            raise Conflict(f"project {project_id} is {row['status']}; only running projects move to a new version")
        if target["id"] == current["id"]:
            return summary | {"migrated": False, "detail": f"already at version {target['version']}"}
        service._cache.take(project_id)  # the identity map must not keep the old version's workflow
        new_runtime = service._runtime(target["id"], uow)
        top, parts = uow.parts.load(project_id)
        workflow = service._runtime(current["id"], uow).load(top, parts)
        moves, problems = plan_migration(workflow, new_runtime, mapping, target["version"])
        if problems:
            raise Conflict(f"project {project_id} cannot move from version {current['version']} to "
                           f"{target['version']}: " + "; ".join(problems))
        if dry_run:
            return summary | {"migrated": False, "detail": "the move is possible (dry run: nothing changed)"}
        for part, task, spec in moves:
            task.task_spec = spec
        workflow.spec = new_runtime.top_spec
        workflow.subprocess_specs = dict(new_runtime.subprocess_specs)
        for sub in workflow.subprocesses.values():
            sub.spec = new_runtime.subprocess_specs[sub.spec.name]
        workflow._gongai_saved_completed = set()  # every part names its task specs: save them all again
        workflow._gongai_marks = {}
        project = Project.from_record(row)
        ledger = ProjectLedger(project_id, uow.subjects.load(project_id))
        ctx = service._context(project, ledger, actor)
        ledger.emit(Event("definition_migrated", service.clock.now(), actor=actor.id, data={
            "from_version": current["version"], "to_version": target["version"], "mapping": mapping}))
        uow.conn.execute(update(t.projects).where(t.projects.c.id == project_id).values(definition_id=target["id"]))
        with functions.executing(ctx):
            new_runtime.advance(workflow, service.clock)
        service._sync(uow, project, row["version"], new_runtime, workflow, ctx)
        top, parts = uow.parts.load(project_id)
        try:
            new_runtime.load(top, parts)  # the saved state must load on the new version before we commit
        except Exception as exc:  # noqa: BLE001 - any failure refuses the move; the transaction rolls back
            raise Conflict(f"project {project_id} cannot move to version {target['version']}: the moved workflow "
                           f"does not load ({type(exc).__name__}: {exc})") from None
        uow.commit()
    return summary | {"migrated": True, "detail": f"moved to version {target['version']}"}


def running_on_older_versions(service: ApprovalService, process_id: str) -> list[str]:
    """Running projects whose definition is not the newest of ``process_id``."""
    with UnitOfWork(service.db, read_only=True) as uow:
        latest = uow.definitions.latest(process_id)
        if latest is None:
            return []
        older = select(t.definitions.c.id).where((t.definitions.c.process_id == process_id)
                                                 & (t.definitions.c.id != latest["id"]))
        return list(uow.conn.execute(select(t.projects.c.id).where(
            (t.projects.c.status == "running") & t.projects.c.definition_id.in_(older)).order_by(t.projects.c.id)).scalars())

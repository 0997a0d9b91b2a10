"""Incidents (事故): projects whose timers failed, for administrators to see and retry.

``ApprovalService.fire_timers`` opens an incident when a project's workflow will not load or step; the timer
query then skips the project, so its failure cannot stop anyone else's warnings, 超时默许 or deadlines.
After fixing the cause (a catalogue or holiday file, a deployed model, the stored data) an administrator
retries it: the project's due timers run at once, and on success the incident is resolved and the project
rejoins the timer rounds; on failure the incident stays open with the new error.
"""

from __future__ import annotations

from typing import Any

from engine.domain.actors import Actor
from engine.persistence.incidents import is_outage
from engine.persistence.uow import UnitOfWork
from engine.services.approval import ApprovalService
from engine.services.errors import Conflict, NotFound


def list_incidents(service: ApprovalService, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with UnitOfWork(service.db, read_only=True) as uow:
        return uow.incidents.list(status=status, limit=limit)


def get_incident(service: ApprovalService, incident_id: int) -> dict[str, Any]:
    with UnitOfWork(service.db, read_only=True) as uow:
        row = uow.incidents.get(incident_id)
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return row


def retry_incident(service: ApprovalService, incident_id: int, *, actor: Actor) -> dict[str, Any]:
    """Run the project's due timers now; resolve the incident if they ran, else record the new failure."""
    row = get_incident(service, incident_id)
    if row["status"] != "open":
        raise Conflict(f"incident {incident_id} is already {row['status']}")
    try:
        service.run_timers(row["project_id"])
    except Exception as exc:  # noqa: BLE001 - the failure is the incident's new state, not the request's
        if is_outage(exc):
            raise
        with UnitOfWork(service.db) as uow:
            uow.incidents.record(row["project_id"], row["kind"], exc, service.clock.now())
            uow.commit()
        return get_incident(service, incident_id)
    with UnitOfWork(service.db) as uow:
        uow.incidents.resolve(incident_id, by=actor.id, at=service.clock.now())
        uow.commit()
    return get_incident(service, incident_id)

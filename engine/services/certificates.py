"""电子证照 use cases: the projection's writes, 免于提交 at filing and intake, the expiry pass, 项目代码, the reads.

The certificate rows are written by the approval service (``engine.services.approval``) inside each step's
transaction (``apply``); everything else here is its own unit of work. Rules live in
:mod:`engine.domain.certificates`; who may see what in :mod:`engine.domain.authorisation`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from engine.domain.actors import Actor
from engine.domain.authorisation import READS_EVERYTHING, certificate_scope, may_read_project, may_set_project_code
from engine.domain.certificates import (
    KIND_LABELS,
    STATUS_LABELS,
    Changes,
    ProjectCodeError,
    check_project_code,
    exemptions,
    is_valid,
    local_date,
)
from engine.domain.ledger import Event
from engine.domain.project import Project
from engine.persistence.uow import UnitOfWork
from engine.services.errors import Conflict, Forbidden, Invalid, NotFound

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import Engine

    from engine.clock import Clock
    from engine.domain.catalogue import Catalogue

#: How many certificates one expiry pass handles (the next pass takes the rest).
PASS_LIMIT = 500


class CertificateService:
    """The certificate side of the approval service (its database, catalogue and clock are the approval
    service's: it writes certificate rows inside that service's steps)."""

    def __init__(self, db: Engine, catalogue: Catalogue, clock: Clock) -> None:
        self.db = db
        self.catalogue = catalogue
        self.clock = clock
        self.lane: tuple[int, int] = (0, 1)
        """(index, count): counters of databases merged later (parallel simulation shards) interleave."""

    # -- 项目代码 -------------------------------------------------------------------------------------------------
    def check_code(self, code: str, case: dict[str, Any]) -> str:
        """The code in the national format and of the project's management type (422 naming project_code)."""
        try:
            return check_project_code(code, investment_mode=case.get("investment_mode"))
        except ProjectCodeError as exc:
            raise Invalid(f"project_code: {exc}") from None

    @staticmethod
    def check_unique(uow: UnitOfWork, code: str, project_id: str | None = None) -> None:
        holder = uow.projects.by_project_code(code)
        if holder is not None and holder != project_id:
            raise Conflict(f"project_code: {code} already belongs to project {holder}; one code is one project")

    def set_project_code(self, project_id: str, code: str, *, actor: Actor) -> dict[str, Any]:
        """The owner (or its agent) or the window records the code the investment platform gave the project; every
        certificate of the project shows it from now on. A code once set is not replaced (409)."""
        with UnitOfWork(self.db) as uow:
            row = uow.projects.get(project_id, for_update=True)
            if row is None or not _may_read(actor, row, uow):
                raise Forbidden(f"project {project_id}: not among the projects you may see")
            if not may_set_project_code(actor, row["owner_id"]):
                raise Forbidden("only the project's owner (建设单位), its agent or the window (综合窗口) sets the 项目代码")
            code = self.check_code(code, (row.get("plan") or {}).get("case") or (row.get("filing") or {}).get("case") or {})
            if row.get("project_code") == code:
                return {"project_id": project_id, "project_code": code, "changed": False}
            if row.get("project_code"):
                raise Conflict(f"project_code: project {project_id} already carries {row['project_code']}; the code the "
                               "investment platform issued is not replaced")
            self.check_unique(uow, code, project_id)
            now = self.clock.now()
            try:
                uow.projects.update(project_id, row["version"], project_code=code)
            except IntegrityError:  # another project took the code at the same moment
                raise Conflict(f"project_code: {code} already belongs to another project") from None
            uow.certificates.set_project_code(project_id, code)
            uow.events.append(project_id, row["project_type"], [Event("project_code_set", now, actor=actor.id,
                                                                      data={"project_code": code})])
            uow.commit()
        return {"project_id": project_id, "project_code": code, "changed": True}

    # -- the projection -------------------------------------------------------------------------------------------
    def apply(self, uow: UnitOfWork, project: Project, changes: Changes) -> list[str]:
        info = {"id": project.id, "owner_id": project.filing.owner_id, "owner_name": project.filing.owner_name,
                "project_code": project.project_code, "division_code": project.filing.division_code}
        return uow.certificates.apply(info, changes, number_format=self.catalogue.profile.certificate_number_format,
                                      lane=self.lane)

    # -- 免于提交 ------------------------------------------------------------------------------------------------
    def stage_materials(self, project: Project, stage: str | None) -> list[tuple[str, str, str, str | None]]:
        if project.plan is not None:
            matters = [self.catalogue.matter(m) for m in project.plan.selected_ids(stage)]
        else:
            matters = self.catalogue.matters_for(project.project_type, stage or "")
        return [(m.id, mat.id, mat.name, mat.provided_by) for m in matters for mat in m.materials]

    def exemptions(self, repo: Any, project: Project, stage: str | None, now: datetime) -> dict[str, dict[str, Any]]:
        """``matter:material`` → the valid certificate of this project that provides it (免于提交)."""
        materials = [m for m in self.stage_materials(project, stage) if m[3]]
        if not materials:
            return {}
        return exemptions(materials, repo.for_project(project.id), now)

    def filing_exemptions(self, project_id: str, stage: str) -> dict[str, dict[str, Any]]:
        """What a filing of ``stage`` made now would take from certificates (the owner's one-form checklist)."""

        with UnitOfWork(self.db, read_only=True) as uow:
            row = uow.projects.get(project_id)
            if row is None:
                raise NotFound(f"project {project_id} does not exist")
            return self.exemptions(uow.certificates, Project.from_record(row), stage, self.clock.now())

    @staticmethod
    def refuse_exempted_missing(repo: Any, task: dict[str, Any], missing: list[dict[str, Any]], now: datetime) -> None:
        """The window cannot call missing what the filing took from a certificate that is still valid."""
        exempted = {e["material"]: e for e in (((task.get("data") or {}).get("filing") or {}).get("exempted") or [])}
        refused = []
        for item in missing:
            entry = exempted.get(item["id"])
            if entry is None:
                continue
            cert = repo.by_number(entry["certificate"])
            if cert is not None and is_valid(cert, now):
                refused.append(f"{item['id']}（{item['name']}）is provided by certificate {entry['certificate']}"
                               f"（{entry['type_name']}, 免于提交）")
        if refused:
            raise Invalid("missing: " + "; ".join(refused) + " — it cannot be missing")

    # -- expiry (the timer worker's pass) ------------------------------------------------------------------------
    def expiry_pass(self, limit: int = PASS_LIMIT) -> dict[str, int]:
        """Mark certificates past their expiry date expired and queue 证照到期提醒 the profile's days before; both
        go to the owner's outbox. Idempotent: each certificate expires once and is reminded once."""
        now = self.clock.now()
        days = self.catalogue.profile.certificate_reminder_days
        with UnitOfWork(self.db, read_only=True) as uow:
            expiring = uow.certificates.due_to_expire(now, limit)
            reminding = uow.certificates.due_for_reminder(now + timedelta(days=days), limit) if days else []
        reminding = [c for c in reminding if c["expires_at"] > now]
        if not expiring and not reminding:
            return {"expired": 0, "reminded": 0}
        with UnitOfWork(self.db) as uow:
            notices = [self._notice(c, "certificate_expired", now) for c in expiring]
            notices += [self._notice(c, "certificate_reminder", now) for c in reminding]
            uow.certificates.expire([c["id"] for c in expiring], now)
            uow.certificates.mark_reminded([c["id"] for c in reminding], now)
            uow.notifications.add(notices)
            uow.commit()
        return {"expired": len(expiring), "reminded": len(reminding)}

    @staticmethod
    def _notice(cert: dict[str, Any], kind: str, now: datetime) -> dict[str, Any]:
        until = local_date(cert["expires_at"] - timedelta(seconds=1)).isoformat()
        code = f"（项目代码：{cert['project_code']}）" if cert.get("project_code") else ""
        if kind == "certificate_expired":
            title = f"电子证照已过期：{cert['type_name']}"
            body = f"{cert['type_name']}（编号 {cert['number']}）有效期至 {until}，现已过期，不再用于免于提交{code}"
        else:
            title = f"证照到期提醒：{cert['type_name']}"
            body = f"{cert['type_name']}（编号 {cert['number']}）有效期至 {until}，请及时办理延续或开工手续{code}"
        return {"project_id": cert["project_id"], "owner_id": cert["owner_id"], "at": now, "kind": kind,
                "title": title, "body": body,
                "data": {"stage": cert["stage"], "matter": cert["matter_key"], "certificate": cert["number"],
                         "project_code": cert.get("project_code"), "expires_at": cert["expires_at"].isoformat()}}

    # -- reads ----------------------------------------------------------------------------------------------------
    def view(self, cert: dict[str, Any]) -> dict[str, Any]:
        """A certificate as owners, agencies and the verification route read it (labels in Chinese)."""
        now = self.clock.now()
        status = cert["status"]
        if status == "valid" and not is_valid(cert, now):
            status = "expired"  # past its date; the next expiry pass records it
        catalogue = self.catalogue
        dept = cert.get("department")
        matter = catalogue.matters.get(cert["matter_id"])
        stage = cert.get("stage")
        expires = cert.get("expires_at")
        return {
            "number": cert["number"], "type_id": cert["type_id"], "type_name": cert["type_name"],
            "kind": cert["kind"], "kind_label": KIND_LABELS.get(cert["kind"], cert["kind"]),
            "status": status, "status_label": STATUS_LABELS[status],
            "holder": {"owner_id": cert["owner_id"], "name": cert.get("holder_name")},
            "department": dept, "department_name": catalogue.departments[dept].name if dept in catalogue.departments else dept,
            "issued_at": cert["issued_at"].isoformat(), "issued_on": local_date(cert["issued_at"]).isoformat(),
            "expires_at": expires.isoformat() if expires else None,
            "valid_until": local_date(expires - timedelta(seconds=1)).isoformat() if expires else None,
            "project_id": cert["project_id"], "project_code": cert.get("project_code"),
            "stage": stage, "stage_name": catalogue.stages[stage].name if stage in catalogue.stages else stage,
            "matter_id": cert["matter_id"], "matter_key": cert["matter_key"],
            "matter_name": matter.name if matter else cert["matter_id"],
            "revoked_at": cert["revoked_at"].isoformat() if cert.get("revoked_at") else None,
            "revocation_reason": cert.get("revocation_reason"),
            "expired_at": cert["expired_at"].isoformat() if cert.get("expired_at") else None,
        }

    def page(self, actor: Actor, *, project_id: str | None = None, status: str | None = None, limit: int = 100,
             offset: int = 0, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the certificates ``actor`` may see (of one project, when given; the caller checked that
        project's visibility), oldest first, and the next page's cursor."""
        from engine.services.queries import decode_cursor, encode_cursor

        after = _position(decode_cursor(cursor)) if cursor else None
        scope: dict[str, Any] | None = {} if project_id is not None else certificate_scope(actor)
        if scope is None:
            return [], None
        with UnitOfWork(self.db, read_only=True) as uow:
            rows = uow.certificates.page(project_id=project_id, status=status, limit=limit + 1, after=after,
                                         offset=0 if after else offset, **scope)
        more = len(rows) > limit
        rows = rows[:limit]
        following = encode_cursor([rows[-1]["issued_at"].isoformat(), rows[-1]["id"]]) if more else None
        return [self.view(r) for r in rows], following

    def verify(self, number: str, *, actor: Actor) -> dict[str, Any]:
        """核验: a certificate by its number, for whoever may read its project (same refusal whether or not it
        exists, so numbers cannot be probed)."""
        with UnitOfWork(self.db, read_only=True) as uow:
            cert = uow.certificates.by_number(number)
            row = uow.projects.get(cert["project_id"]) if cert else None
            if cert is None or row is None:
                if actor.role in READS_EVERYTHING:
                    raise NotFound(f"certificate {number} does not exist")
                raise Forbidden(f"certificate {number}: not among the certificates you may see")
            if not _may_read(actor, row, uow):
                raise Forbidden(f"certificate {number}: not among the certificates you may see")
        return self.view(cert)

    def counts(self) -> dict[str, int]:
        with UnitOfWork(self.db, read_only=True) as uow:
            return uow.certificates.counts()


def _may_read(actor: Actor, row: dict[str, Any], uow: UnitOfWork) -> bool:
    return may_read_project(actor, row["owner_id"], lambda department: uow.tasks.involves(row["id"], department))


def _position(value: list[Any]) -> tuple[datetime, int]:
    try:
        issued, cid = value
        return datetime.fromisoformat(issued), int(cid)
    except (TypeError, ValueError):
        raise Invalid("cursor: not a certificate-list cursor") from None

"""Matter-selection rules deployed by administrators (规则发布): a reform office's edited decision table goes live
without a release.

An administrator uploads a DMN 1.3 table for a profile. It is checked exactly as at service start
(:meth:`engine.bpmn.dmn.DmnMatterRules.for_catalogue`, against that profile's questions and matters); a table
with faults is refused with every fault's row and column and nothing is stored. An accepted table is stored in
``rule_tables`` as the profile's next version, keyed by its content hash (the ``rules_version`` a plan
records) — the same content deploys once, like BPMN definitions — and the deployment is an administrative
event in the audit chain. New filings of that profile are planned with its newest deployed table (the
profile's file when none is deployed); a project already filed keeps the plan, and so the rules_version, it
was filed with.
"""

from __future__ import annotations

from typing import Any

from engine.bpmn.dmn import DecisionTableError, DmnMatterRules
from engine.domain.actors import Actor
from engine.domain.authorisation import ADMINISTRATORS
from engine.domain.catalogue import Catalogue, CatalogueError, list_profiles, load_catalogue
from engine.persistence.audit import append_admin_event
from engine.persistence.uow import UnitOfWork
from engine.services.errors import Conflict, Forbidden, Invalid, NotFound

#: Largest table accepted (the shipped one is ~60 KB): a bigger upload is refused before it is parsed.
MAX_TABLE_BYTES = 2_000_000


class RulesRefused(Invalid):
    """An uploaded decision table with faults; ``problems`` are its faults, each with row and column."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def _catalogue_for(service: Any, profile: str) -> Catalogue:
    own: Catalogue = service.catalogue
    if profile == own.profile.id:
        return own
    known = list_profiles(own.root)
    if profile not in known:
        raise Invalid(f"profile: unknown profile '{profile}' (known: {', '.join(known)})")
    try:
        return load_catalogue(profile, root=own.root)
    except CatalogueError as exc:
        raise Conflict(f"profile: profile '{profile}' does not load: {exc}") from None


def deploy_rules(service: Any, content: bytes, *, profile: str, actor: Actor) -> dict[str, Any]:
    """Check ``content`` against ``profile`` and store it as that profile's next rules version (one transaction)."""
    if actor.role not in (*ADMINISTRATORS, "system"):
        raise Forbidden("only administrators deploy decision tables")
    if len(content) > MAX_TABLE_BYTES:
        raise Invalid(f"dmn: the table is {len(content):,} bytes; at most {MAX_TABLE_BYTES:,} are accepted")
    catalogue = _catalogue_for(service, profile)
    try:
        rules = DmnMatterRules.for_catalogue(catalogue, data=content, source="dmn")
    except DecisionTableError as exc:
        count = len(exc.problems)
        raise RulesRefused(f"dmn: the decision table was refused ({count} problem{'s' if count != 1 else ''}, "
                           "nothing was deployed):\n" + "\n".join(exc.problems), exc.problems) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:  # the XML parser accepted another declared encoding: store what it read
        raise Invalid("dmn: the table must be UTF-8 encoded") from None
    with UnitOfWork(service.db) as uow:
        existing = uow.rule_tables.by_hash(profile, rules.version)
        if existing:
            return _summary(existing) | {"created": False, "matters": len(rules.matters)}
        rules_id = uow.rule_tables.add(profile=profile, content_hash=rules.version, content=text,
                                       at=service.clock.now(), by=actor.id)
        row = uow.rule_tables.get(rules_id)
        assert row is not None
        append_admin_event(uow.conn, "rules_deployed", actor=actor.id, subject=profile, at=row["deployed_at"],
                           data={"version": row["version"], "rules_version": rules.version})
        uow.commit()
    service._deployed_rules[rules.version] = rules
    return _summary(row) | {"created": True, "matters": len(rules.matters)}


def list_rules(service: Any) -> list[dict[str, Any]]:
    """Every deployed table (newest version of a profile is the one new filings use), without its content."""
    with UnitOfWork(service.db, read_only=True) as uow:
        rows = uow.rule_tables.list()
    newest: dict[str, int] = {}
    for row in rows:
        newest[row["profile"]] = max(newest.get(row["profile"], 0), row["version"])
    return [_summary(r) | {"in_use": r["version"] == newest[r["profile"]]} for r in rows]


def get_rules(service: Any, rules_id: int) -> dict[str, Any]:
    """One deployed table with its DMN text (to download, edit in dmn-js and upload again)."""
    with UnitOfWork(service.db, read_only=True) as uow:
        row = uow.rule_tables.get(rules_id)
    if row is None:
        raise NotFound(f"rules {rules_id} do not exist")
    return _summary(row) | {"content": row["content"]}


def current_rules(service: Any) -> DmnMatterRules:
    """The rules new filings of the service's profile are planned with: its newest deployed table, else its file.

    A deployed table is checked against the catalogue when first used by this process (a catalogue changed by a
    release may no longer fit it): then filings are refused (409) naming the faults, never planned silently
    with other rules.
    """
    profile = service.catalogue.profile.id
    with UnitOfWork(service.db, read_only=True) as uow:
        head = uow.rule_tables.latest_head(profile)
        if head is None:
            return service.rules
        rules = service._deployed_rules.get(head["content_hash"])
        if rules is None:
            row = uow.rule_tables.get(head["id"])
    if rules is None:
        try:
            rules = DmnMatterRules.for_catalogue(service.catalogue, data=row["content"].encode("utf-8"),
                                                 source=f"rules version {head['version']} of profile {profile}")
        except DecisionTableError as exc:
            raise Conflict(f"case: the deployed decision table (version {head['version']}) no longer fits the "
                           f"catalogue; deploy a corrected table:\n" + "\n".join(exc.problems)) from None
        service._deployed_rules[head["content_hash"]] = rules
    return rules


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "profile": row["profile"], "version": row["version"],
            "rules_version": row["content_hash"], "deployed_at": row["deployed_at"].isoformat(),
            "deployed_by": row["deployed_by"]}

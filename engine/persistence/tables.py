"""Database tables (SQLAlchemy Core). SQLite by default; nothing here stops PostgreSQL.

Design notes:
- ``workflow_parts`` holds a project's SpiffWorkflow state split by sub-workflow, so a step writes only
  the parts that changed; specs live once per definition in ``definitions``; each part is compressed JSON
  (:class:`PackedJSON`, about a sixth of the text).
- ``events`` is the append-only event log (事件日志); rows are never updated.
- ``subjects`` holds the timing state of each stage, matter, special procedure and post-check, updated
  in place when it changes, with the timing figures analysts aggregate in SQL.
- ``tasks`` is a projection of human tasks (ready and done), so inboxes are one indexed query.
- ``projects.version`` is an optimistic lock: two writers of one project cannot both commit.
"""

from __future__ import annotations

import json
import zlib
from datetime import timezone

import orjson

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out — on SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: store UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class PackedJSON(TypeDecorator):
    """JSON stored as zlib-compressed bytes (orjson, zlib level 1): SpiffWorkflow's serialised workflows repeat
    the same keys and task ids, so they shrink about 5.5x, for ~0.3 ms a part (issue 14: stored workflow data
    per project at most a quarter). Rows written before migration 0050 (JSON text, or its bytes on PostgreSQL)
    still read."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return zlib.compress(dumps_json(value), 1)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite text written before 0050
            return orjson.loads(value)
        value = bytes(value)
        return orjson.loads(zlib.decompress(value) if value[:1] == b"x" else value)


def dumps_json(value) -> bytes:
    """orjson's UTF-8 JSON, falling back to the standard library for what orjson refuses (ints over 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, ensure_ascii=False).encode()


#: what the standard library refuses to write stays refused (orjson would write datetimes and dataclasses)
_STRICT = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_column_text(value) -> str:
    """The text of a plain ``JSON`` column (the engines' ``json_serializer``, engine.persistence.db): orjson, several
    times faster than the standard library that SQLAlchemy uses by default (issue 14: a step writes its tasks',
    events' and subjects' JSON). Compact UTF-8 instead of spaced, ASCII-escaped text: the values read back are the
    same. What orjson refuses (ints over 64 bits, datetimes, dataclasses) goes to the standard library, which writes
    or refuses it as before."""
    try:
        return orjson.dumps(value, option=_STRICT).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False)


def json_column_value(text):
    """The value of a plain ``JSON`` column's text (the engines' ``json_deserializer``): orjson, or the standard
    library for text it refuses (``NaN`` the standard library may have written)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


definitions = Table(
    "definitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("process_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False, unique=True),
    Column("files", JSON, nullable=False),  # {file name: BPMN text}
    Column("deployed_at", UTCDateTime(), nullable=False),
    Column("deployed_by", String(100), nullable=True),
    UniqueConstraint("process_id", "version", name="uq_definition_version"),
)

rule_tables = Table(  # migration 0040_route_rule_tables: matter-selection tables deployed by administrators
    "rule_tables",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("profile", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),  # the rules_version a plan records (DmnMatterRules.version)
    Column("content", Text, nullable=False),  # the DMN 1.3 XML as uploaded
    Column("deployed_at", UTCDateTime(), nullable=False),
    Column("deployed_by", String(100), nullable=True),
    UniqueConstraint("profile", "version", name="uq_rule_table_version"),
    UniqueConstraint("profile", "content_hash", name="uq_rule_table_content"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("project_type", String(40), nullable=False, index=True),
    Column("owner_id", String(100), nullable=False, index=True),
    Column("profile", String(100), nullable=False),
    Column("definition_id", Integer, ForeignKey("definitions.id"), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("result", String(40), nullable=True),
    Column("filing", JSON, nullable=False),
    Column("plan", JSON, nullable=True),  # engine.domain.plan.ProjectPlan: the matters its case requires
    Column("created_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("next_timer_at", UTCDateTime(), nullable=True, index=True),
    Column("version", Integer, nullable=False, default=1),
    # 行政区划代码 (migration 0012_analytics_division): the handling division, engine/domain/divisions.py
    Column("division_code", String(6), nullable=True, index=True),
    # 项目代码 (migration 0030_certificates): the national investment-platform code, unique where set
    Column("project_code", String(24), nullable=True),
    Index("ux_projects_project_code", "project_code", unique=True),
    # listings walk projects in keyset order (migration 0011_throughput_indexes): every reader, and each owner
    Index("ix_projects_listing", "created_at", "id"),
    Index("ix_projects_owner_listing", "owner_id", "created_at", "id"),
    Index("ix_projects_status_listing", "status", "created_at", "id"),
)

workflow_parts = Table(
    "workflow_parts",
    metadata,
    Column("project_id", String(40), ForeignKey("projects.id"), primary_key=True),
    Column("part", String(40), primary_key=True),  # "top" or a sub-workflow id
    Column("state", PackedJSON, nullable=False),
    Column("completed", Boolean, nullable=False, default=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("type", String(40), nullable=False),
    Column("project_type", String(40), nullable=False),
    Column("stage", String(10), nullable=True),
    Column("matter_key", String(120), nullable=True),
    Column("matter_id", String(80), nullable=True),
    Column("department", String(40), nullable=True),
    Column("actor", String(100), nullable=True),
    Column("task_id", String(40), nullable=True),
    Column("data", JSON, nullable=False),
    # the audit chain (migration 0015_ops_audit_chain, engine/persistence/audit.py): the event's number in its
    # project's chain and the hash linking it to the one before
    Column("seq", BigInteger, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Index("ix_events_project_at", "project_id", "at", "id"),
    Index("ix_events_type_at", "type", "at"),
    # the stages with a signed commitment (告知承诺), for the commitment share: tiny, and no event rows read
    Index("ix_events_commitments", "project_id", "stage", sqlite_where=text("type = 'commitment_signed'"),
          postgresql_where=text("type = 'commitment_signed'")),
)

subjects = Table(
    "subjects",
    metadata,
    Column("project_id", String(40), ForeignKey("projects.id"), primary_key=True),
    Column("key", String(160), primary_key=True),
    Column("level", String(10), nullable=False),
    Column("project_type", String(40), nullable=False),
    Column("stage", String(10), nullable=True),
    Column("matter_id", String(80), nullable=True),
    Column("department", String(40), nullable=True),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("outcome", String(40), nullable=True),
    Column("committed_due", UTCDateTime(), nullable=True),
    Column("span_natural_days", Float, nullable=True),
    Column("span_working_days", Float, nullable=True),
    Column("approval_working_days", Float, nullable=True),
    Column("overdue", Boolean, nullable=True),
    Column("state", JSON, nullable=False),  # the full Subject (stops, limits, attrs)
    # analytics (migration 0003): statutory limit, approval time in natural days, stage intake, procedure id
    Column("statutory_due", UTCDateTime(), nullable=True),
    Column("statutory_overdue", Boolean, nullable=True),
    Column("approval_natural_days", Float, nullable=True),
    Column("intake", String(20), nullable=True),  # stage: complete | tolerance (容缺受理)
    Column("procedure", String(40), nullable=True),  # special: the 特别程序 id
    # 并联 (migration 0005): a matter counts as parallel at ``now`` iff parallel_after < now (the epoch: always;
    # NULL: not now, nor later unless a sibling starts or ends). Kept by _flush_ledger; see measures.parallel_after
    Column("parallel_after", UTCDateTime(), nullable=True),
    # analytics keys (migration 0007, engine/persistence/facets.py): the row's (project type, profile, stage,
    # department, matter) as one integer, and its start in µs since the epoch — what every filter tests
    Column("facet", BigInteger, nullable=True),
    Column("started_us", BigInteger, nullable=True),
    # 关键路径 (migration 0007): a finished matter that ended last in its project stage (it held the stage open);
    # kept by _flush_ledger, defined by engine.analytics.measures.last_to_finish
    Column("critical", Boolean, nullable=True),
    # migration 0012_analytics_division: the project's 行政区划代码 (also inside ``facet``, which filters by it), and
    # the whole working days used (受理次日起算, the clerk's count beside approval_working_days)
    Column("division_code", String(6), nullable=True),
    Column("approval_days_used", Integer, nullable=True),
    # migration 0060: the span's whole working days (受理次日起算, clock stops included), beside span_working_days
    Column("span_days_used", Integer, nullable=True),
    Index("ix_subjects_level_stage", "level", "stage", "project_type"),
    Index("ix_subjects_level_department", "level", "department"),
    Index("ix_subjects_level_matter", "level", "matter_id"),
)

#: The combinations ``subjects.facet`` names (engine/persistence/facets.py). A few hundred rows.
subject_facets = Table(
    "subject_facets",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("project_type", String(40), nullable=False),
    Column("profile", String(100), nullable=False),
    Column("stage", String(10), nullable=True),
    Column("department", String(40), nullable=True),
    Column("matter_id", String(80), nullable=True),
    Column("division_code", String(6), nullable=True),  # migration 0012_analytics_division
)

# Analytics indexes (migrations 0004, 0007). The sorted ones are partial: only *finished* subjects are in them,
# so a running subject, whose figures change at every step, costs them nothing; a subject enters them once, when
# it ends. Each gives a distribution's values sorted per group, followed by the two filter keys, so the median
# and p90 of any filter are read by walking one index in value order (no sort, no table rows): the first of
# each group also holds the other three durations (count, mean and max of every metric in one index scan) and
# ends with ended_at itself, which SQLite's planner needs to see the index as covering.
_FINISHED = text("ended_at IS NOT NULL")
_ORDER = {"swd": "span_working_days", "and": "approval_natural_days", "awd": "approval_working_days"}
_FILTER_KEYS = (subjects.c.facet, subjects.c.started_us)
for _name, _group in (("department", "department"), ("matter", "matter_id"), ("stage", "stage")):
    Index(f"ix_subjects_done_{_name}", subjects.c.level, subjects.c[_group], subjects.c.span_natural_days,
          *_FILTER_KEYS, subjects.c.span_working_days, subjects.c.approval_natural_days,
          subjects.c.approval_working_days, subjects.c.ended_at, subjects.c.critical,
          sqlite_where=_FINISHED, postgresql_where=_FINISHED)
    for _suffix, _metric in _ORDER.items():
        Index(f"ix_subjects_done_{_name}_{_suffix}", subjects.c.level, subjects.c[_group], subjects.c[_metric],
              *_FILTER_KEYS, subjects.c.ended_at, sqlite_where=_FINISHED, postgresql_where=_FINISHED)
    # the whole working days used (受理次日起算, migration 0060): sorted like the decimal durations
    Index(f"ix_subjects_done_{_name}_dused", subjects.c.level, subjects.c[_group], subjects.c.approval_days_used,
          *_FILTER_KEYS, subjects.c.ended_at, sqlite_where=_FINISHED, postgresql_where=_FINISHED)
    Index(f"ix_subjects_done_{_name}_sdused", subjects.c.level, subjects.c[_group], subjects.c.span_days_used,
          *_FILTER_KEYS, subjects.c.ended_at, sqlite_where=_FINISHED, postgresql_where=_FINISHED)
# the whole process per project type: the same, over the finished projects only (``level`` is matched literally)
_PROJECTS = text("level = 'project' AND ended_at IS NOT NULL")
Index("ix_subjects_done_project", subjects.c.project_type, subjects.c.span_natural_days, *_FILTER_KEYS,
      subjects.c.span_working_days, subjects.c.approval_natural_days, subjects.c.approval_working_days,
      subjects.c.ended_at, sqlite_where=_PROJECTS, postgresql_where=_PROJECTS)
for _suffix, _metric in _ORDER.items():
    Index(f"ix_subjects_done_project_{_suffix}", subjects.c.project_type, subjects.c[_metric], *_FILTER_KEYS,
          subjects.c.ended_at, sqlite_where=_PROJECTS, postgresql_where=_PROJECTS)
Index("ix_subjects_done_project_dused", subjects.c.project_type, subjects.c.approval_days_used, *_FILTER_KEYS,
      subjects.c.ended_at, sqlite_where=_PROJECTS, postgresql_where=_PROJECTS)
Index("ix_subjects_done_project_sdused", subjects.c.project_type, subjects.c.span_days_used, *_FILTER_KEYS,
      subjects.c.ended_at, sqlite_where=_PROJECTS, postgresql_where=_PROJECTS)
# 体外循环 suspects (秒办): the few finished matters faster than a threshold, found by a range on the span
Index("ix_subjects_done_span", subjects.c.level, subjects.c.span_natural_days, *_FILTER_KEYS, subjects.c.matter_id,
      subjects.c.department, subjects.c.ended_at, sqlite_where=_FINISHED, postgresql_where=_FINISHED)
# the rates (overdue, 超时默许, 并联, 容缺, 体外循环 totals, …): every count of one level in one walk of this index;
# project_id last, for the measures that look at a stage's other subjects (联合验收)
Index("ix_subjects_facts", subjects.c.level, *_FILTER_KEYS, subjects.c.ended_at, subjects.c.outcome,
      subjects.c.intake, subjects.c.overdue, subjects.c.statutory_overdue, subjects.c.parallel_after,
      subjects.c.span_natural_days, subjects.c.matter_id, subjects.c.project_id)
# a project's subjects by key with what the cross-subject measures test (联合验收: the departments of a stage's
# matters, a key range; 特别程序: the matter a special procedure belongs to; 告知承诺: the stage's outcome), so
# they read no table rows
Index("ix_subjects_keyed", subjects.c.project_id, subjects.c.key, subjects.c.level, *_FILTER_KEYS,
      subjects.c.department, subjects.c.outcome)
# 特别程序: the special procedures alone (a few % of subjects), with everything their measures read
_SPECIALS = text("level = 'special'")
Index("ix_subjects_specials", subjects.c.procedure, *_FILTER_KEYS, subjects.c.ended_at, subjects.c.span_natural_days,
      subjects.c.span_working_days, subjects.c.project_id, subjects.c.key,
      sqlite_where=_SPECIALS, postgresql_where=_SPECIALS)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(40), primary_key=True),  # SpiffWorkflow task id
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=False, index=True),
    Column("spec_id", String(120), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("department", String(40), nullable=True),
    Column("owner_id", String(100), nullable=False),
    Column("stage", String(10), nullable=True),
    Column("matter_key", String(160), nullable=True),
    Column("matter_name", String(200), nullable=True),
    Column("state", String(20), nullable=False),  # ready | done | cancelled
    Column("created_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("due_at", UTCDateTime(), nullable=True),
    Column("actor", String(100), nullable=True),
    Column("claimed_by", String(100), nullable=True),  # the officer working on it (认领); others may not complete it
    Column("claimed_at", UTCDateTime(), nullable=True),
    Column("data", JSON, nullable=False),  # what the assignee needs to see (matter, missing items …)
    Index("ix_tasks_inbox", "state", "role", "department", "due_at"),
    # does this department have a task in this project? (an agency's project list; 0011_throughput_indexes)
    Index("ix_tasks_department_project", "department", "project_id"),
    # inboxes in their order (soonest due, no due date last, oldest, id): a page is an index walk, not a sort
    Index("ix_tasks_department_inbox", "department", "state", text("(due_at IS NULL)"), "due_at", "created_at", "id"),
    Index("ix_tasks_queue", "state", text("(due_at IS NULL)"), "due_at", "created_at", "id"),
    # an owner's (or agent's) inbox in the same order (0051_speed_owner_inbox): without it the walk of every
    # ready task in ix_tasks_queue looked for the owner's few (190 ms at 100,000 projects for an empty inbox)
    Index("ix_tasks_owner_inbox", "owner_id", "state", text("(due_at IS NULL)"), "due_at", "created_at", "id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=False, index=True),
    Column("owner_id", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
)

credit_records = Table(
    "credit_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=True),  # NULL: recorded by an operator
    Column("owner_id", String(100), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("stage", String(10), nullable=True),
    Column("reason", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(100), primary_key=True),  # the Actor id (an owner's name is its owner_id)
    Column("role", String(20), nullable=False),
    Column("department", String(40), nullable=True),
    Column("owner_ids", JSON, nullable=False),  # an agent's principals (帮办代办)
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the bearer token
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("actor", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

#: 电子证照: one row per certificate a matter's approving result issued, maintained from the ledger events in the
#: transaction that writes them (engine/domain/certificates.py, migration 0030_certificates). ``status`` is
#: valid | revoked | expired; ``number`` is what an owner quotes and a later matter's 免于提交 refers to.
certificates = Table(
    "certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(80), nullable=False, unique=True),
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=False),
    Column("project_code", String(24), nullable=True),
    Column("owner_id", String(100), nullable=False),  # the holder (持证主体)
    Column("holder_name", String(200), nullable=True),
    Column("type_id", String(40), nullable=False),
    Column("type_name", String(100), nullable=False),
    Column("kind", String(20), nullable=False),  # licence | approval | opinion | filing
    Column("department", String(40), nullable=True),  # the issuing department (制证单位)
    Column("stage", String(10), nullable=True),
    Column("matter_key", String(160), nullable=False),
    Column("matter_id", String(80), nullable=False),
    Column("division_code", String(6), nullable=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("status", String(10), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revocation_reason", Text, nullable=True),
    Column("expired_at", UTCDateTime(), nullable=True),
    Column("reminded_at", UTCDateTime(), nullable=True),  # 证照到期提醒 queued
    UniqueConstraint("project_id", "matter_key", name="uq_certificates_matter"),
    Index("ix_certificates_project", "project_id", "issued_at", "id"),
    Index("ix_certificates_owner", "owner_id", "issued_at", "id"),
    Index("ix_certificates_expiry", "status", "expires_at"),
)

#: Projects whose timers could not run (their workflow would not load or step): 事故 an administrator sees,
#: fixes and retries (engine/services/incidents.py). The timer query skips a project while it has an open one,
#: so one broken project never stops the others (migration 0013_ops_incidents).
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(40), ForeignKey("projects.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # timer
    Column("status", String(20), nullable=False),  # open | resolved
    Column("error", Text, nullable=False),  # exception type and message
    Column("detail", Text, nullable=False),  # the traceback's tail, for the administrator
    Column("attempts", Integer, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("failed_at", UTCDateTime(), nullable=False),  # the latest failure
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Index("ix_incidents_project_status", "project_id", "status"),
)

#: Counters for identifiers that must be unique across processes and restarts (migration 0014_ops_project_ids):
#: on SQLite the ``project`` row is the project-number counter (incremented inside the writing transaction, which
#: BEGIN IMMEDIATE serialises); on PostgreSQL the sequence ``project_id_seq`` is (engine/persistence/ids.py).
id_counters = Table(
    "id_counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: The last link of every audit chain ("project:<id>", "admin"): a deleted last event or a dropped chain shows.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(80), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

#: Administrative events (user created, role changed, token revoked …) with who did them, in the "admin" chain.
admin_events = Table(
    "admin_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("type", String(40), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("subject", String(100), nullable=True),
    Column("data", JSON, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

__all__ = [
    "metadata", "definitions", "projects", "workflow_parts", "events", "subjects", "tasks",
    "notifications", "credit_records", "certificates", "users", "idempotency_keys", "incidents", "id_counters", "audit_heads", "admin_events", "rule_tables", "UTCDateTime",
]

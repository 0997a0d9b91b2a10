"""电子证照, 免于提交 and 项目代码: the rules (unit) and the routes through the real API (integration).

The API part runs one ``social_general`` project through the real engine over HTTP (virtual clock) up to its
construction-permit stage (S3), whose 施工许可证 application lists the 建设工程规划许可证 the S2 stage issued.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.domain.actors import SYSTEM
from engine.domain.catalogue import CatalogueError, load_catalogue
from engine.domain.certificates import (
    ProjectCodeError,
    add_months,
    check_project_code,
    exemptions,
    expiry,
)
from engine.domain.ledger import Event
from engine.persistence.uow import UnitOfWork
from engine.simulation.cases import typical_case
from tests.pg_server import pg_server  # noqa: F401  (fixture)
from tests.test_api_support import default_payload, make_harness

CODE = "2026-360100-47-03-000123"  # 备案 (03): the typical social_general case files its project (investment_mode filing)


# -- the rules ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [CODE, "2025-110000-48-01-999999", " 2026-360100-47-03-000123 "])
def test_well_formed_project_codes_pass(code: str) -> None:
    assert check_project_code(code) == code.strip()


@pytest.mark.parametrize(("code", "says"), [
    ("2026-360100-47-3-000123", "national format"),
    ("P2026-000001", "national format"),
    ("1999-360100-47-03-000123", "coding year"),
    ("2026-990100-47-03-000123", "赋码地区"),
    ("2026-360100-98-03-000123", "行业代码"),
    ("2026-360100-47-04-000123", "项目类型"),
    ("2026-360100-47-03-000000", "serial"),
])
def test_malformed_project_codes_say_which_part_is_wrong(code: str, says: str) -> None:
    with pytest.raises(ProjectCodeError, match=says):
        check_project_code(code)


def test_a_code_of_another_management_type_than_the_case_is_refused() -> None:
    with pytest.raises(ProjectCodeError, match="investment mode 'filing'"):
        check_project_code("2026-360100-47-02-000123", investment_mode="filing")
    assert check_project_code("2026-360100-47-02-000123", investment_mode="ratification")


def test_validity_counts_calendar_months_in_shanghai() -> None:
    assert add_months(datetime(2026, 1, 31).date(), 1) == datetime(2026, 2, 28).date()
    issued = datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc)  # 10-01 01:00 in Shanghai
    assert expiry(issued, 3) == datetime(2026, 12, 31, 16, 0, tzinfo=timezone.utc)  # valid through 12-31 (Shanghai)
    assert expiry(issued, None) is None


def test_only_a_valid_certificate_exempts_and_the_newest_is_named() -> None:
    now = datetime(2026, 10, 1, tzinfo=timezone.utc)
    def cert(number: str, status: str, issued_days: int, expires: datetime | None = None) -> dict[str, Any]:
        return {"number": number, "type_id": "construction_planning_permit", "type_name": "建设工程规划许可证",
                "status": status, "issued_at": now - timedelta(days=issued_days), "expires_at": expires}
    material = [("s3_construction_permit", "planning_permit_copy", "建设工程规划许可证（电子证照）",
                 "construction_planning_permit")]
    assert exemptions(material, [cert("JZ-1", "revoked", 9)], now) == {}
    assert exemptions(material, [cert("JZ-2", "valid", 9, expires=now - timedelta(seconds=1))], now) == {}
    found = exemptions(material, [cert("JZ-3", "valid", 9), cert("JZ-4", "valid", 2), cert("JZ-5", "revoked", 1)], now)
    assert found["s3_construction_permit:planning_permit_copy"]["certificate"] == "JZ-4"


def test_the_catalogue_types_every_result_and_checks_its_references(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    assert catalogue.certificate_type("construction_permit").validity_months == 3  # 建筑法第九条
    issued = {m.certificate for m in catalogue.matters.values() if m.certificate}
    assert {"land_use_planning_permit", "construction_planning_permit", "construction_permit",
            "joint_acceptance_opinion"} <= issued
    assert all(m.certificate for m in catalogue.matters.values() if m.stage != "SU"), "every government result"
    root = tmp_path / "workflows"
    shutil.copytree(catalogue.root, root)
    matters = (root / "matters.yaml").read_text(encoding="utf-8")
    (root / "matters.yaml").write_text(matters.replace("provided_by: construction_planning_permit}",
                                                       "provided_by: no_such_type}", 1), encoding="utf-8")
    profile = (root / "profiles" / "default.yaml").read_text(encoding="utf-8")
    (root / "profiles" / "default.yaml").write_text(profile.replace('"{code}-{year}-{seq:06d}"', '"{code}-{month}"'),
                                                    encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(root=root)
    text = str(err.value)
    assert "unknown certificate type 'no_such_type'" in text
    assert "unknown field(s) month" in text and "must contain {seq}" in text


# -- through the API ---------------------------------------------------------------------------------------------
FILING = {"name": "城南厂房", "project_type": "social_general", "case": typical_case("social_general"),
          "include_planning": False, "division_code": "360100"}


def _drive_until(hz, pid: str, stop) -> None:  # noqa: ANN001 - a predicate on ready task rows
    for _ in range(400):
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        if any(stop(t) for t in ready):
            return
        if not ready:
            hz.tick(6)
            continue
        task = ready[0]
        hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", default_payload(task))
    raise AssertionError("the project never reached the awaited task")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    hz = make_harness(tmp_path_factory.mktemp("certificates"))
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    _drive_until(hz, pid, lambda t: t["spec_id"] == "Task_SubmitFiling" and t["stage"] == "S3")
    return hz, pid


def _certificates(hz, who: str, pid: str) -> list[dict[str, Any]]:
    return hz.get(who, f"/projects/{pid}/certificates")


def test_approved_matters_issue_certificates_owners_and_involved_agencies_see(world) -> None:
    hz, pid = world
    certs = {c["type_id"]: c for c in _certificates(hz, "owner1", pid)}
    permit = certs["construction_planning_permit"]
    assert permit["number"].startswith("JZ-2026-") and permit["status"] == "valid" and permit["kind"] == "licence"
    assert permit["holder"]["owner_id"] == "owner1" and permit["department"] == "zrzy"
    assert permit["stage"] == "S2" and permit["matter_id"] == "s2_construction_planning_permit"
    assert permit["valid_until"] is not None and permit["expires_at"] > permit["issued_at"]
    assert certs["filing_certificate"]["expires_at"] is None  # 备案证明: no expiry date
    assert _certificates(hz, "officer-zrzy", pid), "the issuing department handles the project"
    for outsider in ("owner2", "officer-ww"):
        r = hz.client.get(f"/projects/{pid}/certificates", headers=hz.h(outsider))
        assert r.status_code == 403, r.text
        r = hz.client.get(f"/certificates/{permit['number']}", headers=hz.h(outsider))
        assert r.status_code == 403 and "not among the certificates" in r.json()["detail"]
    assert hz.get("officer-zrzy", f"/certificates/{permit['number']}")["number"] == permit["number"]
    r = hz.client.get("/certificates/JZ-2026-999999", headers=hz.h("owner2"))
    assert r.status_code == 403, "an unknown number is refused like another owner's (no probing)"
    mine = hz.get("owner1", "/certificates")
    assert {c["number"] for c in mine} >= {c["number"] for c in certs.values()}
    assert hz.get("owner2", "/certificates") == []


def test_certificate_lists_are_paginated(world) -> None:
    hz, pid = world
    everything = _certificates(hz, "owner1", pid)
    assert len(everything) >= 3
    r = hz.client.get(f"/projects/{pid}/certificates?limit=2", headers=hz.h("owner1"))
    assert r.status_code == 200 and len(r.json()) == 2 and r.headers["X-Next-Cursor"]
    rest = hz.get("owner1", f"/projects/{pid}/certificates?limit=1000&cursor={r.headers['X-Next-Cursor']}")
    assert [c["number"] for c in r.json() + rest] == [c["number"] for c in everything]


def test_a_bad_project_code_is_a_422_naming_it_and_changes_nothing(world) -> None:
    hz, pid = world
    before = hz.get("owner1", f"/projects/{pid}")
    events = len(hz.get("owner1", f"/projects/{pid}/timeline"))
    for bad in ("2026-360100-47-3-000123", "2026-360100-47-01-000123"):  # malformed; 审批 while the case files
        r = hz.client.put(f"/projects/{pid}/project-code", json={"project_code": bad}, headers=hz.h("owner1"))
        assert r.status_code == 422 and "project_code" in r.json()["detail"], r.text
    r = hz.client.post("/projects", json=FILING | {"project_code": "2026-36-47"}, headers=hz.h("owner1"))
    assert r.status_code == 422 and "project_code" in r.text
    assert hz.get("owner1", f"/projects/{pid}")["project_code"] is None
    assert hz.get("owner1", f"/projects/{pid}")["version"] == before["version"]
    assert len(hz.get("owner1", f"/projects/{pid}/timeline")) == events
    r = hz.client.get("/projects?project_code=nonsense", headers=hz.h("analyst1"))
    assert r.status_code == 422 and "project_code" in r.json()["detail"]


def test_the_project_code_once_set_is_searchable_unique_and_on_every_certificate(world) -> None:
    hz, pid = world
    r = hz.client.put(f"/projects/{pid}/project-code", json={"project_code": CODE}, headers=hz.h("officer-zrzy"))
    assert r.status_code == 403, "departments do not set it"
    assert hz.client.put(f"/projects/{pid}/project-code", json={"project_code": CODE},
                         headers=hz.h("window1")).json()["changed"] is True
    assert all(c["project_code"] == CODE for c in _certificates(hz, "owner1", pid))
    assert [p["id"] for p in hz.get("analyst1", f"/projects?project_code={CODE}")] == [pid]
    assert hz.get("owner2", f"/projects?project_code={CODE}") == []
    r = hz.client.put(f"/projects/{pid}/project-code", json={"project_code": "2026-360100-47-03-000124"},
                      headers=hz.h("owner1"))
    assert r.status_code == 409 and "project_code" in r.json()["detail"]
    r = hz.client.post("/projects", json=FILING | {"project_code": CODE}, headers=hz.h("owner2"))
    assert r.status_code == 409 and CODE in r.json()["detail"], "one code is one project"
    types = [e["type"] for e in hz.get("owner1", f"/projects/{pid}/timeline")]
    assert types.count("project_code_set") == 1


def test_the_next_stage_takes_the_permit_from_its_certificate(world) -> None:
    hz, pid = world
    permit = next(c for c in _certificates(hz, "owner1", pid) if c["type_id"] == "construction_planning_permit")
    filing = next(t for t in hz.get("owner1", f"/projects/{pid}/tasks") if t["spec_id"] == "Task_SubmitFiling")
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S3", "task_id": filing["id"],
                                                    "declared_missing": ["planning_permit_copy"]})
    submitted = [e for e in hz.get("owner1", f"/projects/{pid}/timeline") if e["type"] == "stage_submitted"][-1]
    item = "s3_construction_permit:planning_permit_copy"
    assert submitted["data"]["exempted"] == [{"material": item, "name": "建设工程规划许可证（电子证照）",
                                              "certificate": permit["number"], "type_id": "construction_planning_permit",
                                              "type_name": "建设工程规划许可证", "label": "免于提交"}]
    assert item in submitted["data"]["materials"] and item not in submitted["data"]["declared_missing"]
    intake = next(t for t in hz.get("window1", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_Intake")
    assert intake["data"]["filing"]["exempted"][0]["certificate"] == permit["number"], "the window sees the source"
    events = len(hz.get("owner1", f"/projects/{pid}/timeline"))
    r = hz.client.post(f"/tasks/{intake['id']}/complete", json={"outcome": "incomplete", "missing": [item]},
                       headers=hz.h("window1"))
    assert r.status_code == 422 and permit["number"] in r.json()["detail"] and "免于提交" in r.json()["detail"]
    assert len(hz.get("owner1", f"/projects/{pid}/timeline")) == events, "a refused completion changes nothing"


def test_a_revoked_certificate_no_longer_exempts(tmp_path: Path) -> None:
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    _drive_until(hz, pid, lambda t: t["spec_id"] == "Task_SubmitFiling" and t["stage"] == "S3")
    revoke_matter(hz.service, pid, "S2/s2_construction_planning_permit", "核查发现承诺内容不实")
    permit = next(c for c in _certificates(hz, "owner1", pid) if c["type_id"] == "construction_planning_permit")
    assert permit["status"] == "revoked" and permit["revocation_reason"] == "核查发现承诺内容不实"
    assert hz.get("owner1", f"/certificates/{permit['number']}")["status_label"] == "已撤销"
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S3"})
    submitted = [e for e in hz.get("owner1", f"/projects/{pid}/timeline") if e["type"] == "stage_submitted"][-1]
    assert "exempted" not in submitted["data"]
    intake = next(t for t in hz.get("window1", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_Intake")
    hz.post("window1", f"/tasks/{intake['id']}/complete",
            {"outcome": "incomplete", "missing": ["s3_construction_permit:planning_permit_copy"]})


def test_a_stage_level_revocation_revokes_every_certificate_of_the_stage(tmp_path: Path) -> None:
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    _drive_until(hz, pid, lambda t: t["spec_id"] == "Task_SubmitFiling" and t["stage"] == "S3")
    revoke_matter(hz.service, pid, None, "撤销本阶段许可", stage="S2")
    by_stage = {}
    for c in _certificates(hz, "owner1", pid):
        by_stage.setdefault(c["stage"], set()).add(c["status"])
    assert by_stage["S2"] == {"revoked"} and by_stage["S1"] == {"valid"}


def test_expiry_reminds_the_owner_then_marks_the_certificate_expired(tmp_path: Path) -> None:
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    _drive_until(hz, pid, lambda t: t["spec_id"] == "Task_SubmitFiling" and t["stage"] == "S3")
    permit = next(c for c in _certificates(hz, "owner1", pid) if c["type_id"] == "construction_planning_permit")
    expires = datetime.fromisoformat(permit["expires_at"])
    days = hz.service.catalogue.profile.certificate_reminder_days
    hz.clock.set(expires - timedelta(days=days + 1))
    hz.service.fire_timers()
    assert not [n for n in hz.get("owner1", f"/projects/{pid}/notifications") if n["kind"] == "certificate_reminder"]
    hz.clock.set(expires - timedelta(days=days - 1))
    hz.service.fire_timers()
    hz.service.fire_timers()  # a second pass reminds nobody twice
    reminders = [n for n in hz.get("owner1", f"/projects/{pid}/notifications") if n["kind"] == "certificate_reminder"]
    assert [n["data"]["certificate"] for n in reminders] == [permit["number"]]
    assert hz.get("owner1", f"/certificates/{permit['number']}")["status"] == "valid"
    hz.clock.set(expires + timedelta(minutes=1))
    hz.service.fire_timers()
    expired = hz.get("owner1", f"/certificates/{permit['number']}")
    assert expired["status"] == "expired" and expired["expired_at"]
    assert [n["kind"] for n in hz.get("owner1", f"/projects/{pid}/notifications")].count("certificate_expired") >= 1
    assert permit["number"] not in {c["number"] for c in hz.get("owner1", "/certificates?status=valid")}


def revoke_matter(service, pid: str, matter_key: str | None, reason: str, *, stage: str | None = None) -> None:
    """Write the ledger's ``permit_revoked`` event the 撤销 path writes (the contract certificates project), through
    the service's own step: the event and the certificate change commit together."""
    stage = stage or (matter_key or "").split("/")[0]

    def work(uow, project, runtime, workflow, ctx):  # noqa: ANN001
        ctx.ledger.emit(Event("permit_revoked", ctx.now, stage=stage, matter_key=matter_key, data={"reason": reason}))

    service._operate(pid, SYSTEM, work)
    with UnitOfWork(service.db, read_only=True) as uow:
        assert [e for e in uow.events.for_project(pid) if e["type"] == "permit_revoked"]


def test_owners_pages_list_certificates_and_mark_exempted_materials(tmp_path: Path) -> None:
    from tests.test_pages import sign_in

    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    _drive_until(hz, pid, lambda t: t["spec_id"] == "Task_SubmitFiling" and t["stage"] == "S3")
    permit = next(c for c in _certificates(hz, "owner1", pid) if c["type_id"] == "construction_planning_permit")
    sign_in(hz, "owner1")
    listing = hz.client.get("/ui/certificates")
    assert listing.status_code == 200 and permit["number"] in listing.text and "建设工程规划许可证" in listing.text
    project = hz.client.get(f"/ui/projects/{pid}")
    assert project.status_code == 200 and permit["number"] in project.text and "电子证照" in project.text
    filing = next(t for t in hz.get("owner1", f"/projects/{pid}/tasks") if t["spec_id"] == "Task_SubmitFiling")
    page = hz.client.get(f"/ui/tasks/{filing['id']}")
    assert page.status_code == 200 and "免于提交" in page.text and permit["number"] in page.text
    assert 'name="m_planning_permit_copy"' not in page.text, "an exempted material is not asked for"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_step_issuing_several_of_a_type_draws_its_counter_once_with_the_numbers_of_one_draw_each(
        tmp_path: Path, request, backend: str) -> None:
    """A step's certificates of one type and year take their numbers in one counter statement; the numbers are those
    one draw per certificate, in order, gives — also in a shard's lane (index 1 of 3: 2, 5, 8 …)."""
    from sqlalchemy import event

    from engine.clock import VirtualClock
    from engine.domain.certificates import Changes, Issue, format_number
    from engine.persistence.db import make_engine, migrate
    from engine.services.approval import ApprovalService
    from tests.test_engine import file_project, local

    url = (f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_server").create_database())
    db = make_engine(url)
    migrate(db)
    service = ApprovalService(db, catalogue=load_catalogue(), clock=VirtualClock(local(2026, 11, 2, 9, 0)))
    service.deploy_bundled()
    pid = file_project(service)
    at = datetime(2026, 11, 3, 2, 0, tzinfo=timezone.utc)

    def issue(code: str, key: str) -> Issue:
        return Issue(matter_key=key, matter_id=key, stage="S1", type_id=f"type_{code}", type_name="证", kind="permit",
                     code=code, department="zjj", issued_at=at, expires_at=None, outcome="approved")

    project = {"id": pid, "owner_id": "owner-1", "owner_name": None, "project_code": None, "division_code": "360100"}
    counters: list[str] = []
    event.listens_for(db, "before_cursor_execute")(
        lambda _c, _cur, statement, *_a: counters.append(statement) if "id_counters" in statement else None)
    fmt = "{code}-{year}-{seq:04d}"
    with UnitOfWork(db) as uow:
        first = uow.certificates.apply(project, Changes(issues=[issue("A", "m1"), issue("B", "m2"), issue("A", "m3")]),
                                       number_format=fmt, lane=(1, 3))
        second = uow.certificates.apply(project, Changes(issues=[issue("A", "m4")]), number_format=fmt, lane=(1, 3))
        uow.commit()
    assert first == ["A-2026-0002", "B-2026-0002", "A-2026-0005"] and second == ["A-2026-0008"]
    assert len(counters) == 3, "one counter statement per counter and step"
    assert format_number(fmt, code="A", issued_at=at, division=None, seq=8) == second[0]
    with UnitOfWork(db, read_only=True) as uow:
        assert {c["number"] for c in uow.certificates.for_project(pid)} >= set(first + second)
    db.dispose()

"""The example scenarios replay, and their timings match figures worked out by hand.

Calendar facts used below: 1–7 Oct 2026 are the National Day holiday (国庆节, with 中秋节), Sat 10 Oct 2026 is
a 调休 working day, Sun 11 Oct is a rest day. A working day counts 24 h; 受理次日起算 for due dates.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.clock import VirtualClock
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import WorkCalendar
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.simulation.scenario import ScenarioError, load_scenario, parse_scenario, replay

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SH = ZoneInfo("Asia/Shanghai")


def run(path: Path | dict, tmp_path: Path):
    scenario = load_scenario(path) if isinstance(path, Path) else parse_scenario(path)
    db = make_engine(f"sqlite:///{tmp_path / 'scenario.db'}")
    migrate(db)
    clock = VirtualClock(scenario.start)
    service = ApprovalService(db, catalogue=load_catalogue(scenario.profile), calendar=WorkCalendar.default(), clock=clock)
    service.deploy_bundled()
    return replay(scenario, service, clock), service


def by_key(entries: list[dict]) -> dict[str, dict]:
    return {e["key"]: e for e in entries}


def local(iso: str) -> datetime:
    """Asia/Shanghai wall time, to the second (timers fire a microsecond after they are due)."""
    return datetime.fromisoformat(iso).astimezone(SH).replace(tzinfo=None, microsecond=0)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_scenario_replays(path: Path, tmp_path: Path) -> None:
    result, _ = run(path, tmp_path)
    assert result.timings
    for timing in result.timings.values():
        assert timing["stages"], "every example files at least one stage"


def test_national_day_correction_matches_hand_computation(tmp_path: Path) -> None:
    result, _ = run(SCENARIOS / "national_day_correction.yaml", tmp_path)
    timing = result.timings["P1"]
    matters = by_key(timing["matters"])

    # 企业投资项目备案: Mon 28 Sep 10:00 → Tue 29 Sep 15:00 = 14 h + 15 h = 29 h, both working days
    filing = matters["S1/s1_project_filing"]
    assert filing["span_working_days"] == pytest.approx(29 / 24, abs=1e-3)
    assert filing["approval_working_days"] == pytest.approx(29 / 24, abs=1e-3)
    assert filing["status"] == "on_time"  # 1 working day: due Tue 29 Sep 24:00

    # 建设用地规划许可: Mon 28 Sep 10:00 → Sat 10 Oct 16:00 (调休 working day)
    #   span = 14 (28 Sep) + 24 + 24 (29, 30 Sep) + 0 (1–7 Oct) + 24 + 24 (8, 9 Oct) + 16 (10 Oct) = 126 h
    #   补正 Wed 30 Sep 11:00 → Fri 9 Oct 10:00 = 13 + 0 + 24 + 10 = 47 h stopped
    permit = matters["S1/s1_land_use_planning_permit"]
    assert permit["span_working_days"] == pytest.approx(126 / 24, abs=1e-3)
    assert permit["stopped_working_days"] == pytest.approx(47 / 24, abs=1e-3)
    assert permit["approval_working_days"] == pytest.approx(79 / 24, abs=1e-3)
    assert permit["span_natural_days"] == pytest.approx(12.25, abs=1e-3)
    # 3 working days after Mon 28 Sep: 29, 30 Sep, 8 Oct → 24:00 Thu 8 Oct; the stop covered the working days
    # after Wed 30 Sep up to Fri 9 Oct: 8 and 9 Oct (profile stop_push: days) → 24:00 Sat 10 Oct (调休)
    # (by the hour, stop_push: hours, + 47 h would give Sat 10 Oct 23:00)
    assert local(permit["committed_due"]) == datetime(2026, 10, 11, 0, 0)
    assert permit["status"] == "on_time"
    # the clerk's count: 29, 30 Sep, 8, 9, 10 Oct = 5 working days, less the 2 stopped = 3 of 3 used
    assert (permit["span_days_used"], permit["approval_days_used"]) == (5, 3)

    # stage S1: Mon 28 Sep 10:00 → Mon 12 Oct 09:00 = 126 − 16 + 24 (rest of Sat 10 Oct) + 0 (Sun 11) + 9 = 143 h;
    # the stage clock stops while its only open matter waits for 补正 (the same 47 h) → 96 h = 4.0 wd
    stage = by_key(timing["stages"])["S1"]
    assert stage["span_working_days"] == pytest.approx(143 / 24, abs=1e-3)
    assert stage["stopped_working_days"] == pytest.approx(47 / 24, abs=1e-3)
    assert stage["approval_working_days"] == pytest.approx(4.0, abs=1e-3)
    # social_small S1 limit 3 wd → due 24:00 Sat 10 Oct as above; issued Mon 12 Oct → overdue: 4 of 3 days used
    assert local(stage["committed_due"]) == datetime(2026, 10, 11, 0, 0)
    assert stage["status"] == "overdue"
    assert (stage["span_days_used"], stage["approval_days_used"]) == (6, 4)
    assert stage["result_label"] == "办结（通过）"


def test_silent_consent_and_broken_promise(tmp_path: Path) -> None:
    result, service = run(SCENARIOS / "silent_consent_broken_promise.yaml", tmp_path)
    timing = result.timings["P2"]
    matters = by_key(timing["matters"])

    # 园林 never acted: accepted Mon 9 Nov 11:00, 5 wd → due Mon 16 Nov 24:00, deemed approved then
    greening = matters["S23/s2_greening_scheme_review"]
    # deemed approved, then its permit revoked with the broken promise (the tolerated drawing was its material)
    assert greening["outcome"] == "revoked"
    assert [e["data"]["outcome"] for e in service.events("P2")
            if e["type"] == "matter_completed" and e["matter_key"] == greening["key"]] == ["silent_consent"]
    assert local(greening["end"]) == datetime(2026, 11, 17, 0, 0)
    # Mon 13 h + Tue–Fri 4 × 24 h + Mon 24 h = 133 h
    assert greening["span_working_days"] == pytest.approx(133 / 24, abs=1e-3)

    # 专家评审 Tue 10 Nov 10:00 → Tue 17 Nov 10:00 = 5 working days, excluded from approval time
    traffic = matters["S23/s2_traffic_impact_opinion"]
    assert traffic["stopped_working_days"] == pytest.approx(5.0, abs=1e-3)
    # span Mon 9 Nov 11:00 → Wed 18 Nov 10:00 = 13 + 24 × 6 + 10 = 167 h; approval 167 − 120 = 47 h
    assert traffic["span_working_days"] == pytest.approx(167 / 24, abs=1e-3)
    assert traffic["approval_working_days"] == pytest.approx(47 / 24, abs=1e-3)
    special = by_key(timing["special_procedures"])["S23/s2_traffic_impact_opinion#special1"]
    assert special["span_working_days"] == pytest.approx(5.0, abs=1e-3)

    # the tolerated drawing never came: 20 wd after Mon 9 Nov ends Mon 7 Dec 24:00 → 拟撤销告知, 陈述申辩,
    # and the lead department's decision on Wed 9 Dec 10:00 → 撤销许可
    stage = by_key(timing["stages"])["S23"]
    # 撤销 is per permit: the stage keeps the outcome of its processing, the revoked permit is listed beside it
    assert stage["outcome"] == "approved_with_tolerance"
    assert stage["revoked_matters"] == [greening["key"]]
    decided = [e for e in service.events("P2") if e["type"] == "revocation_decided"]
    assert [e["data"]["decision"] for e in decided] == ["revoke"] and decided[0]["data"]["reason"]
    assert [e["type"] for e in service.events("P2")].count("statement_submitted") == 1
    assert stage["result_label"] == "办结（容缺通过）"
    # only that permit is revoked (nothing builds on it): the route goes on to 竣工验收
    assert result.projects["P2"]["status"] == "running"
    assert [t["spec_id"] for t in service.list_tasks(project_id="P2")] == ["Task_SubmitFiling"]
    assert [e["matter_key"] for e in service.events("P2") if e["type"] == "permit_revoked"] == [greening["key"]]
    assert service.credit_records("o2"), "a broken promise leaves a credit record"
    check = by_key(timing["post_checks"])["S23/check/s2_greening_scheme_review"]
    assert check["outcome"] == "not_checked"
    assert local(check["end"]) == datetime(2026, 12, 9, 10, 0)  # closed when the project stopped (the revocation)


def test_errors_name_the_action(tmp_path: Path) -> None:
    raw = {
        "start": "2026-09-28T09:00:00+08:00",
        "projects": [{"id": "P1", "project_type": "social_small", "owner": "o1"}],
        "actions": [
            {"at": "2026-09-28T10:00+08:00", "do": "submit", "stage": "S1"},
            {"at": "2026-09-28T10:00+08:00", "do": "accept", "stage": "S1"},
            {"at": "2026-09-28T11:00+08:00", "do": "approve", "matter": "s2_eia_approval"},
        ],
    }
    with pytest.raises(ScenarioError, match=r"^action 3 \(approve\): project P1 has no ready"):
        run(raw, tmp_path)


@pytest.mark.parametrize(("raw_action", "message"), [
    ({"do": "approve", "matter": "x", "colour": "red"}, r"action 1 \(approve\): unknown field\(s\) colour"),
    ({"do": "fly"}, r"action 1: unknown do 'fly'"),
    ({"do": "approve", "at": "yesterday"}, r"action 1 \(approve\)\.at: 'yesterday' is not an ISO 8601"),
    ({"do": "approve", "at": "2026-01-01T00:00+08:00"}, r"action 1 \(approve\): at .* is before the previous action"),
    ({"do": "approve", "project": "P9"}, r"action 1 \(approve\): unknown project 'P9'"),
])
def test_format_errors(raw_action: dict, message: str) -> None:
    raw = {"start": "2026-09-28T09:00:00+08:00",
           "projects": [{"id": "P1", "project_type": "social_small"}], "actions": [raw_action]}
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(raw)


def test_wrong_actor_is_refused_by_the_guards(tmp_path: Path) -> None:
    raw = {
        "start": "2026-09-28T09:00:00+08:00",
        "projects": [{"id": "P1", "project_type": "social_small", "owner": "o1"}],
        "actions": [
            {"at": "2026-09-28T10:00+08:00", "do": "submit", "stage": "S1"},
            {"at": "2026-09-28T10:00+08:00", "do": "accept", "stage": "S1"},
            {"do": "approve", "matter": "s1_project_filing", "actor": {"id": "x", "role": "agency", "department": "zrzy"}},
        ],
    }
    with pytest.raises(ScenarioError, match=r"action 3 \(approve\): .*department 'fgw'"):
        run(raw, tmp_path)


def test_joint_acceptance_with_early_unit(tmp_path: Path) -> None:
    result, _ = run(SCENARIOS / "joint_acceptance_units.yaml", tmp_path)
    timing = result.timings["P3"]
    assert result.projects["P3"]["status"] == "completed"
    matters = by_key(timing["matters"])
    # 先行验收: 1号楼's remaining items start only after its early opinion (Tue 17 Nov 15:00)
    assert local(matters["S4/U1/s4_planning_verification"]["start"]) == datetime(2026, 11, 17, 15, 0)
    # 现场踏勘 Wed 18 Nov 10:00 → Fri 20 Nov 10:00 stops 2号楼's 规划核实 for 2 wd
    planning = matters["S4/U2/s4_planning_verification"]
    assert planning["stopped_working_days"] == pytest.approx(2.0, abs=1e-3)
    assert planning["approval_working_days"] == pytest.approx(53 / 24, abs=1e-3)  # 101 h span − 48 h
    # S4: Mon 16 Nov 10:00 → Mon 23 Nov 15:00 = 14 + 4 × 24 + 15 = 125 h; from Wed 18 Nov 10:00 (every other
    # item done; no unit files 竣工验收备案 any more) to Fri 20 Nov 10:00 the only open matter is in 现场踏勘 →
    # the stage clock stops 48 h
    stage = by_key(timing["stages"])["S4"]
    assert stage["span_working_days"] == pytest.approx(125 / 24, abs=1e-3)
    assert stage["stopped_working_days"] == pytest.approx(2.0, abs=1e-3)
    assert stage["approval_working_days"] == pytest.approx(77 / 24, abs=1e-3)
    # one 联合验收意见书 for the project (Fri 20 Nov 15:00 → Mon 23 Nov 10:00), none per unit
    assert "S4/s4_joint_acceptance_opinion" in matters
    assert not [k for k in matters if k.endswith("/s4_joint_acceptance_opinion") and k.count("/") == 2]
    registration = by_key(timing["stages"])["S5"]
    assert registration["result_label"] == "办结（通过）"
    # 验登合一: registration accepted the moment the 联合验收意见书 was issued (Mon 23 Nov 15:00), no second filing
    assert registration["intake"] == "combined" and local(registration["start"]) == datetime(2026, 11, 23, 15, 0)


def test_revocation_closes_what_was_still_running(tmp_path: Path) -> None:
    """S1 permit revoked (commitment broken) while S23 is under way: only the permits built on it end — the
    S23 planning permit still in review is terminated by the precondition gate — and S23, missing a mandatory
    permit, is refused; the project stops with the revocation as its result."""
    raw = {
        "start": "2026-11-02T09:00:00+08:00",
        "projects": [{"id": "P1", "project_type": "social_small", "owner": "o1"}],
        "actions": [
            {"at": "2026-11-02T10:00+08:00", "do": "submit", "stage": "S1"},
            {"at": "2026-11-02T10:00+08:00", "do": "intake", "stage": "S1", "outcome": "tolerance",
             "missing": ["s1_land_use_planning_permit:parcel_survey"]},
            {"do": "sign_commitment", "stage": "S1"},
            {"at": "2026-11-03T10:00+08:00", "do": "approve", "matter": "s1_project_filing"},
            {"do": "approve", "matter": "s1_land_use_planning_permit"},
            {"at": "2026-11-04T10:00+08:00", "do": "issue", "stage": "S1"},
            {"at": "2026-11-09T10:00+08:00", "do": "submit", "stage": "S23"},
            {"at": "2026-11-09T10:00+08:00", "do": "accept", "stage": "S23"},
            # 20 wd after Mon 2 Nov → 24:00 Mon 30 Nov: the intended revocation is notified; the owner lets its
            # 陈述申辩 period pass (5 wd from Tue 1 Dec → 24:00 Tue 8 Dec) and the lead department revokes on Wed 9 Dec
            {"at": "2026-12-09T10:00+08:00", "do": "decide_revocation", "stage": "S1", "decision": "revoke"},
            {"at": "2026-12-10T09:00+08:00", "do": "run_until"},
        ],
    }
    result, service = run(raw, tmp_path)
    timing = result.timings["P1"]
    assert result.projects["P1"]["result"] == "revoked"
    stages = by_key(timing["stages"])
    assert stages["S1"]["outcome"] == "approved_with_tolerance"  # its processing; the permit carries the 撤销
    matters = by_key(timing["matters"])
    assert matters["S1/s1_land_use_planning_permit"]["outcome"] == "revoked"
    assert matters["S1/s1_project_filing"]["outcome"] == "approved"  # not built on the broken promise
    planning = matters["S23/s2_construction_planning_permit"]
    assert planning["outcome"] == "terminated" and local(planning["end"]) == datetime(2026, 12, 9, 10, 0)
    terminated = [e for e in service.events("P1") if e["type"] == "matter_completed"
                  and e["matter_key"] == "S23/s2_construction_planning_permit"]
    assert "许可已撤销" in terminated[0]["data"]["reason"]
    assert stages["S23"]["outcome"] == "refused"
    assert all(m["end"] is not None for m in timing["matters"])
    assert timing["project"]["end"] is not None

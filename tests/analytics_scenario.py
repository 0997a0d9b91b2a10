"""Three small projects driven through the real ApprovalService on a virtual clock, for the analytics tests.

All three are 核准 projects on allocated land with every S2 matter selected by their case.
A (social_general, S1 from Mon 2 Nov 2026 09:00 Shanghai): 用地预审 in 2 minutes; 建设用地规划许可 in 3 minutes
(a 体外循环 suspect); 节能审查 stopped for 补正 3 Nov 09:00 → 5 Nov 09:00, approved 5 Nov 15:00; 核准 with a
专家评审 (stops the clock) 3 Nov 10:00 → 4 Nov 10:00, approved 4 Nov 11:00; result issued 5 Nov 16:00.
B (social_general): S1 matters approved 4 Nov 09:00, result 4 Nov 10:00; S2 accepted 4 Nov 10:00, most matters
approved 5 Nov 10:00, the two 超时默许 matters lapse, 人防 approved late on 12 Nov 10:00 (committed 5 wd:
due 11 Nov 24:00); S2's result is not issued (the stage stays open).
C (social_general): S1 accepted Wed 30 Sep 2026 09:00, every matter approved on Fri 9 Oct 09:00 across the
国庆 holiday (1–7 Oct off, Sat 10 Oct a working day): 9 natural days, 2 working days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.clock import VirtualClock
from engine.domain.actors import Actor
from engine.domain.catalogue import load_catalogue
from engine.domain.workcalendar import SHANGHAI
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.simulation.cases import typical_case

OWNER = Actor("owner-1", "owner")
WINDOW = Actor("window-1", "window", "window")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def who(row: dict[str, Any]) -> Actor:
    if row["role"] == "owner":
        return OWNER
    if row["role"] == "window":
        return WINDOW
    if row["role"] == "lead":
        return Actor(f"lead-{row['department']}", "lead", row["department"])
    return Actor(f"officer-{row['department']}", "agency", row["department"])


class Driver:
    def __init__(self, service: ApprovalService, clock: VirtualClock) -> None:
        self.service, self.clock = service, clock

    def task(self, pid: str, spec: str, matter: str | None = None) -> dict[str, Any]:
        rows = [r for r in self.service.list_tasks(project_id=pid) if r["spec_id"] == spec
                and (matter is None or (r.get("matter_key") or "").endswith("/" + matter))]
        assert len(rows) == 1, (spec, matter, [(r["spec_id"], r.get("matter_key")) for r in self.service.list_tasks(project_id=pid)])
        return rows[0]

    def do(self, at: datetime, pid: str, spec: str, payload: dict[str, Any], matter: str | None = None) -> None:
        self.clock.set(at)
        row = self.task(pid, spec, matter)
        self.service.complete_task(row["id"], payload, actor=who(row))

    def review(self, at: datetime, pid: str, matter: str, payload: dict[str, Any] | None = None) -> None:
        self.clock.set(at)
        rows = [r for r in self.service.list_tasks(project_id=pid)
                if r["spec_id"] in ("Task_Review", "Task_ReviewSilent") and r["matter_key"].endswith("/" + matter)]
        assert len(rows) == 1, matter
        self.service.complete_task(rows[0]["id"], payload or {"decision": "approve"}, actor=who(rows[0]))


def build(url: str) -> tuple[ApprovalService, dict[str, str]]:
    db = make_engine(url)
    migrate(db)
    clock = VirtualClock(local(2026, 9, 30, 9, 0))
    service = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    service.deploy_bundled()
    d = Driver(service, clock)
    filing = {"name": "示例项目", "project_type": "social_general", "owner_id": OWNER.id, "include_planning": False,
              "case": typical_case("social_general") | {"investment_mode": "ratification", "land_supply": "allocation",
                                                        "energy_above_threshold": True, "in_relics_zone": True,
                                                        "eia_category": "report", "occupies_municipal": True}}
    # 核准 project on allocated land: its case selects these four S1 matters (选址 before 用地规划许可)
    s1 = ("s1_project_ratification", "s1_land_presite", "s1_land_use_planning_permit", "s1_energy_review")

    # C: across 国庆 2026
    c = service.start_project(filing)
    d.do(local(2026, 9, 30, 9, 0), c, "Task_SubmitFiling", {})
    d.do(local(2026, 9, 30, 9, 0), c, "Task_Intake", {"outcome": "complete"})
    for matter in s1:
        d.review(local(2026, 10, 9, 9, 0), c, matter)
    d.do(local(2026, 10, 9, 9, 0), c, "Task_IssueResult", {})

    # A: correction stop, special procedure, a 3-minute approval
    clock.set(local(2026, 11, 2, 9, 0))
    a = service.start_project(filing)
    b = service.start_project(filing)
    d.do(local(2026, 11, 2, 9, 0), a, "Task_SubmitFiling", {})
    d.do(local(2026, 11, 2, 9, 0), a, "Task_Intake", {"outcome": "complete"})
    d.do(local(2026, 11, 2, 9, 0), b, "Task_SubmitFiling", {})
    d.do(local(2026, 11, 2, 9, 0), b, "Task_Intake", {"outcome": "complete"})
    d.review(local(2026, 11, 2, 9, 2), a, "s1_land_presite")
    d.review(local(2026, 11, 2, 9, 3), a, "s1_land_use_planning_permit")
    d.review(local(2026, 11, 3, 9, 0), a, "s1_energy_review", {"decision": "correction", "items": ["补充节能报告"]})
    d.review(local(2026, 11, 3, 10, 0), a, "s1_project_ratification", {"decision": "special", "procedure": "expert_review"})
    for matter in s1:
        d.review(local(2026, 11, 4, 9, 0), b, matter)
    d.do(local(2026, 11, 4, 10, 0), a, "Task_SpecialProcedure", {"conclusion": "同意"}, matter="s1_project_ratification")
    d.do(local(2026, 11, 4, 10, 0), b, "Task_IssueResult", {})
    d.do(local(2026, 11, 4, 10, 0), b, "Task_SubmitFiling", {})
    d.do(local(2026, 11, 4, 10, 0), b, "Task_Intake", {"outcome": "complete"})
    d.review(local(2026, 11, 4, 11, 0), a, "s1_project_ratification")
    d.do(local(2026, 11, 5, 9, 0), a, "Task_MatterCorrection", {"supplied": ["补充节能报告"]}, matter="s1_energy_review")
    silent = ("s2_greening_scheme_review", "s2_traffic_impact_opinion")
    late = "s2_civil_defense_design_opinion"
    for m in service.catalogue.matters_for("social_general", "S2"):  # this case selects every S2 matter
        if m.id not in silent and m.id != late:
            d.review(local(2026, 11, 5, 10, 0), b, m.id)
    d.review(local(2026, 11, 5, 15, 0), a, "s1_energy_review")
    d.do(local(2026, 11, 5, 16, 0), a, "Task_IssueResult", {})
    clock.set(local(2026, 11, 12, 10, 0))
    service.fire_timers()
    d.review(local(2026, 11, 12, 10, 0), b, late)
    return service, {"A": a, "B": b, "C": c}


if __name__ == "__main__":  # pragma: no cover - a look at the figures while writing the tests
    import json
    import sys

    svc, ids = build(sys.argv[1] if len(sys.argv) > 1 else "sqlite://")
    for name, pid in ids.items():
        timing = svc.timing(pid)
        for item in timing["stages"] + timing["matters"] + timing["special_procedures"]:
            print(name, item["key"], item.get("department"), item["start"], item["end"], item["span_natural_days"],
                  item["span_working_days"], item["approval_working_days"], item["status"], item["statutory_overdue"],
                  item.get("outcome"))

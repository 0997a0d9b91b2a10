"""The case (情形) decides the matters: questionnaire validation, the decision table, the plan and its API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.bpmn.dmn import DecisionTableError, DmnMatterRules
from engine.domain.case import CaseError
from engine.domain.catalogue import load_catalogue
from engine.domain.plan import build_plan
from engine.services.approval import load_matter_rules
from engine.simulation.cases import TYPICAL_CASES, typical_case
from tests.test_api_support import make_harness

CATALOGUE = load_catalogue()
RULES = load_matter_rules(CATALOGUE)
DMN = CATALOGUE.matter_rules_path.read_text(encoding="utf-8")


def plan_for(project_type: str, **answers):
    case = CATALOGUE.case.validate_answers(project_type, typical_case(project_type) | answers)
    return build_plan(CATALOGUE, project_type, CATALOGUE.route_stages(project_type, False), case, RULES)


@pytest.mark.parametrize("project_type", sorted(TYPICAL_CASES))
def test_investment_modes_exclude_each_other(project_type: str) -> None:
    chosen = set(plan_for(project_type).selected_ids("S1"))
    assert len(chosen & {"s1_project_approval", "s1_project_ratification", "s1_project_filing"}) == 1


def test_ratification_replaces_filing_and_says_why() -> None:
    plan = plan_for("social_general", investment_mode="ratification")
    filing = plan.get("s1_project_filing")
    assert plan.get("s1_project_ratification").selected and not filing.selected
    assert filing.rule.source == "decision_table" and re.fullmatch(r"Rule_\d+", filing.rule.id) and filing.rule.row
    assert "不再办理备案" in filing.rule.text


def test_type_rules_come_first_and_are_cited() -> None:
    drawing = plan_for("social_small").get("s3_drawing_review")
    assert drawing is not None and not drawing.selected
    assert drawing.rule.source == "catalogue" and drawing.rule.id == "exempt_for"


def test_regional_assessment_waives_what_it_covers() -> None:
    covered = plan_for("social_general", eia_category="form", regional_assessment=["eia"])
    assert not covered.get("s2_eia_approval").selected
    assert plan_for("social_general", eia_category="form").get("s2_eia_approval").selected
    # a 报告书 project is only simplified, never waived (the table's first eia row)
    assert plan_for("social_general", eia_category="report", regional_assessment=["eia"]).get("s2_eia_approval").selected


def test_legal_order_keeps_only_preconditions_on_the_route() -> None:
    scheme = plan_for("land_with_scheme")
    assert "s2_design_scheme_review" not in scheme.selected_ids()  # 方案随土地出让确定
    assert scheme.requires("s2_construction_planning_permit") == ("s1_land_use_planning_permit",)
    assert scheme.requires("s3_construction_permit") == ("s2_construction_planning_permit", "s3_drawing_review")
    assert plan_for("social_general").dependants("s2_design_scheme_review") == ["s2_construction_planning_permit"]


def test_selected_matters_come_in_legal_order_whatever_the_catalogue_order() -> None:
    """A dependant listed before its precondition still comes after it (a sequential review would wait forever)."""
    plan = plan_for("social_general")
    stage = plan.get("s2_construction_planning_permit").stage
    reversed_plan = plan.model_copy(update={"matters": tuple(reversed(plan.matters))})
    for p in (plan, reversed_plan):
        ids = p.selected_ids(stage)
        assert set(ids) == set(plan.selected_ids(stage))
        for matter_id in ids:
            for pre in p.requires(matter_id):
                if pre in ids:
                    assert ids.index(pre) < ids.index(matter_id), (matter_id, pre, ids)
    assert "s2_design_scheme_review" in reversed_plan.selected_ids(stage)
    assert reversed_plan.selected_ids(stage).index("s2_design_scheme_review") < \
        reversed_plan.selected_ids(stage).index("s2_construction_planning_permit")


def test_answers_are_checked_per_question() -> None:
    with pytest.raises(CaseError) as err:
        CATALOGUE.case.validate_answers("social_general", {"investment_mode": "approval", "floor_area_m2": -1,
                                                           "colour": "red", "in_relics_zone": "yes"})
    ids = [qid for qid, _ in err.value.problems]
    assert {"investment_mode", "floor_area_m2", "colour", "in_relics_zone", "land_supply", "site_area_m2"} <= set(ids)
    assert "not allowed for project type social_general" in str(err.value)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in DMN
    path = tmp_path / "rules.dmn"
    path.write_text(DMN.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('<text>"ratification"</text>', "<text>ratification ==</text>", r"row 5 \(Rule_005\), column '投资项目管理类别'"),
    ('<text>"s1_project_filing"</text>', '<text>"s1_project_filng"</text>', r"row 7 \(Rule_007\), column '事项'.*not a catalogue matter"),
    ("<text>True</text>", "<text>yes</text>", r"row 1 \(Rule_001\), column '是否办理'.*True or False"),
    ("<text>floor_area_m2</text>", "<text>floor_area</text>", r"column '总建筑面积（m²）'.*floor_area"),
])
def test_an_invalid_table_is_refused_naming_row_and_column(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(DecisionTableError) as err:
        DmnMatterRules.load(_broken(tmp_path, old, new), question_ids=CATALOGUE.case.ids(), matter_ids=list(CATALOGUE.matters))
    assert re.search(expected, str(err.value)), str(err.value)


def test_a_matter_without_a_row_is_refused(tmp_path: Path) -> None:
    start = DMN.index('<rule id="Rule_039">')
    path = tmp_path / "rules.dmn"
    path.write_text(DMN[:start] + DMN[DMN.index("</rule>", start) + len("</rule>"):], encoding="utf-8")
    with pytest.raises(DecisionTableError, match="s4_planning_verification' has no row"):
        DmnMatterRules.load(path, question_ids=CATALOGUE.case.ids(), matter_ids=list(CATALOGUE.matters))


def test_api_questions_preview_plan_and_refusal(tmp_path: Path) -> None:
    hz = make_harness(tmp_path)
    questions = hz.get("owner1", "/catalogue/case-questions?project_type=social_general")
    mode = next(q for q in questions if q["id"] == "investment_mode")
    assert {c["value"] for c in mode["choices"]} == {"ratification", "filing"}  # 审批 is not offered to enterprises
    case = typical_case("social_general") | {"investment_mode": "ratification"}
    preview = hz.post("owner1", "/catalogue/plan-preview", {"project_type": "social_general", "case": case})
    s1 = {m["matter_id"]: m for m in preview["stages"][0]["matters"]}
    assert s1["s1_project_ratification"]["selected"] and s1["s1_project_ratification"]["materials"]
    assert not s1["s1_project_filing"]["selected"] and s1["s1_project_filing"]["rule"]["text"]
    pid = hz.post("owner1", "/projects", {"name": "核准项目", "project_type": "social_general", "case": case}, status=201)["id"]
    plan = hz.get("owner1", f"/projects/{pid}/plan")
    assert plan["stages"] == preview["stages"] and plan["rules_version"] == RULES.version
    before = hz.get("owner1", "/projects")
    for body, field in [({"case": case | {"colour": "red"}}, "case.colour"),
                        ({"case": {k: v for k, v in case.items() if k != "land_supply"}}, "case.land_supply")]:
        response = hz.client.post("/projects", json={"name": "x", "project_type": "social_general", **body},
                                  headers=hz.h("owner1"))
        assert response.status_code == 422 and field in response.json()["detail"], response.json()
    assert hz.get("owner1", "/projects") == before  # a refused filing changes nothing


def test_cli_checks_a_table_and_previews_a_case(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "check", str(CATALOGUE.matter_rules_path)])
    assert ok.exit_code == 0 and "ok" in ok.output
    bad = runner.invoke(app, ["rules", "check", str(_broken(tmp_path, '<text>"ratification"</text>', "<text>ratification ==</text>"))])
    assert bad.exit_code == 1 and "row 5 (Rule_005), column '投资项目管理类别'" in bad.output
    case = tmp_path / "case.json"
    case.write_text('{"investment_mode": "ratification", "land_supply": "transfer", "floor_area_m2": 30000, '
                    '"site_area_m2": 3000}', encoding="utf-8")
    shown = runner.invoke(app, ["rules", "preview", "--project-type", "social_general", "--case", str(case)])
    assert shown.exit_code == 0
    assert re.search(r"办理\s+s1_project_ratification", shown.output)
    assert re.search(r"不办理 s1_project_filing .*审批、核准项目不再办理备案", shown.output)
    case.write_text('{"investment_mode": "approval"}', encoding="utf-8")
    refused = runner.invoke(app, ["rules", "preview", "--project-type", "social_general", "--case", str(case)])
    assert refused.exit_code == 2 and "case.investment_mode" in refused.output


def test_credit_standing_comes_from_the_records_and_bars_tolerance(tmp_path: Path) -> None:
    hz = make_harness(tmp_path)
    assert hz.get("owner1", "/owners/owner1/credit")["good"] is True
    forbidden = hz.client.post("/admin/credit-records", json={"owner_id": "owner1", "reason": "x"}, headers=hz.h("owner1"))
    assert forbidden.status_code == 403
    hz.post("admin", "/admin/credit-records", {"owner_id": "owner1", "reason": "拖欠工程款失信"}, status=201)
    standing = hz.get("window1", "/owners/owner1/credit")
    assert standing["good"] is False and "拖欠工程款失信" in standing["records"][0]["reason"]
    assert hz.client.get("/owners/owner1/credit", headers=hz.h("owner2")).status_code == 403
    # the window's 容缺受理 is refused for that owner, naming the rule, and nothing changes
    pid = hz.post("owner1", "/projects", {"name": "信用测试", "project_type": "social_small",
                                           "case": typical_case("social_small")}, status=201)["id"]
    hz.tick(6)
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    intake = next(t for t in hz.get("window1", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_Intake")
    refused = hz.client.post(f"/tasks/{intake['id']}/complete", json={"outcome": "tolerance", "missing": ["parcel_survey"]},
                             headers=hz.h("window1"))
    assert refused.status_code == 422 and "credit" in refused.json()["detail"]
    assert any(t["id"] == intake["id"] for t in hz.get("window1", f"/tasks?project_id={pid}"))


@pytest.mark.parametrize(("profile", "in_stage", "later"), [
    ("default", ("foundation",), ("basement", "superstructure")),
    ("jiangxi", ("foundation", "basement", "superstructure"), ()),
])
def test_the_profile_decides_which_phases_the_stage_waits_for(profile: str, in_stage: tuple, later: tuple) -> None:
    """分阶段施工许可: the plan records, at filing, the phase that ends the stage (profile phased_permit)."""
    catalogue = load_catalogue(profile)
    case = catalogue.case.validate_answers("social_general", typical_case("social_general") | {"phased_construction_permit": True})
    plan = build_plan(catalogue, "social_general", catalogue.route_stages("social_general", False), case,
                      load_matter_rules(catalogue))
    permit = plan.get("s3_construction_permit")
    assert permit.phases == ("foundation", "basement", "superstructure")
    assert (permit.stage_phases, permit.later_phases) == (in_stage, later)
    from engine.services.approval import plan_view

    shown = next(m for st in plan_view(catalogue, plan)["stages"] for m in st["matters"]
                 if m["matter_id"] == "s3_construction_permit")
    assert (tuple(shown["phases"]), tuple(shown["stage_phases"])) == (permit.phases, in_stage)
    unphased = plan_for("social_general", phased_construction_permit=False).get("s3_construction_permit")
    assert unphased.phases == () and unphased.later_phases == ()

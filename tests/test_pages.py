"""The web pages without a browser: sessions, CSRF, who may open which page, and that nothing loads from
outside (the browser scenario is tests/test_pages_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_api_support import FILING, Harness, make_harness

ROOT = Path(__file__).resolve().parents[1]
#: A 小型低风险 case as the form sends it (出让 land, 20,000 m² on 8,000 m², in a relics zone, occupying roads):
#: its S23 runs the planning, greening, occupation, traffic, relics, soil-and-water and construction matters.
SMALL_CASE = {"case.land_supply": "transfer", "case.floor_area_m2": "20000", "case.site_area_m2": "8000",
              "case.in_relics_zone": "yes", "case.occupies_municipal": "yes"}
SMALL_CASE_JSON = {"land_supply": "transfer", "floor_area_m2": 20000, "site_area_m2": 8000, "in_relics_zone": True,
                   "occupies_municipal": True}


@pytest.fixture()
def hz(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(hz: Harness, name: str) -> str:
    """Sign in through the form; returns a CSRF token of the signed-in session."""
    hz.client.cookies.clear()
    page = hz.client.get("/")
    r = hz.client.post("/signin", data={"csrf": _csrf(page.text), "name": name, "token": hz.tokens[name]},
                       follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(hz.client.get(r.headers["location"]).text)


def test_sign_in_sets_a_signed_httponly_samesite_cookie_and_goes_to_the_role_home(hz: Harness) -> None:
    page = hz.client.get("/")
    assert page.status_code == 200 and "登录" in page.text and 'lang="zh-CN"' in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    r = hz.client.post("/signin", data={"csrf": _csrf(page.text), "name": "officer-zjj", "token": hz.tokens["officer-zjj"]},
                       follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    assert hz.tokens["officer-zjj"] not in r.headers["set-cookie"], "the cookie never carries the token"
    assert hz.client.get("/ui/inbox").status_code == 200


def test_wrong_token_is_shown_next_to_the_field(hz: Harness) -> None:
    page = hz.client.get("/")
    r = hz.client.post("/signin", data={"csrf": _csrf(page.text), "name": "owner1", "token": hz.tokens["owner2"]})
    assert r.status_code == 401
    assert 'id="err-token"' in r.text and "令牌不正确" in r.text
    assert hz.client.get("/ui/projects", follow_redirects=False).status_code == 303  # still signed out


def test_a_form_without_the_session_csrf_token_changes_nothing(hz: Harness) -> None:
    sign_in(hz, "owner1")
    r = hz.client.post("/ui/projects/new", data={"csrf": "forged", "name": "x", "project_type": "social_small",
                                                 "intent": "file", **SMALL_CASE})
    assert r.status_code == 403 and "CSRF" in r.text
    assert hz.get("owner1", "/projects") == []


def test_the_api_takes_bearer_tokens_only_not_the_session_cookie(hz: Harness) -> None:
    sign_in(hz, "owner1")
    assert hz.client.get("/projects").status_code == 401  # cookie alone: no API access (no CSRF through the API)
    assert hz.client.get("/projects", headers=hz.h("owner1")).status_code == 200


def test_revoking_the_token_ends_the_browser_session(hz: Harness) -> None:
    sign_in(hz, "owner1")
    assert hz.client.get("/ui/projects").status_code == 200
    hz.client.delete("/admin/users/owner1", headers=hz.h("admin"))
    r = hz.client.get("/ui/projects", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/?next=")


def test_pages_refuse_what_the_api_refuses(hz: Harness) -> None:
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    sign_in(hz, "owner2")
    r = hz.client.get(f"/ui/projects/{pid}")
    assert r.status_code == 403 and "您无权查看该项目" in r.text and "滨江综合楼" not in r.text
    assert hz.client.get(f"/ui/projects/{pid}/diagram.bpmn").status_code == 403
    assert hz.client.get("/ui/analytics").status_code == 403
    assert hz.client.get("/ui/admin").status_code == 403
    sign_in(hz, "analyst1")
    assert hz.client.get("/ui/analytics").status_code == 200
    assert hz.client.get("/ui/projects/new").status_code == 403  # only owners and agents file
    assert hz.client.get("/ui/admin").status_code == 403
    task = hz.get("owner1", f"/tasks?project_id={pid}")[0]
    sign_in(hz, "officer-zjj")
    assert hz.client.get(f"/ui/tasks/{task['id']}").status_code == 403  # not its department's project


def test_an_agent_files_for_its_principal_only(hz: Harness) -> None:
    csrf = sign_in(hz, "agent1")
    form = {"csrf": csrf, "name": "代办项目", "project_type": "social_small", "intent": "file", **SMALL_CASE}
    r = hz.client.post("/ui/projects/new", data={**form, "owner_id": "owner2"})
    assert r.status_code == 403 and hz.get("admin", "/projects") == []
    r = hz.client.post("/ui/projects/new", data={**form, "owner_id": "owner1"}, follow_redirects=False)
    assert r.status_code == 303
    assert [p["owner_id"] for p in hz.get("admin", "/projects")] == ["owner1"]


def test_sign_in_never_redirects_off_site(hz: Harness) -> None:
    page = hz.client.get("/?next=//evil.example/")
    r = hz.client.post("/signin", data={"csrf": _csrf(page.text), "name": "owner1", "token": hz.tokens["owner1"],
                                        "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/ui/projects"


def test_docs_and_pages_load_nothing_from_outside_and_run_no_inline_script(hz: Harness) -> None:
    docs = hz.client.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    for template in (ROOT / "api" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']https?://""", text), template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{template.name}: inline script"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", text), f"{template.name}: inline event handler"
    assert hz.client.get("/static/app.css").status_code == 200
    sign_in(hz, "owner1")
    missing = hz.client.get("/ui/no-such-page")
    assert missing.status_code == 404 and "没有这个页面" in missing.text


def _act(hz: Harness, who: str, task_id: str, **form: object) -> object:
    csrf = sign_in(hz, who)
    return hz.client.post(f"/ui/tasks/{task_id}", data={"csrf": csrf, **form}, follow_redirects=False)


def _task(hz: Harness, pid: str, spec: str, department: str | None = None) -> dict:
    ready = [t for t in hz.get("admin", f"/tasks?project_id={pid}") if t["spec_id"].startswith(spec)
             and (department is None or t["department"] == department)]
    assert ready, (spec, department)
    return ready[0]


def test_special_procedure_claims_and_post_check_through_the_pages(hz: Harness) -> None:
    """The task kinds the browser scenario does not reach: 特别程序 start and end, 认领 / 释放, 补齐容缺材料 and
    the post-check (核查), each through its page form; a bad value is refused next to its field."""
    pid = hz.post("owner1", "/projects", {"name": "页面测试", "project_type": "social_small", "case": SMALL_CASE_JSON},
                  status=201)["id"]
    for _ in range(60):
        hz.tick(3)
        ready = hz.get("admin", f"/tasks?project_id={pid}")
        specs = {t["spec_id"] for t in ready}
        if "Task_PostCheck" in specs or not ready:
            break
        t = ready[0]
        if t["spec_id"] == "Task_SubmitFiling":
            form = {"action": "complete"}
            if t["stage"] == "S23":
                form["m_construction_contract"] = "missing"
            assert _act(hz, "owner1", t["id"], **form).status_code == 303
        elif t["spec_id"] == "Task_Intake":
            outcome = {"outcome": "tolerance", "missing": "construction_contract"} if t["stage"] == "S23" else {"outcome": "complete"}
            assert _act(hz, "window1", t["id"], action="complete", **outcome).status_code == 303
        elif t["spec_id"] == "Task_SignCommitment":
            assert _act(hz, "owner1", t["id"], action="complete", signatory="张三", accepted_terms="yes").status_code == 303
        elif t["spec_id"].startswith("Task_Review") and t["department"] == "sw" and not any(
                e["type"] == "task_completed" and (e.get("data") or {}).get("task") == "Task_SpecialProcedure"
                for e in hz.get("admin", f"/projects/{pid}/timeline")):
            who = "officer-sw"
            csrf = sign_in(hz, who)
            assert hz.client.post(f"/ui/tasks/{t['id']}/claim", data={"csrf": csrf}, follow_redirects=False).status_code == 303
            assert hz.get(who, f"/tasks/{t['id']}")["claimed_by"] == who
            assert hz.client.post(f"/ui/tasks/{t['id']}/claim", data={"csrf": csrf, "release": "1"},
                                  follow_redirects=False).status_code == 303
            assert hz.get(who, f"/tasks/{t['id']}")["claimed_by"] is None
            bad = _act(hz, who, t["id"], action="special", procedure="")
            assert bad.status_code == 422 and 'id="err-procedure"' in bad.text
            assert _act(hz, who, t["id"], action="special", procedure="expert_review").status_code == 303
        elif t["spec_id"] == "Task_SpecialProcedure":
            assert _act(hz, f"officer-{t['department']}", t["id"], action="complete", conclusion="专家评审通过").status_code == 303
        elif t["spec_id"] == "Task_SupplyDocuments":
            bad = _act(hz, "owner1", t["id"], action="complete", documents="")
            assert bad.status_code == 422 and "请列出补齐的容缺材料" in bad.text
            assert _act(hz, "owner1", t["id"], action="complete", documents="施工合同").status_code == 303
        elif t["role"] in ("agency", "lead"):
            assert _act(hz, hz.who_for(t), t["id"], action="approve" if t["spec_id"].startswith("Task_Review") else "complete").status_code == 303
        else:
            raise AssertionError(t)
    check = _task(hz, pid, "Task_PostCheck")
    bad = _act(hz, f"officer-{check['department']}", check["id"], action="complete", passed="no", findings="")
    assert bad.status_code == 422 and "核查不通过须写明核查意见" in bad.text
    assert _act(hz, f"officer-{check['department']}", check["id"], action="complete", passed="yes").status_code == 303
    progress = hz.get("owner1", f"/projects/{pid}/progress")
    assert progress["special_procedures"] and progress["post_checks"][0]["end"]
    assert {s["key"] for s in progress["stages"] if s["end"]} == {"S1", "S23"}
    # 受理用时: each stage filing at the window, shown on the project page beside the stages
    assert {(f["stage"], f.get("result_label")) for f in progress["filings"]} >= {("S1", "已受理"), ("S23", "已受理")}
    sign_in(hz, "owner1")
    page = hz.client.get(f"/ui/projects/{pid}").text
    assert "申报受理（受理用时" in page and 'data-key="S1/filing"' in page and "已受理" in page


def test_the_new_project_form_is_the_case_questionnaire_with_a_preview_before_filing(hz: Harness) -> None:
    csrf = sign_in(hz, "owner1")
    page = hz.client.get("/ui/projects/new?project_type=social_small")
    for question in hz.get("owner1", "/catalogue/case-questions?project_type=social_small"):
        assert f'name="case.{question["id"]}"' in page.text, question["id"]
    form = {"csrf": csrf, "name": "情形测试", "project_type": "social_small"}
    missing = hz.client.post("/ui/projects/new", data={**form, "case.floor_area_m2": "很大"})
    assert missing.status_code == 422 and 'id="err-case.floor_area_m2"' in missing.text and "请填写数字" in missing.text
    refused = hz.client.post("/ui/projects/new", data={**form, "case.floor_area_m2": "20000"})
    assert refused.status_code == 422 and 'id="err-case.land_supply"' in refused.text  # required, no default
    preview = hz.client.post("/ui/projects/new", data={**form, **SMALL_CASE})
    assert preview.status_code == 200 and 'data-matter="s2_greening_scheme_review" class="selected"' in preview.text
    assert 'data-matter="s3_drawing_review" class="skipped"' in preview.text
    assert hz.get("owner1", "/projects") == [], "a preview files nothing"
    filed = hz.client.post("/ui/projects/new", data={**form, **SMALL_CASE, "intent": "file"}, follow_redirects=False)
    assert filed.status_code == 303
    (project,) = hz.get("owner1", "/projects")
    plan = hz.get("owner1", f"/projects/{project['id']}/plan")
    assert plan["case"]["in_relics_zone"] is True and plan["case"]["floor_area_m2"] == 20000


def test_admin_uploads_a_model_and_creates_a_user_whose_token_is_shown_once(hz: Harness) -> None:
    csrf = sign_in(hz, "admin")
    files = [("files", (p.name, p.read_bytes(), "application/xml")) for p in sorted((ROOT / "bpmn").glob("*.bpmn"))]
    same = hz.client.post("/ui/admin/definitions", data={"csrf": csrf, "process_id": "project_approval"}, files=files)
    assert same.status_code == 200 and "内容与第 1 版相同" in same.text
    forged = hz.client.post("/ui/admin/definitions", data={"csrf": "x", "process_id": "project_approval"}, files=files)
    assert forged.status_code == 403
    created = hz.client.post("/ui/admin/users", data={"csrf": csrf, "name": "officer-new", "role": "agency",
                                                      "department": "rf"})
    token = re.search(r'<code class="token">([^<]+)</code>', created.text).group(1)
    assert hz.client.get("/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = hz.client.post("/ui/admin/users", data={"csrf": csrf, "name": "officer-x", "role": "agency"})
    assert bad.status_code == 422 and 'id="err-department"' in bad.text


def test_admin_publishes_a_decision_table_and_sees_each_fault_with_row_and_column(hz: Harness) -> None:
    csrf = sign_in(hz, "admin")
    page = hz.client.get("/ui/admin")
    assert "尚未发布：使用口径文件中的决策表" in page.text and 'name="dmn"' in page.text
    dmn = (ROOT / "workflows" / "rules" / "matter_selection.dmn").read_text("utf-8")
    broken = dmn.replace('<text>"s2_soil_water_conservation"</text>', '<text>"s2_soil_water"</text>')
    refused = hz.client.post("/ui/admin/rules", data={"csrf": csrf, "profile": "default"},
                             files=[("dmn", ("rules.dmn", broken.encode("utf-8"), "application/xml"))])
    assert refused.status_code == 422 and "决策表校验未通过，未发布" in refused.text
    assert "row 34 (Rule_034), column &#39;事项&#39;" in refused.text and hz.get("admin", "/admin/rules") == []
    edited = dmn.replace("&gt;= 20000</text>", "&gt;= 5000</text>", 1)
    published = hz.client.post("/ui/admin/rules", data={"csrf": csrf, "profile": "default"},
                               files=[("dmn", ("rules.dmn", edited.encode("utf-8"), "application/xml"))])
    assert published.status_code == 200 and "已发布 default 口径第 1 版规则" in published.text
    assert "新申报项目使用" in published.text
    forged = hz.client.post("/ui/admin/rules", data={"csrf": "x", "profile": "default"},
                            files=[("dmn", ("rules.dmn", edited.encode("utf-8"), "application/xml"))])
    assert forged.status_code == 403 and len(hz.get("admin", "/admin/rules")) == 1
    missing = hz.client.post("/ui/admin/rules", data={"csrf": csrf, "profile": "default"})
    assert missing.status_code == 422 and 'id="err-dmn"' in missing.text


def test_analyst_filters_by_division_and_downloads_the_scoring_sheet(hz: Harness) -> None:
    hz.post("owner1", "/projects", FILING | {"division_code": "360102"}, status=201)
    sign_in(hz, "owner1")
    assert hz.client.get("/ui/analytics/scoring.xlsx").status_code == 403
    sign_in(hz, "analyst1")
    page = hz.client.get("/ui/analytics?division=360100")
    assert page.status_code == 200 and 'value="360100"' in page.text and "scoring.xlsx?" in page.text
    bad = hz.client.get("/ui/analytics?division=36")
    assert bad.status_code == 422 and "行政区划代码为 6 位数字" in bad.text
    sheet = hz.client.get("/ui/analytics/scoring.xlsx?division=360100")
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"  # an xlsx is a zip


def test_the_analyst_page_shows_the_window_s_time_per_stage(hz: Harness) -> None:
    """受理用时 on the dashboard: one row per stage with filings, the same figures as /analytics/timings?by=filing."""
    pid = hz.post("owner1", "/projects", {"name": "受理用时", "project_type": "social_small", "case": SMALL_CASE_JSON},
                  status=201)["id"]
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})  # the window holds it from now
    sign_in(hz, "analyst1")
    page = hz.client.get("/ui/analytics").text
    rows = hz.get("analyst1", "/analytics/timings?by=filing")
    assert rows and "受理用时（申报至窗口作出受理决定）" in page
    for row in rows:
        assert f'<tr data-stage="{row["stage"]}"><td>' in page.split('id="filing-times"')[1].split("</table>")[0]
    filtered = hz.client.get("/ui/analytics?department=zrzy")  # a matter-level filter does not break the section
    assert filtered.status_code == 200 and "filing-times" in filtered.text


def test_the_owner_chooses_commitment_on_the_preview_and_the_agency_sees_the_check(hz: Harness) -> None:
    """告知承诺制 on the pages: the preview offers it for eligible matters only; filing with it sets the plan's
    mode; a refused choice is shown and files nothing; the review and 核查 task pages say the matter is committed."""
    csrf = sign_in(hz, "owner1")
    form = {"csrf": csrf, "name": "承诺制页面", "project_type": "social_small", **SMALL_CASE}
    preview = hz.client.post("/ui/projects/new", data=form)
    assert 'name="commitment_matters" value="s1_land_use_planning_permit"' in preview.text
    assert 'name="commitment_matters" value="s1_project_filing"' not in preview.text  # not allowed for it
    refused = hz.client.post("/ui/projects/new", data={**form, "intent": "file", "commitment_matters": "s1_project_filing"})
    assert refused.status_code == 422 and "不适用告知承诺制" in refused.text  # in Chinese (api/pages/refusals.py)
    assert hz.get("owner1", "/projects") == []
    filed = hz.client.post("/ui/projects/new", data={**form, "intent": "file",
                                                    "commitment_matters": "s1_land_use_planning_permit"},
                           follow_redirects=False)
    assert filed.status_code == 303
    (project,) = hz.get("owner1", "/projects")
    pid = project["id"]
    plan = hz.get("owner1", f"/projects/{pid}/plan")
    assert [m["matter_id"] for s in plan["stages"] for m in s["matters"] if m["mode"] == "commitment"] == \
        ["s1_land_use_planning_permit"]
    hz.post("owner1", f"/projects/{pid}/filings", {"stage": "S1"})
    intake = next(t for t in hz.get("admin", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_Intake")
    hz.post("window1", f"/tasks/{intake['id']}/complete", {"outcome": "complete"})
    review = next(t for t in hz.get("officer-zrzy", "/tasks") if t["matter_key"] == "S1/s1_land_use_planning_permit")
    sign_in(hz, "officer-zrzy")
    assert 'data-mode="commitment"' in hz.client.get(f"/ui/tasks/{review['id']}").text
    for task in hz.get("admin", f"/tasks?project_id={pid}"):
        if task["spec_id"] == "Task_Review":
            hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", {"decision": "approve"})
    issue = next(t for t in hz.get("admin", f"/tasks?project_id={pid}") if t["spec_id"] == "Task_IssueResult")
    hz.post(hz.who_for(issue), f"/tasks/{issue['id']}/complete", {"certificate_no": "证-S1"})
    check = next(t for t in hz.get("officer-zrzy", "/tasks") if t["spec_id"] == "Task_PostCheck")
    sign_in(hz, "officer-zrzy")
    page = hz.client.get(f"/ui/tasks/{check['id']}").text
    assert "核查结论" in page and 'data-mode="commitment"' in page and "依承诺内容核查" in page


def test_the_owner_records_the_project_code_on_the_project_page(hz: Harness) -> None:
    """登记项目代码 on the project page: a malformed code is shown beside the field in Chinese and records nothing;
    a good one is recorded once (then the form is gone); an analyst gets no form."""
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    csrf = sign_in(hz, "owner1")
    page = hz.client.get(f"/ui/projects/{pid}")
    assert 'name="project_code"' in page.text
    bad = hz.client.post(f"/ui/projects/{pid}/project-code", data={"csrf": csrf, "project_code": "2026-36-47"})
    assert bad.status_code == 422 and 'id="err-project_code"' in bad.text
    message = re.search(r'id="err-project_code"[^>]*>([^<]+)<', bad.text).group(1)
    assert re.search(r"[\u4e00-\u9fff]", message), message  # said in Chinese, beside the field
    assert hz.get("owner1", f"/projects/{pid}").get("project_code") is None
    code = "2026-360100-47-03-000124"
    good = hz.client.post(f"/ui/projects/{pid}/project-code", data={"csrf": csrf, "project_code": code},
                          follow_redirects=False)
    assert good.status_code == 303
    assert hz.get("owner1", f"/projects/{pid}")["project_code"] == code
    after = hz.client.get(f"/ui/projects/{pid}")
    assert code in after.text and 'name="project_code"' not in after.text
    sign_in(hz, "analyst1")
    assert 'name="project_code"' not in hz.client.get(f"/ui/projects/{pid}").text

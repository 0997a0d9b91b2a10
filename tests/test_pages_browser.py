"""The web pages in a real browser (headless Debian chromium through Playwright): every role does its job.

An owner files a 小型低风险 project and its first stage; the window accepts; two agencies approve and the lead
department issues the result. In the merged stage (S23) the owner declares a document missing, the window
accepts with tolerance (容缺受理) and the owner signs the commitment; two agencies approve in parallel while a
third requests a correction, the owner resubmits, the rest approve and the lead issues the combined result
(综合出件). The owner sees both stages done on the highlighted BPMN diagram and the analyst sees S23's time on
the dashboard. Along the way: an agency cannot open another department's task page, and a bad form value is
shown next to its field and changes nothing. Each role's main page is saved as a screenshot under
test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

from tests.browser_server import ARTIFACTS, Live, browser, live  # noqa: F401  (fixtures)

SHOTS = ARTIFACTS / "screenshots"
REVIEW_ROWS = "tr[data-spec='Task_Review'], tr[data-spec='Task_ReviewSilent']"


class Desk:
    """One user at their own browser (own cookies), signed in through the sign-in form."""

    def __init__(self, browser: Any, live: Live, name: str, *, width: int = 1280, height: int = 900) -> None:
        self.live, self.name = live, name
        self.context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before irreversible decisions
        self.page.goto(live.url + "/")
        self.page.fill("#name", name)
        self.page.fill("#token", live.tokens[name])
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r"/ui/"))

    def go(self, path: str) -> Any:
        return self.page.goto(self.live.url + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def submit(self, form_selector: str = "form:has(input[name=action])") -> None:
        with self.page.expect_navigation():
            self.page.locator(form_selector).locator("button[type=submit]").first.click()

    def open_task(self, pid: str, rows: str) -> str:
        """From the inbox, open this project's task in ``rows``; returns the task id."""
        self.go("/ui/inbox")
        row = self.page.locator(rows).filter(has_text=pid).first
        task_id = row.get_attribute("data-task")
        row.locator("a").first.click()
        self.page.wait_for_url(re.compile(r"/ui/tasks/"))
        return task_id

    def owner_step(self, pid: str, spec: str, stage: str) -> None:
        self.go(f"/ui/projects/{pid}")
        self.page.click(f"li[data-spec='{spec}'][data-stage='{stage}'] a")
        self.page.wait_for_url(re.compile(r"/ui/tasks/"))

    def close(self) -> None:
        self.context.close()


def _ready(live: Live, pid: str) -> list[dict[str, Any]]:
    return live.service.list_tasks(project_id=pid)


def _approve(desk: Desk, pid: str, certificate: str, *, claim: bool = False) -> None:
    desk.open_task(pid, REVIEW_ROWS)
    if claim:
        with desk.page.expect_navigation():
            desk.page.click("text=认领任务")
        assert "认领人 " + desk.name in desk.page.inner_text("main")
    desk.page.fill("#certificate_no", certificate)
    desk.submit("form:has(input[value=approve])")
    assert "已准予许可" in desk.page.inner_text("main")
    desk.live.tick(2)


def test_every_role_in_the_browser(live: Live, browser: Any) -> None:  # noqa: F811
    # -- the owner files a project and its first stage -------------------------------------------------------------
    owner = Desk(browser, live, "owner1")
    owner.go("/ui/projects/new")
    owner.page.click("main form button[type=submit]")  # nothing filled in: messages next to the fields, nothing filed
    assert owner.page.inner_text("#err-name") == "请填写项目名称"
    assert owner.page.inner_text("#err-project_type") == "请选择项目类型"
    assert not _projects(live)
    owner.page.fill("#name", "滨江小型厂房")
    owner.page.select_option("#project_type", "social_small")  # htmx brings the 情形 questions of the type
    owner.page.wait_for_selector("[data-question=land_supply]")
    owner.page.fill("#location", "滨江区江南大道 1 号")
    owner.page.select_option("#q-land_supply", "transfer")
    owner.page.fill("#q-floor_area_m2", "20000")
    owner.page.fill("#q-site_area_m2", "8000")
    owner.page.check("#q-in_relics_zone-yes")
    owner.page.check("#q-occupies_municipal-yes")
    with owner.page.expect_navigation():
        owner.page.click("button[name=intent][value=preview]")
    assert owner.page.locator("tr[data-matter=s2_greening_scheme_review].selected").count() == 1
    assert owner.page.locator("tr[data-matter=s3_drawing_review].skipped").count() == 1, "小型低风险: no drawing review"
    assert not _projects(live), "the preview filed nothing"
    owner.shot("owner-new-project")
    with owner.page.expect_navigation():
        owner.page.click("button[name=intent][value=file]")
    pid = re.search(r"/ui/projects/([^/?]+)", owner.page.url).group(1)
    assert "项目已创建" in owner.page.inner_text("main")
    owner.owner_step(pid, "Task_SubmitFiling", "S1")
    owner.submit()
    live.tick()

    # -- the window accepts S1; a tolerance of a key material is refused and changes nothing ----------------------
    window = Desk(browser, live, "window1")
    window.shot("window-inbox")
    window.page.select_option("#f-colour", "red")  # htmx: the filter swaps the table in place
    window.page.wait_for_selector("#tasks .empty")
    assert "colour=red" in window.page.url
    intake = window.open_task(pid, "tr[data-spec='Task_Intake']")
    window.page.check("input[name=outcome][value=tolerance]")
    window.page.check("#missing_application_form")  # 关键材料: never tolerated
    window.submit()
    assert "填写有误" in window.page.inner_text("[role=alert]")
    assert "不允许容缺受理" in window.page.inner_text("main") and "关键材料不得容缺" in window.page.inner_text("main")
    assert [t["id"] for t in _ready(live, pid)] == [intake], "the refused intake changed nothing"
    window.page.uncheck("#missing_application_form")
    window.page.check("input[name=outcome][value=complete]")
    window.submit()
    assert "已办理完成" in window.page.inner_text("main")
    live.tick()

    # -- S1: two agencies approve; another department cannot open their task page --------------------------------
    fgw = Desk(browser, live, "officer-fgw")
    fgw_task = fgw.open_task(pid, REVIEW_ROWS)
    yl = Desk(browser, live, "officer-yl")
    response = yl.go(f"/ui/tasks/{fgw_task}")
    assert response.status == 403
    assert "无权执行此操作" in yl.page.inner_text("main")
    assert "准予许可" not in yl.page.inner_text("main")
    yl.go("/ui/inbox")
    assert pid not in yl.page.inner_text("main")
    _approve(fgw, pid, "发改备字〔2026〕001号", claim=True)
    zrzy = Desk(browser, live, "officer-zrzy")
    _approve(zrzy, pid, "地字第2026-001号")
    lead_zrzy = Desk(browser, live, "lead-zrzy")
    lead_zrzy.open_task(pid, "tr[data-spec='Task_IssueResult']")
    assert "各事项办理情况" in lead_zrzy.page.inner_text("main")
    lead_zrzy.page.fill("#certificate_no", "S1-2026-001")
    lead_zrzy.submit()
    live.tick()

    # -- S23: the owner declares a document missing, the window accepts with tolerance, the owner commits ---------
    owner.owner_step(pid, "Task_SubmitFiling", "S23")
    owner.page.check("#m_construction_contract_m")
    owner.submit()
    live.tick()
    window.open_task(pid, "tr[data-spec='Task_Intake']")
    assert window.page.is_checked("#missing_construction_contract"), "the declared missing document is pre-checked"
    window.page.check("input[name=outcome][value=tolerance]")
    window.submit()
    live.tick()
    owner.owner_step(pid, "Task_SignCommitment", "S23")
    owner.page.fill("#signatory", "张三")
    owner.submit()  # terms not accepted: refused next to the checkbox
    assert owner.page.inner_text("#err-accepted_terms") == "请阅读并勾选同意告知承诺书条款"
    owner.page.fill("#signatory", "张三")
    owner.page.check("input[name=accepted_terms]")
    owner.submit()
    live.tick()

    # -- two agencies approve in parallel while a third requests a correction ------------------------------------
    yl_desk, cg, jt = yl, Desk(browser, live, "officer-cg"), Desk(browser, live, "officer-jt")
    yl_desk.open_task(pid, REVIEW_ROWS)
    cg.open_task(pid, REVIEW_ROWS)
    jt_task = jt.open_task(pid, REVIEW_ROWS)
    jt.shot("agency-task")
    # a refusal without a reason: the message is next to the field and the task is still open
    jt.page.locator("form:has(input[value=refuse]) button[type=submit]").click()
    jt.page.wait_for_selector("#err-reason")
    assert jt.page.inner_text("#err-reason") == "不予许可必须填写理由"
    assert jt_task in {t["id"] for t in _ready(live, pid)}
    jt.page.fill("#items", "交通影响评价补充说明\n出入口位置图")
    jt.submit("form:has(input[value=correction])")
    for desk, number in ((yl_desk, "园林2026-01"), (cg, "城管2026-01")):
        desk.page.fill("#certificate_no", number)
        desk.submit("form:has(input[value=approve])")
    live.tick()
    owner.owner_step(pid, "Task_MatterCorrection", "S23")
    assert "出入口位置图" in owner.page.inner_text("main")
    owner.page.fill("#supplied", "交通影响评价补充说明（修订）\n出入口位置图")
    owner.submit()
    live.tick()
    _approve(jt, pid, "交通2026-01")
    for name in ("officer-zrzy", "officer-ww", "officer-sw", "officer-zjj"):
        desk = zrzy if name == "officer-zrzy" else Desk(browser, live, name)
        if name == "officer-zjj":
            desk.go("/ui/inbox")
            desk.shot("agency-inbox")
        _approve(desk, pid, f"{name}-2026")
    lead = Desk(browser, live, "lead-zjj")
    lead.open_task(pid, "tr[data-spec='Task_IssueResult']")
    lead.shot("lead-issue-result")
    lead.page.fill("#certificate_no", "建字第2026-023号")
    lead.submit()
    live.tick()

    # -- the owner sees both stages done on the highlighted diagram ------------------------------------------------
    owner.go(f"/ui/projects/{pid}")
    owner.page.wait_for_selector("#diagram[data-ready=true]")
    _images_loaded(owner.page)
    diagram = owner.page.locator("#diagram")
    assert diagram.get_attribute("data-marked-Call_S1") == "done"
    assert diagram.get_attribute("data-marked-Call_S23") == "done"
    assert owner.page.locator("g.djs-element.done[data-element-id='Call_S23']").count() == 1
    # drilled into S23: the stage's own model, its intake, matters and combined result done; then into a matter
    owner.page.click("#diagram-nav button[data-drill^='stage_approval|S23|']")
    owner.page.wait_for_selector("#diagram[data-model=stage_approval][data-ready=true]")
    for element in ("Call_Intake", "Call_ParallelMatters", "Task_IssueResult"):
        assert diagram.get_attribute(f"data-marked-{element}") == "done", element
    assert "S23" in owner.page.inner_text("#diagram-title")
    owner.page.locator("#diagram-nav button[data-drill^='matter_approval|S23|']").first.click()
    owner.page.wait_for_selector("#diagram[data-model=matter_approval][data-ready=true]")
    assert diagram.get_attribute("data-marked-Task_Review") == "done"
    assert owner.page.locator("g.djs-element.done[data-element-id='Task_Review']").count() == 1
    owner.shot("owner-diagram-matter")
    owner.page.click("#diagram-nav button:has-text('返回上一级')")
    owner.page.wait_for_selector("#diagram[data-model=stage_approval][data-ready=true]")
    owner.page.click("#diagram-nav button:has-text('返回上一级')")
    owner.page.wait_for_selector("#diagram[data-model=project_approval][data-ready=true]")
    assert diagram.get_attribute("data-marked-Call_S23") == "done"
    assert "建字第2026-023号" in owner.page.inner_text("main"), "the certificate number is listed"
    owner.shot("owner-project")
    owner.go("/ui/projects")
    owner.shot("owner-projects")
    phone = Desk(browser, live, "owner1", width=390, height=844)
    phone.go(f"/ui/projects/{pid}")
    phone.page.wait_for_selector("#diagram[data-ready=true]")
    assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no sideways scroll on a phone"
    phone.shot("owner-phone")

    # -- the analyst sees the stage's time on the dashboard --------------------------------------------------------
    analyst = Desk(browser, live, "analyst1")
    analyst.go("/ui/analytics?project_type=social_small")
    row = analyst.page.locator("#stage-times tr[data-stage='S23']")
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == "1" and float(cells[2].split("（")[0]) > 0, cells
    assert re.fullmatch(r"[\d.]+（[\d.]+ 整日）", cells[2]), cells  # the decimal and the whole days (受理次日起算)
    _images_loaded(analyst.page)
    analyst.shot("analyst-dashboard")
    analyst.go("/ui/analytics?since=2026-13-01")
    assert analyst.page.inner_text("#err-since") == "日期格式应为 YYYY-MM-DD"

    # -- the administrator: versions, users; a bad model is refused line by line ---------------------------------
    admin = Desk(browser, live, "admin")
    admin.page.set_input_files("#files", files=[{"name": "broken.bpmn", "mimeType": "application/xml",
                                                 "buffer": b"<definitions>not bpmn"}])
    with admin.page.expect_navigation():
        admin.page.click("form[action='/ui/admin/definitions'] button[type=submit]")
    assert admin.page.locator("ol.problems li").count() >= 1
    assert _definitions(live) == 1, "nothing was deployed"
    admin.shot("admin")
    for desk in (owner, window, fgw, yl, zrzy, lead_zrzy, cg, jt, lead, phone, analyst, admin):
        desk.close()


def _projects(live: Live) -> list[Any]:
    from engine.persistence.uow import UnitOfWork

    with UnitOfWork(live.service.db, read_only=True) as uow:
        return uow.projects.list(limit=10)


def _definitions(live: Live) -> int:
    from engine.services import queries

    return len(queries.definitions(live.service.db))


def _images_loaded(page) -> None:
    """Wait until every image has loaded. Polled with ``evaluate`` (the DevTools protocol), because
    ``wait_for_function`` evals its predicate inside the page, which the pages' CSP (no 'unsafe-eval') refuses."""
    script = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    for _ in range(300):
        if page.evaluate(script):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page's images did not load within 30 s")

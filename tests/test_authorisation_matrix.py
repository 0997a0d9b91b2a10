"""The authorisation matrix of docs/api.md, tested twice: the domain rules (every task kind × every kind of
actor) and the HTTP API (every route × every role, administrator and lead-department officer included).

In the HTTP part the engine's runtime is replaced by a stub that refuses with a recognisable 422 once the
request has passed every authorisation check, so an allowed request changes nothing and the next role
meets the same state. A route missing from :data:`EXPECTED` fails the test: new routes must be added here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engine.domain.actors import SYSTEM, Actor
from engine.domain.authorisation import (
    certificate_scope,
    completion_refusal,
    may_act_for_owner,
    may_read_project,
    may_set_project_code,
)
from engine.services.approval import ApprovalService
from engine.services.errors import Invalid
from tests.test_api_support import FILING, default_payload, make_harness

# -- the domain rules -----------------------------------------------------------------------------------------
ACTORS = {
    "owner1": Actor("owner1", "owner"), "owner2": Actor("owner2", "owner"),
    "agent1": Actor("agent1", "agent", owner_ids=frozenset({"owner1"})),
    "agent2": Actor("agent2", "agent", owner_ids=frozenset({"owner2"})),
    "window": Actor("window1", "window", "window"),
    "agency-zjj": Actor("officer-zjj", "agency", "zjj"), "agency-fgw": Actor("officer-fgw", "agency", "fgw"),
    "lead-zjj": Actor("lead-zjj", "lead", "zjj"), "lead-fgw": Actor("lead-fgw", "lead", "fgw"),
    "analyst": Actor("analyst1", "analyst"), "admin": Actor("admin", "admin"), "system": SYSTEM,
}
TASKS = {
    "owner": {"role": "owner", "department": None, "owner_id": "owner1"},
    "window": {"role": "window", "department": "window", "owner_id": "owner1"},
    "agency": {"role": "agency", "department": "zjj", "owner_id": "owner1"},
    "lead": {"role": "lead", "department": "zjj", "owner_id": "owner1"},
}
MAY_COMPLETE = {
    "owner": {"owner1", "agent1", "system"},
    "window": {"window", "system"},
    "agency": {"agency-zjj", "lead-zjj", "system"},
    "lead": {"lead-zjj", "system"},  # an ordinary officer of the lead department may not issue the result
}


@pytest.mark.parametrize(("task", "who"), list(itertools.product(TASKS, ACTORS)))
def test_who_may_complete_each_kind_of_task(task: str, who: str) -> None:
    refusal = completion_refusal(ACTORS[who], TASKS[task])
    assert (refusal is None) == (who in MAY_COMPLETE[task]), refusal


@pytest.mark.parametrize("who", ACTORS)
def test_who_may_act_for_an_owner_and_read_its_project(who: str) -> None:
    actor = ACTORS[who]
    assert may_act_for_owner(actor, "owner1") == (who in {"owner1", "agent1", "system"})
    readers = {"owner1", "agent1", "window", "analyst", "admin", "system", "agency-zjj", "lead-zjj"}
    assert may_read_project(actor, "owner1", lambda department: department == "zjj") == (who in readers)


@pytest.mark.parametrize("who", ACTORS)
def test_who_sees_which_certificates_and_sets_the_project_code(who: str) -> None:
    actor = ACTORS[who]
    expected = {"owner1": {"owner_ids": ["owner1"]}, "owner2": {"owner_ids": ["owner2"]},
                "agent1": {"owner_ids": ["owner1"]}, "agent2": {"owner_ids": ["owner2"]},
                "agency-zjj": {"department": "zjj"}, "lead-zjj": {"department": "zjj"},
                "agency-fgw": {"department": "fgw"}, "lead-fgw": {"department": "fgw"}}.get(who, {})
    assert certificate_scope(actor) == expected
    assert may_set_project_code(actor, "owner1") == (who in {"owner1", "agent1", "window", "system"})


def test_a_claimed_task_is_closed_to_colleagues() -> None:
    claimed = TASKS["agency"] | {"claimed_by": "lead-zjj"}
    assert completion_refusal(ACTORS["agency-zjj"], claimed) and completion_refusal(ACTORS["lead-zjj"], claimed) is None


# -- the HTTP API -----------------------------------------------------------------------------------------------
ROLES = ("anonymous", "owner1", "owner2", "agent1", "window1", "officer-D", "lead-D", "officer-L", "lead-L",
         "officer-X", "lead-X", "analyst1", "admin")
"""D: the department of a ready review task (in the project the route tests use); L: the lead department of a
stage whose 出件 is ready (in another project); X: an uninvolved department."""
ROUTE_ROLES = tuple(r for r in ROLES if not r.endswith("-L"))
AUTHORISED = "matrix: authorised"
OWN = {"owner1", "agent1"}
EVERYONE = set(ROUTE_ROLES) - {"anonymous"}
READERS_OF_P = {"owner1", "agent1", "window1", "officer-D", "lead-D", "analyst1", "admin"}
ANALYTICS = {"analyst1", "admin"}

EXPECTED: dict[tuple[str, str], set[str]] = {
    ("post", "/projects"): OWN,
    ("get", "/projects"): EVERYONE,
    ("get", "/projects/{project_id}"): READERS_OF_P,
    ("get", "/projects/{project_id}/progress"): READERS_OF_P,
    ("get", "/projects/{project_id}/timeline"): READERS_OF_P,
    ("get", "/projects/{project_id}/notifications"): READERS_OF_P,
    ("get", "/projects/{project_id}/tasks"): READERS_OF_P,
    ("get", "/projects/{project_id}/gantt.{fmt}"): READERS_OF_P,
    ("get", "/projects/{project_id}/plan"): READERS_OF_P,
    ("get", "/projects/{project_id}/certificates"): READERS_OF_P,
    ("put", "/projects/{project_id}/project-code"): OWN | {"window1"},  # 项目代码: the owner side or the window
    ("get", "/certificates"): EVERYONE,  # each sees its own scope (owners theirs, agencies their projects')
    ("get", "/certificates/{number}"): READERS_OF_P,  # 核验: whoever may read the certificate's project
    ("get", "/catalogue/case-questions"): EVERYONE,
    ("get", "/owners/{owner_id}/credit"): {"owner1", "agent1", "window1", "analyst1", "admin"},
    ("post", "/admin/credit-records"): {"admin"},
    ("post", "/catalogue/plan-preview"): EVERYONE,
    ("post", "/projects/{project_id}/filings"): OWN,
    ("post", "/projects/{project_id}/withdraw"): OWN,
    ("post", "/projects/{project_id}/commitment"): OWN,
    ("post", "/projects/{project_id}/corrections"): OWN,
    ("post", "/projects/{project_id}/documents"): OWN,
    ("get", "/tasks"): EVERYONE,
    ("get", "/tasks/{task_id}"): {"owner1", "agent1", "window1", "officer-D", "lead-D", "analyst1", "admin"},
    ("post", "/tasks/{task_id}/claim"): {"officer-D", "lead-D"},
    ("delete", "/tasks/{task_id}/claim"): {"officer-D", "admin"},  # claimed by officer-D
    ("post", "/tasks/{task_id}/complete"): {"officer-D", "lead-D"},
    ("post", "/tasks/{task_id}/approve"): {"officer-D", "lead-D"},
    ("post", "/tasks/{task_id}/refuse"): {"officer-D", "lead-D"},
    ("post", "/tasks/{task_id}/request-correction"): {"officer-D", "lead-D"},
    ("post", "/tasks/{task_id}/special-procedure"): {"officer-D", "lead-D"},
    ("get", "/analytics/timings"): ANALYTICS,
    ("get", "/analytics/report"): ANALYTICS,
    ("get", "/analytics/cases"): ANALYTICS,
    ("get", "/analytics/events.csv"): ANALYTICS,
    ("get", "/analytics/events.xes"): ANALYTICS,
    ("get", "/analytics/scoring"): ANALYTICS,
    ("get", "/analytics/scoring.xlsx"): ANALYTICS,
    ("get", "/analytics/charts/{kind}.{fmt}"): ANALYTICS,
    ("get", "/admin/definitions"): ANALYTICS,
    ("post", "/admin/definitions"): {"admin"},
    ("get", "/admin/rules"): ANALYTICS,
    ("get", "/admin/rules/{rules_id}"): ANALYTICS,
    ("post", "/admin/rules"): {"admin"},
    ("get", "/admin/users"): {"admin"},
    ("post", "/admin/users"): {"admin"},
    ("delete", "/admin/users/{name}"): {"admin"},
    ("put", "/admin/users/{name}/role"): {"admin"},
    ("get", "/admin/incidents"): {"admin"},
    ("get", "/admin/incidents/{incident_id}"): {"admin"},
    ("post", "/admin/incidents/{incident_id}/retry"): {"admin"},
    ("post", "/admin/projects/{project_id}/migrate"): {"admin"},
    ("get", "/metrics"): set(ROUTE_ROLES),  # the scraper's token, not a role (off here: 404 for everyone)
    ("get", "/healthz"): set(ROUTE_ROLES),
    ("get", "/readyz"): set(ROUTE_ROLES),
}
# completing the other kinds of task: who may, by the task's lane
KIND_EXPECTED = {"owner": OWN, "window": {"window1"}, "lead": {"lead-L"}}


def _drive(hz, pid: str, role: str) -> dict[str, Any]:
    """Complete whatever is ready in project ``pid`` until a task of ``role`` is ready; return it."""
    for _ in range(300):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        found = [t for t in ready if t["role"] == role]
        if found:
            return found[0]
        if ready:
            hz.post(hz.who_for(ready[0]), f"/tasks/{ready[0]['id']}/complete", default_payload(ready[0]))
    raise AssertionError(f"project {pid} never reached a task of role {role}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    hz = make_harness(tmp_path_factory.mktemp("matrix"))
    projects = {kind: hz.post("owner1", "/projects", FILING, status=201)["id"]
                for kind in ("agency", "lead", "owner", "window")}
    tasks = {kind: _drive(hz, pid, kind) for kind, pid in projects.items()}
    departments = {"D": tasks["agency"]["department"], "L": tasks["lead"]["department"]}
    departments["X"] = next(d for d in ("ww", "daj", "cg", "yl") if d not in departments.values())
    names = {}
    for role in ROLES:
        if role[-2:] in ("-D", "-L", "-X"):
            kind, letter = role.split("-")
            names[role] = f"{kind}-{departments[letter]}"
        else:
            names[role] = role
    names["certificate"] = _certificate(hz, projects["agency"])
    return hz, projects["agency"], tasks, names


def _certificate(hz, pid: str) -> str:
    """A certificate of project P (written as the projection would), for the verification route."""
    from datetime import timedelta

    from engine.domain.certificates import Changes, Issue
    from engine.persistence.uow import UnitOfWork

    at = hz.clock.now() - timedelta(days=1)
    issue = Issue(matter_key="S1/s1_project_filing", matter_id="s1_project_filing", stage="S1",
                  type_id="filing_certificate", type_name="企业投资项目备案证明", kind="filing", code="BA",
                  department="fgw", issued_at=at, expires_at=None, outcome="approved")
    with UnitOfWork(hz.service.db) as uow:
        project = uow.projects.get(pid)
        number = uow.certificates.apply(project, Changes(issues=[issue]), number_format="MATRIX-{code}-{seq:06d}")[0]
        uow.commit()
    return number


def _stub_runtime(monkeypatch) -> None:
    def refuse(self, *args, **kwargs):
        raise Invalid(AUTHORISED)

    monkeypatch.setattr(ApprovalService, "_runtime", refuse)


def _request(hz, method: str, path: str, headers: dict[str, str], pid: str, task: dict[str, Any], n: int,
             certificate: str = ""):
    url = (path.replace("{project_id}", pid).replace("{number}", certificate).replace("{task_id}", task["id"])
           .replace("{kind}", "stage_boxplots").replace("{fmt}", "svg").replace("{name}", f"throwaway{n}")
           .replace("{owner_id}", "owner1").replace("{rules_id}", "1"))
    if path == "/catalogue/case-questions":
        url += "?project_type=social_general"
    n += 100 * len(path) + (7 if method == "post" else 0)  # unique user names per route
    body: Any = None
    if method in ("post", "put"):
        body = {
            "/projects": FILING | {"owner_id": "owner1"},
            "/admin/users": {"name": f"matrix{n}", "role": "analyst"},
            "/admin/definitions": {"files": _bundled()},
            "/admin/rules": {"profile": "default", "dmn": _rules()},
            "/catalogue/plan-preview": {"project_type": "social_general"},
            "/admin/credit-records": {"owner_id": "someone-else", "reason": "矩阵测试"},
            f"/projects/{pid}/withdraw": {"reason": "矩阵测试"},
            f"/projects/{pid}/project-code": {"project_code": "矩阵-不是项目代码"},  # 422 once authorised
            f"/projects/{pid}/commitment": {"signatory": "张三", "accepted_terms": True},
            f"/projects/{pid}/documents": {"documents": ["x"]},
            f"/tasks/{task['id']}/refuse": {"reason": "矩阵"},
            f"/tasks/{task['id']}/request-correction": {"items": ["矩阵"]},
            f"/tasks/{task['id']}/special-procedure": {"procedure": "expert_review"},
            f"/tasks/{task['id']}/complete": default_payload(task),
        }.get(url, {})
    return hz.client.request(method.upper(), url, headers=headers, json=body)


def _rules() -> str:
    from engine.domain.catalogue import load_catalogue

    return load_catalogue().matter_rules_path.read_text("utf-8")


def _bundled() -> dict[str, str]:
    from engine.services.approval import BPMN_DIR

    return {p.name: p.read_text("utf-8") for p in sorted(BPMN_DIR.glob("*.bpmn"))}


def test_every_route_is_in_the_matrix(world) -> None:
    hz = world[0]
    routes = {(m, p) for p, ops in hz.client.app.openapi()["paths"].items() for m in ops}
    assert routes == set(EXPECTED), f"add to EXPECTED: {sorted(routes - set(EXPECTED))}; " \
                                    f"gone: {sorted(set(EXPECTED) - routes)}"


@pytest.mark.parametrize(("method", "path"), list(EXPECTED))
def test_every_route_for_every_role(world, monkeypatch, method: str, path: str) -> None:
    hz, pid, tasks, names = world
    _stub_runtime(monkeypatch)
    task = tasks["agency"]
    wrong = []
    for n, role in enumerate(ROUTE_ROLES):
        if path == "/admin/users/{name}":
            hz.add_user(f"throwaway{n}", "analyst")
        if path == "/tasks/{task_id}/claim" and method == "delete":
            hz.service.claim_task(task["id"], actor=Actor(names["officer-D"], "agency", task["department"]))
        headers = {} if role == "anonymous" else hz.h(names[role])
        response = _request(hz, method, path, headers, pid, task, n, names["certificate"])
        allowed = response.status_code not in (401, 403)
        if allowed != (role in EXPECTED[(method, path)]):
            wrong.append(f"{role}: {response.status_code} {response.text[:160]}")
        if path == "/tasks/{task_id}/claim":  # leave the task unclaimed for the next role
            row = hz.service.list_tasks(project_id=pid)
            if any(r["id"] == task["id"] and r.get("claimed_by") for r in row):
                hz.service.release_task(task["id"], actor=SYSTEM)
        if response.status_code in (200, 201) and method != "get" and path not in (
                "/admin/users", "/admin/users/{name}", "/admin/definitions", "/admin/rules", "/tasks/{task_id}/claim",
                "/admin/credit-records", "/admin/users/{name}/role", "/admin/incidents/{incident_id}/retry",
                "/admin/projects/{project_id}/migrate"):
            pytest.fail(f"{role} changed state through {method} {path}: {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("kind", list(KIND_EXPECTED))
def test_completing_each_kind_of_task_for_every_role(world, monkeypatch, kind: str) -> None:
    hz, pid, tasks, names = world
    _stub_runtime(monkeypatch)
    task = tasks[kind]
    wrong = []
    for role in ROLES[1:]:
        r = hz.client.post(f"/tasks/{task['id']}/complete", json=default_payload(task), headers=hz.h(names[role]))
        allowed = r.status_code not in (401, 403)
        if allowed != (names[role] in {names[r] for r in KIND_EXPECTED[kind]}):  # D may be L
            wrong.append(f"{role}: {r.status_code} {r.text[:160]}")
        assert r.status_code != 200, f"{role} completed {task['spec_id']} despite the stub"
    assert not wrong, "\n".join(wrong)

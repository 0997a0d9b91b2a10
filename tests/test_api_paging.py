"""Lists paginated by the database (issue 14): an agency's projects and the inbox filtered by project type come
page by page with a cursor, every row exactly once, and a page that is not the last says so in its headers."""

from __future__ import annotations

from sqlalchemy import select

from engine.persistence import tables as t
from engine.simulation.cases import typical_case
from tests.test_api_support import FILING, make_harness


def _pages(hz, who, url, limit):
    """Every page of ``url``; checks each page's headers against whether another page follows."""
    rows, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = hz.client.get(page_url, headers=hz.h(who))
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        rows += page
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in r.headers
            return rows, pages
        assert len(page) == limit, "a page with a successor is full (no Python-side filter on this route)"
        assert r.headers["Link"].endswith('; rel="next"') and f"cursor={cursor}" in r.headers["Link"]
        assert pages < 100


def _filed(hz, count, owner, project_type="land_with_scheme"):
    ids = []
    for i in range(count):
        body = dict(FILING, name=f"项目{i}", project_type=project_type, case=typical_case(project_type))
        if project_type != "land_with_scheme":
            body["unit_works"] = [{"id": "U1", "name": "1号楼"}]
        ids.append(hz.post(owner, "/projects", body, status=201)["id"])
    return ids


def _to_reviews(hz, pid, owner="owner1"):
    """File and accept the first stage: its matters' departments get review tasks."""
    for spec, body in (("Task_SubmitFiling", {}), ("Task_Intake", {"outcome": "complete"})):
        task = next(x for x in hz.get("analyst1", f"/tasks?project_id={pid}") if x["spec_id"] == spec)
        who = owner if task["role"] == "owner" else hz.who_for(task)
        hz.post(who, f"/tasks/{task['id']}/complete", body)


def test_an_agency_sees_exactly_its_projects_across_pages(tmp_path):
    hz = make_harness(tmp_path)
    ids = _filed(hz, 5, "owner1") + _filed(hz, 3, "owner2")  # the virtual clock stands still: created_at ties
    for index, pid in enumerate(ids):
        if index % 2 == 0:
            _to_reviews(hz, pid, "owner1" if index < 5 else "owner2")
    with hz.service.db.connect() as conn:
        rows = conn.execute(select(t.tasks.c.department, t.tasks.c.project_id).distinct()).all()
    involved: dict[str, set[str]] = {}
    for department, pid in rows:
        involved.setdefault(department, set()).add(pid)
    department = max((d for d in involved if d and f"officer-{d}" in hz.tokens), key=lambda d: len(involved[d]))
    assert 2 <= len(involved[department]) < len(ids), "some projects involve the department, some do not"

    for limit in (1, 2, len(involved[department]), 50):
        seen, pages = _pages(hz, f"officer-{department}", "/projects", limit)
        listed = [p["id"] for p in seen]
        assert len(listed) == len(set(listed)), "no project twice"
        assert set(listed) == involved[department], "exactly the department's projects"
        assert listed == sorted(listed, key=lambda pid: (next(p["created_at"] for p in seen if p["id"] == pid), pid))
        assert pages == -(-len(listed) // limit), "a full last page does not announce an empty one"

    owned, _ = _pages(hz, "owner2", "/projects", 2)
    assert [p["id"] for p in owned] == ids[5:]
    everything, _ = _pages(hz, "window1", "/projects?status=running", 3)
    assert sorted(p["id"] for p in everything) == sorted(ids)


def test_the_inbox_by_project_type_is_filtered_and_paginated_in_the_database(tmp_path):
    hz = make_harness(tmp_path)
    scheme = _filed(hz, 3, "owner1")
    small = _filed(hz, 4, "owner1", project_type="social_small")
    for pid in scheme[:2] + small[:3]:
        _to_reviews(hz, pid)
    with hz.service.db.connect() as conn:
        expected = set(conn.execute(select(t.tasks.c.id).join(t.projects, t.projects.c.id == t.tasks.c.project_id)
                                    .where((t.tasks.c.state == "ready") & (t.projects.c.project_type == "social_small")))
                       .scalars())
    assert len(expected) > 3
    for limit in (1, 3, 1000):
        rows, _ = _pages(hz, "analyst1", "/tasks?project_type=social_small", limit)
        got = [r["id"] for r in rows]
        assert len(got) == len(set(got)) and set(got) == expected
        due = [(r["due_at"] is None, r["due_at"] or "", r["created_at"], r["id"]) for r in rows]
        assert due == sorted(due), "soonest due first, then oldest, across pages"
    reviews, _ = _pages(hz, "analyst1", "/tasks?project_type=social_small&task=Task_Review", 2)
    assert reviews and all(r["spec_id"] == "Task_Review" for r in reviews)


def test_a_cursor_the_api_did_not_give_is_a_422_naming_it(tmp_path):
    hz = make_harness(tmp_path)
    for url in ("/projects?cursor=bm9wZQ", "/tasks?cursor=%%%", "/tasks?cursor=WyJ4Il0"):
        r = hz.client.get(url, headers=hz.h("analyst1"))
        assert r.status_code == 422 and "cursor" in r.json()["detail"], (url, r.text)


def test_the_inbox_colour_shortcuts_agree_with_the_working_day_walk(tmp_path):
    """Far-off due dates skip the day-by-day walk; the colour is the one the walk gives, on both sides."""
    from datetime import timedelta

    from engine.clock import VirtualClock
    from engine.domain.catalogue import load_catalogue
    from engine.domain.workcalendar import WorkCalendar
    from engine.persistence.db import make_engine
    from engine.services.approval import ApprovalService
    from tests.test_api_support import START

    service = ApprovalService(make_engine(f"sqlite:///{tmp_path / 'c.db'}"), catalogue=load_catalogue(),
                              clock=VirtualClock(START))
    calendar, warning = WorkCalendar.default(), service.catalogue.profile.warning_days

    def walked(due, now):
        remaining = calendar.working_days(now, due)
        return "red" if remaining < 0 else "yellow" if remaining <= warning else "green"

    for now in (START, START.replace(month=9, day=30), START.replace(year=2026, month=1, day=20)):  # 国庆, 春节 near
        for hours in range(-80 * 24, 80 * 24, 7):
            due = now + timedelta(hours=hours)
            assert service._colour(due, now) == walked(due, now), (now, due)

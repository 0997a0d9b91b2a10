"""Listing pages follow the API's keyset cursors (``X-Next-Cursor``) a page at a time, with 下一页 / 上一页 links,
and never cut a list off silently: with more rows than a page, every row is reachable and each exactly once."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from api.pages import common
from tests.test_api_support import FILING, Harness, make_harness
from tests.test_pages import sign_in

PAGE = 3
PROJECTS = 7  # three pages: 3 + 3 + 1


@pytest.fixture()
def hz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setattr(common, "PAGE_SIZE", PAGE)
    harness = make_harness(tmp_path)
    harness.ids = [harness.post("owner1", "/projects", FILING | {"name": f"项目{i}"}, status=201)["id"]  # type: ignore[attr-defined]
                   for i in range(PROJECTS)]
    return harness


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


def _walk(hz: Harness, url: str, row: str) -> list[list[str]]:
    """Follow 下一页 from ``url`` to the end; the rows (``row``: a regex with one group) of each page. On the way,
    每 上一页 must lead back to the page before."""
    pages: list[list[str]] = []
    html_before: str | None = None
    while url:
        html = hz.client.get(url).text
        pages.append(re.findall(row, html))
        if html_before is not None:
            back = hz.client.get(_link(html, "prev")).text
            assert re.findall(row, back) == pages[-2]
        else:
            assert _link(html, "prev") is None
        html_before = html
        url = _link(html, "next")
        if url:
            assert "后面还有" in html  # the page says that the list goes on
    return pages


def test_the_project_list_pages_through_every_project(hz: Harness) -> None:
    sign_in(hz, "owner1")
    pages = _walk(hz, "/ui/projects", r'<tr><td><a href="/ui/projects/([^"]+)">')
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [pid for page in pages for pid in page] == hz.ids  # type: ignore[attr-defined]  # oldest first, once each
    # a filter is kept across pages
    running = _walk(hz, "/ui/projects?status=running", r'<tr><td><a href="/ui/projects/([^"]+)">')
    assert sum(len(p) for p in running) == PROJECTS
    assert hz.client.get("/ui/projects?cursor=not-a-cursor").status_code == 422


def test_the_inbox_pages_through_every_task(hz: Harness) -> None:
    sign_in(hz, "owner1")  # each project waits for its owner's S1 filing
    pages = _walk(hz, "/ui/inbox", r'<a href="/ui/tasks/([^"]+)">')
    assert [len(p) for p in pages] == [3, 3, 1]
    ready = hz.get("owner1", "/tasks?limit=100")
    assert sorted(t for page in pages for t in page) == sorted(t["id"] for t in ready)


def test_the_analysts_case_list_pages_too(hz: Harness) -> None:
    sign_in(hz, "analyst1")
    pages = _walk(hz, "/ui/analytics", r'<tr><td><a href="/ui/projects/([^"]+)">')
    assert [pid for page in pages for pid in page] == hz.ids  # type: ignore[attr-defined]

"""The identity map of live workflows is bounded in (estimated) bytes, not entries (issue 14)."""

from __future__ import annotations

from engine.domain.actors import SYSTEM
from engine.domain.catalogue import load_catalogue
from engine.persistence.db import make_engine, migrate
from engine.services.approval import ApprovalService
from engine.services.cache import SPEC_BYTES, WorkflowCache, default_max_bytes, estimate_bytes
from engine.simulation.cases import typical_case


def test_the_cache_evicts_the_least_recently_used_until_the_bytes_fit():
    cache: WorkflowCache[str] = WorkflowCache(max_bytes=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.take("a") == "A" and cache.bytes == 40  # an operation owns what it took
    cache.put("a", "A", 40)  # back after its commit: now the most recent
    cache.put("c", "C", 30)  # 110 > 100: the least recently used (b) goes
    assert "b" not in cache and {"a", "c"} <= {k for k in ("a", "b", "c") if k in cache}
    assert cache.bytes == 70 and len(cache) == 2
    cache.put("big", "X", 101)  # larger than the whole budget: not kept, nothing evicted for it
    assert "big" not in cache and cache.bytes == 70
    cache.put("c", "C2", 60)  # replacing an entry re-counts it: 40 + 60
    assert cache.take("c") == "C2" and cache.bytes == 40


def test_an_entry_bound_still_applies_when_given():
    cache: WorkflowCache[int] = WorkflowCache(max_bytes=10_000, max_entries=2)
    for i in range(3):
        cache.put(str(i), i, 1)
    assert "0" not in cache and len(cache) == 2


def test_default_budget_is_configurable(monkeypatch):
    monkeypatch.delenv("GONGAI_CACHE_MB", raising=False)
    assert default_max_bytes() == 128 * 1024 * 1024
    monkeypatch.setenv("GONGAI_CACHE_MB", "2.5")
    assert default_max_bytes() == int(2.5 * 1024 * 1024)


def test_the_service_keeps_only_what_fits_and_reloads_the_rest(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db)
    probe = ApprovalService(db, catalogue=load_catalogue())
    probe.deploy_bundled()
    filing = {"name": "x", "project_type": "social_small", "case": typical_case("social_small"), "owner_id": "o",
              "unit_works": [{"id": "U1", "name": "1"}]}
    first = probe.start_project(filing, actor=SYSTEM)
    one = probe._cache.bytes
    assert one == estimate_bytes(probe._cache.take(first).workflow) and one > SPEC_BYTES

    service = ApprovalService(db, catalogue=load_catalogue(), cache_bytes=int(2.5 * one))
    ids = [service.start_project(filing, actor=SYSTEM) for _ in range(4)]
    assert service._cache.bytes <= int(2.5 * one)
    assert [pid in service._cache for pid in ids] == [False, False, True, True], "the two most recent stay"
    for pid in ids:  # an evicted project is read back from the database and works the same
        task = service.list_tasks(project_id=pid)[0]
        service.complete_task(task["id"], {}, actor=SYSTEM)
        assert service.list_tasks(project_id=pid)[0]["spec_id"] == "Task_Intake"
    assert service._cache.bytes <= int(2.5 * one)

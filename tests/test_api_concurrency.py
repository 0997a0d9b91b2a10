"""Several agencies complete parallel matters of one project at the same moment, against the real app
(uvicorn in a thread) on a SQLite file: every completion is recorded and the join fires exactly once."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import uvicorn

from tests.test_api_support import FILING, make_harness


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parallel_completions_are_all_recorded_and_join_once(tmp_path):
    hz = make_harness(tmp_path)
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    # drive to the first stage with several parallel matters (S2 of this route)
    for _ in range(100):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        reviews = [t for t in ready if t["spec_id"].startswith("Task_Review") and t["stage"] == "S2"]
        if len(reviews) >= 3:
            break
        task = next((t for t in ready if t["stage"] != "S3"), ready[0])
        payload = {"outcome": "complete"} if task["spec_id"] == "Task_Intake" else {"decision": "approve"} \
            if task["spec_id"].startswith("Task_Review") else {}
        hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", payload)
    assert len(reviews) >= 3, "S2 has parallel matters (规划许可, 园林, 人防 in this case)"

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(hz.client.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        barrier = threading.Barrier(len(reviews))

        def approve(task):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                barrier.wait()
                return client.post(f"/tasks/{task['id']}/approve", json={},
                                   headers=hz.h(hz.who_for(task), **{"Idempotency-Key": f"c-{task['id']}"}))

        with ThreadPoolExecutor(len(reviews)) as pool:
            responses = list(pool.map(approve, reviews))
    finally:
        server.should_exit = True
        thread.join(10)

    assert [r.status_code for r in responses] == [200] * len(reviews), [r.text for r in responses]
    timeline = hz.get("analyst1", f"/projects/{pid}/timeline")
    done = {e["task_id"] for e in timeline if e["type"] == "task_completed" and not e["data"].get("cancelled")}
    assert {t["id"] for t in reviews} <= done
    s2 = {e["matter_key"] for e in timeline if e["type"] == "task_completed" and e["stage"] == "S2"}
    assert len(s2) >= len(reviews)
    issue_ready = [e for e in timeline if e["type"] == "task_ready" and e["data"].get("task") == "Task_IssueResult"
                   and e["stage"] == "S2"]
    remaining = [t for t in hz.get("analyst1", f"/tasks?project_id={pid}&stage=S2")
                 if t["spec_id"].startswith("Task_Review")]
    assert remaining == [], "every S2 matter was in the concurrent batch"
    assert len(issue_ready) == 1, "the stage joined exactly once (one 综合出件 task)"


def _to_parallel_reviews(hz, pid, stage="S2"):
    for _ in range(100):
        hz.tick(6)
        ready = hz.get("analyst1", f"/tasks?project_id={pid}")
        reviews = [t for t in ready if t["spec_id"].startswith("Task_Review") and t["stage"] == stage]
        if len(reviews) >= 2:
            return reviews
        task = next((t for t in ready if t["stage"] != "S3"), ready[0])
        payload = {"outcome": "complete"} if task["spec_id"] == "Task_Intake" else {"decision": "approve"} \
            if task["spec_id"].startswith("Task_Review") else {}
        hz.post(hz.who_for(task), f"/tasks/{task['id']}/complete", payload)
    raise AssertionError("no parallel reviews reached")


def test_a_step_overtaken_between_its_read_and_its_write_runs_again_and_writes_once(tmp_path):
    """The workflow step runs without the write lock: when another completion of the same project commits
    between a step's read and its write, the versioned UPDATE refuses it, nothing of it is written, and the
    whole operation runs again on the new state — each completion recorded once, its hook run once."""
    from engine.domain.actors import Actor

    hz = make_harness(tmp_path)
    service = hz.service
    pid = hz.post("owner1", "/projects", FILING, status=201)["id"]
    first, second = _to_parallel_reviews(hz, pid)[:2]
    version_before = service.project(pid)["version"]

    stepped, overtaken = threading.Event(), threading.Event()
    prepared = {"A": 0, "B": 0}
    original = service._prepare

    def prepare(*args, **kwargs):
        who = threading.current_thread().name
        prepared[who] += 1
        if who == "A" and prepared["A"] == 1:
            stepped.set()  # A has run its step on the snapshot …
            assert overtaken.wait(30)  # … and B commits before A writes
        return original(*args, **kwargs)

    service._prepare = prepare
    hooks = []

    def complete(task, name):
        actor = Actor(id=hz.who_for(task), role="agency", department=task["department"])
        service.complete_task(task["id"], {"decision": "approve"}, actor=actor,
                              also=lambda uow, result: hooks.append((name, result["task_id"])))

    a = threading.Thread(target=complete, args=(first, "A"), name="A")
    a.start()
    assert stepped.wait(30)
    b = threading.Thread(target=complete, args=(second, "B"), name="B")
    b.start()
    b.join(30)
    overtaken.set()
    a.join(30)

    assert prepared == {"A": 2, "B": 1}, "A's first write was refused and A ran again"
    assert sorted(hooks) == [("A", first["id"]), ("B", second["id"])], "each completion's hook ran once"
    assert service.project(pid)["version"] == version_before + 2
    timeline = hz.get("analyst1", f"/projects/{pid}/timeline")
    for task in (first, second):
        done = [e for e in timeline if e["type"] == "task_completed" and e["task_id"] == task["id"]]
        assert len(done) == 1 and not done[0]["data"].get("cancelled"), done
    states = {t["id"]: t["state"] for t in hz.get("analyst1", f"/projects/{pid}/tasks?state=all")}
    assert states[first["id"]] == states[second["id"]] == "done"

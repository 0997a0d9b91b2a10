"""Several API processes on one PostgreSQL: project ids never collide; Idempotency-Key on filings and withdrawals.

The processes are real ``gongai serve`` processes (tests/ops_support.py) on a throwaway PostgreSQL server
(tests/pg_server.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.services.users import UserStore
from tests.ops_support import ApiProcess, FILING
from tests.pg_server import pg_server  # noqa: F401  (fixture)


def test_two_api_processes_file_projects_at_once_on_postgresql(pg_server, tmp_path) -> None:  # noqa: F811
    url = pg_server.create_database()
    db = make_engine(url)
    migrate(db)
    users = UserStore(db)
    _, owner = users.add("owner-1", "owner")
    headers = {"Authorization": f"Bearer {owner}"}
    with ApiProcess(url, tmp_path / "a.log") as a, ApiProcess(url, tmp_path / "b.log") as b:
        bases = [a.base, b.base]

        def file(i: int) -> httpx.Response:
            return httpx.post(f"{bases[i % 2]}/projects", json=FILING | {"name": f"项目{i}"}, headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(file, range(60)))
        assert [r.status_code for r in responses] == [201] * 60, [r.text for r in responses if r.status_code != 201][:3]
        ids = {r.json()["id"] for r in responses}
        assert len(ids) == 60

        # the same Idempotency-Key sent to both processes at once files one project; both answer with it
        keyed = headers | {"Idempotency-Key": "filing-42"}
        with ThreadPoolExecutor(max_workers=4) as pool:
            twins = list(pool.map(lambda base: httpx.post(f"{base}/projects", json=FILING | {"name": "一次"},
                                                          headers=keyed, timeout=60), bases * 2))
        assert {r.status_code for r in twins} == {201}, [r.text for r in twins]
        assert len({r.json()["id"] for r in twins}) == 1
        other = httpx.post(f"{a.base}/projects", json=FILING | {"name": "另一个"}, headers=keyed, timeout=60)
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]

        # a withdrawal retried with its key answers as the first time instead of 409 "already withdrawn"
        pid = twins[0].json()["id"]
        withdraw = headers | {"Idempotency-Key": "withdraw-1"}
        first = httpx.post(f"{a.base}/projects/{pid}/withdraw", json={"reason": "不建了"}, headers=withdraw)
        again = httpx.post(f"{b.base}/projects/{pid}/withdraw", json={"reason": "不建了"}, headers=withdraw)
        assert first.status_code == 200 and again.status_code == 200 and again.json() == first.json()
        unkeyed = httpx.post(f"{b.base}/projects/{pid}/withdraw", json={"reason": "不建了"}, headers=headers)
        assert unkeyed.status_code == 409
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.projects)).scalar() == 61
    db.dispose()


def test_project_numbers_come_from_the_database_not_from_each_process(tmp_path) -> None:
    from engine.clock import VirtualClock
    from engine.domain.catalogue import load_catalogue
    from engine.services.approval import ApprovalService
    from tests.test_engine import OWNER, local

    db = make_engine(f"sqlite:///{tmp_path / 'ids.db'}")
    migrate(db)
    clock = VirtualClock(local(2026, 11, 2, 9, 0))
    one, two = (ApprovalService(db, catalogue=load_catalogue(), clock=clock) for _ in range(2))
    one.deploy_bundled()
    filing = FILING | {"name": "x", "owner_id": OWNER.id}
    explicit = one.start_project(filing, project_id="P2026-000003")  # an id chosen by a migration of old data
    ids = [service.start_project(filing) for service in (one, two, one, two)]
    assert ids == ["P2026-000001", "P2026-000002", "P2026-000004", "P2026-000005"]  # skips the taken one
    restarted = ApprovalService(db, catalogue=load_catalogue(), clock=clock)
    assert restarted.start_project(filing) == "P2026-000006" and explicit == "P2026-000003"

"""``python -m bench scale [--projects 1000,100000]``: every list and read route at a small and a large database.

Issue 14 asks every read route to cost about the same (≤ 1.5×) at 1,000 and at 100,000 projects. This bench
fills a SQLite file per size with synthetic projects (``bench.reads_bench.fill``: a project row and five tasks,
one ready, one project in twenty involving each department), then times through the real app (in-process test
client: only the server's work is timed) the median of several calls of

- the lists: ``GET /projects`` as an owner, an agency officer and an analyst (first page and a page a few
  pages in), ``GET /tasks`` as a window officer, an agency officer, an owner and an analyst filtering by
  project type;
- the reads of one project, picked in the middle of the data: ``GET /projects/{id}/tasks``, ``/timeline``,
  ``/notifications``, ``/plan`` and ``GET /tasks/{id}``.

It prints each route's time at every size and the ratio of the largest to the smallest, and writes it all to
``bench/results/scale-<when>.json``. Nothing asserts on time.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.reads_bench import filled_app, median_ms

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def measure(size: int, repeat: int = 9) -> dict[str, Any]:
    """The routes' median times (ms) on a fresh database of ``size`` synthetic projects."""
    from fastapi.testclient import TestClient

    with filled_app(size, "gongai-scale-") as (app, store, filled):
        tokens = {
            "owner": store.add("owner-7", "owner")[1],  # an owner sees the projects filed under its name
            "agency": store.add("bench-agency", "agency", department="zjj")[1],
            "window": store.add("bench-window", "window")[1],
            "analyst": store.add("bench-analyst", "analyst")[1],
        }
        middle = f"B{size // 2:07d}"
        routes: dict[str, tuple[str, str]] = {
            "projects, owner": ("owner", "/projects?limit=100"),
            "projects, agency": ("agency", "/projects?limit=100"),
            "projects, analyst": ("analyst", "/projects?limit=100"),
            "projects, analyst, running social_small": ("analyst", "/projects?limit=100&status=running&project_type=social_small"),
            "tasks, window inbox": ("window", "/tasks?limit=100"),
            "tasks, agency inbox": ("agency", "/tasks?limit=100"),
            "tasks, owner inbox": ("owner", "/tasks?limit=100"),
            "tasks, analyst by project type": ("analyst", "/tasks?project_type=social_small&limit=100"),
            "project tasks": ("analyst", f"/projects/{middle}/tasks?state=all"),
            "project timeline": ("analyst", f"/projects/{middle}/timeline"),
            "project notifications": ("analyst", f"/projects/{middle}/notifications"),
            "task": ("analyst", f"/tasks/{middle}-4"),
        }
        row: dict[str, Any] = {"projects": size, "fill_s": round(filled, 1), "routes_ms": {}, "skipped": {}}
        with TestClient(app) as client:
            def get(who: str, path: str) -> Any:
                return client.get(path, headers={"Authorization": f"Bearer {tokens[who]}"})

            for name, (who, path) in routes.items():
                response = get(who, path)
                if response.status_code != 200:  # synthetic rows lack what this route reads: say so, skip it
                    row["skipped"][name] = f"{response.status_code} {response.text[:200]}"
                    continue
                row["routes_ms"][name] = median_ms(lambda: get(who, path), repeat)
                if path.startswith(("/projects?", "/tasks?")):  # and a page a few pages in (keyset cursor)
                    cursor = response.headers.get("X-Next-Cursor")
                    for _ in range(3):
                        if cursor:
                            cursor = get(who, f"{path}&cursor={cursor}").headers.get("X-Next-Cursor")
                    if cursor:
                        row["routes_ms"][name + " (4th page)"] = median_ms(lambda: get(who, f"{path}&cursor={cursor}"), repeat)
    return row


def run(sizes: list[int], *, repeat: int = 9, out: Path | None = None) -> dict[str, Any]:
    rows = []
    for size in sizes:
        row = measure(size, repeat)
        rows.append(row)
        print(f"{size:>8} projects (filled in {row['fill_s']} s)" +
              (f"; skipped: {', '.join(row['skipped'])}" if row["skipped"] else ""), flush=True)
    small, large = rows[0], rows[-1]
    ratios = {name: round(large["routes_ms"][name] / ms, 2) for name, ms in small["routes_ms"].items()
              if name in large["routes_ms"] and ms > 0}
    header = "".join(f"{r['projects']:>12,}" for r in rows)
    print(f"{'route (median ms)':<52}{header}{'ratio':>8}")
    for name in small["routes_ms"]:
        cells = "".join(f"{r['routes_ms'].get(name, float('nan')):>12.2f}" for r in rows)
        print(f"{name:<52}{cells}{ratios.get(name, float('nan')):>8.2f}")
    worst = max(ratios.values(), default=None)
    print(f"largest ratio {worst} (target ≤ 1.5)")
    result = {"bench": "scale", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "sizes": rows, "ratios": ratios, "largest_ratio": worst}
    out = out or RESULTS_DIR / f"scale-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"written to {out}")
    return result

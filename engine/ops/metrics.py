"""Prometheus metrics (``prometheus_client``), served at ``GET /metrics``.

One process: the default registry. Several processes on one host (N API processes, M workers): either scrape
each process on its own port (the usual layout, see docs/operations.md), or set ``PROMETHEUS_MULTIPROC_DIR``
to an empty directory shared by the processes before they start; ``/metrics`` then aggregates every
process's files (prometheus_client's multiprocess mode; gauges are summed or taken live as declared below).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram("gongai_http_request_duration_seconds", "HTTP request latency by route",
                            ["method", "route", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
COMPLETIONS = Counter("gongai_task_completions_total", "Tasks completed (by the task's role)", ["role"])
PROJECTS_FILED = Counter("gongai_projects_filed_total", "Projects filed")
TIMERS_DUE = Gauge("gongai_timers_due", "Projects with a due timer at the latest timer round",
                   multiprocess_mode="livesum")
TIMERS_FIRED = Counter("gongai_timers_fired_total", "Projects whose due timers ran")
TIMERS_LATE = Histogram("gongai_timer_lateness_seconds", "How long after it was due a timer ran",
                        buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 6 * 3600, 86400))
TIMER_ROUND_FAILURES = Counter("gongai_timer_round_failures_total", "Timer rounds that failed (database errors)")
INCIDENTS_OPENED = Counter("gongai_incidents_opened_total", "Incidents opened (a project's timers failed)")
INCIDENTS_OPEN = Gauge("gongai_incidents_open", "Open incidents at the latest timer round", multiprocess_mode="livemax")
DB_UNAVAILABLE = Counter("gongai_database_unavailable_total", "Requests answered 503 because the database was down")
DB_POOL_IN_USE = Gauge("gongai_db_pool_checked_out", "Database connections in use", multiprocess_mode="livesum")
DB_POOL_SIZE = Gauge("gongai_db_pool_size", "Database connections held by the pool", multiprocess_mode="livesum")
HOLIDAY_DATA_MISSING = Gauge("gongai_holiday_data_missing", "1 when this year's holiday file is missing",
                             multiprocess_mode="max")


def watch_pool(engine: Any) -> None:
    """Report ``engine``'s pool in the pool gauges (the latest engine of the process wins)."""
    pool = engine.pool
    DB_POOL_IN_USE.set_function(lambda: float(getattr(pool, "checkedout", lambda: 0)()))
    DB_POOL_SIZE.set_function(lambda: float(getattr(pool, "size", lambda: 0)()))


def exposition() -> tuple[bytes, str]:
    """The metrics text for a scrape: this process's, or every process's in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

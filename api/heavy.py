"""At most a few heavy analytics requests at once per process; the others are told to come back.

A serving process runs a bounded number of requests at once (``--worker-threads``, api/app.py) so that task
completions are not slowed by dozens of threads taking turns on the interpreter lock. An export or a KPI report
over a large database takes seconds of that time: without a cap of their own, a few analysts clicking 导出 could
hold every worker thread while owners and agencies wait. Heavy routes therefore take a slot here first; when
none is free the request is refused at once (503 with ``Retry-After``) instead of queueing — it holds nothing
and changes nothing, and the analyst's page says to try again shortly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from engine.services.errors import ServiceError

#: Seconds an analyst is asked to wait before asking again.
RETRY_AFTER_SECONDS = 5


class ReportsBusy(ServiceError):
    """Every heavy-report slot of this process is taken: 503 with ``Retry-After``."""

    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class HeavySlots:
    """A non-blocking counting semaphore: ``with slots():`` or :class:`ReportsBusy`."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"heavy report slots: at least 1, not {slots}")
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise ReportsBusy(f"{self.slots} heavy analytics requests (exports, reports) are already running in this "
                              f"server process; try again in {RETRY_AFTER_SECONDS} seconds")
        try:
            yield
        finally:
            self._free.release()


def default_slots(worker_threads: int) -> int:
    """A quarter of the worker threads, at least 1: the rest always serve owners, agencies and the window."""
    return max(1, worker_threads // 4)

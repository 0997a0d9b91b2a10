"""The timer loop both ``gongai worker`` and ``gongai serve`` run: rounds of ``fire_timers`` that never die.

A round that fails (the database restarting, a network cut, a lock timeout) is logged and retried after a
back-off that doubles from the normal interval up to ``max_backoff`` seconds, and returns to the interval as
soon as a round succeeds. A broken *project* never fails a round: ``fire_timers`` turns it into an incident.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.ops.metrics import TIMER_ROUND_FAILURES
from engine.persistence.incidents import is_outage

log = logging.getLogger("gongai.timers")


class TimerLoop:
    def __init__(self, service, *, interval: float = 30.0, max_backoff: float = 60.0,
                 on_round: Callable[[int], None] | None = None) -> None:
        self.service = service
        self.interval = interval
        self.max_backoff = max(max_backoff, interval)
        self.on_round = on_round
        self.failures = 0  # consecutive failed rounds
        self.stopped = threading.Event()

    def round(self) -> float:
        """One round; returns the seconds to wait before the next one."""
        try:
            fired = self.service.fire_timers()
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any single round
            self.failures += 1
            TIMER_ROUND_FAILURES.inc()
            delay = min(self.max_backoff, max(self.interval, 0.5) * 2 ** (self.failures - 1))
            if is_outage(exc):
                log.warning("database unavailable (%s); timer round %d failed, retrying in %.1f s",
                            type(exc).__name__, self.failures, delay, extra={"failures": self.failures})
            else:
                log.exception("timer round failed; retrying in %.1f s", delay, extra={"failures": self.failures})
            return delay
        if self.failures:
            log.info("timer rounds work again after %d failed round(s)", self.failures)
        self.failures = 0
        if self.on_round is not None:
            self.on_round(fired)
        elif fired:
            log.info("fired timers of %d project(s)", fired)
        return self.interval

    def run(self) -> None:
        """Rounds until :meth:`stop` (or Ctrl-C)."""
        while not self.stopped.is_set():
            delay = self.round()
            if self.stopped.wait(delay):
                return

    def stop(self) -> None:
        self.stopped.set()

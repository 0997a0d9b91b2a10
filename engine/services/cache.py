"""The in-memory identity map of live workflows, bounded by an estimate of their size in bytes (issue 14).

A busy project is not deserialised on every step: the service keeps its live SpiffWorkflow object between
operations. Workflows differ a hundredfold in size (a 4-task filing against a finished project with six unit
works), so a bound in entries says nothing about memory; this cache evicts the least recently used workflows
until the estimated total fits ``max_bytes``.

The estimate (:func:`estimate_bytes`) was measured with ``tracemalloc`` on the bundled models: a restored
workflow costs about 460 KB for its own copy of the specs plus about 1.9 KB per task (96 tasks → 637 KB,
689 tasks → 1.76 MB). It counts tasks (``len`` of a few dicts), so it costs nothing per step.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

SPEC_BYTES = 460_000
TASK_BYTES = 1_900
DEFAULT_MB = 128

T = TypeVar("T")


#: a finished task's serialised form kept for reuse by the next dump (engine.bpmn.runtime._task_dicts), measured
#: with tracemalloc on a finished three-unit gov_building project (888 dicts)
TASK_DICT_BYTES = 1_400


def estimate_bytes(workflow: Any) -> int:
    """Approximate memory held by a live BpmnWorkflow (its spec copy, its task trees and the serialised finished
    tasks the runtime keeps for the next dump)."""
    workflows = [workflow, *workflow.subprocesses.values()]
    tasks = sum(len(wf.tasks) for wf in workflows)
    kept = sum(len(wf.__dict__.get("_gongai_task_dicts", ())) for wf in workflows)
    return SPEC_BYTES + TASK_BYTES * tasks + TASK_DICT_BYTES * kept


def default_max_bytes() -> int:
    """``GONGAI_CACHE_MB`` (megabytes; 0 disables the cache), else 128 MB."""
    raw = os.environ.get("GONGAI_CACHE_MB")
    try:
        megabytes = float(raw) if raw else DEFAULT_MB
    except ValueError:
        raise ValueError(f"GONGAI_CACHE_MB: a number of megabytes, not {raw!r}") from None
    return int(megabytes * 1024 * 1024)


class WorkflowCache(Generic[T]):
    """A least-recently-used map bounded in (estimated) bytes and, optionally, in entries; thread-safe.

    :meth:`take` removes the entry (an operation owns the workflow while it mutates it) and :meth:`put`
    returns it after a successful commit.
    """

    def __init__(self, max_bytes: int, max_entries: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[T, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, key: str) -> T | None:
        with self._lock:
            found = self._entries.pop(key, None)
            if found is None:
                return None
            self._bytes -= found[1]
            return found[0]

    def put(self, key: str, value: T, size: int) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return  # larger than the whole budget: not kept
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or (self.max_entries is not None and len(self._entries) > self.max_entries):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

"""``python -m bench.mutations``: break a rule on purpose and check that a test notices (run on demand).

Each mutation replaces one piece of source text in a throwaway copy of the committed tree (``git archive
HEAD``) and runs the tests that guard it; a mutation the tests survive is reported and the command exits 1.
The working tree is never touched. The mutations are the behaviours the audit found unprotected, and the
rules written once in this branch.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("the 一次性告知 notice of an incomplete intake is dropped", "engine/services/approval.py",
             'ctx.notify("correction_notice"', 'ctx.notify("dropped_notice"',
             ("tests/test_rules_in_one_place.py",)),
    Mutation("special procedures stop the clock regardless of the profile", "engine/services/execution.py",
             "stops = self.catalogue.stops_clock(entry.id)", "stops = True",
             ("tests/test_rules_in_one_place.py",)),
    Mutation("an ordinary officer of the lead department issues the combined result", "engine/domain/authorisation.py",
             'if role == "lead" and actor.role != "lead":', "if False:",
             ("tests/test_authorisation_matrix.py",)),
    Mutation("an administrator decides departments' tasks", "engine/domain/authorisation.py",
             'if actor.role == "system":\n        return None', 'if actor.role in ("system", "admin"):\n        return None',
             ("tests/test_authorisation_matrix.py",)),
    Mutation("str.ljust is not size-checked", "engine/bpmn/guards.py",
             '"ljust": _width, ', "", ("tests/test_sandbox_bounds.py",)),
    Mutation("timer durations are not bounded", "engine/bpmn/timers.py",
             "if upper_days > MAX_TIMER_DURATION.days:", "if False:", ("tests/test_timer_bounds.py",)),
)


def run_one(mutation: Mutation) -> bool:
    """True when the tests caught the mutation (failed)."""
    with tempfile.TemporaryDirectory(prefix="gongai-mutation-") as tmp:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        target = Path(tmp) / mutation.path
        text = target.read_text(encoding="utf-8")
        if mutation.original not in text:
            raise SystemExit(f"mutation {mutation.name!r}: {mutation.original!r} is no longer in {mutation.path}")
        target.write_text(text.replace(mutation.original, mutation.replacement, 1), encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
                              cwd=tmp, capture_output=True, text=True)
        return done.returncode != 0


def main() -> int:
    survived = []
    for mutation in MUTATIONS:
        caught = run_one(mutation)
        print(f"{'caught  ' if caught else 'SURVIVED'}  {mutation.name}", flush=True)
        if not caught:
            survived.append(mutation.name)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())

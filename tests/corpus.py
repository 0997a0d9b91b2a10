"""Where the conformance corpora are, and whether a run must have them.

The corpora (SpiffWorkflow's test models, bpmn.io's fixtures, the OMG reference models) are not part of the
repository: they live in ``../shared/conformance`` beside the checkout (``GONGAI_CONFORMANCE_DIR`` names
another place). A plain clone has no corpus, so the tests that read it (marked ``conformance``) are left out
with one line saying so; CI sets ``GONGAI_REQUIRE_CONFORMANCE=1`` (``.ci/run``), and then a missing corpus
fails those tests instead, so a green CI run means every conformance file was checked.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("GONGAI_CONFORMANCE_DIR") or REPO_ROOT.parent / "shared" / "conformance")
REQUIRE_VARIABLE = "GONGAI_REQUIRE_CONFORMANCE"


def required() -> bool:
    return os.environ.get(REQUIRE_VARIABLE, "").strip() == "1"


def missing_note(count: int) -> str:
    return (f"SKIPPED {count} conformance tests: corpus not found at {CORPUS} (put ../shared/conformance beside "
            f"the checkout; {REQUIRE_VARIABLE}=1 makes this a failure, as in CI)")

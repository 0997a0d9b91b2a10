"""Leave the conformance tests out, with one line saying why, when the corpus is absent (see tests/corpus.py)."""

from __future__ import annotations

import pytest

from tests import corpus


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if corpus.CORPUS.is_dir() or corpus.required():
        return
    needing = [item for item in items if item.get_closest_marker("conformance")]
    if not needing:
        return
    items[:] = [item for item in items if not item.get_closest_marker("conformance")]
    config.hook.pytest_deselected(items=needing)
    config.stash[_NOTE] = corpus.missing_note(len(needing))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    note = config.stash.get(_NOTE, None)
    if note:
        terminalreporter.write_line(note, yellow=True)


_NOTE = pytest.StashKey[str]()

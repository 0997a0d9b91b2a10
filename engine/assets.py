"""Where the product's own data lives: the BPMN models and the catalogue (workflows/), installed or checked out.

A wheel carries them inside the package (``engine/_bundled/bpmn``, ``engine/_bundled/workflows``, copied
there by setup.py at build time); a git checkout has them at the repository root. Every lookup goes through
:func:`bundled_dir`, so the product runs the same from ``pip install gongai`` and from a clone.

Operators keep their jurisdiction's own files outside the installation and name them by environment:
``GONGAI_CATALOGUE_DIR`` replaces the bundled catalogue folder (a copy of ``workflows/`` with the
jurisdiction's departments, matters and profiles); ``GONGAI_HOLIDAYS_DIR`` adds holiday-year files
(engine/domain/workcalendar.py). See docs/operations.md.
"""

from __future__ import annotations

import os
from pathlib import Path

CATALOGUE_DIR_ENV = "GONGAI_CATALOGUE_DIR"
_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def bundled_dir(name: str) -> Path:
    """The bundled ``bpmn`` or ``workflows`` folder: inside the installed package, else in the checkout."""
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _CHECKOUT / name


def catalogue_root() -> Path:
    """The catalogue folder in use: ``$GONGAI_CATALOGUE_DIR`` when set, else the bundled ``workflows``."""
    chosen = os.environ.get(CATALOGUE_DIR_ENV, "").strip()
    return Path(chosen) if chosen else bundled_dir("workflows")

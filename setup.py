"""Build hook: the wheel carries the product's BPMN models and catalogue (engine/_bundled/…).

The models (``bpmn/``) and the catalogue (``workflows/``) live at the repository root, where modellers and
the lead edit them; a built wheel copies them into the ``engine`` package so an installed gongai finds them
(engine/assets.py). Editable installs read them from the checkout and copy nothing. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("bpmn", "workflows")  # every file under them (models, catalogue, rules, holidays, profiles …)


class build_py_with_data(build_py):  # noqa: N801 - setuptools command naming
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder in BUNDLED:
            for source in sorted((ROOT / folder).rglob("*")):
                if not source.is_file() or "__pycache__" in source.parts or source.name.startswith("."):
                    continue
                target = Path(self.build_lib) / "engine" / "_bundled" / folder / source.relative_to(ROOT / folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


setup(cmdclass={"build_py": build_py_with_data})

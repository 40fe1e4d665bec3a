"""Wheel build hook: bundle each widget's ES module (js/build.py).

A wheel gets the bundles as ``nbimages/static/``. An editable install (``pip install -e .``)
runs the package from the checkout, where the widgets look in ``js/build/``: there the hook
writes the bundles into ``js/build/`` (ignored by git) and adds nothing to the wheel.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _js_build(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_nbimages_js_build", root / "js" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WidgetBundles(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._out: tempfile.TemporaryDirectory[str] | None = None
        if self.target_name != "wheel":
            return
        module = _js_build(Path(self.root))
        if version == "editable":
            module.build()  # into js/build/, where the checkout's widgets find it
            return
        self._out = tempfile.TemporaryDirectory(prefix="nbimages-js-")
        for path in module.build(Path(self._out.name)):
            build_data["force_include"][str(path)] = f"nbimages/static/{path.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._out is not None:
            self._out.cleanup()

"""Wheel build hook: bundle each widget's ES module (js/build.py) into nbimages/static/."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class WidgetBundles(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        js = Path(self.root) / "js"
        spec = importlib.util.spec_from_file_location("_nbimages_js_build", js / "build.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self._out = tempfile.TemporaryDirectory(prefix="nbimages-js-")
        for path in module.build(Path(self._out.name)):
            build_data["force_include"][str(path)] = f"nbimages/static/{path.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.target_name == "wheel":
            self._out.cleanup()

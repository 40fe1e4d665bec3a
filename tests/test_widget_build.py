"""The widgets' built ES modules in a source checkout: never built on import; missing, a clear
error naming the file and the command; stale, a warning; made by ``python js/build.py``, by the
editable install's build hook and at the start of the test session (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from nbimages.widgets import _base
from nbimages.widgets._base import MissingFrontEnd, NbImagesWidget, static_file

REPO = Path(__file__).resolve().parent.parent
JS = REPO / "js"
BUNDLES = ("studio.js", "mask_painter.js", "gallery.js", "image_actions.js", "image_actions_loader.js")
WIDGETS = (("Studio", "studio.js"), ("MaskPainter", "mask_painter.js"), ("Gallery", "gallery.js"),
           ("ImageActions", "image_actions_loader.js"))

pytestmark = pytest.mark.skipif(not (JS / "build.py").is_file(), reason="not a source checkout")


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checkout_copy(root: Path, *, package: bool = True) -> Path:
    """The parts of a fresh clone that matter here, without js/build/."""
    (root / "js").mkdir(parents=True)
    shutil.copy2(JS / "build.py", root / "js" / "build.py")
    shutil.copy2(JS / "widgets.css", root / "js" / "widgets.css")
    shutil.copytree(JS / "src", root / "js" / "src")
    shutil.copy2(REPO / "hatch_build.py", root / "hatch_build.py")
    if package:
        shutil.copytree(REPO / "nbimages", root / "nbimages", ignore=shutil.ignore_patterns("__pycache__"))
    return root


# Creates each widget in a fresh interpreter; prints what it got as one JSON line.
CREATE_WIDGETS = r"""
import json, sys
from io import BytesIO
from pathlib import Path

import nbimages
import nbimages.widgets as w
from PIL import Image

buffer = BytesIO()
Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
from nbimages.widgets.image_actions import ImageActions
makers = {"Studio": (w.Studio, ()), "MaskPainter": (w.MaskPainter, (buffer.getvalue(),)),
          "Gallery": (w.Gallery, ()), "ImageActions": (ImageActions, ())}
out = {"package": nbimages.__file__}
for name, (cls, args) in makers.items():
    try:
        widget = cls(*args)
    except FileNotFoundError as exc:
        out[name] = {"error": str(exc)}
    else:
        out[name] = {"esm": str(cls._esm._path), "esm_len": len(widget._esm)}
print(json.dumps(out))
"""


def _create_widgets(cwd: Path, *, pythonpath: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANYWIDGET_", "PYTHON"))}
    env["NBIMAGES_BACKEND"] = "local"
    env["PYTHONPATH"] = str(pythonpath)  # before site-packages, where the editable install points here
    done = subprocess.run([sys.executable, "-c", CREATE_WIDGETS], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# An audit hook, installed before nbimages is imported: every file under js/ opened, and every
# rename, utime or mkdir there (what a build does), plus whether js/build.py was ever loaded.
WATCH_JS = r"""
import atexit, json, os, sys
_js = os.path.realpath(sys.argv[1])
_seen = []
def _audit(event, args):
    if event in ("open", "os.rename", "os.utime", "os.mkdir") and args and isinstance(args[0], (str, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path.startswith(_js + os.sep):
            mode = args[1] if event == "open" and len(args) > 1 else None
            flags = args[2] if event == "open" and len(args) > 2 else 0
            _seen.append([event, os.path.relpath(path, _js), mode, flags])
sys.addaudithook(_audit)
_before = {p.name: p.stat().st_mtime_ns for p in (__import__("pathlib").Path(_js) / "build").iterdir()}
atexit.register(lambda: print(json.dumps({"seen": _seen, "mtimes_same": _before == {
    p.name: p.stat().st_mtime_ns for p in (__import__("pathlib").Path(_js) / "build").iterdir()}})))
"""


def test_importing_and_creating_widgets_builds_nothing(tmp_path: Path) -> None:
    assert all((JS / "build" / name).is_file() for name in BUNDLES)  # the session built them (conftest)
    done = subprocess.run([sys.executable, "-c", WATCH_JS + CREATE_WIDGETS, str(JS)], cwd=tmp_path,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("ANYWIDGET_")},
                               "NBIMAGES_BACKEND": "local"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *_, created, watched = (json.loads(line) for line in done.stdout.strip().splitlines())
    assert Path(created["package"]).is_relative_to(REPO)
    for widget, bundle in WIDGETS:
        assert created[widget]["esm"] == str(JS / "build" / bundle)
        assert created[widget]["esm_len"] > 500
    watched_files = {entry[1] for entry in watched["seen"]}
    assert "build.py" not in watched_files  # js/build.py was never loaded
    assert watched_files <= {os.path.join("build", name) for name in BUNDLES} | {"widgets.css"}, watched["seen"]
    for event, _path, mode, flags in watched["seen"]:
        assert event == "open" and mode in (None, "r", "rb") and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    assert watched["mtimes_same"]


def test_a_checkout_without_built_modules_says_which_file_and_the_command(tmp_path: Path) -> None:
    root = _checkout_copy(tmp_path / "clone")
    got = _create_widgets(root, pythonpath=root)
    assert Path(got["package"]).is_relative_to(root)  # the copy, not this checkout
    for widget, bundle in WIDGETS:
        error = got[widget]["error"]
        assert error.startswith(f"{widget} cannot be shown: its front end {root / 'js' / 'build' / bundle} is missing.")
        assert f"`python js/build.py` in {root}" in error and "restart the kernel" in error
    assert not (root / "js" / "build").exists()  # neither importing nor creating built anything

    # The command the message names makes them; then the widgets come up.
    subprocess.run([sys.executable, "js/build.py"], cwd=root, check=True, capture_output=True, timeout=60)
    got = _create_widgets(root, pythonpath=root)
    for widget, bundle in WIDGETS:
        assert got[widget]["esm"] == str(root / "js" / "build" / bundle)


def test_an_installation_without_its_static_folder_says_reinstall(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "site" / "nbimages").mkdir(parents=True)
    monkeypatch.setattr(_base, "_PACKAGE", tmp_path / "site" / "nbimages")
    missing = static_file("studio.js")
    assert isinstance(missing, MissingFrontEnd)
    assert missing.path == tmp_path / "site" / "nbimages" / "static" / "studio.js"

    class Probe(NbImagesWidget):
        _esm = missing

    with pytest.raises(FileNotFoundError, match=r"^Probe cannot be shown: its front end .*studio\.js is missing\. "
                                                r"This installation of nbimages is incomplete: reinstall it\.$"):
        Probe()


def test_the_installed_static_folder_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _checkout_copy(tmp_path, package=False)
    _load(root / "js" / "build.py", "js_build_copy").build()
    (root / "nbimages" / "static").mkdir(parents=True)
    (root / "nbimages" / "static" / "studio.js").write_text("export default {};\n", encoding="utf-8")
    monkeypatch.setattr(_base, "_PACKAGE", root / "nbimages")
    assert static_file("studio.js") == root / "nbimages" / "static" / "studio.js"
    assert static_file("gallery.js") == root / "js" / "build" / "gallery.js"
    assert static_file("widgets.css") == root / "js" / "widgets.css"


def test_a_stale_build_is_served_with_a_warning_naming_the_command(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = _checkout_copy(tmp_path, package=False)
    build = _load(root / "js" / "build.py", "js_build_copy")
    build.build()
    monkeypatch.setattr(_base, "_PACKAGE", root / "nbimages")
    served = root / "js" / "build" / "studio.js"
    assert static_file("studio.js") == served  # up to date: no warning (warnings are errors here)

    newest = max(p.stat().st_mtime_ns for p in [root / "js" / "build.py", *(root / "js" / "src").glob("*.js")])
    old = newest - 10**9
    os.utime(served, ns=(old, old))  # as if js/src had been saved since the build
    with pytest.warns(UserWarning, match=r"studio\.js is older than js/src; run `python js/build.py` \(or `--watch`\)"):
        assert static_file("studio.js") == served
    assert served.stat().st_mtime_ns == old  # warned, not rebuilt

    # A build brings it up to date even when its text did not change.
    assert build.build() == []
    assert static_file("studio.js") == served


def test_build_writes_only_what_changed_and_the_checkout_serves_the_current_sources(tmp_path: Path) -> None:
    build = _load(JS / "build.py", "js_build")
    assert sorted(p.name for p in build.build(tmp_path)) == sorted(BUNDLES)
    assert build.build(tmp_path) == []  # nothing changed, nothing written
    for name in BUNDLES:
        expected = build.module(name.removesuffix(".js"))
        assert (tmp_path / name).read_text(encoding="utf-8") == expected
        # This checkout's widgets serve exactly that (the session built js/build/).
        assert static_file(name) == JS / "build" / name
        assert (JS / "build" / name).read_text(encoding="utf-8") == expected


def test_the_build_hook_writes_js_build_for_an_editable_install_and_the_wheel_gets_static(tmp_path: Path) -> None:
    root = _checkout_copy(tmp_path, package=False)
    hook_module = _load(root / "hatch_build.py", "hatch_build_copy")

    def run(version: str) -> dict:
        hook = hook_module.WidgetBundles(str(root), {}, None, None, str(tmp_path / "dist"), "wheel")
        build_data: dict = {"force_include": {}}
        hook.initialize(version, build_data)
        bundles = {Path(source).name: Path(source).read_text(encoding="utf-8")
                   for source in build_data["force_include"]}
        hook.finalize(version, build_data, str(tmp_path / "dist" / "x.whl"))
        return {"force_include": sorted(build_data["force_include"].values()), "bundles": bundles}

    editable = run("editable")  # pip install -e .
    assert editable["force_include"] == []  # nothing in the editable wheel (it would shadow nothing, and go stale)
    assert sorted(p.name for p in (root / "js" / "build").iterdir()) == sorted(BUNDLES)

    shutil.rmtree(root / "js" / "build")
    standard = run("standard")  # python -m build, pip install .
    assert standard["force_include"] == sorted(f"nbimages/static/{name}" for name in BUNDLES)
    build = _load(root / "js" / "build.py", "js_build_copy")
    assert standard["bundles"] == {name: build.module(name.removesuffix(".js")) for name in BUNDLES}
    assert not (root / "js" / "build").exists()  # a wheel build leaves the checkout alone

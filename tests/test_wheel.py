"""The distribution: build the sdist, build the wheel *from that sdist*, install the wheel in a
fresh virtual environment and use it from there (imports, widget assets, ``nbimages serve``).

How the environment is made, and why: tests never reach the network, so the wheel's
dependencies cannot be downloaded into an empty venv. They come instead from the environment
that runs the tests: the venv gets a ``.pth`` file listing that environment's site-packages
folders, placed after its own. (``--system-site-packages`` is not used: when the tests run
inside a virtualenv, as in CI on an externally managed Python, it would expose the base
interpreter's packages, not the ones the test extra installed.) A ``.pth`` line only adds a
folder to ``sys.path``; the ``.pth`` files inside that folder are not processed, so the
editable install of this checkout cannot put the repository on the path. The wheel is then
installed into the venv with ``--no-deps --no-index --ignore-installed``, and every check runs
with ``python -I`` (no current directory, no PYTHON* variables) from a folder outside the
repository and asserts that ``nbimages`` came from the venv's site-packages. The declared
dependencies are checked against what the venv can import.

The build is ``python -m build --no-isolation`` (hatchling is part of the ``test`` extra), so
no build dependency is fetched either.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import site
import subprocess
import sys
import sysconfig
import tarfile
import time
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parent.parent
WIDGETS = ("Studio", "MaskPainter", "Gallery")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    python: Path  # the venv's interpreter
    bin: Path
    site: Path  # the venv's site-packages
    env: dict[str, str]
    work: Path  # a folder outside the repository, the cwd of every check


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "PYTHON", "NBIMAGES_", "ANYWIDGET_", "VIRTUAL_ENV"))}
    env["NBIMAGES_HOME"] = str(home)
    return env


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist, work, home = root / "dist", root / "work", root / "home"
    work.mkdir()
    env = _clean_env(home)
    # Without a target, `build` makes the sdist first and then the wheel from the unpacked
    # sdist: a file the sdist forgets (the widgets' JS, say) breaks the wheel here.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO], cwd=work, env=env,
         timeout=120)
    (wheel,) = dist.glob("nbimages-*.whl")
    (sdist,) = dist.glob("nbimages-*.tar.gz")

    prefix = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(prefix)
    bindir = prefix / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = Path(_run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=work, env=env).strip())
    (site / "_outer_environment.pth").write_text("\n".join(_outer_site_packages()) + "\n", encoding="utf-8")
    # pip (from the outer environment) run by the venv's interpreter installs into the venv.
    _run([python, "-I", "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
          "--disable-pip-version-check", "--no-warn-script-location", wheel], cwd=work, env=env)
    return Installed(wheel, sdist, python, bindir, site, env, work)


def _outer_site_packages() -> list[str]:
    paths = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()]
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        paths.append(site.getusersitepackages())
    unique = dict.fromkeys(str(Path(p)) for p in paths if Path(p).is_dir())
    assert not any(Path(p) == REPO for p in unique)
    return list(unique)


def _venv_python(inst: Installed, code: str, *args: str) -> dict:
    """Run ``code`` in the venv; it prints one JSON object as its last line."""
    out = _run([inst.python, "-I", "-c", code, *args], cwd=inst.work, env=inst.env)
    return json.loads(out.strip().splitlines()[-1])


# -- the archives --------------------------------------------------------------------------

def test_wheel_holds_the_package_and_nothing_else(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = whl.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"nbimages", f"{installed.wheel.name.split('-')[0]}-{_version()}.dist-info"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".ipynb"))]
    for required in ("nbimages/py.typed", "nbimages/prices.json", "nbimages/local/simulator.py",
                     "nbimages/widgets/studio.py"):
        assert required in names
    static = [n for n in names if n.startswith("nbimages/static/")]
    # Only the front end's runtime files: no sources, package.json or node_modules.
    assert static and all(re.fullmatch(r"nbimages/static/[\w.-]+\.(js|css)", n) for n in static), static
    # The bundles hatch_build.py makes from js/src, and the stylesheet.
    assert set(static) == {f"nbimages/static/{name}" for name in
                           ("studio.js", "mask_painter.js", "gallery.js", "image_actions.js",
                            "image_actions_loader.js", "widgets.css")}
    assert f"Version: {_version()}" in metadata
    assert "Requires-Python: >=3.10" in metadata
    assert re.search(r"^Description-Content-Type: text/markdown$", metadata, re.M)
    assert "nbimages = nbimages.cli:main" in entry_points


def test_sdist_holds_the_sources_tests_and_tutorials(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for required in ("pyproject.toml", "README.md", "PKG-INFO", "Makefile", "nbimages/py.typed",
                     "nbimages/prices.json", "tests/conftest.py", "tests/test_wheel.py",
                     "tools/install-chromium.sh", "hatch_build.py", "js/build.py", "js/src/_shared.js",
                     "js/src/studio.js", "js/widgets.css"):
        assert required in names, required
    assert not [n for n in names if n.startswith("js/build/")]  # bundles are made, not shipped as sources
    tutorials = {f"notebooks/{p.name}" for p in (REPO / "notebooks").glob("*.ipynb") if ".executed." not in p.name}
    assert tutorials and tutorials <= names
    junk = [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".executed." in n
            or n.startswith((".git/", ".venv/", ".pytest_cache/", "node_modules/", "test-artifacts/", "dist/"))]
    assert not junk


# -- the installed wheel -------------------------------------------------------------------

def test_imports_from_the_venv_not_from_the_checkout(installed: Installed) -> None:
    info = _venv_python(installed, """if True:
        import json, sys, importlib.metadata as md, nbimages
        import nbimages.client, nbimages.local, nbimages.magics
        from packaging.requirements import Requirement
        unmet = []
        for spec in md.requires("nbimages") or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = md.version(req.name)
            except md.PackageNotFoundError:
                have = None
            if have is None or not req.specifier.contains(have, prereleases=True):
                unmet.append(f"{spec} (have {have})")
        print(json.dumps({"file": nbimages.__file__, "version": nbimages.__version__,
                          "dist": md.version("nbimages"), "dist_files": str(md.distribution("nbimages")._path),
                          "typed": (md.distribution("nbimages").locate_file("nbimages/py.typed")).is_file(),
                          "unmet": unmet, "loaded": sorted(m for m in sys.modules if m.startswith("nbimages"))}))
    """)
    assert Path(info["file"]).is_relative_to(installed.site), info["file"]
    assert not Path(info["file"]).is_relative_to(REPO)
    assert Path(info["dist_files"]).is_relative_to(installed.site)
    assert info["version"] == info["dist"] == _version()
    assert info["typed"]
    assert info["unmet"] == []


# Run in the venv: what each widget class hands anywidget, and which installed file it is.
WIDGET_PROBE = r"""
import json, pathlib, re, sys
import nbimages, nbimages.widgets

def relative_imports(code):
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)  # JSDoc may mention import("./x.js")
    code = re.sub(r"(?m)^\s*//.*$", "", code)
    return re.findall(r"(?:\bfrom|\bimport)\s*\(?\s*['\"]\.{1,2}/[^'\"]*", code)

static = pathlib.Path(nbimages.__file__).parent / "static"
files = {p.name: p.read_text(encoding="utf-8") for p in static.iterdir()}
out = {"static": str(static), "files": sorted(files)}
for name in sys.argv[1:]:
    cls = getattr(nbimages.widgets, name)
    esm, css = str(cls._esm), str(cls._css)
    out[name] = {"esm_from": [f for f, text in files.items() if text == esm],
                 "css_from": [f for f, text in files.items() if text == css],
                 "esm_len": len(esm), "relative_imports": relative_imports(esm)}
# Created, a widget carries the module too (a missing one would raise FileNotFoundError).
out["created_esm_from"] = [f for f, text in files.items() if text == nbimages.widgets.Gallery()._esm]
print(json.dumps(out))
"""


def test_widget_assets_load_from_inside_the_wheel(installed: Installed) -> None:
    info = _venv_python(installed, WIDGET_PROBE, *WIDGETS)
    assert Path(info["static"]).is_relative_to(installed.site)
    for name in WIDGETS:
        widget = info[name]
        # The ES module and the CSS are exactly files of the installed wheel's static folder.
        assert widget["esm_from"] and widget["css_from"], (name, info["files"], widget)
        assert widget["esm_len"] > 500
        # anywidget loads the module from a blob URL, where "./x.js" cannot resolve.
        assert widget["relative_imports"] == [], (name, widget["relative_imports"])
    assert info["created_esm_from"] == ["gallery.js"]


def test_serve_from_the_wheel_answers_the_openai_sdk(installed: Installed) -> None:
    import openai

    exe = installed.bin / ("nbimages.exe" if os.name == "nt" else "nbimages")
    assert exe.is_file()
    with _serve(exe, installed) as url:
        models = httpx.get(f"{url}/models", timeout=10)
        assert models.status_code == 200
        assert models.json()["object"] == "list" and models.json()["data"]
        with openai.OpenAI(base_url=url, api_key="sk-wheel-test", max_retries=0, timeout=20) as sdk:
            result = sdk.images.generate(model="gpt-image-1.5", prompt="a red circle on white",
                                         size="1024x1024", quality="low")
        assert result.data and result.data[0].b64_json
        import base64

        png = base64.b64decode(result.data[0].b64_json)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        # And the installed client, from the venv, against the installed server.
        got = _venv_python(installed, f"""if True:
            import json, nbimages
            with nbimages.Client(base_url={url!r}, api_key="sk-wheel-test") as client:
                (img,) = client.generate("a blue square", size="1024x1024", quality="low")
            print(json.dumps({{"format": img.format, "size": [img.width, img.height]}}))
        """)
        assert got == {"format": "png", "size": [1024, 1024]}


class _serve:
    """``nbimages serve --port 0`` from the venv; yields its URL; SIGTERM ends it cleanly."""

    def __init__(self, exe: Path, inst: Installed) -> None:
        self.args = [str(exe), "serve", "--port", "0", "--quiet"]
        self.inst = inst

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.args, cwd=self.inst.work, env=self.inst.env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and sel.select(deadline - time.monotonic()):
                line = self.proc.stdout.readline()
                if not line:
                    break
                match = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)", line)
                if match:
                    return match.group(1)
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        raise AssertionError(f"nbimages serve did not start: {err}")

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        if exc[0] is None:
            assert self.proc.returncode == 0, err
            assert "stopped" in out


def _version() -> str:
    text = (REPO / "nbimages" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    assert match
    return match.group(1)

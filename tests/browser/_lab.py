"""A real JupyterLab server and a Chromium page driving notebooks in it.

Used by the browser tests (tests/browser/conftest.py) and by tools/screenshots.py. Nothing
here depends on pytest. The server runs from this interpreter (so its kernels import the
package under test) with its own config, runtime, data and IPython folders, an empty
nbimages store and visible simulator delays.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Slow enough that each partial image is its own visible step in the page.
SIM_LATENCY = "0.3"
SIM_PARTIAL_INTERVAL = "0.3"
CLEARED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "NBIMAGES_BACKEND",
               "JUPYTER_PATH", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")

# Page-side helpers: the notebook panel of a path, in JupyterLab and in Notebook 7.
INIT_SCRIPT = """
window.__nbiPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
window.__nbiKernel = (path) => {
  const panel = window.__nbiPanel(path);
  return panel && panel.sessionContext.session ? panel.sessionContext.session.kernel : null;
};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    """A running ``python -m jupyterlab`` (its own process group) and its folders."""

    process: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    home: Path  # NBIMAGES_HOME of its kernels
    log: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the server and its kernels
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def start_lab(base: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 60.0) -> LabServer:
    """Start JupyterLab on 127.0.0.1 (free port, random token) with everything under ``base``."""
    dirs = {name: base / name for name in ("root", "config", "runtime", "ipython", "data", "nbimages-home")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # No "Jupyter news" toast and no update check covering the page.
    _write_json(dirs["config"] / "lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV and not k.startswith("PYTEST_")}
    env.update({
        # Kernel specs installed with --sys-prefix stay visible: sys.prefix/share/jupyter is
        # always on the data path, JUPYTER_DATA_DIR only moves the per-user folder.
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "NBIMAGES_HOME": str(dirs["nbimages-home"]),
        "NBIMAGES_SIM_LATENCY": SIM_LATENCY,
        "NBIMAGES_SIM_PARTIAL_INTERVAL": SIM_PARTIAL_INTERVAL,
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    env.update(extra_env or {})
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={dirs['root']}",
        "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.news_url=None", "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, cwd=dirs["root"], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(process, port, token, dirs["root"], dirs["nbimages-home"], log, env)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"JupyterLab did not answer in {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.1)


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A v4.5 notebook of code cells, written as JSON.

    Not through nbformat: importing it pulls in jsonschema's format checkers, whose
    rfc3987_syntax grammar takes 3 s to build (12 s on a busy 2-core machine).
    """
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": source.strip("\n")} for i, source in enumerate(cells)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


class KernelError(AssertionError):
    """Code run in the notebook's kernel raised."""

    def __init__(self, message: str) -> None:
        super().__init__(re.sub(r"\x1b\[[0-9;]*m", "", message))  # no terminal colours


class Notebook:
    """One notebook open in a Playwright page: run its cells, evaluate code in its kernel."""

    def __init__(self, page: Any, path: str) -> None:
        self.page = page
        self.path = path
        self.timings: dict[str, float] = {}  # seconds per phase of opening

    def _js(self, body: str, arg: Any = None) -> Any:
        return self.page.evaluate(f"([path, arg]) => {{ {body} }}", [self.path, arg])

    def wait_ready(self, cells: int, timeout: float = 60.0) -> None:
        """Until the notebook shows ``cells`` cells and its kernel is connected and idle."""
        self.page.wait_for_function(
            """([path, cells]) => {
                const panel = window.__nbiPanel(path);
                if (!panel || !panel.context.isReady || panel.content.widgets.length !== cells) return false;
                const kernel = window.__nbiKernel(path);
                return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
            }""",
            arg=[self.path, cells], timeout=timeout * 1000, polling=100,
        )

    def run_all(self, timeout: float = 60.0) -> None:
        """Run every cell (as the Run menu does) and wait until each has run; raise on an error output."""
        self._js("""
            const panel = window.__nbiPanel(path);
            window.jupyterapp.shell.activateById(panel.id);
            return window.jupyterapp.commands.execute('notebook:run-all-cells');
        """)
        self.page.wait_for_function(
            """(path) => {
                const panel = window.__nbiPanel(path);
                const kernel = window.__nbiKernel(path);
                const cells = panel.content.widgets.filter((c) => c.model.type === 'code');
                const ran = cells.every((c) => c.model.executionCount !== null);
                const failed = cells.some((c) => { const o = c.model.outputs;
                  for (let i = 0; i < o.length; i++) if (o.get(i).type === 'error') return true; return false; });
                return failed || (ran && kernel.status === 'idle');
            }""",
            arg=self.path, timeout=timeout * 1000, polling=100,
        )
        errors = self._js("""
            const panel = window.__nbiPanel(path);
            const out = [];
            for (const c of panel.content.widgets) {
              const o = c.model.outputs; if (!o) continue;
              for (let i = 0; i < o.length; i++) { const j = o.get(i).toJSON();
                if (j.output_type === 'error') out.push(j.ename + ': ' + j.evalue + '\\n' + (j.traceback || []).join('\\n')); }
            }
            return out;
        """)
        if errors:
            raise KernelError("a notebook cell raised:\n" + "\n".join(errors))

    def execute(self, code: str, timeout: float = 30.0) -> str:
        """Run ``code`` in the notebook's kernel (like a hidden cell) and return what it printed."""
        result = self.page.evaluate(
            """async ([path, code, timeout]) => {
                const kernel = window.__nbiKernel(path);
                const future = kernel.requestExecute({ code, silent: false, store_history: false, stop_on_error: true });
                let out = '', error = null;
                future.onIOPub = (msg) => {
                  const t = msg.header.msg_type;
                  if (t === 'stream') out += msg.content.text;
                  else if (t === 'error') error = msg.content.ename + ': ' + msg.content.evalue + '\\n' +
                    msg.content.traceback.join('\\n');
                };
                const timer = new Promise((_, reject) => setTimeout(() => reject(new Error('kernel timeout')), timeout));
                await Promise.race([future.done, timer]);
                return { out, error };
            }""",
            [self.path, code, timeout * 1000],
        )
        if result["error"]:
            raise KernelError(f"{code}\n-> {result['error']}")
        return str(result["out"])

    def value(self, expression: str, setup: str = "") -> Any:
        """The JSON value of ``expression`` in the kernel (a hidden cell printing JSON)."""
        marker = "\x1enbimages-json\x1e"
        out = self.execute(f"{setup}\nimport json as __j\nprint({marker!r} + __j.dumps({expression}))")
        return json.loads(out.rsplit(marker, 1)[1])

    def wait_value(self, expression: str, timeout: float = 30.0, setup: str = "") -> Any:
        """Poll until ``expression`` is truthy in the kernel; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.value(expression, setup)
            if value or time.monotonic() > deadline:
                if not value:
                    raise AssertionError(f"still falsy after {timeout:.0f} s in the kernel: {expression}")
                return value
            time.sleep(0.1)

    def shutdown_kernel(self) -> None:
        with contextlib.suppress(Exception):  # the page may already be gone; the server's teardown ends the kernel
            self._js("const p = window.__nbiPanel(path); return p ? p.sessionContext.shutdown() : null;")


@contextmanager
def open_notebook(context: Any, server: LabServer, name: str, cells: list[str], *, ui: str = "lab",
                  run: bool = True, before_goto: Any = None, timeout: float = 60.0,
                  failure_shot: Path | None = None) -> Iterator[Notebook]:
    """Write ``cells`` as ``name`` into the server's root, open it in a new page, run all cells.

    ``ui`` is "lab" (JupyterLab) or "notebook" (Notebook 7). ``before_goto(page)`` may attach
    listeners (websocket frames, console) before the page loads. The kernel is shut down and
    the page closed afterwards; on an exception the page is saved to ``failure_shot`` first.
    """
    begin = time.monotonic()
    write_notebook(server.root / name, cells)
    page = context.new_page()
    page.add_init_script(INIT_SCRIPT)
    if before_goto is not None:
        before_goto(page)
    route = f"lab/tree/{name}" if ui == "lab" else f"notebooks/{name}"
    url = server.url(route) + ("&reset" if ui == "lab" else "")
    notebook = Notebook(page, name)
    start = time.monotonic()
    notebook.timings["new page"] = start - begin
    try:
        page.goto(url)
        page.wait_for_selector(".jp-Notebook", timeout=timeout * 1000)
        notebook.timings["page"] = time.monotonic() - start
        notebook.wait_ready(len(cells), timeout)
        notebook.timings["kernel"] = time.monotonic() - start - notebook.timings["page"]
        if run:
            notebook.run_all(timeout)
            notebook.timings["run"] = time.monotonic() - start - notebook.timings["page"] - notebook.timings["kernel"]
        yield notebook
    except BaseException:
        if failure_shot is not None:
            failure_shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(failure_shot), full_page=True)
        raise
    finally:
        notebook.shutdown_kernel()
        page.close()


@contextmanager
def chromium(**context_options: Any) -> Iterator[tuple[Any, Any]]:
    """(browser, context) from Debian's Chromium; one context, many pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            options = {"viewport": {"width": 1280, "height": 1200}, **context_options}
            context = browser.new_context(**options)
            yield browser, context
            context.close()
        finally:
            browser.close()


def record_frames(frames: list[bytes | str]) -> Any:
    """A ``before_goto`` that appends every websocket frame the page receives to ``frames``."""
    def attach(page: Any) -> None:
        # A bound method such as frames.append cannot be a Playwright handler: wrap it.
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    return attach


def ws_parts(payload: bytes | str) -> tuple[str, list[bytes]] | None:
    """(channel, [header, parent, metadata, content, *buffers]) of a v1 kernel websocket frame."""
    if isinstance(payload, str) or len(payload) < 16:
        return None
    count = int.from_bytes(payload[:8], "little")
    if count < 2 or 8 * (count + 1) > len(payload):
        return None
    offsets = [int.from_bytes(payload[8 * (i + 1): 8 * (i + 2)], "little") for i in range(count)]
    if offsets[-1] != len(payload):
        return None
    channel = payload[offsets[0]:offsets[1]].decode("utf-8", "replace")
    return channel, [payload[offsets[i]:offsets[i + 1]] for i in range(1, count - 1)]

"""Import cost: ``import nbimages`` and ``%load_ext nbimages`` against ``import openai``.

Each measurement is a fresh interpreter timing only the statement in question (wall time
with ``perf_counter`` around it), so that nothing is cached in ``sys.modules``. The three
runs are interleaved, repeated, and the median is kept. The modules each statement pulled
in are reported too: a kernel pays for them on every start.
"""

from __future__ import annotations

import json
import tempfile

from bench._common import Config, Row, clean_env, failed, median, python, rounded

ROWS = ("import nbimages", "%load_ext nbimages")
HEAVY = ("httpx", "PIL", "anywidget", "ipywidgets", "numpy", "IPython.display", "IPython.core.display", "openai")

_TIME_IMPORT = """
import sys, time, json
before = set(sys.modules)
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
new = set(sys.modules) - before
print(json.dumps({{"seconds": seconds, "modules": len(new), "heavy": sorted(h for h in {heavy!r} if h in new)}}))
"""

_TIME_LOAD_EXT = """
import sys, time, json
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
start = time.perf_counter()
shell.run_line_magic("load_ext", "nbimages")
seconds = time.perf_counter() - start
new = set(sys.modules) - before
assert "imagine" in shell.magics_manager.magics["cell"], "the %%imagine magic was not registered"
print(json.dumps({{"seconds": seconds, "modules": len(new), "heavy": sorted(h for h in {heavy!r} if h in new)}}))
"""


def _measure(code: str, env: dict[str, str]) -> dict:
    return json.loads(python(code, env).strip().splitlines()[-1])


def run(config: Config) -> list[Row]:
    with tempfile.TemporaryDirectory() as home:
        env = clean_env(NBIMAGES_HOME=home)
        codes = {
            "nbimages": _TIME_IMPORT.format(module="nbimages", heavy=HEAVY),
            "load_ext": _TIME_LOAD_EXT.format(heavy=HEAVY),
            "openai": _TIME_IMPORT.format(module="openai", heavy=HEAVY),
        }
        errors: dict[str, Exception] = {}
        samples: dict[str, list[dict]] = {k: [] for k in codes}
        for key, code in codes.items():  # warm the bytecode and file-system caches once (kept when quick)
            try:
                warm = _measure(code, env)
            except Exception as exc:
                errors[key] = exc
                del samples[key]
                continue
            if config.quick:
                samples[key].append(warm)
        if "openai" in errors:
            raise errors["openai"]
        for _ in range(config.pick(config.repeats, 1)):
            for key in samples:
                samples[key].append(_measure(codes[key], env))

    times = {k: [s["seconds"] for s in v] for k, v in samples.items()}
    sdk = median(times["openai"])

    def row(name: str, key: str) -> Row:
        if key in errors:
            return failed(name, errors[key])
        last = samples[key][-1]
        heavy = ", ".join(last["heavy"]) or "none"
        return Row(
            name, median(times[key]), sdk, "s", 0.25, "<= 0.25", "import openai",
            raw={key: rounded(times[key]), "openai": rounded(times["openai"]), "new_modules": last["modules"],
                 "openai_new_modules": samples["openai"][-1]["modules"]},
            note=f"heavy modules loaded: {heavy}",
        )

    return [row(ROWS[0], "nbimages"), row(ROWS[1], "load_ext")]

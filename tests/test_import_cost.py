"""Import cost is a feature: a kernel loads the extension on every start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("anywidget", "ipywidgets", "PIL", "httpx", "IPython", "numpy", "matplotlib", "traitlets", "openai")


def loaded_after(statement: str) -> set[str]:
    """Top-level packages newly imported by ``statement`` in a fresh interpreter."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(out.stdout))


def test_import_nbimages_is_light() -> None:
    loaded = loaded_after("import nbimages")
    assert loaded >= {"nbimages"}  # the probe works
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_public_names_that_need_no_network_stack_stay_light() -> None:
    loaded = loaded_after("import nbimages; nbimages.__version__; nbimages.InvalidInputError; nbimages.image_tool")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("module", ["nbimages.client", "nbimages.events", "nbimages.image", "nbimages.inputs",
                                    "nbimages.masks", "nbimages.stream", "nbimages.sse", "nbimages._requests"])
def test_core_modules_do_not_import_pil_or_httpx(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert "PIL" not in loaded and "httpx" not in loaded and "IPython" not in loaded


def test_the_client_class_loads_httpx_only_when_built() -> None:
    assert "httpx" not in loaded_after("from nbimages import Client")
    assert "PIL" not in loaded_after(
        "import nbimages, httpx\n"
        "c = nbimages.Client(api_key='sk', base_url='http://127.0.0.1:9/v1', max_retries=0)\n"
        "c.close()"
    )

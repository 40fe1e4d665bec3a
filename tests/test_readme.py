"""The README's promises: its code runs as written, and the names it mentions exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks(*languages: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README) if lang in languages]


def test_every_python_and_ipython_block_runs_against_the_simulator(
        ipshell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from nbimages.store import default_store

    monkeypatch.chdir(tmp_path)
    code = blocks("python", "ipython")
    assert len(code) >= 8
    for body in code:
        result = ipshell.run_cell(body, store_history=False)
        out = capsys.readouterr()
        assert result.success, f"README block failed:\n{body}\n{result.error_before_exec or result.error_in_exec}"
        # The magics show known errors as one line instead of raising: none may appear.
        shown = out.out + out.err
        assert not re.search(r"\b\w*(Error|Exception)\b", shown), f"README block showed an error:\n{body}\n{shown}"
    ns = ipshell.user_ns
    assert (tmp_path / "lighthouse.png").read_bytes()[:4] == b"\x89PNG"
    assert (ns["wider"].width, ns["wider"].height) == (1536, 1024)  # outpaint(right=512) of 1024x1024
    assert ns["boat"].params.get("pasted_outside_mask") is True
    assert ns["lake"].width and ns["conv"].image.path.is_file()
    # Four from the magics, two from the conversation, one from the painter (Client stores nothing).
    assert default_store().count() >= 7


def test_magic_options_and_settings_it_names_exist(ipshell: Any) -> None:
    from nbimages.magics import Imagine

    traits = set(Imagine.class_trait_names())
    for name in re.findall(r"Imagine\.(\w+)", README):
        assert name in traits, name
    for name in re.findall(r"`(\w+)`", README.split("`Imagine` has", 1)[1].split("\n\n", 1)[0]):
        if name not in ("webp", "png", "jpeg"):
            assert name in traits, name
    magics = ipshell.magics_manager.lsmagic()
    docs = " ".join(kind[name].__doc__ for kind in magics.values() for name in kind if "imagine" in name
                    or name == "describe")
    options = {word.strip("[],") for word in docs.split() if word.startswith(("-", "[-"))}
    for option in re.findall(r"`(--?[\w-]+)", README.split("### Magics", 1)[1].split("### Python", 1)[0]):
        assert option in options, option


def test_environment_variables_it_names_are_read_by_the_package() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "nbimages").rglob("*.py"))
    names = set(re.findall(r"\b((?:OPENAI|NBIMAGES)_[A-Z_]+)\b", README))
    assert {"OPENAI_API_KEY", "NBIMAGES_HOME", "NBIMAGES_BACKEND"} <= names
    for name in names:
        assert f'"{name}"' in source, name


def test_make_targets_benchmarks_and_notebooks_it_names_exist() -> None:
    from bench.run import BENCHMARKS

    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"\bmake (\w+)", README):
        assert re.search(rf"^{target}:", makefile, re.M), target
    table = README.split("<!-- bench:table -->", 1)[1].split("<!-- /bench:table -->", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", table, re.M) == list(BENCHMARKS)
    for link in re.findall(r"\]\(((?:notebooks|nbimages|docs)/[^)#]*)\)", README):
        assert (REPO / link).exists(), link
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert image.startswith("docs/images/") and image.endswith(".png"), image

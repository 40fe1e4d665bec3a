"""The public surface: a short sorted `__all__` whose every name resolves."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import nbimages
from nbimages import errors


def test_all_is_sorted_and_unique() -> None:
    assert nbimages.__all__ == sorted(nbimages.__all__)
    assert len(set(nbimages.__all__)) == len(nbimages.__all__)


@pytest.mark.parametrize("name", nbimages.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(nbimages, name)
    assert value is not None
    if inspect.isclass(value) or inspect.isfunction(value):
        assert value.__module__.startswith("nbimages")
        assert value.__name__ == name


def test_lazy_names_are_the_module_objects() -> None:
    from nbimages.client import AsyncClient, Client
    from nbimages.events import PartialImage
    from nbimages.image import Image

    assert (nbimages.Client, nbimages.AsyncClient, nbimages.Image, nbimages.PartialImage) == (
        Client, AsyncClient, Image, PartialImage)


def test_the_names_the_design_promises() -> None:
    promised = {"Client", "AsyncClient", "Image", "Usage", "Response", "PartialImage", "ImageCompleted", "Stream",
                "AsyncStream", "outpaint", "mask_from_box", "invert", "image_tool", "NbImagesError",
                "InvalidInputError", "APIError", "AuthenticationError", "RateLimitError", "BadRequestError",
                "ContentPolicyError", "NotFoundError", "ServerError", "APIConnectionError", "APITimeoutError",
                "StreamError", "Conversation", "load_ipython_extension", "__version__"}
    assert promised <= set(nbimages.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nbimages.nope  # noqa: B018
    assert not hasattr(nbimages, "Clients")


def test_dir_lists_the_public_names() -> None:
    assert set(nbimages.__all__) <= set(dir(nbimages))


def test_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    assert nbimages.__version__ == version("nbimages")


def test_errors_all_is_exported_and_matches_the_tree() -> None:
    for name in errors.__all__:
        assert getattr(nbimages, name) is getattr(errors, name)
    assert issubclass(errors.InvalidInputError, ValueError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.ContentPolicyError, errors.BadRequestError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.NbImagesError)
        assert name in errors.__doc__


def test_submodules_declare_all_names_that_exist() -> None:
    for module in ("client", "events", "image", "inputs", "masks", "stream", "sse", "errors", "_requests"):
        mod = importlib.import_module(f"nbimages.{module}")
        for name in mod.__all__:
            assert hasattr(mod, name), f"nbimages.{module}.{name}"


def test_no_public_name_is_shadowed_by_a_submodule() -> None:
    """Importing ``nbimages.x`` sets the attribute ``x`` of the package: a public function named
    like one of its modules would turn into that module once anything imported it."""
    import importlib
    import pkgutil
    import types

    for module in pkgutil.iter_modules(nbimages.__path__):
        if module.name != "__main__":
            importlib.import_module(f"nbimages.{module.name}")
    shadowed = [name for name in nbimages.__all__ if isinstance(getattr(nbimages, name), types.ModuleType)]
    assert shadowed == []


def test_a_strictly_typed_script_sees_the_public_api_and_todays_options(tmp_path: Path) -> None:
    """``mypy --strict`` on user code: the lazily imported names are exported, and the typed
    keyword arguments include today's options (a missing one would be an error there)."""
    import subprocess
    import sys

    script = tmp_path / "user.py"
    script.write_text(
        "import nbimages\n"
        "client = nbimages.Client()\n"
        "gif = client.generate('x', model='gpt-image-2', complexity='high', safety_identifier='u',\n"
        "                      output_format='gif', frame_count=4, frame_duration_ms=100)\n"
        "svg = client.generate('x', output_format='svg', svg={'model': 'gpt-5'})\n"
        "edited = client.edit('x', gif[0], markup=b'', complexity='low')\n"
        "answer = client.respond('x', safety_identifier='u')\n"
        "store: nbimages.Store = nbimages.Store('.')\n"
        "run: nbimages.Run = nbimages.generate_many(nbimages.sweep(prompt=['a', 'b']))\n"
        "first: nbimages.Image = gif[0]\n"
    )
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

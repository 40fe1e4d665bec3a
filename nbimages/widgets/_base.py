"""What every nbimages widget shares: its ES module, actions from the view, errors, a static fallback.

Views ask for things with custom messages ``{"action": name, ...}`` (plus binary buffers);
each action is a method named ``_action_<name>(content, buffers)``. The kernel answers by
changing traits (small state) or by sending images as binary messages (see `_wire`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import InvalidInputError, NbImagesError

__all__ = ["NbImagesWidget", "one_line", "static_file"]

_PACKAGE = Path(__file__).resolve().parent.parent


def static_file(name: str) -> Path:
    """A file of the widgets' front end: inside the installed wheel, else in the source checkout.

    Each widget's ES module is self-contained, because anywidget loads ``_esm`` from a blob
    URL where relative imports cannot resolve: a wheel ships the bundles js/build.py makes,
    and a source checkout (re)builds them into js/build/ from js/src.
    """
    installed = _PACKAGE / "static" / name
    if installed.is_file():
        return installed
    js = _PACKAGE.parent / "js"
    if (js / name).is_file():  # the stylesheet
        return js / name
    if (js / "build.py").is_file() and (js / "src" / name).is_file():
        _build_bundles(js)  # writes only bundles whose text changed: a few small files read
        return js / "build" / name
    raise FileNotFoundError(f"nbimages widget asset {name!r} is missing; reinstall nbimages")


def _build_bundles(js: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nbimages_js_build", js / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build()


def one_line(exc: BaseException) -> str:
    """An error as one clear line for the widget (never a traceback, never a header)."""
    if isinstance(exc, NbImagesError):
        text = str(exc) or type(exc).__name__
        label = type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
        label = "Unexpected error"
    first = " ".join(text.split())
    if len(first) > 300:
        first = first[:297] + "..."
    return f"{label}: {first}" if not first.startswith(label) else first


def _expected(trait: traitlets.TraitType) -> str:
    """What a trait accepts, in words: "an int from 1 to 200"."""
    low, high = getattr(trait, "min", None), getattr(trait, "max", None)
    bounds = (f" from {low} to {high}" if low is not None and high is not None
              else f" of at least {low}" if low is not None else f" of at most {high}" if high is not None else "")
    return f"{trait.info()}{bounds}"


class NbImagesWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Base class: action dispatch, the ``error`` trait, and a static image for non-widget frontends."""

    _css = static_file("widgets.css")

    error = traitlets.Unicode("").tag(sync=True)
    thumbnail = traitlets.Bytes(b"").tag(sync=True)  # a small WebP of what the widget shows

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            if name.startswith("_") or not self.has_trait(name):
                # traitlets would only warn (and drop it): a misspelt option must not pass silently
                raise InvalidInputError(name, value, f"an option of {type(self).__name__}: "
                                        + ", ".join(self._public_options()))
        super().__init__(**kwargs)
        self.on_msg(self._dispatch)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or not self.has_trait(name):
            super().__setattr__(name, value)
            return
        try:
            super().__setattr__(name, value)
        except traitlets.TraitError:
            raise InvalidInputError(name, value, _expected(self.traits()[name])) from None

    @classmethod
    def _public_options(cls) -> list[str]:
        own = set()
        for klass in cls.__mro__:
            if isinstance(klass, type) and issubclass(klass, NbImagesWidget):
                own.update(klass.class_own_traits())
        return sorted(name for name in own if not name.startswith("_"))

    def _dispatch(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("action"), str):
            return
        handler = getattr(self, f"_action_{content['action']}", None)
        if handler is None:
            return
        try:
            handler(content, [bytes(b) for b in buffers or []])
        except Exception as exc:  # shown in the widget: a comm handler has nowhere else to report
            self.error = one_line(exc)

    # -- what non-widget frontends show ------------------------------------------------
    def _static_text(self) -> str:
        return f"<{type(self).__name__} widget: open in JupyterLab, Notebook 7 or VS Code to interact>"

    def _static_png(self) -> bytes | None:
        if not self.thumbnail:
            return None
        from io import BytesIO

        from PIL import Image as PIL

        buffer = BytesIO()
        with PIL.open(BytesIO(self.thumbnail)) as pil:
            pil.save(buffer, format="PNG")
        return buffer.getvalue()

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data = {**data, "text/plain": self._static_text()}
        png = self._static_png()
        if png:
            data["image/png"] = base64.b64encode(png).decode("ascii")
        return data, metadata

"""What every nbimages widget shares: its ES module, actions from the view, errors, a static fallback.

Views ask for things with custom messages ``{"action": name, ...}`` (plus binary buffers);
each action is a method named ``_action_<name>(content, buffers)``. The kernel answers by
changing traits (small state) or by sending images as binary messages (see `_wire`).
Every image view has an action bar. Download: ``{"action": "download", ...}`` is answered with
the original file's bytes (never a preview), through the kernel, so it works with a remote
server. "Open in the painter" (``paint``) and "Refine in Studio" (``refine``) open that widget
below the view (the ``_opened`` trait; the view renders it) and bind it to a name in the
notebook, so that Python can go on from there (``painter.edit("...")``).

The ES modules are never built on import (`static_file`): a wheel carries them, and a source
checkout gets them from ``python js/build.py`` (``make build``; ``pip install -e .``, ``make
test``, ``make tutorial`` and the pytest session run it). Missing, creating a widget raises
FileNotFoundError with that command. Stale (older than js/src or js/build.py), a kernel warns
with the command and serves the last build; a pytest session rebuilds before collecting.
"""

from __future__ import annotations

import base64
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets

from ..errors import InvalidInputError, StoreError, describe_error
from ._wire import MIME, send_download

if TYPE_CHECKING:
    from ..image import Image

__all__ = ["MissingFrontEnd", "NbImagesWidget", "one_line", "static_file"]

_PACKAGE = Path(__file__).resolve().parent.parent
_BUILD_COMMAND = "python js/build.py"


class MissingFrontEnd:
    """What `static_file` gives for a front-end file that is not there.

    Neither a path nor a string, so anywidget keeps it as it is when the widget class is
    defined (given a missing path it would fail the import with a bare "File not found");
    creating the widget then raises `error` instead of showing a blank view.
    """

    def __init__(self, path: Path, remedy: str) -> None:
        self.path = path
        self.remedy = remedy

    def error(self, widget: str) -> FileNotFoundError:
        return FileNotFoundError(f"{widget} cannot be shown: its front end {self.path} is missing. {self.remedy}")

    def __repr__(self) -> str:
        return f"<missing {self.path}>"


def static_file(name: str) -> Path | MissingFrontEnd:
    """A file of the widgets' front end: inside the installed wheel, else in the source checkout.

    Each widget's ES module is self-contained, because anywidget loads ``_esm`` from a blob
    URL where relative imports cannot resolve; js/build.py bundles js/src into those modules.

    - Installed wheel: ``nbimages/static/<name>``, written when the wheel is built (``hatch_build.py``).
    - Source checkout (``js/build.py`` next to the package): the stylesheet is ``js/widgets.css``
      itself, and each ES module is ``js/build/<name>``, written by ``python js/build.py``
      (also run by ``make build``, ``make test``, ``make tutorial``, ``pip install -e .`` and at
      the start of a pytest session; ``--watch`` rebuilds on save, and with ``ANYWIDGET_HMR=1``
      open views reload).

    Nothing is ever built here: importing a widget only looks at files. When the file is
    missing, this returns a `MissingFrontEnd`, and creating the widget raises
    FileNotFoundError naming the file and the command that makes it. When a checkout's module
    is older than its sources (js/src/*.js or js/build.py), it is served as it is, with a
    warning naming the command: the views run the last build until it runs again.
    """
    installed = _PACKAGE / "static" / name
    if installed.is_file():
        return installed
    js = _PACKAGE.parent / "js"
    if not (js / "build.py").is_file():
        return MissingFrontEnd(installed, "This installation of nbimages is incomplete: reinstall it.")
    if name.endswith(".css"):
        path = js / name
        return path if path.is_file() else MissingFrontEnd(path, "Restore it from the source checkout.")
    path = js / "build" / name
    if not path.is_file():
        return MissingFrontEnd(path, f"Build it with `{_BUILD_COMMAND}` in {js.parent} (or `make build`), "
                                     "then restart the kernel.")
    sources = [js / "build.py", *(js / "src").glob("*.js")]
    newest = max(source.stat().st_mtime_ns for source in sources)
    if path.stat().st_mtime_ns < newest:
        warnings.warn(f"nbimages: {path} is older than js/src; run `{_BUILD_COMMAND}` (or `--watch`) "
                      "and restart the kernel to use the current sources", stacklevel=2)
    return path


def one_line(exc: BaseException) -> str:
    """An error as one clear line with its hint, as the magics say it (never a traceback)."""
    return str(describe_error(exc, limit=300))


# Widgets this module bound to a name: only those names are reused for the next one.
_BOUND: weakref.WeakSet[Any] = weakref.WeakSet()


def bind_in_notebook(base: str, widget: Any) -> str | None:
    """Give ``widget`` a name in the notebook's namespace: ``base``, else ``base_2``, ... A
    name is taken over only from a widget bound here before, never from the user's own
    variables. None outside IPython."""
    from IPython import get_ipython

    shell = get_ipython()  # type: ignore[no-untyped-call]
    if shell is None:
        return None
    namespace = shell.user_ns
    name, number = base, 1
    while name in namespace and namespace[name] not in _BOUND:
        number += 1
        name = f"{base}_{number}"
    namespace[name] = widget
    _BOUND.add(widget)
    return name


def _named_in_notebook(widget: Any) -> bool:
    """Whether a variable of the notebook holds ``widget``."""
    from IPython import get_ipython

    shell = get_ipython()  # type: ignore[no-untyped-call]
    return shell is not None and any(value is widget for value in shell.user_ns.values())


def _expected(trait: traitlets.TraitType[Any, Any]) -> str:
    """What a trait accepts, in words: "an int from 1 to 200"."""
    low, high = getattr(trait, "min", None), getattr(trait, "max", None)
    bounds = (f" from {low} to {high}" if low is not None and high is not None
              else f" of at least {low}" if low is not None else f" of at most {high}" if high is not None else "")
    return f"{trait.info()}{bounds}"


class NbImagesWidget(anywidget.AnyWidget):
    """Base class: action dispatch, the ``error`` trait, and a static image for non-widget frontends."""

    _css: Path | MissingFrontEnd | str = static_file("widgets.css")

    error = traitlets.Unicode("").tag(sync=True)
    thumbnail = traitlets.Bytes(b"").tag(sync=True)  # a small WebP of what the widget shows
    # A widget opened below this one from its action bar (a painter, a Studio), and how to reach it.
    _opened = traitlets.Instance(ipywidgets.DOMWidget, allow_none=True).tag(
        sync=True, **ipywidgets.widget_serialization)
    _opened_note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        for asset in (getattr(self, "_esm", None), getattr(self, "_css", None)):
            if isinstance(asset, MissingFrontEnd):
                raise asset.error(type(self).__name__)
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

    # -- the action bar -----------------------------------------------------------------
    def _target(self, content: dict[str, Any]) -> Image:
        """The image an action of the bar is about (``content`` says which, for a widget showing several)."""
        raise InvalidInputError("action", content.get("action"), f"an action {type(self).__name__} takes")

    def _action_download(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        view = content.get("view")  # the view that asked: another view of this widget saves nothing
        self._send_original(*self._original(content), view=view if isinstance(view, str) else None)

    def _original(self, content: dict[str, Any]) -> tuple[str, Path | None, bytes | None]:
        """What ``download`` sends: (name without extension, file, bytes in memory)."""
        image = self._target(content)
        stem = image.path.stem if image.path is not None else "image"
        return stem, image.path, image.data

    def _action_paint(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        from .mask_painter import MaskPainter

        painter = MaskPainter(self._target(content))
        name = bind_in_notebook("painter", painter)
        self._open(painter, f"The painter, in Python as {name}: paint where to change, then "
                            f'{name}.edit("what to change")' if name else "")

    def _action_refine(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        from ..conversation import current_conversation
        from .studio import Studio

        image = self._target(content)
        conversation = current_conversation()
        if conversation.image is not image:  # a new line of work that starts at this image
            conversation.reset()
            conversation.add(image.prompt or image.revised_prompt or "", image)
        studio = Studio(conversation)
        name = bind_in_notebook("studio", studio)
        self._open(studio, f"A Studio on the kernel's conversation, now at this image (in Python as {name}); "
                           "%%imagine --continue refines it too" if name else "")

    def _action_close_opened(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self._opened = None
        self._opened_note = ""

    def _open(self, widget: ipywidgets.DOMWidget, note: str) -> None:
        replaced = self._opened
        self._opened_note = note
        self._opened = widget
        if replaced is not None and not _named_in_notebook(replaced):
            replaced.close()  # no view shows it and no name reaches it any more

    def _send_original(self, stem: str, path: Path | None, data: bytes | None = None, *,
                       view: str | None = None) -> None:
        """Send an image's original bytes for the view to save as ``<stem>.<ext>``: its file
        when there is one, else ``data`` (an image only in memory); `StoreError` when neither is."""
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError as exc:  # an image still in memory is the original too
                if data is None:
                    reason = "its file is missing" if not path.exists() else exc.strerror or type(exc).__name__
                    raise StoreError(f"cannot download {stem}: {reason}: {path}") from None
        if data is None:
            raise StoreError(f"cannot download {stem}: there is no image to download")
        from ..image import sniff
        from ..store import extension_of

        fmt = sniff(data)[0]
        suffix = path.suffix if path is not None and path.suffix else f".{extension_of(fmt)}"
        send_download(self, data, stem + suffix, MIME.get(fmt or "", "application/octet-stream"), view=view)

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

"""IPython magics: ``%%imagine``, ``%imagine``, ``%%imagine_many``, ``%describe``, ``%imagine_history``,
``%imagine_undo``, ``%imagine_usage``, and the ``Imagine`` configurable.

A thin front end: options are parsed with IPython's ``magic_arguments``; the work is done
by `Client` and the shell's `Conversation` (which stores every image before it is shown),
each image turn streamed by a `TurnRunner`; `display` draws the live output. Known errors
become one line with a hint; anything unexpected propagates as usual (no exception hook is
installed).
"""

from __future__ import annotations

import builtins
import functools
import keyword
import re
import sys
import tokenize
from argparse import ArgumentTypeError
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import make_tokens_by_line
from IPython.core.magic import Magics, cell_magic, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Bool, Enum, Float, Int, Unicode, validate
from traitlets.config import Configurable

from . import config
from .errors import CellInterrupted, InvalidInputError, NbImagesError, StoreError, StreamError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._cell_output import CellOutput
    from .client import Client
    from .conversation import Conversation, Turn
    from .display import LiveImage, PreviewOptions
    from .image import Image
    from .jobs import Job, Jobs, Line
    from .store import Store

__all__ = ["Imagine", "ImagineMagics", "load_ipython_extension", "magics_for", "unload_ipython_extension"]



class Imagine(Configurable):
    """Settings of the nbimages magics: ``%config Imagine.model = "gpt-image-1.5"``."""

    model = Unicode(None, allow_none=True,
                    help="Image model (None: NBIMAGES_IMAGE_MODEL, else nbimages' default).").tag(config=True)
    mainline_model = Unicode(None, allow_none=True,
                             help="Model for --continue (Responses API) and %describe "
                                  "(None: NBIMAGES_MODEL, else nbimages' default).").tag(config=True)
    size = Unicode(None, allow_none=True, help="Default size, e.g. '1024x1024' (None: the API's default).").tag(
        config=True)
    quality = Unicode(None, allow_none=True, help="Default quality: low, medium, high, auto.").tag(config=True)
    partial_images = Int(2, help="Partial images to stream (0-3): 2 shows the picture taking shape.").tag(
        config=True)
    preview_size = Int(512, help="Long side, in pixels, of the preview embedded in the notebook.").tag(config=True)
    preview_format = Enum(("webp", "png", "jpeg"), "webp",
                          help="Format of embedded previews: webp is small and keeps transparency.").tag(config=True)
    store_home = Unicode(None, allow_none=True,
                         help="Folder of the image store (None: NBIMAGES_HOME, else the user data folder).").tag(
        config=True)
    status_interval = Float(1.0, help="Seconds between refreshes of the elapsed time while waiting for the first "
                                      "picture (0: only when something arrives). Only in a kernel.").tag(config=True)
    timeout = Float(config.DEFAULT_TIMEOUT,
                    help="Read timeout in seconds (high quality images can take minutes).").tag(config=True)
    actions = Bool(True, help="Under each %%imagine output in a notebook, a line whose clock ticks while the image is "
                              "made, then Download, Copy prompt, Open in the painter and Refine in Studio (a widget; "
                              "False: the static output alone).").tag(config=True)
    wait = Bool(True, help="Whether %%imagine waits for its image (False: as --no-wait, the cell returns at once "
                           "and the image is made in the background; --wait then waits).").tag(config=True)

    @validate("preview_size")
    def _check_preview_size(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if not 32 <= value <= 4096:
            raise ValueError(f"Imagine.preview_size must be between 32 and 4096, not {value}")
        return value

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if value <= 0:
            raise ValueError(f"Imagine.timeout must be positive, not {value}")
        return value


def _unquote(token: str) -> str:
    """IPython's argument splitter keeps quotes around a quoted token: drop them."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    return token


# A line holds at most one prompt (or question) and a few options.
_MAX_LINE_CHARS = config.MAX_PROMPT_CHARS + 4_000
_MAX_MESSAGE_CHARS = 300
CANCEL_WAIT = 1.0  # seconds %imagine_jobs --cancel waits for the jobs to end, so that the list says so
POLL = 0.1
@functools.cache
def _unprintable() -> re.Pattern[str]:
    """Control characters and lone surrogates (compiled on first use: its surrogate range alone
    takes half a millisecond, paid at every kernel start otherwise)."""
    return re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _printable(text: str) -> str:
    """``text`` fit for a one-line message: control characters and lone surrogates escaped, shortened."""
    text = _unprintable().sub(lambda m: ascii(m.group())[1:-1], text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS - 1] + "…"
    return text


def _parse(magic: Any, line: str) -> Any:
    """Options and words in any order (``%describe last --detail high what is it?``).

    Whatever is wrong with the line becomes a one-line `UsageError` naming the magic.
    """
    name = "%" + magic.parser.prog
    if len(line) > _MAX_LINE_CHARS:
        raise UsageError(f"{name}: the line is {len(line):,} characters long, but a prompt or question holds at "
                         f"most {config.MAX_PROMPT_CHARS:,}: shorten it")
    try:
        words = arg_split(line)
    except ValueError:  # shlex: "No closing quotation"
        raise UsageError(f"{name}: a quote (' or \") opens a text that never closes: add the closing quote, "
                         f"or put the whole text in the other kind of quotes") from None
    try:
        return magic.parser.parse_intermixed_args(words)
    except UsageError as exc:  # what argparse reports; it may quote the user's text
        raise UsageError(f"{name}: {_printable(str(exc))} (the options: {name}?)") from None


# -- what `-o NAME` may bind -----------------------------------------------------------------
_OUTPUT_NAME_RULE = ("a name of your own: not a Python keyword, a builtin (print, list, id...), a __dunder__ name, "
                     "one of IPython's (In, Out, _, __, _1, _i1, exit, get_ipython...) or a name that holds a "
                     "module (np, plt...)")
_IPYTHON_NAMES = frozenset({"In", "Out", "_", "__", "___", "_i", "_ii", "_iii", "_ih", "_oh", "_dh", "_sh",
                            "exit", "quit", "get_ipython"})
_IPYTHON_NUMBERED = re.compile(r"_i?\d+")  # _3 is the output of cell 3, _i3 its input


def _output_name_problem(name: str, shell: Any) -> str | None:
    """Why binding ``name`` would break later cells, or None when it is safe."""
    if not name.isidentifier():
        return "it is not a Python variable name"
    if name in _IPYTHON_NAMES or _IPYTHON_NUMBERED.fullmatch(name) or name in shell.user_ns_hidden:
        return "IPython keeps its own history and helpers under that name"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "it is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return "names with double underscores on both sides belong to Python"
    if hasattr(builtins, name):
        return f"it would hide Python's builtin {name}"
    value = shell.user_ns.get(name)
    if isinstance(value, ModuleType):
        return f"it holds the module {value.__name__}, which later cells would lose"
    return None


def _output_name(token: str | None, shell: Any, noun: str) -> str | None:
    """The variable named by ``-o`` (quotes dropped), or `UsageError` saying why not and what would do."""
    if token is None:
        return None
    name = _unquote(token)
    problem = _output_name_problem(name, shell)
    if problem is None:
        return name
    candidates = [f"{name.lower()}_{noun}"] if name.isidentifier() and name[0].isalpha() else []
    candidates += [noun, f"my_{noun}"]
    example = next((c for c in candidates if _output_name_problem(c, shell) is None), f"my_{noun}_1")
    raise UsageError(f"-o '{_printable(name)}' is refused: {problem}; use a name of your own, such as -o {example}")


def _undo_steps(text: str) -> int:
    """The N of ``%imagine_undo N``: a whole number of turns, at least 1."""
    try:
        steps = int(text)
    except ValueError:  # also the digit limit of int() for absurdly long numbers
        steps = 0
    if steps < 1:
        raise ArgumentTypeError(f"expected a whole number of turns to go back, such as 2, not {text!r}")
    return steps


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def _sweep_axis(text: str) -> tuple[str, list[Any]]:
    """``NAME=V1,V2`` of ``--sweep``: the parameter's name and values (whole numbers as int)."""
    name, equals, values = _unquote(text).partition("=")
    name = name.strip().replace("-", "_")
    found = [v.strip() for v in values.split(",") if v.strip()]
    if not equals or not name.isidentifier() or not found:
        raise ArgumentTypeError(f"expected NAME=V1,V2 such as quality=low,high, not {text!r}")
    return name, [int(v) if _WHOLE_NUMBER.fullmatch(v) else v for v in found]


def _sweep_axes(sweeps: list[tuple[str, list[Any]]]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    for name, values in sweeps:
        if name == "prompt":
            raise UsageError("--sweep prompt=... is refused: the prompts are the lines of the cell body")
        if name in axes:
            raise UsageError(f"--sweep {name} is given twice: list all its values once ({name}=A,B,C)")
        axes[name] = values
    return axes


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ArgumentTypeError(f"expected a whole number of requests at a time, such as 4, not {text!r}")
    return value


def _refuse_markup_combinations(args: Any) -> None:
    """A markup goes only to the Images API's edit endpoint, and never with a mask."""
    if args.markup and args.mask:
        raise UsageError("--markup and --mask cannot be combined (the API refuses them together): "
                         "draw the marks, or paint a mask, not both")
    if args.markup and args.continue_:
        raise UsageError("--markup cannot be combined with --continue (the Responses API takes no markup): "
                         "use --markup alone, or --edit last --markup ..., to edit the current image")


# -- text that cannot be sent ------------------------------------------------------------------
_PARAM_OF_DEST = {"edit": "image", "source": "image"}


def _option_texts(args: Any, *words: str) -> dict[str, Any]:
    """The parsed options by the parameter name users see, without the free-text ``words``."""
    return {_PARAM_OF_DEST.get(dest, dest): value for dest, value in vars(args).items() if dest not in words}


def _refuse_unsendable(texts: dict[str, Any]) -> None:
    """`InvalidInputError` naming the first parameter whose text holds NUL or a lone surrogate."""
    from .inputs import check_sendable

    for param, value in texts.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                check_sendable(param, text)


# What a MaskPainter (or anything holding a painted layer) gives for --mask and --markup: the
# count that says whether anything was drawn, and what to do when nothing was.
_PAINTER_LAYERS = {
    "mask": ("painted_pixels", "a painted mask (paint on the mask painter first)"),
    "markup": ("markup_pixels", "a drawn markup (draw on the painter in markup mode first)"),
}


def _painted_layer(painter: Any, token: str, param: str) -> Any:
    """The painter's ``mask`` or ``markup``; an empty one is refused, as it would edit nothing."""
    count, wanted = _PAINTER_LAYERS[param]
    if getattr(painter, count, None) == 0:
        raise InvalidInputError(param, token, wanted)
    layer = getattr(painter, param)
    if layer is None:
        raise InvalidInputError(param, token, wanted)
    return layer


def _digest(image: Image) -> str:
    from ._digest import sha256_hex  # at first use: the extension loads at every kernel start

    return sha256_hex(image.data)


def _svg_author(model: str | None, effort: str | None) -> dict[str, Any] | None:
    """``--svg-model`` and ``--svg-effort`` as the API's ``svg`` object."""
    if model is None and effort is None:
        return None
    author: dict[str, Any] = {"model": model}
    if effort is not None:
        author["reasoning"] = {"effort": effort}
    return author


def _backend_label(client: Client) -> str | None:
    if client.backend == "local":
        return "offline simulator"
    if client.backend == "custom":
        return client.base_url
    if client.backend == "azure":
        from ._azure import label

        return label(client.base_url)
    return None


# -- options shared by %%imagine and %%imagine_many ---------------------------------------------
# The request options, and the images to edit (one magic_arguments list each, applied by `_arguments`).
_IMAGE_OPTIONS = (
    argument("-m", "--model", help="image model (default: %%config Imagine.model)"),
    argument("--size", help="WIDTHxHEIGHT such as 1024x1024, 1536x1024, 1024x1536, or auto"),
    argument("--quality", help="low, medium, high, auto; xhigh or max with GPT Image 2.5"),
    argument("--complexity", help="low, medium or high: how much planning goes into the image"),
    argument("-n", type=int, help="how many images (1-10; not with --continue)"),
    argument("--background", help="transparent, opaque or auto"),
    argument("--output-format", dest="output_format",
             help="png, jpeg, webp, gif (animated, arrives whole) or svg (vector, arrives whole)"),
    argument("--frames", dest="frame_count", type=int, help="GIF frames, 2-16 (default 9)"),
    argument("--frame-ms", dest="frame_duration_ms", type=int, help="milliseconds per GIF frame (default 200)"),
    argument("--svg-model", dest="svg_model", help="the model that writes the SVG (output-format svg)"),
    argument("--svg-effort", dest="svg_effort", help="that model's reasoning effort: none, minimal, low ... max"),
    argument("--safety-identifier", dest="safety_identifier",
             help="a stable, hashed id of your end user, for OpenAI's abuse monitoring"),
    argument("--output-compression", dest="output_compression", type=int, help="0-100, for jpeg and webp"),
    argument("--moderation", help="auto or low"),
    argument("--input-fidelity", dest="input_fidelity", help="low or high: how closely edits keep the input"),
)
_EDIT_INPUTS = (
    argument("--edit", nargs="+", metavar="IMAGE",
             help="edit these images (Images API): paths, variable names or 'last' "
                  "(on one line, end the list with --)"),
    argument("--mask", metavar="MASK",
             help="where to edit (transparent = edit): a path, a variable (an image or a MaskPainter) or 'last'; "
                  "without --edit, the current image is edited"),
    argument("--markup", metavar="MARKUP",
             help="marks drawn over the image to guide the edit (GPT Image 2.5; a transparent PNG of its size, "
                  "not with --mask or --continue): a path, a variable (an image or a MaskPainter in markup "
                  "mode) or 'last'; without --edit, the current image is edited"),
)


def _arguments(arguments: tuple[Any, ...]) -> Any:
    """Apply several ``@argument`` decorators at once, in the order they are listed."""
    def apply(func: Any) -> Any:
        for deco in reversed(arguments):
            func = deco(func)
        return func
    return apply


def _image_options(args: Any, settings: Imagine) -> dict[str, Any]:
    """The request options of the parsed `_IMAGE_OPTIONS` (the model apart), ``%config`` defaults filled in."""
    options = {
        "size": args.size or settings.size,
        "quality": args.quality or settings.quality,
        "n": args.n,
        "background": args.background,
        "output_format": args.output_format,
        "output_compression": args.output_compression,
        "moderation": args.moderation,
        "complexity": args.complexity,
        "frame_count": args.frame_count,
        "frame_duration_ms": args.frame_duration_ms,
        "safety_identifier": args.safety_identifier,
        "svg": _svg_author(args.svg_model, args.svg_effort),
    }
    if args.input_fidelity is not None:
        options["input_fidelity"] = args.input_fidelity
    return options


@magics_class
class ImagineMagics(Magics):
    """The magics of one shell, sharing one client and one conversation (created on first use)."""

    def __init__(self, shell: Any, settings: Imagine) -> None:
        super().__init__(shell)
        self.settings = settings
        self._client: Client | None = None
        self._client_backend: Any = None
        self._conversation: Conversation | None = None
        self._jobs: Jobs | None = None
        self._current_line: Line | None = None
        self._said_no_background = False
        settings.observe(self._drop_client, names=["timeout"])
        settings.observe(self._change_store, names=["store_home"])

    # -- what the magics work with (tests and users may reach them here) -----------------
    @property
    def user_ns(self) -> dict[str, Any]:
        """The namespace of the user's cells (where ``-o NAME`` binds and image names are looked up)."""
        assert self.shell is not None, "the magics are registered with a shell"
        return self.shell.user_ns

    @property
    def client(self) -> Client:
        """The `Client`, rebuilt when the timeout or the OpenAI environment variables change."""
        backend = config.resolve_backend()
        if self._client is None or backend != self._client_backend:
            from .client import Client

            self.close()
            self._client = Client(timeout=self.settings.timeout)
            self._client_backend = backend
            if self._conversation is not None:
                self._conversation.client = self._client
        return self._client

    @property
    def conversation(self) -> Conversation:
        """The shell's conversation, also returned by ``nbimages.current_conversation()``."""
        from .conversation import Conversation, set_current_conversation

        client = self.client
        if self._conversation is None:
            from . import conversation as module

            adopted = module._current  # e.g. made by a Studio or by current_conversation() earlier
            if adopted is not None:
                adopted.client = client
                if self.settings.store_home:
                    adopted.store = self._store()
                self._conversation = adopted
            else:
                self._conversation = Conversation(client, store=self._store())
                set_current_conversation(self._conversation)
        self._conversation.model = self.settings.mainline_model
        self._conversation.image_model = self.settings.model
        return self._conversation

    @property
    def store(self) -> Store:
        store = self.conversation.store
        if store is None:  # someone turned storing off: the magics still need a ledger
            store = self._store()
        return store

    def _store(self) -> Store:
        from .store import Store, default_store

        home = self.settings.store_home
        return Store(home) if home else default_store()

    def _drop_client(self, change: Any = None) -> None:
        self.close()

    def _change_store(self, change: Any = None) -> None:
        if self._conversation is not None:
            self._conversation.store = self._store()

    def close(self) -> None:
        if self._client is not None:
            if self._jobs is None or not self._jobs.unfinished:  # else background jobs still use it
                self._client.close()
            self._client = None

    # -- jobs: the work of a cell, here or in the background ---------------------------
    @property
    def jobs(self) -> Jobs:
        """The background jobs of this shell (``%imagine_jobs``)."""
        if self._jobs is None:
            from .jobs import Jobs

            self._jobs = Jobs()
        return self._jobs

    def _line(self, *, new: bool = False) -> Line:
        """The line of the conversation that turns join (``new``: start another one, run side by side)."""
        if new or self._current_line is None:
            from .jobs import Line

            self._current_line = Line()
        return self._current_line

    def _cell_output(self, wait: bool) -> CellOutput | None:
        """The running cell's output, for a job that does not ``wait``; None for the foreground,
        also where an output cannot be updated from a thread (said once)."""
        if wait:
            return None
        from ._cell_output import capture

        output = capture(self.shell)
        if output is None and not self._said_no_background:
            self._said_no_background = True
            print("nbimages: --no-wait needs a notebook (here an output cannot be updated from another thread): "
                  "running in the foreground", file=sys.stderr)
        return output

    def _launch(self, job: Job, body: Callable[[Job], None]) -> None:
        """Run ``job`` in the background when it has an output of its own, else here."""
        if job.background:
            self.jobs.start(job, body)
        else:
            job.run(body)

    @property
    def preview_options(self) -> PreviewOptions:
        from .display import PreviewOptions

        return PreviewOptions(max_side=self.settings.preview_size, format=self.settings.preview_format)

    # -- resolving IMAGE arguments -----------------------------------------------------
    def _source(self, token: str, param: str) -> Any:
        """``last``, a variable of the user namespace, or else a path (or URL) as given."""
        token = _unquote(token)
        if token == "last":
            image = self.conversation.image
            if image is None:
                raise InvalidInputError(param, "last", "a current image: run a %%imagine cell first")
            return image
        if token.isidentifier() and token in self.user_ns:
            value = self.user_ns[token]
            if param in _PAINTER_LAYERS and hasattr(type(value), param) and not hasattr(value, "data"):
                value = _painted_layer(value, token, param)
            return value
        return token

    def _image(self, token: str, param: str) -> Image:
        from .inputs import to_image

        return to_image(self._source(token, param), param)

    def _edit_inputs(self, args: Any, *, edit: bool) -> tuple[list[Image], Image | None, Image | None]:
        """The images of ``--edit`` (for an ``edit``: else the current image), ``--mask`` and ``--markup``."""
        images = [self._image(token, "image") for token in args.edit or []]
        if edit and not images:
            current = self.conversation.image
            if current is None:
                raise InvalidInputError("image", None, "an image to edit: --edit IMAGE, or run %%imagine first")
            images = [current]
        mask = self._image(args.mask, "mask") if args.mask else None
        markup = self._image(args.markup, "markup") if args.markup else None
        return images, mask, markup

    # -- %%imagine ---------------------------------------------------------------------
    @magic_arguments()
    @_arguments(_IMAGE_OPTIONS)
    @argument("--partial-images", type=int, dest="partial_images",
              help="partial images to stream, 0-3 (default: %%config Imagine.partial_images)")
    @argument("-c", "--continue", dest="continue_", action="store_true",
              help="refine the current image (Responses API: previous_response_id, or the image as input)")
    @_arguments(_EDIT_INPUTS)
    @argument("--new", action="store_true", help="start a new conversation")
    @argument("-o", "--output", metavar="NAME", help="store the resulting Image in this variable, " + _OUTPUT_NAME_RULE)
    @argument("--fresh", action="store_true", help="always make a new image (do not reuse a stored one)")
    @argument("--no-wait", dest="wait", action="store_false", default=None,
              help="let the cell end at once: the image is made in the background and shown here as it comes "
                   "(%%imagine_jobs lists and cancels; default: %%config Imagine.wait)")
    @argument("--wait", dest="wait", action="store_true", default=None,
              help="wait for the image even when %%config Imagine.wait = False")
    @argument("prompt", nargs="*", help="the prompt of %%imagine (the line magic); %%%%imagine reads the cell")
    @line_cell_magic
    def imagine(self, line: str, cell: str | None = None) -> None:
        """Generate or edit an image, streamed live into the output.

        The prompt is the cell body (``%%imagine``) or the rest of the line (``%imagine``)::

            %%imagine --size 1536x1024 --quality high
            A serene forest lake at sunrise, mist over the water

            %%imagine --continue
            Now add a red canoe

            %%imagine --edit room.png --mask mask.png -o room2
            Add a flamingo on the sofa

            %%imagine --edit room.png --markup arrows.png
            Put a lamp where the arrow points

        Partial images appear while the image is made; the final image is saved to the store
        (``NBIMAGES_HOME``) with its provenance, and a small preview is embedded. Running an
        unchanged cell again reuses the stored image at no cost; ``--fresh`` makes a new one.
        On one line, ``--`` ends the list of images: ``%imagine --edit a.png -- add a star``.
        ``--no-wait`` lets the cell end at once while the image is made in the background; its
        output here is updated in place, and ``%imagine_jobs`` lists and cancels such jobs.
        Turns of one conversation are made one after another (a ``--continue`` waits for the
        turn before it); ``--new`` starts a conversation that runs side by side.
        Defaults come from ``%config Imagine`` (model, size, quality, partial_images,
        preview_size, preview_format, store_home, timeout, status_interval, mainline_model, wait).
        """
        args = _parse(self.imagine, line)
        if cell is not None:
            if args.prompt:
                raise UsageError("%%imagine reads the prompt from the cell body; the first line takes only options")
            prompt = cell.strip()
        else:
            prompt = " ".join(args.prompt).strip()
            if len(args.prompt) == 1:
                prompt = _unquote(prompt)
        if args.continue_ and (args.edit or args.new):
            raise UsageError("--continue refines the current image: it cannot be combined with --edit or --new")
        _refuse_markup_combinations(args)
        if args.continue_ and args.n not in (None, 1):
            raise UsageError("--continue makes one image at a time: drop -n")
        args.output = _output_name(args.output, self.shell, "image")
        with self._errors_shown():
            _refuse_unsendable({"prompt": prompt, **_option_texts(args, "prompt")})
            _ImagineRun(self, args, prompt).run()

    def _show(self, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        from IPython.display import display

        display(data, raw=True, metadata=metadata)

    # -- %%imagine_many ----------------------------------------------------------------
    @magic_arguments()
    @_arguments(_IMAGE_OPTIONS)
    @_arguments(_EDIT_INPUTS)
    @argument("--sweep", action="append", type=_sweep_axis, metavar="NAME=V1,V2",
              help="make every prompt with each of these values of a parameter (repeatable: every combination), "
                   "e.g. --sweep quality=low,high --sweep size=1024x1024,1536x1024")
    @argument("--via", choices=("live", "batch"), default="live",
              help="live: requests now (default); batch: OpenAI's Batch API, half the price, within 24 h")
    @argument("--concurrency", type=_concurrency, metavar="N", help="requests at a time (live; default 4)")
    @argument("--max-cost", dest="max_cost", type=float, metavar="USD",
              help="refuse to start when the estimated cost is higher (or unknown)")
    @argument("--no-wait", dest="no_wait", action="store_true",
              help="let the cell end at once; the run goes on in the background (bind it with -o)")
    @argument("-o", "--output", metavar="NAME", help="store the Run in this variable, " + _OUTPUT_NAME_RULE)
    @cell_magic
    def imagine_many(self, line: str, cell: str) -> None:
        """Many images at once: each non-empty line of the cell is a prompt; ``--sweep`` adds
        parameter values to try. One contact sheet shows them as they arrive::

            %%imagine_many --sweep quality=low,high --size 1024x1024 -o run
            a lighthouse at dusk, oil painting
            a lighthouse at dusk, pencil sketch

        With two swept names (several lines count as the ``prompt`` axis) the sheet is an X/Y
        grid: rows for the first, columns for the second. Images already in the store for the
        same request are reused; the rest are made ``--concurrency`` at a time. The cell waits
        for a live run (interrupting it cancels the run); a batch run goes on in the background.
        """
        args = _parse(self.imagine_many, line)
        prompts = [text.strip() for text in cell.splitlines() if text.strip()]
        if not prompts:
            raise UsageError("%%imagine_many reads one prompt per line of the cell body: write at least one")
        axes = _sweep_axes(args.sweep or [])
        args.output = _output_name(args.output, self.shell, "run")
        with self._errors_shown():
            self._imagine_many(args, prompts, axes)

    def _imagine_many(self, args: Any, prompts: list[str], axes: dict[str, list[Any]]) -> None:
        from ._sweep import sweep
        from .many import generate_many

        images, mask, markup = self._edit_inputs(args, edit=bool(args.edit or args.mask or args.markup))
        edits = {"image": images[0] if len(images) == 1 else images, "mask": mask, "markup": markup} if images else {}
        defaults = {**_image_options(args, self.settings), "model": args.model or self.settings.model, **edits}
        run = generate_many(sweep(prompt=prompts, **axes), via=args.via, client=self.client, store=self.store,
                            concurrency=args.concurrency, max_cost=args.max_cost,
                            **{k: v for k, v in defaults.items() if v is not None})
        if args.output:
            self.user_ns[args.output] = run
        if args.via == "live" and not args.no_wait:
            try:
                run.wait()
            except KeyboardInterrupt:
                run.cancel()
                raise CellInterrupted("the cell was interrupted; the run is cancelled, what finished is kept") from None
        else:
            from ._cell_output import cell_name
            from .jobs import RunJob

            title = prompts[0] + (f" (+{len(prompts) - 1} more prompts)" if len(prompts) > 1 else "")
            self.jobs.add(RunJob(run, title, cell_name(getattr(self.shell, "execution_count", None))))

    # -- %describe ---------------------------------------------------------------------
    @magic_arguments()
    @argument("--detail", choices=config.DETAIL_LEVELS, default="auto",
              help="how closely the model looks: low (cheap), high, auto")
    @argument("-m", "--model", help="vision model (default: %%config Imagine.mainline_model)")
    @argument("-o", "--output", metavar="NAME", help="store the answer text in this variable, " + _OUTPUT_NAME_RULE)
    @argument("--no-wait", dest="no_wait", action="store_true",
              help="let the cell end at once: the answer streams in here in the background (%%imagine_jobs)")
    @argument("source", help="a path, a URL, a variable (PIL image, array, figure, bytes, Image) or 'last'")
    @argument("question", nargs="*", help="what to ask (default: describe the image)")
    @line_magic
    def describe(self, line: str) -> None:
        """Ask a vision model about an image; the answer streams in as Markdown.

        Examples::

            %describe photo.jpg what species is this?
            %describe fig how many peaks does this plot have?
            %describe last --detail high
        """
        args = _parse(self.describe, line)
        args.output = _output_name(args.output, self.shell, "answer")
        question = " ".join(args.question).strip() or "Describe this image."
        if len(args.question) == 1:
            question = _unquote(question)
        with self._errors_shown():
            _refuse_unsendable({"question": question, **_option_texts(args, "question")})
            self._describe(args, question)

    def _describe(self, args: Any, question: str) -> None:
        from .display import LiveMarkdown, question_header
        from .inputs import to_image, validate_prompt
        from .jobs import Job

        validate_prompt(question, "question")
        source = self._source(args.source, "image")
        is_url = isinstance(source, str) and source.startswith(("http://", "https://"))
        image = source if is_url else to_image(source, "image", formats=config.VISION_INPUT_FORMATS)
        client = self.client
        model = args.model or self.settings.mainline_model or config.mainline_model()
        backend = _backend_label(client)
        header = question_header(image, question, format=self.settings.preview_format)
        meta: dict[str, Any] = {"kind": "answer", "question": question, "model": model,
                                "image": source if is_url else image.describe_meta()}
        output = self._cell_output(wait=not args.no_wait)
        live = LiveMarkdown(header_html=header, header_text=f"You asked: {question}", meta=meta, to=output)
        live.show("asking " + " · ".join(p for p in (model, backend) if p) + "…")
        ask = functools.partial(client.respond, question, model=model, images=[image], detail=args.detail,
                                stream=True)
        job = Job("describe", question, output=output, show_error=live.error)
        self._launch(job, functools.partial(self._answer, live=live, ask=ask, model=model, backend=backend,
                                            output=args.output, store=self.store))

    def _answer(self, job: Job, *, live: Any, ask: Callable[[], Any], model: str, backend: str | None,
                output: str | None, store: Store) -> None:
        """Stream the answer of %describe into ``live``; bind it to ``output`` and record its usage."""
        from .events import TextDelta

        stream = None
        try:
            stream = ask()
            job.on_cancel(stream.close)
            for event in stream:
                if isinstance(event, TextDelta):
                    live.append(event.delta)
        except NbImagesError:
            if not job.cancelled:  # a stream closed by a cancel ends with an error: not one to report
                raise
        except KeyboardInterrupt:
            if stream is not None:
                stream.close()
            live.done(footer="interrupted")
            raise CellInterrupted() from None
        if job.cancelled:
            live.done(footer="cancelled")
            return
        assert stream is not None
        response = stream.result
        text = (response.output_text if response is not None else "") or stream.text
        if output:
            self.user_ns[output] = text
        footer = " · ".join(p for p in (model, backend, f"{live.elapsed:.1f} s") if p)
        try:
            store.record_usage(model=model, usage=response.usage if response else None, endpoint="responses",
                               images=0, response_id=response.id if response else None)
        except StoreError as exc:
            footer += f" · not recorded in the usage ledger: {exc}"
        live.done(text, footer=footer)

    @contextmanager
    def _errors_shown(self) -> Iterator[None]:
        """Known errors become one line of output (with a hint) instead of a traceback."""
        try:
            yield
        except NbImagesError as exc:
            from .display import error_bundle

            self._show(*error_bundle(exc))

    # -- history, undo, usage ----------------------------------------------------------
    @magic_arguments()
    @argument("-a", "--all", action="store_true", help="every turn of this session, not only the current line")
    @line_magic
    def imagine_history(self, line: str) -> None:
        """Thumbnails and prompts of the current line of work; the current turn is marked."""
        from .display import history_bundle

        args = _parse(self.imagine_history, line)
        with self._errors_shown():
            conv = self.conversation
            turns = list(conv.all_turns) if args.all else conv.turns
            self._show(*history_bundle(turns, conv.head, format=self.settings.preview_format))

    @magic_arguments()
    @argument("steps", nargs="?", type=_undo_steps, default=1, metavar="N",
              help="how many turns to go back (default 1); going back past the first turn stops there")
    @line_magic
    def imagine_undo(self, line: str) -> None:
        """Step back to the previous turn and show the image that is now current."""
        args = _parse(self.imagine_undo, line)
        with self._errors_shown():
            self._undo(args.steps)

    def _undo(self, steps: int) -> None:
        from .display import image_bundle, note_bundle

        conv = self.conversation
        if conv.head is None:
            self._show(*note_bundle("Nothing to undo.", kind="undo"))
            return
        for _ in range(min(steps, len(conv.turns))):  # never more steps than turns back to the start
            conv.undo()
        image = conv.image
        if conv.head is None or image is None:
            self._show(*note_bundle("Back at the start: the next %%imagine makes a new image.", kind="undo",
                                    current=None))
            return
        position = len(conv.turns)
        note = f"now at turn {position}: the next %%imagine --continue continues from here"
        self._show(*image_bundle([image], options=self.preview_options, prompt=conv.head.prompt, note=note))

    @line_magic
    def imagine_usage(self, line: str) -> None:
        """Requests, tokens and estimated cost per model, from the store's ledger."""
        from .display import usage_bundle

        if line.strip():
            raise UsageError("%imagine_usage takes no arguments")
        with self._errors_shown():
            self._show(*usage_bundle(self.store.usage_summary()))

    @magic_arguments()
    @argument("--cancel", metavar="ID", help="cancel job ID (the first column of the list), or every job: --cancel all")
    @argument("--wait", action="store_true", help="wait until every job has ended (Ctrl-C stops waiting, not the jobs)")
    @line_magic
    def imagine_jobs(self, line: str) -> None:
        """The background jobs of this kernel (``--no-wait``): prompt, state, elapsed time, partial
        images received and the cell that shows them; ``--cancel ID`` or ``--cancel all`` stops
        them within a second (their connections are closed; what arrived is kept); ``--wait``
        waits for them all, then lists them."""
        from .display import jobs_bundle
        from .jobs import describe

        args = _parse(self.imagine_jobs, line)
        if args.cancel is not None:
            self._cancel_jobs(_unquote(args.cancel))
        if args.wait:
            for job in self.jobs.unfinished:
                while not job.wait(POLL):  # in slices: Ctrl-C gets through
                    pass
        self._show(*jobs_bundle([describe(job) for job in self.jobs]))

    def _cancel_jobs(self, which: str) -> None:
        from .jobs import cancel_and_wait

        if which == "all":
            chosen = self.jobs.unfinished
        else:
            job = self.jobs.get(int(which)) if which.isdigit() else None
            if job is None:
                raise UsageError(f"%imagine_jobs: there is no job {_printable(which)}: the first column of "
                                 "%imagine_jobs has their numbers (or use --cancel all)")
            chosen = [job]
        cancel_and_wait(chosen, CANCEL_WAIT)


def _actions_line() -> Any:
    from .widgets.image_actions import ImageActions

    return ImageActions()


class _ImagineRun:
    """One %%imagine: its inputs resolved in the cell, then a job (here, or in the background
    with --no-wait) that reuses a stored result or streams a new turn, and shows it."""

    def __init__(self, magics: ImagineMagics, args: Any, prompt: str) -> None:
        self.magics = magics
        self.args = args
        self.prompt = prompt
        settings = magics.settings
        self.model = args.model or settings.model or config.image_model()
        partials = args.partial_images if args.partial_images is not None else settings.partial_images
        if args.output_format in config.WHOLE_FORMATS and args.partial_images is None:
            partials = None  # GIF and SVG arrive whole
        self.options = {**_image_options(args, settings), "partial_images": partials}
        self.images: list[Image] = []  # resolved with the other inputs, in run()
        self.mask: Image | None = None
        self.markup: Image | None = None
        self.mode = "send" if args.continue_ else "edit" if (args.edit or args.mask or args.markup) else "generate"
        self.live: LiveImage | None = None

    def run(self) -> None:
        """In the cell: what can be checked is checked here (a mistake is one line in this cell)."""
        from .display import LiveImage
        from .inputs import validate_prompt
        from .jobs import Job
        from .options import validate_generation_options

        args, magics = self.args, self.magics
        validate_prompt(self.prompt)
        validate_generation_options({**self.options, "model": self.model})
        conv = magics.conversation
        # Inputs are resolved before --new starts over, so that `--new --edit last` works and a
        # bad input leaves the conversation as it was. Behind a job still making a turn of this
        # conversation, the current image to edit is the one that job makes: taken when it is done.
        later = magics._line().busy and not args.new
        self.images, self.mask, self.markup = magics._edit_inputs(args, edit=self.mode == "edit" and not later)
        if args.new:
            conv.reset()
        output = magics._cell_output(args.wait if args.wait is not None else magics.settings.wait)
        # A terminal prints every update: the refreshes and the widget are for notebooks only.
        in_kernel = getattr(magics.shell, "kernel", None) is not None
        live = self.live = LiveImage(self.prompt, model=self.model, backend=_backend_label(magics.client),
                                     partials=self.options["partial_images"] or 0, options=magics.preview_options,
                                     tick=magics.settings.status_interval if in_kernel else 0.0, to=output,
                                     clock=_actions_line() if in_kernel and magics.settings.actions else None)
        job = Job("imagine", self.prompt, output=output, line=magics._line(new=args.new), head=conv.head,
                  show_error=self._show_error)
        if job.after is not None or job.background:  # the placeholder, in the cell before it returns
            live.show(job.waiting_for or "starting…", queued=job.after is not None)
        magics._launch(job, self._make)

    def _make(self, job: Job) -> None:
        """The job: once the turn before it is done, reuse a stored result or stream a new turn."""
        assert self.live is not None
        try:
            started = job.begin()
        except KeyboardInterrupt:  # while queued
            self.live.interrupted()
            raise CellInterrupted() from None
        if not started:
            self.live.interrupted(why="cancelled")
            return
        conv = self.magics.conversation.fork(job.base)
        images = self.images or self._current_image(conv)
        request = self._request(conv, images, self.mask)
        store = conv.store
        key = store.cache_key(request) if store is not None else None
        if store is not None and key is not None and not self.args.fresh:
            from ._replay import replay

            found = replay(store, key, self.options["n"] or 1)
            if found is not None:
                self._reuse(job, conv, found, request)
                return
        self._stream(job, conv, images, key)

    def _current_image(self, conv: Conversation) -> list[Image]:
        """The image an edit without --edit changes: the current one where the job starts."""
        if self.mode != "edit":
            return []
        image = conv.image
        if image is None:
            raise InvalidInputError("image", None, "an image to edit: --edit IMAGE, or run %%imagine first")
        return [image]

    def _request(self, conv: Conversation, images: list[Image], mask: Image | None) -> dict[str, Any]:
        """What identifies this request for the cache: everything that changes the result."""
        from ._replay import image_request

        client = self.magics.client
        if self.mode != "send":
            return image_request(client.backend, client.base_url, prompt=self.prompt, model=self.model,
                                 options=self.options, images=images, mask=mask, markup=self.markup)
        options = {k: v for k, v in self.options.items() if k != "partial_images"}
        request: dict[str, Any] = {
            "backend": client.backend, "base_url": client.base_url, "prompt": self.prompt, "model": self.model,
            **options,
        }
        continuation = conv.continuation()
        request.update(
            endpoint="responses",
            mainline_model=conv.model or config.mainline_model(),
            previous_response_id=continuation.get("previous_response_id"),
            input_images=[_digest(i) for i in continuation.get("images") or []],
            mask=_digest(mask) if mask is not None else None,
        )
        return request

    def _reuse(self, job: Job, conv: Conversation, found: list[Image], request: dict[str, Any]) -> None:
        assert self.live is not None
        magics = self.magics
        api = "responses" if self.mode == "send" else "images"
        first = found[0]
        self._commit(job, conv.add(self.prompt, first, api=api,
                                   response_id=first.response_id if api == "responses" else None,
                                   cached=True, images=tuple(found)))
        params = first.params or {}
        with suppress(StoreError):  # a reuse costs nothing: a ledger that cannot be written loses nothing
            magics.store.record_usage(model=first.model or self.model, usage=None, endpoint=request["endpoint"],
                                      images=len(found), quality=params.get("quality"), size=params.get("size"),
                                      response_id=first.response_id, cached=True)
        self._output(found)
        self.live.final(found, cached=True)

    def _stream(self, job: Job, conv: Conversation, images: list[Image], key: str | None) -> None:
        from .display import not_saved_line
        from .runner import TurnRunner

        live = self.live
        assert live is not None

        def on_partial(image: Image, index: int) -> None:
            job.partials += 1
            live.partial(image, index)

        runner = TurnRunner(conv, self.mode, self.prompt, images=images, mask=self.mask, cache_key=key,
                            options={**self.options, "model": self.model, "markup": self.markup},
                            on_partial=on_partial, on_progress=live.progress, on_completed=live.completed)
        job.on_cancel(runner.cancel)
        live.show()
        try:
            turn = runner.run()
            if turn is None:  # cancelled
                kept = runner.kept_partials
                live.interrupted(kept[-1] if kept else None, why="cancelled")
                return
        except KeyboardInterrupt:
            kept = runner.kept_partials
            live.interrupted(kept[-1] if kept else None)
            raise CellInterrupted() from None
        except NbImagesError:
            raise  # the job shows it as one line in the output (`_show_error`)
        except Exception:  # a bug: its traceback shows below; the status line must not tick on
            live.interrupted(why="stopped by an unexpected error")
            raise
        finally:
            live.stop()  # also when something unexpected propagates: no refresh outlives the job
        self._commit(job, turn)
        self._output(list(turn.images))  # bound first: the display cannot lose it
        not_saved = not_saved_line(turn.save_error, self.args.output) if turn.save_error else ""
        live.final(turn.images, text=turn.text, not_saved=not_saved)

    def _commit(self, job: Job, turn: Turn) -> None:
        """The turn made on the job's fork becomes the conversation's current turn."""
        job.turn = self.magics.conversation.adopt(turn)

    def _show_error(self, exc: BaseException) -> None:
        """One line in the job's output, under the images a broken stream completed or its last partial."""
        live = self.live
        assert live is not None
        if isinstance(exc, StreamError):
            live.error(exc, None if exc.images else exc.last_partial, images=exc.images)
        else:
            live.error(exc, live.last_partial)

    def _output(self, images: list[Image]) -> None:
        name = self.args.output
        if name:
            self.magics.user_ns[name] = images[0] if len(images) == 1 else images


# -- the extension ---------------------------------------------------------------------------
def magics_for(shell: Any) -> ImagineMagics:
    """The `ImagineMagics` registered with ``shell`` (its ``.client``, ``.conversation``, ``.settings``)."""
    magics = shell.magics_manager.registry.get("ImagineMagics")
    if magics is None:
        raise LookupError("nbimages is not loaded in this shell: run %load_ext nbimages")
    return magics


_QUESTION_LINE = re.compile(r"^(\s*)%(describe|imagine)(\s+\S.*\?)\s*$")


def _statement_starts(lines: list[str]) -> dict[int, bool]:
    """The lines where a statement begins, by the tokens IPython itself reads to find magics (a
    line inside a string literal, a comment or open brackets begins none), each with whether
    its statement ends on that same line."""
    try:
        tokens_by_line = make_tokens_by_line(lines)
    except (SyntaxError, ValueError):  # e.g. a dedent to no outer level: IPython reports it on the cell
        return {}
    starts = {}
    for tokens in tokens_by_line:
        first = next((t for t in tokens if t.type not in (tokenize.INDENT, tokenize.DEDENT)), None)
        if first is not None:
            row = first.start[0]
            last = tokens[-1]
            starts[row - 1] = last.type in (tokenize.NEWLINE, tokenize.NL) and last.start[0] == row
    return starts


def _direct_call(line: str) -> str:
    m = _QUESTION_LINE.match(line)
    assert m is not None
    return f"{m.group(1)}get_ipython().run_line_magic({m.group(2)!r}, {m.group(3).strip()!r})\n"


def _keep_question_marks(lines: list[str]) -> list[str]:
    """IPython reads a line ending in ``?`` as a help request (``obj?``), so
    ``%describe photo.png what is this?`` would never reach the magic: call it directly.

    Only a line that begins a statement is a magic; the same text inside a string literal, a
    comment or brackets is left exactly as written.
    """
    if lines and lines[0].lstrip().startswith("%%"):
        return lines  # a cell magic's body is its own business
    asking = [i for i, line in enumerate(lines) if _QUESTION_LINE.match(line)]
    if not asking:
        return lines  # most cells: no tokenizing at all
    out = list(lines)
    starts = _statement_starts(out)
    for i in asking:  # top down, as IPython transforms magics
        if i in starts:
            out[i] = _direct_call(out[i])
            if not starts[i]:  # its text opened a string or a bracket that hid the lines below
                starts = _statement_starts(out)
    return out


def load_ipython_extension(ipython: Any) -> None:
    settings = Imagine(parent=ipython)
    ipython.configurables.append(settings)
    ipython.register_magics(ImagineMagics(ipython, settings))
    if _keep_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(_keep_question_marks)


def unload_ipython_extension(ipython: Any) -> None:
    from .conversation import current_conversation, set_current_conversation

    while _keep_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(_keep_question_marks)
    magics = ipython.magics_manager.registry.pop("ImagineMagics", None)
    if magics is None:
        return
    for table in ipython.magics_manager.magics.values():
        for name in [n for n, fn in table.items() if getattr(fn, "__self__", None) is magics]:
            del table[name]
    ipython.configurables[:] = [c for c in ipython.configurables if c is not magics.settings]
    if magics._conversation is not None and current_conversation() is magics._conversation:
        set_current_conversation(None)
    if magics._jobs is not None:
        magics._jobs.shutdown()
    magics.close()

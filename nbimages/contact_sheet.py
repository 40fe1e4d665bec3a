"""The contact sheet of a `Run`: thumbnails labelled by their swept values, a progress line,
and each failed item's error in its cell. Shown once and updated in place (``display_id``).

With two swept axes (names whose values differ between items) the sheet is an X/Y grid, as in
AUTOMATIC1111's X/Y plot: one row per value of the first axis, one column per value of the
second (the first axis of `sweep` is the slowest, so the items fill the grid row by row).
Otherwise the thumbnails wrap in item order, each labelled by its swept values (or its prompt).
Only small previews are embedded (`display.preview`); the full images are in the store.
All text is escaped. On a terminal, `TextProgress` prints a progress bar instead.
"""

from __future__ import annotations

import sys
import time
from html import escape
from typing import TYPE_CHECKING, Any

from ._throttle import Throttle
from .display import _MUTED, Bundle, _Output, _short, thumbnail_html
from .errors import describe_error

if TYPE_CHECKING:
    from ._cell_output import CellOutput
    from ._run_items import Item
    from .run import Run

__all__ = ["ContactSheet", "LiveSheet", "TextProgress", "progress_line"]

REFRESH_INTERVAL = 0.25
_CELL_BOX = ("box-sizing:border-box;display:flex;flex-direction:column;align-items:center;justify-content:center;"
             "text-align:center;border-radius:4px;overflow:hidden;overflow-wrap:anywhere;")
_FAILED = "color:#c62828;border:1px solid rgba(198,40,40,.5);font-size:.78em;padding:4px;overflow:hidden"
_PENDING = "border:1px dashed rgba(128,128,128,.6);opacity:.6"


def progress_line(run: Run) -> str:
    """``run_… · live · 7 of 12 done (2 reused) · 1 failed · 4 pending · estimated $0.13 · running``
    (words only: a symbol would need an emoji font some machines lack)."""
    c = run.counts
    parts = [run.id, run.via]
    if run.batch_id:
        parts.append(f"batch {run.batch_id}")
    parts.append(f"{c['done']} of {c['total']} done" + (f" ({c['reused']} reused)" if c["reused"] else ""))
    if c["failed"]:
        parts.append(f"{c['failed']} failed")
    if c["pending"]:
        parts.append(f"{c['pending']} {'cancelled' if run.status == 'cancelled' else 'pending'}")
    if run.estimate is not None:
        parts.append(str(run.estimate))
    parts.append(run.status)
    return " · ".join(parts)


class ContactSheet:
    """The sheet of ``run`` as a display bundle; each thumbnail is made once."""

    def __init__(self, run: Run, *, thumb: int = 160, format: str = "webp") -> None:
        self.run = run
        self.thumb = thumb
        self.format = format
        self._thumbs: dict[int, str] = {}
        self._images: list[Any] = []
        self._errors: dict[int, Any] = {}
        self.started = time.monotonic()

    def bundle(self) -> Bundle:
        run = self.run
        line = progress_line(run)
        if run.status == "running":
            line += f" · {time.monotonic() - self.started:.1f} s"
        axes = run.axes
        self._images, self._errors = run.images, run.errors
        body = self._grid(axes) if len(axes) == 2 else self._wrap(axes)
        html = (f'<div class="nbimages-run"><div style="{_MUTED};margin-bottom:6px">{escape(line)}</div>'
                f"{body}</div>")
        meta = {"kind": "run", "run_id": run.id, "status": run.status, "via": run.via, "counts": run.counts,
                "axes": axes, "batch_id": run.batch_id}
        return {"text/html": html, "text/plain": self._text(line)}, {"nbimages": meta}

    def _text(self, line: str) -> str:
        errors = self.run.errors
        lines = [line] + [f"  [{i}] {describe_error(errors[i], 200)}" for i in sorted(errors)]
        return "\n".join(lines)

    # -- layouts --------------------------------------------------------------------------
    def _wrap(self, axes: list[str]) -> str:
        cards = []
        for index, item in enumerate(self._items()):
            label = _label(item, axes)
            cards.append(f'<figure style="margin:0;width:{self.thumb}px">{self._cell(index)}'
                         f'<figcaption style="font-size:.8em;{_MUTED}" title="{escape(label, quote=True)}">'
                         f"{escape(_short(label, 80))}</figcaption></figure>")
        return f'<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">{"".join(cards)}</div>'

    def _grid(self, axes: list[str]) -> str:
        rows_axis, cols_axis = axes
        items = self._items()
        rows, cols = _values(items, rows_axis), _values(items, cols_axis)
        where = {(repr(i.labels.get(rows_axis)), repr(i.labels.get(cols_axis))): n for n, i in enumerate(items)}
        corner = f"{rows_axis} ↓ · {cols_axis} →"
        head = "".join(f'<th style="{_TH}">{escape(_value_text(c))}</th>' for c in cols)
        lines = [f'<tr><th style="{_TH};{_MUTED}">{escape(corner)}</th>{head}</tr>']
        for r in rows:
            cells = "".join(f'<td style="padding:3px;vertical-align:top">{self._cell_at(where, r, c)}</td>'
                            for c in cols)
            lines.append(f'<tr><th style="{_TH};text-align:right;max-width:14em" title="{escape(str(r), quote=True)}">'
                         f"{escape(_short(_value_text(r), 120))}</th>{cells}</tr>")
        return f'<table style="border-collapse:collapse">{"".join(lines)}</table>'

    def _cell_at(self, where: dict[tuple[str, str], int], row: Any, col: Any) -> str:
        index = where.get((repr(row), repr(col)))
        return self._cell(index) if index is not None else ""

    # -- cells ----------------------------------------------------------------------------
    def _items(self) -> list[Item]:
        return [self.run.item(i) for i in range(self.run.counts["total"])]

    def _cell(self, index: int) -> str:
        images = self._images[index]
        if images is not None:
            return self._thumbnail(index, images if isinstance(images, list) else [images])
        error = self._errors.get(index)
        side = self.thumb
        if error is not None:
            said = describe_error(error, 110)
            text = f"<b>{escape(said.name)}</b>" + (f"<div>{escape(said.message)}</div>" if said.message else "")
            return (f'<div style="{_CELL_BOX}{_FAILED};width:{side}px;height:{side}px" '
                    f'title="{escape(str(said), quote=True)}">{text}</div>')
        state = "cancelled" if self.run.status in ("cancelled", "interrupted") else "…"
        return f'<div style="{_CELL_BOX}{_PENDING};width:{side}px;height:{side}px">{state}</div>'

    def _thumbnail(self, index: int, images: list[Any]) -> str:
        if index not in self._thumbs:
            first = images[0]
            html = thumbnail_html(first, self.thumb, self.format, first.revised_prompt or first.prompt or "")
            if len(images) > 1:
                html += f'<div style="{_MUTED};font-size:.78em">+{len(images) - 1} more</div>'
            if index in self.run._reused:
                html += f'<div style="{_MUTED};font-size:.78em">reused from the store</div>'
            self._thumbs[index] = html
        return self._thumbs[index]


_TH = "padding:3px 6px;font-weight:600;font-size:.85em;text-align:center;vertical-align:middle"


def _values(items: list[Item], axis: str) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(repr(item.labels.get(axis)), item.labels.get(axis))
    return list(seen.values())


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _label(item: Item, axes: list[str]) -> str:
    if axes:
        return " · ".join(f"{name}={_value_text(item.labels.get(name))}" for name in axes)
    return item.prompt


class LiveSheet(_Output):
    """The sheet shown in the current cell, refreshed from any thread at most every `REFRESH_INTERVAL`."""

    def __init__(self, run: Run) -> None:
        # Captured while the cell runs: refreshes from the engine's thread, also after the cell
        # ended, land in this cell, as a background job's do.
        super().__init__(to=_this_cell())
        self.sheet = ContactSheet(run)
        self._throttle = Throttle(REFRESH_INTERVAL, self.show)

    def show(self) -> None:
        self.publish(*self.sheet.bundle())

    def poke(self) -> None:
        self._throttle.poke()

    def flush(self) -> None:
        self._throttle.flush()


def _this_cell() -> CellOutput | None:
    """The output of the cell IPython is running (None outside IPython, or in a terminal)."""
    from IPython import get_ipython

    from ._cell_output import capture

    shell = get_ipython()  # type: ignore[no-untyped-call]
    return capture(shell) if shell is not None else None


class TextProgress:
    """A progress bar on stderr, rewritten in place (terminals, scripts)."""

    WIDTH = 30

    def __init__(self, run: Run, stream: Any = None) -> None:
        self.run = run
        self.stream = stream if stream is not None else sys.stderr
        self._throttle = Throttle(REFRESH_INTERVAL, self._draw)
        self._ended = False

    def show(self) -> None:
        self._draw()

    def poke(self) -> None:
        self._throttle.poke()

    def flush(self) -> None:
        self._throttle.flush()

    def _draw(self) -> None:
        if self._ended:
            return
        c = self.run.counts
        finished = c["done"] + c["failed"]
        filled = round(self.WIDTH * finished / max(c["total"], 1))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._ended = self.run.status != "running"
        self.stream.write(f"\r[{bar}] {progress_line(self.run)}" + ("\n" if self._ended else ""))
        self.stream.flush()

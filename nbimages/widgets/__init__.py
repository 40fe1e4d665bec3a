"""Widgets: `Studio` (generate and refine with a live preview), `MaskPainter` (paint an edit
mask) and `Gallery` (browse stored images).

Imported lazily: ``import nbimages`` does not load anywidget or ipywidgets.

Front end: one self-contained ES module per widget, bundled by ``js/build.py`` from
``js/src/_shared.js`` + ``js/src/<widget>.js`` (anywidget loads ``_esm`` from a blob URL,
where a relative import cannot resolve). Building a wheel writes the bundles into
``nbimages/static/`` (``hatch_build.py``); a source checkout gets them in ``js/build/`` (not
committed) from ``python js/build.py`` (run by ``make build``, ``pip install -e .`` and the
test session), never when a widget is imported. ``_esm`` is their path, so
``ANYWIDGET_HMR=1`` (with ``watchfiles`` installed) and ``python js/build.py --watch``
reload views live. ``js/widgets.css``
styles all three with JupyterLab's theme variables.

Kernel <-> view: the view sends ``{"action": name, ...}`` custom messages (plus binary
buffers); images come back as ``{"type": "image", "slot": ...}`` messages with one binary
buffer each (``_wire``), never as synced state; state holds at most a small WebP thumbnail.

DOM hooks (stable; select with ``[data-nbimages="NAME"]``)::

    every widget   error           the error: one line of text, wrapped when long (role=alert, hidden when empty)
                   request-id      in it, the server's request id (the Studio's ``error_request_id``)
    action bars    actions         the bar (role=toolbar): download, copy-prompt, open-in-painter,
                                   refine-in-studio buttons; action-feedback  its short note
                   opened          the painter or Studio opened below (data-state = opening |
                                   shown | closed); opened-note  how to reach it from Python;
                                   close-opened  its Close button
    under %%imagine image-actions  root (``ImageActions``); status  the line while running:
                                   phase, clock (seconds, ticking in the browser); then the
                                   action bar; image-choice  which image, with several
    Studio         studio          root; class ``is-busy`` while generating
                   prompt          prompt textarea          generate  Generate button
                   model           model text input         size      size select
                   quality         quality select           partial-images  select (0-3)
                   cancel          Cancel button (enabled only while busy; Escape in the Studio too)
                   generate-hint, refine-hint  "Ctrl+Enter to generate · Esc to cancel" under the
                                   buttons; Enter makes a new line in the boxes; Generate and
                                   Refine are disabled until their box has text (Refine: and an image)
                   preview         the preview <img>: data-seq = images this view displayed
                                   (1, 2, ... set once decoded and on screen; "0" before any),
                                   data-kind = partial | final | thumbnail | none,
                                   data-index = partial index ("" for a final image)
                   preview-frame   box around it; data-state = empty | partial | final | thumbnail
                                   | pending (a run started; the old image is still shown)
                                   (after a failed run that sent no partial image: the current
                                   turn's image again, or empty when there is none)
                   badge           "Partial 1 of 2" / "Final" / "Generating…" / "Refining…";
                                   data-kind (pending while a run waits); hidden when empty and
                                   when a failed run brought the current image back
                   caption         revised prompt / notes       status  data-busy = true | false
                   elapsed         seconds while busy
                   followup        follow-up textarea       refine    Refine button
                   history         the strip; scrolls sideways to keep the current item in view
                   history-item    one turn (button): data-turn = turn id, data-current,
                                   data-in-line (on the current line of work), title = prompt
    MaskPainter    mask-painter    root: data-tool = brush | eraser, data-ready = "true" once
                                   the image is drawn, data-mask-version = masks the kernel
                                   holds (bumps on each), data-masks-sent = masks sent
                   canvas          the paint layer <canvas> (image's own pixel size, CSS-scaled;
                                   pointer events here)
                   backdrop        the image <canvas> under it    cursor  brush outline
                   canvas-wrap     their box
                   brush, eraser   tool buttons (aria-pressed)
                   brush-size      range input, logarithmic over 1..max (0-1000)  opacity  range input (0-100)
                   undo, redo, invert, clear   buttons            painted  "12.5% painted"
                   zoom-in, zoom-out, zoom-fit  buttons           zoom     "150%"; root data-zoom
                   canvas-stage    the zoomed and panned box of the canvases
                                   keys (the root keeps them from JupyterLab): B/E tools, [ ] size,
                                   Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, + - 0 zoom; the plain
                                   wheel scrolls the notebook, Alt+wheel sizes, Ctrl+wheel zooms
                                   about the pointer, Space+drag or middle-drag pans
                   caption         what the last edit() did
                   result          the last edit's result beside its input (result-before,
                                   result-after); continue, result-dismiss  buttons
    Gallery        gallery         root: data-selected = selected id
                   search          search input             count     "N images · page i of n"
                   pager           prev/next/refresh box: data-page (0-based), data-pages
                   pager-prev, pager-next, refresh   buttons
                   pager-bottom    the pager under the grid (pager-bottom-prev, pager-bottom-next)
                   gallery-grid    the grid                 empty     shown when no images
                   gallery-item    one image (button): data-id, data-selected, title = prompt
                   gallery-item-prompt  its prompt line (one line, cut with an ellipsis)
                   gallery-item-meta    its model and size line
                   enlarged        the enlarged view, over the grid (which does not move): data-id;
                                   hidden until a click; at the clicked card's height; keeps the
                                   focus; closed by ×, Escape, a click beside it, or turning the
                                   page; left/right arrows step through the page
                   enlarged-img    its <img>: data-id, data-full = "true" once the large
                                   image (not the thumbnail) is shown
                   enlarged-prompt its prompt               enlarged-close  close button
                   enlarged-meta   model, size, date and id
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

__all__ = ["Gallery", "MaskPainter", "Studio"]

_WHERE = {"Gallery": "gallery", "MaskPainter": "mask_painter", "Studio": "studio"}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)


if TYPE_CHECKING:
    from .gallery import Gallery
    from .mask_painter import MaskPainter
    from .studio import Studio

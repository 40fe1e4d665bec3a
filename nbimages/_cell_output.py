"""The output of a cell, captured while the cell runs and published to from any thread later.

A background job keeps updating the output its cell showed after that cell has ended and while
other cells run. In a kernel every output message names its parent, the execute request of the
cell it belongs to, and front ends place outputs by it: VS Code appends a finished cell's late
outputs by it, nbclient keeps only the running cell's, JupyterLab finds the display to update
among the outputs of that request. ipykernel takes the parent from the cell running *now*, so
a thread publishing through ``display`` would file its updates under whatever cell runs
meanwhile. Hence `capture`: the parent header is taken while the job's cell runs, and every
later update is sent with it.

Where the shell's display publisher is not a kernel's (a recorder in tests, another front end)
updates go through that publisher, in the context captured with the cell. A terminal prints
every update instead of replacing it: there `capture` returns None and the work stays in the
foreground.

A background job's thread runs `working_for` its cell: what it shows of its own accord (the
simulator notice) goes there too, found by `this_cell`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["CellOutput", "capture", "cell_name", "this_cell", "working_for"]


def cell_name(execution_count: int | None) -> str:
    """A cell as Jupyter numbers it: ``In [7]``."""
    return f"In [{execution_count}]" if execution_count is not None else "a cell"


class CellOutput:
    """Where the cell that started a job shows its outputs; ``publish`` works from any thread."""

    def __init__(self, execution_count: int | None) -> None:
        self.execution_count = execution_count
        self._muted = threading.Event()

    @property
    def where(self) -> str:
        return cell_name(self.execution_count)

    @property
    def msg_id(self) -> str | None:
        """The id of the cell's execute request (in a kernel): the parent of every update."""
        return None

    def publish(self, data: dict[str, Any], metadata: dict[str, Any], *, display_id: str, update: bool) -> None:
        """Show ``data`` in the cell's output ``display_id`` (``update``: replace it in place)."""
        if not self._muted.is_set():
            self._send(data, metadata, display_id, update)

    def mute(self) -> None:
        """Publish nothing more (the kernel is shutting down: its sockets are about to close)."""
        self._muted.set()

    def _send(self, data: dict[str, Any], metadata: dict[str, Any], display_id: str, update: bool) -> None:
        raise NotImplementedError


class _KernelCell(CellOutput):
    """An ipykernel's cell: display messages sent on IOPub with the cell's parent header.

    The IOPub socket of ipykernel is thread-safe (a send is handed to its IO thread), as the
    kernel's own output streams rely on.
    """

    def __init__(self, publisher: Any, execution_count: int | None) -> None:
        super().__init__(execution_count)
        self._session = publisher.session
        self._socket = publisher.pub_socket
        self._topic = getattr(publisher, "topic", b"display_data")
        self.parent: dict[str, Any] = dict(publisher.parent_header)

    @property
    def msg_id(self) -> str | None:
        return self.parent.get("msg_id")

    def _send(self, data: dict[str, Any], metadata: dict[str, Any], display_id: str, update: bool) -> None:
        from jupyter_client.jsonutil import json_clean

        content = {"data": data, "metadata": metadata, "transient": {"display_id": display_id}}
        msg_type = "update_display_data" if update else "display_data"
        message = self._session.msg(msg_type, json_clean(content), parent=self.parent)
        self._session.send(self._socket, message, ident=self._topic)


class _ShellCell(CellOutput):
    """Any other shell whose displays can be updated in place: its own publisher, in the cell's context."""

    def __init__(self, execution_count: int | None) -> None:
        super().__init__(execution_count)
        self._context = contextvars.copy_context()

    def _send(self, data: dict[str, Any], metadata: dict[str, Any], display_id: str, update: bool) -> None:
        from IPython.display import display

        self._context.copy().run(display, data, raw=True, metadata=metadata, display_id=display_id, update=update)


def _is_kernel_publisher(publisher: Any) -> bool:
    return all(getattr(publisher, name, None) is not None for name in ("session", "pub_socket", "parent_header"))


def capture(shell: Any) -> CellOutput | None:
    """The output of the cell ``shell`` is running, or None where an output cannot be updated
    in place from a thread (a terminal, whose publisher prints every update)."""
    from IPython.core.displaypub import DisplayPublisher

    publisher = getattr(shell, "display_pub", None)
    if publisher is None or type(publisher) is DisplayPublisher:
        return None
    count = getattr(shell, "execution_count", None)
    if _is_kernel_publisher(publisher):
        return _KernelCell(publisher, count)
    return _ShellCell(count)


_working_for: contextvars.ContextVar[CellOutput | None] = contextvars.ContextVar("nbimages_cell", default=None)


@contextmanager
def working_for(output: CellOutput | None) -> Iterator[None]:
    """Within the block, this thread works for ``output``'s cell (None: for none in particular)."""
    token = _working_for.set(output)
    try:
        yield
    finally:
        _working_for.reset(token)


def this_cell(shell: Any) -> CellOutput | None:
    """The output of the cell the calling code works for: its background job's cell, else the
    cell ``shell`` is running (on a thread of no job: the latest cell, as a kernel files a
    thread's prints); None where `capture` gives none."""
    return _working_for.get() or capture(shell)

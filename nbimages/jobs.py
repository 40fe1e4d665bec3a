"""Jobs: the work of a magic, done in its cell or in the background while other cells run.

A `Job` runs one body (a function of the job) either where it is (``run``: the cell waits,
Ctrl-C reaches it) or on a worker thread (``start``: the cell returns at once). Both go
through the same steps: wait for the job before it on its `Line`, run, end as ``done``,
``failed`` or ``cancelled``. An error ends the job and is shown by the job's ``show_error``
(one line in the job's own output); only an unexpected error in the foreground propagates,
as any error in a cell does.

A `Line` keeps a conversation linear: its jobs run one after another in the order their cells
ran, each continuing from the turn the one before it made (or, when that one made none, from
where that one started). Jobs on different lines, and jobs on no line, run side by side.

`Jobs` is the list of one shell's background jobs (``%imagine_jobs``): listed, cancelled by
id, and cancelled when the process exits, so that what was completed is in the store and no
thread is cut off in the middle of a write. It never imports IPython.
"""

from __future__ import annotations

import atexit
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from .errors import NbImagesError

if TYPE_CHECKING:
    from ._cell_output import CellOutput
    from .conversation import Turn
    from .run import Run

__all__ = ["STATES", "Job", "Jobs", "Line", "RunJob", "describe"]

STATES = ("queued", "running", "done", "failed", "cancelled")
ENDED = ("done", "failed", "cancelled")
POLL = 0.1  # seconds between checks while queued: a cancel or a Ctrl-C gets through this fast
SHUTDOWN_WAIT = 3.0  # seconds the jobs get to close their connections when the process exits
KEPT_ENDED = 50  # ended jobs still listed

Body = Callable[["Job"], None]


class Listed(Protocol):
    """What ``%imagine_jobs`` shows of a job, and how it cancels it."""

    id: int
    kind: str
    prompt: str

    @property
    def state(self) -> str: ...

    @property
    def elapsed(self) -> float: ...

    @property
    def progress(self) -> str: ...

    @property
    def where(self) -> str: ...

    @property
    def ended(self) -> bool: ...

    def cancel(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def mute(self) -> None: ...


class Line:
    """The jobs of one line of a conversation, run in the order they were started."""

    def __init__(self) -> None:
        self._last: Job | None = None
        self._lock = threading.Lock()

    def enter(self, job: Job) -> None:
        """Queue ``job`` after the line's unfinished job, if there is one."""
        with self._lock:
            last = self._last
            job.after = last if last is not None and not last.ended else None
            self._last = job

    @property
    def busy(self) -> bool:
        last = self._last
        return last is not None and not last.ended


class Job:
    """One magic's work: ``run(body)`` here, or ``start(body)`` on a worker thread.

    ``output`` is the cell's output for a background job (None: the foreground). ``base`` is
    the turn the job continues from: ``head`` (the conversation's when the cell ran), or, for a
    job queued on a line, what the job before it made, known once that one has ended.
    """

    def __init__(self, kind: str, prompt: str, *, output: CellOutput | None = None, line: Line | None = None,
                 head: Turn | None = None, show_error: Callable[[BaseException], None] | None = None) -> None:
        self.id = 0  # numbered by `Jobs` when listed
        self.kind = kind
        self.prompt = prompt
        self.output = output
        self.show_error = show_error
        self.after: Job | None = None
        self.base: Turn | None = head
        self.turn: Turn | None = None  # what the job committed to its conversation
        self.partials = 0
        self.error: BaseException | None = None
        self._state = "queued"
        self._submitted = time.monotonic()
        self._finished: float | None = None
        self._cancelled = threading.Event()
        self._ended = threading.Event()
        self._stops: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        if line is not None:
            line.enter(self)

    # -- what is shown of it ------------------------------------------------------------
    @property
    def background(self) -> bool:
        return self.output is not None

    @property
    def state(self) -> str:
        return self._state

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def elapsed(self) -> float:
        return (self._finished or time.monotonic()) - self._submitted

    @property
    def progress(self) -> str:
        return f"{self.partials} partial image{'s' if self.partials != 1 else ''}" if self.kind == "imagine" else ""

    @property
    def where(self) -> str:
        return self.output.where if self.output is not None else "this cell"

    @property
    def waiting_for(self) -> str:
        """Why a queued job waits, for its status line."""
        after = self.after
        if after is None:
            return ""
        return f"queued after job {after.id} ({after.where})" if after.id else "queued after the turn before it"

    @property
    def outcome(self) -> Turn | None:
        """Where the next job of the line continues from: this job's turn, else where it started."""
        return self.turn if self.turn is not None else self.base

    # -- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the job from any thread: queued, it never starts; running, its connection closes."""
        with self._lock:
            self._cancelled.set()
            stops = list(self._stops)
        for stop in stops:
            stop()

    def on_cancel(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` when the job is cancelled (at once if it already is)."""
        with self._lock:
            self._stops.append(stop)
            cancelled = self.cancelled
        if cancelled:
            stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; False when ``timeout`` seconds passed first."""
        return self._ended.wait(timeout)

    def mute(self) -> None:
        if self.output is not None:
            self.output.mute()

    # -- running ------------------------------------------------------------------------
    def run(self, body: Body) -> None:
        """Run ``body`` in this thread: the caller waits for it."""
        self._execute(body)

    def start(self, body: Body) -> None:
        """Run ``body`` on a worker thread: the caller goes on at once."""
        threading.Thread(target=self._execute_for_its_cell, args=(body,), daemon=True,
                         name=f"nbimages-job-{self.id}").start()

    def _execute_for_its_cell(self, body: Body) -> None:
        from ._cell_output import working_for

        with working_for(self.output):
            self._execute(body)

    def begin(self) -> bool:
        """Called by the body first: wait for the job before it on its line, then mark it running.
        False when the job was cancelled meanwhile (the body then shows that and returns)."""
        after = self.after
        while after is not None and not after.wait(POLL):  # polled: a cancel or Ctrl-C gets through
            if self.cancelled:
                return False
        if after is not None:
            self.base = after.outcome
        if self.cancelled:
            return False
        self._state = "running"
        return True

    def _execute(self, body: Body) -> None:
        try:
            body(self)
        except NbImagesError as exc:
            self._fail(exc)
        except Exception as exc:
            if not self.background:
                self._end("failed", exc)
                raise  # unexpected, in a cell: a traceback as usual
            self._fail(exc)  # in the background there is no cell to raise into: one line in its output
        except BaseException as exc:  # Ctrl-C (the foreground only: signals reach the main thread)
            self._end("cancelled", exc)
            raise
        else:
            self._end("cancelled" if self.cancelled else "done")

    def _fail(self, exc: BaseException) -> None:
        # Showing it can fail too (a kernel shutting down): the list of jobs still says "failed".
        with suppress(Exception):
            if self.show_error is not None:
                self.show_error(exc)
        self._end("failed", exc)

    def _end(self, state: str, error: BaseException | None = None) -> None:
        self.error = error
        self._finished = time.monotonic()
        self._state = state
        self._ended.set()


_RUN_STATES = {"completed": "done", "interrupted": "cancelled"}


class RunJob:
    """A `Run` (``%%imagine_many`` that did not wait) in the list of jobs."""

    kind = "many"

    def __init__(self, run: Run, prompt: str, where: str) -> None:
        self.id = 0
        self.run = run
        self.prompt = prompt
        self.where = where
        self._started = time.monotonic()
        self._finished: float | None = None

    @property
    def state(self) -> str:
        state = _RUN_STATES.get(self.run.status, self.run.status)
        if state in ENDED and self._finished is None:
            self._finished = time.monotonic()  # when first seen ended: close enough for the list
        return state

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def elapsed(self) -> float:
        finished = self._finished if self.ended else None
        return (finished or time.monotonic()) - self._started

    @property
    def progress(self) -> str:
        counts = self.run.counts
        failed = f", {counts['failed']} failed" if counts["failed"] else ""
        return f"{counts['done']} of {counts['total']} images{failed}"

    def cancel(self) -> None:
        self.run.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        try:
            self.run.wait(timeout)
        except TimeoutError:
            return False
        return True

    def mute(self) -> None:
        pass  # its contact sheet publishes on its own; a cancelled run stops publishing


class Jobs:
    """The background jobs of one shell, numbered from 1 in the order they started."""

    def __init__(self) -> None:
        self._jobs: dict[int, Listed] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        _every.add(self)

    def __iter__(self) -> Iterator[Listed]:
        with self._lock:
            return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, job_id: int) -> Listed | None:
        return self._jobs.get(job_id)

    @property
    def unfinished(self) -> list[Listed]:
        return [job for job in self if not job.ended]

    def add(self, job: Listed) -> Listed:
        """List ``job`` under the next number (the oldest ended jobs leave the list)."""
        with self._lock:
            job.id = next(self._ids)
            self._jobs[job.id] = job
            ended = [j for j in self._jobs.values() if j.ended]
            for old in ended[: max(0, len(ended) - KEPT_ENDED)]:
                del self._jobs[old.id]
        return job

    def start(self, job: Job, body: Body) -> Job:
        """List ``job`` and start it on a worker thread."""
        self.add(job)
        job.start(body)
        return job

    def shutdown(self, timeout: float = SHUTDOWN_WAIT) -> None:
        """Cancel every unfinished job and give them ``timeout`` seconds in all to end; then
        their outputs publish nothing more."""
        running = self.unfinished
        cancel_and_wait(running, timeout)
        for job in running:
            job.mute()


def cancel_and_wait(jobs: Sequence[Listed], timeout: float) -> None:
    """Cancel ``jobs`` and give them ``timeout`` seconds in all to end."""
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))


_every: weakref.WeakSet[Jobs] = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    """At exit (a kernel shutting down), before the kernel closes its sockets: registered when
    this module is first imported, after ipykernel's own handlers, so it runs before them."""
    for jobs in list(_every):
        jobs.shutdown()


def describe(job: Listed) -> dict[str, Any]:
    """One row of ``%imagine_jobs``."""
    return {"id": job.id, "kind": job.kind, "prompt": job.prompt, "state": job.state,
            "elapsed": round(job.elapsed, 1), "progress": job.progress, "where": job.where}

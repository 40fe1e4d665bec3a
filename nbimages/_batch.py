"""The Batch API engine: a run's requests sent as OpenAI batches, collected when they end.

It implements the seam of `_engines`, in a thread of its own, with a blocking `Client` of the
run's settings (key, base URL, Azure, transport):

1. **submit**: the items to request (``run.todo()``: what the store already holds is not
   sent again) are grouped by endpoint and model, as a batch has one of each. A group is
   written as JSONL, one line per item (``custom_id`` ``<run id>-<item index>``), to a temporary
   file a line at a time, never whole in memory, and split where a file would pass the
   API's limits (`MAX_REQUESTS`, `MAX_FILE_BYTES`). Each file is uploaded (purpose
   ``batch``), a batch created on it (``completion_window="24h"``, the run id in its
   ``metadata``), and the batch written to the run's record (`Run._add_batch`: its id, and
   which custom id is which item) before anything waits on it: a kernel that stops from then
   on loses nothing, `Run.load` collects the batch in a later one.
2. **poll** every batch not yet collected, `BatchEngine.poll_interval` seconds apart at first,
   the wait growing to `BatchEngine.max_poll_interval`.
3. **collect** a batch that ended (completed; or cancelled or expired, with what ran): its
   output and error files are read a line at a time as they download. An image reply is
   saved as the item's result, its cost written to the ledger at the Batch API's price; an
   error line becomes the item's error, mapped as the client maps an error reply.

Edits go as JSON bodies, their images as data URLs: the Batch API sends JSON only.
``cancel()`` asks the API to cancel every batch still running, then collects what they made;
the requests a cancelled batch did not run stay pending (a later run requests them).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._engines import item_error
from ._payload import MalformedPayload
from ._requests import (
    build_batch_cancel,
    build_batch_create,
    build_batch_retrieve,
    build_batch_upload,
    build_file_content,
    edit_json_body,
    images_from_reply,
)
from ._retry import api_error
from ._secrets import redact_json
from .errors import APIConnectionError, APIError, NbImagesError, RateLimitError, ServerError, error_class

if TYPE_CHECKING:
    from ._requests import Call
    from ._run_items import Item
    from .client import AsyncClient, Client
    from .image import Image
    from .run import Run

__all__ = ["MAX_FILE_BYTES", "MAX_REQUESTS", "BatchEngine", "Part", "write_parts"]

# The Batch API's limits for one input file (and so one batch).
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 2**20

ENDED = ("completed", "failed", "expired", "cancelled")
# Failures of a poll that a later poll may not meet: the batch runs on all the same.
PASSING = (APIConnectionError, RateLimitError, ServerError)
_INPUT_KEYS = ("prompt", "model", "image", "mask", "markup")


class BatchEngine:
    """``client``: a `Client` or `AsyncClient` whose settings the batches use (None: ``Client()``)."""

    poll_interval = 1.0  # seconds before the second poll (the first is at once)
    max_poll_interval = 60.0

    def __init__(self, client: Client | AsyncClient | None = None) -> None:
        self.client = client
        self._cancelled = False
        self._wake = threading.Event()

    def start(self, run: Run) -> None:
        threading.Thread(target=self._work, args=(run,), daemon=True, name=f"nbimages-batch-{run.id}").start()

    def cancel(self) -> None:
        self._cancelled = True
        self._wake.set()

    # -- the thread ---------------------------------------------------------------------
    def _work(self, run: Run) -> None:
        from ._engine_clients import blocking_twin

        client, owned = blocking_twin(self.client)
        try:
            _fail_unsent(run)
            if not run.batches:
                self._submit(run, client)
            self._collect_all(run, client)
        except Exception as exc:  # the run must end: what is left fails, with the reason
            error = item_error(exc)
            for item in run.todo():
                run._item_failed(item.index, error)
        finally:
            if owned:
                client.close()
            run._finished()

    def _submit(self, run: Run, client: Client) -> None:
        """One batch per group and file; items a failure left unsent fail with it."""
        groups = _groups(item for item in run.todo() if item.call is not None)
        try:
            for (endpoint, model), items in groups.items():
                for part in write_parts(run.id, items):
                    if self._cancelled:
                        part.path.unlink()
                        return
                    self._send_part(run, client, endpoint, model, part)
        except Exception as exc:  # the batches made so far are collected all the same
            error = item_error(exc)
            sent = {index for batch in run.batches for index in batch["custom_ids"].values()}
            for item in run.todo():
                if item.index not in sent:
                    run._item_failed(item.index, error)

    def _send_part(self, run: Run, client: Client, endpoint: str, model: str | None, part: Part) -> None:
        try:
            with part.path.open("rb") as file:
                uploaded = client._run(build_batch_upload(part.path.name, file))
        finally:
            part.path.unlink()
        batch = client._run(build_batch_create(uploaded["id"], endpoint, {"nbimages_run": run.id}))
        run._add_batch({"id": batch["id"], "endpoint": endpoint, "model": model, "input_file_id": uploaded["id"],
                        "custom_ids": part.custom_ids, "collected": False})

    def _collect_all(self, run: Run, client: Client) -> None:
        waiting = [batch for batch in run.batches if not batch.get("collected")]
        delays, cancel_sent = self._delays(), False
        while waiting:
            if self._cancelled and not cancel_sent:
                _cancel_batches(client, waiting)
                delays, cancel_sent = self._delays(), True
            for batch in list(waiting):
                state = _poll(client, batch["id"])
                if state is not None and state.get("status") in ENDED:
                    try:
                        Collector(run, client, batch, state).collect()
                    except PASSING:  # a dropped download: read again at the next poll (items reported stay)
                        continue
                    waiting.remove(batch)
            if waiting:
                self._wake.wait(next(delays))
                self._wake.clear()

    def _delays(self) -> Iterator[float]:
        """``poll_interval`` growing by half each time, up to ``max_poll_interval``."""
        delay = self.poll_interval
        while True:
            yield delay
            delay = min(delay * 1.5, self.max_poll_interval)


# -- writing the input files -----------------------------------------------------------------
@dataclass
class Part:
    """One input file, written and closed: which custom id is which item."""

    path: Path
    custom_ids: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def fits(self, line: bytes) -> bool:
        """Whether ``line`` may join this file within the API's limits (a first line always does)."""
        if not self.custom_ids:
            return True
        return len(self.custom_ids) < MAX_REQUESTS and self.size + len(line) <= MAX_FILE_BYTES


def write_parts(run_id: str, items: Iterable[Item], folder: str | None = None) -> Iterator[Part]:
    """The requests of ``items`` as JSONL files within the API's limits, written a line at a
    time; each is yielded closed, and the next is begun only when asked for (delete each once
    sent: at most one is on disk, and one line in memory, at a time)."""
    lines = ((f"{run_id}-{item.index}", item.index, request_line(f"{run_id}-{item.index}", item)) for item in items)
    pending = next(lines, None)
    while pending is not None:
        handle, name = tempfile.mkstemp(prefix=f"{run_id}-", suffix=".jsonl", dir=folder)
        part = Part(Path(name))
        with os.fdopen(handle, "wb") as file:
            while pending is not None and part.fits(pending[2]):
                custom_id, index, line = pending
                file.write(line)
                part.custom_ids[custom_id] = index
                part.size += len(line)
                pending = next(lines, None)
        yield part


def request_line(custom_id: str, item: Item) -> bytes:
    """One line of an input file: the item's request as the Batch API takes it."""
    call = item.call
    assert call is not None
    body = edit_json_body(call) if call.files else dict(call.json or {})
    line = {"custom_id": custom_id, "method": "POST", "url": _endpoint(call), "body": body}
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def _endpoint(call: Call) -> str:
    return "/v1" + call.path


def _groups(items: Iterable[Item]) -> dict[tuple[str, str | None], list[Item]]:
    """Items by (endpoint, model), in item order: a batch has one of each."""
    groups: dict[tuple[str, str | None], list[Item]] = {}
    for item in items:
        assert item.call is not None
        groups.setdefault((_endpoint(item.call), item.call.meta.get("model")), []).append(item)
    return groups


# -- polling ---------------------------------------------------------------------------------
def _poll(client: Client, batch_id: str) -> dict[str, Any] | None:
    """The batch's object, or None after a failure that the next poll may not meet."""
    try:
        state: dict[str, Any] = client._run(build_batch_retrieve(batch_id))
    except PASSING:
        return None
    return state


def _cancel_batches(client: Client, batches: list[dict[str, Any]]) -> None:
    for batch in batches:
        with suppress(NbImagesError):  # one that ended meanwhile cannot be cancelled: it is collected as it is
            client._run(build_batch_cancel(batch["id"]))


# -- collecting --------------------------------------------------------------------------------
class Collector:
    """Reports every item of one ended batch to its run, from the batch's output and error files."""

    def __init__(self, run: Run, client: Client, batch: dict[str, Any], state: dict[str, Any]) -> None:
        self.run, self.client, self.batch, self.state = run, client, batch, state
        self.items = {str(k): int(v) for k, v in batch["custom_ids"].items()}
        pending = {item.index for item in run.todo()}
        self.pending = {index for index in self.items.values() if index in pending}

    def collect(self) -> None:
        for file_id in (self.state.get("output_file_id"), self.state.get("error_file_id")):
            if isinstance(file_id, str) and file_id:
                for line in self.client._lines(build_file_content(file_id)):
                    if line.strip():
                        self._report(json.loads(line))
        self._report_missing()
        self.run._batch_collected(self.batch["id"], str(self.state.get("status")))

    def _report(self, line: dict[str, Any]) -> None:
        index = self.items.get(str(line.get("custom_id")))
        if index not in self.pending:
            return  # not this run's, or reported already (a second collection after a restart)
        assert index is not None
        response = line.get("response")
        if isinstance(response, dict) and response.get("status_code") == 200:
            self._done(index, response)
            return
        error = _line_error(line)
        if error.code != "batch_cancelled":  # never run, never paid: left to a later run
            self.run._item_failed(index, error)
        self.pending.discard(index)

    def _done(self, index: int, response: dict[str, Any]) -> None:
        try:
            images = images_from_reply(redact_json(response.get("body") or {}), self._meta(index))
        except MalformedPayload as exc:
            self.run._item_failed(index, APIError(f"the batch's reply for this item is malformed: {exc}",
                                                  status=200, code="malformed_response"))
        else:
            self._save(index, images)
        self.pending.discard(index)

    def _save(self, index: int, images: list[Image]) -> None:
        self.run._item_done(index, images, record_usage=False)
        if images:
            self.run._ledger(images, batch=True)

    def _meta(self, index: int) -> dict[str, Any]:
        """What the image's provenance says was asked: the item's call's, or, for an item read
        back from the run's record, its parameters."""
        item = self.run.item(index)
        if item.call is not None:
            return item.call.meta
        options = {k: v for k, v in item.params.items() if k not in _INPUT_KEYS}
        endpoint = str(self.batch["endpoint"]).removeprefix("/v1/")
        return {"prompt": item.prompt, "model": self.batch.get("model"), "params": {**options, "endpoint": endpoint}}

    def _report_missing(self) -> None:
        """Items neither file mentions: a batch that failed validation ran none of them."""
        status = self.state.get("status")
        if status == "cancelled" or not self.pending:
            return
        error = _batch_error(self.state) or NbImagesError(
            f"batch {self.batch['id']} ended {status} without a result for this request")
        for index in sorted(self.pending):
            self.run._item_failed(index, error)


def _line_error(line: dict[str, Any]) -> APIError:
    """An error line as the client maps an error reply (`api_error`); a request the batch did
    not run has no reply, only a code."""
    import httpx

    response = line.get("response")
    if isinstance(response, dict):
        reply = httpx.Response(int(response.get("status_code") or 500), json=response.get("body"),
                               headers={"x-request-id": str(response.get("request_id") or "")})
        return api_error(reply)
    found = line.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(error.get("code") or "batch_error")
    status = 408 if code == "batch_expired" else 400
    return error_class(status, code)(str(error.get("message") or "the batch ran no request for this item"),
                                     status=status, code=code)


def _batch_error(state: dict[str, Any]) -> APIError | None:
    """Why a batch failed as a whole (its input did not validate), from its ``errors``."""
    found = state.get("errors")
    errors = found.get("data") if isinstance(found, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    first = errors[0]
    line = f" (line {first['line']})" if first.get("line") else ""
    return APIError(f"batch {state.get('id')} failed: {first.get('message')}{line}", status=400,
                    code=first.get("code"))


def _fail_unsent(run: Run) -> None:
    """Items read back from a record (no call to send) that no batch holds: the kernel that
    made the run stopped before sending them."""
    sent = {int(index) for batch in run.batches for index in batch["custom_ids"].values()}
    for item in run.todo():
        if item.call is None and item.index not in sent:
            run._item_failed(item.index, NbImagesError(
                "not sent: the kernel stopped before its batch was made; run generate_many again to request it"))

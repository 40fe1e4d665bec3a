"""The Batch API: ``POST /batches``, ``GET /batches/{id}``, ``GET /batches`` and
``POST /batches/{id}/cancel``, for ``/v1/images/generations``, ``/v1/images/edits`` and
``/v1/responses`` (this simulator has no Chat Completions: such a batch is refused).

A batch runs in its own thread, at the simulator's pace (`BatchPace`), so that a client
sees it go ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed``:

- validating: the whole input file is read, a line at a time; a line that is not JSON, a
  URL other than the batch's endpoint, a method other than POST, a duplicate
  ``custom_id`` or a second model fail the batch (``failed``, with ``errors.data``);
- in_progress: each line's body goes through the simulator's own endpoint (no HTTP, no
  rate limit, no fault plan); a 200 goes to the output file, any other status to the
  error file, as the API writes them (``{"id", "custom_id", "response": {"status_code",
  "request_id", "body"}, "error": null}``); a streamed request is refused per line;
- cancelling (``POST /cancel``) or the completion window running out stops it between
  two requests: what ran is kept in the output and error files, the requests that did
  not run go to the error file with ``error.code`` ``batch_cancelled`` or
  ``batch_expired``; the batch ends ``cancelled`` or ``expired``.

Batches live as long as their `Simulator` (with ``nbimages serve``, as long as the
server): a client may reattach to a batch from a new process only through a server.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .files_api import file_object
from .incoming import Request
from .params import int_param
from .protocol import APIError, SimResponse, dumps, missing_parameter, new_id
from .replies import error_reply, json_reply

if TYPE_CHECKING:
    from .state import Spool, State, StoredFile

ENDPOINTS = ("/v1/images/generations", "/v1/images/edits", "/v1/responses")
COMPLETION_WINDOW = "24h"
MAX_REQUESTS = 50_000
MAX_REPORTED_ERRORS = 100
MAX_METADATA = (16, 64, 512)  # keys, characters of a key, characters of a value

LineRunner = Callable[[str, dict[str, Any]], SimResponse]  # (url, body) -> the endpoint's reply
Record = dict[str, Any]


@dataclass(frozen=True)
class BatchPace:
    """How fast the simulator works through a batch (seconds)."""

    start_delay: float = 0.02  # validating, before the first request runs
    seconds_per_request: float = 0.005
    window: float = 24 * 3600.0  # a batch still running after this expires


# --------------------------------------------------------------------------- input lines


@dataclass(frozen=True)
class BatchLine:
    number: int  # 1-based, as the API counts the lines of an input file
    custom_id: str
    url: str
    body: dict[str, Any]


class LineError(Exception):
    """A line of an input file that fails the batch."""

    def __init__(self, line: int | None, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.record = {"code": code, "line": line, "message": message, "param": param}


def _numbered(stored: StoredFile) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of a file, with their line numbers."""
    for number, raw in enumerate(stored.lines(), 1):
        if raw.strip():
            yield number, raw


def parse_line(number: int, raw: bytes, endpoint: str) -> BatchLine:
    try:
        value = json.loads(raw)
    except ValueError:
        raise LineError(number, "invalid_json_line", "This line is not parseable as valid JSON.") from None
    if not isinstance(value, dict):
        raise LineError(number, "invalid_json_line", "This line is not a JSON object.")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise LineError(number, "missing_required_parameter", "Missing required parameter: 'custom_id'.",
                        "custom_id")
    if value.get("method") != "POST":
        raise LineError(number, "invalid_method", "The method for this request must be POST.", "method")
    if value.get("url") != endpoint:
        raise LineError(number, "invalid_url", "The URL provided for this request does not match the "
                        f"batch endpoint ({endpoint}).", "url")
    if not isinstance(value.get("body"), dict):
        raise LineError(number, "invalid_request", "The body of this request must be a JSON object.", "body")
    return BatchLine(number, custom_id, endpoint, value["body"])


@dataclass
class Checked:
    """What validating an input file found."""

    requests: int = 0
    model: str | None = None
    errors: list[Record] | None = None


def validate(stored: StoredFile, endpoint: str) -> Checked:
    """Read the whole file once: its request count and model, or the errors that fail it."""
    checked, errors, seen = Checked(), [], set[str]()
    for number, raw in _numbered(stored):
        try:
            line = parse_line(number, raw, endpoint)
            _check_unique(line, seen, checked)
        except LineError as exc:
            errors.append(exc.record)
            continue
        checked.requests += 1
    if checked.requests > MAX_REQUESTS:
        errors.append(LineError(None, "too_many_requests", f"The input file holds {checked.requests} requests; "
                                f"a batch takes at most {MAX_REQUESTS}.").record)
    if not errors and not checked.requests:
        errors.append(LineError(None, "empty_file", "The batch input file is empty.").record)
    checked.errors = errors[:MAX_REPORTED_ERRORS] or None
    return checked


def _check_unique(line: BatchLine, seen: set[str], checked: Checked) -> None:
    if line.custom_id in seen:
        raise LineError(line.number, "duplicate_custom_id", "The custom_id for this request is a duplicate of "
                        "another request. The custom_id parameter must be unique for each request in a batch.",
                        "custom_id")
    seen.add(line.custom_id)
    model = line.body.get("model")
    if checked.requests and model != checked.model:
        raise LineError(line.number, "mismatched_model", "The model for this request does not match the model "
                        "of the other requests in the batch: a batch uses one model.", "body.model")
    checked.model = model


# --------------------------------------------------------------------------- one batch


class BatchJob:
    """One batch: its object (behind a lock, read and written from two threads) and the
    flags its thread watches."""

    def __init__(self, obj: Record, pace: BatchPace) -> None:
        self._obj = obj
        self._lock = threading.Lock()
        self.deadline = time.time() + pace.window
        self.wake = threading.Event()  # ends a pause early: a cancel, or the simulator's reset
        self.cancelled = False
        self.abandoned = False

    @property
    def id(self) -> str:
        return str(self._obj["id"])

    def field(self, name: str) -> Any:
        with self._lock:
            return self._obj[name]

    def snapshot(self) -> Record:
        with self._lock:
            return copy.deepcopy(self._obj)

    def update(self, status: str | None = None, **fields: Any) -> None:
        """Set fields; a new status also sets its ``{status}_at`` timestamp."""
        with self._lock:
            if status is not None:
                self._obj["status"] = status
                self._obj[f"{status}_at"] = int(time.time())
            self._obj.update(fields)

    def count(self, ok: bool, usage: Any) -> None:
        with self._lock:
            self._obj["request_counts"]["completed" if ok else "failed"] += 1
            if isinstance(usage, dict):
                _add_usage(self._obj["usage"], usage)

    def cancel(self) -> Record:
        with self._lock:
            status = self._obj["status"]
            if status not in ("validating", "in_progress", "cancelling"):
                raise APIError(400, f"Cannot cancel a batch with status '{status}'.", code="invalid_state")
        if status != "cancelling":
            self.cancelled = True
            self.update("cancelling")
            self.wake.set()
        return self.snapshot()

    def stop_reason(self) -> str | None:
        """Why the batch should stop before its next request, if it should."""
        if self.abandoned or self.cancelled:
            return "abandoned" if self.abandoned else "cancelled"
        return "expired" if time.time() >= self.deadline else None

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.wake.wait(seconds)


def _add_usage(total: Record, usage: Record) -> None:
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        value = usage.get(key)
        if isinstance(value, int):
            total[key] += value


def new_batch(input_file_id: str, endpoint: str, metadata: Any, pace: BatchPace) -> Record:
    created = int(time.time())
    timestamps = ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
                  "cancelling_at", "cancelled_at")
    return {"id": new_id("batch_", 12), "object": "batch", "endpoint": endpoint, "model": None,
            "errors": None, "input_file_id": input_file_id, "completion_window": COMPLETION_WINDOW,
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": created, "expires_at": created + int(pace.window),
            **dict.fromkeys(timestamps), "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "usage": {"input_tokens": 0, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 0,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 0},
            "metadata": metadata}


# --------------------------------------------------------------------------- running a batch


STREAM_REFUSED = APIError(400, "Streaming is not supported in the Batch API: remove 'stream' from the "
                          "request body.", param="stream", code="invalid_value")
UNEXECUTED = {
    "cancelled": ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
}


class BatchRunner:
    """Works through one batch in its thread: validate, run each line, write the files."""

    def __init__(self, job: BatchJob, input_file: StoredFile, state: State, run_line: LineRunner,
                 pace: BatchPace) -> None:
        self.job, self.input_file, self.state = job, input_file, state
        self.run_line, self.pace = run_line, pace

    def __call__(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug must end the batch, not leave it in progress for ever
            self.job.update("failed", errors={"object": "list", "data": [
                LineError(None, "simulator_error", f"The simulator failed: {type(exc).__name__}: {exc}").record]})

    def _run(self) -> None:
        job = self.job
        job.pause(self.pace.start_delay)
        if job.abandoned:
            return
        if job.cancelled:
            job.update("cancelled")
            return
        checked = validate(self.input_file, job.field("endpoint"))
        if checked.errors:
            job.update("failed", errors={"object": "list", "data": checked.errors})
            return
        job.update("in_progress", model=checked.model,
                   request_counts={"total": checked.requests, "completed": 0, "failed": 0})
        output, errors = self.state.spool(), self.state.spool()
        stop = self._execute_all(output, errors)
        if stop == "abandoned":
            output.discard()
            errors.discard()
            return
        self._finish(stop, output, errors)

    def _execute_all(self, output: Spool, errors: Spool) -> str | None:
        """Run every line, or stop early: why it stopped (None: every line ran)."""
        lines = (parse_line(number, raw, self.job.field("endpoint"))
                 for number, raw in _numbered(self.input_file))
        for line in lines:
            stop = self.job.stop_reason()
            if stop is not None:
                if stop in UNEXECUTED:
                    for skipped in itertools.chain([line], lines):
                        errors.write(_unexecuted(skipped, stop))
                return stop
            reply = self._execute(line)
            ok = reply.status == 200
            (output if ok else errors).write(_result_line(line.custom_id, reply))
            self.job.count(ok, reply.json_value.get("usage") if ok else None)
            self.job.pause(self.pace.seconds_per_request)
        return None

    def _execute(self, line: BatchLine) -> SimResponse:
        if line.body.get("stream"):
            return error_reply(STREAM_REFUSED)
        return self.run_line(line.url, line.body)

    def _finish(self, stop: str | None, output: Spool, errors: Spool) -> None:
        if stop is None:
            self.job.update("finalizing")
            self.job.pause(self.pace.seconds_per_request)
        self.job.update(stop or "completed",
                        output_file_id=self._keep(output, "output"), error_file_id=self._keep(errors, "error"))

    def _keep(self, spool: Spool, kind: str) -> str | None:
        """The spool as a file of the Files API (purpose ``batch_output``); None if empty."""
        if not spool.size:
            spool.discard()
            return None
        obj = file_object(f"{self.job.id}_{kind}.jsonl", spool.size, "batch_output")
        self.state.keep_file(obj["id"], spool.finish(obj))
        return str(obj["id"])


def _result_line(custom_id: str, reply: SimResponse) -> bytes:
    """The line of the output or error file for a request that ran: the endpoint's JSON reply
    goes in as the bytes it sent, last in ``response``."""
    head = dumps({"id": new_id("batch_req_", 16), "custom_id": custom_id,
                  "response": {"status_code": reply.status, "request_id": "req_" + uuid.uuid4().hex}})
    return head[:-len(b"}}")] + b',"body":' + reply.body + b'},"error":null}\n'


def _unexecuted(line: BatchLine, stop: str) -> bytes:
    code, message = UNEXECUTED[stop]
    return dumps({"id": new_id("batch_req_", 16), "custom_id": line.custom_id, "response": None,
                  "error": {"code": code, "message": message}}) + b"\n"


# --------------------------------------------------------------------------- the endpoints


class Batches:
    """The batches of one simulator; each runs in a daemon thread of its own."""

    def __init__(self, state: State, run_line: LineRunner, pace: BatchPace) -> None:
        self.state = state
        self.run_line = run_line
        self.pace = pace
        self._lock = threading.Lock()
        self._jobs: dict[str, BatchJob] = {}  # oldest first
        self._threads: list[threading.Thread] = []

    def route(self, req: Request, parts: list[str]) -> SimResponse:
        """``parts``: the path's segments, ``["batches", ...]``."""
        if len(parts) == 1 and req.method == "POST":
            return json_reply(200, self.create(req.json_object()))
        if len(parts) == 1 and req.method == "GET":
            return json_reply(200, self.page(req.query))
        if len(parts) == 2 and req.method == "GET":
            return json_reply(200, self.job(parts[1]).snapshot())
        if len(parts) == 3 and parts[2] == "cancel" and req.method == "POST":
            return json_reply(200, self.job(parts[1]).cancel())
        if len(parts) <= 2:
            raise APIError(405, f"Method {req.method} not allowed for {req.full_path}.", code="method_not_allowed")
        raise APIError(404, f"Invalid URL ({req.method} {req.full_path})", code="unknown_url")

    def create(self, params: dict[str, Any]) -> Record:
        input_file_id, endpoint, metadata = _create_params(params)
        stored = self.state.stored_file(input_file_id, "input_file_id")
        if stored.obj.get("purpose") != "batch":
            raise APIError(400, f"File {input_file_id} has purpose '{stored.obj.get('purpose')}'; a batch's "
                           "input file must be uploaded with purpose 'batch'.", param="input_file_id",
                           code="invalid_value")
        job = BatchJob(new_batch(input_file_id, endpoint, metadata, self.pace), self.pace)
        thread = threading.Thread(target=BatchRunner(job, stored, self.state, self.run_line, self.pace),
                                  name=f"nbimages-batch:{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job.snapshot()

    def job(self, batch_id: str) -> BatchJob:
        with self._lock:
            job = self._jobs.get(batch_id)
        if job is None:
            raise APIError(404, f"No batch found with id '{batch_id}'.", param="batch_id", code="batch_not_found")
        return job

    def page(self, query: dict[str, list[str]]) -> Record:
        """Newest first, ``limit`` (1..100, default 20) after the batch ``after``."""
        limit = int_param(query.get("limit", [None])[0], "limit", 1, 100, 20)
        after = query.get("after", [None])[0]
        with self._lock:
            jobs = list(reversed(self._jobs.values()))
        ids = [job.id for job in jobs]
        start = ids.index(after) + 1 if after in ids else 0
        data = [job.snapshot() for job in jobs[start:start + limit]]
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": start + limit < len(jobs)}

    def clear(self, timeout: float = 2.0) -> None:
        """Forget every batch; running ones stop before their next request, writing nothing."""
        with self._lock:
            jobs, threads = list(self._jobs.values()), self._threads
            self._jobs, self._threads = {}, []
        for job in jobs:
            job.abandoned = True
            job.wake.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _create_params(params: dict[str, Any]) -> tuple[str, str, dict[str, str] | None]:
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not params.get(name):
            raise missing_parameter(name)
    endpoint = params["endpoint"]
    if endpoint not in ENDPOINTS:
        raise APIError(400, f"Invalid value for 'endpoint': {endpoint!r}. This simulator runs batches for "
                       f"{', '.join(ENDPOINTS)}.", param="endpoint", code="invalid_value")
    if params["completion_window"] != COMPLETION_WINDOW:
        raise APIError(400, f"Invalid value for 'completion_window': {params['completion_window']!r}. "
                       f"Supported values are: '{COMPLETION_WINDOW}'.", param="completion_window",
                       code="invalid_value")
    return str(params["input_file_id"]), endpoint, _metadata(params.get("metadata"))


def _metadata(value: Any) -> dict[str, str] | None:
    keys, key_chars, value_chars = MAX_METADATA
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) > keys
            or not all(isinstance(k, str) and isinstance(v, str) and len(k) <= key_chars and len(v) <= value_chars
                       for k, v in value.items())):
        raise APIError(400, f"Invalid 'metadata': at most {keys} string keys of up to {key_chars} characters, "
                       f"with string values of up to {value_chars} characters.", param="metadata",
                       code="invalid_value")
    return value


"""Run records: ``runs/<run_id>.json`` in the store, one per run, written atomically.

A record is written before the first request and rewritten as items finish, so that a later
kernel (`Run.load`, `runs`) sees what the run asked for and what it made. Its fields::

    id, created (ISO 8601), created_ts, updated, via ("live" or "batch"), status, batch_id,
    defaults, axes (the swept names), estimate_usd, pid,
    items: [{params, labels, key, images (stored image ids), error (one line), reused}],
    batches: [{id, endpoint, model, input_file_id, custom_ids ({custom id: item index}),
               collected (every result reported), status (once collected)}]

``batch_id`` is the first batch's id; a run larger than one batch may hold (the Batch API's
per-file limits, one endpoint and one model per batch) has several, all in ``batches``,
each written before the run waits on it.

Parameters are kept as the provenance keeps them (`clean_params`): input images as digests
or paths, never a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._atomic_write import atomic_write
from .errors import InvalidInputError, StoreError

__all__ = ["all_records", "read_record", "record_path", "write_record"]

_RUN_ID = re.compile(r"run_[0-9A-Za-z_-]{1,64}")


def runs_dir(home: Path) -> Path:
    return home / "runs"


def record_path(home: Path, run_id: str) -> Path:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidInputError("run_id", run_id, "a run id such as 'run_20261125-101500-3f2a'")
    return runs_dir(home) / f"{run_id}.json"


def write_record(home: Path, record: dict[str, Any]) -> None:
    path = record_path(home, record["id"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Encoded piece by piece: a record of thousands of items is never one string in memory.
        pieces = json.JSONEncoder(ensure_ascii=False, indent=1).iterencode(record)
        atomic_write(path, (piece.encode("utf-8") for piece in pieces))
    except OSError as exc:
        raise StoreError(f"the run record {path} could not be written: {exc.strerror or exc}") from exc


def read_record(home: Path, run_id: str) -> dict[str, Any]:
    path = record_path(home, run_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyError(f"no run {run_id} in the store at {home}") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"the run record {path} cannot be read: {exc}") from exc
    if not isinstance(record, dict) or record.get("id") != run_id:
        raise StoreError(f"the run record {path} is not one nbimages wrote")
    return record


def all_records(home: Path) -> Iterator[dict[str, Any]]:
    """Every readable record (a damaged one is skipped)."""
    folder = runs_dir(home)
    if not folder.is_dir():
        return
    for path in folder.glob("run_*.json"):
        try:
            yield read_record(home, path.stem)
        except (StoreError, KeyError, InvalidInputError):
            continue

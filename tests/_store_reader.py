"""A reader browsing a store while other processes write into it (import with ``from _store_reader import ...``)."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from nbimages.store import Store


def counts_while_running(home: Path, procs: list[subprocess.Popen[Any]], interval: float = 0.01) -> list[int]:
    """The image counts a gallery would show, read over and over until every writer has exited."""
    reader = Store(home)
    seen: list[int] = []
    while any(proc.poll() is None for proc in procs):
        if reader.db_path.exists():
            try:
                seen.append(reader.count())
                reader.list(limit=5)
            except sqlite3.OperationalError as exc:  # the first writer may still be creating the schema
                assert "no such table" in str(exc)
        time.sleep(interval)
    return seen

"""The store's SQLite index: its schema, its connections, and what is done when they fail.

Every operation opens its own short-lived connection: the store is shared by kernel threads
and by several processes at once. The file is in WAL mode, so readers (the gallery) work
while another process writes. A damaged file is set aside (never deleted) and rebuilt from
the image files; a store that cannot be written (a read-only disk or folder) is read as it
is. Every failure reaches the caller as a `StoreError`.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .errors import StoreError

__all__ = ["BUSY_TIMEOUT_S", "COLUMNS", "Index", "os_reason"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS images (
        id TEXT PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        prompt TEXT,
        revised_prompt TEXT,
        model TEXT,
        created REAL NOT NULL,
        width INTEGER,
        height INTEGER,
        format TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        response_id TEXT,
        call_id TEXT,
        parent TEXT,
        cache_key TEXT,
        sha256 TEXT NOT NULL,
        usage TEXT,
        source TEXT,
        fingerprint TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS images_kind_created ON images (kind, created)",
    "CREATE INDEX IF NOT EXISTS images_cache_key ON images (cache_key)",
    "CREATE INDEX IF NOT EXISTS images_sha256 ON images (sha256)",
    "CREATE INDEX IF NOT EXISTS images_fingerprint ON images (fingerprint)",
    "CREATE INDEX IF NOT EXISTS images_response_id ON images (response_id)",
    """CREATE TABLE IF NOT EXISTS usage (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        model TEXT,
        endpoint TEXT NOT NULL,
        images INTEGER NOT NULL DEFAULT 0,
        input_tokens INTEGER,
        output_tokens INTEGER,
        total_tokens INTEGER,
        quality TEXT,
        size TEXT,
        cost REAL,
        response_id TEXT,
        cached INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS usage_model ON usage (model)",
    "CREATE INDEX IF NOT EXISTS usage_time ON usage (time)",
)

# The columns of the images table, in the order rows are written and read.
COLUMNS = (
    "id, path, kind, prompt, revised_prompt, model, created, width, height, format, params, "
    "response_id, call_id, parent, cache_key, sha256, usage, source, fingerprint"
)


class Index:
    """The index file ``index.sqlite`` in the store's ``home``.

    ``rebuild`` indexes the image files again (into a new, empty index) and returns how many
    it found: it is called after a damaged file was set aside.
    """

    def __init__(self, home: Path, rebuild: Callable[[], int]) -> None:
        self.home = home
        self.path = home / "index.sqlite"
        self._rebuild = rebuild
        self._schema_ready = False
        self._lock = threading.Lock()

    @contextmanager
    def connect(self, *, read_only_ok: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection to the index with its schema ready; every failure is a `StoreError`.

        A damaged index is set aside and rebuilt from the image files. With ``read_only_ok``
        (readers), a store that cannot be written is read as it is.
        """
        conn = self._connect(read_only_ok)
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            if _is_damaged(exc):
                conn.close()
                self._set_aside_and_rebuild(exc)
                raise StoreError(f"the index of the store at {self.home} was damaged; it was rebuilt "
                                 "from the image files: try again") from exc
            raise StoreError(f"the index of the store at {self.home} failed: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken up front, so writers queue instead of deadlocking)."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _connect(self, read_only_ok: bool) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if _is_damaged(exc):
                self._set_aside_and_rebuild(exc)
                return self._open()
            if read_only_ok:
                return self._open_read_only(exc)
            raise StoreError(f"the index of the store at {self.home} cannot be used: {exc}") from exc
        except OSError as exc:
            if read_only_ok:
                return self._open_read_only(exc)
            raise StoreError(f"the store at {self.home} cannot be used: {os_reason(exc)}") from exc

    def _open(self) -> sqlite3.Connection:
        if self.home.exists() and not self.home.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(self.home))
        self.home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA user_version").fetchone()  # reads the header: a damaged file fails here
            if not self._schema_ready:
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self, why: BaseException) -> sqlite3.Connection:
        """The index of a store that cannot be written (a read-only disk or folder), read as it is.

        ``immutable`` because SQLite cannot make its lock files there; nobody can write it either.
        """
        if not self.path.is_file():  # nothing was ever indexed here: an empty store
            conn = sqlite3.connect(":memory:", isolation_level=None)
            for statement in _SCHEMA:
                conn.execute(statement)
            return conn
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"the index of the store at {self.home} cannot be read: {exc} (after: {why})") from exc
        return conn

    def _set_aside_and_rebuild(self, exc: BaseException) -> None:
        """Set the damaged index aside (never delete it) and index the image files again."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{secrets.token_hex(2)}")
        with self._lock:
            with suppress(FileNotFoundError):  # another process may have set it aside first
                os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with suppress(OSError):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            self._schema_ready = False
        added = self._rebuild()
        warnings.warn(f"nbimages: the index of the store was damaged ({exc}); it was set aside as {aside.name} "
                      f"and rebuilt from the image files ({added} found)", RuntimeWarning, stacklevel=4)

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        _use_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._schema_ready = True


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the index to WAL, so readers (the gallery) work while another process writes.

    Switching does not wait on SQLite's busy handler: when several processes open a new
    store at once, retry until the first one has switched it (the mode is persistent).
    A filesystem without WAL support keeps its mode.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


_DAMAGED_MESSAGES = ("file is not a database", "database disk image is malformed")


def _is_damaged(exc: BaseException) -> bool:
    """SQLite's words for a file that is not (or no longer) a usable database."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) \
        and any(words in str(exc) for words in _DAMAGED_MESSAGES)


def os_reason(exc: OSError) -> str:
    """An OSError in a few words: its reason and the file it names."""
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else reason

"""The store: every completed image on disk with its provenance, indexed in SQLite.

Layout of the store's home (``NBIMAGES_HOME``, else the user's data folder)::

    images/YYYY-MM-DD/HHMMSS-<id>.png      provenance inside, as PNG text chunks
    images/YYYY-MM-DD/HHMMSS-<id>.jpg      bytes as sent, plus ...
    images/YYYY-MM-DD/HHMMSS-<id>.jpg.json ... a sidecar with the provenance
    thumbs/<id>-<side>.png|jpg             thumbnail cache
    index.sqlite                           images, usage ledger (WAL mode)

Files are written to a temporary name, fsynced, then renamed into place: a reader or a
crash never sees half an image. The index is written after the file, so the worst a crash
can do is leave a file the index does not know yet (`Store.reindex` picks it up).
Every store operation opens its own short-lived SQLite connection: the store is shared by
kernel threads and by several processes at once.

Nothing that could authenticate a request is written anywhere: keys that look like
credentials or headers are dropped from parameters, and values that look like API keys
are redacted.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import _png_text
from . import __version__
from ._digest import sha256_hex
from ._secrets import is_secret_key, redact
from .errors import InvalidInputError, StoreError
from .image import DECODE_ERRORS, Image, Usage, decode_error_text, decode_problem, header_problem

__all__ = ["StoredImage", "Store", "default_home", "default_store", "read_provenance"]

SCHEMA_VERSION = 1
PROVENANCE_KEY = "nbimages"
PARAMETERS_KEY = "parameters"
KINDS = ("final", "partial")
BUSY_TIMEOUT_S = 30.0
MAX_PARAM_CHARS = 2048

_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}

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

_COLUMNS = (
    "id, path, kind, prompt, revised_prompt, model, created, width, height, format, params, "
    "response_id, call_id, parent, cache_key, sha256, usage, source, fingerprint"
)


# -- where the store lives ---------------------------------------------------------------
def default_home() -> Path:
    """``NBIMAGES_HOME``, else the platform's per-user data folder + ``nbimages``."""
    env = os.environ.get("NBIMAGES_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "nbimages"


def _clean(value: Any) -> Any:
    """JSON-safe, secret-free, bounded copy of request parameters for the provenance."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        # Data URLs and other huge values (input images, masks) are kept as a digest.
        if value.startswith("data:") or len(value) > MAX_PARAM_CHARS:
            return {"sha256": sha256_hex(value.encode("utf-8")), "chars": len(value)}
        return redact(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": sha256_hex(bytes(value)), "bytes": len(value)}
    if isinstance(value, Image):
        return {"sha256": sha256_hex(value.data), "bytes": len(value.data), "format": value.format}
    if isinstance(value, Path):
        return str(value)
    return redact(str(value))[:MAX_PARAM_CHARS]


def _clean_text(value: str | None) -> str | None:
    return None if value is None else redact(value)


# -- cache keys ----------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    """A JSON-able form of a request where images stand for the hash of their content."""
    if isinstance(value, dict):
        return {
            str(k): _canonical(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if v is not None and not is_secret_key(k)
        }
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": sha256_hex(bytes(value))}
    if isinstance(value, Image):
        return {"sha256": sha256_hex(value.data)}
    if isinstance(value, Path):
        return {"sha256": sha256_hex(value.read_bytes())} if value.is_file() else str(value)
    if hasattr(value, "tobytes") and hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy
        return {"array_sha256": sha256_hex(value.tobytes()), "shape": list(value.shape), "dtype": str(value.dtype)}
    if hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL
        return {"pixels_sha256": sha256_hex(value.tobytes()), "mode": value.mode, "size": list(value.size)}
    return str(value)


# -- provenance ----------------------------------------------------------------------------
def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat()


def _timestamp(iso: Any) -> float | None:
    if isinstance(iso, (int, float)):
        return float(iso)
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def _a1111_quote(text: str) -> str:
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _parameters_text(prov: dict[str, Any], image: Image) -> str:
    """A1111-style ``parameters``: the prompt, then one ``Key: value, ...`` line."""
    params = prov.get("params") or {}
    size = params.get("size")
    if not isinstance(size, str) or size == "auto":
        size = f"{image.width}x{image.height}" if image.width and image.height else size
    fields = [
        ("Model", prov.get("model")),
        ("Size", size),
        ("Quality", params.get("quality")),
        ("Background", params.get("background")),
        ("Format", params.get("output_format") or image.format),
        ("Revised prompt", prov.get("revised_prompt")),
        ("Response", prov.get("response_id")),
        ("Created", prov.get("created")),
        ("Generator", f"nbimages {__version__}"),
    ]
    line = ", ".join(f"{k}: {_a1111_quote(str(v))}" for k, v in fields if v not in (None, ""))
    return f"{prov.get('prompt') or ''}\n{line}"


def _provenance(image: Image, image_id: str, kind: str, created: float) -> dict[str, Any]:
    return {
        "nbimages": __version__,
        "id": image_id,
        "kind": kind,
        "prompt": _clean_text(image.prompt),
        "revised_prompt": _clean_text(image.revised_prompt),
        "model": image.model,
        "params": _clean(dict(image.params or {})),
        "response_id": image.response_id,
        "call_id": image.call_id,
        "parent": image.parent,
        "source": _clean_text(image.source),
        "created": _iso(created),
        "usage": image.usage.to_dict() if image.usage is not None else None,
    }


def _embed(data: bytes, prov: dict[str, Any], image: Image) -> bytes | None:
    """The PNG with provenance chunks added after IHDR, or None if it is not a valid PNG."""
    if not _png_text.is_png(data):
        return None
    try:
        if PROVENANCE_KEY in _png_text.read_text(data):
            # Saved by nbimages before: replace our own chunks, keep everything else.
            data = _png_text.remove_text(data, (PROVENANCE_KEY, PARAMETERS_KEY))
        chunks = [
            _png_text.itxt_chunk(PROVENANCE_KEY, json.dumps(prov, ensure_ascii=False, sort_keys=True)),
            _png_text.text_chunk(PARAMETERS_KEY, _parameters_text(prov, image)),
        ]
        return _png_text.insert_after_ihdr(data, chunks)
    except ValueError:
        return None


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_provenance(path_or_bytes: str | Path | bytes | Image) -> dict[str, Any]:
    """Provenance of a stored file: its ``nbimages`` PNG chunk or its JSON sidecar ({} if none)."""
    path: Path | None
    if isinstance(path_or_bytes, Image):
        data, path = path_or_bytes.data, path_or_bytes.path
    elif isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, path = bytes(path_or_bytes), None
    else:
        path = Path(path_or_bytes)
        data = path.read_bytes()
    if _png_text.is_png(data):
        try:
            text = _png_text.read_text(data).get(PROVENANCE_KEY)
        except ValueError:
            text = None
        if text:
            with suppress(ValueError):
                found = json.loads(text)
                if isinstance(found, dict):
                    return found
    if path is not None and _sidecar_path(path).is_file():
        with suppress(ValueError):
            found = json.loads(_sidecar_path(path).read_text(encoding="utf-8"))
            if isinstance(found, dict):
                return found
    return {}


# -- files -----------------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` all at once: a temporary file, fsync, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _extension(image: Image) -> str:
    if image.format in _EXTENSIONS:
        return _EXTENSIONS[image.format]
    head = image.data[:256].lstrip()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in image.data[:4096]):
        return "svg"
    return "bin"


# -- records ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredImage:
    """One row of the index: where an image is and where it came from."""

    id: str
    path: Path
    prompt: str | None
    revised_prompt: str | None
    model: str | None
    created: float
    width: int | None
    height: int | None
    format: str | None
    params: dict[str, Any]
    response_id: str | None
    call_id: str | None
    parent: str | None
    kind: str
    cache_key: str | None = None
    sha256: str | None = None
    usage: Usage | None = field(default=None, repr=False)
    source: str | None = None

    def load(self) -> Image:
        """The stored bytes as an `Image`, with its provenance (`StoreError` if the file is gone)."""
        from .inputs import read_image_file

        try:
            data = read_image_file(self.path, "path")
        except InvalidInputError as exc:
            reason = "No such file" if not self.path.exists() else exc.expected
            raise StoreError(f"the file of stored image {self.id} cannot be read: {reason}: {self.path}") from exc
        return Image(
            data,
            prompt=self.prompt,
            revised_prompt=self.revised_prompt,
            model=self.model,
            params=dict(self.params),
            response_id=self.response_id,
            call_id=self.call_id,
            usage=self.usage,
            path=self.path,
            parent=self.parent,
            created=self.created,
            source=self.source,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (for galleries and listings)."""
        return {
            "id": self.id,
            "path": str(self.path),
            "prompt": self.prompt,
            "revised_prompt": self.revised_prompt,
            "model": self.model,
            "created": self.created,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "params": dict(self.params),
            "response_id": self.response_id,
            "call_id": self.call_id,
            "parent": self.parent,
            "kind": self.kind,
        }


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


# -- the store -------------------------------------------------------------------------------
class Store:
    """Images on disk with provenance, an SQLite index, a request cache and a usage ledger."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.images_dir = self.home / "images"
        self.thumbs_dir = self.home / "thumbs"
        self.db_path = self.home / "index.sqlite"
        self._schema_ready = False
        self._lock = threading.Lock()
        # Image objects already saved by this store -> what save() returned for them.
        self._saved: weakref.WeakKeyDictionary[Image, Image] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Store({str(self.home)!r})"

    # -- database ---------------------------------------------------------------------
    @contextmanager
    def _db(self, *, read_only_ok: bool = False) -> Iterator[sqlite3.Connection]:
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
                self._rebuild_damaged_index(exc)
                raise StoreError(f"the index of the store at {self.home} was damaged; it was rebuilt "
                                 "from the image files: try again") from exc
            raise StoreError(f"the index of the store at {self.home} failed: {exc}") from exc
        finally:
            conn.close()

    def _connect(self, read_only_ok: bool) -> sqlite3.Connection:
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if _is_damaged(exc):
                self._rebuild_damaged_index(exc)
                return self._open()
            if read_only_ok:
                return self._open_read_only(exc)
            raise StoreError(f"the index of the store at {self.home} cannot be used: {exc}") from exc
        except OSError as exc:
            if read_only_ok:
                return self._open_read_only(exc)
            raise StoreError(f"the store at {self.home} cannot be used: {_os_reason(exc)}") from exc

    def _open(self) -> sqlite3.Connection:
        if self.home.exists() and not self.home.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(self.home))
        self.home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
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
        if not self.db_path.is_file():  # nothing was ever indexed here: an empty store
            conn = sqlite3.connect(":memory:", isolation_level=None)
            for statement in _SCHEMA:
                conn.execute(statement)
            return conn
        try:
            conn = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"the index of the store at {self.home} cannot be read: {exc} (after: {why})") from exc
        return conn

    def _rebuild_damaged_index(self, exc: BaseException) -> None:
        """Set the damaged index aside (never delete it) and index the image files again."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.db_path.with_name(f"{self.db_path.name}.damaged-{stamp}-{secrets.token_hex(2)}")
        with self._lock:
            try:
                os.replace(self.db_path, aside)
            except FileNotFoundError:
                pass  # another process set it aside first
            for suffix in ("-wal", "-shm"):
                with suppress(OSError):
                    os.replace(f"{self.db_path}{suffix}", f"{aside}{suffix}")
            self._schema_ready = False
        added = self.reindex()
        warnings.warn(f"nbimages: the index of the store was damaged ({exc}); it was set aside as {aside.name} "
                      f"and rebuilt from the image files ({added} found)", RuntimeWarning, stacklevel=4)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (taken up front, so writers queue instead of deadlocking)."""
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

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

    def _record(self, row: sqlite3.Row | tuple[Any, ...]) -> StoredImage:
        (image_id, path, kind, prompt, revised, model, created, width, height, fmt, params,
         response_id, call_id, parent, cache_key, sha256, usage, source, _fingerprint) = row
        return StoredImage(
            id=image_id,
            path=self.home / path,
            prompt=prompt,
            revised_prompt=revised,
            model=model,
            created=created,
            width=width,
            height=height,
            format=fmt,
            params=_loads(params, {}),
            response_id=response_id,
            call_id=call_id,
            parent=parent,
            kind=kind,
            cache_key=cache_key,
            sha256=sha256,
            usage=Usage.from_dict(_loads(usage, None)),
            source=source,
        )

    def _select(self, where: str, args: tuple[Any, ...], tail: str = "") -> list[StoredImage]:
        with self._db(read_only_ok=True) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM images WHERE {where} {tail}", args).fetchall()
        return [self._record(row) for row in rows]

    # -- saving -----------------------------------------------------------------------
    def save(self, image: Image, *, cache_key: str | None = None, kind: str = "final") -> Image:
        """Write ``image`` (atomically) with its provenance, index it, and return it with its path.

        Saving the same `Image` again returns what the first save returned. The file is
        written before the index is touched: an index that cannot be read or written never
        stops an image from reaching the disk. A file that cannot be written raises
        `StoreError` (the caller still holds the image).
        """
        if not isinstance(image, Image):
            raise InvalidInputError("image", image, "an nbimages.Image")
        if kind not in KINDS:
            raise InvalidInputError("kind", kind, "'final' or 'partial'")
        known = self._earlier_save(image, kind)
        if known is not None:
            if cache_key is not None:
                with suppress(StoreError):  # only the cache misses out
                    self._attach_cache_key(known, cache_key)
            self._remember(image, known)
            return known
        try:
            saved, prov = self._write_file(image, kind)
        except OSError as exc:
            raise StoreError(f"could not save the image to the store at {self.home}: {_os_reason(exc)}") from exc
        try:
            self._index(saved, prov, kind, cache_key, _fingerprint(image, kind))
        except StoreError as exc:
            # The file is safe on disk; `reindex()` adds it to the index later.
            warnings.warn(f"nbimages: image saved to {saved.path} but not indexed ({exc})", RuntimeWarning,
                          stacklevel=2)
        self._remember(image, saved)
        return saved

    def _earlier_save(self, image: Image, kind: str) -> Image | None:
        with self._lock:
            known = self._saved.get(image)
        if known is not None:
            return known
        try:
            return self._already_stored(image, kind)
        except (StoreError, OSError):
            return None  # an unreadable index: this image is written as new

    def _write_file(self, image: Image, kind: str) -> tuple[Image, dict[str, Any]]:
        """The image (and a sidecar where its format has no text chunks) in its day's folder."""
        created = image.created if image.created is not None else time.time()
        day_dir = self.images_dir / time.strftime("%Y-%m-%d", time.localtime(created))
        day_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H%M%S", time.localtime(created))
        extension = _extension(image)
        while True:
            image_id = secrets.token_hex(6)
            path = day_dir / f"{stamp}-{image_id}.{extension}"
            if not path.exists() and not _sidecar_path(path).exists():
                break

        prov = _provenance(image, image_id, kind, created)
        data = _embed(image.data, prov, image) if image.format == "png" else None
        sidecar: Path | None = None
        if data is None:
            data = image.data
            sidecar = _sidecar_path(path)
            body = {**prov, "file": path.name, "sha256": sha256_hex(data)}
            _atomic_write(sidecar, json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))
        try:
            _atomic_write(path, data)
        except BaseException:
            if sidecar is not None:
                with suppress(OSError):
                    sidecar.unlink()
            raise
        return image.with_meta(path=path, data=data, created=created), prov

    def _remember(self, image: Image, saved: Image) -> None:
        with self._lock:
            self._saved[image] = saved
            self._saved[saved] = saved

    def _already_stored(self, image: Image, kind: str) -> Image | None:
        """The earlier save of this image: the same stored file, or the same image object
        saved by another store object or process."""
        records: list[StoredImage] = []
        if image.path is not None:
            try:
                relative = Path(image.path).resolve().relative_to(self.home.resolve())
            except (ValueError, OSError):
                relative = None
            if relative is not None:
                records = self._select("path = ?", (relative.as_posix(),))
                records = [r for r in records if r.sha256 == sha256_hex(image.data)]
        fingerprint = _fingerprint(image, kind)
        if not records and fingerprint is not None:
            records = self._select("fingerprint = ?", (fingerprint,), "ORDER BY created")
        for record in records:
            if record.path.is_file():
                return image.with_meta(path=record.path, data=record.path.read_bytes(), created=record.created)
        return None

    def _index(self, saved: Image, prov: dict[str, Any], kind: str, cache_key: str | None,
               fingerprint: str | None, *, or_ignore: bool = False) -> bool:
        """Add one saved file to the index; with ``or_ignore``, a row already there is kept."""
        assert saved.path is not None
        row = (
            prov["id"],
            saved.path.relative_to(self.home).as_posix(),
            kind,
            prov["prompt"],
            prov["revised_prompt"],
            prov["model"],
            saved.created,
            saved.width,
            saved.height,
            saved.format,
            json.dumps(prov["params"], ensure_ascii=False, sort_keys=True),
            prov["response_id"],
            prov["call_id"],
            prov["parent"],
            cache_key,
            sha256_hex(saved.data),
            json.dumps(prov["usage"]) if prov["usage"] is not None else None,
            prov["source"],
            fingerprint,
        )
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        with self._write() as conn:
            cursor = conn.execute(f"{verb} INTO images ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
            return cursor.rowcount > 0

    def _attach_cache_key(self, saved: Image, cache_key: str) -> None:
        if saved.path is None:
            return
        with self._write() as conn:
            conn.execute(
                "UPDATE images SET cache_key = ? WHERE path = ? AND cache_key IS NULL",
                (cache_key, saved.path.relative_to(self.home).as_posix()),
            )

    def reindex(self) -> int:
        """Add stored files the index does not know (e.g. after a crash); returns how many."""
        if not self.images_dir.is_dir():
            return 0
        with self._db() as conn:
            known = {row[0] for row in conn.execute("SELECT path FROM images")}
        added = 0
        for path in sorted(self.images_dir.glob("*/*")):
            relative = path.relative_to(self.home).as_posix()
            if path.name.startswith(".") or path.suffix == ".json" or relative in known or not path.is_file():
                continue
            try:
                added += self._index_file(path)
            except OSError:
                continue  # unreadable: left for a later reindex
        return added

    def _index_file(self, path: Path) -> bool:
        prov = read_provenance(path)
        image = Image(path.read_bytes(), path=path)
        created = _timestamp(prov.get("created")) or path.stat().st_mtime
        kind = prov.get("kind") if prov.get("kind") in KINDS else "final"
        usage = prov.get("usage") if isinstance(prov.get("usage"), dict) else None
        record = {
            "id": str(prov.get("id") or secrets.token_hex(6)),
            "prompt": prov.get("prompt"),
            "revised_prompt": prov.get("revised_prompt"),
            "model": prov.get("model"),
            "params": _clean(prov.get("params") or {}),
            "response_id": prov.get("response_id"),
            "call_id": prov.get("call_id"),
            "parent": prov.get("parent"),
            "source": prov.get("source"),
            "usage": usage,
        }
        return self._index(image.with_meta(created=created), record, kind, None, None, or_ignore=True)

    # -- cache ------------------------------------------------------------------------
    @staticmethod
    def cache_key(request: dict[str, Any]) -> str:
        """A stable key for a request: sha256 of its canonical JSON; input images count by
        their content hash, ``None`` values count as absent, credentials are ignored."""
        if not isinstance(request, dict):
            raise InvalidInputError("request", request, "a dict of request parameters")
        text = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return sha256_hex(text.encode("utf-8"))

    def lookup_all(self, cache_key: str) -> list[Image]:
        """Every final image saved with ``cache_key`` whose file is still there and still
        decodes, oldest first (a missing or damaged file is never replayed)."""
        records = self._select("cache_key = ? AND kind = 'final'", (cache_key,), "ORDER BY created, rowid")
        found = []
        for record in records:
            try:
                image = record.load()
            except StoreError:
                continue
            if decode_problem(image.data) is None:
                found.append(image)
        return found

    def lookup(self, cache_key: str) -> Image | None:
        """The most recent final image saved with ``cache_key`` (None if none, or its file is gone)."""
        found = self.lookup_all(cache_key)
        return found[-1] if found else None

    # -- usage ledger -----------------------------------------------------------------
    def record_usage(
        self,
        *,
        model: str | None,
        usage: Usage | None,
        endpoint: str,
        images: int = 1,
        quality: str | None = None,
        size: str | None = None,
        response_id: str | None = None,
        cached: bool = False,
    ) -> None:
        """Add one request to the ledger (``cached``: served from the store, nothing paid)."""
        from .prices import estimate_cost

        cost = 0.0 if cached else estimate_cost(model, quality, size, usage, images)
        row = (
            time.time(),
            model,
            endpoint,
            int(images),
            usage.input_tokens if usage else None,
            usage.output_tokens if usage else None,
            usage.total_tokens if usage else None,
            quality,
            size,
            cost,
            response_id,
            int(bool(cached)),
        )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO usage (time, model, endpoint, images, input_tokens, output_tokens, "
                "total_tokens, quality, size, cost, response_id, cached) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def usage_summary(self) -> list[dict[str, Any]]:
        """Per model: paid ``requests`` and ``images``, ``cached`` images (reused, not paid),
        tokens, and ``estimated_cost_usd`` (None when no paid request of the model has a
        known price; ``unpriced_requests`` counts those left out of the sum)."""
        with self._db(read_only_ok=True) as conn:
            rows = conn.execute(
                """SELECT model,
                          SUM(1 - cached),
                          SUM(CASE WHEN cached THEN 0 ELSE images END),
                          SUM(CASE WHEN cached THEN images ELSE 0 END),
                          SUM(CASE WHEN cached THEN 0 ELSE COALESCE(input_tokens, 0) END),
                          SUM(CASE WHEN cached THEN 0 ELSE COALESCE(output_tokens, 0) END),
                          SUM(CASE WHEN cached THEN NULL ELSE cost END),
                          SUM(CASE WHEN NOT cached AND cost IS NULL THEN 1 ELSE 0 END)
                   FROM usage GROUP BY model"""
            ).fetchall()
        summary = []
        for model, requests, images, cached, tokens_in, tokens_out, cost, unpriced in rows:
            if cost is None and not requests:
                cost = 0.0
            summary.append({
                "model": model,
                "requests": requests,
                "images": images,
                "cached": cached,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "estimated_cost_usd": None if cost is None else round(cost, 6),
                "unpriced_requests": unpriced,
            })
        summary.sort(key=lambda row: (row["model"] is None, row["model"] or ""))
        return summary

    # -- browsing ---------------------------------------------------------------------
    @staticmethod
    def _filter(search: str | None, kind: str | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        args: list[Any] = []
        if kind is not None:
            if kind not in KINDS:
                raise InvalidInputError("kind", kind, "'final', 'partial' or None for both")
            clauses.append("kind = ?")
            args.append(kind)
        for term in (search or "").split():
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(prompt LIKE ? ESCAPE '\\' OR revised_prompt LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\')"
            )
            args += [pattern, pattern, pattern]
        return " AND ".join(clauses) or "1", tuple(args)

    def list(self, limit: int = 24, offset: int = 0, search: str | None = None,
             kind: str | None = "final") -> list[StoredImage]:
        """Stored images, newest first; ``search`` words must all appear in the prompt,
        revised prompt or model; ``kind=None`` lists finals and partials."""
        if not isinstance(limit, int) or limit < 0:
            raise InvalidInputError("limit", limit, "an integer >= 0")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInputError("offset", offset, "an integer >= 0")
        where, args = self._filter(search, kind)
        return self._select(where, (*args, limit, offset), "ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?")

    def count(self, search: str | None = None, kind: str | None = "final") -> int:
        where, args = self._filter(search, kind)
        with self._db(read_only_ok=True) as conn:
            (total,) = conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()
        return int(total)

    def get(self, image_id: str) -> StoredImage:
        """The stored image with this id (KeyError if there is none)."""
        found = self._select("id = ?", (image_id,))
        if not found:
            raise KeyError(image_id)
        return found[0]

    def thumbnail(self, image_id: str, max_side: int = 256) -> bytes:
        """A downscaled copy (PNG when the image has transparency, else JPEG), cached on disk.

        `KeyError` for an unknown id; `StoreError` when the file is missing or damaged.
        """
        if not isinstance(max_side, int) or max_side < 1:
            raise InvalidInputError("max_side", max_side, "a positive integer")
        record = self.get(image_id)
        for extension in ("png", "jpg"):
            cached = self.thumbs_dir / f"{record.id}-{max_side}.{extension}"
            if cached.is_file():
                return cached.read_bytes()
        data, extension = _downscale(record.load(), max_side)
        with suppress(OSError):  # a read-only store still shows its thumbnails, uncached
            self.thumbs_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.thumbs_dir / f"{record.id}-{max_side}.{extension}", data)
        return data


def _downscale(image: Image, max_side: int) -> tuple[bytes, str]:
    """A thumbnail's bytes and extension; `StoreError` for a file that is not a usable image."""
    from io import BytesIO

    from PIL import Image as PIL

    problem = header_problem(image.data)  # before decoding: a bomb is never decompressed
    if problem:
        raise StoreError(f"the stored image {image.path} is damaged: {problem}")
    try:
        with PIL.open(BytesIO(image.data)) as source:
            source.thumbnail((max_side, max_side))
            has_alpha = source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info
            picture = source.convert("RGBA" if has_alpha else "RGB")
    except (*DECODE_ERRORS, PIL.DecompressionBombError) as exc:
        raise StoreError(f"the stored image {image.path} is damaged: {decode_error_text(exc)}") from exc
    buffer = BytesIO()
    if has_alpha:
        picture.save(buffer, format="PNG", optimize=True)
    else:
        picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue(), "png" if has_alpha else "jpg"


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


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _fingerprint(image: Image, kind: str) -> str | None:
    """Identity of one received image across store objects and processes (needs a ``created``)."""
    if image.created is None:
        return None
    key = f"{kind}\0{sha256_hex(image.data)}\0{image.created!r}\0{image.response_id}\0{image.call_id}"
    return sha256_hex(key.encode("utf-8"))


_default_lock = threading.Lock()
_default: Store | None = None


def default_store() -> Store:
    """The process-wide store for the current ``NBIMAGES_HOME`` (a new one if it changed)."""
    global _default
    home = default_home()
    with _default_lock:
        if _default is None or _default.home != home:
            _default = Store(home)
        return _default

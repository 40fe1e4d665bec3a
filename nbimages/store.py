"""The store: every completed image on disk with its provenance, indexed in SQLite.

Layout of the store's home (``NBIMAGES_HOME``, else the user's data folder)::

    images/YYYY-MM-DD/HHMMSS-<id>.png      provenance inside, as PNG text chunks
    images/YYYY-MM-DD/HHMMSS-<id>.jpg      bytes as sent (also .webp, .gif, .svg), plus ...
    images/YYYY-MM-DD/HHMMSS-<id>.jpg.json ... a sidecar with the provenance
    thumbs/<id>-<side>.png|jpg|gif|svg     thumbnail cache (an animated GIF's is animated)
    index.sqlite                           images, usage ledger (WAL mode)

Files are written to a temporary name, fsynced, then renamed into place (`_atomic_write`):
a reader or a crash never sees half an image. The index is written after the file, so the
worst a crash can do is leave a file the index does not know yet (`Store.reindex` picks it
up). Every store operation opens its own short-lived SQLite connection (`_store_index`): the
store is shared by kernel threads and by several processes at once.

Nothing that could authenticate a request is written anywhere (`_provenance`): keys that
look like credentials or headers are dropped from parameters, and values that look like API
keys are redacted. Requests are cached under a key made by `_cache_key`.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import sys
import threading
import time
import warnings
import weakref
from contextlib import suppress
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from . import _cache_key
from ._atomic_write import atomic_write
from ._digest import sha256_hex
from ._provenance import clean_params, embed, parse_created, provenance_of, read_provenance, sidecar_path
from ._store_index import COLUMNS, Index, os_reason
from .errors import InvalidInputError, StoreError
from .image import DECODE_ERRORS, Image, Usage, decode_error_text, decode_problem, header_problem, svg_problem

__all__ = ["Store", "StoredImage", "default_home", "default_store", "read_provenance"]

KINDS = ("final", "partial")

_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "svg": "svg"}
THUMBNAIL_EXTENSIONS = ("png", "jpg", "gif", "svg")


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


# -- file names ------------------------------------------------------------------------------
def extension_of(fmt: str | None) -> str:
    """The file extension of an image format ("jpeg" -> "jpg"); "bin" for an unknown one."""
    return _EXTENSIONS.get(fmt or "", "bin")


def _extension(image: Image) -> str:
    return extension_of(image.format)


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


# Images whose line of work starts at an image whose prompt matches: a refinement's prompt is
# only its follow-up ("now add a canoe"), so it is found by its conversation's first prompt.
# A child names its parent by the parent's response id (Responses API), call id, or file path.
_DESCENDANTS_OF_MATCHING = """
    WITH RECURSIVE line(id, response_id, call_id, path) AS (
        SELECT id, response_id, call_id, path FROM images WHERE prompt LIKE ? ESCAPE '\\'
        UNION
        SELECT child.id, child.response_id, child.call_id, child.path FROM images AS child JOIN line
        ON child.parent IN (line.response_id, line.call_id) OR child.parent LIKE '%/' || line.path
    )
    SELECT id FROM line"""


# -- the store -------------------------------------------------------------------------------
class Store:
    """Images on disk with provenance, an SQLite index, a request cache and a usage ledger."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.images_dir = self.home / "images"
        self.thumbs_dir = self.home / "thumbs"
        self._index = Index(self.home, rebuild=self.reindex)
        self.db_path = self._index.path
        self._lock = threading.Lock()
        # Image objects already saved by this store -> what save() returned for them.
        self._saved: weakref.WeakKeyDictionary[Image, Image] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"Store({str(self.home)!r})"

    # -- rows of the index ------------------------------------------------------------
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
        with self._index.connect(read_only_ok=True) as conn:
            rows = conn.execute(f"SELECT {COLUMNS} FROM images WHERE {where} {tail}", args).fetchall()
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
            raise StoreError(f"not saved to the store at {self.home}: {self._where(exc)}") from exc
        try:
            self._add_to_index(saved, prov, kind, cache_key, _fingerprint(image, kind))
        except StoreError as exc:
            # The file is safe on disk; `reindex()` adds it to the index later.
            warnings.warn(f"nbimages: image saved to {saved.path} but not indexed ({exc})", RuntimeWarning,
                          stacklevel=2)
        self._remember(image, saved)
        return saved

    def _where(self, exc: OSError) -> str:
        """What failed, with the file named from the store's folder (its path is said already)."""
        reason = exc.strerror or type(exc).__name__
        try:
            relative = Path(exc.filename).relative_to(self.home) if exc.filename else None
        except ValueError:
            return os_reason(exc)
        return f"{reason} ({relative})" if relative is not None and str(relative) != "." else reason

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
            if not path.exists() and not sidecar_path(path).exists():
                break

        prov = provenance_of(image, image_id, kind, created)
        data = embed(image.data, prov, image) if image.format == "png" else None
        sidecar: Path | None = None
        if data is None:
            data = image.data
            sidecar = sidecar_path(path)
            body = {**prov, "file": path.name, "sha256": sha256_hex(data)}
            atomic_write(sidecar, json.dumps(body, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))
        try:
            atomic_write(path, data)
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
        records = [r for r in self._indexed_at(image.path) if r.sha256 == sha256_hex(image.data)]
        fingerprint = _fingerprint(image, kind)
        if not records and fingerprint is not None:
            records = self._select("fingerprint = ?", (fingerprint,), "ORDER BY created")
        for record in records:
            if record.path.is_file():
                return image.with_meta(path=record.path, data=record.path.read_bytes(), created=record.created)
        return None

    def _indexed_at(self, path: Path | None) -> list[StoredImage]:
        """The index's records of the file at ``path``; none for a path outside the store."""
        if path is None:
            return []
        try:
            relative = Path(path).resolve().relative_to(self.home.resolve())
        except (ValueError, OSError):
            return []
        return self._select("path = ?", (relative.as_posix(),))

    def _add_to_index(self, saved: Image, prov: dict[str, Any], kind: str, cache_key: str | None,
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
        with self._index.write() as conn:
            cursor = conn.execute(f"{verb} INTO images ({COLUMNS}) VALUES ({', '.join('?' * len(row))})", row)
            return cursor.rowcount > 0

    def _attach_cache_key(self, saved: Image, cache_key: str) -> None:
        if saved.path is None:
            return
        with self._index.write() as conn:
            conn.execute(
                "UPDATE images SET cache_key = ? WHERE path = ? AND cache_key IS NULL",
                (cache_key, saved.path.relative_to(self.home).as_posix()),
            )

    def reindex(self) -> int:
        """Add stored files the index does not know (e.g. after a crash); returns how many."""
        if not self.images_dir.is_dir():
            return 0
        with self._index.connect() as conn:
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
        created = parse_created(prov.get("created")) or path.stat().st_mtime
        kind = str(prov["kind"]) if prov.get("kind") in KINDS else "final"
        usage = prov.get("usage") if isinstance(prov.get("usage"), dict) else None
        record = {
            "id": str(prov.get("id") or secrets.token_hex(6)),
            "prompt": prov.get("prompt"),
            "revised_prompt": prov.get("revised_prompt"),
            "model": prov.get("model"),
            "params": clean_params(prov.get("params") or {}),
            "response_id": prov.get("response_id"),
            "call_id": prov.get("call_id"),
            "parent": prov.get("parent"),
            "source": prov.get("source"),
            "usage": usage,
        }
        return self._add_to_index(image.with_meta(created=created), record, kind, None, None, or_ignore=True)

    # -- cache ------------------------------------------------------------------------
    cache_key = staticmethod(_cache_key.cache_key)

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

    def id_of(self, image: Image) -> str | None:
        """The id under which ``image`` (as `save` returned it) is indexed, or None."""
        try:
            found = self._indexed_at(image.path)
        except (ValueError, OSError, StoreError):
            return None
        return found[0].id if found else None

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
        batch: bool = False,
    ) -> None:
        """Add one request to the ledger (``cached``: served from the store, nothing paid;
        ``batch``: made through the Batch API, at its price, and its endpoint says so:
        ``batch:images/generations``)."""
        from .prices import batch_discount, estimate_cost

        cost = 0.0 if cached else estimate_cost(model, quality, size, usage, images)
        if batch:
            endpoint = f"batch:{endpoint}"
            cost = None if cost is None else cost * batch_discount()
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
        with self._index.write() as conn:
            conn.execute(
                "INSERT INTO usage (time, model, endpoint, images, input_tokens, output_tokens, "
                "total_tokens, quality, size, cost, response_id, cached) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def usage_summary(self) -> list[dict[str, Any]]:
        """Per model: paid ``requests`` and ``images``, ``cached`` images (reused, not paid),
        tokens, and ``estimated_cost_usd`` (None when no paid request of the model has a
        known price; ``unpriced_requests`` counts those left out of the sum)."""
        with self._index.connect(read_only_ok=True) as conn:
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
                "(prompt LIKE ? ESCAPE '\\' OR revised_prompt LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\'"
                f" OR id IN ({_DESCENDANTS_OF_MATCHING}))"
            )
            args += [pattern, pattern, pattern, pattern]
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
        with self._index.connect(read_only_ok=True) as conn:
            (total,) = conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()
        return int(total)

    def get(self, image_id: str) -> StoredImage:
        """The stored image with this id (KeyError if there is none)."""
        found = self._select("id = ?", (image_id,))
        if not found:
            raise KeyError(image_id)
        return found[0]

    def thumbnail(self, image_id: str, max_side: int = 256) -> bytes:
        """A downscaled copy (PNG when the image has transparency, else JPEG; an animated GIF
        for an animated GIF; an SVG is its own thumbnail), cached on disk.

        `KeyError` for an unknown id; `StoreError` when the file is missing or damaged.
        """
        if not isinstance(max_side, int) or max_side < 1:
            raise InvalidInputError("max_side", max_side, "a positive integer")
        record = self.get(image_id)
        for extension in THUMBNAIL_EXTENSIONS:
            cached = self.thumbs_dir / f"{record.id}-{max_side}.{extension}"
            if cached.is_file():
                return cached.read_bytes()
        data, extension = _downscale(record.load(), max_side)
        with suppress(OSError):  # a read-only store still shows its thumbnails, uncached
            self.thumbs_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.thumbs_dir / f"{record.id}-{max_side}.{extension}", data)
        return data


def _downscale(image: Image, max_side: int) -> tuple[bytes, str]:
    """A thumbnail's bytes and extension; `StoreError` for a file that is not a usable image."""
    from PIL import Image as PIL

    problem = header_problem(image.data)  # before decoding: a bomb is never decompressed
    if problem is None and image.format == "svg":
        problem = svg_problem(image.data)
    if problem:
        raise StoreError(f"the stored image {image.path} is damaged: {problem}")
    if image.format == "svg" or image.is_animated:
        return _kept_format_thumbnail(image, max_side)
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


def _kept_format_thumbnail(image: Image, max_side: int) -> tuple[bytes, str]:
    """An SVG as it is, an animated GIF as a smaller animated GIF."""
    try:
        small = image.thumbnail(max_side)
    except DECODE_ERRORS as exc:
        raise StoreError(f"the stored image {image.path} is damaged: {decode_error_text(exc)}") from exc
    return small.data, _extension(small)


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

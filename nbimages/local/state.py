"""What the simulator remembers between requests, and what a request handler may use.

Uploaded files (and the batches' output files), stored responses, the images of
image_generation calls (for ``previous_response_id`` chains and ``image_generation_call``
references) and images served at ``/_files/...``; all behind one lock, since requests
arrive on many threads.

Files are bounded in memory: one over ``MEMORY_FILE_BYTES``, or any once the files in
memory hold ``MEMORY_TOTAL_BYTES``, is written to a temporary folder instead (a batch
input may be 200 MB, and a batch's output holds every image it made). The folder goes
when the state is cleared, collected, or the process exits.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .protocol import APIError

if TYPE_CHECKING:
    from .painter import Painter


@dataclass(frozen=True)
class StoredImage:
    """An image an image_generation call made (or a client sent back as one)."""

    data: bytes
    revised_prompt: str = ""
    notes: object = None  # the painter's, handed back when the image is edited


MEMORY_FILE_BYTES = 8 * 1024 * 1024
MEMORY_TOTAL_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass
class StoredFile:
    """One file of the Files API: its object, and its bytes in memory or at ``path``."""

    obj: dict[str, Any]
    data: bytes | None = None
    path: str | None = None

    def read(self) -> bytes:
        with self._open() as f:
            return f.read()

    def head(self, size: int = 64) -> bytes:
        """The first bytes (enough to tell an image's format)."""
        with self._open() as f:
            return f.read(size)

    def chunks(self) -> Iterator[bytes]:
        """The bytes a piece at a time (a file on disk is never read whole)."""
        with self._open() as f:
            while piece := f.read(_CHUNK):
                yield piece

    def lines(self) -> Iterator[bytes]:
        with self._open() as f:
            yield from f

    def _open(self) -> BinaryIO:
        """The bytes as a file, from memory or from disk."""
        if self.data is not None:
            return io.BytesIO(self.data)  # shares ``data``: reading it whole copies nothing
        return open(self.path or "", "rb")


class Spool:
    """A file being written a piece at a time: in memory until it grows past
    ``MEMORY_FILE_BYTES``, then on disk in ``folder()``."""

    def __init__(self, folder: Callable[[], str]) -> None:
        self._folder = folder
        self._memory: io.BytesIO | None = io.BytesIO()
        self._disk: Any = None
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._memory is not None and self.size + len(data) > MEMORY_FILE_BYTES:
            self._disk = tempfile.NamedTemporaryFile(dir=self._folder(), delete=False)  # noqa: SIM115
            self._disk.write(self._memory.getvalue())
            self._memory = None
        (self._memory if self._memory is not None else self._disk).write(data)
        self.size += len(data)

    def finish(self, obj: dict[str, Any]) -> StoredFile:
        if self._memory is not None:
            return StoredFile(obj, data=self._memory.getvalue())
        self._disk.close()
        return StoredFile(obj, path=self._disk.name)

    def discard(self) -> None:
        if self._disk is not None:
            self._disk.close()
            _remove(self._disk.name)


def _remove(path: str | None) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.remove(path)


class State:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, StoredFile] = {}
        self._memory_bytes = 0
        self._folder: str | None = None
        self._responses: dict[str, dict[str, Any]] = {}
        self._response_images: dict[str, str] = {}  # response id -> its image's ig id
        self._images: dict[str, StoredImage] = {}  # ig id -> image
        self._served: dict[str, tuple[bytes, str]] = {}  # /_files/name -> (bytes, mime)

    def clear(self) -> None:
        with self._lock:
            for file_id in list(self._files):
                self.delete_file(file_id)
            for table in (self._responses, self._response_images, self._images, self._served):
                table.clear()

    # ------------------------------------------------------------ files

    def add_file(self, file_id: str, obj: dict[str, Any], data: bytes) -> None:
        with self._lock:
            in_memory = (len(data) <= MEMORY_FILE_BYTES
                         and self._memory_bytes + len(data) <= MEMORY_TOTAL_BYTES)
        if in_memory:
            self.keep_file(file_id, StoredFile(obj, data=data))
            return
        with tempfile.NamedTemporaryFile(dir=self.folder(), delete=False) as f:
            f.write(data)
        self.keep_file(file_id, StoredFile(obj, path=f.name))

    def spool(self) -> Spool:
        """A new file to write a piece at a time, then to `keep_file` (`Spool.finish`)."""
        return Spool(self.folder)

    def keep_file(self, file_id: str, stored: StoredFile) -> None:
        with self._lock:
            self._files[file_id] = stored
            self._memory_bytes += len(stored.data or b"")

    def folder(self) -> str:
        """The temporary folder of the files kept on disk (made when first needed)."""
        with self._lock:
            if self._folder is None:
                self._folder = tempfile.mkdtemp(prefix="nbimages-simulator-")
                weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
            return self._folder

    def file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def file_bytes(self, file_id: str, param: str) -> bytes:
        """The content of an uploaded file, or the API's 404 naming ``param``."""
        return self.stored_file(file_id, param).read()

    def stored_file(self, file_id: str, param: str) -> StoredFile:
        """An uploaded file, or the API's 404 naming ``param``."""
        stored = self.file(file_id)
        if stored is None:
            raise APIError(404, f"No such File object: {file_id}", param=param,
                           code="file_not_found")
        return stored

    def files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [stored.obj for stored in self._files.values()]

    def delete_file(self, file_id: str) -> None:
        with self._lock:
            stored = self._files.pop(file_id, None)
            if stored is not None:
                self._memory_bytes -= len(stored.data or b"")
        if stored is not None:
            _remove(stored.path)

    # ------------------------------------------------------------ responses and their images

    def has_response(self, response_id: str) -> bool:
        with self._lock:
            return response_id in self._responses

    def response(self, response_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._responses.get(response_id)

    def add_response(self, record: dict[str, Any], image: tuple[str, StoredImage] | None) -> None:
        """Keep a response (and the image its image_generation call made)."""
        with self._lock:
            self._responses[record["id"]] = record
            if image is not None:
                self._images[image[0]] = image[1]
                self._response_images[record["id"]] = image[0]

    def delete_response(self, response_id: str) -> bool:
        with self._lock:
            return self._responses.pop(response_id, None) is not None

    def has_image(self, ig_id: str) -> bool:
        with self._lock:
            return ig_id in self._images

    def image(self, ig_id: str) -> StoredImage:
        with self._lock:
            return self._images[ig_id]

    def remember_image(self, ig_id: str, image: StoredImage) -> None:
        """Keep an image a client sent back, unless that id already names one."""
        with self._lock:
            self._images.setdefault(ig_id, image)

    def chain_image(self, response_id: str | None) -> StoredImage | None:
        """The latest image along a ``previous_response_id`` chain (text-only turns skipped)."""
        seen = set()
        with self._lock:
            while response_id and response_id not in seen:
                seen.add(response_id)
                ig = self._response_images.get(response_id)
                if ig and ig in self._images:
                    return self._images[ig]
                rec = self._responses.get(response_id)
                response_id = rec.get("previous_response_id") if rec else None
        return None

    # ------------------------------------------------------------ served images

    def serve(self, name: str, data: bytes, mime: str) -> None:
        with self._lock:
            self._served[name] = (data, mime)

    def served(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._served.get(name)


@dataclass(frozen=True)
class Context:
    """What a request handler may use: the state, the painter, the default image model."""

    state: State
    painter: Painter
    image_model: str

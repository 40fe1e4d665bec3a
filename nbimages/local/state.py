"""What the simulator remembers between requests, and what a request handler may use.

Uploaded files, stored responses, the images of image_generation calls (for
``previous_response_id`` chains and ``image_generation_call`` references) and images
served at ``/_files/...``; all behind one lock, since requests arrive on many threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .protocol import APIError

if TYPE_CHECKING:
    from .painter import Painter


@dataclass(frozen=True)
class StoredImage:
    """An image an image_generation call made (or a client sent back as one)."""

    data: bytes
    revised_prompt: str = ""
    notes: object = None  # the painter's, handed back when the image is edited


class State:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._responses: dict[str, dict[str, Any]] = {}
        self._response_images: dict[str, str] = {}  # response id -> its image's ig id
        self._images: dict[str, StoredImage] = {}  # ig id -> image
        self._served: dict[str, tuple[bytes, str]] = {}  # /_files/name -> (bytes, mime)

    def clear(self) -> None:
        with self._lock:
            for table in (self._files, self._responses, self._response_images, self._images,
                          self._served):
                table.clear()

    # ------------------------------------------------------------ files

    def add_file(self, file_id: str, obj: dict[str, Any], data: bytes) -> None:
        with self._lock:
            self._files[file_id] = (obj, data)

    def file(self, file_id: str) -> tuple[dict[str, Any], bytes] | None:
        with self._lock:
            return self._files.get(file_id)

    def file_bytes(self, file_id: str, param: str) -> bytes:
        """The content of an uploaded file, or the API's 404 naming ``param``."""
        entry = self.file(file_id)
        if entry is None:
            raise APIError(404, f"No such File object: {file_id}", param=param,
                           code="file_not_found")
        return entry[1]

    def files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for obj, _ in self._files.values()]

    def delete_file(self, file_id: str) -> None:
        with self._lock:
            self._files.pop(file_id, None)

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

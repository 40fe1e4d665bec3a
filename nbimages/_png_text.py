"""PNG chunks without Pillow: list them, read text back, add text without re-encoding.

A PNG is an 8-byte signature followed by chunks ``length (4) | type (4) | data | CRC (4)``.
Provenance is added by splicing new text chunks in right after ``IHDR``: every byte of
every existing chunk stays as it was (OpenAI's C2PA credentials live in a ``caBX`` chunk
that a re-encode would drop), and removing the chunks added gives the original file back.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "SIGNATURE",
    "Chunk",
    "chunk_types",
    "complete_chunks",
    "has_alpha",
    "insert_after_ihdr",
    "is_complete",
    "is_png",
    "iter_chunks",
    "itxt_chunk",
    "make_chunk",
    "read_text",
    "remove_text",
    "text_chunk",
]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_TYPES = frozenset({b"tEXt", b"zTXt", b"iTXt"})


@dataclass(frozen=True)
class Chunk:
    """One chunk: its type, payload, and where its bytes (length to CRC) sit in the file."""

    type: bytes
    data: bytes
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


def is_png(data: bytes) -> bool:
    return data[:8] == SIGNATURE


def iter_chunks(data: bytes, *, check_crc: bool = True) -> Iterator[Chunk]:
    """Every chunk in file order; raises ValueError on a malformed or truncated file."""
    if not is_png(data):
        raise ValueError("not a PNG file (bad signature)")
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"truncated PNG: chunk header at byte {pos}")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"truncated PNG: {ctype!r} chunk at byte {pos} runs past the end")
        payload = data[pos + 8 : pos + 8 + length]
        if check_crc:
            (crc,) = struct.unpack(">I", data[end - 4 : end])
            if crc != zlib.crc32(ctype + payload):
                raise ValueError(f"corrupt PNG: bad CRC in {ctype!r} chunk at byte {pos}")
        yield Chunk(ctype, payload, pos, end)
        pos = end
        if ctype == b"IEND":
            return


def chunk_types(data: bytes) -> list[str]:
    """Chunk type names in file order, e.g. ``["IHDR", "caBX", "IDAT", "IEND"]``."""
    return [chunk.name for chunk in iter_chunks(data, check_crc=False)]


def complete_chunks(data: bytes) -> list[Chunk] | None:
    """Every chunk (CRCs not checked) when the file runs complete to ``IEND``, else None."""
    try:
        chunks = list(iter_chunks(data, check_crc=False))
    except ValueError:
        return None
    return chunks if chunks and chunks[-1].type == b"IEND" else None


def is_complete(data: bytes) -> bool:
    return complete_chunks(data) is not None


_COLOR_TYPE_AT = 25  # signature 8, IHDR length and type 8, width and height 8, bit depth 1
_COLOR_TYPES_WITH_ALPHA = (4, 6)  # greyscale + alpha, RGB + alpha


def has_alpha(data: bytes) -> bool:
    """Whether the PNG can hold transparent pixels: an alpha channel or a ``tRNS`` chunk."""
    if len(data) > _COLOR_TYPE_AT and data[_COLOR_TYPE_AT] in _COLOR_TYPES_WITH_ALPHA:
        return True
    return any(chunk.type == b"tRNS" for chunk in complete_chunks(data) or [])


def make_chunk(ctype: bytes, payload: bytes) -> bytes:
    if len(ctype) != 4:
        raise ValueError(f"chunk type must be 4 bytes, got {ctype!r}")
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def _check_keyword(keyword: str) -> bytes:
    raw = keyword.encode("latin-1")
    if not 1 <= len(raw) <= 79 or b"\x00" in raw:
        raise ValueError(f"invalid PNG text keyword {keyword!r}")
    return raw


def itxt_chunk(keyword: str, text: str, *, compress: bool = False) -> bytes:
    """An international (UTF-8) text chunk."""
    body = text.encode("utf-8")
    if compress:
        body = zlib.compress(body)
    flag = b"\x01\x00" if compress else b"\x00\x00"
    # keyword NUL, compression flag, method, language tag NUL, translated keyword NUL, text
    return make_chunk(b"iTXt", _check_keyword(keyword) + b"\x00" + flag + b"\x00\x00" + body)


def text_chunk(keyword: str, text: str) -> bytes:
    """``tEXt`` when the text is Latin-1 (what most readers expect), else ``iTXt``."""
    try:
        body = text.encode("latin-1")
    except UnicodeEncodeError:
        return itxt_chunk(keyword, text)
    return make_chunk(b"tEXt", _check_keyword(keyword) + b"\x00" + body)


def _decode_text(chunk: Chunk) -> tuple[str, str] | None:
    keyword, sep, rest = chunk.data.partition(b"\x00")
    if not sep:
        return None
    key = keyword.decode("latin-1")
    try:
        if chunk.type == b"tEXt":
            return key, rest.decode("latin-1")
        if chunk.type == b"zTXt":
            return key, zlib.decompress(rest[1:]).decode("latin-1")
        flag, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, body = rest.partition(b"\x00")
        return key, (zlib.decompress(body) if flag else body).decode("utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError):
        return None


def read_text(data: bytes) -> dict[str, str]:
    """Text chunks as ``{keyword: text}`` (a later chunk wins, as in Pillow)."""
    out: dict[str, str] = {}
    for chunk in iter_chunks(data, check_crc=False):
        if chunk.type in TEXT_TYPES:
            decoded = _decode_text(chunk)
            if decoded is not None:
                out[decoded[0]] = decoded[1]
    return out


def _keyword(chunk: Chunk) -> str | None:
    if chunk.type not in TEXT_TYPES:
        return None
    return chunk.data.partition(b"\x00")[0].decode("latin-1")


def remove_text(data: bytes, keywords: Iterable[str]) -> bytes:
    """The file without the text chunks whose keyword is one of ``keywords``."""
    drop = set(keywords)
    kept = [data[: len(SIGNATURE)]]
    end = len(SIGNATURE)
    for chunk in iter_chunks(data, check_crc=False):
        if _keyword(chunk) not in drop:
            kept.append(data[chunk.start : chunk.end])
        end = chunk.end
    kept.append(data[end:])  # anything after IEND stays too
    return b"".join(kept)


def insert_after_ihdr(data: bytes, chunks: Iterable[bytes]) -> bytes:
    """Splice already-encoded chunks in right after ``IHDR``; everything else is kept as is.

    The whole file is validated first (CRCs included): provenance is never spliced into a
    file that is already broken.
    """
    parsed = list(iter_chunks(data))
    if not parsed or parsed[0].type != b"IHDR":
        raise ValueError("invalid PNG: the first chunk is not IHDR")
    if parsed[-1].type != b"IEND":
        raise ValueError("truncated PNG: no IEND chunk")
    cut = parsed[0].end
    return data[:cut] + b"".join(chunks) + data[cut:]

"""PNG chunk surgery without Pillow: listing, reading text, splicing text in, byte for byte."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image as PIL
from PIL import PngImagePlugin

from nbimages import _png_text

CABX_PAYLOAD = b"\x00\x00\x00\x1ejumb\x00\x00\x00\x16jumdc2pa\x00\x11\x00\x10\x80\x00\xaa\x008\x9bq" + bytes(range(256)) * 3


def raw_chunk(ctype: bytes, payload: bytes) -> bytes:
    """Built here by hand (not with the module under test)."""
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def hand_made_png(width: int = 3, height: int = 2, with_cabx: bool = True) -> bytes:
    """An 8-bit RGB PNG assembled chunk by chunk, with a C2PA-like ``caBX`` chunk after IHDR."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes((37 * x + 91 * y) % 256 for x in range(width * 3)) for y in range(height))
    chunks = [raw_chunk(b"IHDR", ihdr)]
    if with_cabx:
        chunks.append(raw_chunk(b"caBX", CABX_PAYLOAD))
    chunks += [raw_chunk(b"IDAT", zlib.compress(rows)), raw_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def pillow_png(**text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value, zip=key.startswith("z"))
    buffer = io.BytesIO()
    PIL.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_hand_made_png_is_a_real_png() -> None:
    data = hand_made_png()
    with PIL.open(io.BytesIO(data)) as img:
        assert img.size == (3, 2)
        img.load()
    assert _png_text.chunk_types(data) == ["IHDR", "caBX", "IDAT", "IEND"]


def test_chunks_carry_offsets_and_payloads() -> None:
    data = hand_made_png()
    chunks = list(_png_text.iter_chunks(data))
    assert [c.name for c in chunks] == ["IHDR", "caBX", "IDAT", "IEND"]
    assert chunks[1].data == CABX_PAYLOAD
    assert data[chunks[1].start : chunks[1].end] == raw_chunk(b"caBX", CABX_PAYLOAD)
    assert chunks[-1].end == len(data)


def test_make_chunk_matches_the_png_definition() -> None:
    assert _png_text.make_chunk(b"tEXt", b"a\x00b") == raw_chunk(b"tEXt", b"a\x00b")
    with pytest.raises(ValueError):
        _png_text.make_chunk(b"tEX", b"")


def test_insert_keeps_every_existing_chunk_byte_for_byte() -> None:
    data = hand_made_png()
    added = [_png_text.itxt_chunk("nbimages", '{"prompt": "un café ☕"}'), _png_text.text_chunk("parameters", "a fox")]
    out = _png_text.insert_after_ihdr(data, added)

    assert _png_text.chunk_types(out) == ["IHDR", "iTXt", "tEXt", "caBX", "IDAT", "IEND"]
    before = [data[c.start : c.end] for c in _png_text.iter_chunks(data)]
    after = [out[c.start : c.end] for c in _png_text.iter_chunks(out) if c.name not in ("iTXt", "tEXt")]
    assert before == after
    # Removing what was added gives back exactly the original file.
    assert _png_text.remove_text(out, ["nbimages", "parameters"]) == data


def test_pillow_reads_inserted_text_and_checks_crcs() -> None:
    out = _png_text.insert_after_ihdr(
        hand_made_png(),
        [_png_text.itxt_chunk("nbimages", '{"prompt": "ünïcode ✓"}'), _png_text.text_chunk("parameters", "fox\nModel: m")],
    )
    with PIL.open(io.BytesIO(out)) as img:
        img.verify()  # walks every chunk and checks its CRC
    with PIL.open(io.BytesIO(out)) as img:
        img.load()
        assert img.text["nbimages"] == '{"prompt": "ünïcode ✓"}'
        assert img.text["parameters"] == "fox\nModel: m"


def test_read_text_decodes_all_three_text_chunk_kinds() -> None:
    data = pillow_png(plain="latin-1 é", zipped="compressed " * 50, uni="日本語 ✓")
    assert _png_text.read_text(data) == {"plain": "latin-1 é", "zipped": "compressed " * 50, "uni": "日本語 ✓"}
    compressed = _png_text.insert_after_ihdr(data, [_png_text.itxt_chunk("big", "x" * 5000 + "✓", compress=True)])
    assert _png_text.read_text(compressed)["big"] == "x" * 5000 + "✓"
    with PIL.open(io.BytesIO(compressed)) as img:
        img.load()
        assert img.text["big"] == "x" * 5000 + "✓"


def test_text_chunk_uses_text_for_latin1_and_itxt_otherwise() -> None:
    assert _png_text.text_chunk("k", "café")[4:8] == b"tEXt"
    assert _png_text.text_chunk("k", "☕")[4:8] == b"iTXt"
    with pytest.raises(ValueError):
        _png_text.text_chunk("", "empty keyword")
    with pytest.raises(ValueError):
        _png_text.text_chunk("k" * 80, "keyword too long")


def test_a_later_chunk_wins_like_pillow() -> None:
    data = _png_text.insert_after_ihdr(
        hand_made_png(), [_png_text.text_chunk("k", "first"), _png_text.text_chunk("k", "second")]
    )
    assert _png_text.read_text(data) == {"k": "second"}


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda d: b"GIF89a" + d[6:], "signature"),
        (lambda d: d[:-20], "truncated"),
        (lambda d: d[:30] + bytes([d[30] ^ 0xFF]) + d[31:], "CRC"),
    ],
)
def test_broken_files_are_refused(mangle: object, message: str) -> None:
    broken = mangle(hand_made_png())  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        _png_text.insert_after_ihdr(broken, [_png_text.text_chunk("k", "v")])


def test_file_without_iend_is_refused() -> None:
    data = hand_made_png()
    without_iend = data[: -len(raw_chunk(b"IEND", b""))]
    with pytest.raises(ValueError, match="IEND"):
        _png_text.insert_after_ihdr(without_iend, [_png_text.text_chunk("k", "v")])


def test_bytes_after_iend_are_kept() -> None:
    data = hand_made_png() + b"trailing bytes some encoders leave"
    out = _png_text.insert_after_ihdr(data, [_png_text.text_chunk("k", "v")])
    assert out.endswith(b"trailing bytes some encoders leave")
    assert _png_text.remove_text(out, ["k"]) == data


def test_a_complete_file_runs_to_iend_and_a_cut_one_is_not_complete() -> None:
    data = hand_made_png()
    assert _png_text.is_complete(data)
    assert _png_text.is_complete(data + b"trailing bytes")
    assert [c.name for c in _png_text.complete_chunks(data) or []] == ["IHDR", "caBX", "IDAT", "IEND"]
    without_iend = data[: -len(raw_chunk(b"IEND", b""))]
    for cut in (data[:-1], data[:-20], without_iend, data[:10], b"GIF89a" + data[6:]):
        assert not _png_text.is_complete(cut)
        assert _png_text.complete_chunks(cut) is None


def pillow_image_png(mode: str, **save: object) -> bytes:
    buffer = io.BytesIO()
    PIL.new(mode, (4, 4)).save(buffer, format="PNG", **save)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, alpha",
    [
        (pillow_image_png("RGBA"), True),
        (pillow_image_png("LA"), True),
        (pillow_image_png("RGB", transparency=(0, 0, 0)), True),  # a tRNS chunk
        (pillow_image_png("P", transparency=0), True),
        (pillow_image_png("RGB"), False),
        (pillow_image_png("L"), False),
        (hand_made_png(), False),
    ],
)
def test_has_alpha_sees_an_alpha_channel_or_a_trns_chunk(data: bytes, alpha: bool) -> None:
    assert _png_text.has_alpha(data) is alpha

"""`sse.SSEDecoder`: bytes in, frames out, whatever the chunking."""

from __future__ import annotations

import base64
import os
import random
import time

import pytest

from nbimages.sse import SSEDecoder, SSEFrame


def decode(chunks: list[bytes]) -> list[SSEFrame]:
    decoder = SSEDecoder()
    frames: list[SSEFrame] = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
    return frames + decoder.flush()


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def random_chunks(data: bytes, rng: random.Random, max_size: int) -> list[bytes]:
    chunks, pos = [], 0
    while pos < len(data):
        size = rng.randint(0, max_size)  # empty chunks happen on real sockets too
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


def test_basic_event_and_data_lines() -> None:
    frames = decode([b'event: image_generation.partial_image\ndata: {"a": 1}\n\ndata: {"b": 2}\n\n'])
    assert frames == [
        SSEFrame("image_generation.partial_image", b'{"a": 1}'),
        SSEFrame(None, b'{"b": 2}'),
    ]


def test_event_name_is_reset_after_each_dispatch() -> None:
    frames = decode([b"event: first\ndata: 1\n\ndata: 2\n\n"])
    assert [f.event for f in frames] == ["first", None]


def test_comments_id_and_retry_are_ignored_but_do_not_break_frames() -> None:
    stream = b": keep-alive\nid: 7\nretry: 3000\nevent: e\n:another comment\ndata: x\n\n: ping\n\n"
    assert decode([stream]) == [SSEFrame("e", b"x")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode([b"event: lonely\n\nid: 3\n\ndata: y\n\n"]) == [SSEFrame(None, b"y")]


def test_only_one_leading_space_is_stripped_and_colons_in_values_survive() -> None:
    frames = decode([b"data:no-space\n\ndata:  two spaces\n\ndata: {\"url\": \"http://x\"}\n\n"])
    assert [f.data for f in frames] == [b"no-space", b" two spaces", b'{"url": "http://x"}']


def test_field_without_colon_counts_as_empty_value() -> None:
    assert decode([b"data\ndata: b\n\n"]) == [SSEFrame(None, b"\nb")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode([b"data: line one\ndata: line two\ndata: three\n\n"]) == [
        SSEFrame(None, b"line one\nline two\nthree")
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings(newline: bytes) -> None:
    stream = newline.join([b"event: e", b"data: 1", b"", b": c", b"data: 2", b"data: 3", b"", b""])
    assert decode([stream]) == [SSEFrame("e", b"1"), SSEFrame(None, b"2\n3")]
    assert decode(split_every(stream, 1)) == [SSEFrame("e", b"1"), SSEFrame(None, b"2\n3")]


def test_mixed_line_endings_in_one_stream() -> None:
    stream = b"data: a\r\n\ndata: b\r\rdata: c\n\r\n"
    assert decode([stream]) == [SSEFrame(None, b"a"), SSEFrame(None, b"b"), SSEFrame(None, b"c")]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n") == []  # the LF completes CRLF: not an empty line yet
    assert decoder.feed(b"\r") == []
    assert decoder.feed(b"\n") == [SSEFrame(None, b"x")]
    assert decoder.flush() == []


def test_lone_cr_followed_by_a_new_line_in_the_next_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\rdata: y") == [SSEFrame(None, b"x")]
    assert decoder.flush() == [SSEFrame(None, b"y")]


def test_lone_cr_at_end_of_stream_is_a_line_ending_not_data() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.flush() == [SSEFrame(None, b"x")]


@pytest.mark.parametrize("tail", [b"", b"\n", b"\r\n", b"\r"])
def test_last_event_without_trailing_blank_line(tail: bytes) -> None:
    assert decode([b"data: 1\n\ndata: 2" + tail]) == [SSEFrame(None, b"1"), SSEFrame(None, b"2")]


def test_done_sentinel() -> None:
    frames = decode([b'data: {"x": 1}\n\ndata: [DONE]\n\n'])
    assert [f.is_done for f in frames] == [False, True]
    assert not SSEFrame(None, b'"[DONE]"').is_done


def test_utf8_payload_split_inside_a_character() -> None:
    text = '{"t": "caf\u00e9 \U0001f3a8 \u65e5\u672c"}'.encode()
    assert decode(split_every(b"data: " + text + b"\n\n", 1)) == [SSEFrame(None, text)]


def test_flush_twice_and_feed_after_flush() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a")
    assert decoder.flush() == [SSEFrame(None, b"a")]
    assert decoder.flush() == []
    assert decoder.feed(b"data: b\n\n") == [SSEFrame(None, b"b")]


def test_frames_are_returned_by_the_chunk_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n") == []
    assert decoder.feed(b"\ndata: 2\n\ndata: 3") == [SSEFrame(None, b"1"), SSEFrame(None, b"2")]
    assert decoder.feed(b"\n\n") == [SSEFrame(None, b"3")]


# -- multi-megabyte lines ---------------------------------------------------------------
def big_payload(megabytes: int) -> bytes:
    raw = os.urandom(megabytes * 2**20 * 3 // 4)
    return b'{"type": "image_generation.completed", "b64_json": "' + base64.b64encode(raw) + b'"}'


@pytest.fixture(scope="module")
def big_stream() -> tuple[bytes, list[SSEFrame]]:
    payloads = [big_payload(4), b'{"small": true}', big_payload(3)]
    stream = b"".join(b"event: e\r\ndata: " + p + b"\r\n\r\n" for p in payloads)
    return stream, [SSEFrame("e", p) for p in payloads]


@pytest.mark.parametrize("chunk_size", [7, 1000, 65536, 10 * 2**20])
def test_multi_megabyte_data_lines_in_tiny_and_huge_chunks(
    big_stream: tuple[bytes, list[SSEFrame]], chunk_size: int
) -> None:
    stream, expected = big_stream
    if chunk_size == 7:  # ~1M feeds; only the first 4 MB event, to keep the test quick
        stream = stream[: stream.index(b"\r\n\r\n") + 4]
        expected = expected[:1]
    assert decode(split_every(stream, chunk_size)) == expected


def test_multi_megabyte_line_in_one_chunk(big_stream: tuple[bytes, list[SSEFrame]]) -> None:
    stream, expected = big_stream
    assert decode([stream]) == expected


def test_decoding_is_linear_in_the_stream_size() -> None:
    """A 16 MB line fed in 1 KB chunks, and 160k CR-terminated events in one chunk, both fast.

    A decoder that rescans its buffer for every chunk or every line would take minutes.
    """
    line = b"data: " + b"A" * (16 * 2**20) + b"\n\n"
    started = time.perf_counter()
    frames = decode(split_every(line, 1024))
    assert len(frames) == 1 and len(frames[0].data) == 16 * 2**20
    many = b"".join(b"event: e\rdata: {\"i\": %d}\r\r" % i for i in range(160_000))
    frames = decode([many])
    assert len(frames) == 160_000 and frames[-1].data == b'{"i": 159999}'
    assert time.perf_counter() - started < 4.0


# -- property style: any chunking gives the same frames ---------------------------------------
def sample_stream(rng: random.Random) -> bytes:
    parts = []
    for i in range(40):
        newline = rng.choice([b"\n", b"\r\n", b"\r"])
        lines = []
        if rng.random() < 0.3:
            lines.append(b": comment " + str(i).encode())
        if rng.random() < 0.5:
            lines.append(b"event: type." + str(i).encode())
        if rng.random() < 0.2:
            lines.append(b"id: " + str(i).encode())
        if rng.random() < 0.1:
            lines.append(b"retry: 1000")
        for _ in range(rng.randint(1, 3)):
            lines.append(b"data: " + base64.b64encode(rng.randbytes(rng.randint(0, 300))))
        parts.append(newline.join(lines) + newline + newline)
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def test_random_chunkings_give_the_same_frames() -> None:
    rng = random.Random(20261125)
    for _ in range(30):
        stream = sample_stream(rng)
        expected = decode([stream])
        assert len(expected) == 41 and expected[-1].is_done
        for max_size in (1, 3, 17, 256, 4096):
            assert decode(random_chunks(stream, rng, max_size)) == expected


def test_one_byte_at_a_time_equals_all_at_once() -> None:
    stream = sample_stream(random.Random(7))
    assert decode(split_every(stream, 1)) == decode([stream])


# -- legal but empty, and bounded -------------------------------------------------------------
@pytest.mark.parametrize("stream", [b"data:\n\n", b"data: \n\n", b"data:\ndata:\n\n", b"event: x\ndata:\n\n"])
def test_empty_data_lines_dispatch_nothing(stream: bytes) -> None:
    """As the SSE spec says: an event whose data is empty is not dispatched (and its type is reset)."""
    assert decode([stream + b"data: {}\n\n"]) == [SSEFrame(None, b"{}")]


def test_one_event_may_not_grow_past_the_limit_in_one_line_or_many() -> None:
    from nbimages.sse import EventTooLarge

    for stream in (b"data: " + b"x" * 2000, b"data: " + b"x" * 500 + b"\n" * 0 + b"\ndata: " + b"y" * 600):
        decoder = SSEDecoder(max_event_bytes=1000)
        with pytest.raises(EventTooLarge, match="an event larger than"):
            for chunk in split_every(b"data: {}\n\n" + stream * 2, 300):
                decoder.feed(chunk)


def test_frames_completed_before_an_oversized_event_are_handed_over() -> None:
    from nbimages.sse import EventTooLarge

    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLarge) as info:
        decoder.feed(b"data: {\"a\": 1}\n\ndata: " + b"z" * 200)
    assert info.value.frames == [SSEFrame(None, b'{"a": 1}')]


def test_events_just_under_the_limit_pass() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    payload = b"x" * 990
    assert decoder.feed(b"data: " + payload + b"\n\n") == [SSEFrame(None, payload)]

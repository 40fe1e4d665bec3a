"""Stream decoding: a recorded image stream, from bytes to the final image's bytes in hand.

The recording is what ``images.generate(stream=True, partial_images=3)`` sends: three
partial images and a final 1536x1024 PNG (~2.6 MB, noisy like a real picture), as SSE,
served in 64 KiB chunks by a mock transport. Three readers consume the same bytes:

- nbimages: ``Client(http_client=httpx.Client(transport=MockTransport(...)))``, iterating
  the stream until `ImageCompleted` (every image decoded, as nbimages does);
- the ``openai`` SDK over its own HTTP stack (``httpx2.Client(transport=httpx2.MockTransport)``),
  plus the user's ``base64.b64decode`` of each event's ``b64_json``;
- the floor: split the joined bytes into lines, ``json.loads`` each ``data:`` line,
  ``base64.b64decode`` each image.
"""

from __future__ import annotations

import base64
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from bench._common import Config, Row, chunked, median, noisy_png, rounded

ROWS = ("stream decode vs openai SDK", "stream decode vs floor")
CHUNK = 64 * 1024
PROMPT = "a red panda chef in a busy kitchen"


def recording(width: int, height: int, seed: int = 0, partials: int = 3) -> tuple[bytes, bytes]:
    """(SSE bytes, final PNG): partials of rising detail (three by default), then the completed image.

    ``seed`` makes another, equally large recording (different pixels, same shape)."""
    size = f"{width}x{height}"
    common = {"size": size, "quality": "high", "background": "opaque", "output_format": "png"}
    frames = []
    for index, amplitude in enumerate((2, 4, 8)[:partials]):
        partial = noisy_png(width, height, amplitude, seed=index + 10 * seed)
        event = {"type": "image_generation.partial_image", "b64_json": base64.b64encode(partial).decode(),
                 "created_at": 1760000000, "partial_image_index": index, **common}
        frames.append(event)
    final = noisy_png(width, height, 12, seed=99 + seed)
    usage = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
             "output_tokens": 6540, "total_tokens": 6590}
    frames.append({"type": "image_generation.completed", "b64_json": base64.b64encode(final).decode(),
                   "created_at": 1760000001, "usage": usage, **common})
    body = "".join(f"event: {f['type']}\ndata: {json.dumps(f)}\n\n" for f in frames).encode()
    return body, final


def nbimages_reader(chunks: list[bytes], size: str) -> Callable[[], bytes]:
    import httpx

    import nbimages

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    client = nbimages.Client(api_key="sk-bench", base_url="http://bench.test/v1", max_retries=0,
                             http_client=httpx.Client(transport=httpx.MockTransport(handler)))

    def read() -> bytes:
        final = b""
        for event in client.generate(PROMPT, size=size, quality="high", partial_images=3, stream=True):
            if isinstance(event, nbimages.ImageCompleted):
                final = event.image.data
        return final

    return read


def sdk_reader(chunks: list[bytes], size: str) -> Callable[[], bytes]:
    import httpx2
    import openai

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=iter(chunks))

    client = openai.OpenAI(api_key="sk-bench", base_url="http://bench.test/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))

    def read() -> bytes:
        final = b""
        stream = client.images.generate(prompt=PROMPT, model="gpt-image-1.5", size=size,  # type: ignore[arg-type]
                                        quality="high", partial_images=3, stream=True)
        for event in stream:
            data = base64.b64decode(event.b64_json)  # partials are shown, the final image kept
            if event.type == "image_generation.completed":
                final = data
        return final

    return read


def floor_reader(chunks: list[bytes]) -> Callable[[], bytes]:
    def read() -> bytes:
        final = b""
        for line in b"".join(chunks).split(b"\n"):
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                data = base64.b64decode(event["b64_json"])
                if event["type"] == "image_generation.completed":
                    final = data
        return final

    return read


def run(config: Config) -> list[Row]:
    width, height = config.pick((1536, 1024), (512, 512))
    body, final = recording(width, height)
    chunks = chunked(body, CHUNK)
    size = f"{width}x{height}"
    readers: dict[str, Callable[[], bytes]] = {
        "nbimages": nbimages_reader(chunks, size),
        "openai": sdk_reader(chunks, size),
        "floor": floor_reader(chunks),
    }
    for name, read in readers.items():  # warm up, and check that everyone got the same image
        if read() != final:
            raise AssertionError(f"{name} did not return the final image's bytes")
    repeats = max(config.repeats, 5)
    times: dict[str, list[float]] = {name: [] for name in readers}
    names = list(readers)
    for i in range(repeats):
        for name in names[i % 3 :] + names[: i % 3]:  # rotate the order
            gc.collect()
            start = time.perf_counter()
            readers[name]()
            times[name].append(time.perf_counter() - start)

    ours = median(times["nbimages"])
    raw: dict[str, Any] = {name: rounded(values) for name, values in times.items()}
    note = f"{len(body) / 1e6:.2f} MB of SSE, final PNG {len(final) / 1e6:.2f} MB {size}, {len(chunks)} chunks of 64 KiB"
    return [
        Row(ROWS[0], ours, median(times["openai"]), "s", 1.0, "< 1.0", "openai SDK + b64decode", raw=raw, note=note),
        Row(ROWS[1], ours, median(times["floor"]), "s", 1.5, "<= 1.5", "floor", raw={"floor": raw["floor"]}),
    ]

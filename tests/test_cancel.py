"""Cancelling a stream: Ctrl-C in a %%imagine cell, ``close()`` from another thread or task.

Every case runs against the simulator on a real socket, stalled right after the first
partial image, so the only way out is the cancel. The server side is the judge: the
simulator's handler must see the client go away within 0.5 s, and the partial image
that arrived must be kept (on the error, in the store as a partial, on screen).
"""

from __future__ import annotations

import _thread
import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.displaypub import DisplayPublisher

import nbimages
from nbimages._requests import image_tool
from nbimages.conversation import Conversation
from nbimages.errors import StreamError
from nbimages.events import PartialImage
from nbimages.magics import magics_for
from nbimages.store import Store

from _images import make_png

LATENCY_LIMIT = 0.5
STALL = 20.0  # far longer than any test may take: only a cancel ends the request in time
IMAGE = {"quality": "low", "size": "256x256"}
AFTER_FIRST_PARTIAL = {"generate": 1, "edit": 1, "respond": 6}  # the event index to stall at
APIS = tuple(AFTER_FIRST_PARTIAL)


def pixels(data: bytes) -> bytes:
    import io

    from PIL import Image as PIL

    return PIL.open(io.BytesIO(data)).convert("RGBA").tobytes()


def stall_after_first_partial(server: Any, api: str) -> None:
    server.simulator.faults.add("stall", seconds=STALL, at_event=AFTER_FIRST_PARTIAL[api])


def server_ending(server: Any, count: int) -> Any:
    """The ``count``-th request's ending, as the simulator's handler saw it."""
    endings = server.wait_for_endings(count, timeout=STALL / 2)
    assert len(endings) >= count, "the server is still sending: the connection was not closed"
    return endings[count - 1]


def start_stream(client: Any, api: str) -> Any:
    if api == "generate":
        return client.generate("a slow painting", stream=True, partial_images=2, **IMAGE)
    if api == "edit":
        return client.edit("a slow painting", make_png(), stream=True, partial_images=2, **IMAGE)
    return client.respond("a slow painting", tools=[image_tool(partial_images=2, **IMAGE)], stream=True)


def close_on_first_partial(stream: Any, close: Callable[[], None]) -> tuple[StreamError, float]:
    """Iterate; on the first partial, another thread closes. Returns the error and when close() ran."""
    closed_at: list[float] = []

    def closer() -> None:
        time.sleep(0.05)  # let the reader block on the stalled socket
        closed_at.append(time.monotonic())
        close()

    thread = threading.Thread(target=closer)
    with pytest.raises(StreamError) as info:
        for event in stream:
            if isinstance(event, PartialImage) and not thread.is_alive() and not closed_at:
                thread.start()
    raised_at = time.monotonic()
    thread.join(5)
    assert raised_at - closed_at[0] < LATENCY_LIMIT, "the reader stayed blocked after close()"
    return info.value, closed_at[0]


# -- close() from another thread -----------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_close_from_another_thread_ends_the_request_at_once(api: str, sim_server: Any) -> None:
    stall_after_first_partial(sim_server, api)
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        stream = start_stream(client, api)
        error, closed_at = close_on_first_partial(stream, stream.close)
    assert error.code == "cancelled" and "cancelled" in str(error)
    assert len(error.partials) == 1 and error.partials[0].width == 256
    assert error.images == []
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone"
    assert end.time - closed_at < LATENCY_LIMIT
    print(f"close() ({api}) -> server saw the close after {(end.time - closed_at) * 1000:.1f} ms")
    assert stream.cancelled


@pytest.mark.parametrize("api", APIS)
def test_closing_a_conversation_turn_keeps_the_partial_in_the_store(api: str, sim_server: Any,
                                                                     tmp_path: Any) -> None:
    stall_after_first_partial(sim_server, api)
    store = Store(tmp_path / "home")
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        conv = Conversation(client, store=store)
        if api == "generate":
            turn = conv.generate("a slow painting", stream=True, **IMAGE)
        elif api == "edit":
            turn = conv.edit("a slow painting", make_png(), stream=True, **IMAGE)
        else:
            turn = conv.send("a slow painting", stream=True, **IMAGE)
        error, closed_at = close_on_first_partial(turn, turn.close)
    assert error.code == "cancelled"
    [kept] = store.list(kind="partial")
    assert [p.path for p in error.partials] == [kept.path] == [p.path for p in turn.partials]
    assert kept.path.read_bytes() == error.partials[0].data
    assert store.count(kind="final") == 0
    assert conv.head is None and conv.all_turns == []  # a cancelled turn is not history
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone" and end.time - closed_at < LATENCY_LIMIT


def test_async_close_from_another_task_ends_the_request_at_once(sim_server: Any) -> None:
    stall_after_first_partial(sim_server, "generate")

    async def main() -> tuple[StreamError, float]:
        async with nbimages.AsyncClient(api_key="sk-test-dummy", base_url=sim_server.url) as client:
            stream = await client.generate("a slow painting", stream=True, partial_images=2, **IMAGE)
            first = asyncio.Event()

            async def read() -> None:
                async for event in stream:
                    if isinstance(event, PartialImage):
                        first.set()

            reader = asyncio.create_task(read())
            await first.wait()
            await asyncio.sleep(0.05)
            closed_at = time.monotonic()
            await stream.close()
            with pytest.raises(StreamError) as info:
                await asyncio.wait_for(reader, LATENCY_LIMIT)
            return info.value, closed_at

    error, closed_at = asyncio.run(main())
    assert error.code == "cancelled" and len(error.partials) == 1
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone" and end.time - closed_at < LATENCY_LIMIT


def test_cancelling_the_task_that_reads_an_async_stream_closes_the_connection(sim_server: Any) -> None:
    stall_after_first_partial(sim_server, "respond")

    async def main() -> tuple[float, int]:
        async with nbimages.AsyncClient(api_key="sk-test-dummy", base_url=sim_server.url) as client:
            stream = await client.respond("a slow painting", tools=[image_tool(partial_images=2, **IMAGE)],
                                          stream=True)
            first = asyncio.Event()

            async def read() -> None:
                async for event in stream:
                    if isinstance(event, PartialImage):
                        first.set()

            reader = asyncio.create_task(read())
            await first.wait()
            await asyncio.sleep(0.05)
            cancelled_at = time.monotonic()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(reader, LATENCY_LIMIT)
            return cancelled_at, len(stream.partials)

    cancelled_at, partials = asyncio.run(main())
    assert partials == 1
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone" and end.time - cancelled_at < LATENCY_LIMIT


def test_closing_after_the_end_is_not_a_cancel(sim_server: Any) -> None:
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        stream = client.generate("a quick painting", stream=True, partial_images=1, **IMAGE)
        images = stream.until_done()
        stream.close()
    assert len(images) == 1 and not stream.cancelled
    assert server_ending(sim_server, 1).outcome == "complete"


# -- Ctrl-C in a %%imagine cell -----------------------------------------------------------------
class HookedPublisher(DisplayPublisher):
    """Records the kind of each output and calls ``on_partial`` when a partial image is shown."""

    def __init__(self, on_partial: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_partial = on_partial
        self.kinds: list[str | None] = []

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None, *args: Any,
                **kwargs: Any) -> None:
        kind = ((metadata or {}).get("nbimages") or {}).get("kind")
        self.kinds.append(kind)
        if kind == "partial" and self.kinds.count("partial") == 1:
            self.on_partial()


@pytest.fixture
def notebook(ipshell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The IPython shell with the magics pointed at the simulator's socket."""
    from nbimages.conversation import set_current_conversation

    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
    set_current_conversation(None)
    yield ipshell
    set_current_conversation(None)


def _raise_here(marks: list[float]) -> Callable[[], None]:
    def interrupt() -> None:  # Ctrl-C arriving while the partial is being drawn
        marks.append(time.monotonic())
        raise KeyboardInterrupt

    return interrupt


def _sigint_later(marks: list[float]) -> Callable[[], None]:
    main = threading.main_thread().ident

    def interrupt() -> None:  # a real SIGINT while the kernel is blocked reading the socket
        def fire() -> None:
            marks.append(time.monotonic())
            signal.pthread_kill(main, signal.SIGINT)  # type: ignore[arg-type]

        threading.Timer(0.1, fire).start()

    return interrupt


def _interrupt_main_later(marks: list[float]) -> Callable[[], None]:
    def interrupt() -> None:  # what ipykernel's interrupt does on some platforms
        def fire() -> None:
            marks.append(time.monotonic())
            _thread.interrupt_main()

        threading.Timer(0.1, fire).start()

    return interrupt


@pytest.mark.parametrize("how", [_raise_here, _sigint_later, _interrupt_main_later],
                         ids=["display-hook", "sigint", "interrupt-main"])
@pytest.mark.parametrize("mode", ["generate", "continue"])
def test_interrupting_imagine_closes_the_connection_and_keeps_the_partial(
        notebook: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any,
        how: Callable[[list[float]], Callable[[], None]], mode: str) -> None:
    api = "respond" if mode == "continue" else "generate"
    options = "--continue" if mode == "continue" else ""
    marks: list[float] = []
    publisher = HookedPublisher(how(marks), shell=notebook)
    monkeypatch.setattr(notebook, "display_pub", publisher)
    stall_after_first_partial(sim_server, api)
    # interrupt_main only raises once the main thread runs Python again: the stalled read must
    # wake up by itself. A read timeout does that, as a server sending keep-alives would.
    if how is _interrupt_main_later:
        notebook.run_line_magic("config", "Imagine.timeout = 0.4")

    started = time.monotonic()
    result = notebook.run_cell(f"%%imagine --partial-images 2 {options}\na slow painting\n")
    capfd.readouterr()

    assert time.monotonic() - started < STALL / 4
    assert isinstance(result.error_in_exec, KeyboardInterrupt), result.error_in_exec
    kinds = publisher.kinds
    assert kinds[-1] == "interrupted" and kinds.count("partial") == 1 and "final" not in kinds, kinds
    assert kinds.index("partial") == len(kinds) - 2  # nothing was drawn after the partial but the note
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone"
    latency = end.time - marks[0]
    print(f"Ctrl-C ({how.__name__}, {mode}) -> server saw the close after {latency * 1000:.1f} ms")
    limit = LATENCY_LIMIT + (0.4 if how is _interrupt_main_later else 0)
    assert 0 <= latency < limit, f"the server saw the connection close {latency * 1000:.0f} ms after Ctrl-C"

    magics = magics_for(notebook)
    [kept] = magics.store.list(kind="partial")  # the preview that arrived is not lost
    assert kept.prompt == "a slow painting" and kept.path.is_file()
    assert magics.store.count(kind="final") == 0
    assert magics.conversation.head is None  # nor is a turn made of it

    # The shell is usable at once: the next cell streams to the end.
    notebook.run_line_magic("config", "Imagine.timeout = 30")
    publisher.on_partial = lambda: None
    result = notebook.run_cell("%%imagine --partial-images 1 --new\na quick painting\n")
    assert result.error_in_exec is None
    assert magics.store.count(kind="final") == 1 and magics.conversation.head is not None


# -- the Studio's Cancel, from Python (the view's button is tested with the widgets) ------------
def test_studio_cancel_closes_the_connection_and_stores_the_partial(sim_server: Any, tmp_path: Any) -> None:
    from nbimages.widgets import Studio

    stall_after_first_partial(sim_server, "generate")
    store = Store(tmp_path / "home")
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        studio = Studio(conversation=Conversation(client, store=store))
        try:
            studio.size, studio.quality = "1024x1024", "low"
            studio.generate("a slow painting")
            deadline = time.monotonic() + 10
            while not studio.partials:
                assert time.monotonic() < deadline, "no partial image arrived"
                time.sleep(0.005)
            time.sleep(0.05)  # the worker is blocked on the stalled socket
            cancelled_at = time.monotonic()
            studio.cancel()
            assert studio.wait(LATENCY_LIMIT) is None
        finally:
            studio.close()
    end = server_ending(sim_server, 1)
    assert end.outcome == "client_gone" and end.time - cancelled_at < LATENCY_LIMIT
    print(f"Studio.cancel() -> server saw the close after {(end.time - cancelled_at) * 1000:.1f} ms")
    assert not studio.busy and studio.last_error is None and len(studio.partials) == 1
    [kept] = store.list(kind="partial")  # the same picture (the stored file adds provenance chunks)
    assert pixels(kept.path.read_bytes()) == pixels(studio.partials[0].data)
    assert store.count(kind="final") == 0 and studio.conversation.all_turns == []

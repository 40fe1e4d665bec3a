"""`TurnRunner`, the one loop behind every turn: against the simulator, in-process or on a socket."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import nbimages
from nbimages.conversation import Conversation
from nbimages.errors import ContentPolicyError, InvalidInputError, StoreError, StreamError
from nbimages.runner import TurnRunner
from nbimages.store import Store

from _images import make_png

IMAGE = {"quality": "low", "size": "256x256"}
LATENCY_LIMIT = 0.5
STALL = 20.0  # only a cancel ends the request in time


class Calls:
    """The callbacks, recording what they were handed, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def partial(self, image: nbimages.Image, index: int) -> None:
        self.seen.append(("partial", index, image))

    def progress(self, status: str) -> None:
        self.seen.append(("progress", status))

    def completed(self, image: nbimages.Image, number: int, total: int) -> None:
        self.seen.append(("completed", number, total, image))

    def runner(self, conv: Conversation, kind: str, prompt: str = "a lighthouse at dusk", **kwargs: Any) -> TurnRunner:
        return TurnRunner(conv, kind, prompt, on_partial=self.partial, on_progress=self.progress,
                          on_completed=self.completed, **kwargs)

    def names(self) -> list[tuple[Any, ...]]:
        return [tuple(x for x in call if not isinstance(x, nbimages.Image)) for call in self.seen]


@pytest.fixture
def conv(client: nbimages.Client, tmp_path: Path) -> Conversation:
    return Conversation(client, store=Store(tmp_path / "home"))


def test_generate_hands_partials_then_the_stored_image_and_commits_the_turn(conv: Conversation,
                                                                           simulator: Any) -> None:
    calls = Calls()
    runner = calls.runner(conv, "generate", options={"partial_images": 2, "n": None, **IMAGE})
    turn = runner.run()

    assert calls.names() == [("partial", 0), ("partial", 1), ("completed", 1, 1)]
    assert turn is not None and conv.head is turn and turn.images == (calls.seen[-1][-1],)
    assert turn.image is not None and turn.image.path is not None  # stored before it was handed on
    assert runner.partials == [calls.seen[0][-1], calls.seen[1][-1]] and runner.completed == list(turn.images)
    [request] = simulator.requests
    assert request.path.endswith("/images/generations") and "n" not in request.json  # None options left out
    assert runner.closed and not runner.cancelled


def test_n_images_are_numbered_as_they_complete(conv: Conversation) -> None:
    calls = Calls()
    turn = calls.runner(conv, "generate", options={"partial_images": 0, "n": 2, **IMAGE}).run()
    assert calls.names() == [("completed", 1, 2), ("completed", 2, 2)]
    assert turn is not None and len(turn.images) == 2


def test_send_reports_progress_without_completed_and_continues_from_the_head(conv: Conversation,
                                                                            simulator: Any) -> None:
    first = Calls().runner(conv, "generate", options={"partial_images": 0, **IMAGE}).run()
    calls = Calls()
    runner = calls.runner(conv, "send", "now add a canoe", options={"partial_images": 1, "n": 3, **IMAGE})
    turn = runner.run()

    names = calls.names()
    statuses = [n[1] for n in names if n[0] == "progress"]
    assert statuses and "completed" not in statuses  # on_completed says that
    assert names.index(("partial", 0)) < names.index(("completed", 1, 1)) == len(names) - 1  # n is not for send
    assert turn is not None and turn.api == "responses" and turn.parent is first
    assert simulator.requests[-1].path.endswith("/responses")


@pytest.mark.parametrize("kind", ["generate", "send"])
def test_a_gif_turn_leaves_out_the_callers_partial_images(conv: Conversation, simulator: Any, kind: str) -> None:
    """GIF arrives whole: a front end's partial-images default is not sent, for either API."""
    calls = Calls()
    turn = calls.runner(conv, kind, "a spinning coin",
                        options={"partial_images": 2, "output_format": "gif", "frame_count": 3, **IMAGE}).run()
    assert turn is not None and turn.image is not None and turn.image.frame_count == 3
    body = simulator.requests[-1].json
    sent = body["tools"][0] if kind == "send" else body
    assert sent["output_format"] == "gif" and "partial_images" not in sent
    assert [n for n in calls.names() if n[0] == "partial"] == []


def test_edit_sends_the_images_and_the_mask(conv: Conversation, simulator: Any) -> None:
    photo = nbimages.Image(make_png((256, 256)))
    mask = nbimages.mask_from_box(photo, (0, 0, 128, 128))
    calls = Calls()
    turn = calls.runner(conv, "edit", "add a star", images=[photo], mask=mask,
                        options={"partial_images": 1, **IMAGE}).run()
    assert turn is not None and calls.names()[-1] == ("completed", 1, 1)
    request = simulator.requests[-1]
    assert request.path.endswith("/images/edits") and "mask" in request.files


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="kind"):
        TurnRunner(None, "variations", "x")  # type: ignore[arg-type]


# -- errors ------------------------------------------------------------------------------------
def test_an_error_propagates_and_commits_nothing(conv: Conversation) -> None:
    runner = Calls().runner(conv, "generate", "a forbidden-content poster", options=IMAGE)
    with pytest.raises(ContentPolicyError):
        runner.run()
    assert conv.head is None and conv.all_turns == [] and not runner.cancelled


def test_a_broken_stream_raises_with_its_partial_kept_in_the_store(conv: Conversation, simulator: Any) -> None:
    simulator.faults.add("cut", after_partials=1)
    calls = Calls()
    runner = calls.runner(conv, "generate", options={"partial_images": 2, **IMAGE})
    with pytest.raises(StreamError) as info:
        runner.run()
    assert calls.names() == [("partial", 0)]
    [kept] = info.value.partials
    assert runner.kept_partials == [kept] and kept.path is not None and kept.path.is_file()
    assert conv.store is not None and conv.store.count(kind="partial") == 1 and conv.head is None


def test_a_store_that_cannot_be_written_keeps_the_image_and_says_why(client: nbimages.Client,
                                                                      tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    conv = Conversation(client, store=Store(blocker / "store"))
    calls = Calls()
    turn = calls.runner(conv, "generate", options={"partial_images": 1, **IMAGE}).run()

    assert turn is not None and isinstance(turn.save_error, StoreError) and "Not a directory" in str(turn.save_error)
    assert turn.image is not None and turn.image.path is None and turn.image is calls.seen[-1][-1]
    assert conv.head is turn  # in memory, in the conversation


def test_ctrl_c_in_a_callback_closes_the_stream_and_keeps_the_partial(conv: Conversation) -> None:
    def interrupt(image: nbimages.Image, index: int) -> None:
        raise KeyboardInterrupt

    runner = TurnRunner(conv, "generate", "a lighthouse", options={"partial_images": 2, **IMAGE},
                        on_partial=interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert runner.closed and len(runner.partials) == 1
    [kept] = runner.kept_partials
    assert kept.path is not None and kept.path.is_file()  # stored: where the note says it is
    assert conv.head is None


# -- cancel from another thread ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["generate", "send"])
def test_cancel_from_another_thread_returns_at_once_keeping_the_partial(kind: str, sim_server: Any,
                                                                        tmp_path: Path) -> None:
    sim_server.simulator.faults.add("stall", seconds=STALL, at_event={"generate": 1, "send": 6}[kind])
    store = Store(tmp_path / "home")
    cancelled_at: list[float] = []
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        conv = Conversation(client, store=store)
        runner: TurnRunner

        def on_partial(image: nbimages.Image, index: int) -> None:
            def cancel() -> None:
                time.sleep(0.05)  # the reader is blocked on the stalled socket
                cancelled_at.append(time.monotonic())
                runner.cancel()

            threading.Thread(target=cancel).start()

        runner = TurnRunner(conv, kind, "a slow painting", options={"partial_images": 2, **IMAGE},
                            on_partial=on_partial)
        turn = runner.run()
        returned_at = time.monotonic()

    assert turn is None and runner.cancelled and runner.closed
    assert returned_at - cancelled_at[0] < LATENCY_LIMIT, "run() stayed blocked after cancel()"
    assert len(runner.partials) == 1 and conv.all_turns == []
    [kept] = store.list(kind="partial")
    assert [p.path for p in runner.kept_partials] == [kept.path]
    [end] = sim_server.wait_for_endings(1, timeout=STALL / 2)
    assert end.outcome == "client_gone" and end.time - cancelled_at[0] < LATENCY_LIMIT


def test_cancel_before_the_stream_opens_returns_none_and_commits_nothing(conv: Conversation) -> None:
    calls = Calls()
    runner = calls.runner(conv, "generate", options=IMAGE)
    runner.cancel()
    assert runner.run() is None
    assert calls.seen == [] and runner.closed and conv.all_turns == []

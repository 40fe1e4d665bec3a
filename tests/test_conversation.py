"""Conversation against the in-process simulator: turns, continuation, undo, branch, store-first."""

from __future__ import annotations

from typing import Any

import pytest

import nbimages
from nbimages.conversation import Conversation, current_conversation, set_current_conversation
from nbimages.events import ImageCompleted, PartialImage
from nbimages.store import Store


@pytest.fixture
def store(tmp_path: Any) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def conv(client: nbimages.Client, store: Store) -> Conversation:
    return Conversation(client, store=store)


def _last_json(simulator: Any) -> dict[str, Any]:
    return simulator.requests[-1].json


def test_generate_commits_a_turn_with_a_stored_image(conv: Conversation, store: Store) -> None:
    turn = conv.generate("a red circle", size="1024x1024", quality="low")
    assert conv.head is turn and turn.api == "images"
    assert turn.image is not None and turn.image.path is not None and turn.image.path.exists()
    assert turn.image.path.parent.is_relative_to(store.images_dir)
    assert store.count() == 1


def test_send_after_generate_sends_the_image_as_input(conv: Conversation, simulator: Any) -> None:
    first = conv.generate("a blue square")
    conv.send("now add a yellow star")
    body = _last_json(simulator)
    assert "previous_response_id" not in body
    content = body["input"][0]["content"]
    assert content[0] == {"type": "input_text", "text": "now add a yellow star"}
    assert content[1]["type"] == "input_image" and content[1]["image_url"].startswith("data:image/png;base64,")
    assert body["tools"][0]["type"] == "image_generation"
    assert conv.head is not None and conv.head.parent is first


def test_send_twice_continues_with_previous_response_id(conv: Conversation, simulator: Any) -> None:
    one = conv.send("a serene forest lake at sunrise")
    assert one.response_id and one.response_id.startswith("resp")
    two = conv.send("now add a canoe")
    assert _last_json(simulator)["previous_response_id"] == one.response_id
    assert two.parent is one and two.image is not None and two.image.data != one.image.data  # type: ignore[union-attr]
    assert [t.prompt for t in conv.turns] == ["a serene forest lake at sunrise", "now add a canoe"]


def test_streamed_turn_stores_before_yielding_and_commits_at_the_end(conv: Conversation, store: Store) -> None:
    stream = conv.send("a green mountain", stream=True, partial_images=2)
    kinds = []
    for event in stream:
        kinds.append(type(event).__name__)
        if isinstance(event, ImageCompleted):
            assert event.image.path is not None and event.image.path.exists()
            assert conv.head is None  # not committed before the stream completes
    assert kinds.count("PartialImage") == 2 and "ImageCompleted" in kinds
    assert stream.turn is conv.head and stream.turn is not None
    assert stream.turn.image is not None and stream.turn.image.path is not None


def test_undo_checkout_and_branch(conv: Conversation, simulator: Any) -> None:
    a = conv.send("a red circle")
    b = conv.send("make it bigger")
    assert conv.undo() is a
    c = conv.send("make it purple instead")
    assert _last_json(simulator)["previous_response_id"] == a.response_id
    assert c.parent is a and b in conv.all_turns
    conv.checkout(b)
    assert conv.head is b
    other = conv.branch(a)
    assert other.head is a and other.store is conv.store
    other.send("add a moon")
    assert _last_json(simulator)["previous_response_id"] == a.response_id
    assert conv.head is b  # branching leaves the original alone
    with pytest.raises(nbimages.InvalidInputError, match="turn"):
        conv.checkout(10_000_000)


def test_broken_stream_keeps_partials_in_store_and_history_unchanged(
    conv: Conversation, simulator: Any, store: Store
) -> None:
    simulator.faults.add("cut", after_events=1)
    stream = conv.generate("an orange sun", stream=True, partial_images=2)
    seen: list[Any] = []
    with pytest.raises(nbimages.StreamError) as info:
        for event in stream:
            seen.append(event)
    assert [type(e) for e in seen] == [PartialImage]
    assert len(info.value.partials) == 1 and info.value.partials[0].path is not None
    assert info.value.partials[0].path.exists()
    assert conv.head is None and conv.all_turns == []
    assert store.count(kind="partial") == 1


def test_edit_uses_current_image_and_mask(conv: Conversation, simulator: Any) -> None:
    base = conv.generate("a white house", size="1024x1024")
    assert base.image is not None
    mask = nbimages.mask_from_box(base.image, (0, 0, 512, 512))
    turn = conv.edit("add a red door", mask=mask)
    request = simulator.requests[-1]
    assert request.path.endswith("/images/edits")
    assert turn.parent is base and turn.image is not None
    assert turn.image.params.get("endpoint") == "images/edits"


def test_usage_recorded_per_turn(conv: Conversation, store: Store) -> None:
    conv.generate("a pink flower", quality="low")
    conv.send("add a bee")
    rows = store.usage_summary()
    assert sum(row["requests"] for row in rows) == 2
    assert all(row["output_tokens"] > 0 for row in rows)


def test_current_conversation_is_shared_and_replaceable(client: nbimages.Client, store: Store) -> None:
    mine = Conversation(client, store=store)
    set_current_conversation(mine)
    try:
        assert current_conversation() is mine
        assert nbimages.current_conversation() is mine
    finally:
        set_current_conversation(None)

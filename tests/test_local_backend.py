"""Clients without a key share one in-process simulator, as clients of the real API share one server."""

from __future__ import annotations

import pytest

import nbimages


def test_ids_made_through_one_client_are_known_to_another(png: object) -> None:
    with nbimages.Client() as first, nbimages.Client() as second:
        assert first.backend == second.backend == "local"
        file_id = first.upload(png((40, 30), (0, 0, 255)))  # type: ignore[operator]
        assert "40 × 30 pixels" in second.describe(file_id, "What is this?")
        response = first.respond("A red kite", tools=[nbimages.image_tool()])
        follow_up = second.respond("Make it blue", tools=[nbimages.image_tool()],
                                   previous_response_id=response.id)
        assert follow_up.image is not None


def test_a_conversation_continues_after_its_client_is_replaced() -> None:
    """What the magics do when they adopt a conversation a Studio started with its own client."""
    conv = nbimages.Conversation(nbimages.Client(), store=False)
    conv.send("A koi pond")
    conv.client.close()
    conv.client = nbimages.Client()
    turn = conv.send("Add a bridge")
    assert turn.image is not None and turn.parent is not None and turn.parent.response_id


def test_async_and_blocking_clients_share_it_too(png: object) -> None:
    import asyncio

    async def upload() -> str:
        async with nbimages.AsyncClient() as aclient:
            return str(await aclient.upload(png((20, 20), (0, 255, 0))))  # type: ignore[operator]

    file_id = asyncio.run(upload())
    with nbimages.Client() as client:
        assert "20 × 20 pixels" in client.describe(file_id)


@pytest.mark.parametrize(("env", "forced"), [({}, False), ({"OPENAI_API_KEY": "sk-set", "NBIMAGES_BACKEND": "local"}, True)])
def test_the_notice_says_why_the_simulator_is_used(env: dict[str, str], forced: bool, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import nbimages.client as client_module

    monkeypatch.setattr(client_module, "_announced", False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with nbimages.Client() as client:
        assert client.backend == "local"
    err = capsys.readouterr().err
    assert err.count("images come from the built-in offline simulator") == 1
    assert ("no OPENAI_API_KEY set" in err) is not forced
    assert ("NBIMAGES_BACKEND=local" in err) is forced
    assert "sk-set" not in err

"""tests/notebooks/magics_smoke.ipynb executed in a real kernel with nbclient, against the simulator.

nbclient applies ``update_display_data`` to the output it updates, so the saved notebook only
shows the last state of each live area. To see the partial images as they streamed, the
client below records every IOPub message (type, display id, nbimages metadata, arrival
time) before nbclient handles it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nbimages import config

pytestmark = pytest.mark.notebook

NOTEBOOK = Path(__file__).parent / "notebooks" / "magics_smoke.ipynb"
PARTIAL_INTERVAL = 0.2  # the simulator's pause before each partial image and the final one
LATENCY = 0.45  # and before its first byte: long enough for the status line to tick (every 0.1 s)


def _recording_client(nb: Any, cwd: Path) -> Any:
    from nbclient import NotebookClient

    class RecordingClient(NotebookClient):  # type: ignore[misc]
        messages: ClassVar[list[dict[str, Any]]] = []

        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            content = msg.get("content") or {}
            transient = content.get("transient") or {}
            self.messages.append({
                "cell": cell_index,
                "type": msg["msg_type"],
                "display_id": transient.get("display_id"),
                "meta": (content.get("metadata") or {}).get("nbimages") or {},
                "at": time.perf_counter(),
                "state": content.get("execution_state"),
                "widget": (content.get("data") or {}).get("state") if msg["msg_type"] == "comm_msg" else None,
                "view": (content.get("data") or {}).get("application/vnd.jupyter.widget-view+json"),
            })
            return super().process_message(msg, cell, cell_index)

    return RecordingClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[dict[str, Any]], Path]:
    import nbformat

    cwd = tmp_path_factory.mktemp("notebook")
    env = {
        "NBIMAGES_HOME": str(cwd / "store"),  # under the notebook's folder: captions link to the files
        "NBIMAGES_SIM_LATENCY": str(LATENCY),
        "NBIMAGES_SIM_PARTIAL_INTERVAL": str(PARTIAL_INTERVAL),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "NBIMAGES_BACKEND"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = _recording_client(nb, cwd)
        client.execute()
    nbformat.validate(nb)
    return nb, client.messages, cwd


def _cell(nb: Any, start: str) -> tuple[int, Any]:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(start):
            return index, cell
    raise LookupError(start)


def _displays(cell: Any) -> list[Any]:
    """The cell's displays, but for the simulator notice (shown once, in the first cell that made a client)."""
    return [o for o in cell.outputs if o.output_type == "display_data"
            and o.metadata.get("nbimages", {}).get("kind") != "notice"]


def _display_messages(messages: list[dict[str, Any]], cell: int) -> list[dict[str, Any]]:
    """The cell's image output as it was shown and updated (not the widget line under it, nor the
    simulator notice)."""
    return [m for m in messages if m["cell"] == cell and m["type"] in ("display_data", "update_display_data")
            and m["view"] is None and m["meta"].get("kind") != "notice"]


def _actions_line(messages: list[dict[str, Any]], cell: int) -> list[dict[str, Any]]:
    """The state updates of the line under the cell's image (`ImageActions`), in order."""
    [shown] = [m for m in messages if m["cell"] == cell and m["view"] is not None]
    return [m["widget"] for m in messages if m["cell"] == cell and m["widget"] and m["at"] >= shown["at"]]


def test_no_errors_and_no_tracebacks(executed: Any) -> None:
    nb, messages, _ = executed
    assert not [m for m in messages if m["type"] == "error"]
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error"
            assert "Traceback" not in json.dumps(output)
            assert output.output_type != "stream" or output.name != "stderr", output.text
    # The simulator is announced once, as a quiet note (on stderr it would look like an error).
    notes = [o for c in nb.cells for o in c.get("outputs", []) if "offline simulator" in json.dumps(o.get("data", {}))
             and o.get("metadata", {}).get("nbimages", {}).get("kind") == "notice"]
    assert len(notes) == 1 and notes[0].output_type == "display_data"


def test_partials_stream_into_one_area_before_the_final_image(executed: Any) -> None:
    nb, messages, _ = executed
    index, _ = _cell(nb, "%%imagine --size")
    shown = _display_messages(messages, index)
    assert shown[0]["type"] == "display_data" and shown[0]["meta"]["kind"] == "status"
    assert {m["display_id"] for m in shown} == {shown[0]["display_id"]}
    updates = shown[1:]
    assert all(m["type"] == "update_display_data" for m in updates)
    # In a notebook the clock is the line under the image (it ticks in the browser): the output
    # itself is not sent again to refresh a time, and every phase reaches the line.
    assert not [m for m in updates if m["meta"].get("refresh")]
    line = _actions_line(messages, index)
    phases = [state["phase"] for state in line if state.get("phase")]
    assert phases[0] == "sending the request…" and "partial 1 of 3" in phases
    assert "partial 3 of 3 · finishing the final image…" in phases
    elapsed = [state["elapsed"] for state in line if "elapsed" in state]
    assert elapsed == sorted(elapsed) and elapsed[-1] > LATENCY
    assert line[-1] == {**line[-1], "running": False, "count": 1}  # then its actions, for the image
    partials = [m for m in updates if m["meta"].get("kind") == "partial"]
    assert [m["meta"]["index"] for m in partials] == [0, 1, 2]
    assert updates[-1]["meta"]["kind"] == "final"
    # They arrived while the cell ran, paced like the server, not in a burst at the end.
    gaps = [b["at"] - a["at"] for a, b in zip(partials, [*partials[1:], updates[-1]])]
    assert min(gaps) > PARTIAL_INTERVAL * 0.5, gaps
    idle = next(m["at"] for m in messages if m["cell"] == index and m["state"] == "idle")
    assert idle - partials[0]["at"] > 2 * PARTIAL_INTERVAL


def test_the_saved_output_is_the_final_image_with_its_caption(executed: Any) -> None:
    nb, _, cwd = executed
    _, cell = _cell(nb, "%%imagine --size")
    output, line = _displays(cell)  # the live area, updated in place, and the line under it
    assert {o.output_type for o in cell.outputs} <= {"stream", "display_data"}  # no result, no error
    assert "application/vnd.jupyter.widget-view+json" in line.data and line.data["text/plain"] == ""
    meta = output.metadata["nbimages"]
    assert meta["kind"] == "final" and meta["width"] == 1536 and meta["height"] == 1024
    path = Path(meta["path"])
    assert path.is_file() and path.is_relative_to(cwd / "store")
    html = output.data["text/html"]
    assert len(re.findall(r'<img src="data:image/webp;base64,', html)) == 1
    assert 'width="384" height="256"' in html
    assert f'<a href="{path.relative_to(cwd).as_posix()}"' in html  # the full file, one click away
    assert "1536×1024" in output.data["text/plain"] and f"saved to {path}" in output.data["text/plain"]
    assert len(json.dumps(output)) < 40_000  # a preview, not the full image


def test_continue_and_describe_and_history(executed: Any) -> None:
    nb, messages, _ = executed
    index, cell = _cell(nb, "%%imagine --continue")
    output, _line = _displays(cell)
    html = output.data["text/html"]
    assert output.metadata["nbimages"]["kind"] == "final" and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the revised prompt, escaped
    assert sum(m["meta"].get("kind") == "partial" for m in _display_messages(messages, index)) == 2

    index, cell = _cell(nb, "%describe")
    [answer] = _displays(cell)
    assert answer.metadata["nbimages"]["kind"] == "answer" and "<strong>" in answer.data["text/html"]
    assert len(_display_messages(messages, index)) >= 2  # it streamed

    _, cell = _cell(nb, "%imagine_history")
    [history] = _displays(cell)
    assert [t["prompt"][:9] for t in history.metadata["nbimages"]["turns"]] == ["A serene ", "Now add a"]


def test_running_the_cell_again_reuses_the_stored_image(executed: Any) -> None:
    nb, messages, _ = executed
    first_index, first = _cell(nb, "%%imagine --size")
    again_index = max(i for i, c in enumerate(nb.cells) if c.source == first.source)
    assert again_index != first_index
    output, _line = _displays(nb.cells[again_index])
    assert output.metadata["nbimages"]["cached"] is True
    assert output.metadata["nbimages"]["path"] == _displays(first)[0].metadata["nbimages"]["path"]
    assert "reused from the store" in output.data["text/plain"]
    assert [m["type"] for m in _display_messages(messages, again_index)] == ["display_data"]

    _, usage = _cell(nb, "%imagine_usage")
    rows = {r["model"]: r for r in _displays(usage)[0].metadata["nbimages"]["rows"]}
    row = rows[config.DEFAULT_IMAGE_MODEL]
    assert row["cached"] == 1 and row["requests"] >= 1
    assert row["estimated_cost_usd"] is None  # no published price for the default model: never guessed

    _, last = _cell(nb, "import nbimages")
    assert last.outputs[-1].text.split() == ["3", "True"]

"""The tutorial notebooks, executed top to bottom with nbclient against the offline simulator.

Each notebook runs in a real python3 kernel started in a temporary copy of ``notebooks/``
with its own ``NBIMAGES_HOME``, no OpenAI variables and a small simulator latency (partial
images still arrive one by one). All notebooks are executed concurrently, once per session;
each test then checks one executed notebook: no error anywhere, the outputs that notebook
is about (images, captions, answers, widgets), and its size on disk.

Sizes: the embedded previews of the simulator's pictures measure 2-27 KB each (512 px WebP
finals, JPEG thumbnails, the widgets' static PNGs), and one anywidget's saved state about
37 KB (mostly its ES module). The bounds below leave room over those numbers but fail as
soon as a full-size image is embedded: a preview's long side must stay within 640 px, and
a full 1024x1024 picture (24-40 KB from the simulator, 1.5-3 MB from the API) exceeds the
per-image budget once base64-encoded with its caption.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nbimages import config

pytestmark = pytest.mark.notebook

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb") if not p.name.endswith(".executed.ipynb"))
KEY_CANARY = "sk-canary-" + "7" * 40  # a fake key that must never reach an output or a file
CANARY_RUNS = ("01_quickstart.ipynb", "07_widgets.ipynb")  # magics and widgets: where a key could leak

MAX_PREVIEW_SIDE = 640  # the magics' previews are 512 px; the Gallery's contact sheet is a little wider
MAX_IMAGE_BYTES = 40_000  # decoded bytes of one embedded image (measured: at most 27 KB)
GROWTH_PER_IMAGE = 24_000  # file growth per embedded image, with its caption and text (measured: <= 18 KB)
GROWTH_PER_WIDGET = 48_000  # saved state of one anywidget (measured: about 37 KB)
GROWTH_PER_LINE = 8_000  # one line under a %%imagine output: its loader (measured: about 5 KB)
GROWTH_PER_MODULE = 48_000  # the lines' shared module, once per notebook (measured: about 40 KB)
GROWTH_SLACK = 16_000
SIMULATOR_NOTICE = "images come from the built-in offline simulator"


@dataclass
class Run:
    name: str
    nb: Any  # the executed NotebookNode
    path: Path  # the executed notebook, written to disk
    workdir: Path
    home: Path
    seconds: float
    error: BaseException | None = None


def _kernel_env(home: Path, ipython_dir: Path, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NBIMAGES_"))}
    env.update(
        NBIMAGES_HOME=str(home),
        NBIMAGES_SIM_LATENCY="0.02",
        NBIMAGES_SIM_PARTIAL_INTERVAL="0.03",
        IPYTHONDIR=str(ipython_dir),
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    if key is not None:
        env.update(OPENAI_API_KEY=key, NBIMAGES_BACKEND="local")
    return env


async def _execute(name: str, root: Path, key: str | None, limit: asyncio.Semaphore) -> Run:
    import nbformat
    from nbclient import NotebookClient

    workdir = root / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, workdir, ignore=shutil.ignore_patterns("*.executed.ipynb", ".ipynb_checkpoints"))
    home = root / "home"
    nb = nbformat.read(workdir / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(workdir)}})
    run = Run(name, nb, workdir / name.replace(".ipynb", ".executed.ipynb"), workdir, home, 0.0)
    async with limit:
        start = time.monotonic()
        try:
            await client.async_execute(env=_kernel_env(home, root / "ipython", key))
        except BaseException as exc:  # reported by the notebook's own test
            run.error = exc
        run.seconds = time.monotonic() - start
    nbformat.write(nb, run.path)
    return run


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], Run]:
    """Every notebook executed once (and the canary notebooks once more with a fake key set)."""
    jobs = [(name, False) for name in NOTEBOOKS] + [(name, True) for name in CANARY_RUNS if name in NOTEBOOKS]

    async def run_all() -> list[Run]:
        limit = asyncio.Semaphore(max(2, min(len(jobs), os.cpu_count() or 2)))
        return await asyncio.gather(*(
            _execute(name, tmp_path_factory.mktemp(name.split("_")[0] + ("-key" if key else "")),
                     KEY_CANARY if key else None, limit)
            for name, key in jobs))

    runs = asyncio.run(run_all())
    return {(job[0], job[1]): run for job, run in zip(jobs, runs)}


# -- reading an executed notebook ------------------------------------------------------------
def code_cells(nb: Any, start: str) -> list[Any]:
    """The code cells whose source starts with ``start`` (or is exactly ``start`` when it ends with '$')."""
    if start.endswith("$"):
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == start[:-1]]
    else:
        cells = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(start)]
    assert cells, f"no code cell starts with {start!r}"
    return cells


def outputs(nb: Any, start: str, occurrence: int = 0) -> list[Any]:
    return list(code_cells(nb, start)[occurrence].outputs)


def text(outs: list[Any]) -> str:
    """Everything a reader sees as text: streams and text/plain. A stream the kernel flushed in
    pieces (a busy machine) reads as one, as JupyterLab shows it."""
    parts: list[str] = []
    previous: Any = None
    for out in outs:
        if out.output_type == "stream" and previous is not None and previous.get("name") == out.name:
            parts[-1] += out.text
        elif out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
        previous = out if out.output_type == "stream" else None
    return "\n".join(parts)


def html(outs: list[Any]) -> str:
    return "\n".join(out.data.get("text/html", "") for out in outs if "data" in out)


def meta(out: Any) -> dict[str, Any]:
    return dict(out.get("metadata", {}).get("nbimages", {}))


def finals(outs: list[Any]) -> list[Any]:
    return [o for o in outs if meta(o).get("kind") == "final"]


def embedded_images(nb: Any) -> list[tuple[str, bytes]]:
    """(where, decoded bytes) of every image in the outputs: image/* data and data URLs in HTML."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for mime, value in out.get("data", {}).items():
                value = "".join(value) if isinstance(value, list) else value
                if mime.startswith("image/"):
                    found.append((mime, base64.b64decode(value)))
                elif mime == "text/html":
                    found += [("data URL", base64.b64decode(m.group(1)))
                              for m in re.finditer(r"data:image/[a-z+]+;base64,([A-Za-z0-9+/=]+)", value)]
    return found


LINE_UNDER_OUTPUTS = "nbimages.widgets.image_actions.ImageActions"


def saved_states(nb: Any) -> dict[str, Any]:
    """Every widget state the notebook saved (nbclient saves them all)."""
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return dict(widgets.get("state", {}))


def shared_modules(nb: Any) -> list[Any]:
    """The states holding the lines' module (`widgets.image_actions.ModuleHolder`)."""
    return [v for v in saved_states(nb).values() if {"code", "css"} <= v.get("state", {}).keys()]


def all_widget_states(nb: Any) -> dict[str, Any]:
    return {k: v for k, v in saved_states(nb).items() if v.get("model_name") == "AnyModel"}


def widget_states(nb: Any) -> dict[str, Any]:
    """The widgets the notebook made (not the status and action line under each image output)."""
    return {k: v for k, v in all_widget_states(nb).items() if v["state"].get("_anywidget_id") != LINE_UNDER_OUTPUTS}


def line_under(nb: Any, output: Any) -> dict[str, Any]:
    """The state of the status and action line a ``%%imagine`` output has under it."""
    model_id = output.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    state: dict[str, Any] = all_widget_states(nb)[model_id]["state"]
    assert state["_anywidget_id"] == LINE_UNDER_OUTPUTS
    return state


# -- what every notebook must satisfy --------------------------------------------------------
def check_ran_cleanly(run: Run) -> None:
    assert run.error is None, f"{run.name} did not finish: {run.error!r}"
    code = [c for c in run.nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "not every cell ran"
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", f"{cell.source[:60]!r} raised {out.ename}: {out.evalue}"
            assert "error" not in meta(out), f"{cell.source[:60]!r} showed an error: {text([out])}"
            if out.output_type == "stream" and out.name == "stderr":
                assert "Traceback" not in out.text and "Error" not in out.text, out.text
                assert SIMULATOR_NOTICE not in out.text, "the simulator notice looks like an error on stderr"
    notices = sum(text(c.outputs).count(SIMULATOR_NOTICE) for c in code)
    assert notices == 1, f"the simulator notice appeared {notices} times"


def check_size(run: Run) -> None:
    images = embedded_images(run.nb)
    from nbimages.image import sniff

    for where, data in images:
        fmt, width, height = sniff(data)
        assert fmt is not None, f"an embedded {where} is not an image"
        if fmt != "svg":  # a vector drawing is embedded whole: its size says nothing of its bytes
            assert max(width or 0, height or 0) <= MAX_PREVIEW_SIDE, f"a full-size {width}x{height} {where} was embedded"
        assert len(data) <= MAX_IMAGE_BYTES, f"an embedded {where} takes {len(data):,} bytes"
    widgets, lines = widget_states(run.nb), len(all_widget_states(run.nb)) - len(widget_states(run.nb))
    modules = shared_modules(run.nb)
    assert len(modules) <= 1  # one copy of the lines' module, however many lines
    size = run.path.stat().st_size
    growth = size - (NOTEBOOKS_DIR / run.name).stat().st_size
    budget = (len(images) * GROWTH_PER_IMAGE + len(widgets) * GROWTH_PER_WIDGET + lines * GROWTH_PER_LINE
              + len(modules) * GROWTH_PER_MODULE + GROWTH_SLACK)
    print(f"{run.name}: {run.seconds:.1f} s, {size / 1024:.1f} KB ({growth / 1024:.1f} KB of outputs), "
          f"{len(images)} images, {len(widgets)} widgets, {lines} lines, budget {budget / 1024:.0f} KB")
    assert growth <= budget


def stored_files(run: Run) -> list[Path]:
    return sorted((run.home / "images").rglob("*.png"))


# -- per notebook ------------------------------------------------------------------------------
def check_quickstart(run: Run) -> None:
    nb = run.nb
    first = finals(outputs(nb, "%%imagine --partial-images 2"))
    assert len(first) == 1 and first[0].data["text/html"].count("data:image/webp;base64,") == 1
    assert "offline simulator" in text(first) and "1024×1024" in text(first)
    path = Path(meta(first[0])["path"])
    assert path.is_file() and path.is_relative_to(run.home)

    made, again = outputs(nb, "%%imagine --size 1536x1024", 0), outputs(nb, "%%imagine --size 1536x1024", 1)
    assert not meta(finals(made)[0])["cached"] and meta(finals(again)[0])["cached"]
    assert "reused from the store" in text(again)
    assert meta(finals(made)[0])["path"] == meta(finals(again)[0])["path"]
    assert "size: 1536 x 1024" in text(outputs(nb, "print(harbour)"))

    description = text(outputs(nb, "%describe last$"))
    assert "1536 × 1024 pixels" in description and "Dominant colours" in description
    assert text(outputs(nb, "%describe last What")).count("What colours dominate the sky?") == 1

    refined = finals(outputs(nb, "%%imagine -c"))
    assert refined and meta(refined[0])["params"]["endpoint"] == "responses"
    history = text(outputs(nb, "%imagine_history$")).splitlines()
    assert len(history) == 4 and history[-1].startswith("→ 4.") and "lit window" in history[-1]

    (usage,) = outputs(nb, "%imagine_usage")
    rows = {row["model"]: row for row in meta(usage)["rows"]}
    images = rows[config.DEFAULT_IMAGE_MODEL]
    assert images["requests"] == 3 and images["cached"] == 1
    assert images["estimated_cost_usd"] is None and "unknown" in usage.data["text/plain"]  # never guessed
    assert rows["gpt-5"]["requests"] == 2  # the two %describe
    assert "$" in usage.data["text/html"]

    lantern = finals(outputs(nb, "%%imagine --quality low"))[0]
    assert 'width="384"' in lantern.data["text/html"]  # %config Imagine.preview_size = 384
    listing = text(outputs(nb, "import nbimages")).splitlines()
    assert listing[0] == f"store: {run.home}" and len(listing) == 1 + 4
    assert len(stored_files(run)) == 4


def check_streaming(run: Run) -> None:
    nb = run.nb
    assert finals(outputs(nb, "%%imagine --partial-images 3"))
    events = text(outputs(nb, "import time"))
    for expected in ("partial 0:", "partial 1:", "partial 2:", "final: 1024x1024",
                     "3 partial images and 1 final image kept on the stream"):
        assert expected in events
    times = [float(line.split()[0]) for line in events.splitlines() if " s  " in line]
    assert times == sorted(times) and len(times) == 4

    live = outputs(nb, "from IPython.display import HTML, display")
    picture, status = [o for o in live if o.output_type == "display_data"]
    assert "image/jpeg" in picture.data and "jpeg 256x256" in picture.data["text/plain"]
    assert "final image" in status.data["text/html"]  # the last update replaced the partials
    assert "png 1024x1024" in text(live)

    early = outputs(nb, "with client.generate(\"A castle")
    assert "1 partial image kept, 0 final images" in text(early)
    assert any("image/jpeg" in o.get("data", {}) for o in early)

    respond = text(outputs(nb, "stream = client.respond("))
    assert "progress: generating" in respond and "partial image 1" in respond
    assert re.search(r"resp_\w+ -> <nbimages.Image png 1024x1024", respond)
    watched = outputs(nb, "async def watch")
    assert text(watched).count("PartialImage") == 2 and "ImageCompleted" in text(watched)

    # Keep working while it draws: each --no-wait cell ended with its placeholder, and the jobs went on.
    placeholder, _ = outputs(nb, "%%imagine --no-wait --partial-images 2")
    assert placeholder.output_type == "display_data" and meta(placeholder)["kind"] in ("status", "partial", "final")
    queued, line = outputs(nb, "%%imagine --no-wait --continue")
    assert meta(queued)["kind"] == "queued"
    assert line_under(nb, line)["count"] == 1  # the job ended after its cell, with its image
    cancelled, _line, listed = outputs(nb, "%imagine --no-wait --new")
    assert meta(cancelled)["kind"] == "cancelled" and meta(listed)["jobs"][2]["state"] == "cancelled"
    (waited,) = outputs(nb, "%imagine_jobs --wait")
    jobs = meta(waited)["jobs"]
    assert [(j["id"], j["state"]) for j in jobs] == [(1, "done"), (2, "done"), (3, "cancelled")]
    assert jobs[0]["prompt"].startswith("A harbour") and jobs[0]["progress"] == "2 partial images"
    assert jobs[0]["where"] == f"In [{code_cells(nb, '%%imagine --no-wait --partial-images 2')[0].execution_count}]"
    result = text(outputs(nb, "print(harbour)"))
    assert "<nbimages.Image png 1024x1024" in result and "'A harbour at dusk, fishing boats coming home', " \
        "'Light the lanterns on the boats']" in result


def check_conversations(run: Run) -> None:
    nb = run.nb
    assert finals(outputs(nb, "%%imagine --quality low"))
    cont = code_cells(nb, "%%imagine -c")
    assert len(cont) == 3 and all(finals(c.outputs) for c in cont)
    first_history, second_history = (text(outputs(nb, "%imagine_history$", i)).splitlines() for i in (0, 1))
    assert len(first_history) == 3 and "night" in first_history[-1] and first_history[-1].startswith("→")
    assert "now at turn 2" in text(outputs(nb, "%imagine_undo"))
    assert len(second_history) == 3 and "snowy" in second_history[-1] and "cat" in second_history[1]
    everything = text(outputs(nb, "%imagine_history --all")).splitlines()
    assert len(everything) == 4 and "night" in everything[2] and everything[3].startswith("→ 4.")

    turns = text(outputs(nb, "import nbimages"))
    assert re.search(r"→ turn \d+ \(parent \d+, responses\): Make it a snowy", turns)
    branch = outputs(nb, "first = conv.all_turns[0]")
    assert "'Paint it as a loose watercolour']" in text(branch) and "still ends at: Make it a snowy" in text(branch)
    boat = text(outputs(nb, "boat = nbimages.Conversation()"))
    assert "'Make the boat red']" in boat and "'Make the boat yellow']" in boat and "4 turns in all" in boat
    assert "'previous_response_id': 'resp_" in text(outputs(nb, "print(boat.continuation())"))
    frog = outputs(nb, "with boat.send(")
    assert "2 partial images; committed: Add a green frog" in text(frog)
    assert sum("image/jpeg" in o.get("data", {}) for o in frog) == 4


def check_edits(run: Run) -> None:
    nb = run.nb
    painter = outputs(nb, "painter = nbimages.MaskPainter(room)")[0]
    assert "application/vnd.jupyter.widget-view+json" in painter.data and "image/png" in painter.data
    assert "nothing painted: using a box, 16% of the image" in text(outputs(nb, "if painter.painted.any()"))
    assert "image/jpeg" in outputs(nb, "from io import BytesIO")[0].data
    edit = finals(outputs(nb, "%%imagine --edit room --mask mask"))
    assert edit and meta(edit[0])["params"]["endpoint"] == "images/edits"
    pasted = text(outputs(nb, "import numpy as np"))
    assert re.search(r"pixels changed outside the mask: [\d.]+% as returned, 0\.0% after paste_outside_mask", pasted)
    assert text(outputs(nb, "(plant_room,) = painter.edit(")).startswith("True True")
    assert "canvas: 1536 x 1024" in text(outputs(nb, "wide, border = nbimages.outpaint"))
    assert "png 1536x1024" in text(outputs(nb, "prompt = \"Extend the living room"))
    markup_edit = finals(outputs(nb, "%%imagine --edit room --markup marks"))
    assert markup_edit and meta(markup_edit[0])["params"].get("markup") is True
    assert re.search(r"pixels changed: [\d.]+% of the image, 0 of them more than 64 px away",
                     text(outputs(nb, "changed = (room.to_numpy()")))
    assert "markup: " in text(outputs(nb, 'painter.mode = "markup"'))
    assert "image/jpeg" in outputs(nb, "(lamp_room_2,) = painter.edit(")[-1].data
    assert len(widget_states(nb)) == 1


def check_vision(run: Run) -> None:
    nb = run.nb
    photo = text(outputs(nb, "%describe landscape.png"))
    assert photo.count("You asked: What is in this picture?") == 1 and "576 × 384 pixels" in photo
    assert "sky blue" in photo  # the sky we drew
    low = text(outputs(nb, "%describe photo --detail low"))
    assert "analysed at low detail" in low
    assert text(outputs(nb, "print(answer")).strip() == "I'm the offline simulator, so I can only report what the pixels measure:"
    size = (run.workdir / "landscape.png").stat().st_size
    assert f"downloaded {size:,} bytes" in text(outputs(nb, "import urllib.request"))
    assert "576 × 384 pixels" in text(outputs(nb, "%describe downloaded"))
    assert "BadRequestError 400 (invalid_image_url)" in text(outputs(nb, "client = nbimages.Client()"))
    chart = outputs(nb, "%describe fig")
    assert "Which region sold the most" in text(chart) and "data:image/webp;base64," in html(chart)
    both = text(outputs(nb, "harbour = client.generate("))
    assert "**Image 1**: 576 × 384" in both and "**Image 2**: 1024 × 1024" in both
    streamed = text(outputs(nb, "for event in client.describe("))
    assert streamed.startswith("I'm the offline simulator, so I can only report") and "**Image**: " in streamed
    uploaded = text(outputs(nb, "file_id = client.upload("))
    assert re.search(r"file id: file-\w+", uploaded) and "576 × 384 pixels" in uploaded


def check_python_api(run: Run) -> None:
    nb = run.nb
    assert "backend: local" in text(outputs(nb, "import nbimages"))
    assert text(outputs(nb, "prompt = \"A red panda chef")).count("<nbimages.Image png 1024x1024") == 2
    facts = text(outputs(nb, "image = images[0]"))
    assert "format: png | size: 1024 x 1024" in facts and "'quality': 'low'" in facts and "output_tokens=" in facts
    saved = outputs(nb, "path = image.save(")
    assert (run.workdir / "red_panda.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "PIL: RGB (1024, 1024)" in text(saved) and "image/jpeg" in saved[-1].data
    assert "'parameters': 'A red panda chef" in text(outputs(nb, "stored = nbimages.Store().save("))
    assert "param: size | value: 1000x1000" in text(outputs(nb, "try:\n    client.generate(\"A cat"))
    refused = text(outputs(nb, "try:\n    client.generate(\"forbidden-content"))
    assert "ContentPolicyError 400 moderation_blocked" in refused and "request id: req_" in refused
    batch = text(outputs(nb, "import asyncio"))
    assert re.search(r"7 images in [\d.]+ s, 4 at a time; failed: \{'forbidden-content on purpose': "
                     r"'ContentPolicyError'\}", batch)
    assert re.search(r"one at a time: [\d.]+ s; 4 at a time: [\d.]+ s", text(outputs(nb, "start = time.perf_counter()")))
    assert "jpeg 512x256" in text(outputs(nb, "from io import BytesIO"))


def check_widgets(run: Run) -> None:
    nb = run.nb
    for start in ("studio = nbimages.Studio()", "painter = nbimages.MaskPainter(", "gallery = nbimages.Gallery("):
        (shown,) = [o for o in outputs(nb, start) if o.output_type == "execute_result"]
        assert "application/vnd.jupyter.widget-view+json" in shown.data
    status = text(outputs(nb, "studio.size ="))
    assert "done in" in status and "partial images shown: 2" in status
    refined = outputs(nb, "studio.refine(")
    assert "'Add a small wooden bridge over the pond']" in text(refined) and "image/jpeg" in refined[-1].data
    assert finals(outputs(nb, "%%imagine -c")), "the magic did not continue the Studio's conversation"
    assert "snowy winter evening" in text(outputs(nb, "studio.refresh()"))
    assert "current: A koi pond in autumn" in text(outputs(nb, "first = nbimages.current_conversation()"))
    edited = text(outputs(nb, "if not painter.painted.any()"))
    assert "painted: 12% of the image" in edited and "png 1024x1024" in edited
    gallery = text(outputs(nb, "print(gallery.total"))
    assert "4 images in the store" in gallery and "4 match 'koi'" in gallery  # refinements by their first prompt
    assert len(widget_states(nb)) == 3
    assert len(stored_files(run)) == 4


def check_many_images(run: Run) -> None:
    nb = run.nb

    def sheet(start: str) -> Any:
        (shown,) = [o for o in outputs(nb, start) if meta(o).get("kind") == "run"]
        return shown

    first = sheet("run = nbimages.generate_many(")
    assert meta(first)["status"] == "completed" and meta(first)["counts"]["done"] == 3
    assert len(re.findall(r"data:image/", first.data["text/html"])) == 3
    assert "['a lighthouse at dusk', 'a lighthouse in fog', 'a lighthouse in snow']" in text(
        outputs(nb, "print(run.status"))
    grid = sheet("grid = nbimages.generate_many(")
    assert "quality ↓ · size →" in grid.data["text/html"] and ">1536x1024</th>" in grid.data["text/html"]
    assert "['quality', 'size'] {'total': 4, 'done': 4" in text(outputs(nb, "grid = nbimages.generate_many("))
    lanterns = sheet("%%imagine_many")
    assert meta(lanterns)["axes"] == ["prompt", "quality"] and meta(lanterns)["counts"]["done"] == 4
    again = text(outputs(nb, "again = nbimages.generate_many("))
    assert "'done': 4, 'reused': 3" in again and "for 1 request" in again
    assert "nothing was sent" in text(outputs(nb, "try:"))
    batch = sheet("batch = nbimages.generate_many(")
    assert meta(batch)["via"] == "batch" and meta(batch)["batch_id"].startswith("batch_")
    assert "ContentPolicyError" in batch.data["text/html"]
    assert "estimated $0.0075 for 3 requests: half the live price" in text(outputs(nb, "batch = nbimages"))
    collected = text(outputs(nb, "print(batch.status"))
    assert "completed {'total': 3, 'done': 2, 'reused': 0, 'failed': 1" in collected
    assert "'custom_id': 'run_" in collected and "item 2 failed: ContentPolicyError: moderation_blocked" in collected
    listed = text(outputs(nb, "for info in nbimages.runs()"))
    assert listed.startswith("batch completed 2/3") and listed.count("live  completed") == 4
    assert "loaded: completed 2 images" in listed
    assert len(stored_files(run)) == 3 + 4 + 4 + 1 + 2


def check_gif_and_svg(run: Run) -> None:
    from nbimages.image import Image

    nb = run.nb
    (fox,) = finals(outputs(nb, "%%imagine --output-format gif"))
    [preview] = re.findall(r"data:image/gif;base64,([A-Za-z0-9+/=]+)", fox.data["text/html"])
    assert Image(base64.b64decode(preview)).frame_count == 9 and meta(fox)["frame_count"] == 9
    assert "frames: 9 | saved as" in text(outputs(nb, "print(fox)")) and ".gif" in text(outputs(nb, "print(fox)"))
    boat = text(outputs(nb, "import io"))
    assert "gif (512, 512) 6 frames" in boat and "durations (ms): [120, 120, 120, 120, 120, 120]" in boat
    (thumbnail,) = outputs(nb, "boat.thumbnail(160)")
    assert Image(base64.b64decode(thumbnail.data["image/gif"])).frame_count == 6
    (logo,) = finals(outputs(nb, "%%imagine --output-format svg"))
    assert "<svg" not in logo.data["text/html"] and "data:image/svg+xml;base64," in logo.data["text/html"]
    assert not any("image/svg+xml" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert "VectorImageError: rasterise it" in text(outputs(nb, "print(logo)"))
    stored = text(outputs(nb, "from nbimages.store import read_provenance"))
    assert ".gif.json: 'A fox running" in stored and "frames: 9" in stored and ".svg.json: 'A minimal" in stored
    saved = sorted(p.suffix for p in (run.home / "images").rglob("*.*") if p.suffix != ".json")
    assert saved == [".gif", ".svg"]  # the magics store what they make; a bare Client does not


CHECKS: dict[str, Callable[[Run], None]] = {
    "01_quickstart.ipynb": check_quickstart,
    "02_streaming.ipynb": check_streaming,
    "03_conversations.ipynb": check_conversations,
    "04_edits_masks_outpaint.ipynb": check_edits,
    "05_vision.ipynb": check_vision,
    "06_python_api_async_batch.ipynb": check_python_api,
    "07_widgets.ipynb": check_widgets,
    "08_many_images.ipynb": check_many_images,
    "09_gif_and_svg.ipynb": check_gif_and_svg,
}


# -- the tests -------------------------------------------------------------------------------
def test_every_notebook_has_checks() -> None:
    assert sorted(CHECKS) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_clean(name: str) -> None:
    """Committed without outputs, for the python3 kernel, with a title and a way to the real API."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any(c.cell_type == "markdown" and "## Switch to the real API" in c.source for c in nb.cells)
    assert "sk-" not in json.dumps(nb)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_against_the_simulator(name: str, executed: dict[tuple[str, bool], Run]) -> None:
    run = executed[(name, False)]
    check_ran_cleanly(run)
    CHECKS[name](run)
    check_size(run)


@pytest.mark.parametrize("name", CANARY_RUNS)
def test_api_key_never_reaches_outputs_or_files(name: str, executed: dict[tuple[str, bool], Run]) -> None:
    """With a key set (and the simulator forced), the key is in no output, widget state or stored file."""
    run = executed[(name, True)]
    check_ran_cleanly(run)
    CHECKS[name](run)
    files = [run.path, *(p for p in run.home.rglob("*") if p.is_file())]
    assert len(files) > 4
    for path in files:
        assert KEY_CANARY.encode() not in path.read_bytes(), f"the key leaked into {path}"

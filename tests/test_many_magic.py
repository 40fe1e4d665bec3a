"""%%imagine_many in a real IPython shell, against the simulator over HTTP."""

from __future__ import annotations

import time
from typing import Any

import nbimages

from _notebook import Notebook, Published


def sheets(outputs: list[Published]) -> list[Published]:
    return [o for o in outputs if o.kind == "run"]


def settled(nb: Notebook, run: nbimages.Run) -> Published:
    """The last contact sheet published for ``run`` once its refreshes are over."""
    run.wait(30)
    time.sleep(0.4)
    return [o for o in nb.pub.outputs if o.meta.get("run_id") == run.id][-1]


def test_two_sweeps_make_a_grid_updated_in_one_display(nb: Notebook) -> None:
    outputs = nb.run("%%imagine_many --sweep quality=low,high --sweep size=1024x1024,1536x1024 -o grid\n"
                     "a lighthouse at dusk\n")
    run = nb.shell.user_ns["grid"]
    assert isinstance(run, nbimages.Run) and run.status == "completed"
    shown = sheets(outputs)
    assert len({o.display_id for o in shown}) == 1 and shown[0].display_id
    assert not shown[0].update and all(o.update for o in shown[1:])
    last = settled(nb, run)
    assert last.display_id == shown[0].display_id
    assert "quality ↓ · size →" in last.html and ">1536x1024</th>" in last.html and ">low</th>" in last.html
    assert len(last.images()) == 4 and max(max(i.size) for i in last.images()) <= 160
    # Four requests, sent side by side (in any order); the run keeps the items' order.
    sent = sorted((p.json["quality"], p.json["size"]) for p in nb.requests("/images/generations"))
    assert sent == sorted((q, s) for q in ("low", "high") for s in ("1024x1024", "1536x1024"))
    assert [(i.params["quality"], i.params["size"]) for i in run.images] == [
        ("low", "1024x1024"), ("low", "1536x1024"), ("high", "1024x1024"), ("high", "1536x1024")]


def test_each_line_is_a_prompt_and_a_refused_one_fails_its_cell(nb: Notebook) -> None:
    nb.run("%%imagine_many -o r\na green field\n\n   \nforbidden-content field\na red barn\n")
    run = nb.shell.user_ns["r"]
    assert [item["prompt"] for item in run.items] == ["a green field", "forbidden-content field", "a red barn"]
    last = settled(nb, run)
    assert "<b>ContentPolicyError</b>" in last.html and len(last.images()) == 2
    assert "2 of 3 done" in last.html and "1 failed" in last.html
    assert len(nb.requests("/images/generations")) == 3


def test_prompts_and_one_sweep_make_a_grid_with_prompt_rows(nb: Notebook) -> None:
    nb.run("%%imagine_many --sweep n=1,2 -o r\na kite\na <kite>\n")
    run = nb.shell.user_ns["r"]
    last = settled(nb, run)
    assert "prompt ↓ · n →" in last.html and "a &lt;kite&gt;" in last.html and "<kite>" not in last.html
    assert isinstance(run.images[1], list) and len(run.images[1]) == 2
    assert "+1 more" in last.html


def test_running_the_cell_again_reuses_the_stored_images(nb: Notebook) -> None:
    cell = "%%imagine_many --quality low -o r\na snail\na slug\n"
    nb.run(cell)
    nb.run(cell)
    assert len(nb.requests("/images/generations")) == 2
    last = settled(nb, nb.shell.user_ns["r"])
    assert "2 reused" in last.html and last.html.count("reused from the store") == 2


def test_max_cost_refuses_in_one_line_before_any_request(nb: Notebook) -> None:
    outputs = nb.run("%%imagine_many -m gpt-image-1.5 --quality high --size 1024x1024 --max-cost 0.1\na\nb\nc\n")
    assert len(outputs) == 1 and outputs[0].meta["error"] == "InvalidInputError"
    assert "max_cost=0.1" in outputs[0].text and "3 requests" in outputs[0].text and "\n" not in outputs[0].text
    assert nb.requests() == []


def test_a_bad_option_value_names_the_item_in_one_line(nb: Notebook) -> None:
    outputs = nb.run("%%imagine_many --sweep quality=low,hgih\na\n")
    assert outputs[-1].meta["error"] == "InvalidInputError" and "items[1].quality" in outputs[-1].text
    assert nb.requests() == []


def test_usage_errors_are_one_line_without_a_request(nb: Notebook) -> None:
    for cell in ("%%imagine_many --sweep quality\na\n", "%%imagine_many --sweep prompt=a,b\nx\n",
                 "%%imagine_many --sweep n=1 --sweep n=2\nx\n", "%%imagine_many\n\n", "%%imagine_many --via bus\nx\n",
                 "%%imagine_many --concurrency 0\nx\n", "%%imagine_many -o print\nx\n"):
        nb.shell.run_cell(cell)
        out, err = nb.capfd.readouterr()
        assert "UsageError" in out + err and "Traceback" not in out + err, cell
    assert nb.requests() == []


def test_edit_many_prompts_on_one_image(nb: Notebook, png: Any) -> None:
    from nbimages import Image

    nb.shell.user_ns["room"] = Image(png(size=(64, 64)))
    nb.run("%%imagine_many --edit room -o r\nadd a lamp\nadd a plant\n")
    run = nb.shell.user_ns["r"]
    assert run.errors == {} and len(nb.requests("/images/edits")) == 2


def test_no_wait_returns_at_once_and_the_run_goes_on(nb: Notebook) -> None:
    nb.run("%%imagine_many --no-wait -o r\na\nb\n")
    run = nb.shell.user_ns["r"]
    assert run.wait(30).status == "completed"

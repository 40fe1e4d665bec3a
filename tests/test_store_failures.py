"""A store that cannot be written, or holds bad files, never costs an image or breaks a reader.

Every failure is real: a damaged index file, a read-only file system (a read-only bind
mount in a private mount namespace, or file modes when not running as root), a file size
limit (``ulimit -f``), a store folder under a file, image files truncated or deleted under
the index. The paid image is still shown, bound (``-o``), in the conversation and in
memory, with one line saying why it was not saved; readers (Gallery, history, thumbnails,
cache replay, Studio) show a bad or missing file as such.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import nbimages
from nbimages.conversation import Conversation
from nbimages.errors import StoreError
from nbimages.local import LocalTransport
from nbimages.store import Store

from _images import header_only_png, truncated_png
from _notebook import Notebook

ROOT = Path(__file__).resolve().parents[1]


def stored_conversation(home: Path, prompts: list[str]) -> Conversation:
    """A conversation over the in-process simulator whose images went into the store at ``home``."""
    client = nbimages.Client(base_url="http://simulator.test/v1",
                             http_client=httpx.Client(transport=LocalTransport(latency=0.0, partial_interval=0.0)))
    conv = Conversation(client, store=Store(home))
    for prompt in prompts:
        conv.generate(prompt, size="256x256", quality="low")
    return conv


def not_saved_line(outputs: list[Any]) -> str:
    final = [o for o in outputs if o.kind == "final"][-1]
    assert final.images(), "the image is shown"
    lines = [line for line in final.text.splitlines() if line.startswith("not saved to the store")]
    assert len(lines) == 1, final.text
    return lines[0]


# -- the store cannot be written: in this process -------------------------------------------------
def test_a_damaged_index_is_set_aside_and_rebuilt_and_the_new_image_is_kept(nb: Notebook, tmp_path: Path) -> None:
    home = tmp_path / "home"
    stored_conversation(home, ["a red fox", "a blue whale"])
    index = home / "index.sqlite"
    with open(index, "r+b") as handle:
        handle.write(b"\x00garbage, not a database\x00" * 4)
    nb.run(f"%config Imagine.store_home = {str(home)!r}")
    with pytest.warns(RuntimeWarning, match="index of the store was damaged"):
        outputs = nb.imagine("--fresh -o pic --size 256x256 --quality low", "a green parrot")
    final = [o for o in outputs if o.kind == "final"][-1]
    assert "not saved" not in final.text
    pic = nb.shell.user_ns["pic"]
    assert pic.path is not None and pic.path.is_file()
    assert [p.name.startswith("index.sqlite.damaged-") for p in home.iterdir() if "damaged" in p.name] == [True]
    store = Store(home)
    assert sorted(r.prompt for r in store.list()) == ["a blue whale", "a green parrot", "a red fox"]
    assert nb.conversation.image is pic


def test_a_store_folder_that_cannot_exist_keeps_the_image_in_memory(nb: Notebook, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    nb.run(f"%config Imagine.store_home = {str(blocker / 'store')!r}")
    outputs = nb.imagine("--fresh -o pic --size 256x256 --quality low", "a green parrot")
    line = not_saved_line(outputs)
    assert "Not a directory" in line and "pic.save(" in line
    pic = nb.shell.user_ns["pic"]
    assert pic.path is None and pic.width == 256 and pic.to_pil().size == (256, 256)
    assert nb.conversation.head is not None and nb.conversation.image is pic
    assert nb.requests("/images/generations")  # it was paid for, and kept
    # the next cell continues from it, and the undo/history readers work on it
    nb.imagine("--continue -o pic2 --size 256x256 --quality low", "now at night")
    assert nb.shell.user_ns["pic2"].width == 256
    history = nb.run("%imagine_history")
    assert len(history[-1].meta["turns"]) == 2


def test_readers_of_a_store_that_cannot_exist_see_it_empty(nb: Notebook, tmp_path: Path) -> None:
    from nbimages.widgets import Gallery

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    nb.run(f"%config Imagine.store_home = {str(blocker)!r}")
    [shown] = nb.run("%imagine_usage")
    assert shown.text == "No usage recorded yet."
    store = Store(blocker)
    assert store.list() == [] and store.count() == 0 and store.usage_summary() == []
    assert Gallery(store=store).total == 0
    with pytest.raises(StoreError, match="Not a directory"):
        store.record_usage(model="m", usage=None, endpoint="images/generations")


# -- the store cannot be written: a real read-only file system and a full disk ---------------------
SCRIPT = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.displaypub import DisplayPublisher

class Recorder(DisplayPublisher):
    outputs = []
    def publish(self, data, metadata=None, source=None, **kwargs):
        self.outputs.append({"text": data.get("text/plain", ""), "kind": (metadata or {}).get("nbimages", {}).get("kind"),
                             "html": data.get("text/html", "")})

shell = InteractiveShell.instance()
shell.display_pub = Recorder(shell=shell)
results = {}
for name, cell in CELLS:
    outcome = shell.run_cell(cell)
    results[name] = repr(outcome.error_in_exec or outcome.error_before_exec) if not outcome.success else None
pic = shell.user_ns.get("pic")
extra = {}
for name, expression in EXPRESSIONS:
    try:
        extra[name] = eval(expression, shell.user_ns)
    except Exception as exc:
        extra[name] = f"{type(exc).__name__}: {exc}"
json.dump({"errors": results, "outputs": shell.display_pub.outputs, "extra": extra,
           "pic": None if pic is None else {"width": pic.width, "path": str(pic.path) if pic.path else None,
                                             "decodes": pic.to_pil().size == (pic.width, pic.height)}},
          sys.stdout)
"""


def run_kernel_script(cells: list[tuple[str, str]], expressions: list[tuple[str, str]], *, home: Path,
                      wrap: list[str] | None = None, shell_prefix: str = "") -> dict[str, Any]:
    """Run cells in a fresh IPython shell in a subprocess (keyless: the embedded simulator)."""
    code = f"CELLS = {cells!r}\nEXPRESSIONS = {expressions!r}\n" + SCRIPT
    env = {**os.environ, "NBIMAGES_HOME": str(home), "NBIMAGES_SIM_LATENCY": "0", "NBIMAGES_SIM_PARTIAL_INTERVAL": "0",
           "IPYTHONDIR": str(home.parent / "ipython"), "PYTHONPATH": str(ROOT)}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    python = f"{shell_prefix}exec {sys.executable} -c {_quote(code)}"
    argv = [*(wrap or []), "sh", "-c", python]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=home.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def read_only_wrapper(home: Path) -> list[str]:
    """Run a command with ``home`` on a read-only file system."""
    if os.geteuid() != 0:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return []
    if shutil.which("unshare") is None:
        pytest.fail("running as root: `unshare` (util-linux) is needed to mount the store read-only")
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f"mount --bind -o ro {home} {home} && exec \"$@\"", "read-only"]


IMAGINE = ("imagine", "%load_ext nbimages\n%%imagine --fresh -o pic --size 256x256 --quality low\na green parrot\n")
IMAGINE_CELL = [("load", "%load_ext nbimages"),
                ("imagine", "%%imagine --fresh -o pic --size 256x256 --quality low\na green parrot\n")]


def test_a_read_only_store_keeps_the_image_and_is_still_browsed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    stored_conversation(home, ["a red fox", "a blue whale"])
    before = sorted(p.name for p in home.rglob("*"))
    cells = [*IMAGINE_CELL, ("usage", "%imagine_usage"), ("history", "%imagine_history")]
    expressions = [("gallery_total", "__import__('nbimages').Gallery().total"),
                   ("thumbnail", "len(__import__('nbimages').Gallery().store.thumbnail("
                                 "__import__('nbimages').Gallery().items[0]['id'], 64)) > 0"),
                   ("conversation_image_is_pic", "__import__('nbimages').current_conversation().image is pic")]
    result = run_kernel_script(cells, expressions, home=home, wrap=read_only_wrapper(home))
    assert result["errors"] == {"load": None, "imagine": None, "usage": None, "history": None}
    assert result["pic"] == {"width": 256, "path": None, "decodes": True}
    final = [o for o in result["outputs"] if o["kind"] == "final"][-1]
    [line] = [x for x in final["text"].splitlines() if x.startswith("not saved to the store")]
    assert "Read-only file system" in line or "Permission denied" in line
    assert "not saved to the store" in final["html"] and "<img" in final["html"]
    assert result["extra"] == {"gallery_total": 2, "thumbnail": True, "conversation_image_is_pic": True}
    usage = [o for o in result["outputs"] if o["kind"] == "usage"]
    assert usage and "total" in usage[-1]["text"]
    assert sorted(p.name for p in home.rglob("*")) == before  # nothing was written


def test_a_full_disk_keeps_the_image(tmp_path: Path) -> None:
    """``ulimit -f``: every write past 8 KB fails with EFBIG (Python ignores SIGXFSZ)."""
    home = tmp_path / "home"
    home.mkdir()
    result = run_kernel_script(IMAGINE_CELL, [("conversation_image_is_pic",
                                               "__import__('nbimages').current_conversation().image is pic")],
                               home=home, shell_prefix="ulimit -f 8; ")
    assert result["errors"] == {"load": None, "imagine": None}
    assert result["pic"] is not None and result["pic"]["path"] is None and result["pic"]["decodes"]
    final = [o for o in result["outputs"] if o["kind"] == "final"][-1]
    [line] = [x for x in final["text"].splitlines() if x.startswith("not saved to the store")]
    assert "File too large" in line
    assert result["extra"] == {"conversation_image_is_pic": True}


# -- bad or missing files under the index: every reader copes -----------------------------------------
@pytest.fixture
def spoiled(tmp_path: Path) -> tuple[Store, dict[str, Any]]:
    """A store of four images: one fine, one truncated, one a bomb's header, one deleted."""
    home = tmp_path / "home"
    conv = stored_conversation(home, ["fine", "truncated", "bomb", "deleted"])
    store = Store(home)
    by_prompt = {record.prompt: record for record in store.list()}
    by_prompt["truncated"].path.write_bytes(truncated_png((256, 256)))
    by_prompt["bomb"].path.write_bytes(header_only_png(20000, 20000))
    by_prompt["deleted"].path.unlink()
    return store, {"records": by_prompt, "conversation": conv}


def test_thumbnails_and_cache_replay_skip_bad_files(spoiled: tuple[Store, dict[str, Any]]) -> None:
    store, found = spoiled
    records = found["records"]
    assert len(store.thumbnail(records["fine"].id, 64)) > 0
    with pytest.raises(StoreError, match="is damaged: image file is truncated"):
        store.thumbnail(records["truncated"].id, 64)
    with pytest.raises(StoreError, match="damaged: 20000x20000 is larger"):
        store.thumbnail(records["bomb"].id, 64)
    with pytest.raises(StoreError, match="No such file"):
        store.thumbnail(records["deleted"].id, 64)
    with pytest.raises(KeyError):
        store.thumbnail("no-such-id", 64)
    for prompt, record in records.items():  # as if each had been made for a request
        store._attach_cache_key(nbimages.Image(b"", path=record.path), "key-" + prompt)
    assert store.lookup("key-fine") is not None
    assert [store.lookup("key-" + p) for p in ("truncated", "bomb", "deleted")] == [None, None, None]


def test_the_gallery_shows_bad_and_missing_files_as_such(spoiled: tuple[Store, dict[str, Any]]) -> None:
    from nbimages.widgets import Gallery

    store, found = spoiled
    records = found["records"]
    gallery = Gallery(store=store)
    assert gallery.total == 4
    problems = {item["prompt"]: item["problem"] for item in gallery.items}
    assert problems["deleted"] == "file missing" and problems["fine"] == ""
    gallery.refresh()  # the thumbnails find the damaged ones
    problems = {item["prompt"]: item["problem"] for item in gallery.items}
    assert problems == {"fine": "", "truncated": "file damaged", "bomb": "file damaged", "deleted": "file missing"}
    gallery.select(records["fine"].id)
    assert gallery.selected_id == records["fine"].id
    for prompt in ("truncated", "bomb", "deleted"):
        with pytest.raises(KeyError, match=records[prompt].id):
            gallery.select(records[prompt].id)
        assert gallery.selected_id == records["fine"].id  # left as it was
    with pytest.raises(KeyError):
        gallery.select("no-such-id")
    gallery._dispatch(gallery, {"action": "select", "id": records["deleted"].id}, [])
    assert gallery.error.startswith("StoreError: the file of stored image") and "No such file" in gallery.error
    assert gallery._repr_mimebundle_() is not None  # the static contact sheet skips them too


def test_history_studio_and_display_show_a_damaged_current_image(spoiled: tuple[Store, dict[str, Any]]) -> None:
    from nbimages.display import history_bundle, image_bundle
    from nbimages.widgets import Studio

    _store, found = spoiled
    conv: Conversation = found["conversation"]
    damaged = conv.image.with_meta(data=truncated_png((256, 256)))  # as if read back from a bad disk
    conv.add("a damaged one", damaged)
    data, _ = history_bundle(conv.turns, conv.head)
    assert "this image cannot be shown: it does not decode" in data["text/html"]
    data, _ = image_bundle([damaged])
    assert "this image cannot be shown" in data["text/html"]
    studio = Studio(conversation=conv)
    assert studio.thumbnail == b"" and studio.history  # built, with its history
    studio.refresh()
    studio.close()


def test_rerunning_a_cell_whose_stored_image_was_damaged_makes_it_again(nb: Notebook, tmp_path: Path) -> None:
    nb.run(f"%config Imagine.store_home = {str(tmp_path / 'home')!r}")
    cell = ("-o pic --size 256x256 --quality low", "a lighthouse at dusk")
    nb.imagine(*cell)
    first = nb.shell.user_ns["pic"]
    assert first.path is not None
    first.path.write_bytes(truncated_png((256, 256)))
    outputs = nb.imagine(*cell)
    again = nb.shell.user_ns["pic"]
    assert len(nb.requests("/images/generations")) == 2  # not replayed from the damaged file
    assert again.path != first.path and again.to_pil().size == (256, 256)
    assert "reused from the store" not in outputs[-1].text
    history = nb.run("%imagine_history --all")  # the first turn's image is intact in memory
    assert len(history[-1].meta["turns"]) == 2 and len(history[-1].images()) == 2


def test_the_studio_keeps_an_image_it_could_not_save_and_says_so(tmp_path: Path) -> None:
    from nbimages.widgets import Studio

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    conv = stored_conversation(tmp_path / "unused", [])
    conv.store = Store(blocker / "store")
    studio = Studio(conversation=conv, size="1024x1024", quality="low", partial_images=1)
    studio.generate("a paper boat")
    turn = studio.wait(30)
    assert turn is not None and turn.image is not None and turn.image.path is None
    assert studio.image is turn.image and studio.image.to_pil().size == (1024, 1024)
    assert studio.error.startswith("StoreError: not saved to the store at") and "Not a directory" in studio.error
    assert "studio.image.save(" in studio.error and studio.thumbnail  # shown all the same
    studio.close()

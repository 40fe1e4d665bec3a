"""Several kernels generating into one store at once, through the real front ends.

tests/test_store_concurrency.py hammers `Store.save` directly; here the images come from
real generation: separate Python processes, some running ``%%imagine`` cells in an IPython
shell, some streaming through a `Conversation` (generate, Responses refinements, edits,
``n=2``), all against one simulator on a real socket and one ``NBIMAGES_HOME``.
Afterwards the index is intact and agrees, image by image, with what each process was
handed: same bytes, same prompt, one file each, nothing overwritten, exact counts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from nbimages.store import Store, read_provenance

from _store_reader import counts_while_running

IMAGES_PER_WORKER = 10
# (kind of worker, how many): 2 notebooks and 2 scripts, 4 processes x 10 images
WORKERS = [("magics", 0), ("magics", 1), ("conversation", 2), ("conversation", 3)]

COMMON = r"""
import hashlib, json, os, sys, time
from pathlib import Path

worker, count, start = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])

def report(image, prompt, how):
    print("RESULT " + json.dumps({"path": str(image.path), "sha256": hashlib.sha256(image.data).hexdigest(),
                                  "prompt": prompt, "how": how, "worker": worker}), flush=True)

def wait_for_start():
    (start.parent / f"ready-{worker}").touch()
    deadline = time.time() + 60
    while not start.exists():
        if time.time() > deadline:
            sys.exit("never told to start")
        time.sleep(0.002)
"""

# A notebook: %%imagine cells in a real IPython shell (streamed, stored before shown).
MAGICS_WORKER = COMMON + r"""
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "nbimages")
shell.run_line_magic("config", "Imagine.preview_size = 64")
shell.run_line_magic("imagine_usage", "")  # warm up: imports, client, store
import nbimages.display, PIL.WebPImagePlugin
wait_for_start()
made = 0
i = 0
while made < count:
    if i % 3 == 2:  # a refinement through the Responses API
        cell, n = f"%%imagine --continue --size 256x256 --quality low -o out\nworker {worker} cell {i}: add a moon\n", 1
    elif i % 4 == 3 and made + 2 <= count:
        cell, n = f"%%imagine -n 2 --size 256x256 --quality low -o out\nworker {worker} cell {i}: twins\n", 2
    else:
        cell, n = f"%%imagine --size 256x256 --quality low -o out\nworker {worker} cell {i}: a lighthouse\n", 1
    result = shell.run_cell(cell)
    if not result.success:
        sys.exit(f"cell {i} failed: {result.error_in_exec!r}")
    out = shell.user_ns.pop("out")
    images = out if isinstance(out, list) else [out]
    assert len(images) == n, (cell, images)
    for image in images:
        report(image, cell.split("\n", 1)[1].strip(), "magics")
    made += n
    i += 1
shell.run_line_magic("unload_ext", "nbimages")  # closes the client and its connections
"""

# A script: a Conversation streaming generate / send / edit turns.
CONVERSATION_WORKER = COMMON + r"""
import nbimages

conv = nbimages.Conversation()
conv.store.usage_summary()  # warm up like the notebooks
wait_for_start()
made = 0
i = 0
while made < count:
    if i % 3 == 1:
        prompt = f"worker {worker} turn {i}: make it night"
        turn = conv.send(prompt, stream=True, quality="low", size="256x256").until_done()
    elif i % 3 == 2:
        prompt = f"worker {worker} turn {i}: add a red door"
        turn = conv.edit(prompt, stream=True, quality="low", size="256x256").until_done()
    elif made + 2 <= count and i % 2 == 0:
        prompt = f"worker {worker} turn {i}: two cottages"
        turn = conv.generate(prompt, stream=True, n=2, quality="low", size="256x256").until_done()
    else:
        prompt = f"worker {worker} turn {i}: a cottage"
        turn = conv.generate(prompt, stream=True, quality="low", size="256x256").until_done()
    for image in turn.images:
        report(image, prompt, "conversation")
    made += len(turn.images)
    i += 1
conv.client.close()
"""


def _run_workers(tmp_path: Path, home: Path, server_url: str) -> tuple[list[dict[str, Any]], list[int]]:
    env = {**os.environ, "NBIMAGES_HOME": str(home), "OPENAI_BASE_URL": server_url,
           "OPENAI_API_KEY": "sk-test-dummy", "PYTHONWARNINGS": "error"}
    start = tmp_path / "start"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MAGICS_WORKER if kind == "magics" else CONVERSATION_WORKER,
             str(worker), str(IMAGES_PER_WORKER), str(start)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
        )
        for kind, worker in WORKERS
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{w}").exists() for _, w in WORKERS):  # every kernel is up
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a kernel did not start"
            time.sleep(0.01)
        start.touch()
        # A gallery keeps browsing while the kernels write.
        seen = counts_while_running(home, procs)
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            assert "Traceback" not in err and "Warning" not in err, err[-3000:]
            results += [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results, seen


def test_kernels_generating_into_one_store_at_once(tmp_path: Path, sim_server: Any) -> None:
    home = tmp_path / "shared-home"  # made by the kernels themselves, concurrently
    results, seen = _run_workers(tmp_path, home, sim_server.url)

    # every kernel got exactly what it asked for
    assert len(results) == len(WORKERS) * IMAGES_PER_WORKER
    assert Counter(r["worker"] for r in results) == {w: IMAGES_PER_WORKER for _, w in WORKERS}
    assert seen == sorted(seen) and seen[-1] <= len(results)  # readers only ever see the index grow

    store = Store(home)
    conn = sqlite3.connect(store.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT path, sha256, prompt, kind FROM images").fetchall()
        order = [prompt.split()[1] for (prompt,) in conn.execute("SELECT prompt FROM images ORDER BY rowid")]
        usage = conn.execute("SELECT endpoint, images, cached FROM usage").fetchall()
    finally:
        conn.close()

    # the kernels really wrote at the same time: their rows interleave in the index
    switches = sum(a != b for a, b in itertools.pairwise(order))
    print(f"index order of writers: {''.join(order)} ({switches} switches)")
    assert switches >= len(WORKERS), order
    notebooks = [i for i, w in enumerate(order) if w in "01"]
    scripts = [i for i, w in enumerate(order) if w in "23"]
    assert notebooks[0] < scripts[-1] and scripts[0] < notebooks[-1], order  # both kinds overlapped

    # one file per image, none shared, none overwritten: bytes and provenance are each image's own
    assert len({r["path"] for r in results}) == len(results)
    for r in results:
        path = Path(r["path"])
        assert path.is_file() and path.is_relative_to(store.images_dir), path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == r["sha256"], path
        assert read_provenance(path)["prompt"] == r["prompt"], path

    # the index lists exactly those images, with the digests of the bytes on disk
    assert all(kind == "final" for *_, kind in rows)
    assert store.count() == len(rows) == len(results)
    indexed = {str(store.home / rel): (sha, prompt) for rel, sha, prompt, _ in rows}
    assert indexed == {r["path"]: (r["sha256"], r["prompt"]) for r in results}
    assert len({p.name for p in store.images_dir.rglob("*") if p.is_file() and not p.name.endswith(".json")}) \
        == len(results)
    assert not [p for p in store.images_dir.rglob("*") if p.name.startswith(".")]  # no temp files left

    # the ledger has one paid row per turn and counts every image once
    assert sum(images for _, images, _ in usage) == len(results)
    assert not any(cached for *_, cached in usage)
    served = [r for r in sim_server.simulator.requests if r.method == "POST"]
    assert len(usage) == len(served)
    assert Counter(e for e, _, _ in usage) == Counter(
        "responses" if r.path.endswith("/responses") else
        "images/edits" if r.path.endswith("/edits") else "images/generations" for r in served)


def test_a_fresh_kernel_reuses_what_another_kernel_stored(tmp_path: Path, sim_server: Any) -> None:
    """Re-running a cell in a new kernel finds the image another process stored: no request."""
    home = tmp_path / "home"
    env = {**os.environ, "NBIMAGES_HOME": str(home), "OPENAI_BASE_URL": sim_server.url,
           "OPENAI_API_KEY": "sk-test-dummy", "PYTHONWARNINGS": "error"}
    start = tmp_path / "start"
    start.touch()

    def kernel() -> list[dict[str, Any]]:
        proc = subprocess.run([sys.executable, "-c", MAGICS_WORKER, "7", "3", str(start)],
                              capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]

    first = kernel()
    requests = len(sim_server.simulator.requests)
    assert requests == 3  # 2 generations and a refinement
    again = kernel()
    # the same cells, in the same order: every one served from the store
    assert len(sim_server.simulator.requests) == requests
    assert [(r["path"], r["sha256"]) for r in again] == [(r["path"], r["sha256"]) for r in first]
    assert Store(home).count() == 3

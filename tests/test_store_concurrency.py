"""Several processes and threads writing to one store at once: nothing lost, nothing corrupt."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PIL

from nbimages.image import Image
from nbimages.store import Store, read_provenance

from _store_reader import counts_while_running

WORKERS = 4
PER_WORKER = 25

# Each worker waits for the start file, then saves PER_WORKER images as fast as it can into a
# home that does not exist yet (so the schema is created under contention too). Every fourth
# image has the same pixels in every worker: identical bytes must still get their own files.
WORKER = r"""
import hashlib, io, json, sys, time
from pathlib import Path
from PIL import Image as PIL
from nbimages.image import Image, Usage
from nbimages.store import Store

home, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
store = Store(home)
deadline = time.time() + 60
while not start.exists():
    if time.time() > deadline:
        sys.exit("never told to start")
    time.sleep(0.001)
for i in range(count):
    color = (1, 2, 3) if i % 4 == 0 else (worker * 40 % 256, i * 9 % 256, 77)
    buffer = io.BytesIO()
    PIL.new("RGB", (24, 24), color).save(buffer, format="JPEG" if i % 3 == 2 else "PNG")
    image = Image(buffer.getvalue(), prompt=f"worker {worker} image {i}", model="gpt-image-1.5",
                  params={"size": "1024x1024", "quality": "low"}, created=time.time())
    saved = store.save(image, cache_key=f"w{worker}-i{i}")
    store.record_usage(model="gpt-image-1.5", usage=Usage(10, 100, 110), endpoint="images/generations",
                       quality="low", size="1024x1024")
    print(json.dumps({"path": str(saved.path), "sha256": hashlib.sha256(saved.data).hexdigest(),
                      "prompt": image.prompt, "key": f"w{worker}-i{i}"}), flush=True)
"""


def check_store(store: Store, saved: list[dict[str, Any]]) -> None:
    """Index intact, one row and one intact file per save, nothing overwritten or left over."""
    conn = sqlite3.connect(store.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT path, sha256, prompt FROM images").fetchall()
    finally:
        conn.close()

    assert store.count() == len(saved) == len(rows)
    assert len({entry["path"] for entry in saved}) == len(saved)  # no two saves share a file
    for entry in saved:
        path = Path(entry["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
        assert read_provenance(path)["prompt"] == entry["prompt"], path  # the sidecar or chunk is its own
    for relative, sha256, _prompt in rows:
        assert hashlib.sha256((store.home / relative).read_bytes()).hexdigest() == sha256
    by_path = {str(store.home / relative): prompt for relative, _, prompt in rows}
    assert by_path == {entry["path"]: entry["prompt"] for entry in saved}

    leftovers = [p for p in store.images_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    sidecars = list(store.images_dir.rglob("*.json"))
    assert len(sidecars) == sum(entry["path"].endswith(".jpg") for entry in saved)


def test_several_processes_save_into_one_store_at_once(tmp_path: Path) -> None:
    home = tmp_path / "shared-home"  # created by the workers themselves, concurrently
    start = tmp_path / "start"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(home), str(worker), str(PER_WORKER), str(start)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for worker in range(WORKERS)
    ]
    start.touch()

    # A reader (the gallery, say) keeps browsing while the writers write.
    seen = counts_while_running(home, procs, interval=0.005)

    saved: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "Warning" not in err, err
        saved += [json.loads(line) for line in out.splitlines()]
    assert len(saved) == WORKERS * PER_WORKER
    assert seen and seen == sorted(seen)  # readers only ever see the index grow

    store = Store(home)
    check_store(store, saved)
    for entry in saved:
        found = store.lookup(entry["key"])
        assert found is not None and found.prompt == entry["prompt"]
    [ledger] = store.usage_summary()
    assert (ledger["requests"], ledger["images"]) == (WORKERS * PER_WORKER, WORKERS * PER_WORKER)
    assert ledger["estimated_cost_usd"] == pytest.approx(WORKERS * PER_WORKER * 0.009)


@pytest.mark.parametrize("shared", [True, False], ids=["one-store-object", "store-per-thread"])
def test_several_threads_save_into_one_store_at_once(tmp_path: Path, shared: bool) -> None:
    home = tmp_path / "threads-home"
    common = Store(home)
    barrier = threading.Barrier(8)

    def work(worker: int) -> list[dict[str, Any]]:
        store = common if shared else Store(home)
        barrier.wait()
        out = []
        for i in range(15):
            buffer = io.BytesIO()
            PIL.new("RGB", (16, 16), (7, 7, 7) if i % 2 else (worker, i, 5)).save(
                buffer, format="PNG" if i % 3 else "JPEG")
            image = Image(buffer.getvalue(), prompt=f"thread {worker} image {i}", created=time.time())
            saved = store.save(image)
            assert store.save(image) is saved
            out.append({"path": str(saved.path), "sha256": hashlib.sha256(saved.data).hexdigest(),
                        "prompt": image.prompt})
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    check_store(common, [entry for chunk in results for entry in chunk])


def test_process_killed_mid_write_leaves_only_a_hidden_temp_file(tmp_path: Path) -> None:
    """A hard kill between write and rename leaves no visible file and a usable index."""
    home = tmp_path / "killed"
    code = r"""
import os, sys
from nbimages.image import Image
from nbimages.store import Store
store = Store(sys.argv[1])
store.save(Image(bytes.fromhex(sys.argv[2]), prompt="kept"))
real_replace = os.replace
def die(src, dst):
    if str(dst).endswith(".jpg"):
        os._exit(9)  # no cleanup, no finally: like a killed kernel
    real_replace(src, dst)
os.replace = die
store.save(Image(bytes.fromhex(sys.argv[2])[:-1] + b"\x01", prompt="lost"))
"""
    buffer = io.BytesIO()
    PIL.new("RGB", (8, 8), (5, 6, 7)).save(buffer, format="JPEG")
    proc = subprocess.run([sys.executable, "-c", code, str(home), buffer.getvalue().hex()],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert proc.returncode == 9, proc.stderr

    store = Store(home)
    visible = list(store.images_dir.rglob("*.jpg"))
    assert [read_provenance(p)["prompt"] for p in visible] == ["kept"]
    assert [r.prompt for r in store.list()] == ["kept"]
    assert len(list(store.images_dir.rglob("*.jpg.json"))) == 2  # the lost one's sidecar got written first
    assert store.reindex() == 0  # temp files and orphan sidecars are never mistaken for images

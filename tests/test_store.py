"""The store on real files and a real SQLite index: saving, provenance, cache, ledger, browsing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PIL

from nbimages import _png_text, prices
from nbimages.errors import InvalidInputError, StoreError
from nbimages.image import Image, Usage
from nbimages.store import Store, StoredImage, default_home, default_store, read_provenance

SENTINEL = "sk-proj-SENTINEL0123456789abcdefXYZ"
CABX_PAYLOAD = b"\x00\x00\x00\x1ejumbc2pa-manifest-store" + bytes(range(256)) * 4


def raw_chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def png_with_cabx(png_bytes: bytes) -> bytes:
    """A Pillow PNG with a C2PA-like ``caBX`` chunk spliced in by hand after IHDR."""
    ihdr_end = 8 + 12 + struct.unpack(">I", png_bytes[8:12])[0]
    return png_bytes[:ihdr_end] + raw_chunk(b"caBX", CABX_PAYLOAD) + png_bytes[ihdr_end:]


def encode(fmt: str, size: tuple[int, int] = (40, 30), color: Any = (10, 120, 200), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    PIL.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def generated(data: bytes, **meta: Any) -> Image:
    defaults: dict[str, Any] = {
        "prompt": "a red panda chef, watercolor",
        "revised_prompt": "A watercolor painting of a red panda wearing a chef's hat",
        "model": "gpt-image-1.5",
        "params": {"size": "1024x1024", "quality": "low", "output_format": "png", "n": 1},
        "response_id": "resp_123",
        "call_id": "ig_456",
        "usage": Usage(input_tokens=50, output_tokens=272, total_tokens=322,
                       input_tokens_details={"text_tokens": 50, "image_tokens": 0}),
    }
    defaults.update(meta)
    return Image(data, **defaults)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- where the store lives ---------------------------------------------------------------------
def test_home_comes_from_argument_then_env_then_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Store(tmp_path / "arg").home == tmp_path / "arg"
    monkeypatch.setenv("NBIMAGES_HOME", str(tmp_path / "env"))
    assert Store().home == tmp_path / "env"
    assert Store().images_dir == tmp_path / "env" / "images"
    assert Store().db_path.parent == tmp_path / "env"

    monkeypatch.delenv("NBIMAGES_HOME")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "nbimages"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_home() == Path.home() / ".local" / "share" / "nbimages"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_home() == Path.home() / "Library" / "Application Support" / "nbimages"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_home() == tmp_path / "local" / "nbimages"


def test_creating_a_store_touches_nothing_on_disk(tmp_path: Path) -> None:
    Store(tmp_path / "lazy")
    assert not (tmp_path / "lazy").exists()


def test_default_store_follows_nbimages_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NBIMAGES_HOME", str(tmp_path / "one"))
    first = default_store()
    assert default_store() is first
    assert first.home == tmp_path / "one"
    monkeypatch.setenv("NBIMAGES_HOME", str(tmp_path / "two"))
    second = default_store()
    assert second is not first and second.home == tmp_path / "two"


def test_importing_the_store_does_not_import_pillow() -> None:
    code = "import sys, nbimages.store, nbimages.prices; assert 'PIL' not in sys.modules, 'PIL imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- saving PNGs -------------------------------------------------------------------------------
def test_save_png_writes_provenance_into_the_servers_bytes(store: Store, png: Callable[..., bytes]) -> None:
    original = png((48, 32), (200, 30, 60))
    image = generated(original, created=1_790_000_000.25)
    saved = store.save(image)

    assert saved.path is not None and saved.path.is_file()
    assert saved.path.parent == store.images_dir / time.strftime("%Y-%m-%d", time.localtime(image.created))
    assert saved.path.name.startswith(time.strftime("%H%M%S", time.localtime(image.created)) + "-")
    assert saved.path.suffix == ".png"
    assert saved.path.read_bytes() == saved.data
    assert (saved.prompt, saved.model, saved.response_id, saved.created) == (
        image.prompt, image.model, image.response_id, image.created)

    # Not re-encoded: the original chunks are all there, byte for byte, in order.
    assert _png_text.remove_text(saved.data, ["nbimages", "parameters"]) == original
    assert _png_text.chunk_types(saved.data)[:3] == ["IHDR", "iTXt", "tEXt"]

    with PIL.open(saved.path) as pil:
        pil.load()
        assert pil.size == (48, 32)
        assert pil.getpixel((0, 0)) == (200, 30, 60)
        text = dict(pil.text)
    prov = json.loads(text["nbimages"])
    assert prov["prompt"] == image.prompt
    assert prov["revised_prompt"] == image.revised_prompt
    assert prov["model"] == "gpt-image-1.5"
    assert prov["params"] == image.params
    assert prov["response_id"] == "resp_123" and prov["call_id"] == "ig_456"
    assert prov["usage"]["output_tokens"] == 272
    assert prov["kind"] == "final"
    assert prov["nbimages"] == __import__("nbimages").__version__
    assert abs(time.mktime(time.strptime(prov["created"][:19], "%Y-%m-%dT%H:%M:%S")) - 1_790_000_000) < 1
    assert text["parameters"].splitlines()[0] == "a red panda chef, watercolor"
    assert text["parameters"].splitlines()[1].startswith("Model: gpt-image-1.5, Size: 1024x1024, Quality: low, ")
    assert read_provenance(saved.path) == prov
    assert read_provenance(saved.data) == prov


def test_c2pa_chunk_survives_byte_for_byte(store: Store, png: Callable[..., bytes]) -> None:
    original = png_with_cabx(png((16, 16)))
    assert _png_text.chunk_types(original) == ["IHDR", "caBX", "IDAT", "IEND"]
    saved = store.save(generated(original))

    on_disk = saved.path.read_bytes()  # type: ignore[union-attr]
    assert _png_text.chunk_types(on_disk) == ["IHDR", "iTXt", "tEXt", "caBX", "IDAT", "IEND"]
    [cabx] = [c for c in _png_text.iter_chunks(on_disk) if c.name == "caBX"]
    assert on_disk[cabx.start : cabx.end] == raw_chunk(b"caBX", CABX_PAYLOAD)
    # The file the server sent is recoverable exactly (its C2PA hash binding included).
    assert _png_text.remove_text(on_disk, ["nbimages", "parameters"]) == original
    with PIL.open(saved.path) as pil:  # type: ignore[arg-type]
        pil.verify()


def test_resaving_stored_bytes_replaces_old_provenance_instead_of_stacking(store: Store, png: Callable[..., bytes]) -> None:
    first = store.save(generated(png_with_cabx(png()), prompt="first"))
    copy = Image(first.data, prompt="second", model="gpt-image-2")  # same bytes, new object, no path
    second = store.save(copy)

    assert second.path != first.path
    assert _png_text.chunk_types(second.data).count("iTXt") == 1
    assert _png_text.chunk_types(second.data).count("caBX") == 1
    assert read_provenance(second.path)["prompt"] == "second"  # type: ignore[arg-type]
    assert read_provenance(first.path)["prompt"] == "first"  # type: ignore[arg-type]


def test_non_latin_prompt_goes_into_an_itxt_parameters_chunk(store: Store, png: Callable[..., bytes]) -> None:
    saved = store.save(generated(png(), prompt="一只小熊猫厨师 🍜, ink"))
    with PIL.open(saved.path) as pil:  # type: ignore[arg-type]
        pil.load()
        assert pil.text["parameters"].startswith("一只小熊猫厨师 🍜, ink\n")
    assert _png_text.chunk_types(saved.data)[:3] == ["IHDR", "iTXt", "iTXt"]


# -- other formats -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, extension", [("JPEG", "jpg"), ("WEBP", "webp"), ("GIF", "gif")])
def test_other_formats_stay_untouched_with_a_json_sidecar(store: Store, fmt: str, extension: str) -> None:
    original = encode(fmt)
    saved = store.save(generated(original, params={"output_format": fmt.lower(), "quality": "high"}))

    assert saved.path is not None and saved.path.suffix == "." + extension
    assert saved.path.read_bytes() == original == saved.data
    sidecar = saved.path.with_name(saved.path.name + ".json")
    body = json.loads(sidecar.read_text(encoding="utf-8"))
    assert body["prompt"] == "a red panda chef, watercolor"
    assert body["params"] == {"output_format": fmt.lower(), "quality": "high"}
    assert body["sha256"] == hashlib.sha256(original).hexdigest()
    assert body["file"] == saved.path.name
    assert read_provenance(saved.path)["response_id"] == "resp_123"
    assert read_provenance(original) == {}  # bare bytes carry nothing


def test_a_broken_png_is_kept_as_received_with_a_sidecar(store: Store, png: Callable[..., bytes]) -> None:
    truncated = png((64, 64))[:-30]  # a stream cut in the middle of the file
    saved = store.save(generated(truncated), kind="partial")
    assert saved.path is not None and saved.path.read_bytes() == truncated
    assert read_provenance(saved.path)["kind"] == "partial"


# -- saving twice, never overwriting -------------------------------------------------------------
def test_saving_the_same_image_twice_keeps_one_file(store: Store, png: Callable[..., bytes]) -> None:
    image = generated(png())
    first = store.save(image)
    assert store.save(image) is first
    assert store.save(first) is first  # the returned copy is known too
    assert store.save(Image.open(first.path)).path == first.path  # type: ignore[arg-type]
    assert store.count() == 1
    assert len(list(files_under(store.images_dir))) == 1


def test_the_same_received_image_saved_by_another_store_object_is_not_duplicated(
    store: Store, png: Callable[..., bytes]
) -> None:
    image = generated(png(), created=1_790_000_123.5)
    first = store.save(image)
    again = Store(store.home).save(image)
    assert again.path == first.path and again.data == first.data
    assert store.count() == 1


def test_identical_bytes_from_two_requests_make_two_files(store: Store) -> None:
    data = encode("JPEG")
    a = store.save(generated(data, prompt="first request"))
    b = store.save(generated(data, prompt="second request"))
    assert a.path != b.path
    assert read_provenance(a.path)["prompt"] == "first request"  # type: ignore[arg-type]
    assert read_provenance(b.path)["prompt"] == "second request"  # type: ignore[arg-type]
    assert store.count() == 2


def test_bad_arguments_are_refused(store: Store, png: Callable[..., bytes]) -> None:
    with pytest.raises(InvalidInputError):
        store.save(png())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.save(generated(png()), kind="draft")
    with pytest.raises(InvalidInputError):
        store.list(limit=-1)
    with pytest.raises(InvalidInputError):
        Store.cache_key("prompt")  # type: ignore[arg-type]


# -- atomic writes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_failed_rename_leaves_no_file_and_no_row(
    store: Store, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    store.save(generated(encode(fmt, color=(1, 1, 1)), prompt="before"))
    before = files_under(store.images_dir)

    def crash(src: Any, dst: Any) -> None:
        if str(dst).endswith((".png", ".jpg")):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    real_replace = os.replace
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        store.save(generated(encode(fmt, color=(2, 2, 2)), prompt="during"))
    monkeypatch.undo()

    assert files_under(store.images_dir) == before  # no partial image, no temp file, no sidecar
    assert [r.prompt for r in store.list()] == ["before"]
    after = store.save(generated(encode(fmt, color=(3, 3, 3)), prompt="after"))
    assert after.path.is_file() and store.count() == 2  # type: ignore[union-attr]


def test_a_write_that_dies_midway_leaves_no_file(store: Store, monkeypatch: pytest.MonkeyPatch, png: Callable[..., bytes]) -> None:
    def die(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", die)
    with pytest.raises(OSError, match="Input/output"):
        store.save(generated(png()))
    monkeypatch.undo()
    assert files_under(store.images_dir) == []
    assert store.count() == 0


def test_a_locked_index_keeps_the_file_and_reindex_recovers_it(
    store: Store, monkeypatch: pytest.MonkeyPatch, png: Callable[..., bytes]
) -> None:
    import nbimages._store_index as index_module

    store.save(generated(png(), prompt="indexed"))
    monkeypatch.setattr(index_module, "BUSY_TIMEOUT_S", 0.05)
    blocker = sqlite3.connect(store.db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        with pytest.warns(RuntimeWarning, match="not indexed"):
            saved = store.save(generated(png(color=(0, 255, 0)), prompt="not yet indexed"))
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    monkeypatch.undo()

    assert saved.path.is_file()  # type: ignore[union-attr]
    assert [r.prompt for r in store.list()] == ["indexed"]
    assert store.reindex() == 1
    assert store.reindex() == 0
    record = store.list()[0]
    assert record.prompt == "not yet indexed" and record.path == saved.path
    assert record.load().data == saved.data


# -- secrets never reach the disk -------------------------------------------------------------------
def test_credentials_are_never_written(store: Store, monkeypatch: pytest.MonkeyPatch, png: Callable[..., bytes]) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    params = {
        "size": "1024x1024",
        "api_key": SENTINEL,
        "Authorization": f"Bearer {SENTINEL}",
        "extra_headers": {"X-Api-Key": SENTINEL},
        "options": {"headers": {"authorization": SENTINEL}, "seed": 7},
        "note": f"key was {SENTINEL} oops",
        "token": SENTINEL,
        "max_tokens": 10,
    }
    for data in (png(), encode("JPEG")):
        saved = store.save(generated(data, params=params, prompt=f"prompt that pastes {SENTINEL}"), cache_key="k")
        record = store.list(limit=1)[0]
        assert record.params == {"size": "1024x1024", "options": {"seed": 7}, "note": "key was [redacted] oops",
                                 "max_tokens": 10}
        assert SENTINEL not in json.dumps(read_provenance(saved.path))  # type: ignore[arg-type]
        store.thumbnail(record.id, 32)
    store.record_usage(model="gpt-image-1.5", usage=None, endpoint="images/generations", response_id="resp_1")

    for path in files_under(store.home):  # images, sidecars, thumbs, index.sqlite, -wal, -shm
        assert SENTINEL.encode() not in path.read_bytes(), path
        assert SENTINEL[10:].encode() not in path.read_bytes(), path


def test_huge_or_binary_params_are_kept_as_digests(store: Store, png: Callable[..., bytes]) -> None:
    mask_url = "data:image/png;base64," + "A" * 10_000
    saved = store.save(generated(png(), params={"mask": mask_url, "image": b"\x89PNG...", "n": 2}))
    params = read_provenance(saved.path)["params"]  # type: ignore[arg-type]
    assert params["n"] == 2
    assert params["mask"] == {"sha256": hashlib.sha256(mask_url.encode()).hexdigest(), "chars": len(mask_url)}
    assert params["image"] == {"sha256": hashlib.sha256(b"\x89PNG...").hexdigest(), "bytes": 7}
    assert len(saved.data) < 2_000 + len(png())


# -- cache -----------------------------------------------------------------------------------------
def test_cache_keys_are_stable_and_sensitive(png: Callable[..., bytes], tmp_path: Path) -> None:
    base = {"endpoint": "images/generations", "prompt": "a fox", "model": "gpt-image-1.5",
            "options": {"size": "1024x1024", "quality": "low", "n": 1}}
    key = Store.cache_key(base)
    assert len(key) == 64 and key == Store.cache_key(dict(reversed(list(base.items()))))
    assert key == Store.cache_key({**base, "options": {"n": 1, "quality": "low", "size": "1024x1024"}})
    assert key == Store.cache_key({**base, "options": {**base["options"], "background": None}})  # None = absent
    assert key == Store.cache_key({**base, "api_key": "sk-whatever"})  # credentials do not count

    variants = [
        {**base, "endpoint": "images/edits"},
        {**base, "prompt": "a fox "},
        {**base, "model": "gpt-image-2"},
        {**base, "options": {**base["options"], "size": "1536x1024"}},
        {**base, "options": {**base["options"], "quality": "high"}},
        {**base, "options": {**base["options"], "n": 2}},
        {**base, "options": {**base["options"], "partial_images": 2}},
    ]
    keys = {Store.cache_key(v) for v in variants}
    assert len(keys) == len(variants) and key not in keys

    red, blue = png(color=(255, 0, 0)), png(color=(0, 0, 255))
    with_red = Store.cache_key({**base, "images": [red]})
    assert with_red == Store.cache_key({**base, "images": [Image(red)]})
    assert with_red != Store.cache_key({**base, "images": [blue]})
    assert with_red != Store.cache_key({**base, "images": [red, red]})
    file = tmp_path / "input.png"
    file.write_bytes(red)
    from_file = Store.cache_key({**base, "images": [file]})
    file.write_bytes(blue)
    assert Store.cache_key({**base, "images": [file]}) != from_file  # the content counts, not the name


def test_lookup_returns_the_final_image_saved_under_a_key(store: Store, png: Callable[..., bytes]) -> None:
    key = Store.cache_key({"prompt": "a fox"})
    assert store.lookup(key) is None
    store.save(generated(png(color=(9, 9, 9)), prompt="partial"), cache_key=key, kind="partial")
    assert store.lookup(key) is None  # partials are never served from the cache
    saved = store.save(generated(png(), prompt="a fox", usage=Usage(1, 2, 3)), cache_key=key)

    found = store.lookup(key)
    assert found is not None
    assert found.data == saved.data and found.path == saved.path
    assert (found.prompt, found.model, found.params, found.usage) == (saved.prompt, saved.model, saved.params, Usage(1, 2, 3))
    assert store.lookup(Store.cache_key({"prompt": "a wolf"})) is None

    saved.path.unlink()  # type: ignore[union-attr]
    assert store.lookup(key) is None


def test_lookup_all_returns_every_image_of_a_request(store: Store, png: Callable[..., bytes]) -> None:
    key = Store.cache_key({"prompt": "two foxes", "n": 2})
    a = store.save(generated(png(color=(1, 0, 0)), created=1_790_000_000.0), cache_key=key)
    b = store.save(generated(png(color=(2, 0, 0)), created=1_790_000_000.1), cache_key=key)
    assert [i.path for i in store.lookup_all(key)] == [a.path, b.path]
    assert store.lookup(key).path == b.path  # type: ignore[union-attr]


def test_saving_again_with_a_key_attaches_the_key(store: Store, png: Callable[..., bytes]) -> None:
    image = generated(png())
    saved = store.save(image)
    store.save(image, cache_key="late-key")
    assert store.lookup("late-key").path == saved.path  # type: ignore[union-attr]


# -- browsing ---------------------------------------------------------------------------------------
def test_list_count_get_and_search(store: Store, png: Callable[..., bytes]) -> None:
    prompts = ["a red fox in snow", "a blue whale", "a red panda chef", "100% cotton_shirt"]
    saved = [store.save(generated(png(color=(i, i, i)), prompt=p, revised_prompt=f"{p}, watercolor",
                                  model="gpt-image-2" if i == 1 else "gpt-image-1.5", created=1_790_000_000 + i))
             for i, p in enumerate(prompts)]
    store.save(generated(png(color=(99, 0, 0)), prompt="a red partial", created=1_790_000_100), kind="partial")

    assert store.count() == 4
    assert store.count(kind="partial") == 1
    assert store.count(kind=None) == 5
    listed = store.list()
    assert [r.prompt for r in listed] == list(reversed(prompts))  # newest first
    assert [r.prompt for r in store.list(limit=2, offset=1)] == ["a red panda chef", "a blue whale"]
    assert {r.prompt for r in store.list(search="red")} == {"a red fox in snow", "a red panda chef"}
    assert store.count(search="RED panda") == 1
    assert store.count(search="gpt-image-2") == 1
    assert store.count(search="red", kind=None) == 3
    assert store.count(search="100%") == 1 and store.count(search="n_s") == 1  # LIKE wildcards are literal
    assert store.count(search="0%") == 1 and store.count(search="%") == 1
    assert store.count(search="watercolor") == 4  # the revised prompt is searched too

    record = store.get(listed[0].id)
    assert isinstance(record, StoredImage)
    assert record == listed[0]
    assert record.path == saved[-1].path
    assert (record.width, record.height, record.format, record.kind) == (64, 64, "png", "final")
    assert record.params == saved[-1].params and record.response_id == "resp_123" and record.call_id == "ig_456"
    assert record.to_dict()["path"] == str(saved[-1].path)
    with pytest.raises(KeyError):
        store.get("nope")


def test_stored_image_loads_back_with_its_provenance(store: Store, png: Callable[..., bytes]) -> None:
    image = generated(png(), parent="abc123", source="generate", created=1_790_000_000.5)
    saved = store.save(image)
    loaded = store.list()[0].load()
    assert loaded.data == saved.data and loaded.path == saved.path
    for name in ("prompt", "revised_prompt", "model", "params", "response_id", "call_id", "usage", "parent",
                 "created", "source"):
        assert getattr(loaded, name) == getattr(image, name), name


def test_thumbnails_are_small_cached_and_keep_transparency(store: Store, png: Callable[..., bytes]) -> None:
    opaque = store.save(generated(png((600, 300), (0, 128, 0))))
    clear = store.save(generated(png((100, 400), (0, 0, 0, 0), "RGBA")))
    ids = {record.path: record.id for record in store.list()}
    opaque_id, clear_id = ids[opaque.path], ids[clear.path]  # type: ignore[index]

    thumb = store.thumbnail(opaque_id, 128)
    with PIL.open(io.BytesIO(thumb)) as pil:
        assert (pil.format, pil.size) == ("JPEG", (128, 64))
    assert (store.home / "thumbs" / f"{opaque_id}-128.jpg").read_bytes() == thumb

    alpha = store.thumbnail(clear_id, 100)
    with PIL.open(io.BytesIO(alpha)) as pil:
        assert (pil.format, pil.size, pil.mode) == ("PNG", (25, 100), "RGBA")
        assert pil.getpixel((5, 5))[3] == 0

    # Served from the cache: works even once the original is gone.
    opaque.path.unlink()  # type: ignore[union-attr]
    assert store.thumbnail(opaque_id, 128) == thumb
    with pytest.raises(StoreError, match="cannot be read: No such file"):
        store.thumbnail(opaque_id, 64)
    assert clear.path.is_file()  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError):
        store.thumbnail(clear_id, 0)


# -- the index ---------------------------------------------------------------------------------------
def test_index_schema_wal_and_version(store: Store, png: Callable[..., bytes]) -> None:
    store.save(generated(png()))
    conn = sqlite3.connect(store.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = {row[1] for row in conn.execute("PRAGMA table_info(images)")}
        assert {"id", "path", "kind", "prompt", "revised_prompt", "model", "created", "width", "height", "format",
                "params", "response_id", "call_id", "parent", "cache_key", "sha256"} <= columns
        usage_columns = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
        assert {"time", "model", "endpoint", "images", "input_tokens", "output_tokens", "total_tokens", "quality",
                "size", "cost", "response_id", "cached"} <= usage_columns
        indexes = {row[1] for row in conn.execute("SELECT * FROM sqlite_master WHERE type = 'index'")}
        assert {"images_cache_key", "images_kind_created", "usage_model"} <= indexes
        (path, sha) = conn.execute("SELECT path, sha256 FROM images").fetchone()
    finally:
        conn.close()
    assert not Path(path).is_absolute()  # the home folder can move
    assert hashlib.sha256((store.home / path).read_bytes()).hexdigest() == sha


# -- usage ledger and prices ----------------------------------------------------------------------------
def test_usage_ledger_and_cost_estimates(store: Store) -> None:
    # gpt-image-1-mini has token prices: 50 text in x $2/M + 272 image out x $8/M = $0.002276
    store.record_usage(model="gpt-image-1-mini", endpoint="images/generations", quality="low", size="1024x1024",
                       usage=Usage(50, 272, 322, {"text_tokens": 50, "image_tokens": 0}), response_id="r1")
    # with an input image: 40 text x $2 + 1000 image in x $2.5 + 1056 out x $8 = 0.00008+0.0025+0.008448
    store.record_usage(model="gpt-image-1-mini", endpoint="images/edits", quality="low", size="1024x1024",
                       usage=Usage(1040, 1056, 2096, {"text_tokens": 40, "image_tokens": 1000}))
    store.record_usage(model="gpt-image-1-mini", endpoint="images/generations", usage=None, cached=True, images=2)
    # gpt-image-1.5 has per-image prices only: 2 x medium portrait = 2 x $0.05
    store.record_usage(model="gpt-image-1.5", endpoint="images/generations", quality="medium", size="1024x1536",
                       images=2, usage=Usage(30, 400, 430))
    store.record_usage(model="gpt-image-1.5", endpoint="images/generations", quality="auto", size="1024x1024",
                       usage=None)  # unknown quality: not priced
    store.record_usage(model="my-local-model", endpoint="images/generations", quality="low", size="1024x1024",
                       usage=Usage(1, 1, 2))

    summary = {row["model"]: row for row in store.usage_summary()}
    assert [row["model"] for row in store.usage_summary()] == ["gpt-image-1-mini", "gpt-image-1.5", "my-local-model"]
    mini = summary["gpt-image-1-mini"]
    assert (mini["requests"], mini["images"], mini["cached"]) == (2, 2, 2)
    assert (mini["input_tokens"], mini["output_tokens"]) == (1090, 1328)
    assert mini["estimated_cost_usd"] == pytest.approx(0.002276 + 0.011028)
    assert mini["unpriced_requests"] == 0
    one_five = summary["gpt-image-1.5"]
    assert (one_five["requests"], one_five["images"], one_five["cached"]) == (2, 3, 0)
    assert one_five["estimated_cost_usd"] == pytest.approx(0.10)
    assert one_five["unpriced_requests"] == 1
    assert summary["my-local-model"]["estimated_cost_usd"] is None

    conn = sqlite3.connect(store.db_path)
    try:
        rows = conn.execute("SELECT endpoint, cost, cached, response_id FROM usage ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows[0][0] == "images/generations" and rows[0][1] == pytest.approx(0.002276) and rows[0][3] == "r1"
    assert rows[2][1:3] == (0.0, 1)


def test_empty_ledger(store: Store) -> None:
    assert store.usage_summary() == []


def test_price_table_is_dated_and_shipped_in_the_package() -> None:
    import nbimages

    table_file = Path(nbimages.__file__).parent / "prices.json"
    table = json.loads(table_file.read_text(encoding="utf-8"))
    assert table == prices.load_prices()
    assert prices.updated() == table["updated"]
    time.strptime(prices.updated(), "%Y-%m-%d")
    for model, entry in table["models"].items():
        assert entry.get("per_image") or entry.get("tokens_per_million"), model
        for quality, buckets in entry.get("per_image", {}).items():
            assert set(buckets) == {"square", "portrait_landscape"}, (model, quality)


@pytest.mark.parametrize(
    "model, quality, size, usage, images, expected",
    [
        ("gpt-image-1.5", "low", "1024x1024", None, 1, 0.009),
        ("gpt-image-1.5", "high", "1536x1024", None, 1, 0.2),
        ("gpt-image-1.5", "HIGH", "1024x1536", None, 3, 0.6),
        ("gpt-image-2", "medium", "1024x1024", None, 1, 0.053),
        ("gpt-image-2", "medium", "1536x1024", None, 1, 0.041),
        ("gpt-image-1-mini", "high", "1024x1024", None, 1, 0.036),
        # token prices win over the per-image price when usage is known
        ("gpt-image-1-mini", "high", "1024x1024", Usage(100, 4160, 4260), 1, (100 * 2 + 4160 * 8) / 1e6),
        ("gpt-image-1", "low", "1024x1024", {"input_tokens": 20, "output_tokens": 272}, 1, (20 * 5 + 272 * 40) / 1e6),
        ("gpt-image-1-mini-2025-10-06", "low", "1024x1024", None, 1, 0.005),  # dated snapshot
        ("gpt-image-1-mini", "low", "1024x1024", Usage(0, 0, 0), 1, 0.005),  # empty usage: per image
        ("gpt-image-1.5", "auto", "1024x1024", None, 1, None),
        ("gpt-image-1.5", None, "1024x1024", None, 1, None),
        ("gpt-image-1.5", "low", "auto", None, 1, None),
        ("gpt-image-1.5", "low", "2048x2048", None, 1, None),
        # text models (%describe, --continue): output tokens are text
        ("gpt-5", None, None, {"input_tokens": 1000, "output_tokens": 200}, 1, (1000 * 1.25 + 200 * 10) / 1e6),
        ("gpt-4.1", None, None, {"input_tokens": 800, "output_tokens": 100,
                                 "input_tokens_details": {"image_tokens": 765, "text_tokens": 35}},
         1, (35 * 2 + 765 * 2 + 100 * 8) / 1e6),
        ("gpt-5", None, None, None, 1, None),
        ("unknown-model", "low", "1024x1024", Usage(10, 10, 20), 1, None),
        (None, "low", "1024x1024", None, 1, None),
    ],
)
def test_estimate_cost(model: str | None, quality: str | None, size: str | None, usage: Any, images: int,
                       expected: float | None) -> None:
    cost = prices.estimate_cost(model, quality, size, usage, images)
    if expected is None:
        assert cost is None
    else:
        assert cost == pytest.approx(expected)


def test_size_buckets() -> None:
    assert prices.size_bucket("1024x1024") == "square"
    assert prices.size_bucket("1536x1024") == prices.size_bucket("1024x1536") == "portrait_landscape"
    assert prices.size_bucket("auto") is None and prices.size_bucket(None) is None

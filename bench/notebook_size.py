"""Notebook size: ten ``%%imagine`` images against the same ten shown the docs' way.

Both notebooks are generated and executed with nbclient in a fresh kernel, with the store
in a temporary ``NBIMAGES_HOME``. The docs' way (``display(Image(base64.b64decode(b64_json)))``)
embeds every full PNG in the notebook; nbimages keeps the full images on disk and puts a
small preview in the notebook. The benchmark checks that the full images are really on
disk, at full size, before it builds the docs' notebook from those very files.

Two sources of images:

- API-sized (the row with the target): ``bench._sse_server`` streams 1024x1024 PNGs of
  2.0 MB (noisy like a photo: what the API returns at 1024x1024 is 1.2-2.5 MB), a
  different one per request;
- the offline simulator (for information): its procedural drawings are flat colour and
  compress to ~35-50 KB, so there is little for a preview to save.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._common import Config, Row, clean_env, python
from bench._kernel import sse_server

ROWS = ("notebook size: %%imagine vs full PNGs", "notebook size: same, simulator images")
PROMPTS = (
    "a red panda chef in a busy kitchen", "a lighthouse on a rocky coast at dusk",
    "a watercolor fox in the snow", "three hot air balloons over a desert",
    "a cat sleeping on a stack of books", "a sailboat on a calm lake at sunrise",
    "a cozy cabin in an autumn forest", "a city skyline at night with a full moon",
    "a field of sunflowers under a blue sky", "a robot watering flowers in a garden",
)


def child(workdir: str, count: int, options: str) -> None:
    """Runs in a fresh interpreter: build and execute both notebooks, print their sizes."""
    import nbformat
    from nbclient import NotebookClient

    work = Path(workdir)
    home = Path(__import__("os").environ["NBIMAGES_HOME"])

    def execute(nb: nbformat.NotebookNode, name: str) -> int:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
        path = work / name
        nbformat.write(nb, path)
        return path.stat().st_size

    cells = [nbformat.v4.new_code_cell("%load_ext nbimages")]
    cells += [nbformat.v4.new_code_cell(f"%%imagine {options}\n{p}") for p in PROMPTS[:count]]
    magic = nbformat.v4.new_notebook(cells=cells)
    magic_size = execute(magic, "imagine.ipynb")
    bare = nbformat.from_dict(json.loads(nbformat.writes(magic)))
    for cell in bare.cells:
        cell.outputs, cell.execution_count = [], None
    magic_empty = len(nbformat.writes(bare).encode())

    for cell in magic.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise RuntimeError(f"%%imagine failed: {output['ename']}: {output['evalue']}")

    # The full images, as the store wrote them (newest first would also do; order by time).
    suffixes = {".png", ".webp", ".jpg", ".jpeg"}
    files = sorted((p for p in home.rglob("*") if p.suffix in suffixes and p.is_file()), key=lambda p: p.stat().st_mtime)
    from nbimages.image import Image

    full = [p for p in files if Image.open(p).width == int(options.split("--size ")[1].split("x")[0])]
    if len(full) < count:
        raise AssertionError(f"expected {count} full-size images under NBIMAGES_HOME, found {len(full)} of {len(files)} files")
    full = full[-count:]

    docs = [nbformat.v4.new_code_cell("import base64\nfrom IPython.display import Image, display")]
    for path in full:  # the same bytes the API returned, decoded and displayed as the docs do
        docs.append(nbformat.v4.new_code_cell(
            f"b64_json = base64.b64encode(open({str(path)!r}, 'rb').read()).decode()  # result.data[0].b64_json\n"
            "display(Image(base64.b64decode(b64_json)))"
        ))
    docs_size = execute(nbformat.v4.new_notebook(cells=docs), "docs.ipynb")
    print(json.dumps({
        "magic": magic_size, "magic_empty": magic_empty, "docs": docs_size, "full_images": len(full),
        "full_bytes": sum(p.stat().st_size for p in full), "files_on_disk": len(files),
    }))


def _sizes(count: int, options: str, **env: str) -> dict:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
        code = f"from bench.notebook_size import child; child({work!r}, {count}, {options!r})"
        return json.loads(python(code, clean_env(NBIMAGES_HOME=home, **env), timeout=900).strip().splitlines()[-1])


def run(config: Config) -> list[Row]:
    count = config.pick(10, 1)
    options = "--size 1024x1024 --quality high --partial-images 0"
    with sse_server(1024, 1024, pause=0.0, variants=count, partials=0) as url, ThreadPoolExecutor(2) as pool:
        # side by side: most of each run is waiting for kernels to start
        api = pool.submit(_sizes, count, options, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
        local = pool.submit(_sizes, count, options, NBIMAGES_SIM_LATENCY="0", NBIMAGES_SIM_PARTIAL_INTERVAL="0")
        api_sizes, local_sizes = api.result(), local.result()

    def row(name: str, result: dict, target: float | None, target_text: str, what: str) -> Row:
        per_image = (result["magic"] - result["magic_empty"]) / count
        return Row(
            name, result["magic"], result["docs"], "B", target, target_text, "docs' full PNGs", raw=result,
            note=f"{count} {what}: {result['full_images']} full images on disk "
                 f"({result['full_bytes'] / count / 1e3:.0f} KB each), {per_image / 1e3:.1f} KB per output",
        )

    return [
        row(ROWS[0], api_sizes, 1 / 8, "<= 0.125", "API-sized 1024x1024 PNGs"),
        row(ROWS[1], local_sizes, None, "info", "simulator images of 1024x1024"),
    ]

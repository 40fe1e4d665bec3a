"""Run every benchmark and print one table of ratios (``python -m bench [--quick]``).

Each benchmark module has ``ROWS`` (the names of the rows it produces) and ``run(config)``
returning those rows. A benchmark that crashes still gets its rows, marked ERROR, so the
table always has every line. Results also go to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Config, Row, failed

BENCHMARKS = (
    "import_cost",
    "stream_decode",
    "partial_to_screen",
    "notebook_size",
    "widget_wire",
    "concurrency",
    "memory",
    "responsiveness",
    "throughput",
    "batch_overhead",
)
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def run_benchmark(name: str, config: Config) -> tuple[list[Row], float]:
    start = time.perf_counter()
    module = import_module(f"bench.{name}")  # benchmark modules import only the standard library at the top
    try:
        rows = module.run(config)
    except Exception as exc:  # one broken benchmark must not hide the others
        rows = [failed(row, exc) for row in module.ROWS]
    return rows, time.perf_counter() - start


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "B":
        for scale, suffix in ((1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:.2f} {suffix}"
        return f"{value:.0f} B"
    return f"{value:.3g} {unit}".strip()


def table(rows: list[Row]) -> str:
    head = ("benchmark", "nbimages", "anchor", "ratio", "target", "result")
    lines = [
        (
            row.name,
            fmt(row.value, row.unit),
            f"{fmt(row.anchor, row.unit)} ({row.anchor_name})" if row.anchor_name else fmt(row.anchor, row.unit),
            "-" if row.ratio is None else f"{row.ratio:.3f}",
            row.target_text or "-",
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [head, *lines]) for i in range(len(head))]
    out = [" | ".join(str(c).ljust(w) for c, w in zip(head, widths))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def details(rows: list[Row]) -> str:
    out = []
    for row in rows:
        if row.error:
            out.append(f"- {row.name}: {row.error}")
            continue
        raw = ", ".join(f"{k}={v}" for k, v in row.raw.items())
        note = f" -- {row.note}" if row.note else ""
        out.append(f"- {row.name}: {raw}{note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (seconds, not minutes)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (median is shown)")
    parser.add_argument("--only", default="", help="comma-separated benchmarks: " + ", ".join(BENCHMARKS))
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"where to write results (default {RESULTS})")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, not only on errors")
    args = parser.parse_args(argv)

    config = Config(quick=args.quick, repeats=args.repeats or (3 if args.quick else 7))
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    rows: list[Row] = []
    timings: dict[str, float] = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        got, seconds = run_benchmark(name, config)
        rows += got
        timings[name] = round(seconds, 2)

    print(table(rows))
    print()
    print("raw numbers (times in seconds, sizes in bytes; the table shows the median of repeated timings):")
    print(details(rows))

    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": config.quick,
        "repeats": config.repeats,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "seconds": timings,
        "rows": [row.to_json() for row in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.json}", file=sys.stderr)

    if any(row.error for row in rows):
        return 2
    if args.strict and any(row.status == "FAIL" for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

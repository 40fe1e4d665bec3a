"""The benchmark command runs end to end (``--quick``) and prints every row; no timing asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

from bench.run import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def expected_rows() -> list[str]:
    return [row for name in BENCHMARKS for row in import_module(f"bench.{name}").ROWS]


def test_quick_benchmark_prints_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"benchmark errors:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    table = proc.stdout.split("\n\n")[0].splitlines()
    assert table[0].split(" | ")[0].strip() == "benchmark"
    names = [line.split(" | ")[0].strip() for line in table[2:]]
    assert names == expected_rows()
    for line in table[2:]:
        cells = [c.strip() for c in line.split(" | ")]
        assert len(cells) == 6 and cells[5] in {"pass", "FAIL", "info"}, line

    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert [row["name"] for row in report["rows"]] == expected_rows()
    for row in report["rows"]:
        assert not row["error"], row
        assert row["value"] > 0 and row["anchor"] > 0, row
        assert abs(row["ratio"] - row["value"] / row["anchor"]) < 1e-9, row
        assert row["raw"], row


def test_unknown_benchmark_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "no_such_benchmark"], cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr

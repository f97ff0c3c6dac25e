"""The benchmark suite runs and writes its JSON and plot (speed is never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_paillier_benchmark_writes_results(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "paillier", "--quick", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads((tmp_path / "paillier.json").read_text())
    rows = document["results"]["1024"]
    assert {"meta", "results"} <= document.keys()
    for record in rows.values():
        assert record["ours"] > 0 and record["unit"] in {"ops/s", "s"}
        assert record["ratio"] is None or record["ratio"] > 0
    assert (tmp_path / "paillier.png").stat().st_size > 10_000
    assert "| operation |" in result.stdout

"""The binning benchmark runs both implementations at a tiny size and reports them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.binning_bench import tree_cpu_seconds


def test_binning_suite_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "binning.json"
    argv = ["binning", "--rows", "300", "--features", "6", "--bins", "4", "--key-length", "1024"]
    argv += ["--jobs", "1", "--phe-encryptions", "5", "--phe-rows", "40", "--phe-features", "2"]
    argv += ["--phe-sums", "4", "--output", str(output)]
    assert main(argv) == 0

    document = json.loads(output.read_text())
    assert document["meta"]["command"] == "python -m benchmarks " + " ".join(argv)
    result = document["result"]
    assert (result["rows"], result["features"], result["bins"]) == (300, 6, 4)
    assert result["cores"] == 1 and result["phe_samples"]["encryptions"] == 5
    assert set(result["ours_phases"]) == {
        "setup",
        "guest: encrypt labels",
        "host: per-bin sums",
        "guest: decrypt, check, WOE/IV",
        "host: un-permute",
    }
    assert set(result["phe_phases"]) == {
        "guest: encrypt labels",
        "host: per-bin sums",
        "host: re-randomise sums",
        "guest: decrypt sums",
    }
    assert sum(result["ours_phases"].values()) <= result["ours_seconds"]
    assert result["phe_seconds"] == pytest.approx(sum(result["phe_phases"].values()))
    work = 300 * 6
    assert result["phe_rate_per_core"] == pytest.approx(work / result["phe_cpu_seconds"])
    assert result["per_core_ratio"] == pytest.approx(
        result["ours_rate_per_core"] / result["phe_rate_per_core"]
    )
    assert result["wall_ratio"] == pytest.approx(result["phe_seconds"] / result["ours_seconds"])
    printed = capsys.readouterr().out
    assert "| **total (wall)** |" in printed and "scaled linearly" in printed


def test_cpu_seconds_cover_this_process() -> None:
    before = tree_cpu_seconds()
    if before is None:
        pytest.skip("no /proc on this platform")
    total = sum(i * i for i in range(3_000_000))  # about 0.1 s of CPU
    after = tree_cpu_seconds()
    assert total > 0 and after is not None and after > before

"""The hetero LR benchmark suite runs end to end at a tiny size and reports what it measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import SUITES, main
from benchmarks.hetero_lr_bench import FATE, bench_wide
from benchmarks.hetero_lr_cases import cpu_snapshot, default_credit_split, wide_data

ROWS = 300
WIDE_ROWS = 400
BITS = 1024


def test_hetero_lr_suite_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results" / "hetero_lr.json"
    argv = ["hetero_lr", "--rows", str(ROWS), "--key-lengths", str(BITS)]
    argv += ["--wide-rows", str(WIDE_ROWS), "--wide-key-length", str(BITS)]
    argv += ["--repeats", "2", "--output", str(output)]
    assert main(argv) == 0

    document = json.loads(output.read_text())
    meta = document["meta"]
    assert meta["command"] == "python -m benchmarks " + " ".join(argv)
    assert meta["cpu_count"] >= 1 and meta["python"] and meta["platform"]
    assert meta["total_seconds"] > 0

    credit = document["results"]["default_credit"]
    assert credit["parameters"]["batch_size"] == 1024
    assert credit["parameters"]["optimizer"] == "adam"
    assert credit["parameters"]["max_iter"] == 1
    assert credit["parameters"]["class_weight"] == "balanced"
    data = credit["data"]
    assert data["train_rows"] == ROWS and data["test_rows"] == 9000
    assert (data["guest_features"], data["host_features"]) == (13, 10)
    assert list(credit["key_lengths"]) == [str(BITS)]
    row = credit["key_lengths"][str(BITS)]
    for name, backend, n_jobs in (
        ("paillier", "paillier", -1),
        ("paillier_1core", "paillier", 1),
        ("phe", "phe", 1),
    ):
        run = row[name]
        assert (run["backend"], run["n_jobs"], run["key_length"]) == (backend, n_jobs, BITS)
        assert run["rows"] == ROWS and run["seconds"] > 0
        assert 0.5 < run["auc"] <= 1.0 and run["auc_on"] == "held-out"
        assert len(run["seconds_each"]) == (1 if backend == "phe" else 2)
        assert min(run["seconds_each"]) <= run["seconds"] <= max(run["seconds_each"])
        others = run["other_processes_cpu_seconds_each"]
        assert len(others) == len(run["seconds_each"])
        assert all(t is None or t >= 0 for t in others)
    assert row["same_model"] is True
    assert row["paillier"]["auc"] == row["phe"]["auc"] == row["paillier_1core"]["auc"]
    assert row["ratio_phe_over_paillier"] == pytest.approx(
        row["phe"]["seconds"] / row["paillier"]["seconds"], rel=1e-2
    )
    assert row["ratio_phe_over_paillier_1core"] > 0
    assert credit["heldout_auc"]["key_length"] == BITS
    assert credit["heldout_auc"]["auc"] == row["paillier"]["auc"]

    wide = document["results"]["wide"]
    assert wide["rows"] == WIDE_ROWS
    assert (wide["guest_features"], wide["host_features"]) == (30, 300)
    assert wide["parameters"]["backend"] == "paillier" and wide["parameters"]["n_jobs"] == -1
    assert wide["seconds"] > 0 and wide["cores_used"] == meta["cpu_count"]
    assert wide["other_processes_cpu_seconds"] is None or wide["other_processes_cpu_seconds"] >= 0
    assert wide["sample_features_per_core_second"] == pytest.approx(
        WIDE_ROWS * 330 / (wide["seconds"] * wide["cores_used"]), rel=1e-2
    )
    assert wide["fate"]["sample_features_per_core_second"] == pytest.approx(7583, abs=1)
    assert wide["ratio_vs_fate_per_core"] > 0

    assert output.with_suffix(".png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "| key | paillier n_jobs=-1" in out and "FATE 2.0" in out


def test_suite_is_registered() -> None:
    assert "hetero_lr" in SUITES


def test_default_credit_split_is_aligned_and_stratified() -> None:
    split = default_credit_split(1000)
    assert split.rows == 1000 and len(split.y_test) == 9000
    assert split.guest_train.shape == (1000, 13) and split.host_train.shape == (1000, 10)
    assert abs(split.y_train.mean() - split.y_test.mean()) < 0.01
    full = default_credit_split()
    assert full.rows == 21000
    assert np.array_equal(full.y_test, split.y_test)


def test_wide_data_is_seeded_and_learnable() -> None:
    guest, host, labels = wide_data(2000, 3, 5, seed=0)
    assert guest.shape == (2000, 3) and host.shape == (2000, 5) and labels.shape == (2000,)
    assert 0.3 < labels.mean() < 0.7
    again = wide_data(2000, 3, 5, seed=0)
    assert np.array_equal(guest, again[0]) and np.array_equal(labels, again[2])


def test_wide_case_counts_sample_features_per_core_second() -> None:
    result = bench_wide(64, BITS, lambda _: None, guest_features=2, host_features=5)
    assert result.run.rows == 64 and result.run.seconds > 0
    assert result.sample_features == 64 * 7
    assert result.per_core_second == pytest.approx(64 * 7 / (result.run.seconds * result.cores))
    assert result.versus_fate == pytest.approx(
        result.per_core_second / FATE["sample_features_per_core_second"]
    )


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--wide-rows", "300", "--output", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--rows", "10", "--output", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--repeats", "0", "--output", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--output", str(tmp_path / "x.png")])


def test_cpu_snapshot_counts_this_process_group() -> None:
    first = cpu_snapshot()
    if first is None:
        pytest.skip("no /proc here")
    sum(i * i for i in range(300_000))  # burn a little CPU in this process
    second = cpu_snapshot()
    assert second is not None
    assert second[0] >= first[0] >= 0 and second[1] >= first[1] > 0

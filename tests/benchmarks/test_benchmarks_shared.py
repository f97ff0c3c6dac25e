"""The shared-mode cases of the hetero LR benchmark and the quality suite, at tiny sizes.

default_credit's two-party epoch needs batches of about 650 rows (the label-information
bound, SECURITY.md §11), so the shared comparison trains on 700; the shared wide case
has no bound and runs on a few hundred rows; the quality suite runs on breast and a
small heavy-tailed set, Paillier at 1024 bits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import SUITES, main
from benchmarks.hetero_lr_cases import SHARED_TRAINING, TWO_PARTY_SGD, default_credit_split
from benchmarks.hetero_lr_shared import (
    FATE_SSHE,
    TARGET_RATIO,
    bench_shared_wide,
    shared_tolerance,
)
from benchmarks.quality_bench import heavy_tail_generator, load_dataset

ROWS = 700
BITS = 1024
WIDE_ROWS = 300


def _load_pairs(run: dict[str, object]) -> list[dict[str, list[float]]]:
    loads = run["load_average_each"]
    assert isinstance(loads, list)
    return loads


def test_shared_cases_of_the_hetero_lr_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "hetero_lr.json"
    argv = ["hetero_lr", "--cases", "shared", "shared_wide", "--rows", str(ROWS)]
    argv += ["--shared-key-length", str(BITS), "--repeats", "1"]  # one round: fast
    argv += ["--wide-rows", str(WIDE_ROWS), "--wide-key-length", str(BITS)]
    argv += ["--wide-guest-features", "3", "--wide-host-features", "4", "--output", str(output)]
    assert main(argv) == 0

    results = json.loads(output.read_text())["results"]
    assert results["default_credit"]["key_lengths"] == {}  # not run
    assert results["wide"] is None
    shared = results["shared_vs_two_party"]
    assert shared["key_length"] == BITS
    for name, mode, optimizer in (
        ("shared", "shared", "sgd"),
        ("two_party_sgd", "two-party", "sgd"),
        ("two_party_adam", "two-party", "adam"),
    ):
        run = shared[name]
        assert (run["mode"], run["optimizer"], run["backend"], run["n_jobs"]) == (
            mode,
            optimizer,
            "paillier",
            -1,
        )
        assert run["rows"] == ROWS and run["seconds_each"] == [run["seconds"]]
        loads = _load_pairs(run)
        assert len(loads) == 1
        assert all(len(pair["before_1_5_15_min"]) == 3 for pair in loads)
        assert 0.5 < run["auc"] <= 1.0 and run["auc_on"] == "held-out"
    assert shared["ratio_shared_over_two_party_sgd"] == pytest.approx(
        shared["shared"]["seconds"] / shared["two_party_sgd"]["seconds"], rel=1e-2
    )
    assert len(shared["ratio_shared_over_two_party_sgd_each"]) == 1
    assert shared["target_ratio_at_most"] == TARGET_RATIO
    check = shared["verification"]
    assert check["shared_vs_plaintext_max_difference"] <= check["shared_tolerance"] < 1e-3
    assert shared["parameters"]["shared"]["optimizer"] == SHARED_TRAINING["optimizer"] == "sgd"

    wide = results["shared_wide"]
    assert wide["rows"] == WIDE_ROWS and wide["batch_size"] == 1024
    assert (wide["guest_features"], wide["host_features"]) == (3, 4)
    assert wide["sample_features_per_core_second"] == pytest.approx(
        WIDE_ROWS * 7 / (wide["seconds"] * wide["cores_used"]), rel=1e-2
    )
    assert wide["seconds_extrapolated_to_100000_rows"] == pytest.approx(
        wide["seconds"] * 100_000 / WIDE_ROWS, rel=1e-2
    )
    assert "extrapolates" in wide["rows_note"]
    assert wide["fate_sshe"]["sample_features_per_core_second"] == pytest.approx(3508, abs=1)
    assert len(wide["load_average"]) == 1
    assert wide["verification"]["shared_vs_plaintext_max_difference"] is not None

    assert output.with_suffix(".png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "| shared | sgd | logistic" in out and "| two-party | adam | taylor" in out
    assert "FATE 2.0 SSHE-LR" in out and "shared / two-party" in out


def test_training_parameters_of_the_shared_comparison() -> None:
    assert SHARED_TRAINING["mode"] == "shared" and TWO_PARTY_SGD["mode"] == "two-party"
    assert {k: v for k, v in SHARED_TRAINING.items() if k != "mode"} == {
        k: v for k, v in TWO_PARTY_SGD.items() if k != "mode"
    }
    assert FATE_SSHE["seconds_per_epoch"] == 294.0  # 4 min 54 s


def test_shared_tolerance_grows_with_the_steps() -> None:
    split = default_credit_split(ROWS)
    blocks = [split.guest_train, split.host_train]
    one = shared_tolerance(blocks, None, 1, 0.1)
    assert 0 < one < 1e-5
    assert shared_tolerance(blocks, None, 10, 0.1) == pytest.approx(10 * one)
    assert shared_tolerance(blocks, np.full(ROWS, 3.0), 1, 0.1) > one


def test_shared_wide_case_runs_without_a_label_bound() -> None:
    # 100 rows x 40 host features: the two-party case would refuse this
    result = bench_shared_wide(100, BITS, lambda _: None, guest_features=2, host_features=40)
    assert result.run.rows == 100 and result.run.mode == "shared"
    assert result.plaintext is not None
    assert result.per_core_second == pytest.approx(100 * 42 / (result.run.seconds * result.cores))


def test_quality_suite_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "quality.json"
    argv = ["quality", "--datasets", "breast", "heavy_tail", "--heavy-tail-rows", "1500"]
    argv += ["--paillier-key-length", str(BITS), "--max-iter", "2", "--output", str(output)]
    assert main(argv) == 0

    document = json.loads(output.read_text())
    assert "exactly the same protocol arithmetic" in document["meta"]["backend_note"]
    function, _ = heavy_tail_generator()
    assert document["meta"]["heavy_tail_generator"].startswith(function)
    cells = {(c["dataset"], c["class_weight"]): c for c in document["results"]}
    assert set(cells) == {
        (name, weight) for name in ("breast", "heavy_tail") for weight in (None, "balanced")
    }
    for cell in cells.values():
        reference = cell["sklearn_logistic_auc"]
        assert 0.7 < reference <= 1.0
        assert cell["least_squares_gap"] == pytest.approx(
            cell["least_squares_auc"] - reference, abs=1e-4
        )
        shared = cell["federated"]["shared"]
        assert shared["loss"] == "logistic" and shared["backend"] == "plaintext"
        assert shared["refused"] is None and 1 <= shared["epochs"] <= 2
        assert shared["gap_to_sklearn"] == pytest.approx(shared["auc"] - reference, abs=1e-4)
        two_party = cell["federated"]["two-party"]
        assert two_party["loss"] == "taylor"
        # defaults (batch 1024) may break the two-party label-information bound
        assert (two_party["auc"] is None) == (two_party["refused"] is not None)
    check = document["paillier_check"]
    assert check["dataset"] == "breast" and check["key_length"] == BITS
    assert abs(check["auc_difference"]) <= check["auc_tolerance"]
    assert check["paillier"]["backend"] == "paillier"
    assert len(check["load_average_after_1_5_15_min"]) == 3

    table = output.with_suffix(".md").read_text()
    assert table == capsys.readouterr().out
    assert "| breast | None |" in table and "| heavy_tail | balanced |" in table
    assert "Paillier check: breast" in table


def test_quality_split_is_fixed_by_the_ids() -> None:
    data = load_dataset("breast")
    again = load_dataset("breast")
    assert np.array_equal(data.y_test, again.y_test)
    assert len(data.y_train) == 398 and len(data.y_test) == 171
    assert abs(data.y_train.mean() - data.y_test.mean()) < 0.01
    assert data.guest_train.shape[1] == 10 and data.host_train.shape[1] == 20


def test_quality_suite_is_registered() -> None:
    assert "quality" in SUITES

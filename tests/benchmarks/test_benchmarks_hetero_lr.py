"""The hetero LR benchmark suite runs end to end at a tiny size and reports what it measures.

Every size here satisfies the label-information bound (SECURITY.md §11): default_credit's
10 host features need batches of about 650 rows, so the tiny run trains on 700; the wide
case runs the same code path as the full one with a few host features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import SUITES, main
from benchmarks.hetero_lr_bench import FATE, LabelBoundError, bench_wide
from benchmarks.hetero_lr_cases import (
    cpu_snapshot,
    default_credit_split,
    label_bound,
    smallest_batch,
    wide_data,
)
from protocols.hetero_lr.leakage import (
    gradient_entry_bits,
    minimum_batch_for_labels,
    satisfies_label_bound,
)

ROWS = 700  # one batch of 700 rows: default_credit's host needs about 650
WIDE_ROWS = 400
WIDE_GUEST, WIDE_HOST = 6, 4  # the bound allows batches of 183 rows: two batches of 200
BITS = 1024


def expected_minimum(host: np.ndarray, labels: np.ndarray) -> int:
    """The bound's smallest batch, standardising as the estimator does (by hand)."""
    scale = host.std(axis=0)
    scale[scale == 0] = 1.0
    scaled = (host - host.mean(axis=0)) / scale
    width = host.shape[1]
    return minimum_batch_for_labels(width, gradient_entry_bits(scaled), float(labels.mean()))


def test_hetero_lr_suite_at_a_tiny_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "results" / "hetero_lr.json"
    argv = ["hetero_lr", "--cases", "default_credit", "wide"]  # the shared ones: their own test
    argv += ["--rows", str(ROWS), "--key-lengths", str(BITS)]
    argv += ["--wide-rows", str(WIDE_ROWS), "--wide-key-length", str(BITS)]
    argv += ["--wide-guest-features", str(WIDE_GUEST), "--wide-host-features", str(WIDE_HOST)]
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
    split = default_credit_split(ROWS)
    credit_bound = credit["label_information_bound"]
    assert credit_bound["minimum_batch"] == expected_minimum(split.host_train, split.y_train)
    assert 600 < credit_bound["minimum_batch"] <= ROWS  # batches of 1024 on the full data pass
    assert credit_bound["host_features"] == 10 and 17 <= credit_bound["gradient_bits"] <= 21
    assert credit_bound["event_rate"] == pytest.approx(data["train_positive_rate"], abs=1e-4)
    assert "SECURITY.md" in credit_bound["rule"]
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
        assert run["batch_size"] == 1024 and run["smallest_batch_rows"] == ROWS
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
    assert (wide["guest_features"], wide["host_features"]) == (WIDE_GUEST, WIDE_HOST)
    assert wide["parameters"]["backend"] == "paillier" and wide["parameters"]["n_jobs"] == -1
    # the smallest batch the bound allows for the data the estimator saw
    _, host_x, labels = wide_data(WIDE_ROWS, WIDE_GUEST, WIDE_HOST, seed=0)
    minimum = expected_minimum(host_x, labels)
    bound = wide["label_information_bound"]
    assert bound["minimum_batch"] == minimum and bound["host_features"] == WIDE_HOST
    assert wide["batch_size"] == wide["parameters"]["batch_size"] == minimum
    assert "label-information bound" in wide["batch_size_chosen_by"]
    assert wide["smallest_batch_rows"] == smallest_batch(WIDE_ROWS, minimum) >= minimum
    assert wide["batches_per_epoch"] == WIDE_ROWS // minimum >= 2
    assert not satisfies_label_bound(
        minimum - 1, WIDE_HOST, bound["gradient_bits"], bound["event_rate"]
    )
    assert wide["seconds"] > 0 and wide["cores_used"] == meta["cpu_count"]
    assert wide["other_processes_cpu_seconds"] is None or wide["other_processes_cpu_seconds"] >= 0
    assert wide["sample_features_per_core_second"] == pytest.approx(
        WIDE_ROWS * (WIDE_GUEST + WIDE_HOST) / (wide["seconds"] * wide["cores_used"]), rel=1e-2
    )
    assert wide["fate"]["sample_features_per_core_second"] == pytest.approx(7583, abs=1)
    assert "below the label-information bound" in wide["fate"]["batch_sizes"]
    assert wide["ratio_vs_fate_per_core"] > 0

    assert document["results"]["shared_vs_two_party"] is None
    assert document["results"]["shared_wide"] is None
    loads = row["paillier"]["load_average_each"]
    assert len(loads) == 2 and all(len(pair["after_1_5_15_min"]) == 3 for pair in loads)

    assert output.with_suffix(".png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "| key | paillier n_jobs=-1" in out and "FATE 2.0" in out
    assert f"batch_size {minimum}" in out and f"| this engine | {minimum} |" in out
    assert "SSHE/coordinated runs used batch sizes below" in out


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
    # 2 host features: the bound allows batches of 90 rows, so 240 rows make two batches
    result = bench_wide(240, BITS, lambda _: None, guest_features=3, host_features=2)
    assert result.run.rows == 240 and result.run.seconds > 0
    assert result.sample_features == 240 * 5
    assert result.per_core_second == pytest.approx(240 * 5 / (result.run.seconds * result.cores))
    assert result.versus_fate == pytest.approx(
        result.per_core_second / FATE["sample_features_per_core_second"]
    )
    _, host_x, labels = wide_data(240, 3, 2, seed=0)
    assert result.batch.bound == label_bound(host_x, labels)
    assert (
        result.run.batch_size
        == result.batch.bound.minimum_batch
        == expected_minimum(host_x, labels)
    )
    assert result.to_json()["batches_per_epoch"] == 2


def test_wide_case_refuses_what_the_bound_refuses() -> None:
    with pytest.raises(LabelBoundError, match=r"--wide-rows 240 is too small .* bound"):
        bench_wide(240, BITS, lambda _: None, guest_features=3, host_features=10)
    with pytest.raises(LabelBoundError, match=r"--wide-batch-size 60 makes batches of 60 rows"):
        bench_wide(240, BITS, lambda _: None, guest_features=3, host_features=2, batch_size=60)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    output = ["--output", str(tmp_path / "x.json")]
    # 300 host features need batches of about 16,000 rows; refused before anything runs
    with pytest.raises(SystemExit, match=r"--wide-rows 10000 is too small .*label-information"):
        main(["hetero_lr", "--rows", str(ROWS), "--wide-rows", "10000", *output])
    # one batch of 300 default_credit rows breaks the bound: the minimum is named
    with pytest.raises(SystemExit, match=r"label-information bound.*use --rows 6\d\d or more"):
        main(["hetero_lr", "--rows", "300", "--wide-rows", "0", *output])
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--rows", "10", "--output", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit):
        main(["hetero_lr", "--wide-host-features", "0", *output])
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

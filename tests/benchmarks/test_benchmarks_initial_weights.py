"""The initial-weights benchmark runs and reports what it measured."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks import initial_weights_bench
from protocols.hetero_lr.privacy import LabelPrivacy


def test_the_suite_writes_results_and_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "iw.json"
    args = argparse.Namespace(repeats=1, output=str(output), argv=["initial_weights"])
    assert initial_weights_bench.main(args) == 0
    document = json.loads(output.read_text())
    rows = {(r["dataset"], r["start"]): r for r in document["results"]}
    assert set(rows) == {
        (dataset, start)
        for dataset in ("demo", "rare_event", "demo_short")
        for start in ("zero", "secret random")
    }
    for (dataset, _), row in rows.items():
        references = document["references"][dataset]
        # federated training beats the guest alone, from either start
        assert row["auc_mean"] > references["sklearn_guest_only_auc"] - 0.01
        assert row["auc_mean"] < references["sklearn_pooled_auc"] + 0.02
    printed = capsys.readouterr().out
    assert "| rare_event | secret random |" in printed


def test_label_privacy_sigma_is_the_protocols() -> None:
    # the label-privacy benchmark reports the sigma the guest role draws with
    assert LabelPrivacy(4.0, 1e-5, 4).sigma == pytest.approx(2 * 1.2960764091610086, rel=1e-9)

"""The evaluation report (vfl.report) and progress lines (vfl.runtime.progress)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from vfl.evaluation.report import (
    BinnedFeature,
    ModelScores,
    ScorecardEntry,
    format_table,
    write_report,
)
from vfl.exceptions import MetricError
from vfl.runtime.progress import Progress, resolve_style


def _models() -> list[ModelScores]:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=300)
    good = np.clip(0.3 * labels + rng.random(300) * 0.7, 0, 1)
    weak = rng.random(300)
    return [
        ModelScores("federated <b>", "both banks & more", labels, good),
        ModelScores("guest only", "bank A alone", labels, weak),
    ]


def test_the_report_holds_every_file_and_the_right_numbers(tmp_path: Path) -> None:
    models = _models()
    history = [{"epoch": 1, "loss": 0.6}, {"epoch": 2, "loss": 0.55}]
    report = write_report(tmp_path / "r", models, history=history, facts=[("key", "2048 bits")])
    assert set(report.files) == {"roc", "ks", "training", "metrics", "markdown", "html"}
    for path in report.files.values():
        assert path.parent == tmp_path / "r" and path.stat().st_size > 100
    for model in models:
        values = report.metrics[model.name]
        assert values["auc"] == pytest.approx(roc_auc_score(model.labels, model.scores), abs=1e-12)
        predicted = np.asarray(model.scores) >= 0.5
        assert values["accuracy"] == pytest.approx(np.mean(predicted == np.asarray(model.labels)))
    saved = json.loads(report.files["metrics"].read_text())
    assert saved["models"] == report.metrics and saved["run"] == {"key": "2048 bits"}
    markdown = report.files["markdown"].read_text()
    assert "| federated <b> |" in markdown and "![ROC curves](roc.png)" in markdown
    page = report.files["html"].read_text()
    assert "federated &lt;b&gt;" in page and "both banks &amp; more" in page  # escaped
    assert '<img src="training.png"' in page
    assert not list((tmp_path / "r").glob("*.tmp"))  # written then renamed


def test_no_history_means_no_training_plot(tmp_path: Path) -> None:
    report = write_report(tmp_path, _models()[:1])
    assert "training" not in report.files and not (tmp_path / "training.png").exists()


def test_bad_reports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MetricError, match="at least one"):
        write_report(tmp_path, [])
    model = _models()[0]
    with pytest.raises(MetricError, match="names repeat"):
        write_report(tmp_path, [model, model])
    short = ModelScores("short", "", [0, 1, 1], [0.2, 0.4])
    with pytest.raises(MetricError, match="3 labels but 2 scores"):
        write_report(tmp_path, [short])


def test_the_text_table_lines_up() -> None:
    metrics = {"auc": 0.7, "ks": 0.3, "accuracy": 0.8, "precision": 0.5, "recall": 0.4,
               "f1": 0.44, "lift": 2.5}  # fmt: skip
    lines = format_table({"federated": metrics, "centralised": metrics}).splitlines()
    assert lines[0].split() == ["model", "AUC", "KS", "accuracy", "precision", "recall", "F1",
                                "lift@10%"]  # fmt: skip
    assert lines[1].split()[1:] == ["0.7000", "0.3000", "0.8000", "0.5000", "0.4000", "0.4400",
                                    "2.5000"]  # fmt: skip
    assert len({line.index("0.7000") for line in lines[1:]}) == 1
    markdown = format_table({"federated": metrics}, markdown=True).splitlines()
    assert markdown[1] == "|---|---:|---:|---:|---:|---:|---:|---:|"


def test_progress_lines_are_printed_once_per_tenth() -> None:
    out = io.StringIO()
    progress = Progress("bank-a: hetero_lr", 68, "lines", stream=out)
    for done in range(69):
        progress.update(done, 68)
    progress.close()
    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == [f"{p}%" for p in
                                                   (10, 20, 30, 41, 50, 60, 70, 80, 91, 100)]  # fmt: skip
    assert all(line.startswith("bank-a: hetero_lr ") for line in lines)
    assert "left" in lines[0] and "left" not in lines[-1]


def test_progress_styles() -> None:
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    assert resolve_style(None, io.StringIO()) == "none" and resolve_style("auto", tty) == "bar"
    assert resolve_style(True) == "bar" and resolve_style("none") == "none"
    with pytest.raises(ValueError, match="progress must be one of"):
        resolve_style("loud")
    silent = io.StringIO()
    Progress("x", 3, "none", stream=silent).update(3, 3)
    assert silent.getvalue() == ""


def _binned() -> list[BinnedFeature]:
    return [
        BinnedFeature(
            "bank-a", "age", ["(-inf, 30]", "(30, inf)"], [0.5, -0.25], [40, 60], 0.12, True
        ),
        BinnedFeature(
            "bank-b",
            "bill | amt",
            ["(-inf, 1e3]", "(1e3, inf)", "missing"],
            [-0.1, 0.2, 0.05],
            [50, 45, 5],
            0.3,
            True,
        ),
        BinnedFeature(
            "bank-a", "sex", ["{1}", "{2}", "other"], [0.01, -0.01, 0.0], [50, 49, 1], 0.0004, False
        ),
    ]


def test_the_report_shows_the_iv_table_woe_plots_and_scorecard(tmp_path: Path) -> None:
    scorecard = [
        ScorecardEntry("bank-a", "", "", 512.5),
        ScorecardEntry("bank-a", "age", "(-inf, 30]", -14.43),
        ScorecardEntry("bank-b", "bill | amt", "missing", 1.0),
    ]
    report = write_report(tmp_path, _models(), binned=_binned(), scorecard=scorecard)
    woe = {"woe-bank-a-age", "woe-bank-b-bill_amt", "woe-bank-a-sex"}
    assert (
        set(report.files) == {"roc", "ks", "metrics", "markdown", "html", "iv", "scorecard"} | woe
    )
    for key in woe:
        assert report.files[key].name == f"{key}.png"
        assert report.files[key].read_bytes()[1:4] == b"PNG"
    with report.files["iv"].open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["party"], r["feature"], r["bins"], float(r["iv"]), r["selected"]) for r in rows] == [
        ("bank-a", "age", "2", 0.12, "True"),
        ("bank-b", "bill | amt", "3", 0.3, "True"),
        ("bank-a", "sex", "3", 0.0004, "False"),
    ]
    with report.files["scorecard"].open() as stream:
        points = [(r["feature"], r["bin"], float(r["points"])) for r in csv.DictReader(stream)]
    assert points == [
        ("", "", 512.5),
        ("age", "(-inf, 30]", -14.43),
        ("bill | amt", "missing", 1.0),
    ]
    markdown = report.files["markdown"].read_text()
    # the IV table: by party (first seen first), then by IV, highest first; pipes escaped
    table = markdown[markdown.index("## Information value") :].splitlines()[2:7]
    assert table == [
        "| party | feature | bins | IV | selected |",
        "|---|---|---|---|---|",
        "| bank-a | age | 2 | 0.1200 | yes |",
        "| bank-a | sex | 3 | 0.0004 | no |",
        "| bank-b | bill \\| amt | 3 | 0.3000 | yes |",
    ]
    assert "![WOE of age (bank-a)](woe-bank-a-age.png)" in markdown
    assert "| bank-a | (base points) |  | 512.50 |" in markdown
    page = report.files["html"].read_text()
    assert "<h2>Scorecard</h2>" in page and '<img src="woe-bank-b-bill_amt.png"' in page


def test_a_report_without_binning_has_no_binning_sections(tmp_path: Path) -> None:
    report = write_report(tmp_path, _models())
    markdown = report.files["markdown"].read_text()
    assert "Information value" not in markdown and "Scorecard" not in markdown
    assert not list(tmp_path.glob("woe-*")) and not (tmp_path / "iv.csv").exists()


def test_bad_binning_sections_are_refused(tmp_path: Path) -> None:
    feature = _binned()[0]
    with pytest.raises(MetricError, match="share a party and a name"):
        write_report(tmp_path, _models(), binned=[feature, feature])
    short = dataclasses.replace(feature, woe=[0.5])
    with pytest.raises(MetricError, match="2 bins but 1 WOE values"):
        write_report(tmp_path, _models(), binned=[short])
    infinite = dataclasses.replace(feature, woe=[0.5, math.inf])
    with pytest.raises(MetricError, match="WOE values must be finite"):
        write_report(tmp_path, _models(), binned=[infinite])

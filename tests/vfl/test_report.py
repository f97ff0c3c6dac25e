"""The evaluation report (vfl.report) and progress lines (vfl.runtime.progress)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

from vfl.evaluation.report import ModelScores, format_table, write_report
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

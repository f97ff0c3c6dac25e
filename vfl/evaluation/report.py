"""An evaluation report: a metrics table, ROC, KS and training plots, Markdown and HTML.

:func:`write_report` compares models scored on the same rows (for example the
federated model, the guest's features alone and a centralised reference) and writes,
into one folder: ``metrics.json``, ``roc.png``, ``ks.png`` (the first model),
``training.png`` (when a training history is given), ``report.md`` and a
self-contained ``report.html`` that shows the same tables and the images.  With a
binning (:class:`BinnedFeature` per feature) it adds the IV table (``iv.csv`` and a
table per party), one WOE plot per feature (``woe-<party>-<feature>.png``); with a
scorecard (:class:`ScorecardEntry` per bin) the points table (``scorecard.csv``).
Every file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vfl.evaluation import metrics
from vfl.exceptions import MetricError
from vfl.runtime.files import write_csv_atomically, write_json_atomically, write_text_atomically

__all__ = [
    "METRIC_COLUMNS",
    "BinnedFeature",
    "ModelScores",
    "Report",
    "ScorecardEntry",
    "format_table",
    "write_report",
]

METRIC_COLUMNS = (
    ("auc", "AUC"),
    ("ks", "KS"),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("lift", "lift@10%"),
)
"""The metrics of the table, in order: key in the metrics dictionary and heading."""


@dataclass(frozen=True)
class ModelScores:
    """One model's scores on the evaluation rows.

    Attributes
    ----------
    name : str
        Short name for tables and legends, e.g. ``"federated"``.
    description : str
        What the model is and who could build it.
    labels, scores : array_like
        True 0/1 labels and predicted probabilities, one per evaluation row.
    """

    name: str
    description: str
    labels: npt.ArrayLike
    scores: npt.ArrayLike


@dataclass(frozen=True)
class BinnedFeature:
    """One party's binned feature: its bins, WOE and IV, and whether selection kept it.

    Attributes
    ----------
    party : str
        The party that holds the feature (and alone knows its bins' edges).
    feature : str
    labels : sequence of str
        The bins, in order (``"(-inf, 3.5]"``, ``"{A, B}"``, ``"missing"``).
    woe : sequence of float
        The weight of evidence per bin (> 0: riskier than average).
    rows : sequence of float
        Rows per bin.
    iv : float
        The feature's information value.
    selected : bool
        Whether selection kept it for the model.
    """

    party: str
    feature: str
    labels: Sequence[str]
    woe: Sequence[float]
    rows: Sequence[float]
    iv: float
    selected: bool


@dataclass(frozen=True)
class ScorecardEntry:
    """One row of a scorecard: the points of one bin of one party's feature.

    Attributes
    ----------
    party : str
    feature : str
        ``""`` for the base points (the guest's, from the intercept).
    bin : str
        The bin's label (``""`` for the base points).
    points : float
    """

    party: str
    feature: str
    bin: str
    points: float


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote and computed.

    Attributes
    ----------
    folder : Path
    metrics : dict
        Model name to its metrics (:func:`vfl.metrics.evaluate` plus ``accuracy``).
    files : dict
        ``"metrics"``, ``"roc"``, ``"ks"``, ``"training"`` (if drawn), ``"markdown"``
        and ``"html"`` to their paths; with a binning also ``"iv"`` and one
        ``"woe-<party>-<feature>"`` per feature, with a scorecard ``"scorecard"``.
    """

    folder: Path
    metrics: dict[str, dict[str, float]]
    files: dict[str, Path] = field(default_factory=dict)


def _model_metrics(model: ModelScores, threshold: float) -> dict[str, float]:
    labels = np.asarray(model.labels, dtype=np.float64)
    scores = np.asarray(model.scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise MetricError(
            f"{model.name}: {labels.size} labels but {scores.size} scores; score every row"
        )
    result = metrics.evaluate(labels, scores, threshold=threshold)
    result["accuracy"] = float(np.mean((scores >= threshold) == (labels == 1)))
    return result


def format_table(results: Mapping[str, Mapping[str, float]], *, markdown: bool = False) -> str:
    """The metrics as a text (or Markdown) table, one row per model.

    Examples
    --------
    >>> print(format_table({"federated": {"auc": 0.75, "ks": 0.4, "accuracy": 0.8,
    ...     "precision": 0.5, "recall": 0.25, "f1": 1 / 3, "lift": 2.0}}))
    model      AUC     KS      accuracy  precision  recall  F1      lift@10%
    federated  0.7500  0.4000  0.8000    0.5000     0.2500  0.3333  2.0000
    """
    headings = ["model", *(heading for _, heading in METRIC_COLUMNS)]
    rows = [
        [name, *(f"{values[key]:.4f}" for key, _ in METRIC_COLUMNS)]
        for name, values in results.items()
    ]
    if markdown:
        lines = ["| " + " | ".join(headings) + " |", "|---" + "|---:" * len(METRIC_COLUMNS) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in [headings, *rows]) + 2 for i in range(len(headings))]
    lines = [
        "".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [headings, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


@dataclass(frozen=True)
class _Content:
    """What both renderings of the report show."""

    title: str
    models: Sequence[ModelScores]
    results: Mapping[str, Mapping[str, float]]
    facts: Sequence[tuple[str, str]]
    images: Mapping[str, Path]
    threshold: float
    binned: Sequence[BinnedFeature] = ()
    woe_images: Mapping[str, Path] = field(default_factory=dict)
    scorecard: Sequence[ScorecardEntry] = ()

    @property
    def summary(self) -> str:
        first = next(iter(self.results.values()))
        return (
            f"Evaluated on {int(first['rows'])} rows ({int(first['positives'])} positive). "
            f"Accuracy, precision, recall and F1 at the threshold {self.threshold}; lift "
            "in the top 10 % of scores."
        )

    def caption(self, image: str) -> str:
        captions = {
            "roc": "ROC curves",
            "ks": f"KS of the {self.models[0].name} model",
            "training": "Training history",
        }
        return captions[image]


IV_HEADINGS = ("party", "feature", "bins", "IV", "selected")
SCORECARD_HEADINGS = ("party", "feature", "bin", "points")


def _iv_rows(binned: Sequence[BinnedFeature]) -> list[list[str]]:
    """The IV table: by party, then by IV, highest first."""
    order = {party: i for i, party in enumerate(dict.fromkeys(f.party for f in binned))}
    ranked = sorted(binned, key=lambda f: (order[f.party], -f.iv))
    return [
        [f.party, f.feature, str(len(f.labels)), f"{f.iv:.4f}", "yes" if f.selected else "no"]
        for f in ranked
    ]


def _scorecard_rows(entries: Sequence[ScorecardEntry]) -> list[list[str]]:
    return [[e.party, e.feature or "(base points)", e.bin, f"{e.points:.2f}"] for e in entries]


def _woe_key(feature: BinnedFeature) -> str:
    """The report's file key (and name stem) of a feature's WOE plot."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{feature.party}-{feature.feature}")
    return f"woe-{stem}"


def _woe_caption(feature: BinnedFeature) -> str:
    return f"WOE of {feature.feature} ({feature.party})"


def _markdown_table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(headings) + " |", "|---" * len(headings) + "|"]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def _markdown(content: _Content) -> str:
    parts = [
        f"# {content.title}",
        "",
        content.summary,
        "",
        format_table(content.results, markdown=True),
        "",
        "## Models",
        "",
        *(f"- **{model.name}**: {model.description}" for model in content.models),
    ]
    if content.facts:
        parts += ["", "## Run", "", "| | |", "|---|---|"]
        parts += [f"| {label} | {value} |" for label, value in content.facts]
    for key, path in content.images.items():
        caption = content.caption(key)
        parts += ["", f"## {caption}", "", f"![{caption}]({path.name})"]
    if content.binned:
        parts += ["", "## Information value", ""]
        parts += _markdown_table(IV_HEADINGS, _iv_rows(content.binned))
        parts += ["", "## WOE per bin", ""]
        parts += [
            f"![{_woe_caption(f)}]({content.woe_images[_woe_key(f)].name})" for f in content.binned
        ]
    if content.scorecard:
        parts += ["", "## Scorecard", ""]
        parts += _markdown_table(SCORECARD_HEADINGS, _scorecard_rows(content.scorecard))
    return "\n".join(parts) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th { text-align: left; background: #f4f4f4; }
figure { display: inline-block; margin: 0.5rem; } img { max-width: 28rem; }
"""


def _html(content: _Content) -> str:
    escape = html.escape
    header = "".join(f"<th>{escape(h)}</th>" for h in ["model", *(h for _, h in METRIC_COLUMNS)])
    body = "".join(
        f"<tr><th>{escape(name)}</th>"
        + "".join(f"<td>{values[key]:.4f}</td>" for key, _ in METRIC_COLUMNS)
        + "</tr>"
        for name, values in content.results.items()
    )
    described = "".join(
        f"<li><b>{escape(m.name)}</b>: {escape(m.description)}</li>" for m in content.models
    )
    run = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in content.facts)
    figures = "".join(
        f'<figure><img src="{escape(path.name)}" alt="{escape(content.caption(key))}"></figure>'
        for key, path in content.images.items()
    )
    binning = ""
    if content.binned:
        woe_figures = "".join(
            f'<figure><img src="{escape(content.woe_images[_woe_key(f)].name)}" '
            f'alt="{escape(_woe_caption(f))}"></figure>'
            for f in content.binned
        )
        binning = (
            f"<h2>Information value</h2>{_html_table(IV_HEADINGS, _iv_rows(content.binned))}"
            f"<h2>WOE per bin</h2>{woe_figures}"
        )
    scorecard = ""
    if content.scorecard:
        scorecard = "<h2>Scorecard</h2>" + _html_table(
            SCORECARD_HEADINGS, _scorecard_rows(content.scorecard)
        )
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(content.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(content.title)}</h1>",
        f"<p>{escape(content.summary)}</p>",
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>",
        f"<h2>Models</h2><ul>{described}</ul>",
        f"<h2>Run</h2><table>{run}</table>" if content.facts else "",
        figures,
        binning,
        scorecard,
        "</body></html>",
    ]
    return "\n".join(section for section in sections if section) + "\n"


def _html_table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    folder: str | Path,
    models: Sequence[ModelScores],
    *,
    history: Sequence[Mapping[str, Any]] | None = None,
    facts: Sequence[tuple[str, str]] = (),
    title: str = "Model evaluation",
    threshold: float = 0.5,
    binned: Sequence[BinnedFeature] = (),
    scorecard: Sequence[ScorecardEntry] = (),
) -> Report:
    """Evaluate ``models`` on their rows and write the report files into ``folder``.

    Parameters
    ----------
    folder : str or Path
        Created if needed; existing report files in it are replaced.
    models : sequence of ModelScores
        At least one; the first is the one the KS plot shows.
    history : sequence of mapping, optional
        Per-epoch training history of the first model (``epoch``, ``loss``, ...):
        drawn as ``training.png``.
    facts : sequence of (str, str)
        Label and value pairs shown in a "Run" table (sizes, times, settings).
    title : str
        The report's title.
    threshold : float, default 0.5
        Cut-off for accuracy, precision, recall and F1.
    binned : sequence of BinnedFeature, optional
        Every party's binned features: the IV table (``iv.csv`` and in the report) and
        one WOE plot per feature.
    scorecard : sequence of ScorecardEntry, optional
        The scorecard's points per bin (``scorecard.csv`` and in the report).

    Returns
    -------
    Report

    Raises
    ------
    MetricError
        If ``models`` is empty, names repeat, a model's labels or scores are invalid,
        a feature repeats, or its WOE values or row counts do not match its bins.
    ImportError
        If matplotlib is not installed (``pip install 'vfl-engine[plot]'``).

    Examples
    --------
    >>> import tempfile
    >>> labels = [0, 0, 1, 1, 0, 1]
    >>> models = [ModelScores("federated", "both banks", labels, [.1, .4, .35, .8, .2, .9]),
    ...           ModelScores("guest only", "bank A alone", labels, [.3, .5, .4, .6, .5, .4])]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     report = write_report(folder, models, history=[{"epoch": 1, "loss": 0.6}])
    ...     sorted(path.name for path in report.files.values())
    ['ks.png', 'metrics.json', 'report.html', 'report.md', 'roc.png', 'training.png']
    >>> [round(report.metrics[name]["auc"], 4) for name in ("federated", "guest only")]
    [0.8889, 0.5556]
    """
    from vfl.evaluation import plots

    if not models:
        raise MetricError("no models to report on: pass at least one ModelScores")
    names = [model.name for model in models]
    if len(set(names)) != len(names):
        raise MetricError(f"model names repeat in {names}; give each model its own name")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    results = {model.name: _model_metrics(model, threshold) for model in models}
    images: dict[str, Path] = {
        "roc": plots.plot_roc(
            {m.name: (m.labels, m.scores) for m in models}, target / "roc.png", title="ROC"
        ),
        "ks": plots.plot_ks(
            models[0].labels, models[0].scores, target / "ks.png", title=f"KS: {models[0].name}"
        ),
    }
    if history:
        images["training"] = plots.plot_history(
            history, target / "training.png", title=f"Training: {models[0].name}"
        )
    files = dict(images)
    woe_images = _binning_files(target, binned, scorecard, files)
    files["metrics"] = write_json_atomically(
        target / "metrics.json",
        {"threshold": threshold, "models": results, "run": dict(facts)},
    )
    content = _Content(
        title, models, results, facts, images, threshold, binned, woe_images, scorecard
    )
    files["markdown"] = write_text_atomically(target / "report.md", _markdown(content))
    files["html"] = write_text_atomically(target / "report.html", _html(content))
    return Report(folder=target, metrics=results, files=files)


def _binning_files(
    target: Path,
    binned: Sequence[BinnedFeature],
    scorecard: Sequence[ScorecardEntry],
    files: dict[str, Path],
) -> dict[str, Path]:
    """Write the IV table, the WOE plots and the scorecard; add them to ``files``."""
    from vfl.evaluation import plots

    keys = [_woe_key(f) for f in binned]
    if len(set(keys)) != len(keys):
        raise MetricError(
            "two binned features share a party and a name (or a file name): "
            f"{sorted(k for k in keys if keys.count(k) > 1)}"
        )
    woe_images: dict[str, Path] = {}
    for key, feature in zip(keys, binned, strict=True):
        woe_images[key] = plots.plot_woe(
            feature.labels,
            feature.woe,
            target / f"{key}.png",
            rows=feature.rows,
            title=f"{feature.party}: {feature.feature} (IV {feature.iv:.3f})",
        )
    files.update(woe_images)
    if binned:
        files["iv"] = write_csv_atomically(
            target / "iv.csv",
            ["party", "feature", "bins", "iv", "selected"],
            (
                [f.party, f.feature, str(len(f.labels)), repr(float(f.iv)), str(f.selected)]
                for f in binned
            ),
        )
    if scorecard:
        files["scorecard"] = write_csv_atomically(
            target / "scorecard.csv",
            ["party", "feature", "bin", "points"],
            ([e.party, e.feature, e.bin, repr(float(e.points))] for e in scorecard),
        )
    return woe_images

"""Reporting: results as JSON, Markdown tables and a PNG plot.

Every measurement is one :class:`Result`; the JSON file, the Markdown tables and
the plot are all derived from a mapping ``key length -> list of Result``.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np

__all__ = [
    "PANELS",
    "Result",
    "build_meta",
    "markdown_tables",
    "plot_results",
    "write_json",
]

PANELS = ("encrypt", "decrypt", "add", "scalar multiply", "X.T @ ev", "keygen / one-time setup")
"""Plot panels, in order; a result's ``panel`` is one of these (or empty: not plotted)."""


@dataclass(frozen=True)
class Result:
    """One measurement at one key length, ours and phe side by side.

    Attributes
    ----------
    key : str
        Stable identifier (the JSON key), e.g. ``"encrypt_public_1core"``.
    label : str
        Human-readable operation name for tables and legends.
    panel : str
        Plot panel (one of :data:`PANELS`), or ``""`` to leave it out of the plot.
    unit : str
        ``"ops/s"`` (higher is better) or ``"s"`` (lower is better).
    ours : float
        This project's figure.
    phe : float or None
        phe's figure for the comparable operation, if there is one.
    n : int
        Operations (or runs) behind ``ours``.
    seconds : float
        Wall time behind ``ours``.
    phe_n, phe_seconds : int or float or None
        The same for ``phe``.
    phe_label : str
        What the phe figure measures (legend of the dashed line).
    description : str
        What exactly was timed.
    """

    key: str
    label: str
    panel: str
    unit: str
    ours: float
    phe: float | None
    n: int
    seconds: float
    phe_n: int | None = None
    phe_seconds: float | None = None
    phe_label: str = ""
    description: str = ""

    @property
    def ratio(self) -> float | None:
        """``ours / phe``, or ``None`` without a phe figure."""
        if self.phe is None or self.phe == 0:
            return None
        return self.ours / self.phe

    def to_json(self) -> dict[str, Any]:
        """The JSON record (the same keys for every measurement)."""
        return {
            "label": self.label,
            "ours": self.ours,
            "phe": self.phe,
            "ratio": self.ratio,
            "unit": self.unit,
            "n": self.n,
            "seconds": self.seconds,
            "phe_n": self.phe_n,
            "phe_seconds": self.phe_seconds,
            "description": self.description,
        }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_meta(argv: Sequence[str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Describe the machine, the library versions and the command of a run.

    Parameters
    ----------
    argv : sequence of str
        The arguments after ``python -m benchmarks``.
    settings : mapping
        The resolved benchmark settings (sizes, budget, ...).

    Returns
    -------
    dict
        JSON-ready metadata.
    """
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "gmpy2": gmpy2.version(),
        "gmp": gmpy2.mp_version(),
        "phe": _version("phe"),
        "numpy": np.__version__,
        "matplotlib": _version("matplotlib"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks", *argv]),
        "settings": dict(settings),
    }


def write_json(
    path: Path, meta: Mapping[str, Any], results: Mapping[int, Sequence[Result]]
) -> None:
    """Write ``{"meta": ..., "results": {"<bits>": {"<key>": record}}}`` to ``path``.

    Parameters
    ----------
    path : Path
        Output file (parent directories are created).
    meta : mapping
        From :func:`build_meta`, plus anything added by the caller.
    results : mapping
        Key length in bits to the results measured at that length.
    """
    document = {
        "meta": dict(meta),
        "results": {
            str(bits): {result.key: result.to_json() for result in rows}
            for bits, rows in sorted(results.items())
        },
    }
    write_document(path, document)


def write_document(path: Path, document: Mapping[str, Any]) -> None:
    """Write a suite's JSON ``document`` to ``path`` (parent directories are created).

    Parameters
    ----------
    path : Path
        Output file.
    document : mapping
        JSON-serialisable; no NaN or infinity.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        if value >= 1:
            return f"{value:.2f} s"
        return f"{value * 1000:.3g} ms"
    if value >= 100:
        return f"{value:,.0f} /s"
    return f"{value:.3g} /s"


def _format_ratio(ratio: float | None) -> str:
    if ratio is None or not math.isfinite(ratio):
        return "n/a"
    if ratio >= 10:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x"


def markdown_tables(results: Mapping[int, Sequence[Result]]) -> str:
    """One Markdown table per key length: operation | ours | phe | ours / phe.

    Parameters
    ----------
    results : mapping
        Key length in bits to its results.

    Returns
    -------
    str
        Tables ready to paste into a README.
    """
    blocks = []
    for bits, rows in sorted(results.items()):
        lines = [
            f"#### {bits}-bit key",
            "",
            "| operation | ours | phe | ours / phe |",
            "|---|---:|---:|---:|",
        ]
        for result in rows:
            lines.append(
                f"| {result.label} | {_format_value(result.ours, result.unit)} | "
                f"{_format_value(result.phe, result.unit)} | {_format_ratio(result.ratio)} |"
            )
        blocks.append("\n".join(lines))
    legend = (
        "Rates are values (operations) per second: higher is better.  Rows marked "
        "(time) are durations: lower is better, so there a ratio below 1 means ours "
        "is faster."
    )
    return "\n\n".join([*blocks, legend]) + "\n"


def plot_results(results: Mapping[int, Sequence[Result]], path: Path) -> None:
    """Plot every panel of :data:`PANELS` against key length (log scale) into a PNG.

    Our variants are solid lines, phe's are dashed.

    Parameters
    ----------
    results : mapping
        Key length in bits to its results.
    path : Path
        The PNG file to write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bits_sorted = sorted(results)
    figure = Figure(figsize=(18, 13), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3)
    for axis, panel in zip(axes.flat, PANELS, strict=True):
        ours: dict[str, list[tuple[int, float]]] = {}
        labels: dict[str, str] = {}
        theirs: dict[str, list[tuple[int, float]]] = {}
        unit = "ops/s"
        for bits in bits_sorted:
            for result in results[bits]:
                if result.panel != panel:
                    continue
                unit = result.unit
                ours.setdefault(result.key, []).append((bits, result.ours))
                labels[result.key] = result.label
                if result.phe is not None and result.phe_label:
                    series = theirs.setdefault(result.phe_label, [])
                    if not series or series[-1][0] != bits:
                        series.append((bits, result.phe))
        for key, points in ours.items():
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, "-o", linewidth=1.5, markersize=4, label=labels[key])
        for phe_label, points in theirs.items():
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, "--s", color="black", linewidth=1.5, markersize=4, label=phe_label)
        axis.set_yscale("log")
        axis.set_xticks(bits_sorted)
        axis.set_xlabel("key length (bits)")
        axis.set_ylabel("seconds (lower is better)" if unit == "s" else "values per second")
        axis.set_title(panel)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    figure.suptitle("Paillier throughput: this project (solid) vs phe (dashed)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)

"""A party's scorecard: points per bin of its selected features (and the guest's base).

A logistic regression on WOE columns gives the log-odds ``z = b + sum_j w_j WOE_j``;
a scorecard gives every bin of every feature ``-factor * w_j * WOE`` points and the
guest ``offset - factor * b`` base points (:class:`protocols.binning.PointsScale`),
so a customer's score, ``offset - factor * z``, is the sum of each party's points
for the customer's bins: each party scores its own features with its own table
(:meth:`PartyPoints.points`) and the guest adds the parts.  The table is saved in
the party's model file and exported as CSV or Markdown.

Examples
--------
>>> from protocols.binning import FeatureBins, PointsScale
>>> from vfl.tables.binning_model import FeatureWoe, PartyBinning
>>> age = FeatureWoe(FeatureBins("age", "numeric", edges=(30.0,)), woe=(0.5, -0.4, 0.0),
...                  iv=0.2, rows=(400, 600, 0), events=(60.0, 40.0, 0.0),
...                  non_events=(340.0, 560.0, 0.0))
>>> binning = PartyBinning((age,), ("age",))
>>> card = build_points(binning, [1.0], intercept=-2.0, scale=PointsScale())
>>> for feature, label, points in card.rows():
...     print(feature, label, round(points, 2))
(base)  544.83
age (-inf, 30] -14.43
age (30, inf) 11.54
age missing -0.0
>>> card.points({"age": [25.0, 45.0]}).round(2).tolist()
[530.4, 556.37]
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.binning import FeatureBins, PointsScale, base_points, bin_points
from protocols.exceptions import ProtocolError
from vfl.exceptions import DataError
from vfl.runtime.files import write_text_atomically
from vfl.tables.binning_model import PartyBinning, bin_codes

__all__ = ["BASE_ROW", "FeaturePoints", "PartyPoints", "build_points"]

FloatArray = npt.NDArray[np.float64]
BASE_ROW = "(base)"
"""The ``feature`` of the table row holding the guest's base points."""
COLUMNS = ("feature", "bin", "woe", "points")
"""The columns of the exported table."""


@dataclass(frozen=True)
class FeaturePoints:
    """The points of every bin of one feature.

    Attributes
    ----------
    bins : FeatureBins
        The feature's bins (as in the party's binning).
    woe : tuple of float
        Each bin's WOE (centred by the party's scaling, if the weights were fitted
        on scaled WOE columns).
    weight : float
        The weight on the WOE column.
    points : tuple of float
        Each bin's points, ``-factor * weight * woe``.
    """

    bins: FeatureBins
    woe: tuple[float, ...]
    weight: float
    points: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.woe) == len(self.points) == self.bins.n_bins:
            raise DataError(
                f"feature {self.bins.name!r}: {self.bins.n_bins} bins but {len(self.woe)} WOE "
                f"values and {len(self.points)} points"
            )
        if not all(math.isfinite(v) for v in (*self.woe, *self.points, self.weight)):
            raise DataError(f"feature {self.bins.name!r}: a WOE, weight or points is not finite")

    @property
    def name(self) -> str:
        """The feature's column name."""
        return self.bins.name

    def to_dict(self) -> dict[str, Any]:
        """The feature's points as JSON-ready values."""
        return {
            "bins": self.bins.to_dict(),
            "woe": list(self.woe),
            "weight": self.weight,
            "points": list(self.points),
        }

    @classmethod
    def from_dict(cls, document: object) -> FeaturePoints:
        """A feature's points from :meth:`to_dict`'s output, validated.

        Raises
        ------
        DataError
            If the document is malformed.
        """
        expected = {"bins", "woe", "weight", "points"}
        if not isinstance(document, dict) or set(document) != expected:
            keys = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise DataError(f"a feature's points need the keys {sorted(expected)}, got {keys}")
        try:
            bins = FeatureBins.from_dict(document["bins"])
        except ProtocolError as error:
            raise DataError(f"a feature's points have invalid bins: {error}") from error
        return cls(
            bins=bins,
            woe=_floats(document["woe"], "woe"),
            weight=_float(document["weight"], "weight"),
            points=_floats(document["points"], "points"),
        )


def _float(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"a scorecard's {what} must be a number, not {value!r}")
    return float(value)


def _floats(values: object, what: str) -> tuple[float, ...]:
    if not isinstance(values, list):
        raise DataError(f"a scorecard's {what} must be a list of numbers, not {values!r}")
    return tuple(_float(value, what) for value in values)


@dataclass(frozen=True)
class PartyPoints:
    """A party's points table: its selected features' points per bin.

    Attributes
    ----------
    features : tuple of FeaturePoints
        The party's selected features, in its order.
    scale : PointsScale
        How log-odds became points.
    base : float or None
        The guest's base points ``offset - factor * intercept`` (``None`` on a host).
    """

    features: tuple[FeaturePoints, ...]
    scale: PointsScale
    base: float | None = None

    def __post_init__(self) -> None:
        names = [feature.name for feature in self.features]
        if len(set(names)) != len(names):
            raise DataError(f"a points table lists a feature twice: {names}")
        if self.base is not None and not math.isfinite(self.base):
            raise DataError(f"the base points must be finite, not {self.base!r}")

    def points(self, columns: Mapping[str, npt.ArrayLike]) -> FloatArray:
        """Each row's points from this party: its bins' points summed (plus the base).

        Parameters
        ----------
        columns : mapping of str to array_like
            The party's raw columns by name (missing cells and unseen categories fall
            in their bins, as at training).

        Returns
        -------
        numpy.ndarray
            One float per row.

        Raises
        ------
        DataError
            If a column is absent or holds values its bins refuse.
        """
        codes = bin_codes([feature.bins for feature in self.features], columns)
        total = np.full(len(codes), 0.0 if self.base is None else self.base)
        for index, feature in enumerate(self.features):
            total += np.asarray(feature.points, dtype=np.float64)[codes[:, index]]
        return total

    def rows(self) -> list[tuple[str, str, float]]:
        """The table as ``(feature, bin label, points)``, the base row (guest) first."""
        found = [] if self.base is None else [(BASE_ROW, "", self.base)]
        for feature in self.features:
            found += [
                (feature.name, label, points)
                for label, points in zip(feature.bins.labels(), feature.points, strict=True)
            ]
        return found

    def _records(self) -> list[tuple[str, str, str, float]]:
        """Rows with the WOE column (empty for the base row)."""
        found = [] if self.base is None else [(BASE_ROW, "", "", self.base)]
        for feature in self.features:
            found += [
                (feature.name, label, repr(woe), points)
                for label, woe, points in zip(
                    feature.bins.labels(), feature.woe, feature.points, strict=True
                )
            ]
        return found

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame: feature, bin, woe, points."""
        import pandas as pd  # type: ignore[import-untyped]

        return pd.DataFrame(
            [
                (feature, label, float(woe) if woe else math.nan, points)
                for feature, label, woe, points in self._records()
            ],
            columns=list(COLUMNS),
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (feature, bin, woe, points), atomically.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        stream = io.StringIO()
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(
            (feature, label, woe, repr(points)) for feature, label, woe, points in self._records()
        )
        return write_text_atomically(Path(path), stream.getvalue())

    def to_markdown(self, digits: int = 2) -> str:
        """The table in Markdown (points rounded to ``digits`` decimals).

        Examples
        --------
        >>> from protocols.binning import FeatureBins, PointsScale
        >>> bins = FeatureBins("age", "numeric", edges=(30.0,), missing_bin=False)
        >>> card = PartyPoints((FeaturePoints(bins, (0.5, -0.5), 1.0, (-14.4, 14.4)),),
        ...                    PointsScale())
        >>> print(card.to_markdown())
        | feature | bin | WOE | points |
        |---|---|---:|---:|
        | age | (-inf, 30] | 0.5000 | -14.40 |
        | age | (30, inf) | -0.5000 | 14.40 |
        """
        lines = ["| feature | bin | WOE | points |", "|---|---|---:|---:|"]
        for feature, label, woe, points in self._records():
            shown = f"{float(woe):.4f}" if woe else ""
            cells = [_markdown_cell(feature), _markdown_cell(label), shown]
            lines.append(f"| {' | '.join(cells)} | {points:.{digits}f} |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The table as JSON-ready values (what the model file holds)."""
        return {
            "features": [feature.to_dict() for feature in self.features],
            "scale": self.scale.to_dict(),
            "base": self.base,
        }

    @classmethod
    def from_dict(cls, document: object) -> PartyPoints:
        """A points table from :meth:`to_dict`'s output, validated.

        Raises
        ------
        DataError
            If the document is malformed.
        """
        expected = {"features", "scale", "base"}
        if not isinstance(document, dict) or set(document) != expected:
            keys = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise DataError(f"a points table needs the keys {sorted(expected)}, got {keys}")
        if not isinstance(document["features"], list):
            raise DataError("a points table's features must be a list")
        try:
            scale = PointsScale.from_dict(document["scale"])
        except ProtocolError as error:
            raise DataError(f"a points table's scale is invalid: {error}") from error
        base = document["base"]
        return cls(
            features=tuple(FeaturePoints.from_dict(f) for f in document["features"]),
            scale=scale,
            base=None if base is None else _float(base, "base"),
        )


def _markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes escaped)."""
    return text.replace("|", "\\|")


def build_points(
    binning: PartyBinning,
    weights: Sequence[float],
    intercept: float | None,
    scale: PointsScale,
) -> PartyPoints:
    """A party's points table from its binning and its weights on the WOE columns.

    Parameters
    ----------
    binning : PartyBinning
        The party's binning; its selected features are the model's columns.
    weights : sequence of float
        One weight per selected feature, on the (unscaled) WOE column.  A weight
        fitted on standardised WOE columns is ``w / scale``, with the bins' WOE
        values centred by the mean (see :func:`vfl.steps.scorecard.party_points`).
    intercept : float or None
        The model's intercept (the guest), or ``None`` (a host: no base points).
    scale : PointsScale

    Returns
    -------
    PartyPoints

    Raises
    ------
    DataError
        If the weights do not match the selected features, or a value is not finite.
    """
    if len(weights) != len(binning.selected):
        raise DataError(
            f"{len(weights)} weights for the {len(binning.selected)} selected features "
            f"{list(binning.selected)}"
        )
    try:
        features = tuple(
            FeaturePoints(
                bins=binning.feature(name).bins,
                woe=binning.feature(name).woe,
                weight=float(weight),
                points=tuple(
                    float(v) for v in bin_points(float(weight), binning.feature(name).woe, scale)
                ),
            )
            for name, weight in zip(binning.selected, weights, strict=True)
        )
        base = None if intercept is None else base_points(float(intercept), scale)
    except ProtocolError as error:
        raise DataError(f"the scorecard cannot be built: {error}") from error
    return PartyPoints(features, scale, base)

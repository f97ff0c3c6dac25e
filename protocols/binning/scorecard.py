"""Scorecard points from a logistic regression on WOE features.

The model gives the log-odds of an event (a "bad"): ``z = intercept + sum_j w_j WOE_j``.
A scorecard is linear in the log-odds of a *non-event* (good : bad odds),

``score = offset + factor * ln(odds) = offset - factor * z``,

with ``factor = pdo / ln 2`` (every ``pdo`` points double the odds) and
``offset = base_score - factor * ln(base_odds)`` (``base_score`` points at odds
``base_odds``).  The score splits into :func:`base_points` (the intercept's share,
held by the guest) plus one :func:`bin_points` value per feature and bin, so each
party scores its own features and the guest adds the parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import BinningError

__all__ = ["PointsScale", "base_points", "bin_points"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointsScale:
    """How log-odds become points ("points to double the odds" form).

    Parameters
    ----------
    base_score : float, default 600.0
        Points at odds ``base_odds``.
    pdo : float, default 20.0
        Points to double the odds; positive.
    base_odds : float, default 50.0
        Non-event : event odds (good : bad) that score ``base_score``; positive.

    Raises
    ------
    BinningError
        If a value is not finite, or ``pdo`` or ``base_odds`` is not positive.

    Examples
    --------
    >>> scale = PointsScale(base_score=600, pdo=20, base_odds=50)
    >>> round(scale.factor, 4), round(scale.offset, 4)
    (28.8539, 487.1229)
    >>> fate = PointsScale.from_offset_factor(500, 20)
    >>> round(fate.offset, 10), round(fate.factor, 10)
    (500.0, 20.0)
    """

    base_score: float = 600.0
    pdo: float = 20.0
    base_odds: float = 50.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise BinningError(f"scorecard {item.name} must be a number, got {value!r}")
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise BinningError(f"scorecard {item.name} must be finite, got {value!r}")
            object.__setattr__(self, item.name, number)
        if self.pdo <= 0:
            raise BinningError(
                f"scorecard pdo (points to double the odds) must be > 0, got {self.pdo!r}"
            )
        if self.base_odds <= 0:
            raise BinningError(f"scorecard base_odds must be > 0, got {self.base_odds!r}")

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """The score at odds 1: ``base_score - factor * ln(base_odds)``."""
        return self.base_score - self.factor * math.log(self.base_odds)

    @classmethod
    def from_offset_factor(cls, offset: float, factor: float) -> PointsScale:
        """The scale with ``score = offset + factor * ln(odds)`` (FATE's form: 500, 20).

        Stored as ``base_score = offset`` at ``base_odds = 1`` and
        ``pdo = factor * ln 2`` (so :attr:`factor` equals ``factor`` up to rounding).
        """
        if not isinstance(factor, (int, float)) or isinstance(factor, bool):
            raise BinningError(f"scorecard factor must be a number, got {factor!r}")
        return cls(base_score=offset, pdo=factor * math.log(2.0), base_odds=1.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: ``base_score``, ``pdo``, ``base_odds``."""
        return {"base_score": self.base_score, "pdo": self.pdo, "base_odds": self.base_odds}

    @classmethod
    def from_dict(cls, document: object) -> PointsScale:
        """Rebuild a scale from :meth:`to_dict`'s output, validating it.

        Raises
        ------
        BinningError
            If keys are missing or unknown or a value is out of range.
        """
        expected = {"base_score", "pdo", "base_odds"}
        if not isinstance(document, dict) or set(document) != expected:
            keys = sorted(map(str, document)) if isinstance(document, dict) else document
            raise BinningError(
                f"a points scale needs exactly the keys {sorted(expected)}, got {keys!r}"
            )
        return cls(**document)


def bin_points(weight: float, woe: npt.ArrayLike, scale: PointsScale) -> FloatArray:
    """Points of every bin of one feature: ``-factor * weight * WOE``.

    Parameters
    ----------
    weight : float
        The feature's logistic-regression weight (on its WOE column).
    woe : array_like, 1-D
        The WOE of each bin.
    scale : PointsScale

    Returns
    -------
    numpy.ndarray of float64
        Riskier bins (a larger ``weight * WOE``) get fewer points.

    Examples
    --------
    >>> bin_points(0.8, [-0.5, 0.0, 1.2], PointsScale()).round(4).tolist()
    [11.5416, -0.0, -27.6997]
    """
    values = np.asarray(woe, dtype=np.float64)
    if not math.isfinite(weight) or values.ndim != 1 or not np.isfinite(values).all():
        raise BinningError("bin_points needs a finite weight and a 1-D array of finite WOE values")
    points: FloatArray = -scale.factor * float(weight) * values
    return points


def base_points(intercept: float, scale: PointsScale) -> float:
    """The points every customer starts with: ``offset - factor * intercept``.

    Examples
    --------
    >>> round(base_points(-2.0, PointsScale()), 4)
    544.8307
    """
    if not math.isfinite(intercept):
        raise BinningError(f"the intercept must be finite, got {intercept!r}")
    return scale.offset - scale.factor * float(intercept)

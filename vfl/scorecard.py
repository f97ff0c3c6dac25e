"""A credit scorecard from a federated binning and a logistic regression on its WOE columns.

:class:`Scorecard` turns a fitted :class:`vfl.HeteroBinning` and a fitted
:class:`vfl.HeteroLogisticRegression` (trained on the binning's WOE columns, one
table per party) into each party's points table
(:class:`~vfl.tables.scorecard_model.PartyPoints`): every bin of every selected
feature gets ``-factor * w * WOE`` points (each party's standardisation folded in)
and the guest ``offset - factor * intercept`` base points, so a customer's score is
the sum of every party's points for its bins, ``offset - factor * log-odds``:
higher is safer.  ``factor = pdo / ln 2`` and ``offset = base_score - factor *
ln(base_odds)`` (points to double the odds; the score at the good:bad odds
``base_odds``), or FATE's ``offset`` and ``factor`` directly.

Examples
--------
>>> import numpy as np
>>> from vfl import HeteroBinning, HeteroLogisticRegression, Scorecard
>>> from vfl.datasets import make_rare_event_credit
>>> guest, host = make_rare_event_credit(3_000, event_rate=0.2)
>>> binning = HeteroBinning(key_length=1024, allow_weak_key=True)
>>> woe_guest, woe_hosts = binning.fit_transform(guest.features, guest.labels,
...                                              hosts=[host.features])
>>> model = HeteroLogisticRegression(backend="plaintext", batch_size=500, random_state=0)
>>> model = model.fit(woe_guest, guest.labels, hosts=woe_hosts)
>>> card = Scorecard(binning, model, base_score=600, pdo=20, base_odds=50).fit()
>>> scores = card.score(guest.features, hosts=[host.features])
>>> log_odds = model.decision_function(woe_guest, hosts=woe_hosts)
>>> bool(np.allclose(scores, card.scale_.offset - card.scale_.factor * log_odds))
True
>>> card.to_frame().columns.tolist()
['party', 'feature', 'bin', 'woe', 'points']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]

from protocols.binning import PointsScale
from protocols.exceptions import ProtocolError
from vfl.binning import GUEST, HeteroBinning
from vfl.exceptions import DataError
from vfl.hetero_lr import HeteroLogisticRegression, NotFittedError
from vfl.steps.scorecard import party_points
from vfl.tables.scorecard_model import PartyPoints

__all__ = ["Scorecard"]

FloatArray = npt.NDArray[np.float64]


class Scorecard(BaseEstimator):  # type: ignore[misc]
    """Points per bin for every party, from a binning and a model on its WOE columns.

    Parameters
    ----------
    binning : HeteroBinning
        Fitted.
    model : HeteroLogisticRegression
        Fitted on ``binning.transform(X, hosts=[...])``: the guest's WOE columns as
        ``X`` and each host's as ``hosts``, in that order.
    base_score : float, default 600.0
        Points at the good:bad odds ``base_odds``.
    pdo : float, default 20.0
        Points to double the odds.
    base_odds : float, default 50.0
    offset, factor : float or None, default None
        FATE's form ``score = offset + factor * ln(odds)`` (FATE's defaults: 500 and
        20); give both, and they replace ``base_score``, ``pdo`` and ``base_odds``.

    Attributes
    ----------
    points_ : dict of str to PartyPoints
        Every party's points table (``"guest"`` first, with the base points).
    scale_ : PointsScale
        The points scale (its ``offset`` and ``factor``).
    """

    def __init__(
        self,
        binning: HeteroBinning | None = None,
        model: HeteroLogisticRegression | None = None,
        *,
        base_score: float = 600.0,
        pdo: float = 20.0,
        base_odds: float = 50.0,
        offset: float | None = None,
        factor: float | None = None,
    ) -> None:
        self.binning = binning
        self.model = model
        self.base_score = base_score
        self.pdo = pdo
        self.base_odds = base_odds
        self.offset = offset
        self.factor = factor

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has run."""
        return hasattr(self, "points_")

    def _scale(self) -> PointsScale:
        if (self.offset is None) != (self.factor is None):
            raise DataError(
                "give both offset and factor (FATE's form, e.g. 500 and 20), or neither "
                "(then base_score, pdo and base_odds apply)"
            )
        try:
            if self.offset is not None and self.factor is not None:
                return PointsScale.from_offset_factor(self.offset, self.factor)
            return PointsScale(self.base_score, self.pdo, self.base_odds)
        except ProtocolError as error:
            raise DataError(str(error)) from error

    def fit(self, X: object = None, y: object = None) -> Scorecard:  # noqa: N803
        """Build every party's points table (no data needed: ``X`` and ``y`` are ignored).

        Returns
        -------
        Scorecard
            ``self``.

        Raises
        ------
        DataError
            If the binning or the model is missing or not fitted, the model was not
            trained on the binning's WOE columns (other parties or widths), or the
            scale is invalid.
        """
        binning, model = self.binning, self.model
        if not isinstance(binning, HeteroBinning) or not binning.__sklearn_is_fitted__():
            raise DataError("Scorecard needs a fitted HeteroBinning as binning")
        if not isinstance(model, HeteroLogisticRegression) or not model.__sklearn_is_fitted__():
            raise DataError("Scorecard needs a fitted HeteroLogisticRegression as model")
        parties = list(binning.party_binnings_)
        if list(model.party_models_) != parties:
            raise DataError(
                f"the model's parties {list(model.party_models_)} are not the binning's "
                f"{parties}; train it on binning.transform(X, hosts=[...]), one table per party"
            )
        scale = self._scale()
        points: dict[str, PartyPoints] = {}
        for party in parties:
            party_binning = binning.party_binnings_[party]
            party_model = model.party_models_[party]
            if len(party_model.weights) != len(party_binning.selected):
                raise DataError(
                    f"{party}: the model has {len(party_model.weights)} weights but the binning "
                    f"selected {len(party_binning.selected)} WOE columns; train the model on "
                    "binning.transform(X, hosts=[...])"
                )
            binned = dataclasses.replace(
                party_model, feature_names=list(party_binning.selected), binning=party_binning
            )
            points[party] = party_points(binned, scale)
        self.points_ = points
        self.scale_ = scale
        return self

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError("This Scorecard instance is not fitted yet. Call 'fit' first.")

    def score(
        self,
        X: object,  # noqa: N803  (scikit-learn's name)
        hosts: Sequence[object] | None = None,
    ) -> FloatArray:
        """Each customer's score: the sum of every party's points for its bins.

        Parameters
        ----------
        X : array_like or DataFrame
            The guest's raw rows (the binning's columns).
        hosts : sequence of array_like or DataFrame
            Each host's raw rows, aligned with ``X``.

        Returns
        -------
        numpy.ndarray
            One score per row, ``offset - factor * log-odds``.

        Raises
        ------
        DataError
            If the scorecard is not fitted, ``hosts`` is missing, or the tables do
            not match the binning's.
        """
        self._check_fitted()
        assert self.binning is not None
        if hosts is None:
            raise DataError(
                "a customer's score needs every party's points: pass hosts=[X_host, ...] "
                "(each party's own table, aligned)"
            )
        tables = self.binning._tables(X, hosts, fitted=True)
        total = np.zeros(len(next(iter(tables[GUEST].values()))), dtype=np.float64)
        for party, columns in tables.items():
            total += self.points_[party].points(columns)
        return total

    def _parties(self, party: str | None) -> list[str]:
        self._check_fitted()
        if party is None:
            return list(self.points_)
        if party not in self.points_:
            raise DataError(f"no party {party!r}; the parties are {list(self.points_)}")
        return [party]

    def to_frame(self, party: str | None = None) -> Any:
        """The points tables as a pandas DataFrame.

        Parameters
        ----------
        party : str, optional
            One party's table (default: every party's, with a ``party`` column).

        Returns
        -------
        pandas.DataFrame
            ``party``, ``feature``, ``bin``, ``woe``, ``points`` (no ``party`` column
            for one party); the guest's base points are the row ``"(base)"``.
        """
        import pandas as pd  # type: ignore[import-untyped]

        frames = []
        for name in self._parties(party):
            frame = self.points_[name].to_frame()
            if party is None:
                frame.insert(0, "party", name)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def to_markdown(self, party: str | None = None) -> str:
        """The points tables in Markdown, one section per party.

        Parameters
        ----------
        party : str, optional
            One party's table only (without a heading).

        Returns
        -------
        str
        """
        if party is not None:
            return self.points_[self._parties(party)[0]].to_markdown()
        return "\n\n".join(
            f"### {name}\n\n{self.points_[name].to_markdown()}" for name in self._parties(None)
        )

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write each party's points table as ``scorecard-<party>.csv`` under ``folder``.

        Returns
        -------
        dict of str to pathlib.Path
            The file written per party.
        """
        folder = Path(folder)
        return {
            name: self.points_[name].to_csv(folder / f"scorecard-{name}.csv")
            for name in self._parties(None)
        }

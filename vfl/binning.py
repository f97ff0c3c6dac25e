"""Federated binning, WOE and IV as a scikit-learn transformer, every party in one process.

:class:`HeteroBinning` runs the real binning exchange of
:mod:`protocols.binning.exchange` (the guest's labels encrypted under its Paillier
key, each host's encrypted per-bin sums shuffled, the guest's WOE and IV sent back),
every message through the wire codec, on rows that are already aligned (see
:func:`vfl.intersect`).  Each party bins its own columns
(:func:`vfl.tables.binning_model.prepare_bins`), keeps its own WOE values and IVs,
and selects its own features by IV (:class:`~vfl.tables.binning_model.PartyBinning`).
It is the simulation and evaluation API; deployments run a job file with a
``binning`` step.

Tables may hold missing values (``NaN``, ``None``, empty strings: their own bin) and
text columns (binned as categories when declared in ``categorical``; left out
otherwise).  :meth:`HeteroBinning.transform` gives each party's WOE columns, which
:class:`vfl.HeteroLogisticRegression` trains on; :class:`vfl.Scorecard` turns the
result into points.

Examples
--------
>>> import numpy as np
>>> from vfl import HeteroBinning
>>> from vfl.datasets import make_rare_event_credit
>>> guest, host = make_rare_event_credit(3_000, event_rate=0.2)
>>> binning = HeteroBinning(key_length=1024, allow_weak_key=True)
>>> binning = binning.fit(guest.features, guest.labels, hosts=[host.features])
>>> sorted(binning.iv_)
['guest', 'host']
>>> woe_guest, (woe_host,) = binning.transform(guest.features, hosts=[host.features])
>>> woe_guest.shape[1] == len(binning.selected_["guest"]), woe_host.shape[0]
(True, 3000)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin  # type: ignore[import-untyped]

from crypto.paillier.keys import key_length_problem, shortest_key_bits
from protocols.binning import FeatureBins
from protocols.binning.exchange import (
    DEFAULT_MIN_BIN_ROWS,
    BinningGuest,
    BinningHost,
    LabelNoise,
)
from protocols.exceptions import ProtocolError
from protocols.roles import Role
from vfl.exceptions import DataError
from vfl.hetero_lr import NotFittedError, _checked_sample_weight, _encode_labels, host_names
from vfl.runtime.local import run_locally
from vfl.tables.binning_model import (
    BinningSettings,
    finish_binning,
    own_statistics,
    prepare_bins,
)
from vfl.tables.columns import Column, column_positions, table_columns

__all__ = ["GUEST", "HeteroBinning"]

FloatArray = npt.NDArray[np.float64]
GUEST = "guest"
"""The guest's party name in the estimator's dictionaries (the hosts':
:func:`vfl.hetero_lr.host_names`, ``host`` or ``host-1``, ``host-2``...)."""
JOB_ID = "simulated-binning"


class HeteroBinning(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Vertical federated binning with WOE and IV: the guest's labels never leave it.

    A scikit-learn transformer (``BaseEstimator``, ``TransformerMixin``): ``clone``,
    ``get_params``/``set_params`` and the HTML ``repr`` work.  Every :meth:`fit`
    runs the binning exchange (all parties in this process, messages through the
    wire codec); each party's binning is its own, computed from its own columns.

    Parameters
    ----------
    method : {"optimal", "quantile", "equal_width"}, default "optimal"
        ``optimal``: ``n_bins`` quantile bins merged to a monotonic WOE with at least
        ``min_bin_share`` of the rows per bin.
    n_bins : int, default 10
        Fine bins per numeric column.
    min_bin_share : float, default 0.05
    min_bin_rows : int, default 50
        Fewest rows of a non-empty bin (the exchange refuses smaller host bins).
    rare_share : float, default 0.01
        Categories rarer than this share go to the "other" bin.
    categorical : sequence or dict, optional
        Columns binned as categories: a list of names (in any party's table), or a
        dict from party name (``"guest"``, ``"host"`` or ``"host-1"``...) to names or
        0-based positions.  Text columns not listed are left out (with a warning).
    min_iv : float or None, default 0.02
        Each party keeps its features whose IV reaches this.
    top_k : int or None, default None
        Each party keeps at most this many features (highest IV).
    max_abs_corr, max_vif : float or None, default None
        Optional filters on each party's own WOE columns.
    noise_epsilon : float or None, default None
        Gaussian noise on the counts the hosts receive (``(epsilon, noise_delta)``-DP
        for the labels).
    noise_delta : float, default 1e-5
    key_length : int, default 2048
        The guest's Paillier key.
    allow_weak_key : bool, default False
        Allow keys under 2048 bits (tests only).
    n_jobs : int or None
        Workers for the cryptography (``-1``: every core).

    Attributes
    ----------
    party_binnings_ : dict of str to PartyBinning
        Every party's binning as it would save it (guest first).
    iv_ : dict of str to dict of str to float
        Per party, the IV of every binned column.
    woe_ : dict of str to dict of str to tuple of float
        Per party, the WOE of every bin of every binned column.
    bins_ : dict of str to dict of str to FeatureBins
        Per party, the bins of every binned column (labels: ``FeatureBins.labels()``).
    selected_ : dict of str to list of str
        Per party, the columns kept (the WOE columns :meth:`transform` returns).
    classes_ : numpy.ndarray
        The two labels seen in ``fit``; ``classes_[1]`` is the event.
    n_features_in_ : int
        Columns of the guest's table.
    feature_names_in_ : numpy.ndarray
        Their names, when it was a DataFrame with string column names.

    Examples
    --------
    A DataFrame with a missing value and a text column declared categorical:

    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> income = rng.lognormal(10.0, 0.6, 2_000)
    >>> region = rng.choice(["north", "south", "east"], 2_000)
    >>> y = (rng.random(2_000) < np.where(income < 15_000, 0.4, 0.1)).astype(int)
    >>> guest = pd.DataFrame({"income": np.where(rng.random(2_000) < 0.1, np.nan, income)})
    >>> host = pd.DataFrame({"region": region, "spend": rng.normal(size=2_000)})
    >>> binning = HeteroBinning(categorical=["region"], key_length=1024, allow_weak_key=True)
    >>> binning = binning.fit(guest, y, hosts=[host])
    >>> binning.selected_["guest"], binning.bins_["guest"]["income"].labels()[-1]
    (['income'], 'missing')
    >>> binning.bins_["host"]["region"].kind
    'categorical'
    """

    _known: dict[str, bool]
    _columns: dict[str, list[str]]

    def __init__(
        self,
        *,
        method: str = "optimal",
        n_bins: int = 10,
        min_bin_share: float = 0.05,
        min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
        rare_share: float = 0.01,
        categorical: Sequence[str] | Mapping[str, Sequence[str | int]] | None = None,
        min_iv: float | None = 0.02,
        top_k: int | None = None,
        max_abs_corr: float | None = None,
        max_vif: float | None = None,
        noise_epsilon: float | None = None,
        noise_delta: float = 1e-5,
        key_length: int = 2048,
        allow_weak_key: bool = False,
        n_jobs: int | None = None,
    ) -> None:
        self.method = method
        self.n_bins = n_bins
        self.min_bin_share = min_bin_share
        self.min_bin_rows = min_bin_rows
        self.rare_share = rare_share
        self.categorical = categorical
        self.min_iv = min_iv
        self.top_k = top_k
        self.max_abs_corr = max_abs_corr
        self.max_vif = max_vif
        self.noise_epsilon = noise_epsilon
        self.noise_delta = noise_delta
        self.key_length = key_length
        self.allow_weak_key = allow_weak_key
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: missing values and text (declared categorical) are taken."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has run."""
        return hasattr(self, "party_binnings_")

    def settings(self, categorical: Sequence[str] = ()) -> BinningSettings:
        """The binning settings of one party (its declared categorical columns).

        Raises
        ------
        DataError
            If a parameter is invalid.
        """
        return BinningSettings(
            method=self.method,  # type: ignore[arg-type]  # BinningSettings checks it
            n_bins=self.n_bins,
            min_bin_share=self.min_bin_share,
            min_bin_rows=self.min_bin_rows,
            rare_share=self.rare_share,
            categorical=tuple(categorical),
            min_iv=self.min_iv,
            top_k=self.top_k,
            max_abs_corr=self.max_abs_corr,
            max_vif=self.max_vif,
            noise_epsilon=self.noise_epsilon,
            noise_delta=self.noise_delta,
        )

    # fitting --------------------------------------------------------------------------------
    def fit(
        self,
        X: object,  # noqa: N803  (scikit-learn's name)
        y: object,
        hosts: Sequence[object] | None = None,
        *,
        sample_weight: npt.ArrayLike | None = None,
    ) -> HeteroBinning:
        """Bin every party's columns and compute their WOE and IV (the exchange runs).

        Parameters
        ----------
        X : array_like or DataFrame
            The guest's rows (may hold missing values and text columns).
        y : array_like
            Two classes (0/1, -1/+1, bool or any two labels); the larger one (sorted)
            is the event.
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X``.
        sample_weight : array_like, optional
            A non-negative weight per row (WOE and IV from weighted counts).

        Returns
        -------
        HeteroBinning
            ``self``.

        Raises
        ------
        DataError
            If the data are malformed or not aligned, ``y`` does not hold two
            classes, a parameter is invalid, a column cannot be binned, or the
            exchange fails (its refusal is chained).
        """
        problem = key_length_problem(self.key_length, allow_weak_key=self.allow_weak_key)
        if problem is not None:
            raise DataError(f"key_length: {problem}")
        tables = self._tables(X, hosts, fitted=False)
        names = list(tables)
        rows = _rows(tables[GUEST])
        classes, labels = _encode_labels(y, rows)
        weights = _checked_sample_weight(sample_weight, rows)
        declared = self._declared(tables)
        settings = {party: self.settings(declared[party]) for party in names}
        prepared = {party: prepare_bins(tables[party], settings[party]) for party in names}
        for party in names:
            _warn_skipped(party, tables[party], prepared[party][0])
        self._exchange(names, labels, weights, settings, prepared, tables)
        self.classes_ = classes
        self.n_features_in_ = len(tables[GUEST])
        if self._known[GUEST]:
            self.feature_names_in_ = np.asarray(list(tables[GUEST]), dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._columns = {party: list(columns) for party, columns in tables.items()}
        return self

    def _tables(
        self,
        X: object,  # noqa: N803  (scikit-learn's name)
        hosts: Sequence[object] | None,
        *,
        fitted: bool,
    ) -> dict[str, dict[str, Column]]:
        """Every party's columns by name (guest first), checked and aligned."""
        if not isinstance(hosts, list | tuple) or not hosts:
            raise DataError(
                "pass each host's aligned rows as hosts=[X_host, ...]: binning needs at "
                "least one host"
            )
        names = [GUEST, *host_names(len(hosts))]
        if fitted and len(names) != len(self._columns):
            raise DataError(
                f"the binning was fitted with {len(self._columns) - 1} host(s), got {len(hosts)}"
            )
        tables: dict[str, dict[str, Column]] = {}
        known: dict[str, bool] = {}
        for index, (party, data) in enumerate(zip(names, [X, *hosts], strict=True)):
            what = "X" if index == 0 else f"hosts[{index - 1}]"
            if fitted:
                columns = self._columns[party]
                _, arrays = table_columns(
                    data,
                    what,
                    names=columns if self._known[party] else None,
                    width=len(columns),
                    owner=type(self).__name__,
                )
            else:
                given, arrays = table_columns(data, what)
                columns = given if given is not None else [f"x{i}" for i in range(len(arrays))]
                known[party] = given is not None
            tables[party] = dict(zip(columns, arrays, strict=True))
        rows = _rows(tables[GUEST])
        for index, party in enumerate(names[1:]):
            if _rows(tables[party]) != rows:
                raise DataError(
                    f"hosts[{index}] has {_rows(tables[party])} rows, X {rows}; the rows must "
                    "be aligned (use vfl.intersect)"
                )
        if not fitted:
            self._known = known
        return tables

    def _declared(self, tables: Mapping[str, Mapping[str, Column]]) -> dict[str, list[str]]:
        """Each party's declared categorical columns, by name."""
        if self.categorical is None:
            return {party: [] for party in tables}
        if isinstance(self.categorical, Mapping):
            unknown = sorted(set(self.categorical) - set(tables))
            if unknown:
                raise DataError(
                    f"categorical names the parties {unknown}; the parties are {list(tables)}"
                )
            declared: dict[str, list[str]] = {}
            for party, columns in tables.items():
                names = list(columns)
                positions = column_positions(
                    list(self.categorical.get(party, [])),
                    names if self._known[party] else None,
                    len(names),
                    what=f"categorical[{party!r}]",
                )
                declared[party] = [names[p] for p in positions]
            return declared
        if isinstance(self.categorical, str) or not all(
            isinstance(name, str) for name in self.categorical
        ):
            raise DataError(
                "categorical must be a list of column names, or a dict from party name to "
                f"column names or positions; got {self.categorical!r}"
            )
        everywhere = {name for columns in tables.values() for name in columns}
        unknown = [name for name in self.categorical if name not in everywhere]
        if unknown:
            raise DataError(
                f"categorical names {unknown}, which no party's table has; give a dict from "
                "party name to columns for tables without names"
            )
        return {
            party: [name for name in columns if name in self.categorical]
            for party, columns in tables.items()
        }

    def _exchange(
        self,
        names: list[str],
        labels: FloatArray,
        weights: FloatArray | None,
        settings: dict[str, BinningSettings],
        prepared: dict[str, tuple[list[FeatureBins], npt.NDArray[np.int64]]],
        tables: Mapping[str, Mapping[str, Column]],
    ) -> None:
        """Run the exchange, then each party finishes its own binning."""
        guest_settings = settings[GUEST]
        noise = (
            None
            if guest_settings.noise_epsilon is None
            else LabelNoise(epsilon=guest_settings.noise_epsilon, delta=guest_settings.noise_delta)
        )
        empty = [party for party in names[1:] if not prepared[party][0]]
        if empty:
            raise DataError(
                f"{', '.join(empty)} has no column to bin (text columns must be declared "
                "in categorical)"
            )
        roles: dict[str, Role] = {}
        try:
            roles[GUEST] = BinningGuest(
                GUEST,
                JOB_ID,
                hosts=names[1:],
                labels=labels.astype(np.int64),
                weights=weights,
                key_length=self.key_length,
                allow_weak_key=self.allow_weak_key,
                min_bin_rows=guest_settings.min_bin_rows,
                noise=noise,
                n_jobs=self.n_jobs,
            )
            for party in names[1:]:
                bins, codes = prepared[party]
                roles[party] = BinningHost(
                    party,
                    JOB_ID,
                    guest=GUEST,
                    codes=codes,
                    n_bins=[b.n_bins for b in bins],
                    min_bin_rows=settings[party].min_bin_rows,
                    min_key_bits=shortest_key_bits(self.allow_weak_key),
                    n_jobs=self.n_jobs,
                )
            run_locally(roles, allow_weak_keys=self.allow_weak_key)
        except ProtocolError as error:
            raise DataError(f"binning failed: {error}") from error
        bins, codes = prepared[GUEST]
        statistics: dict[str, Sequence[Any]] = {
            GUEST: own_statistics(codes, [b.n_bins for b in bins], labels, weights)
        }
        statistics.update({party: roles[party].result for party in names[1:]})
        self.party_binnings_ = {
            party: finish_binning(
                prepared[party][0], statistics[party], settings[party], tables[party]
            )
            for party in names
        }
        self.iv_ = {party: b.ivs for party, b in self.party_binnings_.items()}
        self.woe_ = {
            party: {f.name: f.woe for f in b.features} for party, b in self.party_binnings_.items()
        }
        self.bins_ = {
            party: {f.name: f.bins for f in b.features} for party, b in self.party_binnings_.items()
        }
        self.selected_ = {party: list(b.selected) for party, b in self.party_binnings_.items()}

    # transforming ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                "This HeteroBinning instance is not fitted yet. Call 'fit' with the guest's "
                "rows, the labels and hosts=[...] first."
            )

    def transform(
        self,
        X: object,  # noqa: N803  (scikit-learn's name)
        hosts: Sequence[object] | None = None,
    ) -> FloatArray | tuple[FloatArray, list[FloatArray]]:
        """Each party's WOE columns: the WOE of the bin each raw value falls in.

        Each party transforms its own columns with its own binning (missing values
        fall in the missing bin, unseen categories in "other"); only the selected
        columns are returned, in each party's order.

        Parameters
        ----------
        X : array_like or DataFrame
            The guest's rows, with the columns of ``fit`` (a DataFrame's matched by
            name).
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X``.

        Returns
        -------
        numpy.ndarray or tuple
            The guest's WOE matrix (rows x ``len(selected_["guest"])``); with
            ``hosts``, ``(guest_woe, [host_woe, ...])``.

        Raises
        ------
        DataError
            If the estimator is not fitted, the columns or rows do not match, or a
            column holds values its bins refuse.
        """
        self._check_fitted()
        if hosts is None:
            columns = self._columns[GUEST]
            _, arrays = table_columns(
                X,
                "X",
                names=columns if self._known[GUEST] else None,
                width=len(columns),
                owner=type(self).__name__,
            )
            return self.party_binnings_[GUEST].transform(dict(zip(columns, arrays, strict=True)))
        tables = self._tables(X, hosts, fitted=True)
        woe = {party: self.party_binnings_[party].transform(t) for party, t in tables.items()}
        return woe[GUEST], [woe[party] for party in list(tables)[1:]]

    def fit_transform(
        self,
        X: object,  # noqa: N803  (scikit-learn's name)
        y: object = None,
        hosts: Sequence[object] | None = None,
        **fit_params: Any,
    ) -> FloatArray | tuple[FloatArray, list[FloatArray]]:
        """:meth:`fit`, then :meth:`transform` of the same rows (every party's, with hosts).

        Returns
        -------
        numpy.ndarray or tuple
            See :meth:`transform`.
        """
        return self.fit(X, y, hosts, **fit_params).transform(X, hosts)

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        """The guest's selected WOE columns (what :meth:`transform` returns for ``X``).

        Returns
        -------
        numpy.ndarray
            Object array of names.
        """
        self._check_fitted()
        return np.asarray(self.selected_[GUEST], dtype=object)

    def iv_table(self) -> list[dict[str, Any]]:
        """Every party's IV table, one row per binned column with a ``party`` key.

        Returns
        -------
        list of dict
            ``party``, ``name``, ``kind``, ``iv``, ``bins``, ``selected``; by party, then
            by the party's column order.
        """
        self._check_fitted()
        return [
            {"party": party, **row}
            for party, binning in self.party_binnings_.items()
            for row in binning.iv_table()
        ]


def _rows(columns: Mapping[str, Column]) -> int:
    """The rows of a party's table (every table has one column at least)."""
    return len(next(iter(columns.values())))


def _warn_skipped(party: str, columns: Mapping[str, Column], bins: Sequence[FeatureBins]) -> None:
    """Warn about text columns left out of a party's binning."""
    binned = {feature.name for feature in bins}
    skipped = [name for name in columns if name not in binned]
    if skipped:
        warnings.warn(
            f"{party}: the text column(s) {skipped} are left out of the binning; declare "
            "them in categorical=[...] to bin them as categories",
            UserWarning,
            stacklevel=3,
        )

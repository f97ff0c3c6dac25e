"""A party's binning: its bins, WOE values, IVs and feature selection, on its own columns.

The credit pipeline's first steps, as each party runs them on its own data
(:mod:`protocols.binning` holds the arithmetic and the exchange):

1. :func:`prepare_bins`: fine bins per column (quantile or equal-width cut points,
   categories with the rare ones grouped, missing values in a bin of their own) and
   each row's bin code: all from the party's own column values;
2. the per-bin event and non-event counts: the guest counts its own columns in the
   clear (:func:`own_statistics`); a host receives them for its bins from the
   binning exchange (the guest decrypts the sums of its encrypted labels);
3. :func:`finish_binning`: the optimal binning merges adjacent bins to a monotonic
   WOE, then WOE and IV per feature, and the selection by IV (and optionally by
   correlation and VIF among the party's own WOE columns): a :class:`PartyBinning`.

A :class:`PartyBinning` transforms the party's raw columns into WOE columns at
training and at scoring, and is saved in the party's model file (plain JSON).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> income = rng.lognormal(10.0, 0.5, 2000)
>>> labels = (rng.random(2000) < np.where(income < 20_000, 0.3, 0.05)).astype(np.int64)
>>> settings = BinningSettings(n_bins=8, min_bin_rows=50, min_iv=0.02)
>>> bins, codes = prepare_bins({"income": income}, settings)
>>> stats = own_statistics(codes, [b.n_bins for b in bins], labels)
>>> binning = finish_binning(bins, stats, settings, {"income": income})
>>> binning.selected
('income',)
>>> woe = binning.transform({"income": np.array([5_000.0, 90_000.0, np.nan])})
>>> bool(woe[0, 0] > 0 > woe[1, 0])  # low income: riskier than average
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from protocols.binning import (
    FeatureBins,
    correlation_filter,
    fit_bins,
    merge_counts,
    monotone_merge,
    select_by_iv,
    vif_filter,
    woe_iv,
)
from protocols.binning.exchange import DEFAULT_MIN_BIN_ROWS
from protocols.exceptions import ProtocolError
from vfl.exceptions import DataError

__all__ = [
    "METHODS",
    "BinCounts",
    "BinningSettings",
    "FeatureWoe",
    "PartyBinning",
    "bin_codes",
    "finish_binning",
    "own_statistics",
    "prepare_bins",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
METHODS = ("quantile", "equal_width", "optimal")
"""Binning methods: fine bins only (``quantile``, ``equal_width``), or ``optimal``: fine
quantile bins merged to a monotonic WOE with a minimum share of rows per bin."""


def _fail(message: str) -> DataError:
    return DataError(f"binning settings: {message}")


@dataclass(frozen=True)
class BinningSettings:
    """How a party bins and selects its columns (recorded in its model file).

    Attributes
    ----------
    method : {"quantile", "equal_width", "optimal"}, default "optimal"
        ``optimal``: ``n_bins`` quantile bins, then adjacent bins merged until the
        WOE is monotonic and every bin holds ``min_bin_share`` of the rows.
    n_bins : int, default 10
        Fine bins per numeric column (fewer when values repeat).
    min_bin_share : float, default 0.05
        The optimal binning's smallest bin, as a share of the rows.
    min_bin_rows : int
        Fewest rows in a non-empty bin (:data:`protocols.binning.DEFAULT_MIN_BIN_ROWS`):
        no count is about a handful of customers; a host's bins are refused below it.
    rare_share : float, default 0.01
        Categories with fewer rows than this share are grouped into "other".
    categorical : tuple of str, default ()
        Columns binned as categories (text columns must be declared to be binned).
    min_iv : float or None, default 0.02
        Keep the features whose IV reaches this (``None``: no threshold).
    top_k : int or None, default None
        Keep at most this many features per party, by IV.
    max_abs_corr : float or None, default None
        Of two of a party's WOE columns correlated beyond this, drop the lower IV.
    max_vif : float or None, default None
        Drop a party's WOE columns (lowest IV first) until every VIF is below this.
    noise_epsilon : float or None, default None
        Calibrated noise on the host bins' counts (``(epsilon, noise_delta)``-DP).
    noise_delta : float, default 1e-5

    Examples
    --------
    >>> settings = BinningSettings(method="quantile", n_bins=5, top_k=3)
    >>> BinningSettings.from_dict(settings.to_dict()) == settings
    True
    >>> BinningSettings(n_bins=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: binning settings: n_bins must be an integer >= 2, not 1
    """

    method: Literal["quantile", "equal_width", "optimal"] = "optimal"
    n_bins: int = 10
    min_bin_share: float = 0.05
    min_bin_rows: int = DEFAULT_MIN_BIN_ROWS
    rare_share: float = 0.01
    categorical: tuple[str, ...] = ()
    min_iv: float | None = 0.02
    top_k: int | None = None
    max_abs_corr: float | None = None
    max_vif: float | None = None
    noise_epsilon: float | None = None
    noise_delta: float = 1e-5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise _fail(f"method must be one of {METHODS}, not {self.method!r}")
        _check_int("n_bins", self.n_bins, 2)
        _check_int("min_bin_rows", self.min_bin_rows, 1)
        _check_float("min_bin_share", self.min_bin_share, 0.0, 0.5, low_open=False)
        _check_float("rare_share", self.rare_share, 0.0, 0.5, low_open=False)
        categorical: object = self.categorical
        if not isinstance(categorical, list | tuple) or not all(
            isinstance(c, str) for c in categorical
        ):
            raise _fail(f"categorical must be a list of column names, not {categorical!r}")
        if len(set(categorical)) != len(categorical):
            raise _fail(f"categorical lists a column twice: {list(categorical)}")
        object.__setattr__(self, "categorical", tuple(categorical))
        if self.min_iv is not None:
            _check_float("min_iv", self.min_iv, 0.0, math.inf, low_open=False)
        if self.top_k is not None:
            _check_int("top_k", self.top_k, 1)
        if self.max_abs_corr is not None:
            _check_float("max_abs_corr", self.max_abs_corr, 0.0, 1.0)
        if self.max_vif is not None:
            _check_float("max_vif", self.max_vif, 1.0, math.inf)
        if self.noise_epsilon is not None:
            _check_float("noise_epsilon", self.noise_epsilon, 0.0, math.inf)
        _check_float("noise_delta", self.noise_delta, 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        document = {f.name: getattr(self, f.name) for f in fields(self)}
        document["categorical"] = list(self.categorical)
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> BinningSettings:
        """Settings from :meth:`to_dict`'s output, validated.

        Raises
        ------
        DataError
            If a key is unknown or a value invalid.
        """
        if not isinstance(document, Mapping):
            raise _fail(f"expected a mapping, got {type(document).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise _fail(f"unknown key(s) {unknown}; known: {sorted(known)}")
        values = dict(document)
        if "categorical" in values:
            categorical = values["categorical"]
            if not isinstance(categorical, list | tuple):
                raise _fail(f"categorical must be a list of column names, not {categorical!r}")
            values["categorical"] = tuple(categorical)
        return cls(**values)


def _check_int(name: str, value: object, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise _fail(f"{name} must be an integer >= {lowest}, not {value!r}")


def _check_float(
    name: str, value: object, low: float, high: float, *, low_open: bool = True
) -> None:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        number is None
        or not math.isfinite(number)
        or number > high
        or number < low
        or (low_open and number == low)
    ):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise _fail(f"{name} must be a number in {interval}, not {value!r}")


class BinCountsLike(Protocol):
    """Per-bin counts of one feature (:class:`BinCounts`, the exchange's statistics)."""

    @property
    def rows(self) -> tuple[int, ...]:
        """Rows per bin."""

    @property
    def events(self) -> tuple[float, ...]:
        """Events (label 1, weighted) per bin."""

    @property
    def non_events(self) -> tuple[float, ...]:
        """Non-events (label 0, weighted) per bin."""


@dataclass(frozen=True)
class BinCounts:
    """Per-bin rows, events and non-events of one feature (counted in the clear)."""

    rows: tuple[int, ...]
    events: tuple[float, ...]
    non_events: tuple[float, ...]


def own_statistics(
    codes: npt.ArrayLike,
    n_bins: Sequence[int],
    labels: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
) -> list[BinCounts]:
    """The guest's per-bin counts of its own features, in the clear.

    Parameters
    ----------
    codes : array_like
        Rows x features bin codes (:func:`prepare_bins`).
    n_bins : sequence of int
        Bins per feature.
    labels : array_like
        0/1 per row (1 = the event).
    weights : array_like, optional
        A non-negative weight per row (counts become weighted sums).

    Returns
    -------
    list of BinCounts
        One per feature.

    Examples
    --------
    >>> own_statistics([[0], [1], [1]], [2], [1, 0, 1])
    [BinCounts(rows=(1, 2), events=(1.0, 1.0), non_events=(0.0, 1.0))]
    """
    matrix = np.asarray(codes, dtype=np.int64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != y.shape[0] or w.shape != y.shape:
        raise DataError(
            f"codes {matrix.shape}, labels {y.shape} and weights {w.shape} do not fit "
            "(rows x features codes, one label and weight per row)"
        )
    if matrix.shape[1] != len(n_bins):
        raise DataError(f"{matrix.shape[1]} code columns for {len(n_bins)} features")
    counts: list[BinCounts] = []
    for column, bins in enumerate(n_bins):
        code = matrix[:, column]
        rows = np.bincount(code, minlength=bins)
        events = np.bincount(code, weights=w * y, minlength=bins)
        non_events = np.bincount(code, weights=w * (1.0 - y), minlength=bins)
        counts.append(
            BinCounts(
                tuple(int(v) for v in rows),
                tuple(float(v) for v in events),
                tuple(float(v) for v in non_events),
            )
        )
    return counts


def prepare_bins(
    columns: Mapping[str, npt.NDArray[Any]], settings: BinningSettings
) -> tuple[list[FeatureBins], IntArray]:
    """Fine bins for a party's columns, from its own values, and every row's bin codes.

    Numeric columns get quantile (``quantile``, ``optimal``) or equal-width cut
    points; the columns of ``settings.categorical`` get categories (rare ones
    grouped into "other"); missing values get their own bin (fewer than
    ``min_bin_rows`` of them join the largest bin instead, see
    :func:`protocols.binning.fit_bins`).  Text columns that are not declared
    categorical are left out (they cannot be binned as numbers).

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        The party's columns by name (float64 with ``NaN``, or object arrays of
        ``str``/``None``), all of the same length, in the party's order.
    settings : BinningSettings

    Returns
    -------
    tuple of (list of FeatureBins, numpy.ndarray)
        The bins of each binned column (the columns' order) and the rows x features
        int64 codes.

    Raises
    ------
    DataError
        If a declared categorical column is absent, the columns differ in length, or
        a column cannot be binned.
    """
    absent = [name for name in settings.categorical if name not in columns]
    if absent:
        raise DataError(
            f"categorical column(s) {absent} are not among the party's columns {list(columns)}"
        )
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise DataError(f"the columns differ in length: {sorted(lengths)}")
    bins: list[FeatureBins] = []
    codes: list[IntArray] = []
    method: Literal["quantile", "equal_width"] = (
        "equal_width" if settings.method == "equal_width" else "quantile"
    )
    for name, raw in columns.items():
        categorical = name in settings.categorical
        values = _categories(raw) if categorical else _numbers(raw)
        if values is None:
            continue  # a text column not declared categorical
        try:
            feature = fit_bins(
                name,
                values,
                method=method,
                n_bins=settings.n_bins,
                categorical=categorical,
                rare_share=settings.rare_share,
                min_bin_rows=settings.min_bin_rows,
            )
            codes.append(feature.assign(values))
        except ProtocolError as error:
            raise DataError(f"column {name!r} cannot be binned: {error}") from error
        bins.append(feature)
    rows = lengths.pop() if lengths else 0
    matrix = np.column_stack(codes) if codes else np.zeros((rows, 0), dtype=np.int64)
    return bins, matrix.astype(np.int64, copy=False)


def _numbers(raw: npt.NDArray[Any]) -> FloatArray | None:
    """A numeric column as float64 (``NaN`` for missing), or ``None`` for text."""
    array = np.asarray(raw)
    if array.dtype.kind in "biuf":
        return array.astype(np.float64)
    try:
        return np.array([np.nan if v is None else float(v) for v in array], dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _categories(raw: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """A categorical column as ``str``/``None`` objects (whole numbers without ``.0``)."""
    array = np.asarray(raw)
    values = np.empty(len(array), dtype=object)
    for index, value in enumerate(array.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values[index] = None
        elif isinstance(value, float) and value.is_integer():
            values[index] = str(int(value))
        else:
            text = str(value).strip()
            values[index] = text or None
    return values


@dataclass(frozen=True)
class FeatureWoe:
    """One binned feature: its bins, per-bin counts, WOE values and IV.

    Attributes
    ----------
    bins : FeatureBins
    woe : tuple of float
        Per bin; positive = riskier than average (label 1 = the event).
    iv : float
    rows : tuple of int
    events, non_events : tuple of float
        Per bin (weighted if rows carry weights; noisy if noise was added).
    """

    bins: FeatureBins
    woe: tuple[float, ...]
    iv: float
    rows: tuple[int, ...]
    events: tuple[float, ...]
    non_events: tuple[float, ...]

    def __post_init__(self) -> None:
        count = self.bins.n_bins
        lengths = {len(self.woe), len(self.rows), len(self.events), len(self.non_events)}
        if lengths != {count}:
            raise DataError(
                f"feature {self.bins.name!r}: {count} bins but per-bin values of lengths "
                f"{sorted(lengths)}"
            )
        if not all(math.isfinite(v) for v in (*self.woe, self.iv, *self.events, *self.non_events)):
            raise DataError(f"feature {self.bins.name!r}: a WOE, IV or count is not finite")
        if any(r < 0 for r in self.rows) or self.iv < 0:
            raise DataError(f"feature {self.bins.name!r}: negative rows or IV")

    @property
    def name(self) -> str:
        """The column's name."""
        return self.bins.name

    def to_dict(self) -> dict[str, Any]:
        """The feature as JSON-ready values."""
        return {
            "bins": self.bins.to_dict(),
            "woe": list(self.woe),
            "iv": self.iv,
            "rows": list(self.rows),
            "events": list(self.events),
            "non_events": list(self.non_events),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> FeatureWoe:
        """A feature from :meth:`to_dict`'s output, validated.

        Raises
        ------
        DataError
            If a key is missing or unknown, or a value is of the wrong type or length.
        """
        expected = {"bins", "woe", "iv", "rows", "events", "non_events"}
        if not isinstance(document, Mapping) or set(document) != expected:
            keys = sorted(document) if isinstance(document, Mapping) else type(document).__name__
            raise DataError(f"a binned feature needs the keys {sorted(expected)}, got {keys}")
        try:
            bins = FeatureBins.from_dict(document["bins"])
        except ProtocolError as error:
            raise DataError(f"a binned feature's bins are invalid: {error}") from error
        return cls(
            bins=bins,
            woe=_numbers_tuple(document["woe"], "woe", float),
            iv=_number(document["iv"], "iv"),
            rows=_numbers_tuple(document["rows"], "rows", int),
            events=_numbers_tuple(document["events"], "events", float),
            non_events=_numbers_tuple(document["non_events"], "non_events", float),
        )


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"a binned feature's {what} must be a number, not {value!r}")
    return float(value)


def _numbers_tuple(values: object, what: str, kind: type[int] | type[float]) -> tuple[Any, ...]:
    if not isinstance(values, list | tuple):
        raise DataError(f"a binned feature's {what} must be a list, not {values!r}")
    if kind is int:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise DataError(f"a binned feature's {what} must be integers")
        return tuple(int(v) for v in values)
    return tuple(_number(v, what) for v in values)


@dataclass(frozen=True)
class PartyBinning:
    """A party's binning: every binned column's WOE, and the columns selected.

    Attributes
    ----------
    features : tuple of FeatureWoe
        Every binned column, in the party's order.
    selected : tuple of str
        The columns kept by the selection, in that order: the WOE columns the party
        trains and scores on.
    settings : BinningSettings
        The settings that produced it.
    skipped : tuple of str
        Text columns left out (not declared categorical).
    """

    features: tuple[FeatureWoe, ...]
    selected: tuple[str, ...]
    settings: BinningSettings = field(default_factory=BinningSettings)
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [feature.name for feature in self.features]
        if len(set(names)) != len(names):
            raise DataError(f"a binning lists a feature twice: {names}")
        unknown = [name for name in self.selected if name not in names]
        if unknown or len(set(self.selected)) != len(self.selected):
            raise DataError(
                f"a binning's selected columns {list(self.selected)} must be distinct "
                f"binned features ({names})"
            )
        order = [name for name in names if name in self.selected]
        if order != list(self.selected):
            raise DataError(
                f"a binning's selected columns {list(self.selected)} must keep the party's "
                f"order {order}"
            )

    @property
    def names(self) -> list[str]:
        """Every binned column's name."""
        return [feature.name for feature in self.features]

    @property
    def ivs(self) -> dict[str, float]:
        """IV per binned column."""
        return {feature.name: feature.iv for feature in self.features}

    def feature(self, name: str) -> FeatureWoe:
        """The binned feature ``name``.

        Raises
        ------
        DataError
            If the column was not binned.
        """
        for feature in self.features:
            if feature.name == name:
                return feature
        raise DataError(f"no binned column {name!r}; binned: {self.names}")

    def transform(
        self, columns: Mapping[str, npt.ArrayLike], names: Sequence[str] | None = None
    ) -> FloatArray:
        """Each row's WOE values: the WOE of the bin its raw value falls in.

        A missing value falls in the missing bin, an unseen category in "other".

        Parameters
        ----------
        columns : mapping of str to array_like
            The party's raw columns by name (others are ignored).
        names : sequence of str, optional
            The binned columns wanted (default :attr:`selected`).

        Returns
        -------
        numpy.ndarray
            Rows x ``len(names)`` float64.

        Raises
        ------
        DataError
            If a column is absent, or holds values its bins refuse (text in a numeric
            column, a missing value when the bins have no missing bin).
        """
        wanted = list(self.selected if names is None else names)
        codes = bin_codes([self.feature(name).bins for name in wanted], columns)
        result = np.zeros(codes.shape, dtype=np.float64)
        for index, name in enumerate(wanted):
            result[:, index] = np.asarray(self.feature(name).woe, dtype=np.float64)[codes[:, index]]
        return result

    def iv_table(self) -> list[dict[str, Any]]:
        """One row per binned column: name, kind, IV, bins and whether it is selected."""
        return [
            {
                "name": feature.name,
                "kind": feature.bins.kind,
                "iv": feature.iv,
                "bins": feature.bins.n_bins,
                "selected": feature.name in self.selected,
            }
            for feature in self.features
        ]

    def to_dict(self) -> dict[str, Any]:
        """The binning as JSON-ready values (what the model file holds)."""
        return {
            "features": [feature.to_dict() for feature in self.features],
            "selected": list(self.selected),
            "settings": self.settings.to_dict(),
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> PartyBinning:
        """A binning from :meth:`to_dict`'s output, validated.

        Raises
        ------
        DataError
            If the document is malformed.
        """
        expected = {"features", "selected", "settings", "skipped"}
        if not isinstance(document, Mapping) or set(document) != expected:
            keys = sorted(document) if isinstance(document, Mapping) else type(document).__name__
            raise DataError(f"a binning needs the keys {sorted(expected)}, got {keys}")
        features, selected, skipped = (
            document["features"],
            document["selected"],
            document["skipped"],
        )
        for what, value in (("features", features), ("selected", selected), ("skipped", skipped)):
            if not isinstance(value, list):
                raise DataError(f"a binning's {what} must be a list, not {value!r}")
        if not all(isinstance(name, str) for name in [*selected, *skipped]):
            raise DataError("a binning's selected and skipped columns must be names")
        return cls(
            features=tuple(FeatureWoe.from_dict(feature) for feature in features),
            selected=tuple(selected),
            settings=BinningSettings.from_dict(document["settings"]),
            skipped=tuple(skipped),
        )


def bin_codes(bins: Sequence[FeatureBins], columns: Mapping[str, npt.ArrayLike]) -> IntArray:
    """Each row's bin in each of ``bins``, from the party's raw columns.

    Parameters
    ----------
    bins : sequence of FeatureBins
        The features wanted, in order.
    columns : mapping of str to array_like
        The party's raw columns by name (others are ignored): numbers with ``NaN``
        for missing, or text (``None``, ``NaN`` or ``""`` for missing).

    Returns
    -------
    numpy.ndarray
        Rows x ``len(bins)`` int64 codes.

    Raises
    ------
    DataError
        If a column is absent, the columns differ in length, or a column holds
        values its bins refuse (text in a numeric column, a missing value when the
        bins have no bin for it).

    Examples
    --------
    >>> bins = FeatureBins("age", "numeric", edges=(30.0,))
    >>> bin_codes([bins], {"age": [25.0, 40.0, float("nan")]}).ravel().tolist()
    [0, 1, 2]
    """
    names = [feature.name for feature in bins]
    absent = [name for name in names if name not in columns]
    if absent:
        raise DataError(
            f"the binning needs the column(s) {absent}, which the data lacks "
            f"(given: {list(columns)})"
        )
    lengths = {len(np.asarray(columns[name])) for name in names}
    if len(lengths) > 1:
        raise DataError(f"the columns differ in length: {sorted(lengths)}")
    codes = np.zeros((lengths.pop() if lengths else 0, len(bins)), dtype=np.int64)
    for index, feature in enumerate(bins):
        raw = np.asarray(columns[feature.name])
        if feature.kind == "categorical":
            values: npt.NDArray[Any] = _categories(raw)
        else:
            numbers = _numbers(raw)
            if numbers is None:
                raise DataError(
                    f"column {feature.name!r} was binned as numbers but now holds text; pass "
                    "its numeric values"
                )
            values = numbers
        try:
            codes[:, index] = feature.assign(values)
        except ProtocolError as error:
            raise DataError(f"column {feature.name!r}: {error}") from error
    return codes


def finish_binning(
    bins: Sequence[FeatureBins],
    stats: Sequence[BinCountsLike],
    settings: BinningSettings,
    columns: Mapping[str, npt.NDArray[Any]],
) -> PartyBinning:
    """Merge (optimal binning), WOE and IV per feature, and the party's selection.

    Parameters
    ----------
    bins : sequence of FeatureBins
        The fine bins (:func:`prepare_bins`).
    stats : sequence of BinCountsLike
        Their per-bin counts, one per feature in the same order: the guest's own
        (:func:`own_statistics`) or a host's from the binning exchange.
    settings : BinningSettings
    columns : mapping of str to numpy.ndarray
        The party's raw columns (for the correlation and VIF filters, and to list
        the columns left out).

    Returns
    -------
    PartyBinning

    Raises
    ------
    DataError
        If ``stats`` does not match ``bins``.
    """
    if len(stats) != len(bins):
        raise DataError(f"{len(stats)} features' counts for {len(bins)} binned features")
    features: list[FeatureWoe] = []
    for feature_bins, counts in zip(bins, stats, strict=True):
        rows = np.asarray(counts.rows, dtype=np.int64)
        events = np.asarray(counts.events, dtype=np.float64)
        non_events = np.asarray(counts.non_events, dtype=np.float64)
        if not rows.size == events.size == non_events.size == feature_bins.n_bins:
            raise DataError(
                f"feature {feature_bins.name!r}: counts for {rows.size} bins, "
                f"{feature_bins.n_bins} bins"
            )
        events, non_events = np.maximum(events, 0.0), np.maximum(non_events, 0.0)  # noisy
        if settings.method == "optimal" and feature_bins.n_value_bins > 1:
            try:
                runs = monotone_merge(
                    events,
                    non_events,
                    min_bin_share=settings.min_bin_share,
                    missing_last=feature_bins.missing_bin,
                    sort_by_woe=feature_bins.kind == "categorical",
                )
                feature_bins = feature_bins.merge(runs)
            except ProtocolError as error:
                raise DataError(f"feature {feature_bins.name!r}: {error}") from error
            rows = merge_counts(rows, runs).astype(np.int64)
            events, non_events = merge_counts(events, runs), merge_counts(non_events, runs)
        woe, iv = woe_iv(events, non_events)
        features.append(
            FeatureWoe(
                bins=feature_bins,
                woe=tuple(float(v) for v in woe),
                iv=float(iv),
                rows=tuple(int(v) for v in rows),
                events=tuple(float(v) for v in events),
                non_events=tuple(float(v) for v in non_events),
            )
        )
    ivs = {feature.name: feature.iv for feature in features}
    selected = select_by_iv(ivs, min_iv=settings.min_iv, top_k=settings.top_k)
    binned = PartyBinning(tuple(features), tuple(selected), settings)
    if selected and (settings.max_abs_corr is not None or settings.max_vif is not None):
        matrix = binned.transform(columns)
        if settings.max_abs_corr is not None:
            kept = set(
                correlation_filter(matrix, selected, ivs, max_abs_corr=settings.max_abs_corr)
            )
            matrix = matrix[:, [index for index, name in enumerate(selected) if name in kept]]
            selected = [name for name in selected if name in kept]
        if settings.max_vif is not None and selected:
            kept = set(vif_filter(matrix, selected, ivs, max_vif=settings.max_vif))
            selected = [name for name in selected if name in kept]
    skipped = tuple(name for name in columns if name not in ivs)
    return PartyBinning(tuple(features), tuple(selected), settings, skipped)

"""Bins of one feature: fitting them on a party's own column, assigning rows, merging.

A numeric feature is cut at ascending inner *edges*; bin ``k`` holds the values
``edges[k-1] < x <= edges[k]`` (right-closed, the first bin open to ``-inf`` and the
last to ``+inf``), so a value equal to an edge falls in the bin the edge closes.  A
categorical feature is a tuple of *groups* of categories, one bin each; the last
group is the catch-all "other" bin (rare categories seen when fitting, and every
category never seen).  Missing cells -- ``NaN`` in a numeric column, ``None``,
``NaN`` or ``""`` in a categorical one -- get a bin of their own, always the last
one, even when the fitting column had none (such a bin is empty and so neutral).

Everything here is deterministic plain numpy: no randomness, no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from protocols.exceptions import BinningError

__all__ = [
    "KINDS",
    "METHODS",
    "MISSING",
    "OTHER",
    "FeatureBins",
    "equal_width_edges",
    "fit_bins",
    "quantile_edges",
]

MISSING: Final = "missing"
"""Label of the missing-value bin."""

OTHER: Final = "other"
"""Label of the categorical catch-all group (rare and unseen categories)."""

KINDS: Final = ("numeric", "categorical")
METHODS: Final = ("quantile", "equal_width")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_KEYS: Final = frozenset({"name", "kind", "edges", "groups", "missing_bin"})
_OPTIONAL_KEYS: Final = frozenset({"missing_to"})
_NOT_FOUND: Final = -1


@dataclass(frozen=True)
class FeatureBins:
    """The bins of one feature (numeric edges or categorical groups, plus missing).

    Parameters
    ----------
    name : str
        The feature's column name.
    kind : {"numeric", "categorical"}
    edges : tuple of float, default ()
        Numeric: finite, strictly increasing inner cut points; bin ``k`` holds
        ``edges[k-1] < x <= edges[k]`` (``k = 0 .. len(edges)``).  Empty for a
        categorical feature (and for a numeric feature with one bin).
    groups : tuple of tuple of str, default ()
        Categorical: each group of categories is one bin; the last group is the
        catch-all "other" bin for rare and unseen categories and may be empty.
        Every other group is non-empty; no category is in two groups.
    missing_bin : bool, default True
        ``True``: missing cells get their own bin, the last index.  ``False``:
        missing cells go to the bin ``missing_to``, or are refused without one.
    missing_to : int or None, default None
        Only without a missing bin: the value bin that also holds the missing cells
        (:func:`fit_bins` folds too few missing cells into the largest bin this way).

    Raises
    ------
    BinningError
        If a field is of the wrong type or inconsistent (the message names it).

    Examples
    --------
    >>> bins = FeatureBins("age", "numeric", edges=(30.0, 50.0))
    >>> bins.n_bins, bins.labels()
    (4, ['(-inf, 30]', '(30, 50]', '(50, inf)', 'missing'])
    >>> bins.assign(np.array([18.0, 30.0, 30.5, 77.0, np.nan])).tolist()
    [0, 0, 1, 2, 3]
    >>> region = FeatureBins("region", "categorical", groups=(("north",), ("south", "west")))
    >>> region.assign(np.array(["west", "north", None, "east"], dtype=object)).tolist()
    [1, 0, 2, 1]
    """

    name: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    missing_bin: bool = True
    missing_to: int | None = None
    _edge_array: FloatArray = field(init=False, repr=False, compare=False)
    _lookup: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise BinningError(f"a feature name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise self._error(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if type(self.missing_bin) is not bool:
            raise self._error(f"missing_bin must be true or false, got {self.missing_bin!r}")
        edges = _edges(self.edges, self._error)
        groups = _groups(self.groups, self._error)
        if self.kind == "numeric" and groups:
            raise self._error("a numeric feature has edges, not groups")
        if self.kind == "categorical":
            if edges:
                raise self._error("a categorical feature has groups, not edges")
            if not groups:
                raise self._error("a categorical feature needs at least the 'other' group")
        value_bins = len(edges) + 1 if self.kind == "numeric" else len(groups)
        if self.missing_to is not None and (
            self.missing_bin
            or type(self.missing_to) is not int
            or not 0 <= self.missing_to < value_bins
        ):
            raise self._error(
                f"missing_to must be null or, without a missing bin, a value bin in "
                f"[0, {value_bins}), got {self.missing_to!r}"
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "_edge_array", np.array(edges, dtype=np.float64))
        object.__setattr__(
            self,
            "_lookup",
            {category: index for index, group in enumerate(groups) for category in group},
        )

    def _error(self, problem: str) -> BinningError:
        return BinningError(f"feature {self.name!r}: {problem}")

    @property
    def n_value_bins(self) -> int:
        """Bins of present (non-missing) values: ``len(edges) + 1`` or ``len(groups)``."""
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.groups)

    @property
    def n_bins(self) -> int:
        """Every bin, the missing bin included when there is one."""
        return self.n_value_bins + int(self.missing_bin)

    @property
    def missing_index(self) -> int | None:
        """Index of the missing bin (the last one), or ``None`` without one."""
        return self.n_value_bins if self.missing_bin else None

    @property
    def missing_code(self) -> int | None:
        """The bin of a missing cell: the missing bin, ``missing_to``, or ``None`` (refused)."""
        return self.missing_index if self.missing_bin else self.missing_to

    def assign(self, values: npt.ArrayLike) -> IntArray:
        """The bin of every value.

        Parameters
        ----------
        values : array_like, 1-D
            Numeric: numbers, ``NaN`` (or ``None``) for missing; ``±inf`` fall in the
            first and last bins.  Categorical: strings, with ``None``, ``NaN`` or
            ``""`` for missing; a category in no group goes to the last ("other") group.

        Returns
        -------
        numpy.ndarray of int64
            Codes in ``[0, n_bins)``.

        Raises
        ------
        BinningError
            If the values are not 1-D, a numeric value is not a number, a categorical
            value is neither text nor missing, or a cell is missing and the bins have
            no missing bin.
        """
        if self.kind == "numeric":
            numbers = _as_numbers(values, self.name)
            codes = np.searchsorted(self._edge_array, numbers, side="left").astype(np.int64)
            missing = np.isnan(numbers)
        else:
            codes, missing = self._assign_categories(values)
        if missing.any():
            if self.missing_code is None:
                first = int(np.flatnonzero(missing)[0])
                raise self._error(
                    f"{int(missing.sum())} missing value(s) (first at row {first}) but the bins "
                    "have no missing bin; fill them or fit bins with a missing bin"
                )
            codes[missing] = self.missing_code
        return codes

    def _assign_categories(self, values: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        cells = np.asarray(values, dtype=object)
        if cells.ndim != 1:
            raise self._error(f"values must be a 1-D array, got shape {cells.shape}")
        lookup = self._lookup
        codes = np.fromiter(
            (
                lookup.get(cell, _NOT_FOUND) if isinstance(cell, str) else _NOT_FOUND
                for cell in cells
            ),
            dtype=np.int64,
            count=len(cells),
        )
        missing = np.zeros(len(cells), dtype=np.bool_)
        for row in np.flatnonzero(codes == _NOT_FOUND).tolist():  # unseen or missing: few
            cell = cells[row]
            if _is_missing_category(cell):
                missing[row] = True
            elif isinstance(cell, str):
                codes[row] = len(self.groups) - 1
            else:
                raise self._error(
                    f"row {row} holds {cell!r} ({type(cell).__name__}); categorical values "
                    "must be text (or None / NaN / '' for missing)"
                )
        return codes, missing

    def rows_per_bin(self, values: npt.ArrayLike) -> IntArray:
        """How many values fall in each bin (``numpy.bincount`` of :meth:`assign`)."""
        return np.bincount(self.assign(values), minlength=self.n_bins).astype(np.int64)

    def labels(self) -> list[str]:
        """One readable label per bin, in bin order.

        Numeric bins read ``"(-inf, 3.5]"``, ``"(3.5, 7]"``, ``"(7, inf)"`` (edges to 6
        significant digits, in full where that would not tell two apart); categorical
        groups ``"{A, B}"``, the last one ``"other"`` (or ``"other {C, D}"`` when rare
        categories were grouped into it); the missing bin ``"missing"``.
        """
        if self.kind == "numeric":
            shown = [_short_number(edge) for edge in self.edges]
            if len(set(shown)) < len(shown):  # edges closer than 6 digits tell apart
                shown = [_number(edge) for edge in self.edges]
            bounds = ["-inf", *shown, "inf"]
            labels = [f"({low}, {high}]" for low, high in itertools.pairwise(bounds[:-1])]
            labels.append(f"({bounds[-2]}, inf)")
        else:
            labels = ["{" + ", ".join(group) + "}" for group in self.groups[:-1]]
            rare = self.groups[-1]
            labels.append(OTHER + (" {" + ", ".join(rare) + "}" if rare else ""))
        if self.missing_bin:
            labels.append(MISSING)
        elif self.missing_to is not None:
            labels[self.missing_to] += f" or {MISSING}"
        return labels

    def merge(self, runs: Sequence[Sequence[int]]) -> FeatureBins:
        """Bins made of unions of these bins.

        Parameters
        ----------
        runs : sequence of sequence of int
            A partition of the value bins ``0 .. n_value_bins - 1``; the new bin ``j``
            is the union of ``runs[j]``.  Numeric: runs of adjacent bins, in order.
            Categorical: any bins; the run holding the "other" group (the last value
            bin) must come last.  The missing bin is never merged; a final run
            ``[missing_index]`` may be given (as :func:`~protocols.binning.woe.monotone_merge`
            returns it) and is kept as it is.

        Returns
        -------
        FeatureBins
            Same name, kind and missing bin.

        Raises
        ------
        BinningError
            If the runs are not such a partition.

        Examples
        --------
        >>> bins = FeatureBins("age", "numeric", edges=(20.0, 30.0, 40.0))
        >>> bins.merge([[0], [1, 2], [3], [4]]).edges
        (20.0, 40.0)
        """
        parts = _runs(runs, self.n_bins, self._error)
        if self.missing_index is not None and self.missing_index in {
            i for run in parts for i in run
        }:
            if parts[-1] != (self.missing_index,):
                raise self._error(
                    f"the missing bin {self.missing_index} is never merged; give it alone, last"
                )
            parts = parts[:-1]
        flat = sorted(index for run in parts for index in run)
        if flat != list(range(self.n_value_bins)):
            raise self._error(
                f"runs must cover each of the bins 0..{self.n_value_bins - 1} exactly once, "
                f"got {[list(run) for run in parts]}"
            )
        if self.kind == "numeric":
            ordered = [index for run in parts for index in run]
            if ordered != flat or any(list(run) != sorted(run) for run in parts):
                raise self._error(
                    f"numeric bins merge only in runs of adjacent bins, in order; got "
                    f"{[list(run) for run in parts]}"
                )
            return FeatureBins(
                self.name,
                "numeric",
                edges=tuple(self.edges[run[-1]] for run in parts[:-1]),
                missing_bin=self.missing_bin,
                missing_to=self._merged_missing_to(parts),
            )
        other = self.n_value_bins - 1
        if other not in parts[-1]:
            raise self._error(
                f"the run holding the 'other' group (bin {other}) must be the last run, got "
                f"{[list(run) for run in parts]}"
            )
        groups = tuple(
            tuple(sorted(category for index in run for category in self.groups[index]))
            for run in parts
        )
        return FeatureBins(
            self.name,
            "categorical",
            groups=groups,
            missing_bin=self.missing_bin,
            missing_to=self._merged_missing_to(parts),
        )

    def _merged_missing_to(self, parts: list[tuple[int, ...]]) -> int | None:
        if self.missing_to is None:
            return None
        return next(new for new, run in enumerate(parts) if self.missing_to in run)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (floats survive JSON exactly); ``missing_to`` only when set.

        Examples
        --------
        >>> FeatureBins("age", "numeric", edges=(30.0,)).to_dict()
        {'name': 'age', 'kind': 'numeric', 'edges': [30.0], 'groups': [], 'missing_bin': True}
        """
        document: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "groups": [list(group) for group in self.groups],
            "missing_bin": self.missing_bin,
        }
        if self.missing_to is not None:
            document["missing_to"] = self.missing_to
        return document

    @classmethod
    def from_dict(cls, document: object) -> FeatureBins:
        """Rebuild bins from :meth:`to_dict`'s output, validating every field.

        Raises
        ------
        BinningError
            ``"bins: ..."`` or ``"feature '...': ..."``, naming what is missing,
            unknown, of the wrong type or inconsistent.
        """
        if not isinstance(document, dict):
            raise BinningError(f"bins: expected an object, got {type(document).__name__}")
        missing, unknown = _KEYS - document.keys(), document.keys() - _KEYS - _OPTIONAL_KEYS
        if missing or unknown:
            raise BinningError(
                f"bins of {document.get('name', '?')!r}: missing keys {sorted(missing)}, "
                f"unknown keys {sorted(map(str, unknown))}"
            )
        name = document["name"]
        edges, groups = document["edges"], document["groups"]
        if not isinstance(edges, list):
            raise BinningError(f"feature {name!r}: edges must be a list of numbers, got {edges!r}")
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise BinningError(
                f"feature {name!r}: groups must be a list of lists of categories, got {groups!r}"
            )
        return cls(
            name=name,
            kind=document["kind"],
            edges=tuple(edges),
            groups=tuple(tuple(group) for group in groups),
            missing_bin=document["missing_bin"],
            missing_to=document.get("missing_to"),
        )


def quantile_edges(values: npt.ArrayLike, n_bins: int) -> tuple[float, ...]:
    """Inner edges at the ``1/n .. (n-1)/n`` quantiles of the present values.

    The quantiles interpolate linearly (``numpy.quantile``'s default, as
    scikit-learn's ``KBinsDiscretizer(strategy="quantile", quantile_method="linear")``).
    Ties and heavy tails: duplicate edges are dropped, and so is an edge at or above
    the largest value (its bin would be empty); an edge equal to the smallest value is
    kept, so a mass of equal smallest values (zeros, say) has a bin of its own.  A
    column with one distinct value, or none, gives no edge (one bin).

    Parameters
    ----------
    values : array_like, 1-D
        Numbers; ``NaN`` (missing) are ignored.
    n_bins : int
        At most this many bins (``n_bins - 1`` edges).

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> quantile_edges([0, 0, 0, 0, 0, 0, 1, 2, 3, 50], 4)
    (0.0, 1.75)
    """
    present = _present(values, n_bins)
    if present.size == 0:
        return ()
    cuts = np.unique(np.quantile(present, np.arange(1, n_bins) / n_bins))
    return tuple(float(edge) for edge in cuts[cuts < present.max()])


def equal_width_edges(values: npt.ArrayLike, n_bins: int) -> tuple[float, ...]:
    """Inner edges cutting ``[min, max]`` of the present values into equal widths.

    The edges are ``numpy.linspace(min, max, n_bins + 1)[1:-1]`` (as scikit-learn's
    ``KBinsDiscretizer(strategy="uniform")``); a constant or empty column gives no edge.

    Parameters
    ----------
    values : array_like, 1-D
        Numbers; ``NaN`` (missing) are ignored.
    n_bins : int

    Returns
    -------
    tuple of float

    Examples
    --------
    >>> equal_width_edges([0.0, 10.0, np.nan, 4.0], 4)
    (2.5, 5.0, 7.5)
    """
    present = _present(values, n_bins)
    if present.size == 0 or present.min() == present.max():
        return ()
    cuts = np.unique(np.linspace(present.min(), present.max(), n_bins + 1)[1:-1])
    return tuple(float(edge) for edge in cuts)


def fit_bins(
    name: str,
    values: npt.ArrayLike,
    *,
    method: Literal["quantile", "equal_width"] = "quantile",
    n_bins: int = 10,
    categorical: bool = False,
    rare_share: float = 0.01,
    min_bin_rows: int = 0,
) -> FeatureBins:
    """Unsupervised fine bins of one party's own column (no label is used).

    Numeric: edges by :func:`quantile_edges` or :func:`equal_width_edges`, then
    adjacent bins are merged until every value bin holds at least
    ``max(min_bin_rows, 1)`` of the column's rows (empty bins always go): the bin
    with the fewest rows joins its smaller neighbour (the left one on a tie), until
    one bin is left.  Categorical: each category holding at least ``rare_share`` of
    the present cells and at least ``min_bin_rows`` rows is a group of its own
    (most frequent first, ties by name); the others form the last "other" group,
    which joins the smallest group (the last one on a tie) when it holds between 1
    and ``min_bin_rows - 1`` rows.  Missing cells have their own last bin (empty
    when the column has none, so that missing cells met later score as neutral);
    when there are between 1 and ``min_bin_rows - 1`` of them, there is no missing
    bin and they join the value bin with the most rows (the first on a tie:
    ``missing_bin=False``, ``missing_to`` that bin), as a most-frequent-value
    imputation would, so no bin holds a handful of customers.

    Parameters
    ----------
    name : str
        The column name.
    values : array_like, 1-D
        Numeric: numbers with ``NaN`` for missing (``±inf`` are refused).
        Categorical: strings with ``None``, ``NaN`` or ``""`` for missing.
    method : {"quantile", "equal_width"}, default "quantile"
        Numeric edges; ignored for a categorical column.
    n_bins : int, default 10
        Numeric: at most this many value bins.
    categorical : bool, default False
        Bin the column as categories.
    rare_share : float, default 0.01
        Categories holding less than this share of the present cells are grouped
        into "other".
    min_bin_rows : int, default 0
        Merge value bins holding fewer rows.

    Returns
    -------
    FeatureBins

    Raises
    ------
    BinningError
        If an argument is out of range or a value is unusable.

    Examples
    --------
    >>> fit_bins("x", [1.0, 2.0, 3.0, 4.0, np.nan], n_bins=2).labels()
    ['(-inf, 2.5]', '(2.5, inf)', 'missing']
    >>> fit_bins("c", ["a", "b", "a", "c", None], categorical=True, rare_share=0.3).labels()
    ['{a}', 'other {b, c}', 'missing']
    """
    if not isinstance(name, str) or not name:
        raise BinningError(f"a feature name must be a non-empty string, got {name!r}")
    if method not in METHODS:
        raise BinningError(
            f"feature {name!r}: unknown binning method {method!r}; choose one of "
            f"{', '.join(METHODS)}"
        )
    _positive_count(n_bins, "n_bins", name)
    if type(min_bin_rows) is not int or min_bin_rows < 0:
        raise BinningError(
            f"feature {name!r}: min_bin_rows must be a non-negative integer, got {min_bin_rows!r}"
        )
    if not isinstance(rare_share, (int, float)) or not 0.0 <= float(rare_share) < 1.0:
        raise BinningError(f"feature {name!r}: rare_share must be in [0, 1), got {rare_share!r}")
    if categorical:
        return _fold_missing(
            _fit_categories(name, values, float(rare_share), min_bin_rows), values, min_bin_rows
        )
    numbers = _as_numbers(values, name)
    if np.isinf(numbers).any():
        raise BinningError(
            f"feature {name!r}: {int(np.isinf(numbers).sum())} infinite value(s); "
            "replace them by finite numbers or mark them missing (NaN)"
        )
    cut = quantile_edges if method == "quantile" else equal_width_edges
    bins = FeatureBins(name, "numeric", edges=cut(numbers, n_bins))
    present = numbers[~np.isnan(numbers)]
    counts = np.bincount(
        np.searchsorted(bins._edge_array, present, side="left"), minlength=bins.n_value_bins
    )
    merged = bins.merge(_merge_small(counts.tolist(), max(min_bin_rows, 1)))
    return _fold_missing(merged, numbers, min_bin_rows)


def _fold_missing(bins: FeatureBins, values: npt.ArrayLike, min_rows: int) -> FeatureBins:
    """Too few missing cells (1 to ``min_rows - 1``) join the largest value bin."""
    rows = bins.rows_per_bin(values)
    if not 0 < rows[-1] < min_rows:
        return bins
    return FeatureBins(
        bins.name,
        bins.kind,
        edges=bins.edges,
        groups=bins.groups,
        missing_bin=False,
        missing_to=int(np.argmax(rows[:-1])),
    )


def _fit_categories(
    name: str, values: npt.ArrayLike, rare_share: float, min_rows: int
) -> FeatureBins:
    """Categorical bins: frequent categories alone, the rest in the last group."""
    probe = FeatureBins(name, "categorical", groups=((),))
    codes, missing = probe._assign_categories(values)  # validates every cell
    del codes
    cells = np.asarray(values, dtype=object)[~missing]
    counts = Counter(cells.tolist())
    floor = max(rare_share * len(cells), min_rows, 1)
    frequent = sorted((c for c in counts if counts[c] >= floor), key=lambda c: (-counts[c], c))
    rare = tuple(sorted(c for c in counts if counts[c] < floor))
    groups: list[tuple[str, ...]] = [(category,) for category in frequent]
    rare_rows = sum(counts[c] for c in rare)
    if 0 < rare_rows < min_rows and groups:
        sizes = [sum(counts[c] for c in group) for group in groups]
        smallest = len(sizes) - 1 - int(np.argmin(sizes[::-1]))
        rare = tuple(sorted(groups.pop(smallest) + rare))
    return FeatureBins(name, "categorical", groups=(*groups, rare))


def _merge_small(counts: list[int], floor: int) -> list[list[int]]:
    """Runs of adjacent bins such that every run holds at least ``floor`` rows."""
    runs = [[index] for index in range(len(counts))]
    sizes = list(counts)
    while len(runs) > 1:
        small = [position for position, size in enumerate(sizes) if size < floor]
        if not small:
            break
        position = min(small, key=lambda p: sizes[p])
        if position == 0:
            neighbour = 1
        elif position == len(runs) - 1:
            neighbour = position - 1
        else:
            neighbour = position - 1 if sizes[position - 1] <= sizes[position + 1] else position + 1
        left, right = sorted((position, neighbour))
        runs[left : right + 1] = [runs[left] + runs[right]]
        sizes[left : right + 1] = [sizes[left] + sizes[right]]
    return runs


def _present(values: npt.ArrayLike, n_bins: int) -> FloatArray:
    _positive_count(n_bins, "n_bins", "")
    numbers = _as_numbers(values, "")
    present = numbers[~np.isnan(numbers)]
    if not np.isfinite(present).all():
        raise BinningError("edges need finite values; replace infinite ones or mark them NaN")
    return present


def _positive_count(value: object, what: str, name: str) -> None:
    if type(value) is not int or value < 1:
        where = f"feature {name!r}: " if name else ""
        raise BinningError(f"{where}{what} must be a positive integer, got {value!r}")


def _as_numbers(values: npt.ArrayLike, name: str) -> FloatArray:
    where = f"feature {name!r}: " if name else ""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BinningError(
            f"{where}numeric values must be numbers (NaN for missing): {error}; "
            "bin a text column as categorical"
        ) from error
    if numbers.ndim != 1:
        raise BinningError(f"{where}values must be a 1-D array, got shape {numbers.shape}")
    return numbers


def _is_missing_category(cell: object) -> bool:
    if cell is None or (isinstance(cell, str) and cell == ""):
        return True
    return isinstance(cell, (float, np.floating)) and math.isnan(cell)


def _edges(edges: object, error: Any) -> tuple[float, ...]:
    if not isinstance(edges, tuple):
        raise error(f"edges must be a tuple of numbers, got {type(edges).__name__}")
    if not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in edges):
        raise error(f"edges must be numbers, got {edges!r}")
    try:
        numbers = tuple(float(e) for e in edges)
    except OverflowError:
        raise error(f"edges must be finite, got {edges!r}") from None
    if not all(math.isfinite(e) for e in numbers) or any(
        low >= high for low, high in itertools.pairwise(numbers)
    ):
        raise error(f"edges must be finite and strictly increasing, got {numbers!r}")
    return numbers


def _groups(groups: object, error: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(groups, tuple) or not all(isinstance(g, tuple) for g in groups):
        raise error("groups must be a tuple of tuples of categories")
    seen: set[str] = set()
    for index, group in enumerate(groups):
        if not group and index != len(groups) - 1:
            raise error(f"group {index} is empty; only the last ('other') group may be")
        for category in group:
            if not isinstance(category, str) or not category:
                raise error(f"categories must be non-empty strings, got {category!r}")
            if category in seen:
                raise error(f"category {category!r} is in two groups")
            seen.add(category)
    return groups


def _runs(runs: object, n_bins: int, error: Any) -> list[tuple[int, ...]]:
    if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence) or not runs:
        raise error(f"runs must be a non-empty list of lists of bin indices, got {runs!r}")
    parts: list[tuple[int, ...]] = []
    for run in runs:
        if isinstance(run, (str, bytes)) or not isinstance(run, Sequence) or not run:
            raise error(f"each run must be a non-empty list of bin indices, got {run!r}")
        indices = tuple(run)
        if not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n_bins
            for i in indices
        ):
            raise error(f"bin indices must be integers in [0, {n_bins}), got {list(indices)!r}")
        parts.append(tuple(int(i) for i in indices))
    return parts


def _short_number(value: float) -> str:
    """``value`` for a label: integers in full, others to 6 significant digits."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _number(value: float) -> str:
    """Shortest text that reads back as ``value`` (integers without ``.0``)."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)

"""Column checks for estimators that take tables: one rule, written once.

Every estimator of the Python API that learns from columns (the hetero logistic
regression today; binning and scorecards to come) records the columns it was fitted
with and applies this module's rules whenever it meets data again:

* a DataFrame's columns are matched **by name**: the same names in another order are
  reordered to the fitted order; a missing or an unexpected column is an error that
  names them (never a silent score on the wrong column);
* an array (or a DataFrame without string column names) is taken **by position**,
  and its width must be the fitted width;
* values must be finite numbers in a 2-D table; errors are
  :class:`~vfl.exceptions.DataError` (a ``ValueError``), or :class:`ColumnTypeError`
  (also a ``TypeError``) for values that are not numbers at all.

Feature names follow scikit-learn's convention: a table has names when every column
label is a string (``feature_names_in_``); integer labels (a ``RangeIndex``) mean no
names; a mix of both is refused.

Examples
--------
>>> import pandas as pd
>>> fitted = feature_names(pd.DataFrame({"age": [30.0], "income": [1.0]}))
>>> fitted
['age', 'income']
>>> later = pd.DataFrame({"income": [2.0, 3.0], "age": [40.0, 50.0]})  # another order
>>> match_columns(later, fitted, 2, what="X", owner="Scorecard").tolist()
[[40.0, 2.0], [50.0, 3.0]]
>>> renamed = later.rename(columns={"age": "AGE"})
>>> match_columns(renamed, fitted, 2, what="X", owner="Scorecard")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
vfl.exceptions.DataError: X's columns do not match ...: missing ['age'], unexpected ['AGE']; ...
"""

from __future__ import annotations

import numbers
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vfl.exceptions import DataError

__all__ = [
    "ColumnTypeError",
    "as_matrix",
    "column_positions",
    "feature_names",
    "match_columns",
]

FloatArray = npt.NDArray[np.float64]


class ColumnTypeError(DataError, TypeError):
    """A table holds values that are not numbers (or is of a type that is not a table)."""


def feature_names(data: object) -> list[str] | None:
    """The column names of a table, when every column label is a string.

    Parameters
    ----------
    data : object
        A DataFrame (pandas, or anything with a ``columns`` attribute), an array or a
        list of rows.

    Returns
    -------
    list of str or None
        The names, in order; ``None`` for arrays, lists and tables whose column labels
        are not strings (for example pandas' default ``RangeIndex``).

    Raises
    ------
    DataError
        If some column labels are strings and others are not.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> feature_names(pd.DataFrame({"a": [1], "b": [2]})), feature_names(np.ones((1, 2)))
    (['a', 'b'], None)
    >>> feature_names(pd.DataFrame(np.ones((1, 2))))  # integer labels: no names
    >>> feature_names(pd.DataFrame({"a": [1], 0: [2]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: column labels must be all strings ...; got a mix of int and str: ...
    """
    columns = getattr(data, "columns", None)
    if columns is None or isinstance(data, np.ndarray):
        return None
    labels = list(columns)
    kinds = sorted({type(label).__name__ for label in labels})
    strings = [isinstance(label, str) for label in labels]
    if labels and all(strings):
        return [str(label) for label in labels]
    if any(strings):
        raise DataError(
            "column labels must be all strings (they are matched by name) or none (columns "
            f"are taken by position); got a mix of {' and '.join(kinds)}: convert them, for "
            "example with X.columns = X.columns.astype(str)"
        )
    return None


def as_matrix(data: object, what: str, *, min_features: int = 1) -> FloatArray:
    """A 2-D float64 array of finite values from a DataFrame, an array or a list of rows.

    Parameters
    ----------
    data : object
        The table.
    what : str
        How errors name it (``"X"``, ``"hosts[0]"``...).
    min_features : int, default 1
        The fewest columns accepted (0 lets a party hold no feature at all).

    Returns
    -------
    numpy.ndarray
        A new or converted ``(rows, columns)`` float64 array (at least one row).

    Raises
    ------
    DataError
        If the table is not 2-D, is empty, holds a missing or infinite value, or
        holds values that are not numbers (:class:`ColumnTypeError` when they are not
        even strings, such as objects, or when ``data`` is sparse).

    Examples
    --------
    >>> as_matrix([[1, 2], [3, 4]], "X").dtype
    dtype('float64')
    >>> as_matrix([[1.0, float("nan")]], "X")
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: X holds a missing (NaN) or infinite (inf) value; clean the data first
    """
    from sklearn.utils import check_array  # type: ignore[import-untyped]

    if data is None:
        raise DataError(f"{what} is None; pass a table (a DataFrame, an array or rows)")
    try:
        matrix: FloatArray = check_array(
            data,
            dtype=np.float64,
            ensure_all_finite=False,
            ensure_min_features=min_features,
            input_name=what,
        )
    except TypeError as error:
        raise ColumnTypeError(f"{what} must be a dense table of numbers: {error}") from error
    except ValueError as error:
        raise DataError(f"{what} must be a 2-D table of numbers: {error}") from error
    if not np.isfinite(matrix).all():
        raise DataError(
            f"{what} holds a missing (NaN) or infinite (inf) value; clean the data first"
        )
    return matrix


def match_columns(
    data: object,
    names: Sequence[str] | None,
    width: int,
    *,
    what: str,
    owner: str,
    min_features: int = 1,
) -> FloatArray:
    """``data`` as a matrix whose columns are the fitted ones, in the fitted order.

    Parameters
    ----------
    data : object
        The table to check (DataFrame, array or list of rows).
    names : sequence of str or None
        The column names recorded at fit; ``None`` when the estimator was fitted
        without names.
    width : int
        The number of columns at fit.
    what : str
        How errors name ``data``.
    owner : str
        How errors name the estimator (or the party model).
    min_features : int, default 1
        See :func:`as_matrix`.

    Returns
    -------
    numpy.ndarray
        ``(rows, width)`` float64: a DataFrame's columns reordered by name; an array
        as it is.

    Raises
    ------
    DataError
        If a named table lacks a fitted column or has another one (both listed), has
        a column twice, or if the width differs from ``width``; or see
        :func:`as_matrix`.

    Warns
    -----
    UserWarning
        If ``data`` has column names but the estimator was fitted without any
        (scikit-learn's warning): its columns are then taken by position.

    Examples
    --------
    >>> import numpy as np
    >>> match_columns(np.ones((2, 3)), ["a", "b"], 2, what="X", owner="Scorecard")
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: X has 3 features, but Scorecard is expecting 2 features as input
    """
    given = feature_names(data)
    matrix = as_matrix(data, what, min_features=min_features)
    if given is not None and names is not None:
        repeated = sorted(name for name, count in Counter(given).items() if count > 1)
        if repeated:
            raise DataError(f"{what} has the column(s) {repeated} more than once")
        if list(given) != list(names):
            present, expected = set(given), set(names)
            missing = [name for name in names if name not in present]
            unexpected = [name for name in given if name not in expected]
            if missing or unexpected:
                raise DataError(
                    f"{what}'s columns do not match the columns {owner} was fitted with: "
                    f"missing {missing}, unexpected {unexpected}; pass exactly the fitted "
                    "columns (in any order)"
                )
            position = {name: index for index, name in enumerate(given)}
            matrix = matrix[:, [position[name] for name in names]]
    elif given is not None:
        warnings.warn(
            f"{what} has feature names, but {owner} was fitted without feature names; "
            "its columns are taken by position",
            UserWarning,
            stacklevel=3,
        )
    if matrix.shape[1] != width:
        raise DataError(
            f"{what} has {matrix.shape[1]} features, but {owner} is expecting {width} "
            "features as input"
        )
    return matrix


def column_positions(
    columns: Sequence[object], names: Sequence[str] | None, width: int, *, what: str
) -> list[int]:
    """The positions of ``columns``, given by name (strings) or by position (integers).

    Parameters
    ----------
    columns : sequence of str or int
        Column names (the table must have names) or 0-based positions (negative
        positions are refused).
    names : sequence of str or None
        The table's column names, or ``None`` if it has none.
    width : int
        The table's number of columns.
    what : str
        How errors name the selection.

    Returns
    -------
    list of int
        One position per entry of ``columns``, in that order.

    Raises
    ------
    DataError
        For an unknown name, a position out of range, a name on a table without
        names, a column listed twice, or an entry that is neither a string nor an
        integer.

    Examples
    --------
    >>> column_positions(["c", "a"], ["a", "b", "c"], 3, what="the guest's columns")
    [2, 0]
    >>> column_positions([1], None, 3, what="the guest's columns")
    [1]
    >>> column_positions(["d"], ["a", "b", "c"], 3, what="the guest's columns")
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: the guest's columns name ['d'], which the table does not have; ...
    """
    if isinstance(columns, str | bytes) or not isinstance(columns, Sequence | np.ndarray):
        raise DataError(f"{what} must be a list of column names or positions, not {columns!r}")
    positions: list[int] = []
    unknown: list[str] = []
    index = {name: position for position, name in enumerate(names or [])}
    for column in columns:
        if isinstance(column, str):
            if names is None:
                raise DataError(
                    f"{what} name columns ({column!r}...) but the table has no column names; "
                    "pass a DataFrame with string column names, or give positions"
                )
            if column not in index:
                unknown.append(column)
                continue
            positions.append(index[column])
        elif isinstance(column, bool | np.bool_):
            raise DataError(f"{what} must hold column names or positions, not {column!r}")
        elif isinstance(column, numbers.Integral):
            if not 0 <= int(column) < width:
                raise DataError(
                    f"{what} hold the position {int(column)}, but the table has {width} "
                    "column(s) (0-based positions, none negative)"
                )
            positions.append(int(column))
        else:
            raise DataError(f"{what} must hold column names or positions, not {column!r}")
    if unknown:
        raise DataError(
            f"{what} name {unknown}, which the table does not have; its columns are "
            f"{list(names or [])}"
        )
    repeated = sorted(p for p, count in Counter(positions).items() if count > 1)
    if repeated:
        shown = [names[p] for p in repeated] if names is not None else repeated
        raise DataError(f"{what} list the column(s) {shown} more than once")
    return positions

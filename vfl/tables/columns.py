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
  (also a ``TypeError``) for values that are not numbers at all;
* except for binning (:func:`table_columns`), which takes missing values (``NaN``,
  ``None``, ``pd.NA``, empty strings) and text columns, column by column.

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
    "table_columns",
]

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
Column = FloatArray | ObjectArray
"""One column for binning: float64 with ``NaN`` for missing, or object (``str``/``None``)."""

BINNING_ADVICE = (
    "transform the table with vfl.HeteroBinning first (missing values get their own bin, "
    "text columns declared categorical are binned as categories)"
)


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
    >>> as_matrix([[1.0, float("nan")]], "X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: X holds a missing (NaN) or infinite (inf) value; fill or drop ...
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
        advice = f"; for text columns, {BINNING_ADVICE}" if "convert" in str(error) else ""
        raise DataError(f"{what} must be a 2-D table of numbers: {error}{advice}") from error
    if not np.isfinite(matrix).all():
        raise DataError(
            f"{what} holds a missing (NaN) or infinite (inf) value; fill or drop it, or "
            f"{BINNING_ADVICE}"
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
    order = _fitted_order(given, names, what=what, owner=owner)
    if order is not None:
        matrix = matrix[:, order]
    if matrix.shape[1] != width:
        raise DataError(
            f"{what} has {matrix.shape[1]} features, but {owner} is expecting {width} "
            "features as input"
        )
    return matrix


def _fitted_order(
    given: Sequence[str] | None,
    names: Sequence[str] | None,
    *,
    what: str,
    owner: str,
    stacklevel: int = 4,
) -> list[int] | None:
    """Positions that put a named table's columns in the fitted order (``None``: as is)."""
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
            return [position[name] for name in names]
    elif given is not None:
        warnings.warn(
            f"{what} has feature names, but {owner} was fitted without feature names; "
            "its columns are taken by position",
            UserWarning,
            stacklevel=stacklevel,
        )
    return None


def table_columns(
    data: object,
    what: str,
    *,
    categorical: Sequence[str | int] = (),
    names: Sequence[str] | None = None,
    width: int | None = None,
    owner: str = "",
) -> tuple[list[str] | None, list[Column]]:
    """A table as binning takes it: one 1-D array per column, missing values and text kept.

    A column is *text* when it is listed in ``categorical`` or when one of its
    non-missing values is not a number (numeric strings such as ``"1.5"`` are
    numbers); text values become ``str`` (surrounding spaces removed).  Missing values
    are ``None``, ``NaN``, ``pd.NA``/``NaT`` and empty strings.

    Parameters
    ----------
    data : object
        A DataFrame (any column types), an array (numeric, string or object) or a
        list of rows.
    what : str
        How errors name the table.
    categorical : sequence of str or int, default ()
        Columns read as text, by name or position (positions in the fitted order
        when ``names`` is given).
    names, width : optional
        The fitted column names and count: a named table's columns are matched by
        name (as :func:`match_columns` does) and the width is checked.
    owner : str, default ""
        How errors name the estimator.

    Returns
    -------
    tuple of (list of str or None, list of numpy.ndarray)
        The table's column names (``None`` without names) and its columns: float64
        with ``NaN`` for missing values, or object arrays of ``str`` and ``None``.

    Raises
    ------
    DataError
        If the table is not 2-D, has no row or column, holds an infinite number, or
        its columns do not match ``names``/``width``; :class:`ColumnTypeError` for a
        sparse matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"income": [1200.0, None, 3.5], "region": ["north", "", None]})
    >>> names, columns = table_columns(frame, "X")
    >>> names, columns[0].tolist(), columns[1].tolist()
    (['income', 'region'], [1200.0, nan, 3.5], ['north', None, None])
    >>> table_columns([[1, "a"], [2, "b"]], "X", categorical=[0])[1][0].tolist()
    ['1', '2']
    """
    import pandas as pd  # type: ignore[import-untyped]

    given = feature_names(data)
    if hasattr(data, "toarray") or type(data).__module__.startswith("scipy.sparse"):
        raise ColumnTypeError(f"{what} is a sparse matrix; pass a dense table")
    if data is None:
        raise DataError(f"{what} is None; pass a table (a DataFrame, an array or rows)")
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(_two_dimensional(data, what))
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{what} has no rows or no columns (shape {frame.shape})")
    fitted = width is not None
    order = _fitted_order(given, names, what=what, owner=owner, stacklevel=3) if fitted else None
    if order is not None:
        frame = frame.iloc[:, order]
        given = list(names or [])
    if width is not None and frame.shape[1] != width:
        raise DataError(
            f"{what} has {frame.shape[1]} features, but {owner} is "
            f"expecting {width} features as input"
        )
    text = set(column_positions(categorical, given, frame.shape[1], what=f"{what}'s categorical"))
    columns = [
        _binning_column(frame.iloc[:, index], position in text, what, given, position)
        for position, index in enumerate(range(frame.shape[1]))
    ]
    return given, columns


def _two_dimensional(data: object, what: str) -> npt.NDArray[np.generic]:
    """An array or list of rows as a 2-D array (object unless numeric)."""
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        array = np.asarray(data, dtype=object)
    if array.ndim != 2:
        raise DataError(
            f"{what} must be a 2-D table (rows x columns), got {array.ndim} dimension(s); "
            "reshape a single column with X.reshape(-1, 1)"
        )
    return array


def _binning_column(
    series: object, as_text: bool, what: str, names: Sequence[str] | None, position: int
) -> Column:
    """One column of :func:`table_columns`: float64 with NaN, or str/None objects."""
    import pandas as pd

    assert isinstance(series, pd.Series)
    label = repr(names[position]) if names is not None else f"at position {position}"
    if series.dtype.kind in "biuf" and not as_text:
        numbers: FloatArray = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(numbers).any():
            raise DataError(
                f"{what}'s column {label} holds an infinite value; replace it (with a large "
                "number, or NaN for a missing value)"
            )
        return numbers
    values = series.to_numpy(dtype=object, na_value=None)
    missing = pd.isna(values) | np.array([value == "" for value in values], dtype=bool)
    if not as_text:
        try:
            numbers = np.array(
                [
                    np.nan if hole else float(value)
                    for value, hole in zip(values, missing, strict=True)
                ],
                dtype=np.float64,
            )
        except (TypeError, ValueError):
            pass  # a value is not a number: a text column
        else:
            if np.isinf(numbers).any():
                raise DataError(f"{what}'s column {label} holds an infinite value; replace it")
            return numbers
    texts: ObjectArray = np.array(
        [None if hole else _text(value) for value, hole in zip(values, missing, strict=True)],
        dtype=object,
    )
    stripped_empty = np.array([value == "" for value in texts], dtype=bool)
    texts[stripped_empty] = None
    return texts


def _text(value: object) -> str:
    """A category's text: strings stripped, whole floats without ``.0`` (``1.0`` -> ``1``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


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

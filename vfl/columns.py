"""``vfl.columns``, a documented path: the code lives in :mod:`vfl.tables.columns`."""

from vfl.tables.columns import (
    ColumnTypeError,
    as_matrix,
    column_positions,
    feature_names,
    match_columns,
    table_columns,
)

__all__ = [
    "ColumnTypeError",
    "as_matrix",
    "column_positions",
    "feature_names",
    "match_columns",
    "table_columns",
]

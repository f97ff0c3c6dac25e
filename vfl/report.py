"""``vfl.report``, a documented path: the code lives in :mod:`vfl.evaluation.report`."""

from vfl.evaluation.report import (
    METRIC_COLUMNS,
    ModelScores,
    Report,
    format_table,
    write_report,
)

__all__ = [
    "METRIC_COLUMNS",
    "ModelScores",
    "Report",
    "format_table",
    "write_report",
]

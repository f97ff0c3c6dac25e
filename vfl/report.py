"""``vfl.report``, a documented path: the code lives in :mod:`vfl.evaluation.report`."""

from vfl.evaluation.report import (
    METRIC_COLUMNS,
    BinnedFeature,
    ModelScores,
    Report,
    ScorecardEntry,
    format_table,
    write_report,
)

__all__ = [
    "METRIC_COLUMNS",
    "BinnedFeature",
    "ModelScores",
    "Report",
    "ScorecardEntry",
    "format_table",
    "write_report",
]

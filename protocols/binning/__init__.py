"""Binning, weight of evidence, information value, feature selection and scorecards.

The plain mathematics a party runs on its own data (no I/O, no cryptography):

* :mod:`protocols.binning.bins` -- :class:`FeatureBins` (numeric edges or categorical
  groups, a missing bin) and :func:`fit_bins`;
* :mod:`protocols.binning.woe` -- :func:`woe_iv` and the optimal
  :func:`monotone_merge` of adjacent bins;
* :mod:`protocols.binning.selection` -- selection by IV, correlation and VIF filters;
* :mod:`protocols.binning.scorecard` -- points per bin (:class:`PointsScale`);

and the exchange that gives every party the WOE and IV of its own bins without moving
the guest's labels (Paillier, no I/O: role state machines):

* :mod:`protocols.binning.exchange` -- :class:`BinningGuest`, :class:`BinningHost`,
  :class:`BinStatistics`, :class:`LabelNoise`.
"""

from protocols.binning.bins import (
    MISSING,
    OTHER,
    FeatureBins,
    equal_width_edges,
    fit_bins,
    quantile_edges,
)
from protocols.binning.scorecard import PointsScale, base_points, bin_points
from protocols.binning.selection import (
    correlation_filter,
    select_by_iv,
    variance_inflation_factors,
    vif_filter,
)
from protocols.binning.woe import SMOOTHING, merge_counts, monotone_merge, woe_iv

__all__ = [
    "MISSING",
    "OTHER",
    "SMOOTHING",
    "FeatureBins",
    "PointsScale",
    "base_points",
    "bin_points",
    "correlation_filter",
    "equal_width_edges",
    "fit_bins",
    "merge_counts",
    "monotone_merge",
    "quantile_edges",
    "select_by_iv",
    "variance_inflation_factors",
    "vif_filter",
    "woe_iv",
]

# the encrypted exchange of a host's per-bin label counts (helper A)
from protocols.binning.exchange import (
    DEFAULT_MIN_BIN_ROWS,
    BinningGuest,
    BinningHost,
    BinStatistics,
    LabelNoise,
    RowLayout,
)

__all__ += [
    "DEFAULT_MIN_BIN_ROWS",
    "BinStatistics",
    "BinningGuest",
    "BinningHost",
    "LabelNoise",
    "RowLayout",
]

"""The engine users touch: data, runtime, Python API and the ``vfl`` command."""

from typing import TYPE_CHECKING

from vfl.psi import IntersectionResult, intersect
from vfl.tables.models import PartyModel, merge_to_sklearn

if TYPE_CHECKING:
    from vfl.binning import HeteroBinning
    from vfl.hetero_lr import HeteroLogisticRegression
    from vfl.scorecard import Scorecard

__all__ = [
    "HeteroBinning",
    "HeteroLogisticRegression",
    "IntersectionResult",
    "PartyModel",
    "Scorecard",
    "__version__",
    "intersect",
    "merge_to_sklearn",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import the estimators on first use (PEP 562).

    scikit-learn, which it derives from, takes about a second to import; every ``vfl``
    command (``vfl --help`` too) would otherwise pay it.
    """
    if name == "HeteroLogisticRegression":
        from vfl.hetero_lr import HeteroLogisticRegression

        return HeteroLogisticRegression
    if name == "HeteroBinning":
        from vfl.binning import HeteroBinning

        return HeteroBinning
    if name == "Scorecard":
        from vfl.scorecard import Scorecard

        return Scorecard
    raise AttributeError(f"module 'vfl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported estimator included."""
    return sorted({*globals(), *__all__})

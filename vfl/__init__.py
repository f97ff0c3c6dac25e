"""The engine users touch: data, runtime, Python API and the ``vfl`` command."""

from typing import TYPE_CHECKING

from vfl.psi import IntersectionResult, intersect
from vfl.tables.models import PartyModel, merge_to_sklearn

if TYPE_CHECKING:
    from vfl.hetero_lr import HeteroLogisticRegression

__all__ = [
    "HeteroLogisticRegression",
    "IntersectionResult",
    "PartyModel",
    "__version__",
    "intersect",
    "merge_to_sklearn",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import the estimator on first use (PEP 562).

    scikit-learn, which it derives from, takes about a second to import; every ``vfl``
    command (``vfl --help`` too) would otherwise pay it.
    """
    if name == "HeteroLogisticRegression":
        from vfl.hetero_lr import HeteroLogisticRegression

        return HeteroLogisticRegression
    raise AttributeError(f"module 'vfl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported estimator included."""
    return sorted({*globals(), *__all__})

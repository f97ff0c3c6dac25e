"""The engine users touch: data, runtime, Python API and the ``vfl`` command."""

from vfl.hetero_lr import HeteroLogisticRegression
from vfl.models import PartyModel, merge_to_sklearn
from vfl.psi import IntersectionResult, intersect

__all__ = [
    "HeteroLogisticRegression",
    "IntersectionResult",
    "PartyModel",
    "__version__",
    "intersect",
    "merge_to_sklearn",
]

__version__ = "0.1.0"

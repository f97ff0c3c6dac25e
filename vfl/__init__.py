"""The engine users touch: data, runtime, Python API and the ``vfl`` command."""

from vfl.psi import IntersectionResult, intersect

__all__ = ["IntersectionResult", "__version__", "intersect"]

__version__ = "0.1.0"

"""The engine users touch: data, runtime, Python API and the ``vfl`` command."""

__version__ = "0.1.0"

"""Every error the ``vfl`` package raises (the ``crypto`` errors pass through unchanged)."""

from __future__ import annotations

__all__ = ["DataError", "VflError"]


class VflError(Exception):
    """Base class of errors raised by the ``vfl`` package."""


class DataError(VflError, ValueError):
    """A data file is missing, malformed or inconsistent; the message names the cell."""

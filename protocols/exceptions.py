"""Every error the ``protocols`` package raises."""

from __future__ import annotations

__all__ = ["ProtocolError", "UnexpectedMessageError"]


class ProtocolError(Exception):
    """A role cannot continue: a peer broke the protocol or the inputs are unusable.

    The message says what was wrong and which party caused it.
    """


class UnexpectedMessageError(ProtocolError):
    """A message arrived that the role's current state does not allow."""

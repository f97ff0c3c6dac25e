"""Structured logging: one line per event, ``key=value`` fields, never payload data.

Code logs events with ``extra={"fields": {...}}``; only metadata goes in there
(party and peer names, message kinds, sizes, durations).  Message payloads, data
values, labels and keys are never passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["KeyValueFormatter", "configure_logging", "event"]

LOGGER_NAME = "vfl"


class KeyValueFormatter(logging.Formatter):
    """``2026-11-22T10:00:00 INFO vfl.runner sent peer=host1 kind=SUM_PARTIAL bytes=812``."""

    def __init__(self) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """Render the message and its ``fields`` as ``key=value`` pairs."""
        fields = getattr(record, "fields", {}) or {}
        rendered = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
        stamp = self.formatTime(record, self.datefmt)
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        return f"{line} {rendered}" if rendered else line


def _value(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Send ``vfl`` log events to ``stream`` (stderr by default) as key=value lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event with metadata fields (never pass data values here)."""
    logger.log(level, name, extra={"fields": fields})

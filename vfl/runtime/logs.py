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
    """``2026-11-22T10:00:00 INFO vfl.runner sent peer=host1 kind=SUM_PARTIAL bytes=812``.

    Values with spaces (or empty ones) are quoted.

    Examples
    --------
    >>> import logging
    >>> record = logging.makeLogRecord({"name": "vfl.runner", "levelname": "INFO",
    ...                                 "msg": "sent", "created": 0.0,
    ...                                 "fields": {"peer": "host1", "note": "two words"}})
    >>> KeyValueFormatter().format(record).split(" ", 1)[1]
    'INFO vfl.runner sent peer=host1 note="two words"'
    """

    def __init__(self) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """Render the message and its ``fields`` as ``key=value`` pairs.

        Parameters
        ----------
        record : logging.LogRecord
            The record; its optional ``fields`` attribute holds the metadata.

        Returns
        -------
        str
            ``"<time> <level> <logger> <message> key=value ..."``.
        """
        fields = getattr(record, "fields", {}) or {}
        rendered = " ".join(f"{key}={_value(value)}" for key, value in fields.items())
        stamp = self.formatTime(record, self.datefmt)
        line = f"{stamp} {record.levelname} {record.name} {record.getMessage()}"
        return f"{line} {rendered}" if rendered else line


def _value(value: object) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when configured.

    Background threads (TLS listeners) may log after the stderr of the moment of
    configuration was replaced and closed (an embedding application, pytest's capture).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Send ``vfl`` log events to ``stream`` (stderr by default) as key=value lines.

    Replaces the handlers of the ``vfl`` logger (so calling it again does not
    duplicate lines) and stops its events from reaching the root logger.

    Parameters
    ----------
    level : str or int, default "INFO"
        The lowest level logged.
    stream : file-like, optional
        Where lines go (default :data:`sys.stderr`).

    Examples
    --------
    >>> import io
    >>> import logging
    >>> logger = logging.getLogger("vfl")
    >>> saved = logger.handlers[:], logger.level, logger.propagate
    >>> stream = io.StringIO()
    >>> configure_logging("WARNING", stream)
    >>> event(logging.getLogger("vfl.demo"), "skipped", rows=3)
    >>> event(logging.getLogger("vfl.demo"), "slow", logging.WARNING, seconds=12.5)
    >>> stream.getvalue().split(" ", 1)[1].strip()  # after the time stamp
    'WARNING vfl.demo slow seconds=12.5'
    >>> logger.handlers[:] = saved[0]  # restore the previous configuration
    >>> logger.setLevel(saved[1])
    >>> logger.propagate = saved[2]
    """
    handler: logging.Handler = (
        _CurrentStderrHandler() if stream is None else logging.StreamHandler(stream)
    )
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one event with metadata fields (never pass data values here).

    Parameters
    ----------
    logger : logging.Logger
        Where to log (a ``vfl.*`` logger).
    name : str
        The event, e.g. ``"sent"``.
    level : int, default logging.INFO
        The level.
    **fields
        Metadata: party names, message kinds, sizes, durations.

    Examples
    --------
    >>> import logging
    >>> logger = logging.getLogger("vfl.example")
    >>> seen = []
    >>> handler = logging.Handler()
    >>> handler.emit = seen.append
    >>> logger.addHandler(handler)
    >>> event(logger, "received", logging.WARNING, peer="host", bytes=812)
    >>> logger.removeHandler(handler)
    >>> seen[0].getMessage(), seen[0].fields
    ('received', {'peer': 'host', 'bytes': 812})
    """
    logger.log(level, name, extra={"fields": fields})

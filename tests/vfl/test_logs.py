"""Log configuration: lines go to the stderr of the moment they are logged."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from vfl.runtime.logs import configure_logging, event


def test_default_logging_follows_sys_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("vfl")
    saved = logger.handlers[:], logger.level, logger.propagate
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging("INFO")
        first.close()  # e.g. a capture that ended while a background thread still logs
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        event(logging.getLogger("vfl.transport"), "refused", peer="bank-b")
        assert second.getvalue().rstrip().endswith("INFO vfl.transport refused peer=bank-b")
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]

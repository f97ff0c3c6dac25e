"""SIGTERM stops a party the way Ctrl-C does: peers are told, the exit status says why.

``kill PID`` (SIGTERM: what service managers, ``docker stop`` and schedulers send)
used to end a party at once, with no line in its log and nothing sent to its peers,
which then waited for their timeout.  Inside :func:`terminate_like_interrupt` the
signal raises :class:`Terminated`, a :class:`KeyboardInterrupt`: the running session
sends every reachable peer an ``Abort`` naming it, logs ``aborted``, checkpoints
written so far stay for ``--resume``, and the CLI exits with :data:`EXIT_TERMINATED`
(143, i.e. 128 + 15; Ctrl-C: :data:`EXIT_INTERRUPTED`, 130).

Examples
--------
>>> import os, signal, time
>>> with terminate_like_interrupt():
...     try:
...         os.kill(os.getpid(), signal.SIGTERM)
...         time.sleep(5)  # interrupted by the handler
...     except Terminated as stop:
...         print(stop)
received SIGTERM
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "EXIT_TERMINATED", "Terminated", "terminate_like_interrupt"]

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (SIGINT): 128 + 2."""
EXIT_TERMINATED = 143
"""Exit status after SIGTERM: 128 + 15."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; handled wherever Ctrl-C is."""

    def __init__(self, number: int = signal.SIGTERM) -> None:
        super().__init__(f"received {signal.Signals(number).name}")


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread.

    Outside the main thread (where signal handlers cannot be set) it changes nothing.
    The previous handler is restored on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, frame: FrameType | None) -> None:
        raise Terminated(number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

"""Progress of a party's step: a bar on a terminal, or plain lines for logs and pipes.

``"bar"`` draws a tqdm bar on stderr (interactive use); ``"lines"`` prints a line such
as ``bank-a: hetero_lr  40% (29/72) 12.3 s, about 18 s left`` on stderr each time a
tenth more of the step is done (for a supervisor that relays a child's output, like
``vfl demo``, or for log files); ``"none"`` stays silent (the log has the events).
Progress lines carry counts only, never data.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal, TextIO

__all__ = ["PROGRESS_STYLES", "Progress", "ProgressStyle", "resolve_style"]

ProgressStyle = Literal["bar", "lines", "none"]
PROGRESS_STYLES = ("auto", "bar", "lines", "none")
"""What ``vfl run --progress`` accepts (``auto``: a bar on a terminal, else none)."""


def resolve_style(choice: bool | str | None, stream: TextIO | None = None) -> ProgressStyle:
    """The style to use: ``True``/``False``/``None`` (auto) or a name in :data:`PROGRESS_STYLES`.

    Examples
    --------
    >>> resolve_style(False), resolve_style("lines"), resolve_style(True)
    ('none', 'lines', 'bar')
    """
    if choice is None or choice == "auto":
        return "bar" if (stream or sys.stderr).isatty() else "none"
    if choice is True or choice == "bar":
        return "bar"
    if choice is False or choice == "none":
        return "none"
    if choice == "lines":
        return "lines"
    raise ValueError(f"progress must be one of {PROGRESS_STYLES} or a bool, not {choice!r}")


class Progress:
    """One step's progress, shown in ``style``.

    Parameters
    ----------
    label : str
        Shown before the counts, e.g. ``"bank-a: psi"``.
    total : int
        Units of work expected (may change later through :meth:`update`).
    style : {"bar", "lines", "none"}
    stream : file, optional
        Where to write (stderr by default).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> progress = Progress("bank-a: psi", 4, "lines", stream=out)
    >>> for done in range(1, 5):
    ...     progress.update(done, 4)
    >>> progress.close()
    >>> [line.split(" (")[0] for line in out.getvalue().splitlines()]
    ['bank-a: psi  25%', 'bank-a: psi  50%', 'bank-a: psi  75%', 'bank-a: psi 100%']
    """

    def __init__(
        self, label: str, total: int, style: ProgressStyle, *, stream: TextIO | None = None
    ) -> None:
        self._label = label
        self._style = style
        self._stream = stream or sys.stderr
        self._started = time.perf_counter()
        self._shown_tenths = 0
        self._bar: Any = None
        if style == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="step", leave=False, file=self._stream)

    def update(self, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` units are finished."""
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()
        elif self._style == "lines" and total > 0:
            tenths = min(10, (10 * done) // total)
            if tenths > self._shown_tenths:
                self._shown_tenths = tenths
                self._line(done, total)

    def _line(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self._started
        left = ""
        if 0 < done < total:
            left = f", about {elapsed * (total - done) / done:.0f} s left"
        percent = 100 * done // total
        print(
            f"{self._label} {percent:3d}% ({done}/{total}) {elapsed:.1f} s{left}",
            file=self._stream,
            flush=True,
        )

    def close(self) -> None:
        """Remove the bar (the lines style has printed its last line)."""
        if self._bar is not None:
            self._bar.close()

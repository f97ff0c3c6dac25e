"""Timing helpers: run a callable until a time budget is spent and report a rate.

The garbage collector is paused while a measurement runs (as :mod:`timeit` does),
so that a collection triggered by an earlier allocation is not charged to the
operation being timed.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Timing", "measure", "measure_each", "median_seconds", "time_once"]

T = TypeVar("T")
R = TypeVar("R")

_CLOCK_CHECK_SECONDS = 0.005
"""How often :func:`measure_each` reads the clock (keeps its overhead negligible)."""


@dataclass(frozen=True)
class Timing:
    """The outcome of a measurement: ``ops`` operations in ``seconds`` over ``calls`` calls."""

    ops: int
    seconds: float
    calls: int

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds > 0 else float("inf")

    @property
    def seconds_per_call(self) -> float:
        """Mean wall time of one call."""
        return self.seconds / self.calls


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_once(fn: Callable[[], R]) -> tuple[float, R]:
    """Time a single call.

    Parameters
    ----------
    fn : callable
        Called once without arguments.

    Returns
    -------
    tuple
        ``(seconds, result)``.
    """
    with _gc_paused():
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    return elapsed, result


def measure(
    fn: Callable[[], R],
    ops_per_call: int,
    *,
    budget: float,
    min_calls: int = 1,
    max_calls: int | None = None,
) -> tuple[Timing, R]:
    """Call ``fn`` repeatedly until ``budget`` seconds are spent.

    Parameters
    ----------
    fn : callable
        The operation; one call performs ``ops_per_call`` operations.
    ops_per_call : int
        Operations per call (e.g. the vector length).
    budget : float
        Stop once the timed calls add up to at least this many seconds.
    min_calls : int, default 1
        Always make at least this many calls, whatever the budget.
    max_calls : int, optional
        Never make more calls than this.

    Returns
    -------
    tuple
        ``(Timing, result of the last call)``.
    """
    if ops_per_call < 1 or min_calls < 1:
        raise ValueError("ops_per_call and min_calls must be positive")
    total = 0.0
    calls = 0
    while True:
        elapsed, result = time_once(fn)
        total += elapsed
        calls += 1
        if max_calls is not None and calls >= max_calls:
            break
        if calls >= min_calls and total >= budget:
            break
    return Timing(ops=ops_per_call * calls, seconds=total, calls=calls), result


def measure_each(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    budget: float,
    min_items: int = 1,
    max_items: int | None = None,
) -> tuple[Timing, list[R]]:
    """Apply ``fn`` to one item after another (cycling) until ``budget`` seconds are spent.

    This is the natural loop of a one-number-at-a-time API such as ``phe``.

    Parameters
    ----------
    fn : callable
        Applied to each item; one application is one operation.
    items : sequence
        The inputs, reused from the start when exhausted.
    budget : float
        Stop once the loop has run at least this many seconds.
    min_items : int, default 1
        Always process at least this many items.
    max_items : int, optional
        Never process more items than this (e.g. ``len(items)`` to avoid reuse).

    Returns
    -------
    tuple
        ``(Timing, results)``; ``results`` holds the results of the first pass
        over ``items`` only (one per distinct item).
    """
    if not items:
        raise ValueError("measure_each needs at least one item")
    size = len(items)
    results: list[R] = []
    count = 0
    next_check = 1
    with _gc_paused():
        start = time.perf_counter()
        while True:
            result = fn(items[count % size])
            if count < size:
                results.append(result)
            count += 1
            if max_items is not None and count >= max_items:
                break
            if count >= next_check:
                elapsed = time.perf_counter() - start
                if count >= min_items and elapsed >= budget:
                    break
                per_item = elapsed / count
                next_check = count + max(1, int(_CLOCK_CHECK_SECONDS / max(per_item, 1e-9)))
        elapsed = time.perf_counter() - start
    return Timing(ops=count, seconds=elapsed, calls=count), results


def median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time of ``runs`` calls of ``fn``.

    Returns
    -------
    tuple
        ``(median seconds, total seconds)``.
    """
    if runs < 1:
        raise ValueError("runs must be positive")
    times = [time_once(fn)[0] for _ in range(runs)]
    return statistics.median(times), sum(times)

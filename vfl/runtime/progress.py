"""Progress of a party's step: a bar on a terminal, or plain lines for logs and pipes.

``"bar"`` draws a tqdm bar on stderr (interactive use); ``"lines"`` prints a line such
as ``bank-a: hetero_lr  40% (29/72) 12.3 s, about 18 s left`` on stderr each time a
tenth more of the step is done (for a supervisor that relays a child's output, like
``vfl demo``, or for log files); ``"none"`` stays silent (the log has the events).
Progress lines carry counts only, never data.

:class:`EpochLog` logs one INFO line per finished training epoch (logger
``vfl.progress``): the epoch, the loss and validation metrics when this party knows
them, and the seconds the epoch took.  :func:`log_training_estimate` logs, before
training, a rough estimate of its time from a short calibration of this machine's
Paillier rates (docs/logs.md states the method).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

__all__ = [
    "PROGRESS_STYLES",
    "EpochLog",
    "PaillierRates",
    "Progress",
    "ProgressStyle",
    "calibrate_paillier",
    "epochs_to_settle",
    "log_training_estimate",
    "resolve_style",
]

LOGGER = logging.getLogger("vfl.progress")
EPOCH_METRICS = ("loss", "validation_auc", "validation_ks")
"""The keys of a role's ``history`` entries an epoch line shows (aggregates, no data)."""

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
    bounded : bool, default False
        ``total`` is only an upper bound (training that may stop before ``max_iter``
        on convergence or early stopping): lines then say "at most about N s left".

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
        self,
        label: str,
        total: int,
        style: ProgressStyle,
        *,
        stream: TextIO | None = None,
        bounded: bool = False,
    ) -> None:
        self._label = label
        self._bounded = bounded
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
            bound = "at most " if self._bounded else ""
            left = f", {bound}about {elapsed * (total - done) / done:.0f} s left"
            left += " (if it runs to max_iter)" if self._bounded else ""
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


class EpochLog:
    """Logs an INFO line each time a training role finishes an epoch.

    Works on any role with a ``history`` list of per-epoch dicts (each with an
    ``"epoch"`` key; the hetero_lr guest, hosts and shared-mode parties keep one);
    roles without one are left alone.  Only the keys in :data:`EPOCH_METRICS` are
    shown, and only when this party knows them (a host knows no loss in arbiter
    mode); epochs restored from a checkpoint on resume are not repeated.

    Parameters
    ----------
    party : str
        This party's name.
    step : int
        The step's index in the job.
    label : str
        The step's type.

    After each epoch but the last, the line also says how long the rest may take:
    ``at_most_seconds_left`` extrapolates the time per batch so far to the batches
    ``max_iter`` allows (an upper bound: training often stops earlier), and, when
    training stops on the loss (``convergence = "loss"``) and this party knows it,
    ``loss_settles_in_epochs`` extrapolates the shrinking of the last two loss
    changes (:func:`epochs_to_settle`; absent when the trend says nothing yet).

    Examples
    --------
    >>> import io
    >>> from vfl.runtime.logs import configure_logging
    >>> stream = io.StringIO()
    >>> logger = logging.getLogger("vfl")
    >>> saved = logger.handlers[:], logger.level, logger.propagate
    >>> configure_logging("INFO", stream)
    >>> class Role:
    ...     resumed_after = None
    ...     history = [{"epoch": 0, "loss": 0.6931, "weight_change": 0.5}]
    >>> log = EpochLog("bank-a", 1, "hetero_lr")
    >>> log.update(Role())
    >>> log.update(Role())  # nothing new: no second line
    >>> line = stream.getvalue().strip().split(" ", 1)[1]
    >>> line.rsplit(" seconds=", 1)[0]
    'INFO vfl.progress epoch finished party=bank-a step=1 type=hetero_lr epoch=0 loss=0.6931'
    >>> logger.handlers[:] = saved[0]
    >>> logger.setLevel(saved[1])
    >>> logger.propagate = saved[2]
    """

    def __init__(self, party: str, step: int, label: str) -> None:
        self._party = party
        self._step = step
        self._label = label
        self._last_epoch: int | None = None
        self._last_time = self._started = time.perf_counter()
        self._first_done: int | None = None
        self.durations: list[float] = []
        """Seconds of each epoch logged so far (for estimates of the time left)."""

    def update(self, role: object) -> None:
        """Log the epochs ``role`` finished since the last call."""
        done, total = _progress(role)
        if self._first_done is None:
            self._first_done = done
        history = getattr(role, "history", None)
        if not isinstance(history, Sequence) or not history:
            return
        if self._last_epoch is None:
            resumed = getattr(role, "resumed_after", None)
            self._last_epoch = resumed if isinstance(resumed, int) else -1
        for entry in history:
            if not isinstance(entry, Mapping):
                continue
            epoch = entry.get("epoch")
            if not isinstance(epoch, int) or epoch <= self._last_epoch:
                continue
            now = time.perf_counter()
            seconds = now - self._last_time
            self._last_time, self._last_epoch = now, epoch
            self.durations.append(seconds)
            fields: dict[str, object] = {
                "party": self._party,
                "step": self._step,
                "type": self._label,
                "epoch": epoch,
            }
            fields |= {
                key: f"{float(value):.6g}"
                for key in EPOCH_METRICS
                if isinstance((value := entry.get(key)), int | float) and math.isfinite(value)
            }
            fields["seconds"] = f"{seconds:.2f}"
            if not getattr(role, "done", False) and done > self._first_done and total > done:
                per_unit = (now - self._started) / (done - self._first_done)
                fields["at_most_seconds_left"] = f"{per_unit * (total - done):.0f}"
                settles = _settles_in(role, history)
                if settles is not None:
                    fields["loss_settles_in_epochs"] = settles
            LOGGER.info("epoch finished", extra={"fields": fields})  # as logs.event does


def _progress(role: object) -> tuple[int, int]:
    progress = getattr(role, "progress", None)
    if isinstance(progress, tuple) and len(progress) == 2:
        return int(progress[0]), int(progress[1])
    return 0, 0


def _settles_in(role: object, history: Sequence[Any]) -> int | None:
    settings = getattr(role, "settings", None)
    tol = getattr(settings, "tol", None)
    if getattr(settings, "convergence", None) != "loss" or not isinstance(tol, int | float):
        return None
    losses = [
        float(entry["loss"])
        for entry in history
        if isinstance(entry, Mapping) and isinstance(entry.get("loss"), int | float)
    ]
    return epochs_to_settle(losses, float(tol))


def epochs_to_settle(losses: Sequence[float], tol: float) -> int | None:
    """Epochs until the loss changes by less than ``tol``, if its changes keep shrinking.

    A rough guess from the last three losses: the last change shrinks by the ratio of
    the last two changes each epoch.  ``None`` when the changes do not shrink yet or
    there are fewer than three losses.

    Examples
    --------
    >>> epochs_to_settle([0.7, 0.6, 0.55], 1e-4)  # changes 0.1, 0.05: halving
    9
    >>> epochs_to_settle([0.7, 0.69, 0.6], 1e-4) is None  # changes 0.01, 0.09: growing
    True
    """
    if len(losses) < 3 or tol <= 0:
        return None
    earlier, last = abs(losses[-2] - losses[-3]), abs(losses[-1] - losses[-2])
    if last < tol:
        return 0
    if not 0 < last < earlier:
        return None
    return max(1, math.ceil(math.log(tol / last) / math.log(last / earlier)))


@dataclass(frozen=True)
class PaillierRates:
    """Seconds per Paillier operation on this machine at one key length (one core)."""

    bits: int
    encryption: float
    """Seconds per encryption (of a fixed-point number)."""
    product: float
    """Seconds per ciphertext-by-plaintext product, summed into a matrix product."""


_RATES: dict[int, PaillierRates] = {}


def calibrate_paillier(bits: int, samples: int = 128) -> PaillierRates:
    """Time ``samples`` encryptions and a ``4 x samples`` matrix product at ``bits`` bits.

    The key is a throw-away one generated here; the values are random.  A first small
    vector is encrypted untimed (one-off set-up costs would inflate the rate).  The
    result is kept per key length for the rest of the process (later steps reuse it).

    Examples
    --------
    >>> rates = calibrate_paillier(512, samples=8)
    >>> rates.bits, rates.encryption > 0, rates.product > 0
    (512, True, True)
    """
    if bits in _RATES:
        return _RATES[bits]
    import numpy as np

    from protocols.hetero_lr.backends import get_backend

    public_key, _ = get_backend("paillier").generate_keypair(bits, allow_weak_key=True)
    public_key.encrypt_vector(np.zeros(8))  # warm-up
    values = np.random.default_rng().normal(size=samples)
    started = time.perf_counter()
    vector = public_key.encrypt_vector(values)
    encryption = (time.perf_counter() - started) / samples
    matrix = np.random.default_rng().normal(size=(4, samples))
    started = time.perf_counter()
    vector.matmul(matrix)
    product = (time.perf_counter() - started) / (4 * samples)
    _RATES[bits] = PaillierRates(bits, encryption, product)
    return _RATES[bits]


def _operations_per_row(role: object, features: int) -> tuple[float, float] | None:
    """``(encryptions, products)`` per training row and epoch for ``role`` (rough).

    Read off the protocols (:mod:`protocols.hetero_lr.guest`, ``host``,
    ``shared_party``); per-batch work (masking, decrypting a gradient) is left out.
    """
    kind = type(role).__name__
    hosts = len(getattr(role, "hosts", ()) or ())
    if kind == "LrGuest":  # [[d]] per host; X_g^T [[d]], residual weights and loss
        return float(max(1, hosts)), float(features + 2)
    if kind == "LrHost":  # [[s u_h]] and squares; X_h^T [[d]] and the residual terms
        return 2.0, float(features + 1)
    if kind in ("SharedGuest", "SharedHost"):
        from protocols.hetero_lr.shared_polynomials import DEGREE

        keyed = kind == "SharedGuest" or getattr(role, "party", None) == getattr(
            role, "partner", None
        )  # the guest and the partner host own a key and seal the polynomial's terms
        encryptions = float(DEGREE + 3) if keyed else 1.0
        return encryptions, float(2 * features + (DEGREE if keyed else 0))
    return None


def log_training_estimate(role: object, party: str, step: int, label: str) -> None:
    """Log one INFO line estimating how long ``role``'s training may take, if it trains.

    Method: time a few Paillier operations at the step's key length
    (:func:`calibrate_paillier`), then multiply by this party's rows x (encryptions +
    products per row, the products growing with its features) x ``max_iter`` epochs.
    Network time, other parties' work and ``n_jobs`` parallelism are left out: a
    rough figure for planning, an upper bound on the epochs (training may stop
    earlier).  Only counts and rates are logged, never data.
    """
    settings = getattr(role, "settings", None)
    matrix = getattr(role, "X", None)
    shape = getattr(matrix, "shape", None)
    bits = getattr(settings, "key_length", None)
    epochs = getattr(settings, "max_iter", None)
    backend = getattr(getattr(role, "backend", None), "name", None)
    if not (isinstance(shape, tuple) and len(shape) == 2 and isinstance(bits, int)):
        return
    if backend != "paillier" or not isinstance(epochs, int):
        return
    rows, features = int(shape[0]), int(shape[1])
    operations = _operations_per_row(role, features)
    if operations is None:
        return
    rates = calibrate_paillier(bits)
    per_epoch = rows * (operations[0] * rates.encryption + operations[1] * rates.product)
    fields = {
        "party": party,
        "step": step,
        "type": label,
        "mode": getattr(settings, "mode", "?"),
        "rows": rows,
        "features": features,
        "max_epochs": epochs,
        "key_bits": bits,
        "encryption_ms": f"{1000 * rates.encryption:.3g}",
        "product_ms": f"{1000 * rates.product:.3g}",
        "seconds_per_epoch": f"{per_epoch:.3g}",
        "at_most_seconds": f"{per_epoch * epochs:.0f}",
    }
    LOGGER.info("training estimate", extra={"fields": fields})

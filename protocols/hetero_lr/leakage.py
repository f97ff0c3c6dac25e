"""What an exact gradient can reveal, and the two guards of the exact-gradient modes.

In two-party and arbiter mode every party unmasks its own exact gradient sum
``X_p^T d`` per batch.  For a host, ``d = w (z / 4 - y / 2)`` carries the labels of
the batch, and the gradient is computed exactly on integers: features at resolution
``2**-16`` (:data:`~protocols.hetero_lr.party.FACTOR_EXPONENT`), residuals at
``2**-32``.  If the host knew every other part of ``d`` (as it did when the guest's
weights started at zero: the first residual was exactly ``1/2 - y``), each gradient
entry ``j`` would be a *subset sum* ``sum_i a_ij y_i`` of the host's own integers
``a_ij = round(x_ij * 2**16)`` and the labels a solution of ``f_h`` knapsacks at
once, which lattice reduction (LLL, BKZ) finds (``tests/protocols/test_label_attack.py``
plays the attack).

**Guard 1: secret random initial weights.**  The guest starts from weights drawn
from a secret seed (:func:`secret_initial_weights`), scaled so that its first partial
scores ``u_g`` have a standard deviation of about :data:`INITIAL_SCORE_STD` (a quarter
of a log-odds unit) on its own rows.  A host then never knows any residual: from its
first batch on, ``d`` holds ``u_g / 4``, unknown reals (a standard deviation of about
1/16 against the label term's 1/2), so no label vector explains the gradient exactly
and the knapsack becomes a noisy one, which the attack does not solve.  The guest's
weights stay unknown to the host afterwards (they move with the guest's own
gradients).  This guard is defence in depth, not a proof: given the truth to pick its
best candidate, the attack still gets most labels of a 64-row batch right (about
94 %), and a larger start costs quality in short runs (held-out AUC 0.658 against
0.740 after 6 SGD steps at a standard deviation of 1; ``python -m benchmarks
initial_weights``).  Guard 2 is the proof.

**Guard 2: the label-information bound.**  Independently of guard 1, the batch plan
must keep most of a batch's labels hidden even from a host that knew every other
part of the residual.  With labels independent at event rate ``p`` (the training
rows' rate), the labels of a batch of ``B`` rows carry ``H(y) = B H(p)`` bits (``H``
the binary entropy).  The host's gradient is ``f_h`` integers, each a sum
``sum_i a_ij y_i`` of variance at most ``B max(a)**2 / 4``, and an integer-valued
variable of variance ``s**2`` has entropy at most ``log2(2 pi e (s**2 + 1/12)) / 2``
(Massey 1988), so

    ``H(g) <= f_h (b_h + log2(pi e B / 2) / 2)``,

``b_h`` the bit length of the largest ``|round(x * 2**16)|`` among the host's
training values, and the labels stay uncertain by ``H(y | g) >= H(y) - H(g)`` bits.
The rule keeps at least half of them:

    ``B_min H(p) >= 2 f_h (b_h + log2(pi e B_min / 2) / 2)``     for every host.

The guest checks it for every host (from the host's ``f_h`` and ``b_h``, which the
host reports in its setup reply); each host checks it with ``H(p) = 1`` (it does
not know ``p``).  Where the gradient could carry all of a batch's label bits, the
knapsack has one solution and lattice reduction finds it; the test suite shows
both (``tests/protocols/test_label_attack.py``).  The guest's own gradient carries the
hosts' real-valued partial scores, not binary unknowns; it keeps the older rule
``B_min > f_g + 1`` (more unknowns than equations).

What remains is stated in SECURITY.md §11: these modes still reveal every party's
exact gradient per batch, a function of the labels that guards 1 and 2 keep from
determining them but not from informing a statistical attack over many batches
(arXiv 2112.05409).  The shared mode does not reveal gradients.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError

__all__ = [
    "FEATURE_RESOLUTION_BITS",
    "INITIAL_SCORE_STD",
    "binary_entropy",
    "check_label_bound",
    "gradient_entry_bits",
    "gradient_information",
    "label_information",
    "minimum_batch_for_labels",
    "satisfies_label_bound",
    "secret_initial_weights",
]

FloatArray = npt.NDArray[np.float64]

FEATURE_RESOLUTION_BITS = 16
"""Features multiply ciphertexts at resolution ``2**-16`` (``FACTOR_EXPONENT``)."""

INITIAL_SCORE_STD = 0.25
"""Standard deviation of the guest's first partial scores (log-odds units).

Larger hides the first residuals better and costs quality in short runs (module
docstring); 0.25 costs about 0.01 AUC after 6 SGD steps and nothing measurable after
a few epochs."""

SEED_BYTES = 32


def gradient_entry_bits(features: npt.ArrayLike) -> int:
    """Bits of the largest knapsack weight in a party's gradient: ``b`` of the bound.

    Parameters
    ----------
    features : array_like
        The party's training features (2-D, as they enter the protocol).

    Returns
    -------
    int
        The bit length of the largest ``|round(x * 2**16)|``, at least 1.

    Examples
    --------
    >>> gradient_entry_bits([[1.0, -0.5], [3.9, 0.0]])  # 3.9 * 2**16 needs 18 bits
    18
    >>> gradient_entry_bits([[0.0]])
    1
    """
    values = np.abs(np.asarray(features, dtype=np.float64))
    largest = float(values.max(initial=0.0))
    if not math.isfinite(largest):
        raise ProtocolError("features must be finite to bound what a gradient reveals")
    return max(1, round(largest * 2.0**FEATURE_RESOLUTION_BITS).bit_length())


def binary_entropy(rate: float) -> float:
    """``H(p)`` in bits: the label information of one row with event rate ``p``.

    Examples
    --------
    >>> binary_entropy(0.5), round(binary_entropy(0.066), 3), binary_entropy(0.0)
    (1.0, 0.351, 0.0)
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"an event rate lies in [0, 1], not {rate!r}")
    if rate in (0.0, 1.0):
        return 0.0
    return -(rate * math.log2(rate) + (1.0 - rate) * math.log2(1.0 - rate))


def gradient_information(width: int, bits: int, batch: int) -> float:
    """An upper bound on the entropy of a host's gradient of one batch, in bits.

    ``width * (bits + log2(pi e batch / 2) / 2)``: each of ``width`` entries is a sum of
    ``batch`` binary labels times integers below ``2**bits`` (Massey's bound on the
    entropy of an integer of bounded variance).

    Examples
    --------
    >>> round(gradient_information(20, 20, 64), 1)  # the shipped example's host
    480.9
    """
    if width <= 0 or batch <= 0:
        return 0.0
    return width * (bits + 0.5 * math.log2(math.pi * math.e * batch / 2.0))


def label_information(batch: int, event_rate: float) -> float:
    """The entropy of a batch's labels, ``batch * H(p)``, in bits."""
    return batch * binary_entropy(event_rate)


def satisfies_label_bound(batch: int, width: int, bits: int, event_rate: float = 0.5) -> bool:
    """Whether a host's gradient carries at most half of a batch's label information.

    Examples
    --------
    >>> satisfies_label_bound(64, 20, 20), satisfies_label_bound(128, 2, 20)
    (False, True)
    """
    return label_information(batch, event_rate) >= 2.0 * gradient_information(width, bits, batch)


def minimum_batch_for_labels(width: int, bits: int, event_rate: float = 0.5) -> int:
    """The smallest batch the label-information bound accepts.

    Parameters
    ----------
    width : int
        The host's gradient width (features).
    bits : int
        Its :func:`gradient_entry_bits`.
    event_rate : float, default 0.5
        The share of rows labelled 1 (0.5: the host's own check, ``H = 1``).

    Returns
    -------
    int
        The least ``B`` that :func:`satisfies_label_bound` (1 for a host without
        features; a very large number when every label is the same).

    Examples
    --------
    >>> minimum_batch_for_labels(20, 20)  # 20 features of 20 bits, balanced labels
    1043
    >>> minimum_batch_for_labels(4, 20, event_rate=0.37)  # a narrower host
    210
    >>> minimum_batch_for_labels(10, 21, event_rate=0.066)  # a rare-event host of 10 features
    1560
    """
    if width <= 0:
        return 1
    if binary_entropy(event_rate) <= 0.0:
        return NEVER
    low, high = 1, 2
    while not satisfies_label_bound(high, width, bits, event_rate):
        low, high = high, high * 2
        if high >= NEVER:
            return NEVER
    while low + 1 < high:  # satisfies(high), not satisfies(low) (or low == 1)
        middle = (low + high) // 2
        if satisfies_label_bound(middle, width, bits, event_rate):
            high = middle
        else:
            low = middle
    return low if satisfies_label_bound(low, width, bits, event_rate) else high


NEVER = 2**62
"""What :func:`minimum_batch_for_labels` returns when no batch can pass (one class)."""


def check_label_bound(
    smallest: int, width: int, bits: int, party: str, owner: str, event_rate: float = 0.5
) -> None:
    """Refuse a batch plan in which ``owner``'s exact gradient could reveal a batch's labels.

    Parameters
    ----------
    smallest : int
        Rows in the plan's smallest batch.
    width, bits : int
        The host's gradient width and :func:`gradient_entry_bits`.
    party : str
        Who checks (named in the error).
    owner : str
        Whose gradient it is.
    event_rate : float, default 0.5
        The training rows' event rate, when the checking party knows it (the guest).

    Raises
    ------
    ProtocolError
        Naming the rule and the smallest batch size that passes.

    Examples
    --------
    >>> check_label_bound(64, 20, 20, "bank-b", "this host")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: bank-b: batches of 64 rows break the label-information ...
    >>> check_label_bound(1043, 20, 20, "bank-b", "this host")  # passes
    """
    if satisfies_label_bound(smallest, width, bits, event_rate):
        return
    needed = minimum_batch_for_labels(width, bits, event_rate)
    rate = "" if event_rate == 0.5 else f" at an event rate of {event_rate:.3g}"
    advice = (
        f"use a batch_size of at least {needed}, or fewer or coarser features for {owner}"
        if needed < NEVER
        else "the labels are all one class; check the label column"
    )
    raise ProtocolError(
        f"{party}: batches of {smallest} rows break the label-information bound "
        f"(SECURITY.md §11): {owner}'s exact gradient of {width} features of {bits} bits "
        f"can carry {gradient_information(width, bits, smallest):.0f} bits, more than half "
        f"of the {label_information(smallest, event_rate):.0f} bits of a batch's labels"
        f"{rate}, so it could reveal them (a lattice attack finds them); {advice}, or train "
        'with mode="shared"'
    )


def secret_initial_weights(features: npt.ArrayLike, seed: bytes) -> FloatArray:
    r"""The guest's secret starting weights: normal, scaled to its own columns.

    Weight ``j`` is ``N(0, s_j**2)`` with ``s_j = INITIAL_SCORE_STD / (sqrt(m) * rms_j)``,
    ``m`` the number of columns with a non-zero root mean square ``rms_j`` (a zero
    column gets weight 0).  Independent columns then give partial scores ``X w`` of
    standard deviation about :data:`INITIAL_SCORE_STD`.  The normal values come from
    SHAKE-256 of ``seed`` through the Box-Muller transform, so a seed drawn from the
    CSPRNG (the default in :class:`~protocols.hetero_lr.LrGuest`) gives weights
    nobody else can predict, and a fixed seed reproduces an experiment.

    Parameters
    ----------
    features : array_like
        The guest's training rows, intercept column included.
    seed : bytes
        32 bytes.

    Returns
    -------
    numpy.ndarray
        One weight per column.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.column_stack([np.linspace(-2, 2, 1000), np.ones(1000)])
    >>> weights = secret_initial_weights(rows, bytes(32))
    >>> weights.shape, bool((weights == secret_initial_weights(rows, bytes(32))).all())
    ((2,), True)
    >>> bool((weights != secret_initial_weights(rows, b"\x01" * 32)).all())
    True
    """
    if len(seed) != SEED_BYTES:
        raise ProtocolError(f"the initial-weights seed must be {SEED_BYTES} bytes")
    rows = np.asarray(features, dtype=np.float64)
    if rows.ndim != 2:
        raise ProtocolError(f"features must be a 2-D array, got shape {rows.shape}")
    width = rows.shape[1]
    rms = np.sqrt(np.mean(rows**2, axis=0)) if len(rows) else np.zeros(width)
    used = rms > 0
    scale = np.zeros(width)
    if used.any():
        scale[used] = INITIAL_SCORE_STD / (math.sqrt(int(used.sum())) * rms[used])
    return scale * _seeded_normal(seed, width)


def _seeded_normal(seed: bytes, size: int) -> FloatArray:
    """``size`` standard normal values from SHAKE-256(seed), Box-Muller on 53-bit uniforms."""
    pairs = (size + 1) // 2
    stream = hashlib.shake_256(b"vfl/hetero-lr/initial-weights/v1\x00" + seed)
    raw = np.frombuffer(stream.digest(16 * pairs), dtype="<u8").reshape(2, pairs)
    uniform = ((raw >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53  # in (0, 1]
    radius = np.sqrt(-2.0 * np.log(uniform[0]))
    angle = 2.0 * math.pi * uniform[1]
    values: FloatArray = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])
    return values[:size]

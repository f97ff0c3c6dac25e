"""Fixed-point layout, public bounds and local arithmetic of shared-mode training.

In shared mode (:mod:`protocols.hetero_lr.shared_party`) weights, scores, residuals,
gradients and optimiser state exist only as integer additive shares
(:mod:`crypto.shares`).  Every quantity has a public scale (fraction bits) and a
public bound on its true value; a mask is :data:`~crypto.shares.STATISTICAL_BITS`
wider than the bound.  The bounds are protocol constants, so nothing about the data
is revealed by a message's size or layout.

==================  ===========  ==================================================
quantity            scale        public bound on the true value
==================  ===========  ==================================================
features            ``2**16``    ``FEATURE_BOUND`` (``2**30``), checked in clear
weights ``w``       ``2**24``    ``2**WEIGHT_BITS``
partial score       ``2**40``    ``2**SCORE_BITS`` (before truncation)
sigmoid input z     ``2**16``    ``2**SCORE_BITS``
row weight          ``2**16``    ``MAX_SAMPLE_WEIGHT`` (``2**20``)
residual ``e``      ``2**24``    row weight times ``2**RESIDUAL_BITS``
gradient ``Xᵀe``    ``2**40``    rows times feature bound times residual bound
==================  ===========  ==================================================

Truncating a share (:func:`crypto.shares.truncate`) costs at most one unit in the
last place of the result, so updates drift by at most ``2**-24`` per step and
coefficient; tests compare the protocol with a float reference at that resolution.

A true value beyond its bound is not a correctness problem (integer shares do not
wrap below half the Paillier modulus) but its mask hides it less well: the
statistical distance is at most ``|value| / 2**(bound + 40)``.  Scores beyond
``2**SCORE_BITS`` also leave the range where the logistic approximation holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.objective import MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.optimizers import OptimizerSettings

__all__ = [
    "FEATURE_FRACTION",
    "INPUT_FRACTION",
    "LINEAR_OPTIMIZERS",
    "RESIDUAL_BITS",
    "ROW_WEIGHT_FRACTION",
    "SCORE_BITS",
    "WEIGHT_BITS",
    "WEIGHT_FRACTION",
    "EncodedFeatures",
    "SharedOptimizer",
    "encode_features",
    "encode_row_weights",
    "gradient_bits",
    "multiply_public",
    "score_bits",
    "weight_share_bits",
]

WEIGHT_FRACTION = 24
"""Fraction bits of weights, residuals, gradients and velocities."""
FEATURE_FRACTION = 16
"""Fraction bits of features (they multiply ciphertexts as integers)."""
INPUT_FRACTION = 16
"""Fraction bits of the logistic function's input ``z``."""
ROW_WEIGHT_FRACTION = 16
"""Fraction bits of row weights (class weight times sample weight)."""
WEIGHT_BITS = 12
"""Public bound on a coefficient: ``|w| < 2**12``."""
SCORE_BITS = 8
"""Public bound on a score: ``|z| < 2**8`` (the approximation holds on a smaller range)."""
RESIDUAL_BITS = 4
"""Public bound on ``|approximate sigmoid - y|`` (``< 2**4``; in range it is ``<= 1.1``)."""
_FEATURE_BITS = 30 + FEATURE_FRACTION
_ROW_WEIGHT_BITS = math.ceil(math.log2(MAX_SAMPLE_WEIGHT)) + ROW_WEIGHT_FRACTION

LINEAR_OPTIMIZERS = ("sgd", "momentum", "nesterov")
"""Update rules that are linear in the gradient, hence computable on shares."""

_CONSTANT_FRACTION = 32


def score_bits() -> int:
    """Bits of a partial score ``X w`` at scale ``2**(24 + 16)``."""
    return SCORE_BITS + WEIGHT_FRACTION + FEATURE_FRACTION


def gradient_bits(rows: int) -> int:
    """Bits of a batch's ``Xᵀ e`` at scale ``2**(24 + 16)`` for ``rows`` rows."""
    return max(rows, 1).bit_length() + _FEATURE_BITS + RESIDUAL_BITS + WEIGHT_FRACTION + 20


def weight_share_bits(steps: int) -> int:
    """A public bound on the bits of a weight or velocity share after ``steps`` updates.

    A share starts as a mask of ``WEIGHT_BITS + 24 + 40`` bits and each update adds
    at most one gradient share (a mask of :func:`gradient_bits` + 40 bits, times a
    learning rate below ``2**8``).
    """
    grow = max(steps, 1).bit_length()
    return max(WEIGHT_BITS + WEIGHT_FRACTION, gradient_bits(1 << 24)) + 40 + 8 + grow + 8


def encode_features(features: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Features as integers at scale ``2**16`` (exact in int64 within ``FEATURE_BOUND``)."""
    return np.rint(features * (1 << FEATURE_FRACTION)).astype(np.int64)


class EncodedFeatures:
    """A float feature matrix read as :func:`encode_features` integers, rows on demand.

    Indexing encodes only the rows asked for (a batch), so a party never holds a
    second, integer copy of its whole matrix: the memory of a wide party is its float
    matrix (which may be a memory-mapped file) plus one batch.

    Parameters
    ----------
    features : numpy.ndarray
        Float64, 2-D.

    Examples
    --------
    >>> encoded = EncodedFeatures(np.array([[0.5, -1.0], [2.0, 0.25]]))
    >>> encoded[np.array([1])].tolist(), len(encoded), encoded.shape
    ([[131072, 16384]], 2, (2, 2))
    """

    def __init__(self, features: npt.NDArray[np.float64]) -> None:
        self._features = features

    def __len__(self) -> int:
        return len(self._features)

    @property
    def shape(self) -> tuple[int, ...]:
        """The matrix's shape."""
        return tuple(self._features.shape)

    def __getitem__(self, rows: Any) -> npt.NDArray[np.int64]:
        return encode_features(np.asarray(self._features[rows], dtype=np.float64))


def encode_row_weights(weights: npt.NDArray[np.float64] | None, rows: int) -> list[int]:
    """Row weights as integers at scale ``2**16`` (ones when unweighted)."""
    if weights is None:
        return [1 << ROW_WEIGHT_FRACTION] * rows
    return [int(v) for v in np.rint(weights * (1 << ROW_WEIGHT_FRACTION)).astype(np.int64)]


def multiply_public(shares: Sequence[int], factor: float) -> list[int]:
    """Each share times a public real ``factor``, truncated locally.

    The sum of two parties' results is ``round(factor * 2**32) * x / 2**32`` up to one
    unit in the last place.
    """
    scaled = round(factor * (1 << _CONSTANT_FRACTION))
    return [(int(s) * scaled) >> _CONSTANT_FRACTION for s in shares]


def _added(first: Sequence[int], second: Sequence[int]) -> list[int]:
    return [int(a) + int(b) for a, b in zip(first, second, strict=True)]


@dataclass
class SharedOptimizer:
    """One party's share of a weight vector and of its optimiser state.

    Every rule here is linear in the weights and the gradient, so each share holder
    applies it to its own shares and the shares of the result add up to the result
    of the rule (up to truncation): ``sgd``, ``momentum`` and ``nesterov`` with an L2
    penalty and learning-rate decay (:mod:`protocols.hetero_lr.optimizers` documents
    the rules; the same formulas are used here).

    Parameters
    ----------
    settings : OptimizerSettings
        The job's optimiser (refused if not linear).
    weights : list of int
        This party's share of the weights, at scale ``2**24``.
    penalized : sequence of bool
        Which coefficients the L2 penalty applies to.
    velocity : list of int, optional
        This party's share of the velocity (momentum and nesterov).

    Examples
    --------
    Two holders of shares of ``w = 1.0`` apply one sgd step with gradient ``0.5``:

    >>> settings = OptimizerSettings("sgd", learning_rate=0.1)
    >>> one = 1 << 24
    >>> a = SharedOptimizer(settings, [one + 12345], [True])
    >>> b = SharedOptimizer(settings, [-12345], [True])
    >>> a.step([one // 2 + 999], epoch=0); b.step([-999], epoch=0)
    >>> abs((a.weights[0] + b.weights[0]) / one - 0.95) < 1e-6
    True
    """

    settings: OptimizerSettings
    weights: list[int]
    penalized: Sequence[bool]
    velocity: list[int] | None = None

    def __post_init__(self) -> None:
        if self.settings.name not in LINEAR_OPTIMIZERS:
            raise ProtocolError(
                f'shared mode cannot run the "{self.settings.name}" optimiser: its update '
                "divides by a function of the squared gradient, which would have to be "
                "computed on shares; use sgd, momentum or nesterov (with learning-rate "
                "decay), or mode='two-party'"
            )
        if self.settings.penalty == "l1" and self.settings.alpha != 0.0:
            raise ProtocolError(
                "shared mode cannot apply an L1 penalty: its soft threshold compares each "
                "coefficient with zero, which would reveal the coefficients' signs; use "
                "penalty='l2', or mode='two-party'"
            )
        if len(self.penalized) != len(self.weights):
            raise ProtocolError("one penalty flag per coefficient is needed")
        if self.velocity is None:
            self.velocity = [0] * len(self.weights)

    def step(self, gradient: Sequence[int], epoch: int) -> None:
        """Apply one update with this party's share of the mean gradient (scale ``2**24``).

        Parameters
        ----------
        gradient : sequence of int
            This party's share of the batch's mean gradient of the data loss.
        epoch : int
            The current epoch (sets the decayed learning rate).
        """
        settings = self.settings
        if len(gradient) != len(self.weights):
            raise ProtocolError(
                f"a gradient share of {len(gradient)} values for {len(self.weights)} weights"
            )
        g = [int(v) for v in gradient]
        if settings.penalty == "l2" and settings.alpha != 0.0:
            penalty = multiply_public(self.weights, settings.alpha)
            g = [
                gi + (pi if flag else 0)
                for gi, pi, flag in zip(g, penalty, self.penalized, strict=False)
            ]
        rate = settings.learning_rate_at(epoch)
        step = multiply_public(g, rate)
        if settings.name == "sgd":
            self.weights = [w - s for w, s in zip(self.weights, step, strict=True)]
            return
        assert self.velocity is not None
        velocity = [
            v - s
            for v, s in zip(multiply_public(self.velocity, settings.momentum), step, strict=True)
        ]
        self.velocity = velocity
        if settings.name == "momentum":
            self.weights = _added(self.weights, velocity)
            return
        ahead = multiply_public(velocity, settings.momentum)
        self.weights = [w + a - s for w, a, s in zip(self.weights, ahead, step, strict=True)]

    def state(self) -> dict[str, list[int]]:
        """The shares, for checkpoints."""
        assert self.velocity is not None
        return {"weights": list(self.weights), "velocity": list(self.velocity)}

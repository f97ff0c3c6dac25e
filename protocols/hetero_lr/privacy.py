"""Label differential privacy for the gradients the hosts learn.

A host learns its exact gradient ``X_h^T d`` per batch, and the residual
``d = w (z/4 - y/2)`` carries the guest's labels (the batch label inference attack,
arXiv 2112.05409).  With label privacy on, the guest draws Gaussian noise ``e`` once
per batch and adds it to the residual of *every* party: the hosts' gradients and its
own are computed from ``r = d + e``.  The guest's weights therefore move only with
noisy residuals, and so do the hosts' weights and every later partial score.

The guarantee, per label, for everything the hosts see (alone or colluding with one
another, not with the guest or the arbiter): at batch ``t`` the released value is
``r_t = s_t - y_t / 2 + e_t`` (unweighted rows: weights are refused with label
privacy), where the shift ``s_t = (u_g + sum u_h) / 4`` is a function of the
features and of the earlier ``r_1 .. r_{t-1}`` only.  ``y`` in {-1, +1}, so
flipping one label moves one entry of ``r_t`` by 1: a Gaussian mechanism of L2
sensitivity ``Delta = max(w) = 1`` (the Taylor logistic objective's
``label_sensitivity``, :mod:`~protocols.hetero_lr.objective`; the guest refuses label
privacy for an objective of another sensitivity), adaptively composed.  Every row is in exactly one
batch per epoch, so ``E`` epochs compose in zero-concentrated DP to
``rho = E Delta^2 / (2 sigma^2)``, converted to ``(epsilon, delta)``-DP as
``epsilon = rho + 2 sqrt(rho ln(1/delta))`` (Bun and Steinke 2016, Prop. 1.6,
Lemma 2.3 and Prop. 1.3).  A host's gradients, its weights and its model file are functions of its
own features and ``r_1, r_2, ...``: post-processing.  :func:`noise_scale` inverts the
conversion: the smallest ``sigma`` that gives the requested ``epsilon`` for ``delta``.
One draw per batch for all hosts also means that colluding hosts cannot average
independent noises away.

Not covered: the stop decision (it depends on the exact loss, hence on the labels,
with ``convergence = "loss"`` or early stopping; use ``"max_iter"`` when it
matters), and the guest's own view.

Noise comes from the OS CSPRNG (``secrets``) through the Box-Muller transform.  It
is then encoded at the protocol's fixed resolution (2^-32), which rounds every noisy
value; the floating-point attacks on textbook Laplace samplers (Mironov 2012) do
not carry over directly, but the guarantee is stated for the real-valued mechanism.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError

__all__ = [
    "DEFAULT_DELTA",
    "LabelPrivacy",
    "csprng_normal",
    "epsilon_spent",
    "noise_scale",
]

DEFAULT_DELTA = 1e-5
"""The default ``delta``: well below one over any realistic number of customers."""
MAX_NOISE = 2.0**20
"""Noise values are clipped to ±this (far beyond any sigma in use; keeps public bounds)."""

FloatArray = npt.NDArray[np.float64]


def csprng_normal(size: int) -> FloatArray:
    """``size`` independent standard normal values from the OS CSPRNG (Box-Muller).

    Examples
    --------
    >>> values = csprng_normal(20000)
    >>> abs(float(values.mean())) < 0.05, abs(float(values.std()) - 1) < 0.05
    (True, True)
    """
    if size < 0:
        raise ValueError(f"size must be non-negative, not {size}")
    pairs = (size + 1) // 2
    raw = np.frombuffer(secrets.token_bytes(16 * pairs), dtype=np.uint64).reshape(2, pairs)
    uniform = ((raw >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53  # in (0, 1]
    radius = np.sqrt(-2.0 * np.log(uniform[0]))
    angle = 2.0 * math.pi * uniform[1]
    values: FloatArray = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])
    return values[:size]


def _check(epsilon: float, delta: float, epochs: int, sensitivity: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ProtocolError(f"label privacy needs a positive finite epsilon, not {epsilon!r}")
    if not 0 < delta < 1:
        raise ProtocolError(f"label privacy needs 0 < delta < 1, not {delta!r}")
    if epochs < 1:
        raise ProtocolError(f"label privacy needs at least one epoch, not {epochs!r}")
    if not (math.isfinite(sensitivity) and sensitivity > 0):
        raise ProtocolError(f"the sensitivity must be positive and finite, not {sensitivity!r}")


def noise_scale(epsilon: float, delta: float, epochs: int, sensitivity: float) -> float:
    """The smallest noise standard deviation ``sigma`` giving ``(epsilon, delta)`` over ``epochs``.

    Parameters
    ----------
    epsilon, delta : float
        The target guarantee, ``epsilon > 0`` and ``0 < delta < 1``.
    epochs : int
        How many times each label is used (one per epoch).
    sensitivity : float
        How much one label can change one residual entry (``max(w)``, 1 unweighted).

    Returns
    -------
    float

    Raises
    ------
    ProtocolError
        If a parameter is out of range.

    Examples
    --------
    >>> sigma = noise_scale(1.0, 1e-5, epochs=4, sensitivity=1.0)
    >>> round(sigma, 3), round(epsilon_spent(sigma, 1e-5, 4, 1.0), 6)
    (9.801, 1.0)
    """
    _check(epsilon, delta, epochs, sensitivity)
    log_term = math.log(1.0 / delta)
    rho = (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2
    return sensitivity * math.sqrt(epochs / (2.0 * rho))


def epsilon_spent(sigma: float, delta: float, epochs: int, sensitivity: float) -> float:
    """The ``epsilon`` that noise of standard deviation ``sigma`` gives over ``epochs``.

    Examples
    --------
    >>> round(epsilon_spent(10.0, 1e-5, 1, 1.0), 4)
    0.4849
    """
    _check(1.0, delta, epochs, sensitivity)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ProtocolError(f"sigma must be positive and finite, not {sigma!r}")
    rho = epochs * sensitivity**2 / (2.0 * sigma**2)
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


@dataclass(frozen=True)
class LabelPrivacy:
    """The guest's label-privacy noise for one training run.

    Parameters
    ----------
    epsilon, delta : float
        The guarantee for every label, over the whole run.
    epochs : int
        The most epochs the run can take (``max_iter``).
    max_weight : float, default 1.0
        The largest row weight.  The guest turns label privacy on only for
        unweighted rows: class weights depend on the labels, and the host's gradient
        would reveal them beyond the noise.

    Examples
    --------
    >>> privacy = LabelPrivacy(epsilon=2.0, delta=1e-5, epochs=4)
    >>> round(privacy.sigma, 3), privacy.noise(3).shape
    (4.999, (3,))
    """

    epsilon: float
    delta: float
    epochs: int
    max_weight: float = 1.0

    def __post_init__(self) -> None:
        _check(self.epsilon, self.delta, self.epochs, self.max_weight)

    @property
    def sensitivity(self) -> float:
        """How much one label can move one residual entry: ``max_weight`` (``y`` in ±1)."""
        return self.max_weight

    @property
    def sigma(self) -> float:
        """The noise standard deviation."""
        return noise_scale(self.epsilon, self.delta, self.epochs, self.sensitivity)

    def noise(self, rows: int) -> FloatArray:
        """Fresh noise for ``rows`` residual entries (clipped to ±:data:`MAX_NOISE`)."""
        result: FloatArray = np.clip(self.sigma * csprng_normal(rows), -MAX_NOISE, MAX_NOISE)
        return result

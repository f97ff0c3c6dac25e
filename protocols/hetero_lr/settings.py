"""The agreed parameters of hetero logistic-regression training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from crypto.paillier.keys import MAX_KEY_BITS, MIN_KEY_BITS
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.optimizers import OptimizerSettings
from protocols.hetero_lr.privacy import LabelPrivacy

__all__ = [
    "CONVERGENCE",
    "EARLY_STOPPING",
    "FEATURE_BOUND",
    "FLAT_KEYWORDS",
    "MODES",
    "SCORE_BOUND",
    "LrSettings",
]

MODES = ("two-party", "arbiter")
CONVERGENCE = ("loss", "weights", "max_iter")
EARLY_STOPPING = ("auc", "ks")

OPTIMIZER_KEYWORDS = {
    "optimizer": "name",
    "learning_rate": "learning_rate",
    "penalty": "penalty",
    "alpha": "alpha",
    "decay": "decay",
    "decay_sqrt": "decay_sqrt",
}
"""Flat keywords of :meth:`LrSettings.from_flat` that configure the optimiser."""

FLAT_KEYWORDS = (
    *OPTIMIZER_KEYWORDS,
    "mode",
    "batch_size",
    "max_iter",
    "convergence",
    "tol",
    "early_stopping",
    "patience",
    "key_length",
    "allow_weak_key",
    "fit_intercept",
    "n_jobs",
    "label_privacy_epsilon",
    "label_privacy_delta",
)
"""Every keyword :meth:`LrSettings.from_flat` accepts."""

FEATURE_BOUND = 2.0**30
"""Public bound on every feature value a training party uses (larger ones are refused).

Bounds derived from it (a gradient's, which fixes its packing layout) reveal nothing
about the data.
"""

SCORE_BOUND = 2.0**30
"""Public bound on every partial score ``u = X w`` that is encrypted.

Vectors carry a public bound; a fixed one reveals nothing about the data.  A score
beyond it is refused with advice to scale the features.
"""


@dataclass(frozen=True)
class LrSettings:
    """How a party trains.  The guest's values are sent to the hosts in ``LrSetup``.

    Parameters
    ----------
    mode : {"two-party", "arbiter"}
        Two-party: each party holds its own Paillier key (one host).  Arbiter: a
        third party holds the key and only decrypts masked values.
    batch_size : int, default 1024
        Rows per mini-batch (at least; the plan spreads the remainder).  Every batch
        must be larger than every party's feature count.
    max_iter : int, default 10
        Maximum number of epochs.
    optimizer : OptimizerSettings
        Update rule, learning rate, penalty and decay (each party applies its own).
    convergence : {"loss", "weights", "max_iter"}, default "loss"
        Stop when the epoch loss changes by less than ``tol`` (relative), when the
        norm of the weight change of every party falls below ``tol``, or only at
        ``max_iter``.
    tol : float, default 1e-4
    early_stopping : {"auc", "ks"} or None
        Stop when the validation metric has not improved for ``patience`` epochs and
        keep the best epoch's weights (needs a validation set).
    patience : int, default 3
    key_length : int, default 2048
    allow_weak_key : bool, default False
    fit_intercept : bool, default True
        The guest adds an intercept (never penalised).
    n_jobs : int or None
        Workers for the cryptography (see :mod:`crypto.parallel`).
    label_privacy_epsilon : float or None, default None
        The guest's label differential privacy: Gaussian noise on the residual it
        sends each host, so that every host's gradients over the whole run are
        ``(epsilon, label_privacy_delta)``-DP with respect to each label
        (:mod:`protocols.hetero_lr.privacy`).  ``None``: no noise.  Needs unweighted
        rows (no class or sample weights).
    label_privacy_delta : float, default 1e-5

    Raises
    ------
    ProtocolError
        If a value is unknown or out of range.

    Examples
    --------
    >>> settings = LrSettings(mode="arbiter", batch_size=256, max_iter=5)
    >>> settings.optimizer.name, settings.convergence
    ('sgd', 'loss')
    >>> LrSettings(batch_size=0)
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: batch_size must be a positive integer, not 0
    """

    mode: str = "two-party"
    batch_size: int = 1024
    max_iter: int = 10
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    convergence: str = "loss"
    tol: float = 1e-4
    early_stopping: str | None = None
    patience: int = 3
    key_length: int = 2048
    allow_weak_key: bool = False
    fit_intercept: bool = True
    n_jobs: int | None = None
    label_privacy_epsilon: float | None = None
    label_privacy_delta: float = 1e-5

    @classmethod
    def from_flat(cls, **values: Any) -> LrSettings:
        """Build settings from one flat set of keywords (job files, estimators).

        The optimiser's keywords (:data:`OPTIMIZER_KEYWORDS`, with ``optimizer`` as
        its name) go into :class:`OptimizerSettings`; the others are fields of this
        class.  Unknown keywords raise ``TypeError``.

        Parameters
        ----------
        **values
            Keywords of :data:`FLAT_KEYWORDS`.

        Returns
        -------
        LrSettings
            The settings.

        Raises
        ------
        TypeError
            If a keyword is unknown.
        ProtocolError
            If a value is invalid.

        Examples
        --------
        >>> settings = LrSettings.from_flat(optimizer="adam", learning_rate=0.05, max_iter=3)
        >>> settings.optimizer.name, settings.optimizer.learning_rate, settings.max_iter
        ('adam', 0.05, 3)
        """
        optimizer = {
            OPTIMIZER_KEYWORDS[key]: values.pop(key)
            for key in list(values)
            if key in OPTIMIZER_KEYWORDS
        }
        return cls(optimizer=OptimizerSettings(**optimizer), **values)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ProtocolError(f"unknown training mode {self.mode!r}; choose one of {MODES}")
        if self.convergence not in CONVERGENCE:
            raise ProtocolError(
                f"unknown convergence rule {self.convergence!r}; choose one of {CONVERGENCE}"
            )
        if self.early_stopping is not None and self.early_stopping not in EARLY_STOPPING:
            raise ProtocolError(
                f"unknown early_stopping metric {self.early_stopping!r}; "
                f"choose one of {EARLY_STOPPING} or None"
            )
        _key_length(self.key_length, self.allow_weak_key)
        _positive_int("batch_size", self.batch_size)
        _positive_int("max_iter", self.max_iter)
        _positive_int("patience", self.patience)
        if not (math.isfinite(self.tol) and self.tol >= 0):
            raise ProtocolError(f"tol must be a finite number >= 0, not {self.tol!r}")
        epsilon = self.label_privacy_epsilon
        if epsilon is not None and (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, int | float)
            or not (math.isfinite(epsilon) and epsilon > 0)
        ):
            raise ProtocolError(
                f"label_privacy_epsilon must be a positive number or None, not {epsilon!r}"
            )
        delta = self.label_privacy_delta
        if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
            raise ProtocolError(f"label_privacy_delta must be in (0, 1), not {delta!r}")

    def label_privacy(self) -> LabelPrivacy | None:
        """The guest's noise for these settings (``None`` without label privacy)."""
        if self.label_privacy_epsilon is None:
            return None
        return LabelPrivacy(
            epsilon=float(self.label_privacy_epsilon),
            delta=float(self.label_privacy_delta),
            epochs=self.max_iter,
        )


WEAKEST_KEY_BITS = 1024
"""The shortest Paillier key training accepts, and only with ``allow_weak_key``."""


def _key_length(bits: object, allow_weak_key: bool) -> None:
    """The job files' key rule, for every entry point (estimator, roles, jobs)."""
    if (
        isinstance(bits, bool)
        or not isinstance(bits, int)
        or bits % 2
        or not WEAKEST_KEY_BITS <= bits <= MAX_KEY_BITS
    ):
        raise ProtocolError(
            f"key_length must be an even number of bits from {MIN_KEY_BITS} to {MAX_KEY_BITS} "
            f"({WEAKEST_KEY_BITS} with allow_weak_key), not {bits!r}"
        )
    if bits < MIN_KEY_BITS and not allow_weak_key:
        raise ProtocolError(
            f"a {bits}-bit key is weak; use at least {MIN_KEY_BITS} bits "
            "(allow_weak_key only for tests and quick trials)"
        )


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProtocolError(f"{name} must be a positive integer, not {value!r}")

"""The agreed parameters of hetero logistic-regression training."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.declarations import (
    Choice,
    Count,
    Declaration,
    Flag,
    KeyLength,
    Real,
    Workers,
    declarations,
    setting,
    validate,
)
from protocols.hetero_lr.optimizers import OptimizerSettings
from protocols.hetero_lr.privacy import LabelPrivacy

__all__ = [
    "CONVERGENCE",
    "DEFAULTS",
    "EARLY_STOPPING",
    "FEATURE_BOUND",
    "FLAT_KEYWORDS",
    "LOSSES",
    "MAX_ITER_BY_MODE",
    "MODES",
    "SCORE_BOUND",
    "LrSettings",
    "flat_declarations",
]

MODES = ("two-party", "arbiter", "shared")
LOSSES = ("logistic", "taylor")
CONVERGENCE = ("loss", "weights", "max_iter")
EARLY_STOPPING = ("auc", "ks")
MAX_ITER_BY_MODE: Mapping[str, int] = MappingProxyType(
    {"shared": 20, "two-party": 10, "arbiter": 10}
)
"""``max_iter`` when it is not given (``None``): the polynomial sigmoid of shared mode
needs about 20 epochs at learning rate 0.1 to come within 0.005 AUC of scikit-learn."""

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

    Every field but ``optimizer`` is declared once, with its default, rule and
    meaning (:mod:`protocols.hetero_lr.declarations`); :data:`FLAT_KEYWORDS`,
    :data:`DEFAULTS`, the job files' ``hetero_lr`` keys and their reference table
    come from these declarations.

    Parameters
    ----------
    mode : {"two-party", "arbiter", "shared"}
        Two-party: each party holds its own Paillier key (one host).  Arbiter: a
        third party holds the key and only decrypts masked values.  Shared: weights,
        scores, residuals and gradients exist only as additive shares (one or more
        hosts).  ``"two-party"`` here; the engine's estimator and job files default
        to ``"shared"`` (``vfl.steps.hetero_lr.ENGINE_MODE``).
    loss : {"logistic", "taylor"} or None, default None
        ``None``: ``"logistic"`` in shared mode, ``"taylor"`` otherwise
        (:attr:`loss_name`).
    batch_size : int, default 1024
        Rows per mini-batch (at least; the plan spreads the remainder).  Every batch
        must be larger than every party's feature count.
    max_iter : int or None, default None
        Maximum number of epochs; ``None``: the mode's default
        (:data:`MAX_ITER_BY_MODE`: 20 in shared mode, 10 otherwise).
    optimizer : OptimizerSettings
        Update rule, learning rate, penalty and decay (each party applies its own).
    convergence : {"loss", "weights", "max_iter"}, default "loss"
        Stop when the epoch loss changes by less than ``tol`` (absolute), when the
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

    mode: str = setting(
        "two-party",
        Choice(MODES, "training mode"),
        doc='`"shared"`: one or more hosts; weights, scores, residuals and gradients exist '
        "only as additive shares, so no party learns a gradient (the guest and the first "
        'host each hold a Paillier key). `"two-party"`: exactly one host; each party holds '
        "its own Paillier key; every party learns its exact gradient per batch. "
        '`"arbiter"`: one or more hosts; a party with `role = "arbiter"` holds the key and '
        "decrypts only masked values; every party learns its exact gradient per batch.",
    )
    loss: str | None = setting(
        None,
        Choice(LOSSES, "loss", optional=True),
        doc='`"logistic"`: the logistic loss, its sigmoid evaluated on shares by a '
        'polynomial (shared mode only, and its default). `"taylor"`: the second-order '
        "Taylor approximation `log 2 - yz/2 + z²/8` (least squares; the only loss of the "
        "two-party and arbiter modes, and their default).",
        shown="logistic in shared mode, else taylor",
    )
    batch_size: int = setting(
        1024,
        Count(),
        doc="Rows per mini-batch, at least. The rows are split into `max(1, rows // "
        "batch_size)` batches of nearly equal size, so no batch is smaller than "
        "`batch_size` (unless there are fewer rows than that). Every batch must be larger "
        "than the guest's number of features plus one, and must pass the "
        "label-information bound for every host (a host's exact gradient may carry at "
        "most half of a batch's label information; about 50 rows per host feature with "
        "balanced labels, more for rare events: [FAQ](faq.md#which-batch-size-should-i-use)); "
        "a plan that breaks either is refused before training, with the smallest batch "
        "that passes.",
    )
    max_iter: int = setting(
        cast("int", None),  # None: the mode's default, resolved in __post_init__
        Count(),
        doc="Epochs at most. Default (none): 20 in shared mode (the polynomial sigmoid at "
        "`learning_rate = 0.1` needs about 20 epochs to come within 0.005 AUC of "
        "scikit-learn), 10 in the other modes.",
        shown="20 in shared mode, else 10",
    )
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    convergence: str = setting(
        "loss",
        Choice(CONVERGENCE, "convergence rule"),
        doc='`"loss"`: stop when the epoch loss changes by less than `tol` (an absolute '
        'change). `"weights"`: stop when the weight change of the epoch is below `tol`. '
        '`"max_iter"`: always run `max_iter` epochs.',
    )
    tol: float = setting(1e-4, Real(), doc="Threshold of the `convergence` rule.")
    early_stopping: str | None = setting(
        None, Choice(EARLY_STOPPING, "early_stopping metric", optional=True), job_file=False
    )
    patience: int = setting(3, Count(), job_file=False)
    key_length: int = setting(
        2048,
        KeyLength(),
        doc="Paillier key length of each key owner: even, 2048 to 16384 bits; 1024 to 2046 "
        "only with `allow_weak_keys`.",
    )
    allow_weak_key: bool = setting(False, Flag(), job_file=False)
    fit_intercept: bool = setting(True, Flag(), doc="The guest fits an intercept.")
    n_jobs: int | None = setting(
        None,
        Workers(),
        doc="Cores for this party's cryptography; `-1` for all.",
        shown="none (one core)",
    )
    label_privacy_epsilon: float | None = setting(
        None,
        Real(low_open=True, optional=True),
        doc="Label differential privacy: the guest adds Gaussian noise to the residual it "
        "sends each host, so every host's gradients over the run are (ε, δ)-DP per label. "
        'Refused together with `class_weight`. See the README\'s "Label privacy".',
    )
    label_privacy_delta: float = setting(
        1e-5,
        Real(low_open=True, high=1.0),
        doc="The δ of that guarantee.",
    )

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
        given: object = self.max_iter  # None when not given (the annotation is the result)
        if given is None and isinstance(self.mode, str):
            # the one place the mode's default is resolved (an unknown mode is refused next)
            object.__setattr__(self, "max_iter", MAX_ITER_BY_MODE.get(self.mode))
        validate(self)  # every declared field: its rule checks and converts it
        if self.loss == "logistic" and self.mode != "shared":
            raise ProtocolError(
                f'loss="logistic" needs mode="shared": the {self.mode} mode cannot evaluate '
                'the sigmoid on encrypted scores; use mode="shared" or loss="taylor"'
            )

    @property
    def loss_name(self) -> str:
        """The loss trained: ``loss``, or the mode's default."""
        if self.loss is not None:
            return self.loss
        return "logistic" if self.mode == "shared" else "taylor"

    def label_privacy(self) -> LabelPrivacy | None:
        """The guest's noise for these settings (``None`` without label privacy)."""
        if self.label_privacy_epsilon is None:
            return None
        return LabelPrivacy(
            epsilon=float(self.label_privacy_epsilon),
            delta=float(self.label_privacy_delta),
            epochs=self.max_iter,
        )


OPTIMIZER_KEYWORDS: Mapping[str, str] = MappingProxyType(
    {d.name: d.field for d in declarations(OptimizerSettings) if d.keyword}
)
"""Flat keywords of :meth:`LrSettings.from_flat` that configure the optimiser (keyword to
field of :class:`OptimizerSettings`)."""


def flat_declarations() -> tuple[Declaration, ...]:
    """Every declared setting by flat keyword, in the order of the reference's table.

    :class:`LrSettings`' settings in field order, with :class:`OptimizerSettings`'
    keywords in place of its ``optimizer`` field.  Settings that are not keywords
    (``momentum``, ``beta1``...) are left out.

    Returns
    -------
    tuple of Declaration

    Examples
    --------
    >>> [d.name for d in flat_declarations()][:5]
    ['mode', 'loss', 'batch_size', 'max_iter', 'optimizer']
    >>> [d.name for d in flat_declarations() if not d.job_file]
    ['early_stopping', 'patience', 'allow_weak_key']
    """
    found: list[Declaration] = []
    own = {d.field: d for d in declarations(LrSettings)}
    for item in dataclasses.fields(LrSettings):
        if item.name == "optimizer":
            found += [d for d in declarations(OptimizerSettings) if d.keyword]
        elif item.name in own and own[item.name].keyword:
            found.append(own[item.name])
    return tuple(found)


FLAT_KEYWORDS = tuple(d.name for d in flat_declarations())
"""Every keyword :meth:`LrSettings.from_flat` accepts (the estimator's settings)."""

DEFAULTS: Mapping[str, Any] = MappingProxyType({d.name: d.default for d in flat_declarations()})
"""Each flat keyword's default: the one place a default is written is its declaration."""

"""What hetero LR minimises, apart from the protocol that computes it.

The roles (:mod:`.guest`, :mod:`.host`, :mod:`.arbiter`) move encrypted values; the
maths of the model is here, as pure functions of plaintext arrays.  Training
minimises ``sum_i w_i l(z_i, y_i)`` over the batch, ``z = u_g + sum_h u_h`` the
linear predictor (``u_p = X_p w_p`` each party's partial score) and ``w_i`` the row
weights, for a loss **quadratic in z**:

    ``l(z, y) = c0(y) + c1(y) z + c2 z**2``          (``c2 > 0``, the *curvature*)

which is what additive homomorphic encryption can evaluate exactly: the residual
``d = dl/dz = c1(y) + 2 c2 z`` is affine in the hosts' scores, and the loss needs
only ``sum u_h**2`` and products of scores the parties can form.  With
``s = 2 c2`` (:attr:`QuadraticObjective.score_scale`):

- each host sends ``[[s u_h]]`` and ``[[u_h**2]]`` (:meth:`~QuadraticObjective.scaled`,
  :meth:`~QuadraticObjective.host_squares`);
- the guest's own part of the residual is ``s u_g + c1(y)``
  (:meth:`~QuadraticObjective.partial_residual`), so ``d = partial + sum_h [[s u_h]]``;
- the loss is ``sum w (c0 + c1 u_g + c2 u_g**2)`` (:meth:`~QuadraticObjective.partial_loss`)
  plus ``[[sum_h s u_h]] . w (u_g + c1 / s)`` (:meth:`~QuadraticObjective.loss_coefficient`)
  plus ``c2 sum w u_h**2`` plus the cross terms ``s sum w u_j u_h`` (``j < h``);
- every party's gradient is ``X_p^T d / batch``.

:class:`TaylorLogistic` is the logistic loss to second order around ``z = 0``
(Hardy et al. 2017): ``y`` in {-1, +1}, ``c0 = log 2``, ``c1 = -y / 2``,
``c2 = 1 / 8``, hence ``s = 1 / 4``, the residual ``d = z / 4 - y / 2`` and the
predictions ``sigmoid(z)``.

The public bounds every party checks received vectors against (and claims for the
vectors it sends, so that no bound reveals a magnitude) follow from ``s``, from the
largest ``|c1(y)|`` and from the public limits :data:`MAX_SAMPLE_WEIGHT`,
:data:`~protocols.hetero_lr.settings.SCORE_BOUND`,
:data:`~protocols.hetero_lr.settings.FEATURE_BOUND` and
:data:`~protocols.hetero_lr.privacy.MAX_NOISE`; they are methods here too
(``*_bound``).

Adding a model
--------------
A new loss quadratic in ``z`` (least squares: ``c0 = y**2 / 2``, ``c1 = -y``,
``c2 = 1 / 2``; a Poisson GLM to second order: ``c0 = 1``, ``c1 = 1 - y``,
``c2 = 1 / 2``) is one subclass of :class:`QuadraticObjective` in this module:

1. give it a ``name``, its ``curvature`` (``c2``), ``label_term_bound`` (the
   largest ``|c1(y)|``: it enters every public bound) and ``label_sensitivity``
   (how far one label can move ``c1``, for label privacy);
2. implement :meth:`~QuadraticObjective.response` (check the labels, map them to
   the ``y`` of the loss), :meth:`~QuadraticObjective.constant` (``c0``),
   :meth:`~QuadraticObjective.slope` (``c1``) and :meth:`~QuadraticObjective.mean`
   (the inverse link: predictions from ``z``);
3. register it in :data:`OBJECTIVES`.

Everything else (the residual, the loss terms, the public bounds, and therefore
every message, its sizes, exponents and bounds) is derived from those, and the
roles compute only through this interface.  What is left outside this module is
the choice of objective: :class:`~protocols.hetero_lr.LrSettings` (and the
``LrSetup`` message, so that a host checks it agrees) name the objective once
there is more than one.  Two properties of :class:`TaylorLogistic` are used
elsewhere and must be revisited for a model whose labels are not binary: the
label-information bound (:mod:`.leakage`, in bits of binary labels) and the
label-privacy sensitivity (:mod:`.privacy`; the guest refuses a mismatch with
:attr:`~QuadraticObjective.label_sensitivity`).  A loss that is not quadratic in
``z`` (the exact logistic loss on secret shares) needs another protocol, not only
another objective.

Examples
--------
>>> import numpy as np
>>> objective = get_objective("taylor-logistic")
>>> y = objective.response(np.array([1.0, 0.0]), 2, "the labels", "guest")
>>> own = np.array([0.4, -0.8])
>>> objective.partial_residual(own, y).tolist()  # u_g / 4 - y / 2
[-0.4, 0.3]
>>> objective.scaled(np.array([2.0])).tolist(), objective.curvature
([0.5], 0.125)
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.privacy import MAX_NOISE
from protocols.hetero_lr.settings import FEATURE_BOUND, SCORE_BOUND

__all__ = [
    "DEFAULT_OBJECTIVE",
    "MAX_SAMPLE_WEIGHT",
    "OBJECTIVES",
    "QuadraticObjective",
    "TaylorLogistic",
    "get_objective",
    "sigmoid",
]

FloatArray = npt.NDArray[np.float64]

MAX_SAMPLE_WEIGHT = 2.0**20
"""Public bound on a row weight (class weight times sample weight)."""


def sigmoid(z: FloatArray) -> FloatArray:
    """The logistic function, without overflow warnings for large ``|z|``.

    Parameters
    ----------
    z : numpy.ndarray
        Scores.

    Returns
    -------
    numpy.ndarray
        ``1 / (1 + exp(-z))``, elementwise.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([0.0, np.log(3.0), -1000.0])).round(6).tolist()
    [0.5, 0.75, 0.0]
    """
    result: FloatArray = np.exp(-np.logaddexp(0.0, -z))
    return result


class QuadraticObjective(abc.ABC):
    """A per-row loss ``c0(y) + c1(y) z + c2 z**2`` of the linear predictor ``z``.

    Subclasses give the coefficients (see the module's "Adding a model"); the
    residual, the loss terms and the public bounds are derived here.  Every method
    is a pure function of plaintext arrays.

    Attributes
    ----------
    name : str
        The name in :data:`OBJECTIVES`.
    curvature : float
        ``c2 > 0``.
    label_term_bound : float
        The largest ``|c1(y)|`` over the labels the objective accepts.
    label_sensitivity : float
        The most one label can move ``c1(y)``, hence one residual entry.
    """

    name: ClassVar[str]
    curvature: ClassVar[float]
    label_term_bound: ClassVar[float]
    label_sensitivity: ClassVar[float]

    # what a model defines ---------------------------------------------------------------
    @abc.abstractmethod
    def response(self, labels: npt.ArrayLike, rows: int, what: str, party: str) -> FloatArray:
        """Check ``rows`` labels and return the ``y`` the loss is written in.

        Raises
        ------
        ProtocolError
            ``"<party>: <what> ..."`` if the labels are not ``rows`` acceptable values.
        """

    @abc.abstractmethod
    def constant(self, y: FloatArray) -> FloatArray | float:
        """``c0(y)``: the part of the loss that does not depend on ``z``."""

    @abc.abstractmethod
    def slope(self, y: FloatArray) -> FloatArray:
        """``c1(y)``: the residual at ``z = 0``."""

    @abc.abstractmethod
    def mean(self, z: FloatArray) -> FloatArray:
        """The inverse link: the model's prediction for the linear predictor ``z``."""

    # derived: the residual and the loss ----------------------------------------------------
    @property
    def score_scale(self) -> float:
        """``s = 2 c2``: how the residual grows with each score; hosts send ``[[s u]]``."""
        return 2.0 * self.curvature

    def scaled(self, values: FloatArray) -> FloatArray:
        """``s * values``: a host's scores as it encrypts them, or the row weights so scaled.

        Examples
        --------
        >>> import numpy as np
        >>> TaylorLogistic().scaled(np.array([1.0, -2.0])).tolist()
        [0.25, -0.5]
        """
        result: FloatArray = values * self.score_scale
        return result

    def host_squares(self, scores: FloatArray, weighted: bool) -> FloatArray:
        """What a host sends for the loss's ``c2 u_h**2``: per row when weighted, else summed.

        Examples
        --------
        >>> import numpy as np
        >>> TaylorLogistic().host_squares(np.array([1.0, 2.0]), weighted=False).tolist()
        [5.0]
        """
        squares: FloatArray = scores**2
        return squares if weighted else np.array([np.sum(squares)])

    def partial_residual(self, own: FloatArray, y: FloatArray) -> FloatArray:
        """The guest's part of the residual: ``s u_g + c1(y)`` (the hosts add ``s u_h``)."""
        result: FloatArray = self.score_scale * own + self.slope(y)
        return result

    def loss_coefficient(self, own: FloatArray, y: FloatArray) -> FloatArray:
        """The loss's coefficient of each row's ``[[s sum_h u_h]]``: ``u_g + c1(y) / s``."""
        result: FloatArray = own + self.slope(y) / self.score_scale
        return result

    def partial_loss(self, own: FloatArray, y: FloatArray) -> FloatArray:
        """The loss of each row without the hosts' scores: ``c0 + c1 u_g + c2 u_g**2``."""
        result: FloatArray = self.constant(y) + self.slope(y) * own + self.curvature * own**2
        return result

    def loss(self, z: FloatArray, y: FloatArray) -> FloatArray:
        """The whole loss of each row, ``l(z, y)`` (for tests and reports).

        Examples
        --------
        >>> import numpy as np
        >>> round(float(TaylorLogistic().loss(np.zeros(1), np.ones(1))[0]), 6)  # log 2
        0.693147
        """
        return self.partial_loss(z, y)

    # derived: the public bounds -------------------------------------------------------------
    def scaled_score_bound(self) -> float:
        """Bound on ``|s u|`` for a score within ``SCORE_BOUND``."""
        return SCORE_BOUND * self.score_scale

    def squares_bound(self, rows: int, weighted: bool) -> float:
        """Bound on a host's :meth:`host_squares` entry for a batch of ``rows`` rows."""
        return SCORE_BOUND**2 * (1 if weighted else rows)

    def weights_bound(self) -> float:
        """Bound on the scaled row weights ``s w``."""
        return MAX_SAMPLE_WEIGHT * self.score_scale

    def residual_bound(self, parties: int) -> float:
        """Bound on ``w (sum of parties' s u + c1(y))`` with ``parties`` scores in it.

        Two-party, the guest sends its own part only (``parties = 1``); arbiter mode,
        the whole residual (``parties = hosts + 1``).
        """
        return MAX_SAMPLE_WEIGHT * (
            parties * SCORE_BOUND * self.score_scale + self.label_term_bound
        )

    def prefix_bound(self, index: int) -> float:
        """Bound on the score prefix ``w s sum_{j < index} u_j`` the guest sends host ``index``."""
        return MAX_SAMPLE_WEIGHT * index * SCORE_BOUND * self.score_scale

    def cross_bound(self, index: int, rows: int) -> float:
        """Bound on host ``index``'s loss cross term ``sum_i prefix_i u_i`` over ``rows`` rows."""
        return MAX_SAMPLE_WEIGHT * index * SCORE_BOUND**2 * self.score_scale * rows

    def gradient_bound(self, rows: int, hosts: int) -> float:
        """Bound on every entry of ``X^T d`` over ``rows`` rows, label-privacy noise included.

        Features within ``FEATURE_BOUND``, weights within :data:`MAX_SAMPLE_WEIGHT`,
        ``hosts + 1`` scores within ``SCORE_BOUND`` and noise within ``MAX_NOISE``.
        """
        residual = MAX_SAMPLE_WEIGHT * (
            (hosts + 1) * SCORE_BOUND * self.score_scale + self.label_term_bound + MAX_NOISE
        )
        return rows * FEATURE_BOUND * residual


class TaylorLogistic(QuadraticObjective):
    """The logistic loss to second order: ``log 2 - y z / 2 + z**2 / 8``, ``y`` in {-1, +1}.

    The labels are 0 or 1 (1 = the event); the loss is written in ``y = 2 label - 1``.
    Predictions are ``sigmoid(z)``.

    Examples
    --------
    >>> import numpy as np
    >>> objective = TaylorLogistic()
    >>> y = objective.response([1, 0, 1], 3, "the labels", "guest")
    >>> y.tolist(), objective.score_scale
    ([1.0, -1.0, 1.0], 0.25)
    >>> own = np.array([0.5, 0.5, -2.0])
    >>> objective.loss_coefficient(own, y).tolist()  # u_g - 2 y
    [-1.5, 2.5, -4.0]
    >>> objective.response([0, 2], 2, "the labels", "guest")
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: guest: the labels must be 0 or 1 (1 = the event, e.g. fraud)
    """

    name = "taylor-logistic"
    curvature = 0.125
    label_term_bound = 0.5
    label_sensitivity = 1.0

    def response(self, labels: npt.ArrayLike, rows: int, what: str, party: str) -> FloatArray:
        """Check 0/1 labels; return ``y = 2 label - 1`` in {-1, +1}."""
        values = binary_labels(labels, rows, what, party)
        result: FloatArray = 2.0 * values - 1.0
        return result

    def constant(self, y: FloatArray) -> float:
        """``log 2``."""
        return LOG2

    def slope(self, y: FloatArray) -> FloatArray:
        """``-y / 2``."""
        result: FloatArray = -0.5 * y
        return result

    def mean(self, z: FloatArray) -> FloatArray:
        """``sigmoid(z)``: the probability of the event."""
        return sigmoid(z)


LOG2 = math.log(2.0)


def binary_labels(labels: npt.ArrayLike, rows: int, what: str, party: str) -> FloatArray:
    """``rows`` labels that are 0 or 1, as float64.

    Raises
    ------
    ProtocolError
        If there are not ``rows`` labels, or one is neither 0 nor 1.

    Examples
    --------
    >>> binary_labels([1, 0], 2, "the labels", "guest").tolist()
    [1.0, 0.0]
    """
    values = np.asarray(labels, dtype=np.float64).ravel()
    if values.shape != (rows,):
        raise ProtocolError(f"{party}: {what} has {values.size} values for {rows} rows")
    if not np.isin(values, (0.0, 1.0)).all():
        raise ProtocolError(f"{party}: {what} must be 0 or 1 (1 = the event, e.g. fraud)")
    return values


OBJECTIVES: dict[str, QuadraticObjective] = {TaylorLogistic.name: TaylorLogistic()}
"""Every objective, by name."""

DEFAULT_OBJECTIVE = TaylorLogistic.name
"""The objective training uses (the only one so far)."""


def get_objective(name: str = DEFAULT_OBJECTIVE) -> QuadraticObjective:
    """The objective called ``name``.

    Raises
    ------
    ProtocolError
        If no objective has that name.

    Examples
    --------
    >>> get_objective().name
    'taylor-logistic'
    >>> get_objective("hinge")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: unknown objective 'hinge'; choose one of (...)
    """
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ProtocolError(
            f"unknown objective {name!r}; choose one of {tuple(OBJECTIVES)}"
        ) from None

"""Local optimisers: how each party of hetero LR updates its own weights.

In hetero logistic regression every party holds the coefficients of its own features
and, after each encrypted round, learns the (decrypted) gradient of the data loss with
respect to those coefficients only.  It then updates them locally with one of the
optimisers below; nothing here is exchanged, and nothing here draws randomness, reads
files or depends on anything but its inputs and its own state.

Update rules, with ``g`` the gradient (including the L2 term, below) and ``lr`` the
learning rate of the current epoch (:meth:`OptimizerSettings.learning_rate_at`):

========  ==================================================================
sgd       ``w -= lr*g``
momentum  ``v = momentum*v - lr*g``; ``w += v``
nesterov  ``v = momentum*v - lr*g``; ``w += momentum*v - lr*g`` (the PyTorch
          reformulation: the gradient is taken at the current weights, not at
          a look-ahead point, so a party needs only the gradient it received)
adagrad   ``G += g**2``; ``w -= lr*g/(sqrt(G) + eps)``
rmsprop   ``E = rho*E + (1-rho)*g**2``; ``w -= lr*g/(sqrt(E) + eps)``
adam      ``t = steps + 1``; ``m = b1*m + (1-b1)*g``; ``v = b2*v + (1-b2)*g**2``;
          ``w -= lr*(m/(1-b1**t)) / (sqrt(v/(1-b2**t)) + eps)``
========  ==================================================================

The learning rate decays per epoch: ``lr_t = lr / (1 + decay*epoch)``, or
``lr / sqrt(1 + decay*epoch)`` with ``decay_sqrt``.

Penalties apply only to the coefficients in the ``penalized`` mask (the guest's
intercept is never penalised):

- **L2** (``alpha/2 * ||w||²``) is smooth, so its gradient ``alpha*w`` is simply added
  to the data gradient before the update rule.
- **L1** (``alpha * ||w||₁``) is not differentiable at zero.  Adding its subgradient
  ``alpha*sign(w)`` would make coefficients oscillate around zero and never reach it.
  Instead it is applied *proximally*: after the update rule, each penalised
  coefficient is soft-thresholded, ``w = sign(w) * max(|w| - lr_t*alpha, 0)``, the
  exact minimiser of ``alpha*|x| + (x - w)²/(2*lr_t)``.  Coefficients whose magnitude
  falls below the threshold become exactly ``0.0``: L1 selects features.

An :class:`Optimizer` keeps its per-coefficient slots (velocity, accumulated squares,
moments) and its step count; :meth:`Optimizer.state` and :meth:`Optimizer.from_state`
move them through JSON so that a restored run continues bit for bit like an
uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.declarations import Choice, Flag, Real, setting, validate

__all__ = ["OPTIMIZERS", "PENALTIES", "Optimizer", "OptimizerSettings"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
PENALTIES = ("none", "l1", "l2")

STATE_VERSION = 1

# The per-coefficient arrays each optimiser keeps, in the order they are stored.
_SLOTS: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "momentum": ("velocity",),
    "nesterov": ("velocity",),
    "adagrad": ("sum_squares",),
    "rmsprop": ("mean_squares",),
    "adam": ("first_moment", "second_moment"),
}
# Slots that are sums or averages of squares, hence never negative.
_NON_NEGATIVE_SLOTS = frozenset({"sum_squares", "mean_squares", "second_moment"})


def _epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
        raise ProtocolError(f"epoch must be an integer, got {epoch!r}")
    if epoch < 0:
        raise ProtocolError(f"epoch must be >= 0 (counted from 0), got {epoch}")
    return int(epoch)


@dataclass(frozen=True)
class OptimizerSettings:
    """How a party updates its weights: optimiser, learning rate schedule and penalty.

    Every field is declared once, with its default, rule and meaning
    (:mod:`protocols.hetero_lr.declarations`); the first six are the estimator's and
    the job files' keywords (``name`` is spelt ``optimizer`` there).

    Parameters
    ----------
    name : str
        One of :data:`OPTIMIZERS`.
    learning_rate : float
        Initial learning rate, finite and > 0.
    penalty : str
        One of :data:`PENALTIES`.
    alpha : float
        Penalty strength, >= 0 (ignored with ``penalty="none"``).
    decay : float
        Learning-rate decay per epoch, >= 0.
    decay_sqrt : bool
        Decay as ``lr / sqrt(1 + decay*epoch)`` instead of ``lr / (1 + decay*epoch)``.
    momentum : float
        Momentum of ``"momentum"`` and ``"nesterov"``, in [0, 1).
    rho : float
        Decay of the mean of squares of ``"rmsprop"``, in [0, 1).
    beta1, beta2 : float
        Moment decays of ``"adam"``, in [0, 1).
    epsilon : float
        Added to the denominators of ``"adagrad"``, ``"rmsprop"`` and ``"adam"``, > 0.

    Raises
    ------
    ProtocolError
        If a value is of the wrong type, unknown, non-finite or out of range.

    Examples
    --------
    >>> settings = OptimizerSettings("adam", learning_rate=0.05, decay=1.0)
    >>> settings.learning_rate_at(1)
    0.025
    >>> OptimizerSettings("adamw")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: unknown optimizer 'adamw'; expected one of sgd, ...
    """

    name: str = setting(
        "sgd",
        Choice(OPTIMIZERS, "optimizer"),
        name="optimizer",
        doc='`"sgd"`, `"momentum"`, `"nesterov"`, `"adagrad"`, `"rmsprop"` or `"adam"`.',
    )
    learning_rate: float = setting(0.1, Real(low_open=True), doc="Step size.")
    penalty: str = setting(
        "l2",
        Choice(PENALTIES, "penalty"),
        doc='`"l2"`, `"l1"` (applied proximally: exact zeros) or `"none"`. The intercept '
        "is never penalised.",
    )
    alpha: float = setting(
        0.0,
        Real(),
        doc='Penalty strength. The default `0.0` means no penalty even with `penalty = "l2"`.',
    )
    decay: float = setting(
        0.0, Real(), doc="Learning-rate decay per epoch: `lr / (1 + decay·epoch)`."
    )
    decay_sqrt: bool = setting(False, Flag(), doc="Use `lr / sqrt(1 + decay·epoch)` instead.")
    momentum: float = setting(0.9, Real(high=1.0), keyword=False, job_file=False)
    rho: float = setting(0.9, Real(high=1.0), keyword=False, job_file=False)
    beta1: float = setting(0.9, Real(high=1.0), keyword=False, job_file=False)
    beta2: float = setting(0.999, Real(high=1.0), keyword=False, job_file=False)
    epsilon: float = setting(1e-8, Real(low_open=True), keyword=False, job_file=False)

    def __post_init__(self) -> None:
        validate(self)  # every field is a declared setting: its rule checks and converts it

    def learning_rate_at(self, epoch: int) -> float:
        """The decayed learning rate of ``epoch`` (counted from 0).

        Parameters
        ----------
        epoch : int
            Epoch number, >= 0.

        Returns
        -------
        float
            ``learning_rate / (1 + decay*epoch)``, or
            ``learning_rate / sqrt(1 + decay*epoch)`` with ``decay_sqrt``.

        Raises
        ------
        ProtocolError
            If ``epoch`` is not a non-negative integer.

        Examples
        --------
        >>> OptimizerSettings(learning_rate=0.5, decay=0.5).learning_rate_at(2)
        0.25
        >>> OptimizerSettings(learning_rate=0.3, decay=1.0, decay_sqrt=True).learning_rate_at(3)
        0.15
        """
        scale = 1.0 + self.decay * _epoch(epoch)
        return self.learning_rate / (math.sqrt(scale) if self.decay_sqrt else scale)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (field name to value).

        Returns
        -------
        dict
            Every field of the settings.
        """
        return dataclasses.asdict(self)


_SETTING_FIELDS = frozenset(field.name for field in dataclasses.fields(OptimizerSettings))


class Optimizer:
    """One party's optimiser over its own ``size`` coefficients.

    Parameters
    ----------
    settings : OptimizerSettings
        Optimiser, learning rate schedule and penalty.
    size : int
        Number of coefficients, >= 1.
    penalized : array_like of bool, optional
        Mask of the coefficients the penalty applies to, shape ``(size,)``; by default
        all of them.  The guest leaves its intercept out.

    Raises
    ------
    ProtocolError
        If ``size`` or ``penalized`` is malformed.

    Examples
    --------
    >>> import numpy as np
    >>> opt = Optimizer(OptimizerSettings("sgd", learning_rate=0.5, penalty="none"), 2)
    >>> opt.step(np.array([1.0, -1.0]), np.array([0.5, 0.25]), epoch=0)
    array([ 0.75 , -1.125])
    >>> opt.steps
    1
    """

    def __init__(
        self, settings: OptimizerSettings, size: int, penalized: npt.ArrayLike | None = None
    ) -> None:
        if not isinstance(settings, OptimizerSettings):
            raise ProtocolError(
                f"optimizer settings must be an OptimizerSettings, got {type(settings).__name__}"
            )
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ProtocolError(f"optimizer size must be a positive integer, got {size!r}")
        self._settings = settings
        self._size = int(size)
        self._penalized = self._mask(penalized)
        self._steps = 0
        self._slots: dict[str, FloatArray] = {
            slot: np.zeros(self._size, dtype=np.float64) for slot in _SLOTS[settings.name]
        }

    def _mask(self, penalized: npt.ArrayLike | None) -> BoolArray:
        if penalized is None:
            return np.ones(self._size, dtype=np.bool_)
        try:
            mask = np.array(penalized)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"penalized must be a boolean mask: {exc}") from None
        if mask.dtype != np.bool_:
            raise ProtocolError(
                f"penalized must be a boolean mask (True: penalised), not {mask.dtype} values;"
                " pass e.g. [True, ..., False] rather than indices"
            )
        if mask.shape != (self._size,):
            raise ProtocolError(f"penalized mask has shape {mask.shape}, expected ({self._size},)")
        mask.flags.writeable = False
        return mask

    @property
    def settings(self) -> OptimizerSettings:
        """The settings this optimiser was built with."""
        return self._settings

    @property
    def size(self) -> int:
        """Number of coefficients."""
        return self._size

    @property
    def steps(self) -> int:
        """Number of successful :meth:`step` calls so far (adam's ``t`` is ``steps + 1``)."""
        return self._steps

    def _vector(self, values: object, what: str) -> FloatArray:
        try:
            array = np.asarray(values)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{what} must be an array of numbers: {exc}") from None
        if array.dtype.kind not in "iuf":
            raise ProtocolError(f"{what} must hold real numbers, got dtype {array.dtype}")
        if array.shape != (self._size,):
            raise ProtocolError(f"{what} has shape {array.shape}, expected ({self._size},)")
        result = array.astype(np.float64, copy=False)
        if not np.isfinite(result).all():
            raise ProtocolError(f"{what} must be finite (found NaN or infinity)")
        return result

    def step(self, weights: FloatArray, gradient: FloatArray, epoch: int) -> FloatArray:
        """Apply one update and return the new weights.

        Parameters
        ----------
        weights : ndarray of float64, shape (size,)
            Current coefficients.  Not modified.
        gradient : ndarray of float64, shape (size,)
            Gradient of the data loss alone at ``weights``; the penalty is added here.
            Not modified.
        epoch : int
            Current epoch (from 0), which sets the decayed learning rate.

        Returns
        -------
        ndarray of float64, shape (size,)
            New weights, a new array.

        Raises
        ------
        ProtocolError
            If a shape is wrong, a value is not finite, ``epoch`` is invalid, or the
            update overflows.  The optimiser's state is then unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> settings = OptimizerSettings("sgd", learning_rate=1.0, penalty="l1", alpha=0.5)
        >>> opt = Optimizer(settings, 3, penalized=[True, True, False])
        >>> opt.step(np.array([1.0, 0.25, 0.25]), np.zeros(3), epoch=0)
        array([0.5 , 0.  , 0.25])
        """
        lr = self._settings.learning_rate_at(epoch)
        w = self._vector(weights, "weights")
        g = self._vector(gradient, "gradient").copy()
        s = self._settings
        mask = self._penalized
        slots: dict[str, FloatArray] = {}
        with np.errstate(over="ignore", invalid="ignore"):
            if s.penalty == "l2" and s.alpha != 0.0:
                g[mask] += s.alpha * w[mask]
            if s.name == "sgd":
                new = w - lr * g
            elif s.name == "momentum":
                v = s.momentum * self._slots["velocity"] - lr * g
                slots["velocity"] = v
                new = w + v
            elif s.name == "nesterov":
                v = s.momentum * self._slots["velocity"] - lr * g
                slots["velocity"] = v
                new = w + (s.momentum * v - lr * g)
            elif s.name == "adagrad":
                total = self._slots["sum_squares"] + g * g
                slots["sum_squares"] = total
                new = w - lr * g / (np.sqrt(total) + s.epsilon)
            elif s.name == "rmsprop":
                mean = s.rho * self._slots["mean_squares"] + (1.0 - s.rho) * (g * g)
                slots["mean_squares"] = mean
                new = w - lr * g / (np.sqrt(mean) + s.epsilon)
            else:  # adam
                t = self._steps + 1
                m = s.beta1 * self._slots["first_moment"] + (1.0 - s.beta1) * g
                v = s.beta2 * self._slots["second_moment"] + (1.0 - s.beta2) * (g * g)
                slots["first_moment"] = m
                slots["second_moment"] = v
                m_hat = m / (1.0 - s.beta1**t)
                v_hat = v / (1.0 - s.beta2**t)
                new = w - lr * m_hat / (np.sqrt(v_hat) + s.epsilon)

        if s.penalty == "l1" and s.alpha != 0.0:
            threshold = lr * s.alpha
            shrunk = np.sign(new[mask]) * np.maximum(np.abs(new[mask]) - threshold, 0.0)
            new[mask] = shrunk + 0.0  # + 0.0 turns -0.0 into 0.0, leaves the rest exact

        if not np.isfinite(new).all() or not all(np.isfinite(a).all() for a in slots.values()):
            raise ProtocolError(
                f"{s.name} update overflowed (non-finite weights or optimizer state); lower"
                " the learning rate or check the gradient's scale"
            )
        self._slots.update(slots)
        self._steps += 1
        return new

    def penalty(self, weights: FloatArray) -> float:
        """The penalty term of the loss at ``weights``, over the penalised coefficients.

        Parameters
        ----------
        weights : ndarray of float64, shape (size,)
            Coefficients.

        Returns
        -------
        float
            ``alpha/2 * sum(w**2)`` (l2), ``alpha * sum(|w|)`` (l1) or ``0.0`` (none).

        Raises
        ------
        ProtocolError
            If ``weights`` has the wrong shape or is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> opt = Optimizer(OptimizerSettings(penalty="l2", alpha=0.5), 2, [True, False])
        >>> opt.penalty(np.array([2.0, 10.0]))
        1.0
        """
        w = self._vector(weights, "weights")[self._penalized]
        s = self._settings
        with np.errstate(over="ignore"):  # astronomically large weights: inf, honestly
            if s.penalty == "l2":
                return float(s.alpha / 2.0 * np.dot(w, w))
            if s.penalty == "l1":
                return float(s.alpha * np.abs(w).sum())
        return 0.0

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this optimiser, as JSON-serialisable values.

        Returns
        -------
        dict
            ``version``, ``settings`` (a dict), ``size``, ``penalized`` (list of bool),
            ``steps`` and ``slots`` (slot name to list of float).  Floats survive
            ``json.dumps``/``json.loads`` exactly.

        Examples
        --------
        >>> import json
        >>> opt = Optimizer(OptimizerSettings("momentum"), 2)
        >>> restored = Optimizer.from_state(json.loads(json.dumps(opt.state())))
        >>> restored.state() == opt.state()
        True
        """
        return {
            "version": STATE_VERSION,
            "settings": self._settings.to_dict(),
            "size": self._size,
            "penalized": [bool(flag) for flag in self._penalized],
            "steps": self._steps,
            "slots": {name: [float(x) for x in array] for name, array in self._slots.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Optimizer:
        """Rebuild an optimiser from :meth:`state`, validating every field.

        Parameters
        ----------
        state : dict
            What :meth:`state` returned, possibly through JSON.

        Returns
        -------
        Optimizer
            An optimiser whose next steps equal those of the one that was saved.

        Raises
        ------
        ProtocolError
            If anything is missing, unexpected, of the wrong type, out of range or
            inconsistent.

        Examples
        --------
        >>> Optimizer.from_state({"version": 1, "size": 2})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        protocols.exceptions.ProtocolError: optimizer state: missing keys penalized, settings, ...
        """
        expected = {"version", "settings", "size", "penalized", "steps", "slots"}
        if not isinstance(state, dict):
            raise ProtocolError(f"optimizer state must be a dict, got {type(state).__name__}")
        missing, unknown = expected - state.keys(), state.keys() - expected
        if missing:
            raise ProtocolError(f"optimizer state: missing keys {', '.join(sorted(missing))}")
        if unknown:
            raise ProtocolError(
                f"optimizer state: unknown keys {', '.join(sorted(map(str, unknown)))}"
            )
        version = state["version"]
        if type(version) is not int or version != STATE_VERSION:
            raise ProtocolError(
                f"optimizer state: version {version!r} is not supported (expected {STATE_VERSION})"
            )

        raw_settings = state["settings"]
        if not isinstance(raw_settings, dict):
            raise ProtocolError("optimizer state: settings must be a dict")
        if raw_settings.keys() != _SETTING_FIELDS:
            absent = sorted(_SETTING_FIELDS - raw_settings.keys())
            extra = sorted(map(str, raw_settings.keys() - _SETTING_FIELDS))
            raise ProtocolError(
                "optimizer state: settings must have exactly the fields of OptimizerSettings"
                f" (missing: {', '.join(absent) or 'none'}; unknown: {', '.join(extra) or 'none'})"
            )
        try:
            settings = OptimizerSettings(**raw_settings)
        except ProtocolError as exc:
            raise ProtocolError(f"optimizer state: {exc}") from None

        size, steps = state["size"], state["steps"]
        if type(size) is not int or size < 1:
            raise ProtocolError(f"optimizer state: size must be a positive integer, got {size!r}")
        if type(steps) is not int or steps < 0:
            raise ProtocolError(
                f"optimizer state: steps must be a non-negative integer, got {steps!r}"
            )
        penalized = state["penalized"]
        if not isinstance(penalized, list) or not all(type(f) is bool for f in penalized):
            raise ProtocolError("optimizer state: penalized must be a list of true/false")
        if len(penalized) != size:
            raise ProtocolError(
                f"optimizer state: penalized has {len(penalized)} entries, size is {size}"
            )

        raw_slots = state["slots"]
        names = _SLOTS[settings.name]
        if not isinstance(raw_slots, dict) or raw_slots.keys() != set(names):
            raise ProtocolError(
                f"optimizer state: {settings.name} needs slots"
                f" {', '.join(names) or '(none)'} and no others"
            )
        slots: dict[str, FloatArray] = {}
        for name in names:
            values = raw_slots[name]
            if (
                not isinstance(values, list)
                or len(values) != size
                or not all(isinstance(x, int | float) and type(x) is not bool for x in values)
            ):
                raise ProtocolError(
                    f"optimizer state: slot {name} must be a list of {size} numbers"
                )
            try:
                array = np.array(values, dtype=np.float64)
            except OverflowError:
                array = np.full(size, np.inf)
            if not np.isfinite(array).all():
                raise ProtocolError(f"optimizer state: slot {name} must be finite")
            if name in _NON_NEGATIVE_SLOTS and (array < 0).any():
                raise ProtocolError(f"optimizer state: slot {name} must be >= 0")
            slots[name] = array

        optimizer = cls(settings, size, penalized)
        optimizer._steps = steps
        optimizer._slots = slots
        return optimizer

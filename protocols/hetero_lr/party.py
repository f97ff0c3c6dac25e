"""What every training party shares: its data, weights, optimiser and message checks.

Fixed-point layout (public constants, so no exponent reveals a magnitude): values a
party encrypts are at :data:`ENCRYPTION_EXPONENT` (resolution ``2**-32``); plaintext
factors that multiply ciphertexts (features, weights, residual coefficients) at
:data:`FACTOR_EXPONENT` (``2**-16``).  A receiver checks the exponent of every vector
and replaces its claimed bound by the public worst case before computing with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.encoding import encode_scalar, exponent_for_precision
from crypto.exceptions import CryptoError
from crypto.paillier import DEFAULT_PLAINTEXT_PRECISION, DEFAULT_VECTOR_PRECISION, MIN_KEY_BITS
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.backends import Backend, get_backend
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.optimizers import Optimizer
from protocols.hetero_lr.settings import SCORE_BOUND, LrSettings
from protocols.messages import Message
from protocols.roles import Role

__all__ = [
    "ENCRYPTION_EXPONENT",
    "FACTOR_EXPONENT",
    "MAX_SAMPLE_WEIGHT",
    "LrPartyResult",
    "TrainingParty",
    "checked_matrix",
]

FloatArray = npt.NDArray[np.float64]

ENCRYPTION_EXPONENT = exponent_for_precision(DEFAULT_VECTOR_PRECISION)
FACTOR_EXPONENT = exponent_for_precision(DEFAULT_PLAINTEXT_PRECISION)
MAX_SAMPLE_WEIGHT = 2.0**20
"""Public bound on a row weight (class weight times sample weight)."""

MAX_MASKED_VALUES = 1_000_000
"""Refuse masked vectors longer than this (a party's gradient is never this wide)."""


@dataclass
class LrPartyResult:
    """What a party knows after training.

    Attributes
    ----------
    weights : numpy.ndarray
        This party's coefficients (features only; no other party's).
    intercept : float
        The guest's intercept (0.0 on hosts and without ``fit_intercept``).
    history : list of dict
        One entry per epoch.  The guest's: ``epoch``, ``loss``, ``weight_change``,
        ``validation_auc``, ``validation_ks``; a host's: ``epoch``, ``weight_change``.
    epochs : int
        Epochs trained.
    stop_reason : str
        ``"converged"``, ``"early_stopping"`` or ``"max_iter"`` (as the guest decided).
    best_epoch : int
        The epoch whose weights were kept.
    optimizer_state : dict
        The optimiser's state after the last update (for checkpoints).

    Examples
    --------
    The result of every party of a run (see :class:`~protocols.hetero_lr.LrGuest`):

    >>> import numpy as np
    >>> result = LrPartyResult(np.array([0.5, -1.0]), 0.25, [], epochs=3,
    ...                        stop_reason="max_iter", best_epoch=2)
    >>> result.epochs, result.optimizer_state
    (3, {})
    """

    weights: FloatArray
    intercept: float
    history: list[dict[str, Any]]
    epochs: int
    stop_reason: str
    best_epoch: int
    optimizer_state: dict[str, Any] = field(default_factory=dict)


def checked_matrix(values: npt.ArrayLike, what: str, party: str) -> FloatArray:
    """A finite 2-D float64 array, or a clear error.

    Parameters
    ----------
    values : array_like
        The matrix.
    what : str
        What it is (named in errors).
    party : str
        Whose it is (named in errors).

    Returns
    -------
    numpy.ndarray
        ``values`` as float64.

    Raises
    ------
    ProtocolError
        If ``values`` is not 2-D or holds a NaN or an infinity.

    Examples
    --------
    >>> checked_matrix([[1, 2], [3, 4]], "features", "host").dtype
    dtype('float64')
    >>> checked_matrix([1, 2], "features", "host")
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: host: features must be a 2-D array, got shape (2,)
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ProtocolError(f"{party}: {what} must be a 2-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ProtocolError(f"{party}: {what} holds a missing or infinite value; clean the data")
    return array


class TrainingParty(Role):
    """Shared state of a guest or host that owns features and weights.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    features : array_like
        This party's aligned training rows (2-D).
    settings : LrSettings
        Training parameters.
    backend : str
        ``"paillier"``, ``"phe"`` or ``"plaintext"``.
    validation : array_like, optional
        This party's aligned validation rows.
    initial_weights : array_like, optional
        Warm start (the guest's include the intercept last when it fits one).
    penalized : array_like of bool, optional
        Which coefficients the penalty applies to (default all).

    Raises
    ------
    ProtocolError
        If the features, validation rows or initial weights are malformed, or the
        backend is unknown.

    Examples
    --------
    :class:`~protocols.hetero_lr.LrGuest` and :class:`~protocols.hetero_lr.LrHost`
    are the concrete parties:

    >>> import numpy as np
    >>> from protocols.hetero_lr import LrHost, LrSettings
    >>> host = LrHost("host", "job-1", guest="guest", features=np.ones((8, 3)),
    ...               settings=LrSettings())
    >>> isinstance(host, TrainingParty), host.features_count, host.weights.tolist()
    (True, 3, [0.0, 0.0, 0.0])
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        features: npt.ArrayLike,
        settings: LrSettings,
        backend: str,
        validation: npt.ArrayLike | None,
        initial_weights: npt.ArrayLike | None,
        penalized: npt.ArrayLike | None = None,
    ) -> None:
        super().__init__(party, job_id)
        self.settings = settings
        self.backend: Backend = get_backend(backend)
        self.X = checked_matrix(features, "the training features", party)
        self.X_validation = (
            None if validation is None else checked_matrix(validation, "validation features", party)
        )
        if self.X_validation is not None and self.X_validation.shape[1] != self.X.shape[1]:
            raise ProtocolError(
                f"{party}: validation rows have {self.X_validation.shape[1]} columns, "
                f"training rows {self.X.shape[1]}"
            )
        width = self.X.shape[1]
        if initial_weights is None:
            self.weights = np.zeros(width)
        else:
            self.weights = np.asarray(initial_weights, dtype=np.float64).copy()
            if self.weights.shape != (width,) or not np.isfinite(self.weights).all():
                raise ProtocolError(
                    f"{party}: the initial weights must be {width} finite numbers "
                    f"(one per column), got shape {self.weights.shape}"
                )
        self.optimizer = Optimizer(settings.optimizer, width, penalized)
        self.plan: BatchPlan | None = None
        self.epoch = 0
        self.batch = 0
        self.batches: list[npt.NDArray[np.int64]] = []
        self.epoch_start_weights = self.weights.copy()
        self.snapshots: list[FloatArray] = []
        self.history: list[dict[str, Any]] = []

    # the plan -------------------------------------------------------------------------
    @property
    def features_count(self) -> int:
        """Columns of this party's gradient."""
        return int(self.X.shape[1])

    def _start_plan(self, plan: BatchPlan) -> None:
        self.plan = plan
        self.batches = plan.batches(0)

    @property
    def rows(self) -> npt.NDArray[np.int64]:
        """Row indices of the current batch."""
        return self.batches[self.batch]

    @property
    def last_batch(self) -> bool:
        """Whether the current batch is the last of its epoch."""
        return self.batch == len(self.batches) - 1

    def _check_batch_size(self, plan: BatchPlan, features: int, owner: str) -> None:
        if plan.smallest <= features:
            raise ProtocolError(
                f"{self.party}: batches of {plan.smallest} rows are not larger than {owner}'s "
                f"{features} gradient columns, so a gradient would reveal the batch's "
                f"residuals; use a batch_size above {features}"
            )

    def _scores(self, rows: npt.NDArray[np.int64] | None = None) -> FloatArray:
        chosen = self.X if rows is None else self.X[rows]
        scores = chosen @ self.weights
        if not np.isfinite(scores).all() or np.abs(scores).max(initial=0.0) > SCORE_BOUND:
            raise ProtocolError(
                f"{self.party}: a partial score exceeds the public bound {SCORE_BOUND:g}; "
                "standardise the features or lower the learning rate"
            )
        return scores

    # updates --------------------------------------------------------------------------
    def _update(self, gradient_sum: FloatArray) -> None:
        """Apply this batch's gradient (a sum over its rows) with the optimiser."""
        if gradient_sum.shape != self.weights.shape or not np.isfinite(gradient_sum).all():
            raise ProtocolError(f"{self.party}: the decrypted gradient is malformed")
        gradient = gradient_sum / len(self.rows)
        self.weights = self.optimizer.step(self.weights, gradient, self.epoch)

    def _end_epoch_weights(self) -> float:
        """Snapshot the weights; return the squared norm of the epoch's change."""
        change = float(np.sum((self.weights - self.epoch_start_weights) ** 2))
        self.snapshots.append(self.weights.copy())
        self.epoch_start_weights = self.weights.copy()
        return change

    def _next_batch(self) -> bool:
        """Move to the next batch; return True when a new epoch began."""
        assert self.plan is not None
        if not self.last_batch:
            self.batch += 1
            return False
        self.epoch += 1
        self.batch = 0
        self.batches = self.plan.batches(self.epoch)
        return True

    def _keep_epoch(self, best_epoch: int) -> None:
        if best_epoch == -1:
            return
        if not 0 <= best_epoch < len(self.snapshots):
            raise ProtocolError(
                f"{self.party}: asked to keep epoch {best_epoch} of {len(self.snapshots)}"
            )
        self.weights = self.snapshots[best_epoch].copy()

    # checks of received values -----------------------------------------------------------
    def _check_header(self, message: Message, epoch: int, batch: int) -> None:
        if (message.round, message.batch) != (epoch, batch):
            raise ProtocolError(
                f"{self.party}: {message.sender} sent {message.kind.name} for epoch "
                f"{message.round} batch {message.batch}, expected epoch {epoch} batch {batch}"
            )

    def _check_key_size(self, public_key: Any, owner: str) -> None:
        if public_key.bits < MIN_KEY_BITS and not self.settings.allow_weak_key:
            raise ProtocolError(
                f"{self.party}: {owner}'s {public_key.bits}-bit key is below the "
                f"{MIN_KEY_BITS}-bit minimum"
            )

    def _checked_vector(
        self,
        vector: Any,
        *,
        key: Any,
        length: int,
        exponent: int,
        max_abs: float,
        what: str,
        sender: str,
    ) -> Any:
        """``vector`` with the public bound, after checking key, length and exponent."""
        try:
            key.check_same(vector.public_key)
        except (CryptoError, AttributeError) as error:
            raise ProtocolError(f"{self.party}: {sender} sent {what} under another key") from error
        if len(vector) != length:
            raise ProtocolError(
                f"{self.party}: {sender} sent {len(vector)} values of {what}, expected {length}"
            )
        if vector.exponent != exponent:
            raise ProtocolError(
                f"{self.party}: {sender} sent {what} at exponent {vector.exponent}, "
                f"expected {exponent}"
            )
        bound, _ = encode_scalar(max_abs, key.n, exponent=exponent)
        return vector.with_bound(max(bound, 1))

    def _checked_masked(self, masked: Any, key: Any, limit: int, what: str, sender: str) -> Any:
        try:
            key.check_same(masked.public_key)
        except (CryptoError, AttributeError) as error:
            raise ProtocolError(f"{self.party}: {sender} sent {what} under another key") from error
        if len(masked) > limit:
            raise ProtocolError(
                f"{self.party}: {sender} sent {len(masked)} masked values of {what}, "
                f"at most {limit} expected"
            )
        return masked

    def _party_result(self, intercept: float, stop_reason: str, best_epoch: int) -> LrPartyResult:
        return LrPartyResult(
            weights=self.weights.copy(),
            intercept=intercept,
            history=self.history,
            epochs=len(self.snapshots),
            stop_reason=stop_reason,
            best_epoch=best_epoch,
            optimizer_state=self.optimizer.state(),
        )

    @property
    def progress(self) -> tuple[int, int]:
        """Batches done out of the most ``max_iter`` epochs can take."""
        per_epoch = self.plan.batch_count if self.plan is not None else 1
        total = self.settings.max_iter * per_epoch
        done = total if self.done else min(total, self.epoch * per_epoch + self.batch)
        return done, total


def decrypt_masked(
    private_key: Any, masked: list[Any], party: str, n_jobs: int | None
) -> list[int]:
    """The key owner's reply to masked vectors: their raw plaintexts, in order."""
    values: list[int] = []
    try:
        for vector in masked:
            values.extend(private_key.decrypt_raw(vector, n_jobs=n_jobs))
    except CryptoError as error:
        raise ProtocolError(f"{party}: cannot decrypt the masked values ({error})") from error
    return values

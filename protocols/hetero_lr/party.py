"""What every training party shares: its data, weights, optimiser and message checks.

Fixed-point layout (public constants, so no exponent reveals a magnitude): values a
party encrypts are at :data:`ENCRYPTION_EXPONENT` (resolution ``2**-32``); plaintext
factors that multiply ciphertexts (features, weights, residual coefficients) at
:data:`FACTOR_EXPONENT` (``2**-16``).  A receiver checks the exponent of every vector
and replaces its claimed bound by the public worst case before computing with it
(the bounds: :class:`~protocols.hetero_lr.objective.QuadraticObjective`).

Vectors and keys are typed by the protocols of :mod:`crypto.vector_api`, which every
backend implements.  Message fields name the wire types (the codec encodes them);
:func:`sent_vector`, :func:`sent_masked` and :func:`sent_key` put a backend's values
in them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
import numpy.typing as npt

from crypto.encoding import encode_scalar, exponent_for_precision
from crypto.exceptions import CryptoError
from crypto.paillier import (
    DEFAULT_PLAINTEXT_PRECISION,
    DEFAULT_VECTOR_PRECISION,
    MIN_KEY_BITS,
    EncryptedVector,
    MaskedVector,
    PaillierPublicKey,
)
from crypto.vector_api import CipherVector, MaskedValues, VectorPrivateKey, VectorPublicKey
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.backends import Backend, get_backend
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.objective import MAX_SAMPLE_WEIGHT, QuadraticObjective, get_objective
from protocols.hetero_lr.optimizers import Optimizer
from protocols.hetero_lr.settings import FEATURE_BOUND, SCORE_BOUND, LrSettings
from protocols.hetero_lr.state import (
    KEPT_CHECKPOINTS,
    LrCheckpoint,
    inputs_digest,
    settings_description,
)
from protocols.messages import LrHostSetup, LrSetup, Message
from protocols.roles import Role

__all__ = [
    "ENCRYPTION_EXPONENT",
    "FACTOR_EXPONENT",
    "MAX_GRADIENT_BITS",
    "MAX_MASKED_VALUES",
    "MAX_SAMPLE_WEIGHT",
    "LrPartyResult",
    "TrainingParty",
    "checked_matrix",
    "guest_design",
    "public_gradient_bound",
    "select_checkpoints",
    "sent_key",
    "sent_masked",
    "sent_vector",
]

FloatArray = npt.NDArray[np.float64]
Vector = TypeVar("Vector", bound=CipherVector)

ENCRYPTION_EXPONENT = exponent_for_precision(DEFAULT_VECTOR_PRECISION)
FACTOR_EXPONENT = exponent_for_precision(DEFAULT_PLAINTEXT_PRECISION)

MAX_GRADIENT_BITS = 64
"""Most bits a host may report per gradient entry (features within ``FEATURE_BOUND``
at resolution ``2**-16`` need at most 47)."""

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
        If ``values`` is not 2-D, holds a NaN or an infinity, or a value beyond the
        public :data:`~protocols.hetero_lr.settings.FEATURE_BOUND`.

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
    step = max(1, _CHECK_CELLS // max(array.shape[1], 1))  # blocks: no whole-matrix temporary
    for start in range(0, len(array), step):
        block = array[start : start + step]
        if not np.isfinite(block).all():
            raise ProtocolError(
                f"{party}: {what} holds a missing or infinite value; clean the data"
            )
        if np.abs(block).max(initial=0.0) > FEATURE_BOUND:
            raise ProtocolError(
                f"{party}: {what} hold a value beyond the public bound ±{FEATURE_BOUND:g}; "
                "scale the features (e.g. standardize)"
            )
    return array


_CHECK_CELLS = 1 << 21
"""Cells :func:`checked_matrix` checks at once (a matrix may be a memory-mapped file)."""


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

    Resuming: :meth:`prepare_resume` (before :meth:`start`) with the party's
    checkpoints of the interrupted run, :meth:`take_checkpoint` after every message
    to store the checkpoint of each epoch that training goes on from.
    """

    ROLE: ClassVar[str]
    """``"guest"`` or ``"host"`` (the role named in checkpoints)."""

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
        self.initial_weights: FloatArray | None = None
        if initial_weights is None:
            self.weights = np.zeros(width)
        else:
            self.weights = np.asarray(initial_weights, dtype=np.float64).copy()
            if self.weights.shape != (width,) or not np.isfinite(self.weights).all():
                raise ProtocolError(
                    f"{party}: the initial weights must be {width} finite numbers "
                    f"(one per column), got shape {self.weights.shape}"
                )
            self.initial_weights = self.weights.copy()
        self.optimizer = Optimizer(settings.optimizer, width, penalized)
        self.objective: QuadraticObjective = get_objective()
        """The loss minimised (:mod:`~protocols.hetero_lr.objective`)."""
        self.plan: BatchPlan | None = None
        self.epoch = 0
        self.batch = 0
        self.batches: list[npt.NDArray[np.int64]] = []
        self.epoch_start_weights = self.weights.copy()
        self.snapshots: list[FloatArray] = []
        self.history: list[dict[str, Any]] = []
        self._resume: tuple[LrCheckpoint, ...] | None = None
        self._checkpoint: LrCheckpoint | None = None
        self._inputs_digest: str | None = None
        self.resumed_after: int | None = None
        """In a resumed run, the epoch training went on after (-1: from the start)."""

    # checkpoints and resuming -------------------------------------------------------------
    def _digest_inputs(self) -> tuple[dict[str, object], dict[str, npt.ArrayLike | None]]:
        """What :attr:`inputs_digest` covers (subclasses add theirs)."""
        description: dict[str, object] = {
            "role": self.ROLE,
            "party": self.party,
            "settings": settings_description(self.settings),
        }
        arrays: dict[str, npt.ArrayLike | None] = {
            "features": self.X,
            "validation": self.X_validation,
            "initial_weights": self.initial_weights,
        }
        return description, arrays

    @property
    def inputs_digest(self) -> str:
        """SHA-256 of this party's training inputs and settings (in its checkpoints)."""
        if self._inputs_digest is None:
            self._inputs_digest = inputs_digest(*self._digest_inputs())
        return self._inputs_digest

    @property
    def resuming(self) -> bool:
        """Whether this party continues an interrupted run (:meth:`prepare_resume`)."""
        return self._resume is not None

    def prepare_resume(self, checkpoints: Sequence[LrCheckpoint] = ()) -> None:
        """Continue an interrupted run from one of ``checkpoints`` (call before ``start``).

        The parties agree on the latest epoch for which every training party holds a
        checkpoint of this run; without one, training starts afresh.  Every party of
        the run must resume, or none.

        Parameters
        ----------
        checkpoints : sequence of LrCheckpoint
            This party's checkpoints of the interrupted run (its last two are used).

        Raises
        ------
        ProtocolError
            If called after ``start`` or twice, or a checkpoint is another role's, of
            other training inputs or settings, or cannot be continued.
        """
        if self.plan is not None or self._resume is not None:
            raise ProtocolError(
                f"{self.party}: prepare_resume() must be called once, before start()"
            )
        self._resume = select_checkpoints(
            self.party,
            self.ROLE,
            self.inputs_digest,
            checkpoints,
            width=self.features_count,
            max_iter=self.settings.max_iter if self.ROLE == "guest" else None,
        )
        for checkpoint in self._resume:
            restored = self._restored_optimizer(checkpoint)
            if restored.state()["penalized"] != self.optimizer.state()["penalized"]:
                raise ProtocolError(
                    f"{self.party}: the checkpoint of epoch {checkpoint.epoch} penalises other "
                    "coefficients than this party's settings"
                )

    def _restored_optimizer(self, checkpoint: LrCheckpoint) -> Optimizer:
        assert checkpoint.optimizer is not None
        optimizer = Optimizer.from_state(checkpoint.optimizer)
        if optimizer.settings != self.settings.optimizer or optimizer.size != self.features_count:
            raise ProtocolError(
                f"{self.party}: the checkpoint of epoch {checkpoint.epoch} was made with "
                "other optimiser settings"
            )
        return optimizer

    def take_checkpoint(self) -> LrCheckpoint | None:
        """The checkpoint taken since the last call, if any (then forgotten here).

        Returns
        -------
        LrCheckpoint or None
            This party's state after the last epoch that training went on from.
        """
        checkpoint, self._checkpoint = self._checkpoint, None
        return checkpoint

    def _take_checkpoint_now(
        self, *, best_epoch: int = -1, best_value: float | None = None, stale_epochs: int = 0
    ) -> None:
        """Remember this party's state after epoch :attr:`epoch` (before moving on).

        The guest adds its early-stopping state (``best_epoch``, ``best_value``,
        ``stale_epochs``).
        """
        assert self.plan is not None
        self._checkpoint = LrCheckpoint(
            role=self.ROLE,
            epoch=self.epoch,
            plan_seed=self.plan.seed,
            inputs_digest=self.inputs_digest,
            weights=tuple(float(w) for w in self.weights),
            optimizer=self.optimizer.state(),
            snapshots=tuple(tuple(float(w) for w in snapshot) for snapshot in self.snapshots),
            history=tuple(dict(entry) for entry in self.history),
            best_epoch=best_epoch,
            best_value=best_value,
            stale_epochs=stale_epochs,
        )

    def _offered(self) -> tuple[bytes, tuple[int, ...]]:
        """The plan seed and epochs of this party's checkpoints (for the agreement)."""
        if not self._resume:
            return b"", ()
        return self._resume[-1].plan_seed, tuple(c.epoch for c in self._resume)

    def _checkpoint_of(self, epoch: int) -> LrCheckpoint:
        for checkpoint in self._resume or ():
            if checkpoint.epoch == epoch:
                return checkpoint
        raise ProtocolError(f"{self.party}: holds no checkpoint of epoch {epoch}")

    def _restore(self, checkpoint: LrCheckpoint) -> None:
        """Continue with epoch ``checkpoint.epoch + 1`` from ``checkpoint``."""
        assert self.plan is not None
        if checkpoint.plan_seed != self.plan.seed:
            raise ProtocolError(
                f"{self.party}: its checkpoint of epoch {checkpoint.epoch} belongs to another "
                "training run (another batch plan)"
            )
        self.optimizer = self._restored_optimizer(checkpoint)
        self.weights = np.array(checkpoint.weights, dtype=np.float64)
        self.snapshots = [np.array(snapshot, dtype=np.float64) for snapshot in checkpoint.snapshots]
        self.history = [dict(entry) for entry in checkpoint.history]
        self.epoch_start_weights = self.weights.copy()
        self.epoch = checkpoint.epoch + 1
        self.batch = 0
        self.batches = self.plan.batches(self.epoch)

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
        with np.errstate(over="ignore", invalid="ignore"):
            weights = self.optimizer.step(self.weights, gradient, self.epoch)
            finite = bool(np.isfinite(weights).all() and np.isfinite(np.sum(weights**2)))
        if not finite:
            raise ProtocolError(
                f"{self.party}: the decrypted gradient drives the weights out of range "
                "(a peer's decryptions are wrong)"
            )
        self.weights = weights

    def _end_epoch_weights(self) -> float:
        """Snapshot the weights; return the squared norm of the epoch's change."""
        with np.errstate(over="ignore"):
            change = float(np.sum((self.weights - self.epoch_start_weights) ** 2))
        if not np.isfinite(change):
            raise ProtocolError(f"{self.party}: the weights changed out of range this epoch")
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

    def _check_key_size(self, public_key: VectorPublicKey, owner: str) -> None:
        if public_key.bits < MIN_KEY_BITS and not self.settings.allow_weak_key:
            raise ProtocolError(
                f"{self.party}: {owner}'s {public_key.bits}-bit key is below the "
                f"{MIN_KEY_BITS}-bit minimum"
            )

    def _checked_vector(
        self,
        vector: CipherVector,
        *,
        key: VectorPublicKey,
        length: int,
        exponent: int,
        max_abs: float,
        what: str,
        sender: str,
    ) -> CipherVector:
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

    def _checked_masked(
        self, masked: MaskedValues, key: VectorPublicKey, limit: int, what: str, sender: str
    ) -> MaskedValues:
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

    def _check_resume_offer(self, message: LrHostSetup) -> None:
        """A host resumes exactly when the guest does, offering at most its last two epochs."""
        host = message.sender
        if message.resume != self.resuming:
            raise ProtocolError(
                f"{self.party}: {host} "
                + (
                    "continues an interrupted run (--resume) but the guest starts afresh"
                    if message.resume
                    else "starts afresh but the guest continues an interrupted run (--resume)"
                )
                + "; start every party with --resume, or none"
            )
        epochs = message.resume_epochs
        if (
            len(epochs) > KEPT_CHECKPOINTS
            or len(set(epochs)) != len(epochs)
            or not all(0 <= epoch < self.settings.max_iter - 1 for epoch in epochs)
            or len(message.resume_seed) != (32 if epochs else 0)
        ):
            raise ProtocolError(
                f"{self.party}: {host}'s resume offer is malformed (at most "
                f"{KEPT_CHECKPOINTS} distinct epochs below {self.settings.max_iter - 1}, "
                "and their 32-byte plan seed)"
            )

    def _setup_message(
        self,
        receiver: str,
        hosts: Sequence[str],
        plan_seed: bytes,
        *,
        weighted: bool,
        rows_digest: bytes,
    ) -> LrSetup:
        """The guest's :class:`LrSetup` for ``receiver``, from its settings and data."""
        settings = self.settings
        return LrSetup(
            job_id=self.job_id,
            sender=self.party,
            receiver=receiver,
            mode=settings.mode,
            hosts=tuple(hosts),
            rows=len(self.X),
            batch_size=settings.batch_size,
            max_iter=settings.max_iter,
            plan_seed=plan_seed,
            guest_features=self.features_count,
            weighted=weighted,
            validation_rows=0 if self.X_validation is None else len(self.X_validation),
            key_length=settings.key_length,
            resume=self.resuming,
            convergence=settings.convergence,
            early_stopping=settings.early_stopping or "",
            rows_digest=rows_digest,
        )

    def _checked_setup(self, message: LrSetup, row_ids: Sequence[str] | None) -> BatchPlan:
        """A host's checks of the guest's setup; the batch plan it describes.

        The setup must name this host, agree with this host's own configuration and
        data (mode, rows, key length, what it agrees to reveal at an epoch's end), and
        come from a guest holding the same rows in the same order.

        Raises
        ------
        ProtocolError
            Naming the first disagreement.
        """
        if message.resume != self.resuming:
            raise ProtocolError(
                f"{self.party}: the guest "
                + (
                    "continues an interrupted run (--resume) but this host starts afresh"
                    if message.resume
                    else "starts afresh but this host continues an interrupted run (--resume)"
                )
                + "; start every party with --resume, or none"
            )
        rows = len(self.X)
        check_rows_digest(message.rows_digest, row_ids, message.plan_seed, self.party, "the guest")
        expected = {
            "mode": self.settings.mode,
            "rows": rows,
            "validation_rows": 0 if self.X_validation is None else len(self.X_validation),
            "key_length": self.settings.key_length,
            # what this host agrees to send or reveal at each epoch's end (weight-change
            # norms, validation scores) is its own configuration's decision
            "convergence": self.settings.convergence,
            "early_stopping": self.settings.early_stopping or "",
        }
        for name, value in expected.items():
            if getattr(message, name) != value:
                raise ProtocolError(
                    f"{self.party}: the guest's {name} is {getattr(message, name)!r}, this "
                    f"host's is {value!r}; the parties' configurations or data differ"
                )
        if self.party not in message.hosts or len(set(message.hosts)) != len(message.hosts):
            raise ProtocolError(f"{self.party}: the guest's host list does not name this host")
        if (
            message.max_iter < 1
            or message.batch_size < 1
            or len(message.plan_seed) != 32
            or not 1 <= message.guest_features <= MAX_MASKED_VALUES
        ):
            raise ProtocolError(f"{self.party}: the guest's setup is malformed")
        plan = BatchPlan(rows, message.batch_size, message.plan_seed)
        self._check_batch_size(plan, message.guest_features, "the guest")
        return plan

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


def select_checkpoints(
    party: str,
    role: str,
    digest: str,
    checkpoints: Sequence[LrCheckpoint],
    *,
    width: int | None = None,
    max_iter: int | None = None,
) -> tuple[LrCheckpoint, ...]:
    """The checkpoints a resuming party offers: its last two of its latest run.

    Parameters
    ----------
    party, role : str
        The resuming party and its role (``"guest"``, ``"host"``, ``"arbiter"``).
    digest : str
        The party's :func:`~protocols.hetero_lr.state.inputs_digest` now.
    checkpoints : sequence of LrCheckpoint
        The party's checkpoints, in any order.
    width : int, optional
        The party's number of coefficients.
    max_iter : int, optional
        The epochs training may take (a checkpoint must leave one to go on with).

    Returns
    -------
    tuple of LrCheckpoint
        At most :data:`~protocols.hetero_lr.state.KEPT_CHECKPOINTS`, by epoch, all of
        the plan seed of the latest.

    Raises
    ------
    ProtocolError
        If a checkpoint is another role's, was made from other inputs or settings,
        has another width, leaves no epoch to train, or two share an epoch.
    """
    for checkpoint in checkpoints:
        where = f"{party}: the checkpoint of epoch {checkpoint.epoch}"
        if checkpoint.role != role:
            raise ProtocolError(f"{where} is a {checkpoint.role}'s, this party is the {role}")
        if checkpoint.inputs_digest != digest:
            raise ProtocolError(
                f"{where} was made from other training data or settings than this party's "
                "now (their digests differ); the data or the job changed since the "
                "interrupted run"
            )
        if width is not None and len(checkpoint.weights) != width:
            raise ProtocolError(
                f"{where} holds {len(checkpoint.weights)} weights, this party trains {width}"
            )
        if max_iter is not None and checkpoint.epoch + 1 >= max_iter:
            raise ProtocolError(f"{where} leaves no epoch to train with max_iter {max_iter}")
    epochs = [checkpoint.epoch for checkpoint in checkpoints]
    if len(set(epochs)) != len(epochs):
        raise ProtocolError(f"{party}: two checkpoints of the same epoch")
    ordered = sorted(checkpoints, key=lambda checkpoint: checkpoint.epoch)
    if not ordered:
        return ()
    seed = ordered[-1].plan_seed
    return tuple(c for c in ordered if c.plan_seed == seed)[-KEPT_CHECKPOINTS:]


def guest_design(
    features: npt.ArrayLike, validation: npt.ArrayLike | None, fit_intercept: bool, party: str
) -> tuple[FloatArray, FloatArray | None, npt.NDArray[np.bool_] | None]:
    """The guest's matrices (ones last with an intercept) and its penalised coefficients.

    The penalty never applies to the intercept.

    Raises
    ------
    ProtocolError
        If the features are not 2-D while an intercept is fitted.

    Examples
    --------
    >>> rows, held_out, penalized = guest_design([[2.0], [3.0]], None, True, "guest")
    >>> rows.tolist(), held_out, penalized.tolist()
    ([[2.0, 1.0], [3.0, 1.0]], None, [True, False])
    """
    rows = np.asarray(features, dtype=np.float64)
    held_out = None if validation is None else np.asarray(validation, dtype=np.float64)
    if fit_intercept:
        if rows.ndim != 2:
            raise ProtocolError(f"{party}: features must be a 2-D array, got shape {rows.shape}")
        rows = np.hstack([rows, np.ones((len(rows), 1))])
        if held_out is not None:
            held_out = np.hstack([held_out, np.ones((len(held_out), 1))])
    width = rows.shape[1] if rows.ndim == 2 else 0
    penalized = np.array([True] * (width - 1) + [not fit_intercept]) if width else None
    return rows, held_out, penalized


ROWS_DIGEST_BYTES = 32
"""Length of a rows digest (SHA-256); an empty digest means "not checked"."""


def rows_digest(row_ids: Sequence[str] | None, salt: bytes) -> bytes:
    """A salted SHA-256 of a party's row ids in order (``b""`` without ids).

    Parties that should hold the same customers in the same order (after PSI, or
    files aligned by hand) compare these to refuse misaligned rows before training or
    scoring on them.  The salt is fresh per run, so digests do not link runs; a
    receiver learns only whether its own ordered ids are the sender's.

    Examples
    --------
    >>> rows_digest(["a", "b"], b"salt") == rows_digest(["a", "b"], b"salt")
    True
    >>> rows_digest(["a", "b"], b"salt") == rows_digest(["b", "a"], b"salt")
    False
    >>> rows_digest(None, b"salt")
    b''
    """
    if row_ids is None:
        return b""
    digest = hashlib.sha256(b"vfl/hetero-lr/rows/v1\x00")
    digest.update(len(salt).to_bytes(2, "big") + salt)
    for customer in row_ids:
        encoded = str(customer).encode("utf-8")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.digest()


def row_ids_checked(row_ids: Sequence[str] | None, rows: int, party: str) -> list[str] | None:
    """``row_ids`` as a list, after checking there is one per row."""
    if row_ids is None:
        return None
    ids = [str(customer) for customer in row_ids]
    if len(ids) != rows:
        raise ProtocolError(f"{party}: {len(ids)} row ids for {rows} rows")
    return ids


def check_rows_digest(
    received: bytes, row_ids: Sequence[str] | None, salt: bytes, party: str, sender: str
) -> None:
    """Refuse ``sender``'s rows when its digest differs from this party's.

    Raises
    ------
    ProtocolError
        If the digest is malformed, missing while this party knows its ids, or both
        parties know their ids and they differ.
    """
    if len(received) not in (0, ROWS_DIGEST_BYTES):
        raise ProtocolError(f"{party}: {sender} sent a rows digest of {len(received)} bytes")
    if not received and row_ids is not None:
        raise ProtocolError(
            f"{party}: {sender} sent no rows digest, but this party knows its row ids and "
            "checks that both hold the same customers in the same order; give the "
            f"{sender} its row ids too (job files always do)"
        )
    if received and row_ids is not None and received != rows_digest(row_ids, salt):
        raise ProtocolError(
            f"{party}: {sender}'s rows are not the same customers in the same order as "
            "this party's; align both data files with a psi step (or the same order of "
            "ids) before training or scoring"
        )


def with_public_bound(vector: Vector, max_abs: float) -> Vector:
    """``vector`` claiming the public worst-case bound ``max_abs``, not one from data.

    A vector's bound travels in the clear; one computed from the data (a sum's
    largest plaintext, a product with the row weights) would tell the receiver about
    the values inside the ciphertexts.  Every vector a party sends carries a bound
    derived from public constants only (the receiver checks against the same).
    """
    bound, _ = encode_scalar(max_abs, vector.public_key.n, exponent=vector.exponent)
    return vector.with_bound(max(bound, 1))


def public_gradient_bound(
    gradient: Vector, rows: int, hosts: int, party: str, objective: QuadraticObjective
) -> Vector:
    """``gradient`` (``X^T [[d]]`` of a batch) claiming its public worst-case bound.

    The bound decides the packing layout, hence how many ciphertexts the key owner
    decrypts; one computed from the data (the largest row norm of the features) would
    tell it whether the features crossed a power of two.  The public bound covers any
    batch of ``rows`` rows with features within :data:`FEATURE_BOUND`, weights within
    :data:`MAX_SAMPLE_WEIGHT`, ``hosts`` hosts' scores within :data:`SCORE_BOUND` and
    label-privacy noise.

    Raises
    ------
    ProtocolError
        If the gradient's own bound exceeds the public one (a bug: say so, do not
        claim a bound the values may break).
    """
    bounded = with_public_bound(gradient, objective.gradient_bound(rows, hosts))
    if gradient.bound > bounded.bound:
        raise ProtocolError(f"{party}: a gradient exceeds the public bound; this is a bug")
    return bounded


def decrypt_masked(
    private_key: VectorPrivateKey, masked: Sequence[MaskedValues], party: str, n_jobs: int | None
) -> list[int]:
    """The key owner's reply to masked vectors: their raw plaintexts, in order."""
    values: list[int] = []
    try:
        for vector in masked:
            values.extend(private_key.decrypt_raw(vector, n_jobs=n_jobs))
    except CryptoError as error:
        raise ProtocolError(f"{party}: cannot decrypt the masked values ({error})") from error
    return values


# message fields -------------------------------------------------------------------------
# Message fields name the wire types, which the codec encodes (vfl.codec); the
# in-process backends (plaintext, phe) carry their own vectors in the same fields,
# which only an in-memory transport moves (the codec refuses them).


def sent_vector(vector: CipherVector) -> EncryptedVector:
    """``vector`` as a message's vector field (see the comment above)."""
    return cast(EncryptedVector, vector)


def sent_masked(masked: MaskedValues) -> MaskedVector:
    """``masked`` as a message's masked-vector field."""
    return cast(MaskedVector, masked)


def sent_key(public_key: VectorPublicKey) -> PaillierPublicKey:
    """``public_key`` as a message's key field."""
    return cast(PaillierPublicKey, public_key)

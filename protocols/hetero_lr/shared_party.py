"""Shared-mode training: weights, scores, residuals and gradients only as shares.

Roles: the guest ``G`` (labels), the *partner host* ``P`` (the first host) and any
other hosts ``h``.  ``G`` and ``P`` each own a Paillier key pair; the others own none.
Every party's weights are additively shared (:mod:`crypto.shares`) from the first
batch: the guest's between ``G`` and ``P``, every host's between that host and ``G``.
Nobody holds a weight vector until the end, when each party receives the other share
of its own weights and nothing else.

One batch (``[[x]]_K``: encrypted under ``K``'s key; "seal": mask, pack and send to
the key owner, keeping the negated masks as one's share, :func:`crypto.shares.reshare`):

1. ``G -> P``: ``[[b_P]]_G``, ``G -> h``: ``[[b_h]]_G``; ``P -> G``: ``[[b_g]]_P``
   (the share each holds of the receiver's weights).
2. Partial scores: ``G`` seals ``[[X_g (a_g + b_g)]]_P`` to ``P``; ``P`` seals
   ``[[X_P (a_P + b_P)]]_G`` to ``G``; ``h`` seals ``[[X_h (a_h + b_h)]]_G`` to ``G`` and
   sends its kept share to ``P``.  Now ``z = z_G + z_P``.
3. Logistic function: ``G -> P``: ``[[w a^j]]_G`` for the powers of its share
   ``a = z_G``; ``P`` combines them with ``q_j(b)``, ``b = z_P``
   (:mod:`protocols.hetero_lr.shared_polynomials`), and seals ``w p(z)`` to ``G``.
   ``G`` folds its labels in: ``e = e_G + e_P = w (p(z) - y)``.  With
   ``convergence="loss"`` it also sends ``[[w y]]_G`` and ``P`` seals the batch's loss
   sum, whose shares add up over the epoch.
4. ``G -> P, h``: ``[[e_G]]_G``; ``P -> G``: ``[[e_P]]_P``, ``P -> h``: ``e_P`` (a mask
   ``P`` drew: uniform to ``h``).
5. Gradients: ``G`` seals ``[[X_gᵀ e]]_P`` to ``P``; ``P`` seals ``[[X_Pᵀ e]]_G`` to
   ``G``; ``h`` seals ``[[X_hᵀ e]]_G`` to ``G``.  Every holder updates its shares of the
   weights and optimiser state locally (:class:`~.shared_fixed_point.SharedOptimizer`).

Epoch end: ``P -> G`` its share of the epoch's loss sum (the guest learns the
epoch's loss, nothing per batch).  With early stopping, the validation rows' scores
are computed as in step 2 (``purpose="validation"``) and ``P`` sends its share of
them to ``G``, which learns each validation row's score (never a partial score) and
its metric.  ``G`` decides (:class:`~protocols.messages.LrDecision`); at the stop,
each party sends every other its share of that party's weights (of the kept epoch).

Checkpoints: after every epoch training goes on from, each party keeps its integer
shares (and, with early stopping, those of earlier epochs) in its
:class:`~protocols.hetero_lr.state.LrCheckpoint`; a resumed run agrees on the latest
epoch every party holds, as the other modes do, with fresh keys and masks (integer
shares do not depend on the keys).

What each message reveals is in SECURITY.md ("Shared mode").  Every value a party
decrypts or receives in the clear is a value masked by a fresh uniform mask at least
:data:`~crypto.shares.STATISTICAL_BITS` wider than its public bound, or a mask.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.shares import (
    STATISTICAL_BITS,
    add_integers,
    combine_columns,
    combine_sum,
    encrypt_integers,
    open_shares,
    reshare,
    truncate,
)
from crypto.vector_api import CipherVector, MaskedValues, VectorPrivateKey, VectorPublicKey
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.guest import Evaluator
from protocols.hetero_lr.party import (
    MAX_MASKED_VALUES,
    TrainingParty,
    guest_design,
    row_ids_checked,
    rows_digest,
    sent_key,
    sent_masked,
    sent_vector,
)
from protocols.hetero_lr.settings import LrSettings
from protocols.hetero_lr.shared_fixed_point import (
    FEATURE_FRACTION,
    INPUT_FRACTION,
    RESIDUAL_BITS,
    ROW_WEIGHT_FRACTION,
    WEIGHT_BITS,
    WEIGHT_FRACTION,
    EncodedFeatures,
    SharedOptimizer,
    encode_features,
    encode_row_weights,
    gradient_bits,
    multiply_public,
    score_bits,
    weight_share_bits,
)
from protocols.hetero_lr.shared_polynomials import (
    COEFFICIENT_FRACTION,
    DEGREE,
    logistic_coefficients,
    softplus_coefficients,
    split_factors,
)
from protocols.hetero_lr.state import LrCheckpoint
from protocols.messages import (
    LrDecision,
    LrHostSetup,
    LrPublicKey,
    LrResume,
    LrSetup,
    LrSharePlain,
    LrSharePowers,
    LrShareResidual,
    LrShareSealed,
    LrShareWeights,
    Message,
    unzigzag,
    zigzag,
)

__all__ = ["SharedGuest", "SharedHost"]

IntArray = npt.NDArray[np.int64]

_SCORE_SHIFT = WEIGHT_FRACTION + FEATURE_FRACTION - INPUT_FRACTION
"""Scores are sealed at scale ``2**40`` and enter the logistic function at ``2**16``."""
_POLY_SCALE = ROW_WEIGHT_FRACTION + COEFFICIENT_FRACTION + INPUT_FRACTION * DEGREE
"""Scale of ``w p_int(z)``."""
_SIGMOID_BITS = _POLY_SCALE + 20 + RESIDUAL_BITS
"""Public bound of ``w p(z)`` at its scale (row weight below ``2**20``)."""
_SHARE_OF_Z_BITS = score_bits() + STATISTICAL_BITS + 8 - _SCORE_SHIFT
"""Bits of a share of ``z`` after truncation (the guest's powers are of these)."""
_RESIDUAL_SHARE_BITS = _SIGMOID_BITS + STATISTICAL_BITS + 4 - (_POLY_SCALE - WEIGHT_FRACTION)
_LOSS_SHIFT = COEFFICIENT_FRACTION + INPUT_FRACTION * DEGREE - INPUT_FRACTION


@dataclass(frozen=True)
class Schedule:
    """What a role takes when: its transition table for batch messages.

    Attributes
    ----------
    order : tuple of int
        The role's steps in the order a batch (and an epoch's end) takes them.
    accepts : dict
        For every message tag of the current batch: who sends it (``"guest"``,
        ``"partner"``, ``"hosts"``, ``"others"``) and the first step at which an
        honest sender can have sent it (this role has sent what triggers it).
    early : dict
        The same for the tags of the *next* batch that may arrive before it starts.
    """

    order: tuple[int, ...]
    accepts: dict[str, tuple[str, int]]
    early: dict[str, tuple[str, int]]


_GUEST_SCHEDULE = Schedule(
    order=(0, 1, 2, 3, 4, 5, 6, 8, 9, 7),
    accepts={
        "weights": ("partner", 0),
        "sealed:scores": ("hosts", 0),
        "sealed:sigmoid": ("partner", 3),
        "sealed:loss": ("partner", 3),
        "residual": ("partner", 3),
        "sealed:gradient": ("hosts", 4),
        "plain:loss": ("partner", 5),
        "weights:validation": ("partner", 5),
        "sealed:validation": ("hosts", 8),
        "plain:validation": ("partner", 9),
        "plain:final": ("partner", 7),
    },
    early={"weights": ("partner", 5)},
)
_PARTNER_SCHEDULE = Schedule(
    order=(0, 1, 2, 3, 4, 7, 8, 5, 6),
    accepts={
        "weights": ("guest", 0),
        "sealed:scores": ("guest", 0),
        "plain:scores": ("others", 0),
        "powers": ("guest", 2),
        "residual": ("guest", 3),
        "sealed:gradient": ("guest", 3),
        "weights:validation": ("guest", 4),
        "plain:validation": ("others", 4),
        "sealed:validation": ("guest", 7),
        "decision": ("guest", 5),
        "plain:final": ("guest", 5),
    },
    early={"weights": ("guest", 4), "plain:scores": ("others", 4)},
)
_HOST_SCHEDULE = Schedule(
    order=(0, 1, 7, 5, 6),
    accepts={
        "weights": ("guest", 0),
        "residual": ("guest", 1),
        "plain:residual": ("partner", 1),
        "weights:validation": ("guest", 7),
        "decision": ("guest", 5),
        "plain:final": ("guest", 5),
    },
    early={},
)
_OBFUSCATORS_PER_WORK = 128
"""Obfuscators computed per call of ``work`` (a bounded piece of idle-time work)."""
_PLAIN_PURPOSES = ("initial", "scores", "residual", "loss", "final")
_SEALED_PURPOSES = ("scores", "sigmoid", "loss", "gradient", "validation")


def _as_ints(values: npt.ArrayLike) -> list[int]:
    return [int(v) for v in np.asarray(values).ravel()]


def _matvec(matrix: IntArray, shares: Sequence[int]) -> list[int]:
    """``matrix @ shares`` exactly (shares are big integers)."""
    if matrix.shape[1] == 0:
        return [0] * matrix.shape[0]
    vector = np.empty(len(shares), dtype=object)
    vector[:] = [int(s) for s in shares]
    return [int(v) for v in matrix.astype(object) @ vector]


class _SharedParty(TrainingParty):
    """What the guest, the partner host and the other hosts share in shared mode."""

    ROLE: ClassVar[str]
    POSITION: str = "guest"

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
        super().__init__(
            party,
            job_id,
            features=features,
            settings=settings,
            backend=backend,
            validation=validation,
            initial_weights=initial_weights,
            penalized=penalized,
        )
        _check_shared_settings(settings, party)
        self.X_int = EncodedFeatures(self.X)  # a batch's rows encoded when used
        self.X_validation_int = (
            None if self.X_validation is None else encode_features(self.X_validation)
        )
        self._share_snapshots: dict[int, dict[str, Any]] = {}
        """With early stopping: this party's shares after each epoch (the kept one's
        are exchanged at the end)."""
        self._penalized = self.optimizer.state()["penalized"]
        self._own_keys: tuple[VectorPublicKey, VectorPrivateKey] | None = None
        self._inbox: dict[tuple[int, int, str, str], Message] = {}
        self._used: set[tuple[int, int, str, str]] = set()
        self._step = 0
        self._set_up = False
        self._stopping = False
        self._kept: dict[str, Any] = {}
        self.mine: SharedOptimizer | None = None
        """This party's share of its own weights (and optimiser state)."""

    # shares and keys -----------------------------------------------------------------
    def _start_own_share(self) -> list[int]:
        """Split this party's initial weights; return the share for the other holder."""
        initial = np.rint(self.weights * (1 << WEIGHT_FRACTION)).astype(object)
        masks = [
            secrets.randbits(WEIGHT_BITS + WEIGHT_FRACTION + STATISTICAL_BITS) for _ in initial
        ]
        self.mine = SharedOptimizer(
            self.settings.optimizer,
            [int(w) - m for w, m in zip(initial, masks, strict=True)],
            self._penalized,
        )
        return masks

    def _generate_keys(self) -> VectorPublicKey:
        self._own_keys = self.backend.generate_keypair(
            self.settings.key_length, allow_weak_key=self.settings.allow_weak_key
        )
        return self._own_keys[0]

    @property
    def _private_key(self) -> VectorPrivateKey:
        assert self._own_keys is not None
        return self._own_keys[1]

    @property
    def _share_bits(self) -> int:
        assert self.plan is not None
        return weight_share_bits(self.settings.max_iter * self.plan.batch_count)

    def _plain(self, receiver: str, purpose: str, shares: Sequence[int]) -> LrSharePlain:
        return LrSharePlain(
            job_id=self.job_id,
            sender=self.party,
            receiver=receiver,
            round=self.epoch,
            batch=self.batch,
            purpose=purpose,
            shares=zigzag(shares),
        )

    def _sealed(self, receiver: str, purpose: str, sealed: MaskedValues) -> LrShareSealed:
        return LrShareSealed(
            job_id=self.job_id,
            sender=self.party,
            receiver=receiver,
            round=self.epoch,
            batch=self.batch,
            purpose=purpose,
            sealed=sent_masked(sealed),
        )

    def _encrypted_weights(
        self, receiver: str, shares: Sequence[int], purpose: str = "batch"
    ) -> LrShareWeights:
        return LrShareWeights(
            job_id=self.job_id,
            sender=self.party,
            receiver=receiver,
            round=self.epoch,
            batch=self.batch,
            purpose=purpose,
            weights=sent_vector(
                encrypt_integers(
                    self._private_key, shares, self._share_bits, n_jobs=self.settings.n_jobs
                )
            ),
        )

    def _encrypted_residual(self, receiver: str, residual: CipherVector) -> LrShareResidual:
        return LrShareResidual(
            job_id=self.job_id,
            sender=self.party,
            receiver=receiver,
            round=self.epoch,
            batch=self.batch,
            residual=sent_vector(residual),
        )

    # checkpoints ------------------------------------------------------------------------
    def _current_shares(self) -> dict[str, Any]:
        """The shares of this party now (subclasses add what they hold)."""
        assert self.mine is not None
        return {"mine": self.mine.state()}

    def _shares_state(self) -> dict[str, Any]:
        """The shares of this party, for its checkpoint."""
        state = self._current_shares()
        if self._share_snapshots:
            state["snapshots"] = {str(k): v for k, v in self._share_snapshots.items()}
        return state

    def _restore_shares(self, shares: dict[str, Any]) -> None:
        self.mine = _restored_optimizer(self, shares.get("mine"), len(self.X[0]), "its own")
        snapshots = shares.get("snapshots", {})
        if not isinstance(snapshots, dict) or not all(k.isdigit() for k in snapshots):
            raise ProtocolError(f"{self.party}: the checkpoint's share snapshots are malformed")
        self._share_snapshots = {int(k): v for k, v in snapshots.items()}

    def _snapshot_shares(self) -> None:
        """Keep this epoch's shares when early stopping may go back to them."""
        if self.settings.early_stopping is not None:
            self._share_snapshots[self.epoch] = self._current_shares()

    def _kept_shares(self, best_epoch: int) -> dict[str, Any]:
        """The shares of the epoch training keeps (``-1``: the last)."""
        if best_epoch == -1:
            return self._current_shares()
        if best_epoch not in self._share_snapshots:
            raise ProtocolError(
                f"{self.party}: asked to keep epoch {best_epoch}, which it holds no shares of"
            )
        return self._share_snapshots[best_epoch]

    def _take_shared_checkpoint(self) -> None:
        """Remember this party's shares after epoch :attr:`epoch` (training goes on)."""
        assert self.plan is not None
        width = self.features_count
        self._checkpoint = LrCheckpoint(
            role=self.ROLE,
            epoch=self.epoch,
            plan_seed=self.plan.seed,
            inputs_digest=self.inputs_digest,
            weights=(0.0,) * width,
            optimizer=self.optimizer.state(),
            snapshots=tuple((0.0,) * width for _ in range(self.epoch + 1)),
            history=tuple(dict(entry) for entry in self.history),
            shares=self._shares_state(),
            **self._early_stopping_state(),
        )

    def _early_stopping_state(self) -> dict[str, Any]:
        """The guest's early-stopping state, for its checkpoint (hosts keep none)."""
        return {}

    def _restore_shared(self, after: int) -> None:
        """Continue after epoch ``after`` from this party's checkpoint of it."""
        checkpoint = self._checkpoint_of(after)
        if checkpoint.shares is None:
            raise ProtocolError(
                f"{self.party}: its checkpoint of epoch {after} holds no shares (it was not "
                "made in shared mode)"
            )
        self._restore(checkpoint)
        self._restore_shares(checkpoint.shares)
        self.resumed_after = after

    # work while waiting ----------------------------------------------------------------
    def _encryptions_per_batch(self) -> int:
        """How many values this party encrypts under its own key in one batch."""
        return 0

    @property
    def has_work(self) -> bool:
        """Whether obfuscators for the next encryptions can be computed while waiting."""
        if self.done or self._own_keys is None or self.plan is None:
            return False
        pool = getattr(self._own_keys[1], "precomputed_obfuscators", None)
        return pool is not None and pool < self._encryptions_per_batch()

    def work(self) -> list[Message]:
        """Precompute a few obfuscators (the runner calls this when no message waits)."""
        private_key: Any = self._private_key
        missing = self._encryptions_per_batch() - private_key.precomputed_obfuscators
        if missing > 0:
            private_key.precompute_obfuscators(
                min(missing, _OBFUSCATORS_PER_WORK), n_jobs=self.settings.n_jobs
            )
        return []

    # the inbox -------------------------------------------------------------------------
    def _schedule(self) -> Schedule:
        """What this role takes when (see :class:`Schedule`)."""
        raise NotImplementedError

    def _senders(self, who: str) -> Sequence[str]:
        """The parties a sender kind of :attr:`_ACCEPTS` names."""
        raise NotImplementedError

    def _file(self, message: Message, tag: str) -> None:
        """Keep a batch message until its step, if an honest peer could have sent it now.

        Refused: a tag this role never receives from that sender, one whose trigger
        this role has not sent yet (a relabelled message), one already received or
        used for the batch, and any batch but the current one and the next.
        """
        position = (message.round, message.batch)
        now = (self.epoch, self.batch)
        assert self.plan is not None
        following = (self.epoch, self.batch + 1) if not self.last_batch else (self.epoch + 1, 0)
        schedule = self._schedule()
        if position == now:
            table = schedule.accepts
        elif position == following:
            table = schedule.early
        else:
            raise ProtocolError(
                f"{self.party}: {message.sender} sent {tag} for epoch {message.round} batch "
                f"{message.batch}, while this party is at epoch {self.epoch} batch {self.batch}"
            )
        expected = table.get(tag)
        rank = schedule.order.index(self._step)
        if (
            expected is None
            or message.sender not in self._senders(expected[0])
            or rank < schedule.order.index(expected[1])
        ):
            raise ProtocolError(
                f"{self.party}: {message.sender} sent {tag} for epoch {message.round} batch "
                f"{message.batch}, which this party does not expect from it at this point"
            )
        key = (message.round, message.batch, tag, message.sender)
        if key in self._inbox or key in self._used:
            raise ProtocolError(f"{self.party}: {message.sender} sent {tag} twice for one batch")
        self._inbox[key] = message

    def _has(self, tag: str, senders: Sequence[str]) -> bool:
        return all((self.epoch, self.batch, tag, s) in self._inbox for s in senders)

    def _take(self, tag: str, sender: str) -> Any:
        key = (self.epoch, self.batch, tag, sender)
        self._used = {used for used in self._used if used[:2] == key[:2]}  # this batch's
        self._used.add(key)
        return self._inbox.pop(key)

    def _checked_encrypted(
        self,
        vector: CipherVector,
        key: VectorPublicKey,
        length: int,
        bits: int,
        what: str,
        sender: str,
    ) -> CipherVector:
        try:
            key.check_same(vector.public_key)
        except (CryptoError, AttributeError) as error:
            raise ProtocolError(f"{self.party}: {sender} sent {what} under another key") from error
        if len(vector) != length or vector.exponent != 0:
            raise ProtocolError(
                f"{self.party}: {sender} sent {len(vector)} values of {what} at exponent "
                f"{vector.exponent}, expected {length} at exponent 0"
            )
        return vector.with_bound(1 << bits)

    def _weight_share(self, tag: str, sender: str, key: VectorPublicKey | None) -> CipherVector:
        """The sender's encrypted share of this party's weights, checked."""
        message: LrShareWeights = self._take(tag, sender)
        assert key is not None
        return self._checked_encrypted(
            message.weights,
            key,
            self.features_count,
            self._share_bits,
            "its share of this party's weights",
            sender,
        )

    def _opened(self, message: LrShareSealed, count: int, bits: int) -> list[int]:
        assert self._own_keys is not None
        try:
            self._own_keys[0].check_same(message.sealed.public_key)
            return open_shares(
                self._private_key, message.sealed, count, bits, n_jobs=self.settings.n_jobs
            )
        except (CryptoError, AttributeError) as error:
            raise ProtocolError(
                f"{self.party}: {message.sender}'s {message.purpose} shares are malformed ({error})"
            ) from error

    def _plain_shares(self, message: LrSharePlain, count: int, bits: int) -> list[int]:
        if len(message.shares) != count:
            raise ProtocolError(
                f"{self.party}: {message.sender} sent {len(message.shares)} {message.purpose} "
                f"shares, expected {count}"
            )
        values = unzigzag(message.shares)
        if any(abs(v) >= 1 << (bits + STATISTICAL_BITS + 8) for v in values):
            raise ProtocolError(
                f"{self.party}: {message.sender}'s {message.purpose} shares exceed their bound"
            )
        return values

    # computing ---------------------------------------------------------------------------
    def _score_seal(
        self, other_share: CipherVector, own_share: Sequence[int], *, validation: bool = False
    ) -> tuple[MaskedValues, list[int]]:
        """Seal ``X (a + b)`` of this batch (or the validation rows): ``[[X b]]`` plus ``X a``."""
        rows = self.X_int[self.rows]
        if validation:
            assert self.X_validation_int is not None
            rows = self.X_validation_int
        product = other_share.matmul(rows, n_jobs=self.settings.n_jobs)
        scores = add_integers(product, _matvec(rows, own_share), score_bits())
        return reshare(scores, score_bits(), n_jobs=self.settings.n_jobs)

    def _gradient_seal(
        self, other_residual: CipherVector, own_residual: Sequence[int]
    ) -> tuple[MaskedValues, list[int]]:
        """Seal ``Xᵀ e`` of this batch from ``[[e_other]]`` and this party's ``e`` share."""
        rows = self.X_int[self.rows]
        bits = gradient_bits(len(self.rows))
        product = other_residual.matmul(rows.T, n_jobs=self.settings.n_jobs)
        gradient = add_integers(product, _matvec(rows.T, own_residual), bits)
        return reshare(gradient, bits, n_jobs=self.settings.n_jobs)

    def _mean_gradient(self, shares: Sequence[int]) -> list[int]:
        """A share of ``Xᵀ e`` at scale ``2**40`` as a share of the batch mean at ``2**24``."""
        return multiply_public(truncate(shares, FEATURE_FRACTION), 1.0 / len(self.rows))

    def _own_weights(self, other_share: Sequence[int]) -> None:
        """The end: this party's weights from its share and the other holder's."""
        assert self.mine is not None
        total = np.array(
            [
                (a + b) / (1 << WEIGHT_FRACTION)
                for a, b in zip(self.mine.weights, other_share, strict=True)
            ]
        )
        self.weights = total.astype(np.float64)

    @property
    def _needs_loss(self) -> bool:
        return self.settings.convergence == "loss"


def _restored_optimizer(
    party: _SharedParty, state: object, width: int, whose: str
) -> SharedOptimizer:
    """A :class:`SharedOptimizer` from a checkpoint's shares, after checking them."""
    if (
        not isinstance(state, dict)
        or set(state) != {"weights", "velocity"}
        or not all(isinstance(state[k], list) and len(state[k]) == width for k in state)
    ):
        raise ProtocolError(
            f"{party.party}: the checkpoint's shares of {whose} weights are malformed "
            f"(expected {width} weights and velocities)"
        )
    penalized = [True] * width
    if whose == "its own":
        penalized = list(party._penalized)
    elif whose == "the guest's" and party.settings.fit_intercept:
        penalized[-1] = False
    return SharedOptimizer(
        party.settings.optimizer,
        [int(v) for v in state["weights"]],
        penalized,
        [int(v) for v in state["velocity"]],
    )


def _check_shared_settings(settings: LrSettings, party: str) -> None:
    if settings.convergence == "weights":
        raise ProtocolError(
            f"{party}: shared mode cannot use convergence='weights': no party may learn a "
            "weight change; use convergence='loss' (the loss is computed on shares) or "
            "'max_iter'"
        )
    if settings.label_privacy() is not None:
        raise ProtocolError(
            f"{party}: label_privacy_epsilon is for the modes that reveal gradients; shared "
            "mode reveals none, so drop it (or use mode='two-party')"
        )


class SharedGuest(_SharedParty):
    """The guest of shared-mode training (see the module docstring).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts; the first is the partner host.
    features, labels : array_like
        Training rows and 0/1 labels.
    settings : LrSettings
        ``mode="shared"``.
    backend : str, default "paillier"
    sample_weight : array_like, optional
        Row weights (class weights times sample weights).
    validation, validation_labels : array_like, optional
        Held-out rows and labels for early stopping (the guest learns their scores,
        computed on shares, once per epoch; nothing else about them).
    evaluate : callable, optional
        Validation metrics (:data:`~protocols.hetero_lr.guest.Evaluator`); needed
        for early stopping.
    initial_weights : array_like, optional
        Warm start, intercept last when it fits one (default zeros: no gradient is
        revealed, so no secret random start is needed).
    plan_seed : bytes, optional
        The batch plan's seed (default from the CSPRNG).
    row_ids : sequence of str, optional
        The rows' ids (the hosts check they hold the same).
    """

    ROLE = "guest"
    POSITION = "guest"

    def _schedule(self) -> Schedule:
        return _GUEST_SCHEDULE

    def _senders(self, who: str) -> Sequence[str]:
        return self.hosts if who == "hosts" else (self.partner,)

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        features: npt.ArrayLike,
        labels: npt.ArrayLike,
        settings: LrSettings,
        backend: str = "paillier",
        sample_weight: npt.ArrayLike | None = None,
        validation: npt.ArrayLike | None = None,
        validation_labels: npt.ArrayLike | None = None,
        evaluate: Evaluator | None = None,
        initial_weights: npt.ArrayLike | None = None,
        plan_seed: bytes | None = None,
        row_ids: Sequence[str] | None = None,
    ) -> None:
        rows, held_out, penalized = guest_design(
            features, validation, settings.fit_intercept, party
        )
        super().__init__(
            party,
            job_id,
            features=rows,
            settings=settings,
            backend=backend,
            validation=held_out,
            initial_weights=initial_weights,
            penalized=penalized,
        )
        if not hosts or party in hosts or len(set(hosts)) != len(hosts):
            raise ProtocolError(f"{party}: hosts must be distinct other parties")
        self.hosts = tuple(hosts)
        self.partner = self.hosts[0]
        labels_array = np.asarray(labels, dtype=np.float64).ravel()
        if labels_array.shape != (len(self.X),) or not np.isin(labels_array, (0.0, 1.0)).all():
            raise ProtocolError(f"{party}: the labels must be {len(self.X)} values, each 0 or 1")
        self.y = labels_array
        self.sample_weight: npt.NDArray[np.float64] | None = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64).ravel()
            if (
                weights.shape != self.y.shape
                or not np.isfinite(weights).all()
                or (weights < 0).any()
                or (weights > 2.0**20).any()
            ):
                raise ProtocolError(
                    f"{party}: sample weights must be {len(self.y)} finite values in [0, 2**20]"
                )
            self.sample_weight = weights
        self.row_weights = encode_row_weights(self.sample_weight, len(self.X))
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)
        self.plan_seed = secrets.token_bytes(32) if plan_seed is None else plan_seed
        if len(self.plan_seed) != 32:
            raise ProtocolError(f"{party}: the plan seed must be 32 bytes")
        self._host_setups: dict[str, LrHostSetup] = {}
        self._partner_key: VectorPublicKey | None = None
        self._best_epoch = -1
        self.held: dict[str, SharedOptimizer] = {}
        """The guest's shares of every host's weights."""
        self._loss_share = 0
        self.y_validation: npt.NDArray[np.float64] | None = None
        if self.X_validation is not None and validation_labels is not None:
            held_out = np.asarray(validation_labels, dtype=np.float64).ravel()
            if held_out.shape != (len(self.X_validation),) or not np.isin(held_out, (0, 1)).all():
                raise ProtocolError(
                    f"{party}: the validation labels must be {len(self.X_validation)} values, "
                    "each 0 or 1"
                )
            self.y_validation = held_out
        if settings.early_stopping is not None and (self.y_validation is None or evaluate is None):
            raise ProtocolError(
                f"{party}: early stopping on {settings.early_stopping} needs validation rows, "
                "their labels and a metric"
            )
        self.evaluate = evaluate
        self._best: tuple[float, int] = (-math.inf, -1)
        self._stale_epochs = 0

    @property
    def weighted(self) -> bool:
        """Whether rows carry weights."""
        return self.sample_weight is not None

    def _encryptions_per_batch(self) -> int:
        assert self.plan is not None
        rows = len(self.rows)
        powers = DEGREE + int(self.weighted) + int(self._needs_loss)
        return (powers + 1) * rows + sum(len(h.weights) for h in self.held.values())

    def _digest_inputs(self) -> tuple[dict[str, object], dict[str, npt.ArrayLike | None]]:
        description, arrays = super()._digest_inputs()
        arrays["labels"] = self.y
        arrays["sample_weight"] = self.sample_weight
        return description, arrays

    # setup -----------------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Send the setup and the guest's key to every host, and the partner its share.

        Returns
        -------
        list of Message
            :class:`LrSetup` and :class:`LrPublicKey` for every host,
            :class:`LrSharePlain` (``"initial"``) for the partner host.
        """
        if self.plan is not None:
            raise ProtocolError(f"{self.party}: start() called twice")
        plan = BatchPlan(len(self.X), self.settings.batch_size, self.plan_seed)
        self._check_batch_size(plan, self.features_count, "the guest")
        self._start_plan(plan)
        public_key = self._generate_keys()
        messages: list[Message] = []
        for host in self.hosts:
            messages.append(self._setup_for(host))
            messages.append(
                LrPublicKey(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=host,
                    public_key=sent_key(public_key),
                )
            )
        if not self.resuming:  # resuming: the shares come from checkpoints (_agree_on_resume)
            messages.append(self._plain(self.partner, "initial", self._start_own_share()))
        return messages

    def _setup_for(self, receiver: str) -> LrSetup:
        return self._setup_message(
            receiver,
            self.hosts,
            self.plan_seed,
            weighted=self.weighted,
            rows_digest=rows_digest(self.row_ids, self.plan_seed),
        )

    def receive(self, message: Message) -> list[Message]:
        """Take one message from a host, then do every step it makes possible.

        Raises
        ------
        ProtocolError
            If the message is unexpected or malformed.
        """
        if self.done or self.plan is None:
            raise self._unexpected(message, "finished" if self.done else "not started")
        sender = message.sender
        if sender not in self.hosts:
            raise self._unexpected(message, "not from a host of this job")
        if isinstance(message, LrHostSetup):
            self._take_host_setup(message)
        elif isinstance(message, LrPublicKey) and sender == self.partner:
            if self._partner_key is not None:
                raise self._unexpected(message, "already holding the partner host's key")
            self._check_key_size(message.public_key, sender)
            self._partner_key = message.public_key
        elif isinstance(message, LrSharePlain) and message.purpose == "initial":
            self._take_initial(message)
        elif isinstance(message, LrShareWeights) and sender == self.partner:
            self._file(message, _weights_tag(message, self.party))
        elif isinstance(message, LrShareSealed) and message.purpose in _SEALED_PURPOSES:
            if message.purpose in ("sigmoid", "loss") and sender != self.partner:
                raise self._unexpected(message, "only the partner host sends those")
            self._file(message, f"sealed:{message.purpose}")
        elif isinstance(message, LrShareResidual) and sender == self.partner:
            self._file(message, "residual")
        elif (
            isinstance(message, LrSharePlain)
            and message.purpose in ("loss", "final", "validation")
            and sender == self.partner
        ):
            self._file(message, f"plain:{message.purpose}")
        else:
            raise self._unexpected(message, f"at step {self._step}")
        return self._advance()

    def _take_host_setup(self, message: LrHostSetup) -> None:
        if message.sender in self._host_setups:
            raise self._unexpected(message, "already holding that host's setup")
        validation_rows = 0 if self.X_validation is None else len(self.X_validation)
        if message.rows != len(self.X) or message.validation_rows != validation_rows:
            raise ProtocolError(
                f"{self.party}: {message.sender} has {message.rows} training and "
                f"{message.validation_rows} validation rows, the guest {len(self.X)} and "
                f"{validation_rows}; align the data with PSI first"
            )
        if not 1 <= message.features <= MAX_MASKED_VALUES:
            raise ProtocolError(
                f"{self.party}: {message.sender} reports {message.features} features, "
                f"expected 1 to {MAX_MASKED_VALUES}"
            )
        self._check_resume_offer(message)
        self._host_setups[message.sender] = message

    def _early_stopping_state(self) -> dict[str, Any]:
        best_value, best_epoch = self._best
        return {
            "best_epoch": best_epoch,
            "best_value": None if best_epoch == -1 else float(best_value),
            "stale_epochs": self._stale_epochs,
        }

    def _agree_on_resume(self) -> list[Message]:
        """Go on after the latest epoch the guest and every host hold shares of."""
        seed, own = self._offered()
        common = set(own) if seed == self.plan_seed else set()
        for host in self.hosts:
            offer = self._host_setups[host]
            common &= set(offer.resume_epochs) if offer.resume_seed == self.plan_seed else set()
        after = max(common, default=-1)
        messages: list[Message] = [
            LrResume(job_id=self.job_id, sender=self.party, receiver=host, round=after + 1)
            for host in self.hosts
        ]
        if after >= 0:
            self._restore_shared(after)
            checkpoint = self._checkpoint_of(after)
            best_value = -math.inf if checkpoint.best_value is None else checkpoint.best_value
            self._best = (best_value, checkpoint.best_epoch)
            self._stale_epochs = checkpoint.stale_epochs
        else:
            self.resumed_after = -1
            messages.append(self._plain(self.partner, "initial", self._start_own_share()))
        return messages

    def _current_shares(self) -> dict[str, Any]:
        state = super()._current_shares()
        state["held"] = {host: held.state() for host, held in self.held.items()}
        return state

    def _restore_shares(self, shares: dict[str, Any]) -> None:
        super()._restore_shares(shares)
        held = shares.get("held")
        if not isinstance(held, dict) or set(held) != set(self.hosts):
            raise ProtocolError(
                f"{self.party}: the checkpoint holds shares of other hosts' weights than "
                "this job's hosts"
            )
        self.held = {
            host: _restored_optimizer(
                self, held[host], self._host_setups[host].features, f"{host}'s"
            )
            for host in self.hosts
        }

    def _take_initial(self, message: LrSharePlain) -> None:
        setup = self._host_setups.get(message.sender)
        if setup is None or message.sender in self.held:
            raise self._unexpected(message, "initial shares come once, after the host's setup")
        shares = self._plain_shares(message, setup.features, WEIGHT_BITS + WEIGHT_FRACTION)
        self.held[message.sender] = SharedOptimizer(
            self.settings.optimizer, shares, [True] * setup.features
        )

    # the batch steps -----------------------------------------------------------------
    def _advance(self) -> list[Message]:
        messages: list[Message] = []
        if not self._set_up:
            if len(self._host_setups) < len(self.hosts) or self._partner_key is None:
                return messages
            if self.resuming and self.resumed_after is None:
                messages.extend(self._agree_on_resume())
            if len(self.held) < len(self.hosts):
                return messages
            self._set_up = True
            self._step = 0
        while not self.done:
            produced = self._try_step()
            if produced is None:
                break
            messages.extend(produced)
        return messages

    def _try_step(self) -> list[Message] | None:
        others = self.hosts[1:]
        step = self._step
        if step == 0:
            self._step = 1
            return [self._encrypted_weights(host, self.held[host].weights) for host in self.hosts]
        if step == 1 and self._has("weights", [self.partner]):
            return self._send_scores()
        if step == 2 and self._has("sealed:scores", self.hosts):
            return self._send_powers(others)
        loss_ready = not self._needs_loss or self._has("sealed:loss", [self.partner])
        if step == 3 and self._has("sealed:sigmoid", [self.partner]) and loss_ready:
            return self._send_residuals()
        if step == 4 and self._has("residual", [self.partner]):
            return self._send_gradient()
        if step == 5 and self._has("sealed:gradient", self.hosts):
            return self._guest_update()
        loss_in = not self._needs_loss or self._has("plain:loss", [self.partner])
        if step == 6 and loss_in:
            return self._decide()
        if step == 8 and self._has("weights:validation", [self.partner]):
            return self._send_validation_scores()
        validation_in = self._has("sealed:validation", self.hosts) and self._has(
            "plain:validation", [self.partner]
        )
        if step == 9 and validation_in and loss_in:
            return self._decide(self._validation_metrics())
        if step == 7 and self._has("plain:final", [self.partner]):
            message = self._take("plain:final", self.partner)
            assert self.mine is not None
            self._own_weights(self._plain_shares(message, len(self.mine.weights), self._share_bits))
            self._finish_result()
            return []
        return None

    def _send_scores(self) -> list[Message]:
        assert self.mine is not None
        share = self._weight_share("weights", self.partner, self._partner_key)
        sealed, kept = self._score_seal(share, self.mine.weights)
        self._kept["scores"] = kept
        self._step = 2
        return [self._sealed(self.partner, "scores", sealed)]

    def _send_powers(self, others: Sequence[str]) -> list[Message]:
        rows = len(self.rows)
        total = list(self._kept.pop("scores"))
        for host in self.hosts:
            opened = self._opened(self._take("sealed:scores", host), rows, score_bits())
            total = [t + o for t, o in zip(total, opened, strict=True)]
        a = truncate(total, _SCORE_SHIFT)
        self._kept["z"] = a
        weights = [self.row_weights[i] for i in self.rows]
        columns: list[int] = []
        if self.weighted:
            columns.extend(weights)
        power = [1] * rows
        for _ in range(DEGREE):
            power = [p * v for p, v in zip(power, a, strict=True)]
            columns.extend(w * p for w, p in zip(weights, power, strict=True))
        if self._needs_loss:
            labelled = [w * int(y) for w, y in zip(weights, self.y[self.rows], strict=True)]
            columns.extend(labelled)
            # the guest's part of -sum(w y z), so that the partner host's loss sum is small
            columns.append(-(sum(v * z for v, z in zip(labelled, a, strict=True)) << _LOSS_SHIFT))
        count = len(columns) // rows
        bits = 20 + ROW_WEIGHT_FRACTION + DEGREE * (_SHARE_OF_Z_BITS + 1)
        powers = encrypt_integers(self._private_key, columns, bits, n_jobs=self.settings.n_jobs)
        self._step = 3
        return [
            LrSharePowers(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.partner,
                round=self.epoch,
                batch=self.batch,
                columns=count,
                powers=sent_vector(powers),
            )
        ]

    def _send_residuals(self) -> list[Message]:
        rows = len(self.rows)
        sigmoid = self._opened(self._take("sealed:sigmoid", self.partner), rows, _SIGMOID_BITS)
        self._kept.pop("z")
        if self._needs_loss:
            loss_bits = _SIGMOID_BITS + rows.bit_length() + 8
            (loss,) = self._opened(self._take("sealed:loss", self.partner), 1, loss_bits)
            self._loss_share += loss
        labels = [
            (self.row_weights[i] * int(self.y[i])) << (WEIGHT_FRACTION - ROW_WEIGHT_FRACTION)
            for i in self.rows
        ]
        residual = [
            s - y
            for s, y in zip(truncate(sigmoid, _POLY_SCALE - WEIGHT_FRACTION), labels, strict=True)
        ]
        self._kept["residual"] = residual
        encrypted = encrypt_integers(
            self._private_key, residual, _RESIDUAL_SHARE_BITS, n_jobs=self.settings.n_jobs
        )
        self._step = 4
        return [self._encrypted_residual(host, encrypted) for host in self.hosts]

    def _send_gradient(self) -> list[Message]:
        message: LrShareResidual = self._take("residual", self.partner)
        assert self._partner_key is not None
        residual = self._checked_encrypted(
            message.residual,
            self._partner_key,
            len(self.rows),
            _RESIDUAL_SHARE_BITS,
            "its residual share",
            self.partner,
        )
        sealed, kept = self._gradient_seal(residual, self._kept.pop("residual"))
        self._kept["gradient"] = kept
        self._step = 5
        return [self._sealed(self.partner, "gradient", sealed)]

    def _guest_update(self) -> list[Message]:
        assert self.mine is not None
        bits = gradient_bits(len(self.rows))
        self.mine.step(self._mean_gradient(self._kept.pop("gradient")), self.epoch)
        for host in self.hosts:
            width = len(self.held[host].weights)
            opened = self._opened(self._take("sealed:gradient", host), width, bits)
            self.held[host].step(self._mean_gradient(opened), self.epoch)
        if not self.last_batch:
            self._next_batch()
            self._step = 0
            return []
        self._snapshot_shares()
        if self.settings.early_stopping is None:
            self._step = 6
            return []
        self._step = 8
        return [
            self._encrypted_weights(host, self.held[host].weights, "validation")
            for host in self.hosts
        ]

    def _send_validation_scores(self) -> list[Message]:
        assert self.mine is not None
        share = self._weight_share("weights:validation", self.partner, self._partner_key)
        sealed, kept = self._score_seal(share, self.mine.weights, validation=True)
        self._kept["validation"] = kept
        self._step = 9
        return [self._sealed(self.partner, "validation", sealed)]

    def _validation_metrics(self) -> dict[str, float]:
        """The validation scores of this epoch, from the shares, and their metrics."""
        assert self.X_validation is not None and self.y_validation is not None
        assert self.evaluate is not None
        rows = len(self.X_validation)
        total = list(self._kept.pop("validation"))
        for host in self.hosts:
            opened = self._opened(self._take("sealed:validation", host), rows, score_bits())
            total = [t + o for t, o in zip(total, opened, strict=True)]
        partner = self._plain_shares(
            self._take("plain:validation", self.partner), rows, score_bits() + 8
        )
        scale = float(1 << (WEIGHT_FRACTION + FEATURE_FRACTION))
        scores = np.array([(t + p) / scale for t, p in zip(total, partner, strict=True)])
        probabilities = 1.0 / (1.0 + np.exp(-np.clip(scores, -500.0, 500.0)))
        return self.evaluate(self.y_validation, probabilities)

    def _decide(self, metrics: dict[str, float] | None = None) -> list[Message]:
        loss: float | None = None
        if self._needs_loss:
            message = self._take("plain:loss", self.partner)
            (partner_share,) = self._plain_shares(message, 1, _SIGMOID_BITS + 64)
            total = self._loss_share + partner_share
            self._loss_share = 0
            scale = float(1 << (_POLY_SCALE))
            loss = (
                total
                / scale
                / float(np.sum(np.asarray(self.row_weights)) / (1 << ROW_WEIGHT_FRACTION))
            )
        previous = self.history[-1]["loss"] if self.history else None
        self.history.append(
            {
                "epoch": self.epoch,
                "loss": loss,
                "weight_change": None,
                "validation_auc": None if metrics is None else metrics["auc"],
                "validation_ks": None if metrics is None else metrics["ks"],
            }
        )
        reason = None
        if self.settings.early_stopping is not None and metrics is not None:
            value = metrics[self.settings.early_stopping]
            if value > self._best[0]:
                self._best, self._stale_epochs = (value, self.epoch), 0
            else:
                self._stale_epochs += 1
                if self._stale_epochs >= self.settings.patience:
                    reason = "early_stopping"
        if reason is not None:
            pass
        elif loss is not None and previous is not None and abs(previous - loss) < self.settings.tol:
            reason = "converged"
        elif self.epoch + 1 >= self.settings.max_iter:
            reason = "max_iter"
        best_epoch = -1
        if reason is not None and self.settings.early_stopping is not None:
            best_epoch = self._best[1]
        messages: list[Message] = [
            LrDecision(
                job_id=self.job_id,
                sender=self.party,
                receiver=host,
                round=self.epoch,
                batch=self.batch,
                stop=reason is not None,
                best_epoch=best_epoch,
            )
            for host in self.hosts
        ]
        if reason is None:
            self._take_shared_checkpoint()
            self._next_batch()
            self._step = 0
            return messages
        self._stop_reason = reason
        self._best_epoch = best_epoch
        kept = self._kept_shares(best_epoch)
        self.mine = _restored_optimizer(self, kept["mine"], self.features_count, "its own")
        for host in self.hosts:
            messages.append(self._plain(host, "final", kept["held"][host]["weights"]))
        self._step = 7
        return messages

    def _finish_result(self) -> None:
        best = len(self.history) - 1 if self._best_epoch == -1 else self._best_epoch
        result = self._party_result(0.0, self._stop_reason, best)
        result.epochs = len(self.history)
        if self.settings.fit_intercept:
            result.intercept = float(self.weights[-1])
            result.weights = result.weights[:-1]
        self._finish(result)

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts while set up or gathering their shares, else the partner host."""
        if self.done:
            return ()
        if not self._set_up or self._step in (2, 5):
            return self.hosts
        return (self.partner,)


class SharedHost(_SharedParty):
    """A host of shared-mode training: the partner host (first) or another.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    features : array_like
        This host's aligned training rows.
    settings : LrSettings
        ``mode="shared"``.
    backend : str, default "paillier"
    validation : array_like, optional
        Accepted and unused.
    initial_weights : array_like, optional
        Warm start.
    row_ids : sequence of str, optional
        The rows' ids (checked against the guest's digest).
    """

    ROLE = "host"

    def _schedule(self) -> Schedule:
        return _PARTNER_SCHEDULE if self.is_partner else _HOST_SCHEDULE

    def _senders(self, who: str) -> Sequence[str]:
        assert self.setup is not None
        if who == "others":
            return self.setup.hosts[1:]
        return (self.partner,) if who == "partner" else (self.guest,)

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        features: npt.ArrayLike,
        settings: LrSettings,
        backend: str = "paillier",
        validation: npt.ArrayLike | None = None,
        initial_weights: npt.ArrayLike | None = None,
        row_ids: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            party,
            job_id,
            features=features,
            settings=settings,
            backend=backend,
            validation=validation,
            initial_weights=initial_weights,
        )
        self.guest = guest
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)
        self.setup: LrSetup | None = None
        self.partner = ""
        self._guest_key: VectorPublicKey | None = None
        self.held_guest: SharedOptimizer | None = None
        """The partner host's share of the guest's weights."""
        self._guest_initial: LrSharePlain | None = None
        self._loss_share = 0
        self._best_epoch = -1

    def _encryptions_per_batch(self) -> int:
        if not self.is_partner or self.held_guest is None:
            return 0
        return len(self.rows) + len(self.held_guest.weights)

    @property
    def is_partner(self) -> bool:
        """Whether this host is the guest's partner (the first host)."""
        return self.setup is not None and self.partner == self.party

    def start(self) -> list[Message]:
        """Nothing: a host waits for the guest's setup."""
        return []

    def receive(self, message: Message) -> list[Message]:
        """Take one message from the guest (or the partner host), then do what it allows.

        Raises
        ------
        ProtocolError
            If the message is unexpected or malformed.
        """
        if self.done:
            raise self._unexpected(message, "finished")
        replies: list[Message] = []
        sender = message.sender
        if isinstance(message, LrSetup) and sender == self.guest:
            replies = self._take_setup(message)
        elif self.setup is None:
            raise self._unexpected(message, "waiting for the guest's setup")
        elif isinstance(message, LrPublicKey) and sender == self.guest:
            if self._guest_key is not None:
                raise self._unexpected(message, "already holding the guest's key")
            self._check_key_size(message.public_key, sender)
            self._guest_key = message.public_key
        elif (
            isinstance(message, LrSharePlain)
            and message.purpose == "initial"
            and sender == self.guest
            and self.is_partner
        ):
            if self._guest_initial is not None:
                raise self._unexpected(message, "already holding the guest's initial share")
            self._guest_initial = message
        elif isinstance(message, LrShareWeights) and sender == self.guest:
            self._file(message, _weights_tag(message, self.party))
        elif (
            isinstance(message, LrShareSealed)
            and sender == self.guest
            and self.is_partner
            and message.purpose in ("scores", "gradient", "validation")
        ):
            self._file(message, f"sealed:{message.purpose}")
        elif isinstance(message, LrSharePowers) and sender == self.guest and self.is_partner:
            self._file(message, "powers")
        elif isinstance(message, LrShareResidual) and sender == self.guest:
            self._file(message, "residual")
        elif (
            isinstance(message, LrSharePlain)
            and message.purpose in ("scores", "validation")
            and self.is_partner
            and sender in self.setup.hosts[1:]
        ):
            self._file(message, f"plain:{message.purpose}")
        elif (
            isinstance(message, LrSharePlain)
            and message.purpose == "residual"
            and not self.is_partner
            and sender == self.partner
        ):
            self._file(message, "plain:residual")
        elif isinstance(message, LrResume) and sender == self.guest:
            replies = self._take_resume(message)
        elif isinstance(message, LrDecision) and sender == self.guest:
            self._file(message, "decision")
        elif (
            isinstance(message, LrSharePlain)
            and message.purpose == "final"
            and sender == self.guest
        ):
            self._file(message, "plain:final")
        else:
            raise self._unexpected(message, f"at step {self._step}")
        return replies + self._advance()

    def _take_setup(self, message: LrSetup) -> list[Message]:
        if self.setup is not None:
            raise self._unexpected(message, "already set up")
        rows, width = self.X.shape
        plan = self._checked_setup(message, self.row_ids)
        self.setup = message
        self.partner = message.hosts[0]
        self._start_plan(plan)
        seed, epochs = self._offered()
        replies: list[Message] = [
            LrHostSetup(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                features=width,
                rows=rows,
                validation_rows=0 if self.X_validation is None else len(self.X_validation),
                gradient_bits=1,
                resume=self.resuming,
                resume_seed=seed,
                resume_epochs=epochs,
            )
        ]
        if self.is_partner:
            public_key = self._generate_keys()
            replies.append(
                LrPublicKey(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=self.guest,
                    public_key=sent_key(public_key),
                )
            )
        if not self.resuming:  # resuming: after the guest's LrResume (_take_resume)
            replies.append(self._plain(self.guest, "initial", self._start_own_share()))
        return replies

    def _take_resume(self, message: LrResume) -> list[Message]:
        """Go on with epoch ``message.round`` from this host's shares of the one before."""
        assert self.setup is not None
        if not self.resuming or self.resumed_after is not None:
            raise self._unexpected(message, "not waiting to resume")
        if message.batch != 0 or message.round >= self.setup.max_iter:
            raise ProtocolError(
                f"{self.party}: the guest resumes with epoch {message.round} batch "
                f"{message.batch}, beyond max_iter {self.setup.max_iter}"
            )
        after = message.round - 1
        if after < 0:
            self.resumed_after = -1
            return [self._plain(self.guest, "initial", self._start_own_share())]
        seed, epochs = self._offered()
        if after not in epochs or seed != self.setup.plan_seed:
            raise ProtocolError(
                f"{self.party}: the guest resumes after epoch {after}, which this host did "
                "not offer"
            )
        self._restore_shared(after)
        return []

    def _current_shares(self) -> dict[str, Any]:
        state = super()._current_shares()
        if self.held_guest is not None:
            state["held"] = {"guest": self.held_guest.state()}
        return state

    def _restore_shares(self, shares: dict[str, Any]) -> None:
        super()._restore_shares(shares)
        if not self.is_partner:
            return
        assert self.setup is not None
        held = shares.get("held")
        if not isinstance(held, dict) or set(held) != {"guest"}:
            raise ProtocolError(
                f"{self.party}: the checkpoint holds no shares of the guest's weights"
            )
        self.held_guest = _restored_optimizer(
            self, held["guest"], self.setup.guest_features, "the guest's"
        )

    @property
    def _weighted(self) -> bool:
        return self.setup is not None and self.setup.weighted

    def _advance(self) -> list[Message]:
        messages: list[Message] = []
        if not self._set_up:
            if self.setup is None or self._guest_key is None:
                return messages
            if self.resuming and self.resumed_after is None:
                return messages
            if self.is_partner and self.held_guest is None:
                if self._guest_initial is None:
                    return messages
                shares = self._plain_shares(
                    self._guest_initial, self.setup.guest_features, WEIGHT_BITS + WEIGHT_FRACTION
                )
                penalized = [True] * self.setup.guest_features
                if self.settings.fit_intercept:
                    penalized[-1] = False
                self.held_guest = SharedOptimizer(self.settings.optimizer, shares, penalized)
            self._set_up = True
            self._step = 0
        while not self.done:
            produced = self._partner_step() if self.is_partner else self._host_step()
            if produced is None:
                break
            messages.extend(produced)
        return messages

    # the partner host -----------------------------------------------------------------
    def _partner_step(self) -> list[Message] | None:
        assert self.setup is not None
        others = self.setup.hosts[1:]
        step = self._step
        if step == 0:
            assert self.held_guest is not None
            self._step = 1
            return [self._encrypted_weights(self.guest, self.held_guest.weights)]
        if step == 1 and self._has("weights", [self.guest]):
            return self._send_scores()
        if (
            step == 2
            and self._has("sealed:scores", [self.guest])
            and self._has("plain:scores", others)
            and self._has("powers", [self.guest])
        ):
            return self._send_sigmoid(others)
        if step == 3 and self._has("residual", [self.guest]):
            return self._send_gradient()
        if step == 4 and self._has("sealed:gradient", [self.guest]):
            return self._partner_update()
        if step == 5 and self._has("decision", [self.guest]):
            return self._take_decision()
        if step == 6 and self._has("plain:final", [self.guest]):
            return self._take_final()
        if step == 7 and self._has("weights:validation", [self.guest]):
            return self._send_validation_scores()
        if (
            step == 8
            and self._has("sealed:validation", [self.guest])
            and self._has("plain:validation", others)
        ):
            return self._send_validation_share(others)
        return None

    def _send_validation_scores(self) -> list[Message]:
        """Seal this host's partial scores of the validation rows (early stopping)."""
        assert self.mine is not None
        sealed, kept = self._score_seal(
            self._weight_share("weights:validation", self.guest, self._guest_key),
            self.mine.weights,
            validation=True,
        )
        messages: list[Message] = [self._sealed(self.guest, "validation", sealed)]
        if self.is_partner:
            self._kept["validation"] = kept
            self._step = 8
        else:
            messages.append(self._plain(self.partner, "validation", kept))
            self._step = 5
        return messages

    def _send_validation_share(self, others: Sequence[str]) -> list[Message]:
        """The partner host's share of every validation score, to the guest."""
        assert self.X_validation is not None
        rows = len(self.X_validation)
        total = list(self._kept.pop("validation"))
        opened = self._opened(self._take("sealed:validation", self.guest), rows, score_bits())
        total = [t + o for t, o in zip(total, opened, strict=True)]
        for host in others:
            masks = self._plain_shares(self._take("plain:validation", host), rows, score_bits())
            total = [t + m for t, m in zip(total, masks, strict=True)]
        self._step = 5
        return [self._plain(self.guest, "validation", total)]

    def _send_scores(self) -> list[Message]:
        assert self.mine is not None and self.setup is not None
        sealed, kept = self._score_seal(
            self._weight_share("weights", self.guest, self._guest_key), self.mine.weights
        )
        self._step = 2
        if self.is_partner:
            self._kept["scores"] = kept
            return [self._sealed(self.guest, "scores", sealed)]
        self._step = 1
        return [
            self._sealed(self.guest, "scores", sealed),
            self._plain(self.partner, "scores", kept),
        ]

    def _send_sigmoid(self, others: Sequence[str]) -> list[Message]:
        assert self.setup is not None and self._guest_key is not None
        rows = len(self.rows)
        total = list(self._kept.pop("scores"))
        opened = self._opened(self._take("sealed:scores", self.guest), rows, score_bits())
        total = [t + o for t, o in zip(total, opened, strict=True)]
        for host in others:
            masks = self._plain_shares(self._take("plain:scores", host), rows, score_bits())
            total = [t + m for t, m in zip(total, masks, strict=True)]
        b = truncate(total, _SCORE_SHIFT)
        message: LrSharePowers = self._take("powers", self.guest)
        expected = DEGREE + int(self._weighted) + int(self._needs_loss)
        if message.columns != expected:
            raise ProtocolError(
                f"{self.party}: the guest sent {message.columns} columns of powers, "
                f"expected {expected}"
            )
        bits = 20 + ROW_WEIGHT_FRACTION + DEGREE * (_SHARE_OF_Z_BITS + 1)
        powers = self._checked_encrypted(
            message.powers,
            self._guest_key,
            expected * rows + int(self._needs_loss),
            bits,
            "powers",
            self.guest,
        )
        columns = _split_columns(powers, expected, rows)
        first = 0 if self._weighted else 1
        factors = [
            split_factors(logistic_coefficients(self.settings.loss_name, self._weighted), v)
            for v in b
        ]
        used = columns[: DEGREE + 1 - first]
        column_factors = [[f[j] for f in factors] for j in range(first, DEGREE + 1)]
        n_jobs = self.settings.n_jobs
        sigmoid = combine_columns(used, column_factors, _SIGMOID_BITS, n_jobs=n_jobs)
        if not self._weighted:
            sigmoid = add_integers(
                sigmoid, [f[0] << ROW_WEIGHT_FRACTION for f in factors], _SIGMOID_BITS
            )
        sealed, kept = reshare(sigmoid, _SIGMOID_BITS, n_jobs=n_jobs)
        messages: list[Message] = [self._sealed(self.guest, "sigmoid", sealed)]
        if self._needs_loss:
            offset: Any = powers
            messages.append(self._loss_seal(columns, b, first, offset[expected * rows :]))
        residual = truncate(kept, _POLY_SCALE - WEIGHT_FRACTION)
        self._kept["residual"] = residual
        encrypted = encrypt_integers(
            self._private_key, residual, _RESIDUAL_SHARE_BITS, n_jobs=n_jobs
        )
        messages.append(self._encrypted_residual(self.guest, encrypted))
        messages.extend(self._plain(host, "residual", residual) for host in others)
        self._step = 3
        return messages

    def _loss_seal(
        self, columns: list[CipherVector], b: list[int], first: int, guest_term: CipherVector
    ) -> LrShareSealed:
        rows = len(b)
        factors = [
            split_factors(softplus_coefficients(self.settings.loss_name, self._weighted), v)
            for v in b
        ]
        column_factors = [[f[j] for f in factors] for j in range(first, DEGREE + 1)]
        used = [*columns[: DEGREE + 1 - first], columns[-1]]
        column_factors.append([-(v << _LOSS_SHIFT) for v in b])
        bits = _SIGMOID_BITS + rows.bit_length() + 8
        summed = combine_sum(used, column_factors, bits, n_jobs=self.settings.n_jobs)
        constant = 0 if self._weighted else sum(f[0] for f in factors) << ROW_WEIGHT_FRACTION
        summed = add_integers(summed + guest_term, [constant], bits)
        sealed, kept = reshare(summed, bits, n_jobs=self.settings.n_jobs)
        self._loss_share += kept[0]
        return self._sealed(self.guest, "loss", sealed)

    def _send_gradient(self) -> list[Message]:
        message: LrShareResidual = self._take("residual", self.guest)
        assert self._guest_key is not None
        residual = self._checked_encrypted(
            message.residual,
            self._guest_key,
            len(self.rows),
            _RESIDUAL_SHARE_BITS,
            "its residual share",
            self.guest,
        )
        own = self._kept.pop("residual")
        sealed, kept = self._gradient_seal(residual, own)
        self._kept["gradient"] = kept
        if self.is_partner:
            self._step = 4
            return [self._sealed(self.guest, "gradient", sealed)]
        assert self.mine is not None
        message_out = self._sealed(self.guest, "gradient", sealed)
        self.mine.step(self._mean_gradient(self._kept.pop("gradient")), self.epoch)
        if not self.last_batch:
            self._next_batch()
            self._step = 0
        elif self.settings.early_stopping is not None:
            self._snapshot_shares()
            self._step = 7
        else:
            self._step = 5
        return [message_out]

    def _partner_update(self) -> list[Message]:
        assert self.mine is not None and self.held_guest is not None and self.setup is not None
        self.mine.step(self._mean_gradient(self._kept.pop("gradient")), self.epoch)
        opened = self._opened(
            self._take("sealed:gradient", self.guest),
            self.setup.guest_features,
            gradient_bits(len(self.rows)),
        )
        self.held_guest.step(self._mean_gradient(opened), self.epoch)
        if not self.last_batch:
            self._next_batch()
            self._step = 0
            return []
        self._snapshot_shares()
        self._step = 5
        messages: list[Message] = []
        if self._needs_loss:
            share, self._loss_share = self._loss_share, 0
            messages.append(self._plain(self.guest, "loss", [share]))
        if self.settings.early_stopping is not None:
            messages.append(
                self._encrypted_weights(self.guest, self.held_guest.weights, "validation")
            )
            self._step = 7
        return messages

    def _take_decision(self) -> list[Message]:
        message: LrDecision = self._take("decision", self.guest)
        assert self.setup is not None
        if not message.stop:
            if self.epoch + 1 >= self.setup.max_iter:
                raise ProtocolError(f"{self.party}: the guest asked for more than max_iter epochs")
            self.history.append({"epoch": self.epoch, "weight_change": None})
            self._take_shared_checkpoint()
            self._next_batch()
            self._step = 0
            return []
        self.history.append({"epoch": self.epoch, "weight_change": None})
        self._step = 6
        kept = self._kept_shares(message.best_epoch)
        self._best_epoch = message.best_epoch
        self.mine = _restored_optimizer(self, kept["mine"], self.features_count, "its own")
        if self.is_partner:
            return [self._plain(self.guest, "final", kept["held"]["guest"]["weights"])]
        return []

    def _take_final(self) -> list[Message]:
        assert self.mine is not None
        message = self._take("plain:final", self.guest)
        self._own_weights(self._plain_shares(message, len(self.mine.weights), self._share_bits))
        self.snapshots.append(self.weights.copy())
        best = len(self.history) - 1 if self._best_epoch == -1 else self._best_epoch
        result = self._party_result(0.0, "decided by the guest", best)
        result.epochs = len(self.history)
        self._finish(result)
        return []

    # another host -------------------------------------------------------------------
    def _host_step(self) -> list[Message] | None:
        step = self._step
        if step == 0 and self._has("weights", [self.guest]):
            return self._send_scores()
        if (
            step == 1
            and self._has("residual", [self.guest])
            and self._has("plain:residual", [self.partner])
        ):
            masks = self._plain_shares(
                self._take("plain:residual", self.partner), len(self.rows), _RESIDUAL_SHARE_BITS
            )
            self._kept["residual"] = masks
            return self._send_gradient()
        if step == 5 and self._has("decision", [self.guest]):
            return self._take_decision()
        if step == 6 and self._has("plain:final", [self.guest]):
            return self._take_final()
        if step == 7 and self._has("weights:validation", [self.guest]):
            return self._send_validation_scores()
        return None

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest, and the partner host for what it sends."""
        if self.done:
            return ()
        if self.setup is not None and not self.is_partner and self._step == 1:
            return (self.guest, self.partner)
        if self.is_partner and self.setup is not None and self._step == 2:
            return (self.guest, *self.setup.hosts[1:])
        return (self.guest,)


def _split_columns(vector: CipherVector, count: int, rows: int) -> list[CipherVector]:
    """``count`` consecutive columns of ``rows`` values each."""
    sliceable: Any = vector
    return [sliceable[j * rows : (j + 1) * rows] for j in range(count)]


def _weights_tag(message: LrShareWeights, party: str) -> str:
    """The inbox tag of encrypted weight shares, by purpose."""
    if message.purpose == "batch":
        return "weights"
    if message.purpose == "validation":
        return "weights:validation"
    raise ProtocolError(
        f"{party}: {message.sender} sent weight shares for {message.purpose!r}, expected "
        "'batch' or 'validation'"
    )

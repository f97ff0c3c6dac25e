"""The host's side of hetero logistic regression: features, no labels.

Per batch the host sends its scaled scores ``[[s u_h]]`` and their squares to the
guest (the objective's terms, :mod:`protocols.hetero_lr.objective`), receives what
it needs for its gradient (never anything it can decrypt), computes ``[[X_h^T d]]``,
masks it uniformly in ``Z_n`` and has the key owner decrypt the masked values.  In
two-party mode it is also the key owner of its own key and decrypts the guest's
masked gradient and loss.  Its phases and the events that move it between them:
:data:`~protocols.hetero_lr.phases.HOST_TRANSITIONS`.  See :mod:`protocols.hetero_lr`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crypto.vector_api import (
    CipherVector,
    Mask,
    MaskedValues,
    VectorPrivateKey,
    VectorPublicKey,
)
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.leakage import check_label_bound, gradient_entry_bits
from protocols.hetero_lr.party import (
    ENCRYPTION_EXPONENT,
    FACTOR_EXPONENT,
    TrainingParty,
    decrypt_masked,
    public_gradient_bound,
    row_ids_checked,
    sent_key,
    sent_masked,
    sent_vector,
    with_public_bound,
)
from protocols.hetero_lr.phases import (
    HOST_TRANSITIONS,
    HostEvent,
    HostPhase,
    allowed_transition,
)
from protocols.hetero_lr.settings import LrSettings
from protocols.messages import (
    LrCross,
    LrDecision,
    LrDecrypted,
    LrEpochEnd,
    LrForward,
    LrHostSetup,
    LrMasked,
    LrPublicKey,
    LrResidual,
    LrResume,
    LrSetup,
    Message,
)

__all__ = ["HostBatch", "LrHost"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class HostBatch:
    """What a host keeps of the current batch until its gradient comes back.

    Attributes
    ----------
    scores : numpy.ndarray
        Its partial scores ``u_h`` of the batch's rows (sent encrypted).
    mask : Mask, optional
        The mask of its masked gradient, once sent.
    """

    scores: FloatArray
    mask: Mask | None = None


class LrHost(TrainingParty):
    """A host of hetero logistic regression.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    features : array_like
        The host's aligned training rows.
    settings : LrSettings
        This host's parameters (its optimiser; ``mode``, ``key_length`` and
        ``allow_weak_key`` must agree with the guest's setup).
    backend : str, default "paillier"
    arbiter : str, optional
        The arbiter's name (arbiter mode).
    validation : array_like, optional
        The host's aligned validation rows.
    initial_weights : array_like, optional
        Warm start.
    row_ids : sequence of str, optional
        The training rows' customer ids, in order: compared (salted digest) with
        the guest's, misaligned rows are refused.

    Raises
    ------
    ProtocolError
        If the features are malformed, or an arbiter is given in two-party mode
        (or missing in arbiter mode).

    Examples
    --------
    Training with the plaintext backend (values change exactly as under encryption,
    see :mod:`crypto.plain`) gives the weights of :class:`LrGuest`'s example:

    >>> from protocols.hetero_lr import LrGuest, OptimizerSettings
    >>> import numpy as np
    >>> x = np.linspace(-1.0, 1.0, 120)
    >>> guest_rows, host_rows = np.column_stack([x, x**2]), np.sin(3 * x)[:, None]
    >>> labels = (x + np.sin(3 * x) > 0).astype(float)
    >>> settings = LrSettings(batch_size=60, max_iter=3, key_length=1024, allow_weak_key=True,
    ...                       optimizer=OptimizerSettings(learning_rate=0.5))
    >>> roles = {
    ...     "guest": LrGuest("guest", "job-1", hosts=["host"], features=guest_rows,
    ...                      labels=labels, settings=settings, backend="plaintext",
    ...                      plan_seed=bytes(32), initial_weights_seed=bytes(32)),
    ...     "host": LrHost("host", "job-1", guest="guest", features=host_rows,
    ...                    settings=settings, backend="plaintext"),
    ... }
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue:
    ...     message = queue.pop(0)
    ...     queue += roles[message.receiver].receive(message)
    >>> host = roles["host"].result
    >>> host.weights.round(4).tolist(), [round(e["weight_change"], 4) for e in host.history]
    ([0.773], [0.0974, 0.0647, 0.0427])
    """

    ROLE = "host"

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        features: npt.ArrayLike,
        settings: LrSettings,
        backend: str = "paillier",
        arbiter: str | None = None,
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
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)
        if (arbiter is None) != (settings.mode == "two-party"):
            raise ProtocolError(f"{party}: arbiter mode needs an arbiter; two-party mode none")
        self.guest = guest
        self.arbiter = arbiter
        self.key_owner = guest if arbiter is None else arbiter
        self.setup: LrSetup | None = None
        self.index = 0
        self._phase = HostPhase.SETUP
        self._own_keys: tuple[VectorPublicKey, VectorPrivateKey] | None = None
        self._encryption_key: VectorPublicKey | None = None  # the key owner's (arbiter or own)
        self._guest_key: VectorPublicKey | None = None  # two-party: the guest's key
        self._batch: HostBatch | None = None

    @functools.cached_property
    def gradient_bits(self) -> int:
        """Bits per entry of this host's gradient (:mod:`~protocols.hetero_lr.leakage`)."""
        return gradient_entry_bits(self.X)

    @property
    def two_party(self) -> bool:
        """Whether the host holds a key of its own."""
        return self.arbiter is None

    @property
    def phase(self) -> HostPhase:
        """What the host waits for (see :mod:`~protocols.hetero_lr.phases`)."""
        return self._phase

    # phases ---------------------------------------------------------------------------------
    def _expect(
        self,
        event: HostEvent,
        message: Message | None = None,
        refusal: str = "",
        where: str = "",
    ) -> HostPhase:
        """The phase after ``event``; refuse it if the table does not allow it now."""
        return allowed_transition(
            HOST_TRANSITIONS, self._phase, event, party=self.party,
            unexpected=self._unexpected, message=message, refusal=refusal,
            waiting=where or f"in epoch {self.epoch} batch {self.batch}",
        )  # fmt: skip

    def _transition(
        self, event: HostEvent, message: Message | None = None, refusal: str = ""
    ) -> None:
        """Move to the phase the table gives for ``event``, or refuse it (see :meth:`_expect`)."""
        self._phase = self._expect(event, message, refusal)

    def start(self) -> list[Message]:
        """Nothing to send before the guest's setup, unless resuming.

        Returns
        -------
        list of Message
            Empty; when resuming (:meth:`prepare_resume`), the
            :class:`~protocols.messages.LrHostSetup` offering this host's checkpoints.

        Raises
        ------
        ProtocolError
            If called twice while resuming.
        """
        if not self.resuming:
            return []
        self._transition(HostEvent.OFFER, refusal="start() called twice")
        return [self._setup_reply()]

    def receive(self, message: Message) -> list[Message]:
        """Advance on the guest's, the arbiter's or the peer key owner's message.

        Parameters
        ----------
        message : Message
            A message from the guest or the arbiter.

        Returns
        -------
        list of Message
            Whatever the protocol sends next.

        Raises
        ------
        ProtocolError
            If the message is unexpected, malformed or disagrees with this host's
            settings.
        """
        if self.done:
            raise self._unexpected(message, "finished")
        if isinstance(message, LrSetup) and message.sender == self.guest:
            return self._take_setup(message)
        if isinstance(message, LrPublicKey) and message.sender == self.key_owner_of_key:
            return self._take_key(message)
        if self.setup is None:
            raise self._unexpected(message, "waiting for the guest's setup")
        if isinstance(message, LrResidual) and message.sender == self.guest:
            return self._take_residual(message)
        if isinstance(message, LrMasked) and message.sender == self.guest and self.two_party:
            return self._decrypt_for_guest(message)
        if isinstance(message, LrDecrypted) and message.sender == self.key_owner:
            return self._take_gradient(message)
        if isinstance(message, LrDecision) and message.sender == self.guest:
            return self._take_decision(message)
        if isinstance(message, LrResume) and message.sender == self.guest and self.resuming:
            return self._take_resume(message)
        raise self._unexpected(message, f"in epoch {self.epoch} batch {self.batch}")

    @property
    def key_owner_of_key(self) -> str:
        """Who sends this host a public key: the guest (two-party) or the arbiter."""
        return self.guest if self.two_party else str(self.arbiter)

    # setup ----------------------------------------------------------------------------
    def _take_setup(self, message: LrSetup) -> list[Message]:
        if self.setup is not None:
            raise self._unexpected(message, "already set up")
        self._expect(HostEvent.SETUP, message, where="waiting for the guest's setup")
        width = self.X.shape[1]
        plan = self._checked_setup(message, self.row_ids)
        check_label_bound(plan.smallest, width, self.gradient_bits, self.party, "this host")
        self.setup = message
        self.index = message.hosts.index(self.party)
        self._start_plan(plan)
        self._transition(HostEvent.SETUP, message)
        # resuming: the setup reply went out first, and forwards wait for LrResume
        replies: list[Message] = [] if self.resuming else [self._setup_reply()]
        if self.two_party:
            self._own_keys = self.backend.generate_keypair(
                self.settings.key_length, allow_weak_key=self.settings.allow_weak_key
            )
            self._encryption_key = self._own_keys[0]
            replies.append(
                LrPublicKey(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=self.guest,
                    public_key=sent_key(self._own_keys[0]),
                )
            )
        return replies + self._forward()

    def _setup_reply(self) -> LrHostSetup:
        rows, width = self.X.shape
        seed, epochs = self._offered()
        return LrHostSetup(
            job_id=self.job_id,
            sender=self.party,
            receiver=self.guest,
            features=width,
            rows=rows,
            validation_rows=0 if self.X_validation is None else len(self.X_validation),
            gradient_bits=self.gradient_bits,
            resume=self.resuming,
            resume_seed=seed,
            resume_epochs=epochs,
        )

    def _take_resume(self, message: LrResume) -> list[Message]:
        """Go on with epoch ``message.round`` from this host's checkpoint of the one before."""
        self._expect(HostEvent.RESUME, message, where="not waiting to resume")
        assert self.setup is not None
        if message.batch != 0 or message.round >= self.setup.max_iter:
            raise ProtocolError(
                f"{self.party}: the guest resumes with epoch {message.round} batch "
                f"{message.batch}, beyond max_iter {self.setup.max_iter}"
            )
        after = message.round - 1
        if after >= 0:
            if after not in self._offered()[1] or self._offered()[0] != self.setup.plan_seed:
                raise ProtocolError(
                    f"{self.party}: the guest resumes after epoch {after}, which this host "
                    "did not offer"
                )
            self._restore(self._checkpoint_of(after))
        self._transition(HostEvent.RESUME, message)
        self.resumed_after = after
        return self._forward()

    def _take_key(self, message: LrPublicKey) -> list[Message]:
        known = self._guest_key if self.two_party else self._encryption_key
        if known is not None:
            raise self._unexpected(message, "already holding that key")
        self._transition(HostEvent.KEY, message)
        self._check_key_size(message.public_key, message.sender)
        if self.two_party:
            self._guest_key = message.public_key
            return []
        self._encryption_key = message.public_key
        return [] if self.setup is None else self._forward()

    # one batch ------------------------------------------------------------------------------
    def _forward(self) -> list[Message]:
        """Send the scaled scores and their squares for the current batch, once it can."""
        if self._phase is not HostPhase.SCORES or self._encryption_key is None:
            return []
        assert self.setup is not None
        objective = self.objective
        scores = self._scores(self.rows)
        self._batch = HostBatch(scores=scores)
        key, n_jobs = self._encryption_key, self.settings.n_jobs
        weighted = self.setup.weighted
        self._transition(HostEvent.SCORES_SENT)
        return [
            LrForward(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                round=self.epoch,
                batch=self.batch,
                quarter_scores=sent_vector(
                    key.encrypt_vector(
                        objective.scaled(scores),
                        max_abs=objective.scaled_score_bound(),
                        n_jobs=n_jobs,
                    )
                ),
                squares=sent_vector(
                    key.encrypt_vector(
                        objective.host_squares(scores, weighted),
                        max_abs=objective.squares_bound(len(scores), weighted),
                        n_jobs=n_jobs,
                    )
                ),
            )
        ]

    def _current_batch(self) -> HostBatch:
        if self._batch is None:
            raise ProtocolError(f"{self.party}: no batch in phase {self._phase.value}")
        return self._batch

    def _take_residual(self, message: LrResidual) -> list[Message]:
        event = HostEvent.MASKED_TO_GUEST if self.two_party else HostEvent.MASKED_TO_ARBITER
        self._expect(event, message)
        self._check_header(message, self.epoch, self.batch)
        assert self.setup is not None
        batch = self._current_batch()
        scores, rows = batch.scores, len(self.rows)
        hosts = len(self.setup.hosts)
        weighted = self.setup.weighted
        n_jobs = self.settings.n_jobs
        objective = self.objective
        replies: list[Message] = []
        key: VectorPublicKey
        if self.two_party:
            if self._guest_key is None:
                raise self._unexpected(message, "waiting for the guest's key")
            key = self._guest_key
            residual = self._checked_vector(
                message.residual, key=key, length=rows, exponent=ENCRYPTION_EXPONENT,
                max_abs=objective.residual_bound(1), what="the residual", sender=self.guest,
            )  # fmt: skip
            if weighted:
                scaled_weights = self._checked_vector(
                    message.weights, key=key, length=rows, exponent=ENCRYPTION_EXPONENT,
                    max_abs=objective.weights_bound(), what="the row weights", sender=self.guest,
                )  # fmt: skip
                residual = scaled_weights.multiply(scores, n_jobs=n_jobs) + residual
            else:
                self._expect_empty(message.weights, "row weights")
                residual = residual + objective.scaled(scores)
        else:
            assert self._encryption_key is not None
            key = self._encryption_key
            exponent = ENCRYPTION_EXPONENT + (FACTOR_EXPONENT if weighted else 0)
            residual = self._checked_vector(
                message.residual, key=key, length=rows, exponent=exponent,
                max_abs=objective.residual_bound(hosts + 1), what="the residual",
                sender=self.guest,
            )  # fmt: skip
            self._expect_empty(message.weights, "row weights")
            if self.index > 0:
                prefix = self._checked_vector(
                    message.prefix, key=key, length=rows, exponent=exponent,
                    max_abs=objective.prefix_bound(self.index),
                    what="the score prefix", sender=self.guest,
                )  # fmt: skip
                cross = with_public_bound(
                    prefix.matmul(scores.reshape(1, -1), n_jobs=n_jobs),
                    objective.cross_bound(self.index, rows),
                )  # the public worst case the guest checks against, not sum |u|
                replies.append(
                    LrCross(
                        job_id=self.job_id,
                        sender=self.party,
                        receiver=self.guest,
                        round=self.epoch,
                        batch=self.batch,
                        cross=sent_vector(cross.rerandomize(n_jobs=n_jobs)),
                    )
                )
            else:
                self._expect_empty(message.prefix, "score prefix")
        gradient = public_gradient_bound(
            residual.matmul(self.X[self.rows].T, n_jobs=n_jobs), rows, hosts, self.party, objective
        )  # the packing layout must not depend on this host's features
        masked, batch.mask = gradient.pack(n_jobs=n_jobs).mask(n_jobs=n_jobs)
        empty, _ = key.encrypt_vector(np.zeros(0)).mask()
        self._transition(event, message)
        replies.append(
            LrMasked(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.key_owner,
                round=self.epoch,
                batch=self.batch,
                gradient=sent_masked(masked),
                loss=sent_masked(empty),
            )
        )
        return replies

    def _expect_empty(self, vector: CipherVector, what: str) -> None:
        if len(vector) != 0:
            raise ProtocolError(f"{self.party}: the guest sent {what} this mode does not use")

    def _decrypt_for_guest(self, message: LrMasked) -> list[Message]:
        # once per batch, after the guest's residual of that batch (same connection)
        self._expect(HostEvent.GUEST_MASKED, message)
        self._check_header(message, self.epoch, self.batch)
        assert self._own_keys is not None and self.setup is not None
        key = self._own_keys[0]
        gradient = self._checked_masked(
            message.gradient, key, self.setup.guest_features, "the gradient", self.guest
        )
        loss: MaskedValues = self._checked_masked(message.loss, key, 1, "the loss", self.guest)
        if len(loss) != 1:
            raise ProtocolError(f"{self.party}: the guest's masked loss is missing")
        values = decrypt_masked(self._own_keys[1], [gradient, loss], self.party, None)
        self._transition(HostEvent.GUEST_MASKED, message)
        return [
            LrDecrypted(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                round=message.round,
                batch=message.batch,
                values=tuple(values),
            )
        ]

    def _take_gradient(self, message: LrDecrypted) -> list[Message]:
        event = HostEvent.LAST_DECRYPTED if self.last_batch else HostEvent.DECRYPTED
        self._expect(event, message)
        self._check_header(message, self.epoch, self.batch)
        mask = self._current_batch().mask
        assert mask is not None
        try:
            gradient = mask.unmask(list(message.values))
        except (ValueError, ArithmeticError) as error:
            raise ProtocolError(
                f"{self.party}: {message.sender}'s decryptions are malformed ({error})"
            ) from error
        self._update(gradient)
        self._batch = None
        self._transition(event, message)
        if event is HostEvent.DECRYPTED:
            self._next_batch()
            return self._forward()
        change = self._end_epoch_weights()
        self.history.append({"epoch": self.epoch, "weight_change": change})
        # Epoch after epoch, validation scores X_v w and weight-change norms would give
        # the guest the Gram matrix of this host's validation rows: each is sent only
        # when the job's stopping rule needs it.
        validation = np.zeros(0)
        if self.X_validation is not None and self.settings.early_stopping is not None:
            validation = self.X_validation @ self.weights
        return [
            LrEpochEnd(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                round=self.epoch,
                weight_change=change if self.settings.convergence == "weights" else 0.0,
                penalty=self.optimizer.penalty(self.weights),
                validation_scores=validation,
            )
        ]

    def _take_decision(self, message: LrDecision) -> list[Message]:
        event = HostEvent.STOP if message.stop else HostEvent.CONTINUE
        self._expect(event, message)
        self._check_header(message, self.epoch, 0)
        if message.stop:
            self._keep_epoch(message.best_epoch)
            best = len(self.snapshots) - 1 if message.best_epoch == -1 else message.best_epoch
            self._transition(event, message)
            self._finish(self._party_result(0.0, "decided by the guest", best))
            return []
        assert self.setup is not None
        if self.epoch + 1 >= self.setup.max_iter:
            raise ProtocolError(f"{self.party}: the guest asked for more than max_iter epochs")
        self._take_checkpoint_now()
        self._transition(event, message)
        self._next_batch()
        return self._forward()

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest, and the key owner while a gradient is being decrypted."""
        if self.done:
            return ()
        if self._phase is HostPhase.GRADIENT and not self.two_party:
            return (self.key_owner,)
        return (self.guest,)

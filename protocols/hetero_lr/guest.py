"""The guest's side of hetero logistic regression: labels and its own features.

Per batch, with the hosts' scaled scores ``[[s u_h]]`` and row weights ``w`` (1
without weights), the guest computes the residual ``[[d]] = w (partial + sum_h
[[s u_h]])`` and the batch loss from its own scores and the objective's terms
(:mod:`protocols.hetero_lr.objective`):

- it computes ``[[d]]`` and ``[[X_g^T d]]`` under the key owner's key, masks the
  gradient and the loss uniformly in ``Z_n`` and has the key owner decrypt them;
- two-party: it sends the host ``[[w * partial]]`` (and ``[[w s]]`` with weights)
  under its own key and decrypts the host's masked gradient;
- arbiter mode: it sends each host the re-randomised ``[[d]]`` (and the prefix sums of
  earlier hosts' scores for the loss cross terms).

At the end of each epoch it gathers the hosts' weight changes, penalties and
validation scores, and decides whether to stop.  Its phases and the events that
move it between them: :data:`~protocols.hetero_lr.phases.GUEST_TRANSITIONS`.  See
:mod:`protocols.hetero_lr`.
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crypto.vector_api import CipherVector, Mask, VectorPrivateKey, VectorPublicKey
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import check_label_bound, secret_initial_weights
from protocols.hetero_lr.party import (
    ENCRYPTION_EXPONENT,
    FACTOR_EXPONENT,
    MAX_GRADIENT_BITS,
    MAX_MASKED_VALUES,
    MAX_SAMPLE_WEIGHT,
    TrainingParty,
    decrypt_masked,
    guest_design,
    public_gradient_bound,
    row_ids_checked,
    rows_digest,
    sent_key,
    sent_masked,
    sent_vector,
    with_public_bound,
)
from protocols.hetero_lr.phases import (
    GUEST_TRANSITIONS,
    GuestEvent,
    GuestPhase,
    allowed_transition,
)
from protocols.hetero_lr.settings import LrSettings
from protocols.hetero_lr.state import LrCheckpoint
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

__all__ = ["Evaluator", "GuestBatch", "HostScores", "LrGuest"]

FloatArray = npt.NDArray[np.float64]
Evaluator = Callable[[FloatArray, FloatArray], dict[str, float]]
"""``evaluate(labels, probabilities) -> {"auc": ..., "ks": ...}`` for validation."""


@dataclass(frozen=True)
class HostScores:
    """One host's checked forward of one batch.

    Attributes
    ----------
    scaled : CipherVector
        ``[[s u_h]]`` per row (``s`` the objective's score scale).
    squares : CipherVector
        ``[[u_h**2]]`` per row when rows are weighted, else their sum.
    """

    scaled: CipherVector
    squares: CipherVector


@dataclass
class GuestBatch:
    """What the guest keeps of the current batch until its decryption comes back.

    Attributes
    ----------
    gradient : CipherVector
        ``[[X_g^T d]]``.
    loss : CipherVector
        ``[[batch loss]]`` without the hosts' cross terms.
    crosses : dict of str to CipherVector
        Arbiter mode, several hosts: each later host's loss cross term.
    masks : tuple of Mask, optional
        The masks of the gradient and of the loss, once they are sent.
    gradient_ciphertexts : int
        How many of the key owner's decrypted values are the gradient's.
    """

    gradient: CipherVector
    loss: CipherVector
    crosses: dict[str, CipherVector] = field(default_factory=dict)
    masks: tuple[Mask, Mask] | None = None
    gradient_ciphertexts: int = 0


class LrGuest(TrainingParty):
    """The guest (label holder) of hetero logistic regression.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts, in a fixed order.
    features : array_like
        The guest's aligned training rows (without an intercept column).
    labels : array_like
        0/1 per training row.
    settings : LrSettings
        The job's parameters (sent to the hosts).
    backend : str, default "paillier"
    arbiter : str, optional
        The arbiter's name (arbiter mode).
    sample_weight : array_like, optional
        Non-negative weight per training row (class weights folded in).
    validation : array_like, optional
        The guest's aligned validation rows.
    validation_labels : array_like, optional
    evaluate : callable, optional
        Validation metrics (see :data:`Evaluator`); needed for early stopping.
    initial_weights : array_like, optional
        Warm start, the intercept last when ``fit_intercept``.  Without it the guest
        starts from secret random weights (:func:`~protocols.hetero_lr.leakage.
        secret_initial_weights`), so that no host ever knows a residual; a warm start
        of zeros gives that up.
    initial_weights_seed : bytes, optional
        32 bytes fixing those random weights (default: fresh from the CSPRNG).  Only
        for reproducible experiments in one process: anyone who knows the seed knows
        the guest's starting point.
    plan_seed : bytes, optional
        32 bytes fixing the batch plan (default: fresh from the CSPRNG).
    row_ids : sequence of str, optional
        The training rows' customer ids, in order: each host compares a salted
        digest of them with its own and refuses misaligned rows.

    Raises
    ------
    ProtocolError
        If the hosts, arbiter, labels, weights, validation set or plan seed do not
        fit the settings.

    Examples
    --------
    Two-party training on 120 aligned rows; the caller moves the messages:

    >>> from protocols.hetero_lr import LrHost, OptimizerSettings
    >>> import numpy as np
    >>> x = np.linspace(-1.0, 1.0, 120)
    >>> guest_rows, host_rows = np.column_stack([x, x**2]), np.sin(3 * x)[:, None]
    >>> labels = (x + np.sin(3 * x) > 0).astype(float)
    >>> settings = LrSettings(batch_size=60, max_iter=3, key_length=1024, allow_weak_key=True,
    ...                       optimizer=OptimizerSettings(learning_rate=0.5))
    >>> guest = LrGuest("guest", "job-1", hosts=["host"], features=guest_rows, labels=labels,
    ...                 settings=settings, plan_seed=bytes(32), initial_weights_seed=bytes(32))
    >>> host = LrHost("host", "job-1", guest="guest", features=host_rows, settings=settings)
    >>> roles = {"guest": guest, "host": host}
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue:
    ...     message = queue.pop(0)
    ...     queue += roles[message.receiver].receive(message)
    >>> guest.result.epochs, guest.result.stop_reason
    (3, 'max_iter')
    >>> [round(epoch["loss"], 4) for epoch in guest.result.history]
    [0.6508, 0.5172, 0.4281]
    >>> guest.result.weights.round(4).tolist(), host.result.weights.round(4).tolist()
    ([0.6024, 0.1595], [0.773])

    Resuming after epoch 1 from checkpoints gives the same model (keys are fresh):

    >>> def train(guest, host):
    ...     roles = {"guest": guest, "host": host}
    ...     queue = [message for role in roles.values() for message in role.start()]
    ...     while queue:
    ...         message = queue.pop(0)
    ...         queue += roles[message.receiver].receive(message)
    ...         for role in roles.values():
    ...             checkpoint = role.take_checkpoint()
    ...             if checkpoint is not None:
    ...                 saved[role.party].append(checkpoint)
    >>> saved = {"guest": [], "host": []}
    >>> train(LrGuest("guest", "job-1", hosts=["host"], features=guest_rows, labels=labels,
    ...               settings=settings, plan_seed=bytes(32), initial_weights_seed=bytes(32)),
    ...       LrHost("host", "job-1", guest="guest", features=host_rows, settings=settings))
    >>> [checkpoint.epoch for checkpoint in saved["guest"]]
    [0, 1]
    >>> guest = LrGuest("guest", "job-1", hosts=["host"], features=guest_rows, labels=labels,
    ...                 settings=settings)
    >>> host = LrHost("host", "job-1", guest="guest", features=host_rows, settings=settings)
    >>> guest.prepare_resume(saved["guest"])
    >>> host.prepare_resume(saved["host"])
    >>> train(guest, host)
    >>> guest.resumed_after, guest.result.weights.round(4).tolist()
    (1, [0.6024, 0.1595])
    """

    ROLE = "guest"

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
        arbiter: str | None = None,
        sample_weight: npt.ArrayLike | None = None,
        validation: npt.ArrayLike | None = None,
        validation_labels: npt.ArrayLike | None = None,
        evaluate: Evaluator | None = None,
        initial_weights: npt.ArrayLike | None = None,
        initial_weights_seed: bytes | None = None,
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
        if initial_weights is None:  # secret: no host ever knows a residual (leakage.py)
            seed = secrets.token_bytes(32) if initial_weights_seed is None else initial_weights_seed
            self.weights = secret_initial_weights(self.X, seed)
            self.epoch_start_weights = self.weights.copy()
        if not hosts or party in hosts or len(set(hosts)) != len(hosts):
            raise ProtocolError(f"{party}: hosts must be distinct other parties")
        if settings.mode == "two-party" and (len(hosts) != 1 or arbiter is not None):
            raise ProtocolError(
                f"{party}: two-party mode trains with exactly one host and no arbiter; "
                "use mode='arbiter' for several hosts"
            )
        if settings.mode == "arbiter" and arbiter is None:
            raise ProtocolError(f"{party}: arbiter mode needs an arbiter")
        self.hosts = tuple(hosts)
        self.arbiter = arbiter
        self.key_owner_of_hosts = self.hosts[0] if arbiter is None else arbiter
        self.targets = self.objective.response(labels, len(self.X), "the labels", "guest")
        """The labels as the objective's ``y`` (the logistic loss's: -1 or +1)."""
        self.y = np.asarray(labels, dtype=np.float64).ravel()
        self.event_rate = float(self.y.mean()) if len(self.y) else 0.5
        self.sample_weight = self._weights(sample_weight)
        self.label_privacy = settings.label_privacy()
        if self.label_privacy is not None and self.sample_weight is not None:
            raise ProtocolError(
                f"{party}: label privacy needs unweighted rows: class or sample weights "
                "depend on the labels and would reach the hosts' gradients un-noised; "
                "drop class_weight/sample_weight or label_privacy_epsilon"
            )
        if (
            self.label_privacy is not None
            and self.label_privacy.sensitivity != self.objective.label_sensitivity
        ):
            raise ProtocolError(
                f"{party}: label privacy is calibrated for a sensitivity of "
                f"{self.label_privacy.sensitivity:g}, the {self.objective.name} objective's "
                f"is {self.objective.label_sensitivity:g}"
            )
        self.y_validation = None
        if self.X_validation is not None:
            if validation_labels is None:
                raise ProtocolError(f"{party}: validation rows need validation labels")
            rows_validation = len(self.X_validation)
            self.objective.response(
                validation_labels, rows_validation, "the validation labels", "guest"
            )
            self.y_validation = np.asarray(validation_labels, dtype=np.float64).ravel()
        if settings.early_stopping is not None and (self.X_validation is None or not evaluate):
            raise ProtocolError(
                f"{party}: early stopping on {settings.early_stopping} needs a validation set"
            )
        self.evaluate = evaluate
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)
        self.plan_seed = secrets.token_bytes(32) if plan_seed is None else plan_seed
        if len(self.plan_seed) != 32:
            raise ProtocolError(f"{party}: the plan seed must be 32 bytes")
        self._phase = GuestPhase.NEW
        self._own_keys: tuple[VectorPublicKey, VectorPrivateKey] | None = None
        self._key: VectorPublicKey | None = None  # the key the hosts encrypt under
        self._host_setups: dict[str, LrHostSetup] = {}
        self._forwards: dict[str, deque[HostScores]] = {host: deque() for host in self.hosts}
        self._next_forward = dict.fromkeys(self.hosts, (0, 0))
        self._batch: GuestBatch | None = None
        self._epoch_ends: dict[str, LrEpochEnd] = {}
        self._loss_sum = 0.0
        self._best = (-math.inf, -1)
        self._stale_epochs = 0

    def _digest_inputs(self) -> tuple[dict[str, object], dict[str, npt.ArrayLike | None]]:
        description, arrays = super()._digest_inputs()
        description.update(hosts=list(self.hosts), arbiter=self.arbiter)
        arrays.update(
            labels=self.y,
            sample_weight=self.sample_weight,
            validation_labels=self.y_validation,
        )
        return description, arrays

    def prepare_resume(self, checkpoints: Sequence[LrCheckpoint] = ()) -> None:
        """Continue an interrupted run; see :meth:`TrainingParty.prepare_resume`.

        The guest's checkpoints fix the plan seed of the resumed run (without any, it
        is the one given or a fresh one).

        Parameters
        ----------
        checkpoints : sequence of LrCheckpoint
            The guest's checkpoints of the interrupted run.
        """
        super().prepare_resume(checkpoints)
        seed, _ = self._offered()
        if seed:
            self.plan_seed = seed

    def _weights(self, sample_weight: npt.ArrayLike | None) -> FloatArray | None:
        if sample_weight is None:
            return None
        weights = np.asarray(sample_weight, dtype=np.float64).ravel()
        if weights.shape != (len(self.X),):
            raise ProtocolError(f"{self.party}: sample_weight needs one value per training row")
        if (
            not np.isfinite(weights).all()
            or (weights < 0).any()
            or weights.max() > MAX_SAMPLE_WEIGHT
        ):
            raise ProtocolError(
                f"{self.party}: row weights must be finite, >= 0 and <= {MAX_SAMPLE_WEIGHT:g}"
            )
        return weights

    @property
    def two_party(self) -> bool:
        """Whether each party holds its own key (no arbiter)."""
        return self.arbiter is None

    @property
    def weighted(self) -> bool:
        """Whether rows carry weights."""
        return self.sample_weight is not None

    @property
    def phase(self) -> GuestPhase:
        """What the guest waits for (see :mod:`~protocols.hetero_lr.phases`)."""
        return self._phase

    # phases ---------------------------------------------------------------------------------
    def _expect(
        self, event: GuestEvent, message: Message | None = None, refusal: str = ""
    ) -> GuestPhase:
        """The phase after ``event``; refuse it if the table does not allow it now."""
        return allowed_transition(
            GUEST_TRANSITIONS, self._phase, event, party=self.party,
            unexpected=self._unexpected, message=message, refusal=refusal,
        )  # fmt: skip

    def _transition(
        self, event: GuestEvent, message: Message | None = None, refusal: str = ""
    ) -> None:
        """Move to the phase the table gives for ``event``, or refuse it (see :meth:`_expect`)."""
        self._phase = self._expect(event, message, refusal)

    # start and setup --------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Send the setup to every host (and the arbiter); two-party: also our key.

        Returns
        -------
        list of Message
            :class:`LrSetup` for every host (arbiter mode: for the arbiter first)
            and, two-party, :class:`LrPublicKey`.

        Raises
        ------
        ProtocolError
            If called twice, or batches would not be larger than the feature count.
        """
        self._expect(GuestEvent.START, refusal="start() called twice")
        rows = len(self.X)
        plan = BatchPlan(rows, self.settings.batch_size, self.plan_seed)
        self._check_batch_size(plan, self.features_count, "the guest")
        self._start_plan(plan)
        self._transition(GuestEvent.START)
        # Arbiter mode: the hosts' forwards are under the arbiter's key, which reaches
        # us on another connection; set the hosts up only once we hold it (_take_key),
        # so that no forward can overtake the key.
        receivers = self.hosts if self.arbiter is None else (self.arbiter,)
        messages: list[Message] = [self._setup_for(name) for name in receivers]
        if self.two_party:
            self._own_keys = self.backend.generate_keypair(
                self.settings.key_length, allow_weak_key=self.settings.allow_weak_key
            )
            messages.append(
                LrPublicKey(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=self.hosts[0],
                    public_key=sent_key(self._own_keys[0]),
                )
            )
        return messages

    def receive(self, message: Message) -> list[Message]:
        """Store the message after checking it fits the current state, then advance.

        Parameters
        ----------
        message : Message
            A message from a host or the arbiter.

        Returns
        -------
        list of Message
            Whatever the protocol sends next.

        Raises
        ------
        ProtocolError
            If the message is unexpected or malformed.
        """
        if self.done or self._phase is GuestPhase.NEW:
            raise self._unexpected(message, "finished" if self.done else "not started")
        replies: list[Message]
        if isinstance(message, LrHostSetup) and message.sender in self.hosts:
            replies = self._take_host_setup(message)
        elif isinstance(message, LrPublicKey) and message.sender == self.key_owner_of_hosts:
            replies = self._take_key(message)
        elif isinstance(message, LrForward) and message.sender in self.hosts:
            replies = self._take_forward(message)
        elif isinstance(message, LrCross) and message.sender in self.hosts[1:]:
            replies = self._take_cross(message)
        elif isinstance(message, LrMasked) and self.two_party and message.sender in self.hosts:
            replies = self._decrypt_for_host(message)
        elif isinstance(message, LrDecrypted) and message.sender == self.key_owner_of_hosts:
            replies = self._take_decrypted(message)
        elif isinstance(message, LrEpochEnd) and message.sender in self.hosts:
            replies = self._take_epoch_end(message)
        else:
            raise self._unexpected(message, f"in phase {self._phase.value}")
        return replies + self._advance()

    def _take_host_setup(self, message: LrHostSetup) -> list[Message]:
        if message.sender in self._host_setups:
            raise self._unexpected(message, "already holding that host's setup")
        self._transition(GuestEvent.HOST_SETUP, message)
        self._check_resume_offer(message)
        validation_rows = 0 if self.X_validation is None else len(self.X_validation)
        if message.rows != len(self.X) or message.validation_rows != validation_rows:
            raise ProtocolError(
                f"{self.party}: {message.sender} has {message.rows} training and "
                f"{message.validation_rows} validation rows, the guest {len(self.X)} and "
                f"{validation_rows}; align the data with PSI first"
            )
        assert self.plan is not None
        if not 1 <= message.features <= MAX_MASKED_VALUES:
            raise ProtocolError(
                f"{self.party}: {message.sender} reports {message.features} features, "
                f"expected 1 to {MAX_MASKED_VALUES}"
            )
        if not 1 <= message.gradient_bits <= MAX_GRADIENT_BITS:
            raise ProtocolError(
                f"{self.party}: {message.sender} reports gradient entries of "
                f"{message.gradient_bits} bits, expected 1 to {MAX_GRADIENT_BITS}"
            )
        check_label_bound(
            self.plan.smallest,
            message.features,
            message.gradient_bits,
            self.party,
            message.sender,
            event_rate=self.event_rate,
        )
        self._host_setups[message.sender] = message
        return []

    def _agree_on_resume(self) -> list[Message]:
        """Continue after the latest epoch the guest and every host hold a checkpoint of."""
        seed, own = self._offered()
        common = set(own) if seed == self.plan_seed else set()
        for host in self.hosts:
            offer = self._host_setups[host]
            common &= set(offer.resume_epochs) if offer.resume_seed == self.plan_seed else set()
        after = max(common, default=-1)
        if after >= 0:
            checkpoint = self._checkpoint_of(after)
            self._restore(checkpoint)
            best_value = -math.inf if checkpoint.best_value is None else checkpoint.best_value
            self._best = (best_value, checkpoint.best_epoch)
            self._stale_epochs = checkpoint.stale_epochs
            self._next_forward = dict.fromkeys(self.hosts, (self.epoch, 0))
        self.resumed_after = after
        receivers = self.hosts if self.arbiter is None else (*self.hosts, self.arbiter)
        return [
            LrResume(job_id=self.job_id, sender=self.party, receiver=name, round=after + 1)
            for name in receivers
        ]

    def _take_key(self, message: LrPublicKey) -> list[Message]:
        if self._key is not None:
            raise self._unexpected(message, "already holding the key")
        self._transition(GuestEvent.KEY, message)
        self._check_key_size(message.public_key, message.sender)
        self._key = message.public_key
        if self.two_party:
            return []
        return [self._setup_for(host) for host in self.hosts]

    def _setup_for(self, receiver: str) -> LrSetup:
        """The setup for ``receiver``; hosts (not the arbiter) get the rows digest."""
        digest = rows_digest(self.row_ids, self.plan_seed) if receiver in self.hosts else b""
        return self._setup_message(
            receiver, self.hosts, self.plan_seed, weighted=self.weighted, rows_digest=digest
        )

    def _hosts_key(self) -> VectorPublicKey:
        """The key the hosts encrypt under (held once set up)."""
        if self._key is None:
            raise ProtocolError(f"{self.party}: no key to check the hosts' vectors against")
        return self._key

    def _take_forward(self, message: LrForward) -> list[Message]:
        expected = self._next_forward[message.sender]
        self._check_header(message, *expected)
        if self._key is None or message.sender not in self._host_setups:
            raise self._unexpected(message, "waiting for the host's setup and the key")
        self._transition(GuestEvent.FORWARD, message)
        assert self.plan is not None
        batches = self.plan.batches(message.round) if message.round != self.epoch else self.batches
        rows = len(batches[message.batch])
        objective = self.objective
        scaled = self._checked_vector(
            message.quarter_scores, key=self._key, length=rows, exponent=ENCRYPTION_EXPONENT,
            max_abs=objective.scaled_score_bound(), what="the scores", sender=message.sender,
        )  # fmt: skip
        square_rows = rows if self.weighted else 1
        squares = self._checked_vector(
            message.squares, key=self._key, length=square_rows, exponent=ENCRYPTION_EXPONENT,
            max_abs=objective.squares_bound(rows, self.weighted), what="the squared scores",
            sender=message.sender,
        )  # fmt: skip
        self._forwards[message.sender].append(HostScores(scaled=scaled, squares=squares))
        last = message.batch == self.plan.batch_count - 1
        self._next_forward[message.sender] = (
            (message.round + 1, 0) if last else (message.round, message.batch + 1)
        )
        return []

    def _take_cross(self, message: LrCross) -> list[Message]:
        self._expect(GuestEvent.CROSS, message)
        batch = self._current_batch()
        if message.sender in batch.crosses:
            raise self._unexpected(message, f"in phase {self._phase.value}")
        self._check_header(message, self.epoch, self.batch)
        index = self.hosts.index(message.sender)
        prefix_exponent = ENCRYPTION_EXPONENT + (FACTOR_EXPONENT if self.weighted else 0)
        batch.crosses[message.sender] = self._checked_vector(
            message.cross, key=self._hosts_key(), length=1,
            exponent=prefix_exponent + FACTOR_EXPONENT,
            max_abs=self.objective.cross_bound(index, len(self.rows)),
            what="the loss cross term", sender=message.sender,
        )  # fmt: skip
        self._transition(GuestEvent.CROSS, message)
        return []

    def _decrypt_for_host(self, message: LrMasked) -> list[Message]:
        self._expect(GuestEvent.HOST_MASKED, message)
        self._check_header(message, self.epoch, self.batch)
        assert self._own_keys is not None
        host = message.sender
        features = self._host_setups[host].features
        gradient = self._checked_masked(
            message.gradient, self._own_keys[0], features, "the gradient", host
        )
        self._checked_masked(message.loss, self._own_keys[0], 0, "a loss", host)
        values = decrypt_masked(self._own_keys[1], [gradient], self.party, self.settings.n_jobs)
        self._transition(GuestEvent.HOST_MASKED, message)
        return [
            LrDecrypted(
                job_id=self.job_id,
                sender=self.party,
                receiver=host,
                round=message.round,
                batch=message.batch,
                values=tuple(values),
            )
        ]

    def _take_decrypted(self, message: LrDecrypted) -> list[Message]:
        event = GuestEvent.LAST_DECRYPTED if self.last_batch else GuestEvent.DECRYPTED
        self._expect(event, message)
        self._check_header(message, self.epoch, self.batch)
        batch = self._current_batch()
        assert batch.masks is not None
        gradient_mask, loss_mask = batch.masks
        split = batch.gradient_ciphertexts
        values = list(message.values)
        try:
            gradient = gradient_mask.unmask(values[:split])
            (loss,) = loss_mask.unmask(values[split:])
        except (ValueError, ArithmeticError) as error:
            raise ProtocolError(
                f"{self.party}: {message.sender}'s decryptions are malformed ({error})"
            ) from error
        self._update(gradient)
        self._loss_sum += float(loss)
        self._transition(event, message)
        if event is GuestEvent.DECRYPTED:
            self._next_batch()
            self._start_batch()
        return []

    def _take_epoch_end(self, message: LrEpochEnd) -> list[Message]:
        if message.sender in self._epoch_ends or not self.last_batch:
            raise self._unexpected(message, f"in epoch {self.epoch} batch {self.batch}")
        self._expect(GuestEvent.EPOCH_SUMMARY, message)
        self._check_header(message, self.epoch, 0)
        validation_rows = 0 if self.X_validation is None else len(self.X_validation)
        if self.settings.early_stopping is None:
            validation_rows = 0  # a host's validation scores are sent only for early stopping
        scores = np.asarray(message.validation_scores, dtype=np.float64)
        numbers = np.array([message.weight_change, message.penalty])
        if (
            scores.shape != (validation_rows,)
            or not np.isfinite(scores).all()
            or not np.isfinite(numbers).all()
            or (numbers < 0).any()
        ):
            raise ProtocolError(f"{self.party}: {message.sender}'s epoch summary is malformed")
        if self.settings.convergence != "weights" and message.weight_change != 0.0:
            raise ProtocolError(
                f"{self.party}: {message.sender} sent a weight-change norm, which is sent only "
                'when training converges on weights (convergence = "weights")'
            )
        self._transition(GuestEvent.EPOCH_SUMMARY, message)
        self._epoch_ends[message.sender] = message
        return []

    # the state machine ----------------------------------------------------------------------
    def _advance(self) -> list[Message]:
        messages: list[Message] = []
        while True:
            step = self._step()
            if step is None:
                return messages
            messages.extend(step)

    def _step(self) -> list[Message] | None:
        """Do whatever the current phase allows now; None when nothing can be done."""
        if self._phase is GuestPhase.SETUP:
            if self._key is None or len(self._host_setups) < len(self.hosts):
                return None
            self._transition(GuestEvent.SET_UP)
            return self._agree_on_resume() if self.resuming else []
        if self._phase is GuestPhase.FORWARD:
            if not all(self._forwards[host] for host in self.hosts):
                return None
            return self._compute_batch([self._forwards[host].popleft() for host in self.hosts])
        if self._phase is GuestPhase.CROSS:
            if len(self._current_batch().crosses) < len(self.hosts) - 1:
                return None
            return self._send_gradient()
        if self._phase is GuestPhase.EPOCH_END:
            if len(self._epoch_ends) < len(self.hosts):
                return None
            return self._decide()
        return None

    def _start_batch(self) -> None:
        self._batch = None

    def _current_batch(self) -> GuestBatch:
        if self._batch is None:
            raise ProtocolError(f"{self.party}: no batch in phase {self._phase.value}")
        return self._batch

    def _compute_batch(self, forwards: list[HostScores]) -> list[Message]:
        rows = self.rows
        n_jobs = self.settings.n_jobs
        objective = self.objective
        batch_features, y = self.X[rows], self.targets[rows]
        weights = None if self.sample_weight is None else self.sample_weight[rows]
        own = self._scores(rows)
        scaled = [forward.scaled for forward in forwards]
        total = scaled[0]
        for scores in scaled[1:]:
            total = total + scores
        partial = objective.partial_residual(own, y)
        if self.label_privacy is not None:
            # one draw per batch, in the residual of every party (the guest's own too):
            # everything the hosts see is then computed from the noisy residuals only
            partial = partial + self.label_privacy.noise(len(partial))
        if weights is None:
            residual = total + partial
            coefficient = objective.loss_coefficient(own, y)
            plain_loss = float(np.sum(objective.partial_loss(own, y)))
        else:
            residual = total.multiply(weights, n_jobs=n_jobs) + weights * partial
            coefficient = weights * objective.loss_coefficient(own, y)
            plain_loss = float(np.sum(weights * objective.partial_loss(own, y)))
        loss = total.matmul(coefficient.reshape(1, -1), n_jobs=n_jobs) + plain_loss
        for forward in forwards:
            if weights is None:
                loss = loss + forward.squares.multiply(objective.curvature)
            else:
                square_weights = (weights * objective.curvature).reshape(1, -1)
                loss = loss + forward.squares.matmul(square_weights, n_jobs=n_jobs)
        self._batch = GuestBatch(
            gradient=residual.matmul(batch_features.T, n_jobs=n_jobs), loss=loss
        )
        messages = self._residuals(residual, scaled, partial, weights)
        if self.two_party or len(self.hosts) == 1:
            return messages + self._send_gradient()
        self._transition(GuestEvent.CROSSES_DUE)
        return messages

    def _residuals(
        self,
        residual: CipherVector,
        scaled: list[CipherVector],
        partial: FloatArray,
        weights: FloatArray | None,
    ) -> list[Message]:
        n_jobs = self.settings.n_jobs
        objective = self.objective
        if self.two_party:
            assert self._own_keys is not None
            key = self._own_keys[0]
            values = partial if weights is None else weights * partial
            return [
                LrResidual(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=self.hosts[0],
                    round=self.epoch,
                    batch=self.batch,
                    residual=sent_vector(
                        key.encrypt_vector(
                            values, max_abs=objective.residual_bound(1), n_jobs=n_jobs
                        )
                    ),
                    weights=sent_vector(
                        key.encrypt_vector(
                            np.zeros(0) if weights is None else objective.scaled(weights),
                            max_abs=objective.weights_bound(),
                            n_jobs=n_jobs,
                        )
                    ),
                    prefix=sent_vector(key.encrypt_vector(np.zeros(0))),
                )
            ]
        empty = self._hosts_key().encrypt_vector(np.zeros(0))
        messages: list[Message] = []
        prefix: CipherVector | None = None
        # the bounds in the clear are the public worst cases the hosts check against
        residual = with_public_bound(residual, objective.residual_bound(len(self.hosts) + 1))
        for index, host in enumerate(self.hosts):
            if index == 0:
                sent_prefix = empty
            else:
                prefix = scaled[0] if prefix is None else prefix + scaled[index - 1]
                weighted = prefix if weights is None else prefix.multiply(weights, n_jobs=n_jobs)
                weighted = with_public_bound(weighted, objective.prefix_bound(index))
                sent_prefix = weighted.rerandomize(n_jobs=n_jobs)
            messages.append(
                LrResidual(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=host,
                    round=self.epoch,
                    batch=self.batch,
                    residual=sent_vector(residual.rerandomize(n_jobs=n_jobs)),  # fresh per host
                    weights=sent_vector(empty),
                    prefix=sent_vector(sent_prefix),
                )
            )
        return messages

    def _send_gradient(self) -> list[Message]:
        n_jobs = self.settings.n_jobs
        batch = self._current_batch()
        loss = batch.loss
        for cross in batch.crosses.values():
            loss = loss + cross
        # the packing layout (hence the ciphertext count the key owner sees) follows
        # the bound: a public one, never the data's
        gradient = public_gradient_bound(
            batch.gradient, len(self.rows), len(self.hosts), self.party, self.objective
        )
        masked_gradient, gradient_mask = gradient.pack(n_jobs=n_jobs).mask(n_jobs=n_jobs)
        masked_loss, loss_mask = loss.mask(n_jobs=n_jobs)
        batch.masks = (gradient_mask, loss_mask)
        batch.gradient_ciphertexts = len(masked_gradient)
        self._transition(
            GuestEvent.GRADIENT_TO_HOST if self.two_party else GuestEvent.GRADIENT_TO_ARBITER
        )
        return [
            LrMasked(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.key_owner_of_hosts,
                round=self.epoch,
                batch=self.batch,
                gradient=sent_masked(masked_gradient),
                loss=sent_masked(masked_loss),
            )
        ]

    # the end of an epoch ------------------------------------------------------------------
    def _decide(self) -> list[Message]:
        ends = [self._epoch_ends[host] for host in self.hosts]
        own_change = self._end_epoch_weights()
        penalty = self.optimizer.penalty(self.weights) + sum(end.penalty for end in ends)
        loss = self._loss_sum / len(self.X) + penalty
        change: float | None = None  # the hosts' norms reach the guest only for this rule
        if self.settings.convergence == "weights":
            change = math.sqrt(own_change + sum(end.weight_change for end in ends))
        validation = self._validation(ends)
        entry: dict[str, float | None] = {
            "epoch": self.epoch,
            "loss": loss,
            "weight_change": change,
        }
        entry.update(validation)
        previous = self.history[-1]["loss"] if self.history else None
        self.history.append(entry)
        metric = None
        if self.settings.early_stopping is not None:
            metric = validation[f"validation_{self.settings.early_stopping}"]
        reason = self._stop_reason(loss, change, metric, previous)
        best_epoch = -1
        if reason is not None and self.settings.early_stopping is not None:
            best_epoch = self._best[1]
            self._keep_epoch(best_epoch)
        messages: list[Message] = [
            LrDecision(
                job_id=self.job_id,
                sender=self.party,
                receiver=name,
                round=self.epoch,
                stop=reason is not None,
                best_epoch=best_epoch,
            )
            for name in (self.hosts if self.arbiter is None else (*self.hosts, self.arbiter))
        ]
        self._epoch_ends = {}
        self._loss_sum = 0.0
        if reason is None:
            best_epoch_so_far = self._best[1]
            self._take_checkpoint_now(
                best_epoch=best_epoch_so_far,
                best_value=None if best_epoch_so_far == -1 else float(self._best[0]),
                stale_epochs=self._stale_epochs,
            )
        if reason is not None:
            kept = len(self.snapshots) - 1 if best_epoch == -1 else best_epoch
            intercept = float(self.weights[-1]) if self.settings.fit_intercept else 0.0
            result = self._party_result(intercept, reason, kept)
            if self.settings.fit_intercept:
                result.weights = result.weights[:-1]
            self._transition(GuestEvent.STOP)
            self._finish(result)
            return messages
        self._transition(GuestEvent.CONTINUE)
        self._next_batch()
        self._start_batch()
        return messages

    def _validation(self, ends: list[LrEpochEnd]) -> dict[str, float | None]:
        if (
            self.X_validation is None
            or self.y_validation is None
            or self.evaluate is None
            or self.settings.early_stopping is None  # hosts send validation scores only then
        ):
            return {"validation_auc": None, "validation_ks": None}
        scores = self.X_validation @ self.weights
        for end in ends:
            scores = scores + end.validation_scores
        probabilities = self.objective.mean(scores)
        metrics = self.evaluate(self.y_validation, probabilities)
        return {"validation_auc": metrics["auc"], "validation_ks": metrics["ks"]}

    def _stop_reason(
        self, loss: float, change: float | None, metric: float | None, previous: float | None
    ) -> str | None:
        """Why training stops after this epoch (None: it goes on).

        ``metric`` is the early-stopping metric of this epoch (None without early
        stopping), ``previous`` the loss of the epoch before (None in the first).
        """
        settings = self.settings
        if settings.early_stopping is not None:
            if metric is not None and metric > self._best[0]:
                self._best, self._stale_epochs = (metric, self.epoch), 0
            else:
                self._stale_epochs += 1
                if self._stale_epochs >= settings.patience:
                    return "early_stopping"
        loss_settled = previous is not None and abs(previous - loss) < settings.tol
        if settings.convergence == "loss" and loss_settled:
            return "converged"
        if settings.convergence == "weights" and change is not None and change < settings.tol:
            return "converged"
        if self.epoch + 1 >= settings.max_iter:
            return "max_iter"
        return None

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts, or the key owner while a gradient is being decrypted."""
        if self.done:
            return ()
        if self._phase is GuestPhase.GRADIENT and not self.two_party:
            return (str(self.arbiter),)
        return self.hosts

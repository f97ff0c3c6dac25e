"""The arbiter of hetero logistic regression: holds the key, sees only masked values.

It sends its public key to every party, then decrypts whatever masked vectors the
guest and the hosts send it, one per party per batch, in order, until the guest
decides to stop.  Every plaintext it sees is ``value + R mod n`` with ``R`` uniform
in ``Z_n``: it learns the number of values and nothing else (not the gradients, not
the loss, not the model).  Its phases and the events that move it between them:
:data:`~protocols.hetero_lr.phases.ARBITER_TRANSITIONS`.  See :mod:`protocols.hetero_lr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crypto.vector_api import VectorPrivateKey, VectorPublicKey
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.backends import get_backend
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.party import (
    MAX_MASKED_VALUES,
    decrypt_masked,
    select_checkpoints,
    sent_key,
)
from protocols.hetero_lr.phases import (
    ARBITER_TRANSITIONS,
    ArbiterEvent,
    ArbiterPhase,
    allowed_transition,
)
from protocols.hetero_lr.settings import LrSettings
from protocols.hetero_lr.state import LrCheckpoint, inputs_digest, settings_description
from protocols.messages import (
    LrDecision,
    LrDecrypted,
    LrMasked,
    LrPublicKey,
    LrResume,
    LrSetup,
    Message,
)
from protocols.roles import Role

__all__ = ["LrArbiter"]


class LrArbiter(Role):
    """The key owner of arbiter mode.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    hosts : sequence of str
        The hosts (the guest's setup must name the same ones).
    settings : LrSettings
        ``key_length``, ``allow_weak_key`` and ``n_jobs`` are used.
    backend : str, default "paillier"

    Raises
    ------
    ProtocolError
        If ``settings.mode`` is not ``"arbiter"`` or the backend is unknown.

    Examples
    --------
    Arbiter mode: the arbiter holds the only key and sees masked values only;
    the model is the same as in two-party mode (see :class:`LrGuest`):

    >>> from protocols.hetero_lr import LrGuest, LrHost, OptimizerSettings
    >>> import numpy as np
    >>> x = np.linspace(-1.0, 1.0, 120)
    >>> guest_rows, host_rows = np.column_stack([x, x**2]), np.sin(3 * x)[:, None]
    >>> labels = (x + np.sin(3 * x) > 0).astype(float)
    >>> settings = LrSettings(mode="arbiter", batch_size=60, max_iter=3, key_length=1024,
    ...                       allow_weak_key=True, optimizer=OptimizerSettings(learning_rate=0.5))
    >>> roles = {
    ...     "guest": LrGuest("guest", "job-1", hosts=["host"], features=guest_rows,
    ...                      labels=labels, settings=settings, arbiter="arbiter",
    ...                      plan_seed=bytes(32), initial_weights_seed=bytes(32)),
    ...     "host": LrHost("host", "job-1", guest="guest", features=host_rows,
    ...                    settings=settings, arbiter="arbiter"),
    ...     "arbiter": LrArbiter("arbiter", "job-1", guest="guest", hosts=["host"],
    ...                          settings=settings),
    ... }
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue:
    ...     message = queue.pop(0)
    ...     queue += roles[message.receiver].receive(message)
    >>> roles["arbiter"].done, roles["guest"].result.weights.round(4).tolist()
    (True, [0.6024, 0.1595])

    The arbiter holds no training state: its checkpoints record the epoch and the
    plan seed only, and it resumes wherever the guest and the hosts agree
    (:class:`~protocols.messages.LrResume`).
    """

    ROLE = "arbiter"
    """The role named in checkpoints."""

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        hosts: Sequence[str],
        settings: LrSettings,
        backend: str = "paillier",
    ) -> None:
        super().__init__(party, job_id)
        if settings.mode != "arbiter":
            raise ProtocolError(f"{party}: an arbiter only takes part in arbiter mode")
        self.guest = guest
        self.hosts = tuple(hosts)
        self.settings = settings
        self.backend = get_backend(backend)
        self._phase = ArbiterPhase.NEW
        self._keys: tuple[VectorPublicKey, VectorPrivateKey] | None = None
        self._plan: BatchPlan | None = None
        self._next: dict[str, tuple[int, int]] = {}
        self._epoch = 0
        self._max_iter = 0
        self._held: list[LrMasked] = []
        self._resume: tuple[LrCheckpoint, ...] | None = None
        self._checkpoint: LrCheckpoint | None = None
        self.resumed_after: int | None = None
        """In a resumed run, the epoch training went on after (-1: from the start)."""
        self.history: list[dict[str, Any]] = []
        """One ``{"epoch": e}`` per finished epoch (no loss: the arbiter knows none)."""
        self.inputs_digest = inputs_digest(
            {
                "role": "arbiter",
                "party": party,
                "guest": guest,
                "hosts": list(self.hosts),
                "settings": settings_description(settings),
            },
            {},
        )
        """SHA-256 of this arbiter's settings and parties (in its checkpoints)."""

    @property
    def phase(self) -> ArbiterPhase:
        """What the arbiter waits for (see :mod:`~protocols.hetero_lr.phases`)."""
        return self._phase

    def _expect(
        self, event: ArbiterEvent, message: Message | None = None, refusal: str = ""
    ) -> ArbiterPhase:
        """The phase after ``event``; refuse it if the table does not allow it now."""
        return allowed_transition(
            ARBITER_TRANSITIONS, self._phase, event, party=self.party,
            unexpected=self._unexpected, message=message, refusal=refusal,
            waiting=self._waiting(),
        )  # fmt: skip

    def _transition(
        self, event: ArbiterEvent, message: Message | None = None, refusal: str = ""
    ) -> None:
        """Move to the phase the table gives for ``event``, or refuse it (see :meth:`_expect`)."""
        self._phase = self._expect(event, message, refusal)

    def _waiting(self) -> str:
        if self._phase is ArbiterPhase.SETUP:
            return "waiting for the guest's setup"
        return f"in epoch {self._epoch}"

    @property
    def resuming(self) -> bool:
        """Whether this arbiter takes part in a resumed run (:meth:`prepare_resume`)."""
        return self._resume is not None

    def prepare_resume(self, checkpoints: Sequence[LrCheckpoint] = ()) -> None:
        """Take part in a resumed run (call before :meth:`start`).

        The arbiter's checkpoints are only checked (same role and settings): it holds
        no training state, and goes on with whatever epoch the guest announces.

        Parameters
        ----------
        checkpoints : sequence of LrCheckpoint
            This arbiter's checkpoints of the interrupted run.

        Raises
        ------
        ProtocolError
            If called after ``start`` or twice, or a checkpoint is another role's or of
            other settings.
        """
        if self._phase is not ArbiterPhase.NEW or self._resume is not None:
            raise ProtocolError(
                f"{self.party}: prepare_resume() must be called once, before start()"
            )
        self._resume = select_checkpoints(self.party, "arbiter", self.inputs_digest, checkpoints)

    def take_checkpoint(self) -> LrCheckpoint | None:
        """The checkpoint taken since the last call, if any (then forgotten here).

        Returns
        -------
        LrCheckpoint or None
            The epoch that training went on from, with the plan seed.
        """
        checkpoint, self._checkpoint = self._checkpoint, None
        return checkpoint

    def start(self) -> list[Message]:
        """Generate the key pair and send the public key to every party.

        Returns
        -------
        list of Message
            One :class:`~protocols.messages.LrPublicKey` for the guest and each host.

        Raises
        ------
        ProtocolError
            If called twice, or the key is too short without ``allow_weak_key``.
        """
        self._expect(ArbiterEvent.START, refusal="start() called twice")
        self._keys = self.backend.generate_keypair(
            self.settings.key_length, allow_weak_key=self.settings.allow_weak_key
        )
        self._transition(ArbiterEvent.START)
        public_key = sent_key(self._keys[0])
        return [
            LrPublicKey(job_id=self.job_id, sender=self.party, receiver=name, public_key=public_key)
            for name in (self.guest, *self.hosts)
        ]

    def receive(self, message: Message) -> list[Message]:
        """Take the setup, decrypt masked values, or stop on the guest's decision.

        Parameters
        ----------
        message : Message
            :class:`~protocols.messages.LrSetup` or
            :class:`~protocols.messages.LrDecision` from the guest, or
            :class:`~protocols.messages.LrMasked` from any party.

        Returns
        -------
        list of Message
            :class:`~protocols.messages.LrDecrypted` replies (may be empty).

        Raises
        ------
        ProtocolError
            If the message is unexpected, out of order or malformed.
        """
        if self.done or self._phase is ArbiterPhase.NEW:
            raise self._unexpected(message, "finished" if self.done else "not started")
        setting_up = self._phase is ArbiterPhase.SETUP
        if isinstance(message, LrSetup) and message.sender == self.guest and setting_up:
            return self._take_setup(message) + self._release()
        if isinstance(message, LrMasked) and message.sender in self.hosts and self._early(message):
            return self._hold(message)
        if setting_up:
            raise self._unexpected(message, "waiting for the guest's setup")
        if isinstance(message, LrMasked) and message.sender in self._next:
            return self._decrypt(message)
        if isinstance(message, LrDecision) and message.sender == self.guest:
            return self._take_decision(message) + self._release()
        resuming = self._phase is ArbiterPhase.RESUME
        if isinstance(message, LrResume) and message.sender == self.guest and resuming:
            return self._take_resume(message) + self._release()
        raise self._unexpected(message, f"in epoch {self._epoch}")

    def _early(self, message: LrMasked) -> bool:
        """A host's first masked values that overtook the guest's setup or its decision.

        They come on the host's connection, the setup and the decision on the
        guest's, so they may arrive first; they are held (one per host) until then.
        """
        if self._phase in (ArbiterPhase.SETUP, ArbiterPhase.RESUME):
            return True
        following = (self._epoch + 1, 0)
        return self._next[message.sender] == following == (message.round, message.batch)

    def _hold(self, message: LrMasked) -> list[Message]:
        if any(held.sender == message.sender for held in self._held):
            raise self._unexpected(message, "still holding its previous masked values")
        self._transition(ArbiterEvent.HOLD, message)
        self._held.append(message)
        return []

    def _release(self) -> list[Message]:
        held, self._held = self._held, []
        if held and self.done:
            raise ProtocolError(
                f"{self.party}: {held[0].sender} sent masked values after the guest stopped"
            )
        replies: list[Message] = []
        for message in held:
            replies += self.receive(message)
        return replies

    def _take_setup(self, message: LrSetup) -> list[Message]:
        if message.mode != "arbiter" or tuple(message.hosts) != self.hosts:
            raise ProtocolError(
                f"{self.party}: the guest's setup (mode {message.mode!r}, hosts "
                f"{list(message.hosts)}) does not match this arbiter's configuration"
            )
        if message.key_length != self.settings.key_length:
            raise ProtocolError(
                f"{self.party}: the guest's key length {message.key_length} does not match "
                f"this arbiter's {self.settings.key_length}"
            )
        if (
            len(message.plan_seed) != 32
            or message.rows < 1
            or message.batch_size < 1
            or message.max_iter < 1
        ):
            raise ProtocolError(
                f"{self.party}: the guest's setup is malformed (plan seed of "
                f"{len(message.plan_seed)} bytes, {message.rows} rows, batch size "
                f"{message.batch_size}, max_iter {message.max_iter})"
            )
        if message.resume != self.resuming:
            raise ProtocolError(
                f"{self.party}: the guest "
                + (
                    "continues an interrupted run (--resume) but this arbiter starts afresh"
                    if message.resume
                    else "starts afresh but this arbiter continues an interrupted run (--resume)"
                )
                + "; start every party with --resume, or none"
            )
        self._plan = BatchPlan(message.rows, message.batch_size, message.plan_seed)
        self._max_iter = message.max_iter
        self._next = {name: (0, 0) for name in (self.guest, *self.hosts)}
        self._transition(
            ArbiterEvent.RESUMING_SETUP if self.resuming else ArbiterEvent.SETUP, message
        )
        return []

    def _take_resume(self, message: LrResume) -> list[Message]:
        if message.batch != 0 or message.round >= self._max_iter:
            raise ProtocolError(
                f"{self.party}: the guest resumes with epoch {message.round} batch "
                f"{message.batch}, beyond max_iter {self._max_iter}"
            )
        self._transition(ArbiterEvent.RESUME, message)
        self._epoch = message.round
        self._next = dict.fromkeys(self._next, (message.round, 0))
        self.resumed_after = message.round - 1
        self.history = [{"epoch": epoch} for epoch in range(message.round)]
        return []

    def _decrypt(self, message: LrMasked) -> list[Message]:
        assert self._plan is not None and self._keys is not None
        self._expect(ArbiterEvent.DECRYPT, message)
        expected = self._next[message.sender]
        if (message.round, message.batch) != expected or expected[0] != self._epoch:
            raise ProtocolError(
                f"{self.party}: {message.sender} sent masked values for epoch {message.round} "
                f"batch {message.batch}, expected epoch {expected[0]} batch {expected[1]}"
            )
        key = self._keys[0]
        for vector, what in ((message.gradient, "gradient"), (message.loss, "loss")):
            try:
                key.check_same(vector.public_key)
            except Exception as error:
                raise ProtocolError(
                    f"{self.party}: {message.sender} sent a {what} under another key"
                ) from error
        if len(message.gradient) > MAX_MASKED_VALUES or len(message.loss) != int(
            message.sender == self.guest
        ):
            raise ProtocolError(f"{self.party}: {message.sender}'s masked values are malformed")
        batch = message.batch + 1
        self._next[message.sender] = (
            (message.round + 1, 0) if batch == self._plan.batch_count else (message.round, batch)
        )
        values = decrypt_masked(
            self._keys[1], [message.gradient, message.loss], self.party, self.settings.n_jobs
        )
        self._transition(ArbiterEvent.DECRYPT, message)
        return [
            LrDecrypted(
                job_id=self.job_id,
                sender=self.party,
                receiver=message.sender,
                round=message.round,
                batch=message.batch,
                values=tuple(values),
            )
        ]

    def _take_decision(self, message: LrDecision) -> list[Message]:
        if message.round != self._epoch or any(
            position != (self._epoch + 1, 0) for position in self._next.values()
        ):
            raise self._unexpected(message, f"in epoch {self._epoch}")
        self._transition(ArbiterEvent.STOP if message.stop else ArbiterEvent.CONTINUE, message)
        if message.stop:
            self._finish(None)
        else:
            assert self._plan is not None
            self._checkpoint = LrCheckpoint(
                role="arbiter",
                epoch=self._epoch,
                plan_seed=self._plan.seed,
                inputs_digest=self.inputs_digest,
            )
        self.history.append({"epoch": self._epoch})
        self._epoch += 1
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """Every party until the guest stops training."""
        return () if self.done else (self.guest, *self.hosts)

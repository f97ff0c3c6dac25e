"""The phases of the hetero LR roles, and the only transitions between them.

Each role (:class:`~protocols.hetero_lr.LrGuest`, :class:`~protocols.hetero_lr.LrHost`,
:class:`~protocols.hetero_lr.LrArbiter`) is in exactly one phase.  An *event* is a
message it takes or a step it takes itself; the tables below map ``(phase, event)``
to the next phase, as h11 does for HTTP.  A role moves only through
:func:`transition`, which refuses every pair not in its table with a
:class:`~protocols.exceptions.ProtocolError`, so an event is accepted in the phases
listed here and nowhere else.  What else a message must satisfy (its sender, epoch
and batch, sizes, keys and bounds) is checked by the role itself.

The guest, two-party (one host; each party owns a key)::

    NEW -start-> SETUP -set_up-> FORWARD -gradient_to_host-> HOST_GRADIENT
        -host_masked-> GRADIENT -decrypted-> FORWARD ...
                                -last_decrypted-> EPOCH_END -continue-> FORWARD
                                                            -stop-> DONE

Arbiter mode replaces ``HOST_GRADIENT`` by ``CROSS`` (several hosts: the loss cross
terms) before ``GRADIENT``.  The host::

    SETUP -setup-> SCORES -scores_sent-> RESIDUAL -masked_to_guest-> GUEST_GRADIENT
        -guest_masked-> GRADIENT -decrypted-> SCORES ...
                                 -last_decrypted-> DECISION -continue-> SCORES
                                                            -stop-> DONE

(arbiter mode: ``RESIDUAL -masked_to_arbiter-> GRADIENT``; resuming:
``SETUP -offer-> OFFERED -setup-> RESUME -resume-> SCORES``).  The arbiter::

    NEW -start-> SETUP -setup-> TRAINING (-decrypt-> TRAINING ...) -stop-> DONE

Examples
--------
>>> transition(HOST_TRANSITIONS, HostPhase.RESIDUAL, HostEvent.MASKED_TO_GUEST)
<HostPhase.GUEST_GRADIENT: 'guest_gradient'>
>>> transition(HOST_TRANSITIONS, HostPhase.RESIDUAL, HostEvent.STOP) is None
True
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TypeVar

from protocols.exceptions import ProtocolError
from protocols.messages import Message

__all__ = [
    "ARBITER_TRANSITIONS",
    "GUEST_TRANSITIONS",
    "HOST_TRANSITIONS",
    "ArbiterEvent",
    "ArbiterPhase",
    "GuestEvent",
    "GuestPhase",
    "HostEvent",
    "HostPhase",
    "allowed_transition",
    "transition",
]


class GuestPhase(enum.Enum):
    """What the guest waits for."""

    NEW = "new"
    """Not started."""
    SETUP = "setup"
    """Every host's setup reply and the key the hosts encrypt under."""
    FORWARD = "forward"
    """Every host's encrypted scores of the batch."""
    CROSS = "cross"
    """Arbiter mode, several hosts: the loss cross terms of hosts 2, 3, ..."""
    HOST_GRADIENT = "host_gradient"
    """Two-party: the host's masked gradient, to decrypt for it."""
    GRADIENT = "gradient"
    """The decryption of its own masked gradient and loss."""
    EPOCH_END = "epoch_end"
    """Every host's summary of the epoch."""
    DONE = "done"
    """Training has stopped."""


class GuestEvent(enum.Enum):
    """What moves the guest."""

    START = "start()"
    HOST_SETUP = "a host's LrHostSetup"
    KEY = "the key owner's LrPublicKey"
    SET_UP = "every setup and the key held"
    FORWARD = "a host's LrForward"
    CROSSES_DUE = "residuals sent, cross terms due"
    CROSS = "a host's LrCross"
    GRADIENT_TO_ARBITER = "its masked gradient sent to the arbiter"
    GRADIENT_TO_HOST = "its masked gradient sent to the host"
    HOST_MASKED = "the host's LrMasked decrypted"
    EPOCH_SUMMARY = "a host's LrEpochEnd"
    DECRYPTED = "its gradient of a batch decrypted"
    LAST_DECRYPTED = "its gradient of the epoch's last batch decrypted"
    CONTINUE = "decided to train on"
    STOP = "decided to stop"


class HostPhase(enum.Enum):
    """What a host waits for."""

    SETUP = "setup"
    """The guest's setup."""
    OFFERED = "offered"
    """Resuming: the guest's setup, after offering its checkpoints."""
    RESUME = "resume"
    """Resuming: the epoch the guest resumes with (LrResume)."""
    SCORES = "scores"
    """Its scores of the batch are due: sent once it holds the key to encrypt them."""
    RESIDUAL = "residual"
    """The guest's residual of the batch."""
    GUEST_GRADIENT = "guest_gradient"
    """Two-party: the guest's masked gradient and loss, to decrypt for it."""
    GRADIENT = "gradient"
    """The decryption of its own masked gradient."""
    DECISION = "decision"
    """The guest's decision at the end of the epoch."""
    DONE = "done"
    """Training has stopped."""


class HostEvent(enum.Enum):
    """What moves a host."""

    OFFER = "start() offered its checkpoints"
    SETUP = "the guest's LrSetup"
    KEY = "the key owner's LrPublicKey"
    RESUME = "the guest's LrResume"
    SCORES_SENT = "its LrForward sent"
    MASKED_TO_ARBITER = "the residual taken, its masked gradient sent to the arbiter"
    MASKED_TO_GUEST = "the residual taken, its masked gradient sent to the guest"
    GUEST_MASKED = "the guest's LrMasked decrypted"
    DECRYPTED = "its gradient of a batch decrypted"
    LAST_DECRYPTED = "its gradient of the epoch's last batch decrypted"
    CONTINUE = "the guest's LrDecision to go on"
    STOP = "the guest's LrDecision to stop"


class ArbiterPhase(enum.Enum):
    """What the arbiter waits for."""

    NEW = "new"
    """Not started."""
    SETUP = "setup"
    """The guest's setup."""
    RESUME = "resume"
    """Resuming: the epoch the guest resumes with."""
    TRAINING = "training"
    """Masked values to decrypt, and the guest's decision after each epoch."""
    DONE = "done"
    """The guest stopped training."""


class ArbiterEvent(enum.Enum):
    """What moves the arbiter."""

    START = "start()"
    SETUP = "the guest's LrSetup"
    RESUMING_SETUP = "the guest's LrSetup of a resumed run"
    RESUME = "the guest's LrResume"
    HOLD = "a host's LrMasked held until the guest's setup or decision"
    DECRYPT = "an LrMasked decrypted"
    CONTINUE = "the guest's LrDecision to go on"
    STOP = "the guest's LrDecision to stop"


_G, _GE = GuestPhase, GuestEvent
GUEST_TRANSITIONS: Mapping[tuple[GuestPhase, GuestEvent], GuestPhase] = {
    (_G.NEW, _GE.START): _G.SETUP,
    (_G.SETUP, _GE.HOST_SETUP): _G.SETUP,
    (_G.SETUP, _GE.KEY): _G.SETUP,
    (_G.SETUP, _GE.FORWARD): _G.SETUP,  # a host set up early may send its first scores
    (_G.SETUP, _GE.SET_UP): _G.FORWARD,
    (_G.FORWARD, _GE.FORWARD): _G.FORWARD,
    (_G.FORWARD, _GE.CROSSES_DUE): _G.CROSS,
    (_G.FORWARD, _GE.GRADIENT_TO_ARBITER): _G.GRADIENT,
    (_G.FORWARD, _GE.GRADIENT_TO_HOST): _G.HOST_GRADIENT,
    (_G.CROSS, _GE.FORWARD): _G.CROSS,  # a host done with the batch sends the next one's
    (_G.CROSS, _GE.CROSS): _G.CROSS,
    (_G.CROSS, _GE.EPOCH_SUMMARY): _G.CROSS,
    (_G.CROSS, _GE.GRADIENT_TO_ARBITER): _G.GRADIENT,
    (_G.HOST_GRADIENT, _GE.HOST_MASKED): _G.GRADIENT,
    (_G.GRADIENT, _GE.FORWARD): _G.GRADIENT,
    (_G.GRADIENT, _GE.EPOCH_SUMMARY): _G.GRADIENT,
    (_G.GRADIENT, _GE.DECRYPTED): _G.FORWARD,
    (_G.GRADIENT, _GE.LAST_DECRYPTED): _G.EPOCH_END,
    (_G.EPOCH_END, _GE.EPOCH_SUMMARY): _G.EPOCH_END,
    (_G.EPOCH_END, _GE.CONTINUE): _G.FORWARD,
    (_G.EPOCH_END, _GE.STOP): _G.DONE,
}
"""The guest's ``(phase, event) -> next phase``."""

_H, _HE = HostPhase, HostEvent
HOST_TRANSITIONS: Mapping[tuple[HostPhase, HostEvent], HostPhase] = {
    (_H.SETUP, _HE.KEY): _H.SETUP,  # the arbiter's key may come first
    (_H.SETUP, _HE.OFFER): _H.OFFERED,
    (_H.SETUP, _HE.SETUP): _H.SCORES,
    (_H.OFFERED, _HE.KEY): _H.OFFERED,
    (_H.OFFERED, _HE.SETUP): _H.RESUME,
    (_H.RESUME, _HE.KEY): _H.RESUME,
    (_H.RESUME, _HE.RESUME): _H.SCORES,
    (_H.SCORES, _HE.KEY): _H.SCORES,
    (_H.SCORES, _HE.SCORES_SENT): _H.RESIDUAL,
    (_H.RESIDUAL, _HE.KEY): _H.RESIDUAL,  # two-party: the guest's key follows its setup
    (_H.RESIDUAL, _HE.MASKED_TO_ARBITER): _H.GRADIENT,
    (_H.RESIDUAL, _HE.MASKED_TO_GUEST): _H.GUEST_GRADIENT,
    (_H.GUEST_GRADIENT, _HE.GUEST_MASKED): _H.GRADIENT,
    (_H.GRADIENT, _HE.DECRYPTED): _H.SCORES,
    (_H.GRADIENT, _HE.LAST_DECRYPTED): _H.DECISION,
    (_H.DECISION, _HE.CONTINUE): _H.SCORES,
    (_H.DECISION, _HE.STOP): _H.DONE,
}
"""A host's ``(phase, event) -> next phase``."""

_A, _AE = ArbiterPhase, ArbiterEvent
ARBITER_TRANSITIONS: Mapping[tuple[ArbiterPhase, ArbiterEvent], ArbiterPhase] = {
    (_A.NEW, _AE.START): _A.SETUP,
    (_A.SETUP, _AE.HOLD): _A.SETUP,
    (_A.SETUP, _AE.SETUP): _A.TRAINING,
    (_A.SETUP, _AE.RESUMING_SETUP): _A.RESUME,
    (_A.RESUME, _AE.HOLD): _A.RESUME,
    (_A.RESUME, _AE.RESUME): _A.TRAINING,
    (_A.TRAINING, _AE.HOLD): _A.TRAINING,
    (_A.TRAINING, _AE.DECRYPT): _A.TRAINING,
    (_A.TRAINING, _AE.CONTINUE): _A.TRAINING,
    (_A.TRAINING, _AE.STOP): _A.DONE,
}
"""The arbiter's ``(phase, event) -> next phase``."""

Phase = TypeVar("Phase", bound=enum.Enum)
Event = TypeVar("Event", bound=enum.Enum)


def transition(
    table: Mapping[tuple[Phase, Event], Phase], phase: Phase, event: Event
) -> Phase | None:
    """The phase after ``event`` in ``phase``, or None if the table does not allow it.

    Parameters
    ----------
    table : mapping
        ``(phase, event) -> next phase``.
    phase, event : enum.Enum
        The current phase and what happened.

    Returns
    -------
    enum.Enum or None
        The next phase; None when ``event`` is not allowed in ``phase``.

    Examples
    --------
    >>> transition(GUEST_TRANSITIONS, GuestPhase.EPOCH_END, GuestEvent.STOP)
    <GuestPhase.DONE: 'done'>
    >>> transition(GUEST_TRANSITIONS, GuestPhase.DONE, GuestEvent.START) is None
    True
    """
    return table.get((phase, event))


def allowed_transition(
    table: Mapping[tuple[Phase, Event], Phase],
    phase: Phase,
    event: Event,
    *,
    party: str,
    unexpected: Callable[[Message, str], Exception],
    message: Message | None = None,
    waiting: str = "",
    refusal: str = "",
) -> Phase:
    """The phase after ``event``, or the role's refusal when the table does not allow it.

    Parameters
    ----------
    table : mapping
        ``(phase, event) -> next phase``.
    phase, event : enum.Enum
        The current phase and what happened.
    party : str
        The role's party (named in refusals).
    unexpected : callable
        The role's ``_unexpected(message, waiting)``, for a message the table refuses.
    message : Message, optional
        The message that caused ``event``, if any.
    waiting : str
        What the role waits for, in the refusal of ``message``.
    refusal : str
        The refusal of an event without a message (default: the phase and event).

    Returns
    -------
    enum.Enum
        The next phase.

    Raises
    ------
    UnexpectedMessageError
        (from ``unexpected``) for a message the table does not allow now.
    ProtocolError
        For any other event the table does not allow now.

    Examples
    --------
    >>> allowed_transition(GUEST_TRANSITIONS, GuestPhase.DONE, GuestEvent.START,
    ...                    party="bank-a", unexpected=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: bank-a: start() is not allowed in phase done
    """
    after = transition(table, phase, event)
    if after is not None:
        return after
    if message is not None:
        raise unexpected(message, waiting or f"in phase {phase.value}")
    raise ProtocolError(
        f"{party}: {refusal or f'{event.value} is not allowed in phase {phase.value}'}"
    )

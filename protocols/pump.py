"""The one message pump: moves messages between sans-IO roles until they settle.

Every way of running roles goes through :func:`deliver_until_done`: a party's run over
a real transport (:meth:`vfl.runner.Session.run`), every party in one process through
the wire codec (:func:`vfl.local.run_locally`), and the tests' random interleavings
(``tests.support.protocol_harness.run_roles``).  The pump does what they share: start every
role, check the receiver of each message a role returns and hand it to the caller's
``send``, ask the caller's ``next_event`` what happens next (a message to deliver or a
role's local work), hand that to the role, and stop when ``next_event`` says nothing
is left.

What differs stays with the caller, in those two callables: where messages wait and
in which order they arrive (a transport with timeouts, one FIFO queue, per-connection
queues and a random choice), whether they pass through the codec, what is recorded.
Nothing here does I/O, so the pump itself runs in any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from protocols.exceptions import ProtocolError
from protocols.messages import Message
from protocols.roles import Role

__all__ = ["Deliver", "Event", "PumpLimitError", "Work", "deliver_until_done"]


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand ``message`` to the role of its receiver."""

    message: Message


@dataclass(frozen=True, slots=True)
class Work:
    """Let the role of ``party`` do one piece of its queued local work."""

    party: str


Event: TypeAlias = Deliver | Work
"""What happens next in a run: a delivery or a piece of local work."""


class PumpLimitError(ProtocolError):
    """The roles still had something to do after the most events allowed."""


def deliver_until_done(
    roles: Mapping[str, Role],
    send: Callable[[Message], None],
    next_event: Callable[[], Event | None],
    *,
    receivers: Container[str] | None = None,
    after_each: Callable[[Role], None] | None = None,
    max_steps: int | None = None,
) -> int:
    """Start ``roles`` and handle events until ``next_event`` returns ``None``.

    Parameters
    ----------
    roles : mapping of str to Role
        The roles that run here, by party name (one for a party's own run, every
        party's for an in-process run), started in this order.
    send : callable
        Called with every message a role returns, in order, once its receiver is
        checked: puts it on its way (a transport, a queue, a codec round trip).
    next_event : callable
        Returns what happens next: :class:`Deliver` a message that arrived (to the
        role of its receiver) or :class:`Work` for a role whose
        :attr:`~protocols.roles.Role.has_work` is true; ``None`` when nothing is in
        flight (or the caller's role is done).  It decides the order, and may block.
    receivers : container of str, optional
        Who the roles may send to (default: the parties of ``roles``).
    after_each : callable, optional
        Called with the role after each message it handled and each piece of work it
        did (progress displays, checkpoints).
    max_steps : int, optional
        Raise :class:`PumpLimitError` rather than handle more events than this.

    Returns
    -------
    int
        How many events were handled.

    Raises
    ------
    ProtocolError
        If a role sends to a party outside ``receivers``, an event names a party
        without a role here, or a role refuses a message.
    PumpLimitError
        If ``max_steps`` events were handled and ``next_event`` has another.

    Examples
    --------
    A secure sum in one process, each message delivered in the order it was sent:

    >>> from collections import deque
    >>> from protocols.secure_sum import SumContributor, SumKeyOwner
    >>> owner = SumKeyOwner("guest", "job-1", contributors=["host"], values=[2.0],
    ...                     max_abs=10.0, key_length=1024, allow_weak_key=True)
    >>> roles = {"guest": owner, "host": SumContributor(
    ...     "host", "job-1", key_owner="guest", ring=["host"], values=[1.0], max_abs=10.0,
    ...     min_key_bits=1024)}
    >>> queue = deque()
    >>> deliver_until_done(roles, queue.append,
    ...                    lambda: Deliver(queue.popleft()) if queue else None)
    3
    >>> [role.result.tolist() for role in roles.values()]
    [[3.0], [3.0]]
    """
    allowed: Container[str] = roles if receivers is None else receivers

    def post(messages: list[Message]) -> None:
        for message in messages:
            if message.receiver not in allowed:
                raise ProtocolError(
                    f"{message.sender} tried to send a {message.kind.name} to "
                    f"{message.receiver!r}, not a peer"
                )
            send(message)

    def role_of(party: str) -> Role:
        role = roles.get(party)
        if role is None:
            raise ProtocolError(f"no role of {party!r} runs here")
        return role

    for role in roles.values():
        post(role.start())
    handled = 0
    while (event := next_event()) is not None:
        if max_steps is not None and handled >= max_steps:
            raise PumpLimitError(f"the roles did not settle within {max_steps} events")
        if isinstance(event, Work):
            role = role_of(event.party)
            post(role.work())
        else:
            role = role_of(event.message.receiver)
            post(role.receive(event.message))
        handled += 1
        if after_each is not None:
            after_each(role)
    return handled

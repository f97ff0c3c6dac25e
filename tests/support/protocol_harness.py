"""Run protocol roles against each other in one process, as h11 tests its peers.

Messages travel per connection in FIFO order (like TCP); which connection delivers
next is chosen by a random generator, so tests can explore every interleaving that
a real network could produce.  The loop is the shared message pump
(:func:`protocols.pump.deliver_until_done`) that the runner and ``vfl.runtime.local`` use.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping

from protocols import pump
from protocols.messages import Message
from protocols.roles import Role


def run_roles(
    roles: Mapping[str, Role],
    *,
    rng: random.Random | None = None,
    wire: Callable[[Message], Message] | None = None,
    max_steps: int = 10_000,
) -> list[Message]:
    """Start every role, deliver messages until none is in flight; return the transcript.

    ``wire`` may transform each message in flight (e.g. encode and decode it:
    :func:`vfl.runtime.local.codec_wire`).  A role sending to a party without a role raises
    :class:`~protocols.exceptions.ProtocolError`; more than ``max_steps`` events
    raise AssertionError.
    """
    in_flight: dict[tuple[str, str], deque[Message]] = {}
    transcript: list[Message] = []

    def send(message: Message) -> None:
        transcript.append(message)
        delivered = wire(message) if wire is not None else message
        in_flight.setdefault((message.sender, message.receiver), deque()).append(delivered)

    def next_event() -> pump.Event | None:
        busy = sorted(link for link, queue in in_flight.items() if queue)
        working = sorted(name for name, role in roles.items() if role.has_work)
        # a role's queued local work competes with deliveries, as on a real network
        choices: list[tuple[str, str] | str] = [*busy, *working]
        if not choices:
            return None
        choice = rng.choice(choices) if rng is not None else choices[0]
        if isinstance(choice, str):
            return pump.Work(choice)
        return pump.Deliver(in_flight[choice].popleft())

    try:
        pump.deliver_until_done(roles, send, next_event, max_steps=max_steps)
    except pump.PumpLimitError:
        raise AssertionError("the protocol did not settle") from None
    return transcript

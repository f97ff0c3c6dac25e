"""Run protocol roles against each other in one process, as h11 tests its peers.

Messages travel per connection in FIFO order (like TCP); which connection delivers
next is chosen by a random generator, so tests can explore every interleaving that
a real network could produce.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping

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

    ``wire`` may transform each message in flight (e.g. encode and decode it).
    """
    in_flight: dict[tuple[str, str], deque[Message]] = {}
    transcript: list[Message] = []

    def post(messages: list[Message]) -> None:
        for message in messages:
            assert message.receiver in roles, f"message to unknown party {message.receiver}"
            transcript.append(message)
            delivered = wire(message) if wire is not None else message
            in_flight.setdefault((message.sender, message.receiver), deque()).append(delivered)

    for role in roles.values():
        post(role.start())
    for _ in range(max_steps):
        busy: list[tuple[str, str]] = sorted(link for link, queue in in_flight.items() if queue)
        working = sorted(name for name, role in roles.items() if role.has_work)
        if not busy and not working:
            return transcript
        # a role's queued local work competes with deliveries, as on a real network
        choices = [*busy, *((name, "") for name in working)]
        choice = rng.choice(choices) if rng is not None else choices[0]
        if choice[1] == "":
            post(roles[choice[0]].work())
            continue
        message = in_flight[choice].popleft()
        post(roles[message.receiver].receive(message))
    raise AssertionError("the protocol did not settle")

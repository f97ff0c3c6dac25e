"""The hetero LR roles' phase tables: walked pair by pair, and taken by honest runs.

* Every ``(phase, event)`` pair of every role is tried: the pairs in the role's table
  move it to the table's phase, every other pair is refused with a ProtocolError
  naming the role (an UnexpectedMessageError when a message caused it) and leaves
  the phase as it was.
* The tables are well formed: every phase is reachable from the first, DONE from
  every phase, and nothing leaves DONE.
* Honest runs (two-party, arbiter mode with one and three hosts, several delivery
  orders, resumed runs, an arbiter whose link from the guest is slow) take exactly
  the tables' transitions: none outside them (the roles would refuse), and each
  entry of every table is taken by some run, so no entry is dead.
"""

from __future__ import annotations

import enum
import itertools
import random
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import pytest

from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings, OptimizerSettings
from protocols.hetero_lr.phases import (
    ARBITER_TRANSITIONS,
    GUEST_TRANSITIONS,
    HOST_TRANSITIONS,
    ArbiterEvent,
    ArbiterPhase,
    GuestEvent,
    GuestPhase,
    HostEvent,
    HostPhase,
    transition,
)
from protocols.hetero_lr.state import LrCheckpoint
from protocols.messages import LrDecision, Message
from protocols.roles import Role
from tests.support.protocol_harness import run_roles

ROWS, BATCH = 240, 80

TABLES: dict[str, tuple[Mapping[tuple[enum.Enum, enum.Enum], enum.Enum], type, type, type]] = {
    "guest": (GUEST_TRANSITIONS, GuestPhase, GuestEvent, LrGuest),
    "host": (HOST_TRANSITIONS, HostPhase, HostEvent, LrHost),
    "arbiter": (ARBITER_TRANSITIONS, ArbiterPhase, ArbiterEvent, LrArbiter),
}
INITIAL = {"guest": GuestPhase.NEW, "host": HostPhase.SETUP, "arbiter": ArbiterPhase.NEW}
DONE = {"guest": GuestPhase.DONE, "host": HostPhase.DONE, "arbiter": ArbiterPhase.DONE}


def _roles(mode: str, hosts: int) -> dict[str, Role]:
    x = np.linspace(-1.0, 1.0, ROWS)
    guest_rows = np.column_stack([x, x**2])
    host_rows = np.sin(3 * x)[:, None]
    labels = (x + np.sin(3 * x) > 0).astype(float)
    settings = LrSettings(
        mode=mode, batch_size=BATCH, max_iter=3, convergence="max_iter", key_length=1024,
        allow_weak_key=True, optimizer=OptimizerSettings(learning_rate=0.5),
    )  # fmt: skip
    names = [f"host-{i}" for i in range(1, hosts + 1)]
    arbiter = "arbiter" if mode == "arbiter" else None
    roles: dict[str, Role] = {
        "guest": LrGuest(
            "guest", "job", hosts=names, features=guest_rows, labels=labels, settings=settings,
            backend="plaintext", arbiter=arbiter, plan_seed=bytes(32),
            initial_weights_seed=bytes(32),
        )
    }  # fmt: skip
    for name in names:
        roles[name] = LrHost(
            name, "job", guest="guest", features=host_rows, settings=settings,
            backend="plaintext", arbiter=arbiter,
        )  # fmt: skip
    if arbiter is not None:
        roles[arbiter] = LrArbiter(
            arbiter, "job", guest="guest", hosts=names, settings=settings, backend="plaintext"
        )
    return roles


def _kind(role: Role) -> str:
    return {LrGuest: "guest", LrHost: "host", LrArbiter: "arbiter"}[type(role)]


# every pair of every table --------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(TABLES))
def test_every_pair_outside_the_table_is_refused(kind: str) -> None:
    table, phases, events, _ = TABLES[kind]
    role: Role = next(r for r in _roles("arbiter", 1).values() if _kind(r) == kind)
    message = LrDecision(
        job_id="job", sender="guest", receiver=role.party, stop=False, best_epoch=-1
    )
    allowed = refused = 0
    for phase, event in itertools.product(phases, events):
        role._phase = phase  # type: ignore[attr-defined]
        after = table.get((phase, event))
        assert transition(table, phase, event) is after
        if after is not None:
            role._transition(event)  # type: ignore[attr-defined]
            assert role.phase is after  # type: ignore[attr-defined]
            allowed += 1
            continue
        with pytest.raises(ProtocolError, match=rf"^{role.party}: ") as info:
            role._transition(event)  # type: ignore[attr-defined]
        assert event.value in str(info.value) and phase.value in str(info.value)
        with pytest.raises(UnexpectedMessageError, match=rf"^{role.party} did not expect "):
            role._transition(event, message)  # type: ignore[attr-defined]
        assert role.phase is phase  # type: ignore[attr-defined]
        refused += 1
    assert allowed == len(table) and refused == len(phases) * len(events) - len(table)


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_the_tables_are_well_formed(kind: str) -> None:
    table, phases, events, _ = TABLES[kind]
    assert all(isinstance(p, phases) and isinstance(e, events) for p, e in table)
    assert all(isinstance(after, phases) for after in table.values())
    reachable, frontier = {INITIAL[kind]}, [INITIAL[kind]]
    while frontier:
        phase = frontier.pop()
        for (before, _), after in table.items():
            if before is phase and after not in reachable:
                reachable.add(after)
                frontier.append(after)
    assert reachable == set(phases)
    for phase in phases:  # DONE is reachable from every phase
        seen, frontier = {phase}, [phase]
        while frontier:
            current = frontier.pop()
            for (before, _), after in table.items():
                if before is current and after not in seen:
                    seen.add(after)
                    frontier.append(after)
        assert DONE[kind] in seen, phase
    assert not [pair for pair in table if pair[0] is DONE[kind]]


def test_start_twice_is_refused_by_the_table() -> None:
    roles = _roles("arbiter", 1)
    for role in (roles["guest"], roles["arbiter"]):
        role.start()
        with pytest.raises(ProtocolError, match="start\\(\\) called twice"):
            role.start()


# honest runs take every transition, and only those -----------------------------------------
Taken = set[tuple[str, enum.Enum, enum.Enum]]


def _spy(roles: Mapping[str, Role], taken: Taken) -> None:
    for role in roles.values():
        original = role._transition  # type: ignore[attr-defined]

        def spied(
            event: enum.Enum,
            message: Message | None = None,
            refusal: str = "",
            role: Role = role,
            original: Callable[..., None] = original,
        ) -> None:
            before = role.phase  # type: ignore[attr-defined]
            original(event, message, refusal)
            taken.add((_kind(role), before, event))

        role._transition = spied  # type: ignore[attr-defined]


def _checkpoints(mode: str, hosts: int) -> dict[str, list[LrCheckpoint]]:
    roles = _roles(mode, hosts)
    saved: dict[str, list[LrCheckpoint]] = {name: [] for name in roles}
    queue = deque(message for role in roles.values() for message in role.start())
    while queue:
        message = queue.popleft()
        queue.extend(roles[message.receiver].receive(message))
        for name, role in roles.items():
            checkpoint = role.take_checkpoint()  # type: ignore[attr-defined]
            if checkpoint is not None:
                saved[name].append(checkpoint)
    return saved


def _slow_arbiter_link(roles: Mapping[str, Role]) -> None:
    """Deliver the guest's messages to the arbiter only when nothing else can move."""
    links: dict[tuple[str, str], deque[Message]] = {}

    def post(messages: list[Message]) -> None:
        for message in messages:
            links.setdefault((message.sender, message.receiver), deque()).append(message)

    for role in roles.values():
        post(role.start())
    while any(links.values()):
        busy = sorted(link for link, queue in links.items() if queue)
        fast = [link for link in busy if link != ("guest", "arbiter")]
        message = links[(fast or busy)[0]].popleft()
        post(roles[message.receiver].receive(message))


def test_honest_runs_take_every_transition_of_the_tables() -> None:
    taken: Taken = set()
    for mode, hosts in [("two-party", 1), ("arbiter", 1), ("arbiter", 3)]:
        for seed in (None, 1, 2, 3):
            roles = _roles(mode, hosts)
            _spy(roles, taken)
            run_roles(roles, rng=None if seed is None else random.Random(seed))
            assert all(role.done for role in roles.values())
        saved = _checkpoints(mode, hosts)
        for seed in (None, 1):
            roles = _roles(mode, hosts)
            for name, role in roles.items():
                role.prepare_resume(saved[name][:1])  # type: ignore[attr-defined]
            _spy(roles, taken)
            run_roles(roles, rng=None if seed is None else random.Random(seed))
            assert all(role.done for role in roles.values())
            assert roles["guest"].resumed_after == 0  # type: ignore[attr-defined]
    roles = _roles("arbiter", 2)
    _spy(roles, taken)
    _slow_arbiter_link(roles)
    assert all(role.done for role in roles.values())
    for kind, (table, *_) in TABLES.items():
        entries = {(kind, phase, event) for phase, event in table}
        assert {entry for entry in taken if entry[0] == kind} <= entries
        assert entries - taken == set(), f"{kind}: no honest run takes {entries - taken}"


def test_a_run_walks_the_guest_and_host_through_their_phases() -> None:
    roles = _roles("two-party", 1)
    guest, host = roles["guest"], roles["host-1"]
    seen: list[tuple[GuestPhase, HostPhase]] = []
    queue = deque(message for role in roles.values() for message in role.start())
    while queue:
        message = queue.popleft()
        queue.extend(roles[message.receiver].receive(message))
        seen.append((guest.phase, host.phase))  # type: ignore[attr-defined]
    guest_phases = [phase for phase, _ in seen]
    first = [
        phase for i, phase in enumerate(guest_phases) if i == 0 or phase != guest_phases[i - 1]
    ]
    assert first[:5] == [
        GuestPhase.SETUP,
        GuestPhase.FORWARD,
        GuestPhase.HOST_GRADIENT,
        GuestPhase.GRADIENT,
        GuestPhase.FORWARD,
    ]
    assert seen[-1] == (GuestPhase.DONE, HostPhase.DONE)
    assert {HostPhase.RESIDUAL, HostPhase.GUEST_GRADIENT, HostPhase.DECISION} <= {
        phase for _, phase in seen
    }

"""The one message pump, and the three ways of running roles that share it.

``Session.run`` (over a transport), ``vfl.runtime.local.run_locally`` (in process, through
the codec) and ``tests.support.protocol_harness.run_roles`` (random interleavings) all move
messages with :func:`protocols.pump.deliver_until_done`.  For a protocol where one
thing at a time can happen, all three must deliver the same transcript and make
the same calls on every role.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from protocols import pump
from protocols.exceptions import ProtocolError
from protocols.messages import LrResume, Message, PsiDone
from protocols.roles import Role
from protocols.secure_sum import SumContributor, SumKeyOwner
from tests.support.protocol_harness import run_roles
from vfl.runtime.local import codec_wire, run_locally
from vfl.runtime.runner import RunSettings, Session, step_job_id
from vfl.runtime.transcript import TranscriptEntry
from vfl.runtime.transport.memory import MemoryNetwork

JOB = "pump-job"
STEP_JOB = step_job_id(JOB, 0)
ROUNDS = 3


class Pinger(Role):
    """Sends ``PsiDone`` round i as local work, then waits for the ``LrResume`` round i."""

    def __init__(self, party: str, job_id: str, peer: str, calls: list[str]) -> None:
        super().__init__(party, job_id)
        self.peer, self.calls, self.sent = peer, calls, 0
        self._work = True

    def start(self) -> list[Message]:
        self.calls.append(f"{self.party} start")
        return []

    @property
    def has_work(self) -> bool:
        return self._work

    def work(self) -> list[Message]:
        self.calls.append(f"{self.party} work")
        self._work = False
        return [PsiDone(job_id=self.job_id, sender=self.party, receiver=self.peer, round=self.sent)]

    def receive(self, message: Message) -> list[Message]:
        self.calls.append(f"{self.party} receive {message.kind.name} {message.round}")
        if not isinstance(message, LrResume) or message.round != self.sent:
            raise self._unexpected(message, "waiting for a reply")
        self.sent += 1
        if self.sent == ROUNDS:
            self._finish(self.sent)
        else:
            self._work = True
        return []

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return () if self.done or self._work else (self.peer,)


class Ponger(Role):
    """Answers each ``PsiDone`` with an ``LrResume`` of the same round, as local work."""

    def __init__(self, party: str, job_id: str, peer: str, calls: list[str]) -> None:
        super().__init__(party, job_id)
        self.peer, self.calls = peer, calls
        self._pending: int | None = None

    def start(self) -> list[Message]:
        self.calls.append(f"{self.party} start")
        return []

    @property
    def has_work(self) -> bool:
        return self._pending is not None

    def work(self) -> list[Message]:
        self.calls.append(f"{self.party} work")
        assert self._pending is not None
        reply = LrResume(
            job_id=self.job_id, sender=self.party, receiver=self.peer, round=self._pending
        )
        if self._pending == ROUNDS - 1:
            self._finish(ROUNDS)
        self._pending = None
        return [reply]

    def receive(self, message: Message) -> list[Message]:
        self.calls.append(f"{self.party} receive {message.kind.name} {message.round}")
        if not isinstance(message, PsiDone) or self._pending is not None:
            raise self._unexpected(message, "answering")
        self._pending = message.round
        return []

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return () if self.done or self._pending is not None else (self.peer,)


def _ping_pong(calls: list[str]) -> dict[str, Role]:
    return {
        "guest": Pinger("guest", STEP_JOB, "host", calls),
        "host": Ponger("host", STEP_JOB, "guest", calls),
    }


def _secure_sum(calls: list[str]) -> dict[str, Role]:
    del calls
    return {
        "guest": SumKeyOwner(
            "guest",
            STEP_JOB,
            contributors=["host"],
            values=[2.0, -1.0],
            max_abs=10.0,
            key_length=1024,
            allow_weak_key=True,
        ),
        "host": SumContributor(
            "host",
            STEP_JOB,
            key_owner="guest",
            ring=["host"],
            values=[1.0, 0.5],
            max_abs=10.0,
            min_key_bits=1024,
        ),
    }


Describe = tuple[str, str, str, int]


def _describe(message: Message) -> Describe:
    return (message.kind.name, message.sender, message.receiver, message.round)


def _through_harness(roles: Mapping[str, Role], rng: random.Random | None) -> list[Describe]:
    sent = run_roles(roles, rng=rng, wire=codec_wire(roles, allow_weak_keys=True))
    return [_describe(message) for message in sent]


def _through_local(roles: Mapping[str, Role]) -> list[Describe]:
    transcript: list[Describe] = []
    for role in roles.values():  # every message a role returns, in order
        _record_returns(role, transcript)
    run_locally(roles, allow_weak_keys=True)
    return transcript


def _record_returns(role: Role, transcript: list[Describe]) -> None:
    for name in ("start", "receive", "work"):
        original: Callable[..., list[Message]] = getattr(role, name)

        def recorded(*args: Any, original: Callable[..., list[Message]] = original) -> Any:
            messages = original(*args)
            transcript.extend(_describe(message) for message in messages)
            return messages

        setattr(role, name, recorded)


def _through_sessions(roles: Mapping[str, Role]) -> list[Describe]:
    """Every party in its own thread with its own Session over a memory network."""
    network = MemoryNetwork()
    settings = RunSettings(timeout=30, connect_timeout=30, allow_weak_keys=True)
    entries: list[TranscriptEntry] = []
    errors: list[BaseException] = []

    def play(party: str, role: Role) -> None:
        peers = [name for name in roles if name != party]
        session = Session(
            network.transport(party),
            party,
            JOB,
            peers,
            settings,
            show_progress=False,
            recorder=entries.append,
        )
        try:
            with session:
                session.run(role, 0, "test")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=play, args=item) for item in roles.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a session hung"
    assert not errors, errors
    # a role sends only after what caused it was received, and the recorder sees a
    # message before the transport does: for these protocols this order is fixed
    return [_describe(entry.message) for entry in entries if entry.direction == "sent"]


def _by_party(calls: list[str]) -> list[str]:
    return sorted(calls, key=lambda call: call.split()[0])  # stable: each party's order kept


PROTOCOLS = {"ping_pong": _ping_pong, "secure_sum": _secure_sum}
EXPECTED = {
    "ping_pong": [
        item
        for i in range(ROUNDS)
        for item in (("PSI_DONE", "guest", "host", i), ("LR_RESUME", "host", "guest", i))
    ],
    "secure_sum": [
        ("SUM_PUBLIC_KEY", "guest", "host", 0),
        ("SUM_PARTIAL", "host", "guest", 0),
        ("SUM_RESULT", "guest", "host", 0),
    ],
}


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_the_three_entry_points_deliver_the_same_transcript(name: str) -> None:
    make = PROTOCOLS[name]
    transcripts: dict[str, list[Describe]] = {}
    calls: dict[str, list[str]] = {}
    results: dict[str, list[Any]] = {}
    runs: dict[str, Callable[[dict[str, Role]], list[Describe]]] = {
        "harness": lambda roles: _through_harness(roles, None),
        "harness, random": lambda roles: _through_harness(roles, random.Random(7)),
        "local": _through_local,
        "sessions": _through_sessions,
    }
    for how, run in runs.items():
        calls[how] = []
        roles = make(calls[how])
        transcripts[how] = run(roles)
        assert all(role.done for role in roles.values()), how
        results[how] = [np.asarray(role.result).tolist() for role in roles.values()]
    assert transcripts["harness"] == EXPECTED[name]
    for how in runs:
        assert transcripts[how] == transcripts["harness"], how
        # each role's own calls (parties in threads start in any order)
        assert _by_party(calls[how]) == _by_party(calls["harness"]), how
        assert results[how] == results["harness"], how
    if name == "ping_pong":  # local work and deliveries, one at a time
        assert calls["harness"][:4] == [
            "guest start",
            "host start",
            "guest work",
            "host receive PSI_DONE 0",
        ]
        assert calls["harness"].count("host work") == ROUNDS


def test_each_entry_point_moves_messages_with_the_shared_pump(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = pump.deliver_until_done
    used: list[tuple[str, ...]] = []

    def spy(roles: Mapping[str, Role], *args: Any, **kwargs: Any) -> int:
        used.append(tuple(roles))
        return original(roles, *args, **kwargs)

    monkeypatch.setattr(pump, "deliver_until_done", spy)
    run_roles(_ping_pong([]))
    assert used == [("guest", "host")]
    run_locally(_ping_pong([]))
    assert used[1:] == [("guest", "host")]
    _through_sessions(_ping_pong([]))
    assert sorted(used[2:]) == [("guest",), ("host",)]  # one Session.run per party


# the pump on its own -------------------------------------------------------------------


def _fifo(roles: Mapping[str, Role], **kwargs: Any) -> tuple[int, list[Message]]:
    queue: deque[Message] = deque()
    sent: list[Message] = []

    def send(message: Message) -> None:
        sent.append(message)
        queue.append(message)

    def next_event() -> pump.Event | None:
        if queue:
            return pump.Deliver(queue.popleft())
        working = [name for name, role in roles.items() if role.has_work]
        return pump.Work(working[0]) if working else None

    return pump.deliver_until_done(roles, send, next_event, **kwargs), sent


def test_the_pump_counts_events_and_calls_after_each_with_the_role() -> None:
    calls: list[str] = []
    roles = _ping_pong(calls)
    after: list[str] = []
    handled, sent = _fifo(roles, after_each=lambda role: after.append(role.party))
    # per round: guest works, host receives, host works, guest receives
    assert handled == 4 * ROUNDS == len(after)
    assert after == ["guest", "host", "host", "guest"] * ROUNDS
    assert [_describe(m) for m in sent] == EXPECTED["ping_pong"]
    assert calls[:2] == ["guest start", "host start"]


def test_the_pump_stops_after_max_steps() -> None:
    with pytest.raises(pump.PumpLimitError, match="within 5 events"):
        _fifo(_ping_pong([]), max_steps=5)
    handled, _ = _fifo(_ping_pong([]), max_steps=4 * ROUNDS)  # exactly enough
    assert handled == 4 * ROUNDS


def test_the_pump_refuses_a_message_to_a_party_that_is_not_a_receiver() -> None:
    roles = _ping_pong([])
    with pytest.raises(
        ProtocolError, match=r"guest tried to send a PSI_DONE to 'host', not a peer"
    ):
        _fifo(roles, receivers={"arbiter"})
    lonely = {"guest": Pinger("guest", STEP_JOB, "nobody", [])}
    with pytest.raises(ProtocolError, match="'nobody', not a peer"):
        _fifo(lonely)


def test_the_pump_refuses_an_event_for_a_party_without_a_role() -> None:
    roles = _ping_pong([])
    with pytest.raises(ProtocolError, match="no role of 'arbiter' runs here"):
        pump.deliver_until_done(roles, lambda message: None, lambda: pump.Work("arbiter"))


def test_a_session_refuses_to_send_to_a_party_that_is_not_its_peer() -> None:
    network = MemoryNetwork()
    settings = RunSettings(timeout=5, connect_timeout=5, allow_weak_keys=True)
    session = Session(network.transport("guest"), "guest", JOB, [], settings, show_progress=False)
    with pytest.raises(ProtocolError, match="'host', not a peer"):
        session.run(Pinger("guest", STEP_JOB, "host", []), 0, "test")

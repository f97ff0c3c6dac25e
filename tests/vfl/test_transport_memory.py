"""In-memory transport: delivery, refusals, goodbye, crash and timeouts."""

from __future__ import annotations

import threading
import time

import pytest

from vfl.exceptions import (
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerTimeoutError,
    PeerUnavailableError,
    TransportError,
)
from vfl.runtime.transport.base import Transport
from vfl.runtime.transport.memory import MemoryNetwork, MemoryTransport


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


def test_is_a_transport(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    assert isinstance(alice, Transport)
    assert isinstance(alice, MemoryTransport)
    assert alice.party == "alice"


def test_messages_flow_both_ways_in_order(network: MemoryNetwork) -> None:
    alice, bob = network.transport("alice"), network.transport("bob")
    alice.connect(["bob"], timeout=1)
    bob.connect(["alice"], timeout=1)
    for i in range(100):
        alice.send("bob", b"a%d" % i)
    bob.send("alice", b"hello")
    assert [bob.receive(1) for _ in range(100)] == [("alice", b"a%d" % i) for i in range(100)]
    assert alice.receive(1) == ("bob", b"hello")


def test_three_parties(network: MemoryNetwork) -> None:
    parties = {name: network.transport(name) for name in ("a", "b", "c")}
    for name, transport in parties.items():
        for other in parties:
            if other != name:
                transport.send(other, name.encode())
    for name, transport in parties.items():
        received = sorted(transport.receive(1) for _ in range(2))
        assert received == sorted((o, o.encode()) for o in parties if o != name)


def test_unknown_peer_is_named(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    with pytest.raises(TransportError, match="'zed'") as info:
        alice.send("zed", b"x")
    assert info.value.peer == "zed"


def test_sending_to_itself_is_refused(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    with pytest.raises(TransportError):
        alice.send("alice", b"x")
    with pytest.raises(TransportError):
        alice.connect(["alice"], timeout=0)


def test_one_transport_per_party(network: MemoryNetwork) -> None:
    network.transport("alice")
    with pytest.raises(TransportError, match="already"):
        network.transport("alice")


def test_oversize_is_refused_by_the_sender(network: MemoryNetwork) -> None:
    alice = network.transport("alice", max_message_bytes=10)
    bob = network.transport("bob")
    with pytest.raises(MessageTooLargeError, match="11 bytes") as info:
        alice.send("bob", b"x" * 11)
    assert info.value.peer == "bob"
    alice.send("bob", b"x" * 10)
    assert bob.receive(1) == ("alice", b"x" * 10)


def test_oversize_is_refused_by_the_receiver(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    bob = network.transport("bob", max_message_bytes=10)
    alice.send("bob", b"x" * 11)
    with pytest.raises(MessageTooLargeError) as info:
        bob.receive(1)
    assert info.value.peer == "alice"


def test_receive_timeout(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    started = time.monotonic()
    with pytest.raises(PeerTimeoutError, match=r"waited 0\.1 s, nothing arrived"):
        alice.receive(0.1)
    assert time.monotonic() - started >= 0.09
    with pytest.raises(PeerTimeoutError):
        alice.receive(0)


def test_close_says_goodbye_not_crash(network: MemoryNetwork) -> None:
    alice, bob = network.transport("alice"), network.transport("bob")
    bob.send("alice", b"last words")
    bob.close()
    bob.close()  # idempotent
    assert alice.receive(1) == ("bob", b"last words")
    with pytest.raises(PeerTimeoutError):
        alice.receive(0.05)
    with pytest.raises(TransportError, match="closed") as info:
        alice.send("bob", b"x")
    assert info.value.peer == "bob"
    with pytest.raises(TransportError, match="closed"):
        bob.send("alice", b"x")


def test_close_wakes_a_blocked_receive(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            alice.receive(30)
        except TransportError as error:
            errors.append(error)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.05)
    alice.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and "closed" in str(errors[0])


def test_crash_is_reported_after_earlier_messages(network: MemoryNetwork) -> None:
    alice, bob = network.transport("alice"), network.transport("bob")
    bob.send("alice", b"before")
    network.crash("bob")
    assert alice.receive(1) == ("bob", b"before")
    with pytest.raises(PeerDisconnectedError, match="'bob'") as info:
        alice.receive(1)
    assert info.value.peer == "bob"
    with pytest.raises(PeerDisconnectedError):
        alice.send("bob", b"x")
    with pytest.raises(TransportError, match="crashed"):
        bob.send("alice", b"x")


def test_crash_wakes_a_blocked_receive_quickly(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    network.transport("bob")
    timer = threading.Timer(0.05, network.crash, args=("bob",))
    timer.start()
    started = time.monotonic()
    with pytest.raises(PeerDisconnectedError):
        alice.receive(30)
    assert time.monotonic() - started < 5
    timer.join()


def test_connect_waits_for_parties_started_later(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    timer = threading.Timer(0.1, network.transport, args=("bob",))
    timer.start()
    alice.connect(["bob"], timeout=10)
    timer.join()
    assert "bob" in network.parties


def test_connect_names_every_missing_party(network: MemoryNetwork) -> None:
    alice = network.transport("alice")
    network.transport("bob")
    with pytest.raises(PeerUnavailableError, match="'carol', 'dave'") as info:
        alice.connect(["bob", "carol", "dave"], timeout=0.05)
    assert info.value.peer == "carol"


def test_context_manager_closes(network: MemoryNetwork) -> None:
    bob = network.transport("bob")
    with network.transport("alice") as alice:
        alice.send("bob", b"x")
    assert bob.receive(1) == ("alice", b"x")
    with pytest.raises(PeerTimeoutError):
        bob.receive(0.01)


def test_parties_in_threads(network: MemoryNetwork) -> None:
    names = [f"p{i}" for i in range(5)]
    results: dict[str, list[tuple[str, bytes]]] = {}

    def run(name: str) -> None:
        with network.transport(name) as transport:
            transport.connect([n for n in names if n != name], timeout=10)
            for other in names:
                if other != name:
                    transport.send(other, name.encode())
            results[name] = [transport.receive(10) for _ in range(len(names) - 1)]

    threads = [threading.Thread(target=run, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    for name in names:
        assert sorted(results[name]) == sorted((o, o.encode()) for o in names if o != name)

"""Mutual-TLS transport over real sockets on 127.0.0.1 with certificates from vfl.certs."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from vfl.certs import PartyCredentials, create_ca, create_job_certificates, issue_certificate
from vfl.exceptions import (
    CertificateError,
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnavailableError,
    TransportError,
)
from vfl.runtime.transport.base import Transport
from vfl.runtime.transport.framing import FrameType, encode_frame, encode_message
from vfl.runtime.transport.tls import TlsTransport

ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"
NOWHERE = (LOCALHOST, 9)  # placeholder address, replaced with set_peer_address
WAIT = 20.0  # generous timeouts: tests wait on events, never on these expiring
ACCEPT = encode_frame(FrameType.ACCEPT)

Make = Callable[..., TlsTransport]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PartyCredentials]:
    """Job CA certificates; mallory holds one but is not a party of the tests' jobs."""
    return create_job_certificates(
        tmp_path_factory.mktemp("job"), ["alice", "bob", "carol", "mallory"]
    )


@pytest.fixture(scope="module")
def foreign(
    tmp_path_factory: pytest.TempPathFactory, job: dict[str, PartyCredentials]
) -> dict[str, PartyCredentials]:
    """Certificates from another CA: 'bob' (trusting the job CA) and 'alice' (trusting its own)."""
    out = tmp_path_factory.mktemp("foreign")
    ca = create_ca(out, common_name="another CA")
    return {
        "bob": issue_certificate(ca, out, "bob", ca_file=job["bob"].ca),
        "alice": issue_certificate(ca, out, "alice"),
    }


@pytest.fixture
def make(job: dict[str, PartyCredentials]) -> Iterator[Make]:
    """Create transports listening on an ephemeral port; all are closed after the test."""
    created: list[TlsTransport] = []

    def make(
        name: str,
        peers: Mapping[str, tuple[str, int]],
        *,
        creds: PartyCredentials | None = None,
        listen: tuple[str, int] = (LOCALHOST, 0),
        **kwargs: Any,
    ) -> TlsTransport:
        creds = creds or job[name]
        transport = TlsTransport(
            name,
            listen=listen,
            peers=peers,
            certificate=creds.certificate,
            private_key=creds.private_key,
            ca=creds.ca,
            **kwargs,
        )
        created.append(transport)
        return transport

    yield make
    for transport in created:
        transport.close()


def mesh(make: Make, names: list[str], **kwargs: Any) -> dict[str, TlsTransport]:
    """Transports for ``names``, each knowing the others' real addresses, all connected."""
    parties = {n: make(n, {o: NOWHERE for o in names if o != n}, **kwargs) for n in names}
    for name, transport in parties.items():
        for other in parties:
            if other != name:
                transport.set_peer_address(other, parties[other].listen_address)
    for name, transport in parties.items():
        transport.connect([o for o in names if o != name], timeout=WAIT)
    return parties


def exchange(a: TlsTransport, b: TlsTransport) -> None:
    a.send(b.party, b"ping from " + a.party.encode())
    assert b.receive(WAIT) == (a.party, b"ping from " + a.party.encode())
    b.send(a.party, b"pong from " + b.party.encode())
    assert a.receive(WAIT) == (b.party, b"pong from " + b.party.encode())


def raw_client(
    address: tuple[str, int],
    creds: PartyCredentials | None,
    ca: Path,
    server_hostname: str = "alice",
) -> ssl.SSLSocket:
    """A hand-made TLS 1.3 client (no certificate when ``creds`` is None)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(ca)
    if creds is not None:
        context.load_cert_chain(creds.certificate, creds.private_key)
    sock = socket.create_connection(address, timeout=WAIT)
    return context.wrap_socket(sock, server_hostname=server_hostname)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def assert_refused(sock: socket.socket) -> None:
    """The listener closed the connection (or sent an alert) instead of ACCEPT."""
    try:
        data = sock.recv(5)
    except TimeoutError:
        pytest.fail("the listener neither accepted nor refused the connection")
    except OSError:  # ssl.SSLError (an alert) or a reset
        return
    assert data == b""


def assert_closed(sock: socket.socket) -> None:
    """The listener closed a plain TCP connection (possibly after a TLS alert)."""
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        pytest.fail("the listener did not close the connection")
    except OSError:  # reset
        pass


def wait_for_log(caplog: pytest.LogCaptureFixture, *fragments: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for record in list(caplog.records):
            text = record.getMessage()
            if record.name == "vfl.transport" and all(f in text for f in fragments):
                return text
        time.sleep(0.01)
    pytest.fail(f"no log record containing {fragments}")


@pytest.fixture
def bound_port() -> Iterator[Callable[[], tuple[socket.socket, int]]]:
    """Ports that are bound but not listening (connections to them are refused)."""
    sockets: list[socket.socket] = []

    def reserve() -> tuple[socket.socket, int]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((LOCALHOST, 0))
        sockets.append(sock)
        return sock, sock.getsockname()[1]

    yield reserve
    for sock in sockets:
        sock.close()


# exchanging messages ----------------------------------------------------------------
def test_two_parties_exchange_messages_both_ways(make: Make) -> None:
    parties = mesh(make, ["alice", "bob"])
    alice, bob = parties["alice"], parties["bob"]
    assert isinstance(alice, Transport)
    assert alice.listen_address[1] != 0
    exchange(alice, bob)
    exchange(bob, alice)

    big = os.urandom(5 * (1 << 20) + 12345)  # six frames of at most 1 MiB
    alice.send("bob", big)
    assert bob.receive(WAIT) == ("alice", big)

    for i in range(500):
        bob.send("alice", b"small %d" % i)
    assert [alice.receive(WAIT) for _ in range(500)] == [
        ("bob", b"small %d" % i) for i in range(500)
    ]
    alice.send("bob", b"")
    assert bob.receive(WAIT) == ("alice", b"")


def test_three_parties(make: Make) -> None:
    names = ["alice", "bob", "carol"]
    parties = mesh(make, names, chunk_bytes=4096)
    payload = {n: os.urandom(100_000) + n.encode() for n in names}
    for name, transport in parties.items():
        for other in names:
            if other != name:
                transport.send(other, payload[name])
    for name, transport in parties.items():
        received = dict(transport.receive(WAIT) for _ in range(2))
        assert received == {o: payload[o] for o in names if o != name}


def test_connect_is_idempotent_and_validates_names(make: Make) -> None:
    parties = mesh(make, ["alice", "bob"])
    alice = parties["alice"]
    alice.connect(["bob"], timeout=WAIT)  # already connected: nothing to do
    exchange(alice, parties["bob"])
    with pytest.raises(TransportError, match="no address for 'zed'") as info:
        alice.connect(["zed"], timeout=1)
    assert info.value.peer == "zed"
    with pytest.raises(TransportError, match="unknown peer 'zed'"):
        alice.send("zed", b"x")


def test_send_before_connect_is_an_error(make: Make) -> None:
    alice = make("alice", {"bob": NOWHERE})
    with pytest.raises(TransportError, match="call connect") as info:
        alice.send("bob", b"x")
    assert info.value.peer == "bob"


# refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["no certificate", "not TLS"])
def test_clients_without_a_certificate_are_refused(
    make: Make,
    job: dict[str, PartyCredentials],
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    parties = mesh(make, ["alice", "bob"])
    alice = parties["alice"]
    if kind == "no certificate":
        with raw_client(alice.listen_address, None, job["alice"].ca) as sock:
            assert_refused(sock)
    else:
        with socket.create_connection(alice.listen_address, timeout=WAIT) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert_closed(sock)
    wait_for_log(caplog, "alice: refused connection", "TLS handshake failed")
    exchange(alice, parties["bob"])


def test_client_certificate_from_another_ca_is_refused(
    make: Make, foreign: dict[str, PartyCredentials], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    alice = make("alice", {"bob": NOWHERE})
    impostor = make("bob", {"alice": alice.listen_address}, creds=foreign["bob"])
    started = time.monotonic()
    with pytest.raises(PeerRefusedError, match=r"peer 'alice'.* refused the connection") as info:
        impostor.connect(["alice"], timeout=WAIT)
    assert info.value.peer == "alice"
    assert time.monotonic() - started < WAIT / 2  # not retried until the timeout
    wait_for_log(caplog, "alice: refused connection", "certificate verify failed")
    # the real bob is not locked out by the impostor
    bob = make("bob", {"alice": alice.listen_address})
    bob.connect(["alice"], timeout=WAIT)
    alice.set_peer_address("bob", bob.listen_address)
    alice.connect(["bob"], timeout=WAIT)
    exchange(alice, bob)


def test_job_certificate_of_a_non_party_is_refused(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    parties = mesh(make, ["alice", "bob"])
    alice = parties["alice"]
    mallory = make("mallory", {"alice": alice.listen_address})
    with pytest.raises(PeerRefusedError) as info:
        mallory.connect(["alice"], timeout=WAIT)
    assert info.value.peer == "alice"
    wait_for_log(caplog, "claiming 'mallory'", "not a peer of this job")
    exchange(alice, parties["bob"])


def test_second_connection_claiming_a_connected_name_is_refused(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    parties = mesh(make, ["alice", "bob"])
    alice, bob = parties["alice"], parties["bob"]
    twin = make("bob", {"alice": alice.listen_address})
    with pytest.raises(PeerRefusedError, match="connected as 'bob'") as info:
        twin.connect(["alice"], timeout=WAIT)
    assert info.value.peer == "alice"
    wait_for_log(caplog, "claiming 'bob'", "already open")
    exchange(alice, bob)
    exchange(bob, alice)


def test_client_refuses_a_listener_with_the_wrong_name(make: Make) -> None:
    parties = mesh(make, ["alice", "carol"])
    bob = make("bob", {"alice": parties["carol"].listen_address})  # carol answers
    started = time.monotonic()
    with pytest.raises(PeerRefusedError, match="certificate was rejected") as info:
        bob.connect(["alice"], timeout=WAIT)
    assert info.value.peer == "alice"
    assert "'alice'" in str(info.value)
    assert time.monotonic() - started < WAIT / 2
    exchange(parties["alice"], parties["carol"])


def test_client_refuses_a_listener_from_another_ca(
    make: Make, foreign: dict[str, PartyCredentials]
) -> None:
    impostor = make("alice", {"bob": NOWHERE}, creds=foreign["alice"])
    bob = make("bob", {"alice": impostor.listen_address})
    with pytest.raises(PeerRefusedError, match="certificate was rejected") as info:
        bob.connect(["alice"], timeout=WAIT)
    assert info.value.peer == "alice"


def test_idle_and_slow_clients_do_not_block_the_listener(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    alice = make("alice", {"bob": NOWHERE}, handshake_timeout=0.5)
    idle = [socket.create_connection(alice.listen_address, timeout=WAIT) for _ in range(3)]
    try:
        bob = make("bob", {"alice": alice.listen_address})
        bob.connect(["alice"], timeout=WAIT)
        bob.send("alice", b"through")
        assert alice.receive(WAIT) == ("bob", b"through")
        wait_for_log(caplog, "alice: refused connection", "TLS handshake failed")
        for sock in idle:
            assert_closed(sock)
    finally:
        for sock in idle:
            sock.close()


# connecting while peers start -----------------------------------------------------------
def test_connect_retries_until_the_peer_listens(
    make: Make, bound_port: Callable[[], tuple[socket.socket, int]]
) -> None:
    placeholder, port = bound_port()  # bound, not listening: connections are refused
    alice = make("alice", {"bob": (LOCALHOST, port)})
    errors: list[BaseException] = []
    done = threading.Event()

    def connect() -> None:
        try:
            alice.connect(["bob"], timeout=WAIT)
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=connect)
    thread.start()
    assert not done.wait(0.3)  # still retrying
    placeholder.close()
    bob = make("bob", {"alice": alice.listen_address}, listen=(LOCALHOST, port))
    thread.join(WAIT)
    assert not thread.is_alive()
    assert errors == []
    bob.connect(["alice"], timeout=WAIT)
    exchange(alice, bob)


def test_unreachable_peers_are_all_named(
    make: Make, bound_port: Callable[[], tuple[socket.socket, int]]
) -> None:
    (_, bob_port), (_, carol_port) = bound_port(), bound_port()
    alice = make("alice", {"bob": (LOCALHOST, bob_port), "carol": (LOCALHOST, carol_port)})
    started = time.monotonic()
    with pytest.raises(PeerUnavailableError, match=r"2 peer\(s\) within 0.5 s") as info:
        alice.connect(["bob", "carol"], timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5
    assert "'bob'" in str(info.value) and "'carol'" in str(info.value)
    assert info.value.peer == "bob"


# disconnections --------------------------------------------------------------------------
CRASHING_BOB = """
import sys, time
from pathlib import Path
from vfl.runtime.transport.tls import TlsTransport

certificate, private_key, ca, host, port = sys.argv[1:]
bob = TlsTransport("bob", listen=("127.0.0.1", 0), peers={"alice": (host, int(port))},
                   certificate=Path(certificate), private_key=Path(private_key), ca=Path(ca))
bob.connect(["alice"], timeout=20)
bob.send("alice", b"alive")
time.sleep(60)
"""


def test_killed_peer_is_reported_quickly(make: Make, job: dict[str, PartyCredentials]) -> None:
    alice = make("alice", {"bob": NOWHERE})
    host, port = alice.listen_address
    creds = job["bob"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASHING_BOB,
            str(creds.certificate),
            str(creds.private_key),
            str(creds.ca),
            host,
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            assert alice.receive(WAIT) == ("bob", b"alive")
        except PeerTimeoutError:
            process.kill()
            pytest.fail(f"bob did not start: {process.communicate()[1].decode()}")
        process.kill()
        process.wait(WAIT)
        started = time.monotonic()
        with pytest.raises(PeerDisconnectedError, match="without saying goodbye") as info:
            alice.receive(WAIT)
        assert info.value.peer == "bob"
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)
        if process.stderr is not None:
            process.stderr.close()


def test_socket_closed_without_goodbye_is_a_disconnection(
    make: Make, job: dict[str, PartyCredentials]
) -> None:
    alice = make("alice", {"bob": NOWHERE})
    sock = raw_client(alice.listen_address, job["bob"], job["bob"].ca)
    assert read_exactly(sock, len(ACCEPT)) == ACCEPT
    for frame in encode_message(b"hello"):
        sock.sendall(frame)
    sock.sendall(encode_frame(FrameType.CHUNK, b"half a mess"))
    sock.close()
    assert alice.receive(WAIT) == ("bob", b"hello")
    started = time.monotonic()
    with pytest.raises(PeerDisconnectedError) as info:
        alice.receive(WAIT)
    assert info.value.peer == "bob"
    assert time.monotonic() - started < 5
    # bob may come back after a crash
    bob = make("bob", {"alice": alice.listen_address})
    bob.connect(["alice"], timeout=WAIT)
    bob.send("alice", b"back")
    assert alice.receive(WAIT) == ("bob", b"back")


def test_clean_close_is_not_an_error(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vfl.transport")
    parties = mesh(make, ["alice", "bob", "carol"])
    alice, bob, carol = parties["alice"], parties["bob"], parties["carol"]
    bob.send("alice", b"last words")
    bob.close()
    bob.close()  # idempotent
    assert alice.receive(WAIT) == ("bob", b"last words")
    wait_for_log(caplog, "alice: 'bob' said goodbye")
    with pytest.raises(PeerTimeoutError, match=r"waited 0\.2 s, nothing arrived"):
        alice.receive(0.2)
    with pytest.raises(TransportError, match="said goodbye") as info:
        alice.send("bob", b"anyone?")
    assert not isinstance(info.value, PeerDisconnectedError)
    assert info.value.peer == "bob"
    exchange(alice, carol)
    with pytest.raises(TransportError, match="closed"):
        bob.send("alice", b"x")


def test_close_wakes_a_blocked_receive_and_never_hangs(make: Make) -> None:
    parties = mesh(make, ["alice", "bob"])
    alice = parties["alice"]
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            alice.receive(WAIT)
        except TransportError as error:
            errors.append(error)

    thread = threading.Thread(target=wait)
    thread.start()
    started = time.monotonic()
    alice.close()
    thread.join(WAIT)
    assert time.monotonic() - started < 5
    assert len(errors) == 1 and "closed" in str(errors[0])
    for call in (lambda: alice.receive(1), lambda: alice.connect(["bob"], 1)):
        with pytest.raises(TransportError, match="closed"):
            call()
    # bob saw a goodbye, not a crash
    with pytest.raises(PeerTimeoutError):
        parties["bob"].receive(0.5)


# hostile or oversized input --------------------------------------------------------------
def test_oversize_message_is_refused_and_others_keep_working(make: Make) -> None:
    limit = 64 * 1024
    alice = make("alice", {"bob": NOWHERE, "carol": NOWHERE}, max_message_bytes=limit)
    bob = make("bob", {"alice": alice.listen_address}, max_message_bytes=limit)
    carol = make("carol", {"alice": alice.listen_address})  # default, larger limit
    alice.set_peer_address("bob", bob.listen_address)
    alice.connect(["bob"], timeout=WAIT)
    bob.connect(["alice"], timeout=WAIT)
    carol.connect(["alice"], timeout=WAIT)

    with pytest.raises(MessageTooLargeError, match="over the 65536-byte limit") as info:
        bob.send("alice", bytes(limit + 1))  # refused by the sender: nothing sent
    assert info.value.peer == "alice"
    bob.send("alice", bytes(limit))
    assert alice.receive(WAIT) == ("bob", bytes(limit))

    with contextlib.suppress(TransportError):  # alice may drop the connection mid-send
        carol.send("alice", bytes(1 << 20))
    with pytest.raises(MessageTooLargeError, match="more than 65536 bytes") as received:
        alice.receive(WAIT)
    assert received.value.peer == "carol"
    exchange(alice, bob)


def test_garbage_from_an_authenticated_peer_drops_only_that_connection(
    make: Make, job: dict[str, PartyCredentials]
) -> None:
    alice = make("alice", {"bob": NOWHERE, "carol": NOWHERE})
    with raw_client(alice.listen_address, job["bob"], job["bob"].ca) as sock:
        assert read_exactly(sock, len(ACCEPT)) == ACCEPT
        sock.sendall(b"\xff" + os.urandom(200))
        with pytest.raises(TransportError, match="unknown frame type 255") as info:
            alice.receive(WAIT)
        assert type(info.value) is TransportError
        assert info.value.peer == "bob"
        assert_refused(sock)  # the connection was dropped
    carol = make("carol", {"alice": alice.listen_address})
    carol.connect(["alice"], timeout=WAIT)
    carol.send("alice", b"still serving")
    assert alice.receive(WAIT) == ("carol", b"still serving")
    bob = make("bob", {"alice": alice.listen_address})
    bob.connect(["alice"], timeout=WAIT)  # bob's name is free again
    bob.send("alice", b"bob again")
    assert alice.receive(WAIT) == ("bob", b"bob again")


# configuration errors ----------------------------------------------------------------------
def test_configuration_errors(make: Make, job: dict[str, PartyCredentials], tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="not this party 'alice'"):
        make("alice", {"bob": NOWHERE}, creds=job["bob"])
    wrong_key = PartyCredentials(job["alice"].certificate, job["bob"].private_key, job["alice"].ca)
    with pytest.raises(CertificateError, match="cannot load certificate"):
        make("alice", {"bob": NOWHERE}, creds=wrong_key)
    no_ca = PartyCredentials(job["alice"].certificate, job["alice"].private_key, tmp_path / "x")
    with pytest.raises(CertificateError, match="job CA"):
        make("alice", {"bob": NOWHERE}, creds=no_ca)
    with pytest.raises(ValueError, match="must not include this party"):
        make("alice", {"alice": NOWHERE})
    with pytest.raises(ValueError, match="invalid party name"):
        make("Alice", {}, creds=job["alice"])
    alice = make("alice", {"bob": NOWHERE})
    with pytest.raises(TransportError, match="cannot listen"):
        make("alice", {"bob": NOWHERE}, listen=alice.listen_address)
    with pytest.raises(TransportError, match="not a peer"):
        alice.set_peer_address("zed", NOWHERE)

"""TCP transport with mutual TLS 1.3: parties in separate processes or on separate machines.

Every party listens on one address and connects once to every peer.  A connection
carries messages in one direction only: the *outbound* connection a party opens to
a peer is written by the caller's thread (:meth:`TlsTransport.send`), the
*inbound* connection a peer opened is read by one reader thread, which puts whole
messages (or errors) into a single queue that :meth:`TlsTransport.receive` takes
from.

Identity
    Both sides present a certificate issued by the job CA (the only CA trusted) and
    verify the other's.  A party's name is its certificate's single DNS
    subjectAltName.  The client checks the listener's name against the peer it
    meant to reach (``check_hostname``); the listener accepts a client only if its
    name is one of its peers, and only one connection per name.  Refused clients
    are logged (logger ``vfl.transport``) and closed; the listener keeps serving.

Acceptance
    With TLS 1.3 a client finishes its handshake before the listener has checked
    the client certificate, so a client cannot tell from the handshake alone that
    it was accepted.  The listener therefore sends one ACCEPT frame
    (:mod:`vfl.runtime.transport.framing`) once it has accepted the client;
    :meth:`TlsTransport.connect` waits for it and reports
    :class:`~vfl.exceptions.PeerRefusedError` when the connection is closed
    instead.

Framing and limits
    Messages travel as frames of at most ``chunk_bytes`` (both sides must agree);
    a message over ``max_message_bytes`` is refused before it is read, and the
    connection is dropped.  Closing sends a GOODBYE frame; a connection that ends
    without one is reported as :class:`~vfl.exceptions.PeerDisconnectedError`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from vfl.certs import PARTY_NAME_PATTERN, certificate_names
from vfl.exceptions import (
    CertificateError,
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerRefusedError,
    PeerTimeoutError,
    PeerUnavailableError,
    TransportError,
)
from vfl.runtime.transport.base import DEFAULT_MAX_MESSAGE_BYTES, Transport
from vfl.runtime.transport.framing import (
    DEFAULT_CHUNK_BYTES,
    FrameType,
    encode_frame,
    read_frame,
    read_message,
    send_goodbye,
    send_message,
)

__all__ = ["TlsTransport"]

LOGGER = logging.getLogger("vfl.transport")

_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 1.0
_LISTENER_POLL = 0.5  # accept() wakes at least this often to notice close()
_GOODBYE_TIMEOUT = 2.0
_JOIN_TIMEOUT = 5.0
WAITING_LOG_INTERVAL = 5.0
"""Seconds between the INFO lines :meth:`TlsTransport.connect` logs while peers are missing."""
_CA_ADVICE = (
    "check that every party's tls.ca is the same job CA file and that each party's "
    "certificate was issued by that CA for its own name (vfl certs)"
)


def _handshake_cause(reason: str) -> str:
    """Plain words for a TLS handshake failure reason (which side rejected whom).

    Examples
    --------
    >>> _handshake_cause("TLSV1_ALERT_UNKNOWN_CA")
    'the other side rejected our certificate (TLSV1_ALERT_UNKNOWN_CA)'
    >>> _handshake_cause("certificate verify failed: self-signed certificate")
    'we rejected its certificate (certificate verify failed: self-signed certificate)'
    """
    upper = reason.upper()
    if (
        "ALERT_UNKNOWN_CA" in upper
        or "ALERT_BAD_CERTIFICATE" in upper
        or ("ALERT_CERTIFICATE" in upper or "ALERT_DECRYPT_ERROR" in upper)
    ):
        return f"the other side rejected our certificate ({reason})"
    if "CERTIFICATE VERIFY FAILED" in upper or "PEER DID NOT RETURN A CERTIFICATE" in upper:
        return f"we rejected its certificate ({reason})"
    return f"the TLS handshake failed ({reason})"


class _Closed:
    """Queue sentinel: the transport was closed."""


_CLOSED = _Closed()
_Item = tuple[str, bytes] | TransportError | _Closed


class _RetryableError(Exception):
    """A connection attempt failed in a way worth retrying (peer not listening yet)."""


def _set_nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not a TCP socket: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _dns_names(certificate: object) -> list[str]:
    """The DNS subjectAltNames of a certificate dict from ``SSLSocket.getpeercert()``."""
    if not isinstance(certificate, dict):
        return []
    entries = certificate.get("subjectAltName", ())
    if not isinstance(entries, tuple):
        return []
    names: list[str] = []
    for entry in entries:
        if (
            isinstance(entry, tuple)
            and len(entry) == 2
            and entry[0] == "DNS"
            and isinstance(entry[1], str)
        ):
            names.append(entry[1])
    return names


def _ssl_reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message or error}"
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)
    return str(error) or type(error).__name__


class _Connection:
    """A socket shared between the thread that uses it and :meth:`TlsTransport.close`.

    Only the owning thread reads or writes; other threads may only
    :meth:`shutdown` it (which wakes a blocked read or write) or :meth:`close` it
    once they hold the right to (the send lock, or after the owner finished).
    """

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.address = address
        self.peer: str | None = None
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False

    @property
    def sock(self) -> socket.socket:
        return self._sock

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def replace(self, sock: socket.socket) -> bool:
        """Swap in the TLS socket wrapping the raw one; ``False`` if already closed."""
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sock = sock
            return True

    def shutdown(self) -> None:
        """Shut the socket down both ways (wakes any thread blocked on it)."""
        with self._lock:
            if self._closed:
                return
            # the plain-socket method: SSLSocket.shutdown would drop its SSL object
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                self._sock.close()


class _Outbound:
    """The connection this party opened to a peer (write-only), and its send lock."""

    def __init__(self, connection: _Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()


class TlsTransport(Transport):
    """Mutual-TLS 1.3 transport over TCP; starts listening when created.

    Parameters
    ----------
    party : str
        This party's name; it must be the only DNS subjectAltName of ``certificate``.
    listen : tuple of (str, int)
        Address to listen on; port 0 picks a free port (see :attr:`listen_address`).
    peers : mapping of str to (str, int)
        Every peer's name and listening address.  Only these names may connect.
    certificate, private_key : pathlib.Path
        This party's certificate (PEM, issued by the job CA) and private key.
    ca : pathlib.Path
        The job CA certificate: the only CA trusted, for clients and listeners.
    max_message_bytes : int, default 512 MiB
        Largest message accepted from a peer (and sent to one).
    chunk_bytes : int, default 1 MiB
        Largest frame payload; every party of a job must use the same value.
    handshake_timeout : float, default 10.0
        Seconds allowed for a TLS handshake and its acceptance, either direction.
    send_timeout : float, default 60.0
        Socket timeout while sending (per frame): a stuck peer cannot block forever.
    max_pending_handshakes : int, default 64
        Inbound handshakes in progress at once; connections beyond are closed.
    waiting_log_interval : float, default 5.0
        Seconds between the INFO lines :meth:`connect` logs while peers are missing
        (each names the peers, their last error and any failed inbound handshake).

    Raises
    ------
    CertificateError
        If the certificate, key or CA cannot be loaded, or the certificate does
        not name ``party``.
    TransportError
        If the listening socket cannot be bound.
    ValueError
        If a party name, size limit or timeout is invalid, or ``peers`` names
        this party.

    Examples
    --------
    Two parties on one machine, on free loopback ports (each party normally runs
    in its own process, with its peers' fixed addresses):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from vfl.certs import create_job_certificates
    >>> folder = tempfile.TemporaryDirectory()
    >>> creds = create_job_certificates(Path(folder.name), ["bank-a", "bank-b"])
    >>> def start(party, peer):
    ...     return TlsTransport(party, listen=("127.0.0.1", 0), peers={peer: ("127.0.0.1", 0)},
    ...                         certificate=creds[party].certificate,
    ...                         private_key=creds[party].private_key, ca=creds[party].ca)
    >>> a, b = start("bank-a", "bank-b"), start("bank-b", "bank-a")
    >>> a.set_peer_address("bank-b", b.listen_address)
    >>> a.connect(["bank-b"], timeout=30)
    >>> a.send("bank-b", b"hello")
    >>> b.receive(timeout=30)  # the sender's name comes from its certificate
    ('bank-a', b'hello')
    >>> a.close(); b.close(); folder.cleanup()
    """

    def __init__(
        self,
        party: str,
        *,
        listen: tuple[str, int],
        peers: Mapping[str, tuple[str, int]],
        certificate: Path,
        private_key: Path,
        ca: Path,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        handshake_timeout: float = 10.0,
        send_timeout: float = 60.0,
        max_pending_handshakes: int = 64,
        waiting_log_interval: float = WAITING_LOG_INTERVAL,
    ) -> None:
        if not isinstance(party, str) or not PARTY_NAME_PATTERN.fullmatch(party):
            raise ValueError(
                f"invalid party name {party!r}: use 1-63 lowercase letters, digits or '-', "
                "starting with a letter"
            )
        bad = [name for name in peers if not PARTY_NAME_PATTERN.fullmatch(name)]
        if bad:
            raise ValueError(f"invalid peer names: {', '.join(map(repr, bad))}")
        if party in peers:
            raise ValueError(f"peers must not include this party {party!r}")
        if max_message_bytes < 0:
            raise ValueError(f"max_message_bytes must be >= 0, got {max_message_bytes}")
        if not 1 <= chunk_bytes < 1 << 32:
            raise ValueError(f"chunk_bytes must be in [1, 2**32), got {chunk_bytes}")
        if handshake_timeout <= 0 or send_timeout <= 0 or max_pending_handshakes < 1:
            raise ValueError("timeouts and max_pending_handshakes must be positive")
        self.party = party
        self.max_message_bytes = max_message_bytes
        self.chunk_bytes = chunk_bytes
        self._peers = {name: (str(host), int(port)) for name, (host, port) in peers.items()}
        self._handshake_timeout = float(handshake_timeout)
        self._send_timeout = float(send_timeout)
        self._waiting_log_interval = float(waiting_log_interval)

        names = certificate_names(Path(certificate))
        if names != [party]:
            raise CertificateError(
                f"certificate {certificate} names {names or 'nobody'} (DNS subjectAltName), "
                f"not this party {party!r}; use {party!r}'s own certificate"
            )
        self._server_context = self._context(
            ssl.PROTOCOL_TLS_SERVER, Path(certificate), Path(private_key), Path(ca)
        )
        self._server_context.verify_mode = ssl.CERT_REQUIRED
        self._server_context.num_tickets = 0
        self._client_context = self._context(
            ssl.PROTOCOL_TLS_CLIENT, Path(certificate), Path(private_key), Path(ca)
        )
        self._client_context.check_hostname = True
        self._client_context.verify_mode = ssl.CERT_REQUIRED

        self._queue: queue.Queue[_Item] = queue.Queue()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._outbound: dict[str, _Outbound] = {}
        self._inbound: dict[str, _Connection] = {}
        self._connections: set[_Connection] = set()
        self._threads: set[threading.Thread] = set()
        self._said_goodbye: set[str] = set()
        self._rejected_handshakes: list[str] = []
        """Inbound TLS handshakes that failed (client address and cause), newest last."""
        self._handshake_slots = threading.BoundedSemaphore(max_pending_handshakes)

        family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
        self._listener_lock = threading.Lock()
        try:
            self._listener = socket.create_server(listen, family=family, backlog=128)
        except (OSError, OverflowError) as error:
            raise TransportError(
                f"{party!r} cannot listen on {listen[0]}:{listen[1]}: {error}"
            ) from error
        self._listener.settimeout(_LISTENER_POLL)
        host, port = self._listener.getsockname()[:2]
        self._listen_address: tuple[str, int] = (str(host), int(port))
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"vfl-{party}-accept", daemon=True
        )
        self._accept_thread.start()

    @staticmethod
    def _context(protocol: int, certificate: Path, private_key: Path, ca: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(protocol)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        try:
            context.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as error:
            raise CertificateError(f"cannot load the job CA certificate {ca}: {error}") from error
        try:
            context.load_cert_chain(str(certificate), str(private_key))
        except (OSError, ssl.SSLError) as error:
            raise CertificateError(
                f"cannot load certificate {certificate} with key {private_key} "
                f"(missing file, not PEM, or a key of another certificate): {error}"
            ) from error
        return context

    @property
    def listen_address(self) -> tuple[str, int]:
        """The bound ``(host, port)`` (the real port when 0 was asked for)."""
        return self._listen_address

    @property
    def peers(self) -> dict[str, tuple[str, int]]:
        """Every peer's name and address (a copy)."""
        with self._lock:
            return dict(self._peers)

    def set_peer_address(self, peer: str, address: tuple[str, int]) -> None:
        """Change where ``peer`` listens (e.g. once a peer started on port 0 knows its port).

        Only the address changes: the set of peers allowed to connect is fixed.

        Parameters
        ----------
        peer : str
            One of this transport's peers.
        address : tuple of (str, int)
            Its new ``(host, port)``.

        Raises
        ------
        TransportError
            If ``peer`` is not one of this transport's peers.
        """
        if peer not in self._peers:
            raise TransportError(f"{peer!r} is not a peer of {self.party!r}", peer)
        host, port = address
        with self._lock:
            self._peers[peer] = (str(host), int(port))

    def __repr__(self) -> str:
        host, port = self._listen_address
        return f"TlsTransport(party={self.party!r}, listen={host}:{port})"

    # threads -------------------------------------------------------------------------
    def _start_thread(
        self, name: str, target: Callable[[_Connection], None], connection: _Connection
    ) -> bool:
        """Start a registered daemon thread unless closing; whether it started."""

        def run() -> None:
            try:
                target(connection)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            if self._closing.is_set():
                return False
            self._threads.add(thread)
        thread.start()
        return True

    # listening -----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        try:
            while not self._closing.is_set():
                try:
                    raw, address = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError as error:
                    if self._closing.is_set():
                        break
                    LOGGER.warning("%s: accept() failed: %s", self.party, error)
                    self._closing.wait(0.1)
                    continue
                where = f"{address[0]}:{address[1]}"
                if not self._handshake_slots.acquire(blocking=False):
                    LOGGER.warning(
                        "%s: refused connection from %s: too many handshakes in progress",
                        self.party,
                        where,
                    )
                    raw.close()
                    continue
                connection = _Connection(raw, where)
                with self._lock:
                    registered = not self._closing.is_set()
                    if registered:
                        self._connections.add(connection)
                if not registered or not self._start_thread(
                    f"vfl-{self.party}-inbound", self._serve_inbound, connection
                ):
                    self._handshake_slots.release()
                    self._forget(connection)
                    break
        finally:
            with self._listener_lock:
                self._listener.close()

    def _forget(self, connection: _Connection) -> None:
        connection.close()
        with self._lock:
            self._connections.discard(connection)
            if connection.peer is not None and self._inbound.get(connection.peer) is connection:
                del self._inbound[connection.peer]

    def _refuse(self, connection: _Connection, reason: str, claimed: str | None = None) -> None:
        if not self._closing.is_set():
            claim = f" claiming {claimed!r}" if claimed is not None else ""
            LOGGER.warning(
                "%s: refused connection from %s%s: %s",
                self.party,
                connection.address,
                claim,
                reason,
            )

    def _handshake_failed(self, connection: _Connection, error: BaseException) -> None:
        """Log an inbound TLS handshake failure at ERROR and remember it for connect()."""
        if self._closing.is_set():
            return
        cause = _handshake_cause(_ssl_reason(error))
        with self._lock:
            self._rejected_handshakes.append(f"a client at {connection.address}: {cause}")
            del self._rejected_handshakes[:-5]
        LOGGER.error(
            "%s: refused connection from %s: TLS handshake failed (%s): %s; if it was a "
            "party of this job, %s",
            self.party,
            connection.address,
            _ssl_reason(error),
            cause,
            _CA_ADVICE,
        )

    def _handshake_note(self) -> str:
        """``"; TLS handshakes failed: ..."`` for the errors of connect(), or ``""``."""
        with self._lock:
            rejected = list(self._rejected_handshakes)
        if not rejected:
            return ""
        return (
            f"; meanwhile TLS handshakes with {self.party!r} failed ({'; '.join(rejected)}): "
            f"a peer may have stopped because of it; {_CA_ADVICE}"
        )

    def _serve_inbound(self, connection: _Connection) -> None:
        outcome: TransportError | None = None
        peer: str | None = None
        try:
            try:
                peer = self._accept_peer(connection)
            finally:
                self._handshake_slots.release()
            if peer is not None:
                outcome = self._read_loop(connection, peer)
        except Exception as error:  # a bug must still surface in receive(), naming the peer
            LOGGER.exception("%s: connection from %r failed", self.party, peer)
            if peer is not None:
                outcome = TransportError(
                    f"reading from {peer!r} failed unexpectedly: {error!r}", peer
                )
        finally:
            # forget the connection first, so that the peer may reconnect at once
            self._forget(connection)
            if outcome is not None and not self._closing.is_set():
                self._queue.put(outcome)

    def _accept_peer(self, connection: _Connection) -> str | None:
        """Handshake, check the client's name, register it and send ACCEPT; its name or None."""
        raw = connection.sock
        try:
            _set_nodelay(raw)
            raw.settimeout(self._handshake_timeout)
            tls = self._server_context.wrap_socket(
                raw, server_side=True, do_handshake_on_connect=False
            )
            if not connection.replace(tls) or self._closing.is_set():
                return None
            tls.do_handshake()
        except (ssl.SSLError, OSError) as error:
            self._handshake_failed(connection, error)
            return None
        names = _dns_names(tls.getpeercert())
        if len(names) != 1:
            self._refuse(
                connection,
                f"its certificate has {len(names)} DNS names {names} (exactly one expected)",
            )
            return None
        name = names[0]
        if name == self.party:
            self._refuse(connection, "it claims to be this party", name)
            return None
        if name not in self._peers:
            self._refuse(
                connection,
                f"{name!r} is not a peer of this job (peers: {', '.join(sorted(self._peers))})",
                name,
            )
            return None
        with self._lock:
            if self._closing.is_set():
                return None
            if name in self._inbound:
                duplicate = True
            else:
                duplicate = False
                self._inbound[name] = connection
                connection.peer = name
                self._said_goodbye.discard(name)
        if duplicate:
            self._refuse(connection, "a connection from this peer is already open", name)
            return None
        try:
            tls.sendall(encode_frame(FrameType.ACCEPT))
            tls.settimeout(None)
        except OSError as error:
            self._refuse(connection, f"could not confirm acceptance ({error})", name)
            return None
        LOGGER.info("%s: accepted connection from %r at %s", self.party, name, connection.address)
        return name

    def _read_loop(self, connection: _Connection, peer: str) -> TransportError | None:
        """Queue ``peer``'s messages; the error that ended the connection (None if clean)."""
        stream = connection.sock
        while True:
            try:
                message = read_message(
                    stream,
                    max_message_bytes=self.max_message_bytes,
                    chunk_bytes=self.chunk_bytes,
                    peer=peer,
                )
            except TransportError as error:
                if self._closing.is_set():
                    return None
                LOGGER.warning("%s: dropped the connection from %r: %s", self.party, peer, error)
                return error
            if message is None:
                LOGGER.info("%s: %r said goodbye", self.party, peer)
                with self._lock:
                    self._said_goodbye.add(peer)
                return None
            self._queue.put((peer, message))

    # connecting ----------------------------------------------------------------------
    def connect(self, peers: Sequence[str], timeout: float) -> None:
        """Open the outbound connection to each peer, retrying while peers start.

        Attempts to a peer that is not listening yet are repeated with exponential
        backoff (0.05 s doubling to 1 s) until ``timeout``.  Peers already
        connected are skipped.

        Parameters
        ----------
        peers : sequence of str
            Names from the ``peers`` mapping.
        timeout : float
            Seconds to reach them all.

        Raises
        ------
        PeerUnavailableError
            Naming every peer still unreachable after ``timeout`` (``peer`` is the
            first of them).
        PeerRefusedError
            If a peer's certificate fails verification (another CA, another name),
            or the peer refused this party (closed the connection instead of
            accepting it).  Not retried.
        PeerDisconnectedError
            If a peer still being dialled has already connected to this party and
            said goodbye (it stopped, e.g. on bad input: its abort is queued).
        TransportError
            If a name is not in ``peers``, the peer spoke something else than this
            protocol, or this transport is closed.
        """
        self._check_open()
        unknown = [p for p in peers if p not in self._peers]
        if unknown:
            raise TransportError(
                f"{self.party!r} has no address for {', '.join(map(repr, unknown))} "
                f"(known peers: {', '.join(sorted(self._peers)) or 'none'})",
                unknown[0],
            )
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            pending = [p for p in dict.fromkeys(peers) if p not in self._outbound]
        delay = dict.fromkeys(pending, _FIRST_RETRY_DELAY)
        next_try = dict.fromkeys(pending, 0.0)
        last_error: dict[str, str] = {}
        started = time.monotonic()
        next_report = started + self._waiting_log_interval
        while pending:
            for peer in list(pending):
                if time.monotonic() < next_try[peer]:
                    continue
                try:
                    connection = self._open(peer, deadline)
                except _RetryableError as error:
                    with self._lock:
                        left = peer in self._said_goodbye
                    if left:  # it reached us and has already stopped: waiting is pointless
                        raise PeerDisconnectedError(
                            f"{peer!r} connected to {self.party!r} and stopped again before "
                            f"{self.party!r} could reach it ({error})",
                            peer,
                        ) from None
                    last_error[peer] = str(error)
                    next_try[peer] = time.monotonic() + delay[peer]
                    delay[peer] = min(2 * delay[peer], _MAX_RETRY_DELAY)
                    continue
                with self._lock:
                    closing = self._closing.is_set()
                    if not closing:
                        self._outbound[peer] = _Outbound(connection)
                        self._said_goodbye.discard(peer)  # it is back (restarted)
                if closing:
                    connection.close()
                    self._check_open()
                pending.remove(peer)
            if not pending:
                break
            now = time.monotonic()
            details = "; ".join(
                f"{p!r} at {self._where(p)} ({last_error.get(p, 'not tried')})" for p in pending
            )
            if now >= deadline:
                raise PeerUnavailableError(
                    f"{self.party!r} could not reach {len(pending)} peer(s) within "
                    f"{timeout:g} s: {details}{self._handshake_note()}",
                    pending[0],
                )
            if now >= next_report:
                next_report = now + self._waiting_log_interval
                LOGGER.info(
                    "%s: waiting for %d peer(s), %.0f s of %g s: %s%s",
                    self.party,
                    len(pending),
                    now - started,
                    timeout,
                    details,
                    self._handshake_note(),
                )
            wake = min(*(next_try[p] for p in pending), next_report)
            if self._closing.wait(max(0.0, min(wake, deadline) - now)):
                self._check_open()

    def _stopped(self, peer: str, wait: float = 1.0) -> bool:
        """Whether ``peer``, which closed a connection instead of accepting it, has stopped.

        A party that fails early (bad data, say) sends its abort and goodbye on its own
        connection, then closes the connections still being accepted.  If ``peer`` had
        connected to this party, its goodbye is awaited for up to ``wait`` seconds:
        then it is a stopped party (its abort is queued), not an identity refusal.
        """
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if peer in self._said_goodbye:
                    return True
                connected = peer in self._inbound
            if not connected or time.monotonic() >= deadline or self._closing.is_set():
                return False
            self._closing.wait(0.01)

    def _address(self, peer: str) -> tuple[str, int]:
        with self._lock:
            return self._peers[peer]

    def _where(self, peer: str) -> str:
        host, port = self._address(peer)
        return f"{host}:{port}"

    def _open(self, peer: str, deadline: float) -> _Connection:
        """One attempt at an accepted outbound connection to ``peer``."""
        host, port = self._address(peer)
        where = f"{host}:{port}"
        attempt_timeout = max(0.05, min(self._handshake_timeout, deadline - time.monotonic()))
        try:
            raw = socket.create_connection((host, port), timeout=attempt_timeout)
        except OSError as error:
            raise _RetryableError(str(error) or type(error).__name__) from error
        _set_nodelay(raw)
        try:
            tls = self._client_context.wrap_socket(raw, server_hostname=peer)
        except ssl.SSLCertVerificationError as error:
            raw.close()
            raise PeerRefusedError(
                f"{self.party!r} refused peer {peer!r} at {where}: the TLS handshake failed, "
                f"its certificate was rejected ({_ssl_reason(error)}); it must be issued by "
                f"this job's CA for the name {peer!r}; {_CA_ADVICE}",
                peer,
            ) from error
        except ssl.SSLEOFError as error:
            raw.close()
            raise _RetryableError(
                f"connection closed during the TLS handshake ({error})"
            ) from error
        except ssl.SSLError as error:
            raw.close()
            raise PeerRefusedError(
                f"TLS handshake between {self.party!r} and peer {peer!r} at {where} failed: "
                f"{_handshake_cause(_ssl_reason(error))}; {_CA_ADVICE}",
                peer,
            ) from error
        except OSError as error:  # timeouts, resets while the peer is busy or starting
            raw.close()
            raise _RetryableError(
                f"TLS handshake failed ({error or type(error).__name__})"
            ) from error
        connection = _Connection(tls, where)
        try:
            names = _dns_names(tls.getpeercert())
            if names != [peer]:
                raise PeerRefusedError(
                    f"{self.party!r} refused peer {peer!r} at {where}: its certificate names "
                    f"{names} (exactly [{peer!r}] expected)",
                    peer,
                )
            try:
                frame_type, _ = read_frame(tls, chunk_bytes=1, peer=peer)
            except PeerTimeoutError as error:
                raise _RetryableError(
                    f"no answer to the TLS handshake within {attempt_timeout:g} s"
                ) from error
            except PeerDisconnectedError as error:
                cause = error.__cause__
                if cause is None and self._stopped(peer):
                    raise PeerDisconnectedError(
                        f"{peer!r} stopped before accepting the connection from "
                        f"{self.party!r} (its own connection to {self.party!r} said goodbye)",
                        peer,
                    ) from error
                if isinstance(cause, ssl.SSLError):
                    raise PeerRefusedError(
                        f"peer {peer!r} at {where} refused the connection from "
                        f"{self.party!r}: the TLS handshake failed, {peer!r} rejected the "
                        f"certificate of {self.party!r} ({_ssl_reason(cause)}); {_CA_ADVICE}",
                        peer,
                    ) from error
                reason = _ssl_reason(cause) if cause is not None else "connection closed"
                raise PeerRefusedError(
                    f"peer {peer!r} at {where} refused the connection from {self.party!r} "
                    f"({reason}); check that {self.party!r} is a party of its job, that its "
                    "certificate was issued by the job CA, and that no other process is "
                    f"connected as {self.party!r}",
                    peer,
                ) from error
            except TransportError as error:
                raise TransportError(
                    f"peer {peer!r} at {where} does not speak this protocol: {error}", peer
                ) from error
            if frame_type is not FrameType.ACCEPT:
                raise TransportError(
                    f"peer {peer!r} at {where} sent a {frame_type.name} frame instead of "
                    "accepting the connection",
                    peer,
                )
            tls.settimeout(self._send_timeout)
        except BaseException:
            connection.close()
            raise
        LOGGER.info("%s: connected to %r at %s", self.party, peer, where)
        return connection

    # messages ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closing.is_set():
            raise TransportError(f"transport of {self.party!r} is closed")

    def send(self, peer: str, message: bytes) -> None:
        """Send one message to ``peer`` over the outbound connection (chunked).

        Parameters
        ----------
        peer : str
            A connected peer (see :meth:`connect`).
        message : bytes
            The encoded message.

        Raises
        ------
        MessageTooLargeError
            If ``message`` is over ``max_message_bytes`` (nothing is sent).
        PeerDisconnectedError
            If the connection broke (it is dropped; :meth:`connect` may reopen it).
        TransportError
            If ``peer`` is unknown or not connected, said goodbye, sending timed
            out, or this transport is closed.
        """
        self._check_open()
        if peer not in self._peers:
            raise TransportError(f"{self.party!r} cannot send to unknown peer {peer!r}", peer)
        if len(message) > self.max_message_bytes:
            raise MessageTooLargeError(
                f"message of {len(message)} bytes to {peer!r} is over the "
                f"{self.max_message_bytes}-byte limit; raise max_message_bytes on both sides "
                "if such messages are expected",
                peer,
            )
        with self._lock:
            outbound = self._outbound.get(peer)
            gone = peer in self._said_goodbye
        if gone:
            if outbound is not None:
                self._drop_outbound(peer, outbound, locked=False)
            raise TransportError(f"peer {peer!r} has closed its connection (said goodbye)", peer)
        if outbound is None:
            raise TransportError(
                f"{self.party!r} is not connected to {peer!r}: call connect() first "
                "(or the connection was lost earlier)",
                peer,
            )
        with outbound.lock:
            connection = outbound.connection
            if connection.closed:
                raise TransportError(f"connection to {peer!r} is closed", peer)
            try:
                send_message(connection.sock, message, chunk_bytes=self.chunk_bytes)
            except TimeoutError as error:
                self._drop_outbound(peer, outbound, locked=True)
                raise TransportError(
                    f"sending to {peer!r} timed out after {self._send_timeout:g} s (peer stuck "
                    "or network down); connection dropped",
                    peer,
                ) from error
            except OSError as error:
                self._drop_outbound(peer, outbound, locked=True)
                with self._lock:
                    gone = peer in self._said_goodbye
                if gone:
                    raise TransportError(
                        f"peer {peer!r} has closed its connection (said goodbye)", peer
                    ) from error
                if self._closing.is_set():
                    raise TransportError(f"transport of {self.party!r} is closed", peer) from error
                raise PeerDisconnectedError(
                    f"lost the connection to {peer!r} while sending ({error}); "
                    "it crashed, was killed or closed",
                    peer,
                ) from error

    def _drop_outbound(self, peer: str, outbound: _Outbound, *, locked: bool) -> None:
        """Forget a broken outbound connection; ``locked``: the caller holds its send lock."""
        with self._lock:
            if self._outbound.get(peer) is outbound:
                del self._outbound[peer]
        if locked:
            outbound.connection.close()
        elif outbound.lock.acquire(blocking=False):
            try:
                outbound.connection.close()
            finally:
                outbound.lock.release()
        else:  # a sender is using it: make its send fail, it will close the socket
            outbound.connection.shutdown()

    def receive(self, timeout: float) -> tuple[str, bytes]:
        """The next message from any peer: ``(sender, message)``, in arrival order per peer.

        Parameters
        ----------
        timeout : float
            Seconds to wait.

        Returns
        -------
        tuple of (str, bytes)
            The sender's certified name and the message.

        Raises
        ------
        PeerTimeoutError
            If nothing arrives within ``timeout`` seconds.
        PeerDisconnectedError
            If a peer's connection ended without a goodbye (after its earlier
            messages were returned).
        MessageTooLargeError
            If a peer sent more than ``max_message_bytes`` (its connection is dropped).
        TransportError
            If a peer broke the framing (its connection is dropped), or this
            transport is (or gets) closed.
        """
        self._check_open()
        try:
            item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            raise PeerTimeoutError(
                f"{self.party!r} waited {timeout:g} s, nothing arrived"
            ) from None
        if isinstance(item, _Closed):
            self._queue.put(item)  # wake any other waiting thread too
            self._check_open()
            raise TransportError(f"transport of {self.party!r} is closed")  # pragma: no cover
        if isinstance(item, TransportError):
            raise item
        return item

    # closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Say goodbye on every outbound connection, stop listening, join threads (idempotent).

        Never blocks for long: a peer that does not take the goodbye within 2 s is
        simply disconnected, and threads are joined with a timeout.
        """
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
            outbound = list(self._outbound.values())
            self._outbound.clear()
            connections = list(self._connections)
        self._queue.put(_CLOSED)  # wakes a receive() blocked in another thread
        for out in outbound:
            if out.lock.acquire(timeout=_GOODBYE_TIMEOUT):
                try:
                    out.connection.sock.settimeout(_GOODBYE_TIMEOUT)
                    send_goodbye(out.connection.sock)
                except OSError:
                    pass
                finally:
                    out.connection.close()
                    out.lock.release()
            else:  # another thread is stuck sending: wake it, it will fail
                out.connection.shutdown()
        with self._listener_lock, contextlib.suppress(OSError):
            socket.socket.shutdown(self._listener, socket.SHUT_RDWR)  # wakes accept()
        for connection in connections:
            connection.shutdown()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

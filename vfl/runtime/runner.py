"""The only I/O around protocol roles: drives them over a transport.

A :class:`Session` is one party's connection to its peers for a whole job.  It runs
the job's steps one after the other (:meth:`Session.run`), each as a sans-IO
:class:`~protocols.roles.Role` moved by the shared message pump
(:func:`protocols.pump.deliver_until_done`, as in-process runs are): it sends what
the role returns, decodes and checks every incoming frame (codec validation, the
sender matches the authenticated connection, the receiver is this party, the job and
step match), and hands it to the role.  On any failure it tells every peer
(:class:`~protocols.messages.Abort`) and raises; a peer's abort, disappearance or
silence becomes an error naming it.

Messages of step ``i`` carry the job id ``"<job id>#<i>"``; a message for the next
step that overtakes the end of the current one is held (bounded) until that step
starts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from protocols import pump
from protocols.exceptions import ProtocolError
from protocols.messages import Abort, Message
from protocols.roles import Role
from vfl.exceptions import (
    CodecError,
    PeerAbortedError,
    PeerDisconnectedError,
    PeerTimeoutError,
    TransportError,
    VflError,
)
from vfl.runtime import codec
from vfl.runtime.files import write_json_atomically
from vfl.runtime.logs import event
from vfl.runtime.progress import EpochLog, Progress, log_training_estimate, resolve_style
from vfl.runtime.transcript import TranscriptEntry
from vfl.runtime.transport.base import Transport

__all__ = ["PEERS_FILE_NAME", "RunSettings", "Session", "step_job_id"]

LOGGER = logging.getLogger("vfl.runner")
MAX_HELD_MESSAGES = 256
PEERS_FILE_NAME = "peers.json"
"""The peers' connection state in a party's output folder (``Session(peers_file=...)``)."""


def step_job_id(job_id: str, step: int) -> str:
    """The job id carried by the messages of step ``step``."""
    return f"{job_id}#{step}"


@dataclass(frozen=True)
class RunSettings:
    """Limits of one party's run."""

    timeout: float = 60.0
    connect_timeout: float = 30.0
    max_message_bytes: int = 512 * 1024 * 1024
    allow_weak_keys: bool = False


class Session:
    """One party's run of a job over a transport.

    Parameters
    ----------
    transport : Transport
        Connected (or about to be) to the peers.
    party : str
        This party's name.
    job_id : str
        The job's id.
    peers : sequence of str
        Every other party of the job.
    settings : RunSettings
        Timeouts and limits.
    show_progress : bool or {"auto", "bar", "lines", "none"}, optional
        Progress display (:mod:`vfl.runtime.progress`); ``None``/``"auto"``: a bar when
        stderr is a terminal, nothing otherwise; ``True`` is ``"bar"``, ``False``
        ``"none"``.
    recorder : callable, optional
        Called with a :class:`~vfl.transcript.TranscriptEntry` for every message
        sent (after encoding) and received (after validation).
    peers_file : pathlib.Path, optional
        A status file (``<output>/<party>/peers.json``) rewritten atomically when the
        peers' connection state changes: ``{"job", "party", "peers": {name: {"state",
        "time"}}}``, states ``connecting``, ``connected``, ``closed`` (said goodbye),
        ``lost`` (hung up or unreachable) and ``aborted``; names and UTC times only.
    """

    def __init__(
        self,
        transport: Transport,
        party: str,
        job_id: str,
        peers: Sequence[str],
        settings: RunSettings,
        *,
        show_progress: bool | str | None = None,
        recorder: Callable[[TranscriptEntry], None] | None = None,
        peers_file: Path | None = None,
    ) -> None:
        self.transport = transport
        self.peers_file = peers_file
        self._peer_states: dict[str, dict[str, str]] = {}
        self.recorder = recorder
        self.party = party
        self.job_id = job_id
        self.peers = tuple(peers)
        self.settings = settings
        self.keyring = codec.Keyring()
        self.progress_style = resolve_style(show_progress)
        self.show_progress = self.progress_style != "none"
        self._held: deque[tuple[str, Message]] = deque()
        self._gone: set[str] = set()
        self._step = -1

    # lifecycle ---------------------------------------------------------------------
    def _peer_state(self, state: str, peers: Sequence[str] | None = None) -> None:
        """Record ``state`` for ``peers`` (all, by default) in :attr:`peers_file`.

        A peer already ``lost`` or ``aborted`` keeps that state; a file that cannot be
        written is skipped (it is a status display, never worth stopping the job).
        """
        if self.peers_file is None:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        for peer in self.peers if peers is None else peers:
            if self._peer_states.get(peer, {}).get("state") not in ("lost", "aborted"):
                self._peer_states[peer] = {"state": state, "time": now}
        document = {"job": self.job_id, "party": self.party, "peers": self._peer_states}
        with contextlib.suppress(OSError):
            write_json_atomically(self.peers_file, document)

    def open(self) -> None:
        """Reach every peer (retrying while they start)."""
        started = time.perf_counter()
        self._peer_state("connecting")
        event(
            LOGGER,
            "connecting",
            party=self.party,
            peers=",".join(self.peers),
            timeout=f"{self.settings.connect_timeout:g}",
        )
        try:
            self.transport.connect(self.peers, self.settings.connect_timeout)
        except PeerDisconnectedError as error:
            raise self._explain(error) from error  # its abort says why, if it sent one
        self._peer_state("connected")
        event(
            LOGGER,
            "connected",
            party=self.party,
            peers=",".join(self.peers),
            seconds=f"{time.perf_counter() - started:.2f}",
        )

    def close(self) -> None:
        """Say goodbye to the peers."""
        self.transport.close()
        never = [p for p in self.peers if self._peer_states.get(p, {}).get("state") == "connecting"]
        self._peer_state("lost", never)  # never reached
        self._peer_state("closed", [p for p in self.peers if p not in never])

    def __enter__(self) -> Session:
        try:
            self.open()
        except BaseException as error:  # tell whoever is reachable, stop our threads
            self.abort(error)
            self.close()
            raise
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if exc is not None:
            self.abort(exc)
        self.close()

    def abort(self, error: BaseException) -> None:
        """Tell every reachable peer that this party stops, and why (one data-free line)."""
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        if isinstance(error, PeerAbortedError):
            self._peer_state("aborted", [error.peer])
            return  # the job is already over for everyone
        # a peer that hung up cannot hear us; one that sent something invalid (an
        # oversized or malformed frame, a timeout waiting for it) must be told
        dead = error.peer if isinstance(error, PeerDisconnectedError) else None
        self._peer_state("lost", [peer for peer in self.peers if peer in {dead, *self._gone}])
        for peer in self.peers:
            if peer == dead or peer in self._gone:
                continue
            message = Abort(
                job_id=step_job_id(self.job_id, max(self._step, 0)),
                sender=self.party,
                receiver=peer,
                reason=reason,
            )
            try:
                self.transport.send(peer, codec.encode(message))
            except (TransportError, OSError):
                self._gone.add(peer)
        event(LOGGER, "aborted", logging.ERROR, party=self.party, reason=reason)

    # running a step ------------------------------------------------------------------
    def run(
        self,
        role: Role,
        step: int,
        label: str,
        *,
        after_each: Callable[[Role], None] | None = None,
    ) -> Any:
        """Run ``role`` to completion as step ``step``; return its result.

        ``after_each``, if given, is called with the role after each message it
        handled (those held from an earlier step included) and each piece of work it
        did (for example to checkpoint it).

        Raises
        ------
        PeerTimeoutError, PeerDisconnectedError, PeerAbortedError, TransportError
            Naming the peer.
        CodecError, ProtocolError
            When a peer sent something invalid.
        """
        if role.job_id != step_job_id(self.job_id, step):
            raise ValueError(f"role job id {role.job_id!r} does not match step {step}")
        self._step = step
        log_training_estimate(role, self.party, step, label)
        started = time.perf_counter()
        progress = Progress(
            f"{self.party}: {label}",
            role.progress[1],
            self.progress_style,
            bounded=hasattr(role, "history"),  # training: may stop before max_iter
        )
        epochs = EpochLog(self.party, step, label)
        held = deque(message for _, message in self._take_held(role.job_id))

        def next_event() -> pump.Event | None:
            if held:  # messages of this step that came during the previous one
                return self._accept(held.popleft())
            while not role.done:
                incoming = self._poll() if role.has_work else self._next_message(role)
                if incoming is None:
                    return pump.Work(self.party)
                sender, message = incoming
                if message.job_id == role.job_id:
                    return self._accept(message)
                self._hold(sender, message, step)
            return None

        def handled(_: Role) -> None:
            epochs.update(role)
            progress.update(*role.progress)
            if after_each is not None:
                after_each(role)

        try:
            pump.deliver_until_done(
                {self.party: role}, self._send, next_event, receivers=self.peers, after_each=handled
            )
        finally:
            progress.close()
        event(
            LOGGER,
            "step finished",
            party=self.party,
            step=step,
            type=label,
            seconds=f"{time.perf_counter() - started:.2f}",
        )
        return role.result

    def _accept(self, message: Message) -> pump.Deliver:
        self.keyring.remember(message)
        return pump.Deliver(message)

    def _send(self, message: Message) -> None:
        frame = codec.encode(message)
        self.keyring.remember(message)
        if self.recorder is not None:
            self.recorder(
                TranscriptEntry("sent", self.party, message.receiver, self._step, frame, message)
            )
        try:
            self.transport.send(message.receiver, frame)
        except TransportError as error:
            raise self._explain(error) from error
        event(
            LOGGER,
            "sent",
            logging.DEBUG,
            party=self.party,
            peer=message.receiver,
            kind=message.kind.name,
            round=message.round,
            batch=message.batch,
            bytes=len(frame),
        )

    def _explain(self, error: TransportError, wait: float = 1.0) -> BaseException:
        """The root cause of a failed send, if the peers already told us.

        A send fails when the peer has gone; usually that peer first sent an abort or
        saw another peer disappear, and that explanation is waiting in our queue.
        """
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                sender, frame = self.transport.receive(remaining)
            except PeerDisconnectedError as disconnected:
                self._gone.add(disconnected.peer or "")
                return disconnected
            except TransportError:
                break
            try:
                message = self._decode(sender, frame)
            except CodecError:
                continue
            if isinstance(message, Abort):
                self._gone.add(sender)
                return PeerAbortedError(
                    f"party {sender!r} aborted the job: {message.reason}", sender
                )
        return error

    def _poll(self) -> tuple[str, Message] | None:
        """A message that has already arrived, or ``None`` (never waits)."""
        try:
            return self._received(*self.transport.receive(0))
        except PeerTimeoutError:
            return None
        except PeerDisconnectedError as error:
            if error.peer is not None:
                self._gone.add(error.peer)
            raise

    def _next_message(self, role: Role) -> tuple[str, Message]:
        try:
            sender, frame = self.transport.receive(self.settings.timeout)
        except PeerTimeoutError as error:
            waiting = ", ".join(role.waiting_for) or "any peer"
            raise PeerTimeoutError(
                f"{self.party}: nothing from {waiting} within {self.settings.timeout:g} s",
                peer=role.waiting_for[0] if role.waiting_for else None,
            ) from error
        except PeerDisconnectedError as error:
            if error.peer is not None:
                self._gone.add(error.peer)
            raise
        return self._received(sender, frame)

    def _received(self, sender: str, frame: bytes) -> tuple[str, Message]:
        message = self._decode(sender, frame)
        if self.recorder is not None:
            self.recorder(
                TranscriptEntry("received", self.party, sender, self._step, frame, message)
            )
        event(
            LOGGER,
            "received",
            logging.DEBUG,
            party=self.party,
            peer=sender,
            kind=message.kind.name,
            round=message.round,
            batch=message.batch,
            bytes=len(frame),
        )
        if isinstance(message, Abort):
            self._gone.add(sender)
            raise PeerAbortedError(f"party {sender!r} aborted the job: {message.reason}", sender)
        return sender, message

    def _decode(self, sender: str, frame: bytes) -> Message:
        try:
            message = codec.decode(
                frame,
                self.keyring,
                max_bytes=self.settings.max_message_bytes,
                allow_weak_keys=self.settings.allow_weak_keys,
            )
        except CodecError as error:
            raise CodecError(f"invalid message from {sender!r}: {error}") from error
        if message.sender != sender:
            raise CodecError(
                f"the connection authenticated as {sender!r} sent a message claiming to "
                f"come from {message.sender!r}"
            )
        if message.receiver != self.party:
            raise CodecError(f"{sender!r} sent a message addressed to {message.receiver!r}")
        base, _, _ = message.job_id.rpartition("#")
        if base != self.job_id:
            raise CodecError(f"{sender!r} sent a message of another job")
        return message

    def _hold(self, sender: str, message: Message, step: int) -> None:
        """Keep a message of a later step until that step starts.

        A party that takes no part in some steps (the arbiter: it only trains) starts
        its next step early and may be several steps ahead.
        """
        _, _, number = message.job_id.rpartition("#")
        later = number.isdigit() and int(number) > step
        if not later or message.job_id != step_job_id(self.job_id, int(number)):
            raise ProtocolError(
                f"{sender!r} sent a {message.kind.name} for {message.job_id!r} during step {step}"
            )
        if len(self._held) >= MAX_HELD_MESSAGES:
            raise ProtocolError(f"{sender!r} sent too many messages ahead of the current step")
        self._held.append((sender, message))

    def _take_held(self, job_id: str) -> list[tuple[str, Message]]:
        ready = [(s, m) for s, m in self._held if m.job_id == job_id]
        self._held = deque((s, m) for s, m in self._held if m.job_id != job_id)
        return ready


def describe_failure(error: BaseException) -> str:
    """The one-line reason the CLI prints for a failed run."""
    if isinstance(error, VflError | ProtocolError):
        return str(error).splitlines()[0]
    return f"{type(error).__name__}: {error}".splitlines()[0]

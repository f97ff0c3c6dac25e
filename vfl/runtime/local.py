"""Running protocol roles in one process, through the real wire codec.

Used by the in-process Python API (:func:`vfl.intersect`): every message is encoded
and decoded exactly as over TLS, so the same validation applies, but no thread,
socket or certificate is needed.  Messages are delivered in FIFO order.  The loop
itself is the shared message pump (:func:`protocols.pump.deliver_until_done`), as over
a transport.

A role's queued local work (:attr:`~protocols.roles.Role.has_work`, e.g. obfuscators
for its next encryptions) runs when no message waits.  :func:`overlap_work` can run
it on a helper thread while another role handles a message instead, as it would in
its own process while waiting for a peer (the role finishes that piece before it
receives its next message, so it never runs two things at once).  That is off by
default: measured with ``python -m benchmarks.small_batch`` (batch 64, 2048 bits, 1,024
rows, alternating runs on 2 cores, 2026-12-08), it made the epoch slower, 14.3 s
against 11.6 s with ``n_jobs=-1`` and 14.9 s against 13.0 s with ``n_jobs=1``: the
helper thread's precomputation competes for the cores (and the GIL) with the busy
role's urgent work.  Messages and results are the same either way; only the
randomness drawn differs.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from crypto.parallel import parallel_config
from protocols import pump
from protocols.exceptions import ProtocolError
from protocols.messages import Message
from protocols.roles import Role
from vfl.runtime import codec

__all__ = ["codec_wire", "overlap_work", "run_locally"]

T = TypeVar("T")
_OVERLAP: contextvars.ContextVar[bool] = contextvars.ContextVar("vfl_local_overlap", default=False)


@contextmanager
def overlap_work(enabled: bool) -> Iterator[None]:
    """Run roles' local work beside other roles' messages or only when idle (default).

    Parameters
    ----------
    enabled : bool
        ``True``: :func:`run_locally` in this block runs a role's work on a helper
        thread while another role handles a message; ``False`` (the default outside
        this context manager): only when no message is waiting.  Benchmarks compare.

    Examples
    --------
    >>> with overlap_work(False):
    ...     pass
    """
    token = _OVERLAP.set(enabled)
    try:
        yield
    finally:
        _OVERLAP.reset(token)


class _Inline(Executor):
    """Runs each submitted call at once in the submitting thread (one worker)."""

    _max_workers = 1

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future
            future.set_exception(error)
        return future


def _work_inline(role: Role) -> list[Message]:
    """``role.work()`` with its crypto inline on the helper thread.

    Inline, not on the shared pools: the pools' queues then hold only the busy role's
    chunks, which would otherwise wait behind precomputation that is not urgent.
    """
    with parallel_config(executor=_Inline()):
        return role.work()


class _Helper:
    """One helper thread running a piece of local work for roles that wait.

    At most one piece runs at a time; :meth:`join` waits for a role's piece and
    sends the messages it produced before that role handles anything else.
    """

    def __init__(self, roles: Mapping[str, Role], send: Callable[[Message], None]) -> None:
        self._roles = roles
        self._send = send
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfl-local-work")
        self._running: tuple[str, Future[list[Message]]] | None = None

    def start(self, busy: str) -> None:
        """Start a piece of work for a role other than ``busy``, if one has some."""
        if self._running is not None:
            return
        for name, role in self._roles.items():
            if name != busy and role.has_work:
                context = contextvars.copy_context()
                self._running = (name, self._executor.submit(context.run, _work_inline, role))
                return

    def join(self, party: str | None = None) -> None:
        """Finish ``party``'s running piece (any role's if ``None``) and send its messages."""
        if self._running is None or party not in (None, self._running[0]):
            return
        name, future = self._running
        self._running = None
        for message in future.result():
            if message.receiver not in self._roles:
                raise ProtocolError(
                    f"{name} tried to send a {message.kind.name} to "
                    f"{message.receiver!r}, not a peer"
                )
            self._send(message)

    def close(self) -> None:
        """Wait for a running piece (its errors were or will be reported) and stop."""
        self._executor.shutdown(wait=True)


def run_locally(
    roles: Mapping[str, Role],
    *,
    allow_weak_keys: bool = False,
    through_codec: bool = True,
    on_step: Callable[[], None] | None = None,
) -> None:
    """Start every role and pass messages between them until all are done.

    Parameters
    ----------
    roles : mapping of str to Role
        Every party's role, by party name.
    allow_weak_keys : bool, default False
        Let the codec accept keys below 2048 bits (tests and benchmarks).
    through_codec : bool, default True
        Encode and decode every message as over TLS.  Only backends that cannot
        be serialised (the phe and plaintext training backends) turn this off.
    on_step : callable, optional
        Called after every delivered message or piece of work (progress displays).

    Raises
    ------
    ProtocolError
        If a role fails, or the roles stop exchanging messages before all are done.
    CodecError
        If a message cannot be encoded or decoded.

    Examples
    --------
    Scoring with a fitted model: the host sends its partial scores to the guest.

    >>> from protocols.hetero_lr import ScoreGuest, ScoreHost
    >>> roles = {
    ...     "guest": ScoreGuest("guest", "job-1", hosts=["host"], features=[[1.0], [0.0]],
    ...                         weights=[2.0], intercept=-1.0),
    ...     "host": ScoreHost("host", "job-1", guest="guest", features=[[0.5], [1.0]],
    ...                       weights=[2.0]),
    ... }
    >>> run_locally(roles)
    >>> roles["guest"].result.round(4).tolist()
    [0.8808, 0.7311]
    """
    queue: deque[Message] = deque()
    wire = codec_wire(roles, allow_weak_keys=allow_weak_keys) if through_codec else None

    def send(message: Message) -> None:
        queue.append(message if wire is None else wire(message))

    helper = _Helper(roles, send) if _OVERLAP.get() else None

    def next_event() -> pump.Event | None:
        if helper is not None:
            if queue:
                receiver = queue[0].receiver
                helper.join(receiver)
                helper.start(busy=receiver)
                return pump.Deliver(queue.popleft())
            helper.join()
        if queue:
            return pump.Deliver(queue.popleft())
        working = next((name for name, role in roles.items() if role.has_work), None)
        return None if working is None else pump.Work(working)

    try:
        pump.deliver_until_done(
            roles, send, next_event, after_each=None if on_step is None else lambda _: on_step()
        )
    finally:
        if helper is not None:
            helper.close()
    stuck = [name for name, role in roles.items() if not role.done]
    if stuck:
        raise ProtocolError(f"the protocol stopped before {', '.join(stuck)} finished")


def codec_wire(
    parties: Iterable[str], *, allow_weak_keys: bool = False
) -> Callable[[Message], Message]:
    """A message as its receiver gets it over TLS: encoded, then decoded by the receiver.

    Each party has its own keyring, as its runner would: the sender remembers the
    keys it sends, the receiver those it decodes (:meth:`vfl.codec.Keyring.remember`).

    Parameters
    ----------
    parties : iterable of str
        Every party that sends or receives.
    allow_weak_keys : bool, default False
        Let the codec accept keys below 2048 bits (tests and benchmarks).

    Returns
    -------
    callable
        Takes a message a role sent, returns the message its receiver decoded.

    Raises
    ------
    CodecError
        (from the callable) If the message cannot be encoded or decoded.
    """
    keyrings = {name: codec.Keyring() for name in parties}

    def wire(message: Message) -> Message:
        frame = codec.encode(message)
        keyrings[message.sender].remember(message)
        decoded = codec.decode(frame, keyrings[message.receiver], allow_weak_keys=allow_weak_keys)
        keyrings[message.receiver].remember(decoded)
        return decoded

    return wire

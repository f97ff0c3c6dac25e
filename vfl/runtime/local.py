"""Running protocol roles in one process, through the real wire codec.

Used by the in-process Python API (:func:`vfl.intersect`): every message is encoded
and decoded exactly as over TLS, so the same validation applies, but no thread,
socket or certificate is needed.  Messages are delivered in FIFO order; a role's
queued local work runs when no message is waiting.  The loop itself is the shared
message pump (:func:`protocols.pump.deliver_until_done`), as over a transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping

from protocols import pump
from protocols.exceptions import ProtocolError
from protocols.messages import Message
from protocols.roles import Role
from vfl.runtime import codec

__all__ = ["codec_wire", "run_locally"]


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

    def next_event() -> pump.Event | None:
        if queue:
            return pump.Deliver(queue.popleft())
        working = next((name for name, role in roles.items() if role.has_work), None)
        return None if working is None else pump.Work(working)

    pump.deliver_until_done(
        roles, send, next_event, after_each=None if on_step is None else lambda _: on_step()
    )
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

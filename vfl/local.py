"""Running protocol roles in one process, through the real wire codec.

Used by the in-process Python API (:func:`vfl.intersect`): every message is encoded
and decoded exactly as over TLS, so the same validation applies, but no thread,
socket or certificate is needed.  Messages are delivered in FIFO order; a role's
queued local work runs when no message is waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

from protocols.exceptions import ProtocolError
from protocols.messages import Message
from protocols.roles import Role
from vfl import codec

__all__ = ["run_locally"]


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
    keyrings = {name: codec.Keyring() for name in roles}
    queue: deque[Message] = deque()

    def post(messages: list[Message]) -> None:
        for message in messages:
            if message.receiver not in roles:
                raise ProtocolError(f"{message.sender} sent to unknown party {message.receiver}")
            if not through_codec:
                queue.append(message)
                continue
            frame = codec.encode(message)
            keyrings[message.sender].remember(message)
            decoded = codec.decode(
                frame, keyrings[message.receiver], allow_weak_keys=allow_weak_keys
            )
            keyrings[message.receiver].remember(decoded)
            queue.append(decoded)

    for role in roles.values():
        post(role.start())
    while True:
        if queue:
            message = queue.popleft()
            post(roles[message.receiver].receive(message))
        elif working := [role for role in roles.values() if role.has_work]:
            post(working[0].work())
        else:
            break
        if on_step is not None:
            on_step()
    stuck = [name for name, role in roles.items() if not role.done]
    if stuck:
        raise ProtocolError(f"the protocol stopped before {', '.join(stuck)} finished")

"""The contract of a protocol role: a sans-IO state machine.

A role never touches sockets, threads, clocks or files.  The runner calls
:meth:`Role.start` once, then :meth:`Role.receive` for every message that arrives,
and sends whatever they return.  Everything a role does is therefore replayable
and testable in one process by passing messages between roles by hand.

A role that streams large inputs in chunks keeps a queue of local work: while
:attr:`Role.has_work` is true and no message is waiting, the runner calls
:meth:`Role.work`, which does one bounded piece (e.g. one chunk) and returns the
messages it produced.  Incoming messages go first, so a peer is never starved.

A role that can continue an interrupted run keeps **checkpoints**: the runner asks
:meth:`Role.take_checkpoint` after every message and piece of work and stores what
it returns; a resumed run hands the stored ones to :meth:`Role.prepare_resume`
before :meth:`Role.start`.  Both have defaults for roles that keep none, so the
runner needs to know nothing about the role's class.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, Protocol

from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.messages import Message

__all__ = ["Checkpoint", "Role"]


class Checkpoint(Protocol):
    """What a role's checkpoint offers the store that keeps it (e.g. ``LrCheckpoint``)."""

    @property
    def epoch(self) -> int:
        """The round (epoch) after which it was taken, counted from 0."""

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as JSON-serialisable values."""


class Role(abc.ABC):
    """One party's side of a protocol.

    Parameters
    ----------
    party : str
        This party's name.
    job_id : str
        The job's id; every message carries it.

    Examples
    --------
    A role that waits for one :class:`~protocols.messages.Abort` and keeps its reason;
    the caller moves the messages:

    >>> from protocols.messages import Abort
    >>> class Listener(Role):
    ...     def start(self):
    ...         return []
    ...     def receive(self, message):
    ...         if not isinstance(message, Abort):
    ...             raise self._unexpected(message, "listening")
    ...         self._finish(message.reason)
    ...         return []
    ...     @property
    ...     def waiting_for(self):
    ...         return () if self.done else ("guest",)
    >>> role = Listener("host", "job-1")
    >>> role.start(), role.waiting_for, role.progress
    ([], ('guest',), (0, 1))
    >>> role.receive(Abort(job_id="job-1", sender="guest", receiver="host", reason="stop"))
    []
    >>> role.done, role.result, role.progress
    (True, 'stop', (1, 1))
    """

    resumed_after: int | None = None
    """In a resumed run, the epoch the role went on after (``-1``: from the start);
    ``None`` when it did not resume or keeps no checkpoints."""

    def __init__(self, party: str, job_id: str) -> None:
        self.party = party
        self.job_id = job_id
        self._done = False
        self._result: Any = None

    @abc.abstractmethod
    def start(self) -> list[Message]:
        """The messages to send first (may be empty).

        Returns
        -------
        list of Message
            What to send, in order.
        """

    @abc.abstractmethod
    def receive(self, message: Message) -> list[Message]:
        """Handle one message; return the messages to send in reply.

        Parameters
        ----------
        message : Message
            A decoded message addressed to this party.

        Returns
        -------
        list of Message
            What to send in reply (may be empty).

        Raises
        ------
        ProtocolError
            If the message is not acceptable in the current state.
        """

    @property
    @abc.abstractmethod
    def waiting_for(self) -> Sequence[str]:
        """Parties this role is waiting to hear from (for timeout messages)."""

    @property
    def has_work(self) -> bool:
        """Whether :meth:`work` has something to do now (default: never)."""
        return False

    def work(self) -> list[Message]:
        """Do one bounded piece of queued local work; return the messages it produced.

        Returns
        -------
        list of Message
            What to send (may be empty).
        """
        return []

    def take_checkpoint(self) -> Checkpoint | None:
        """The checkpoint taken since the last call, if any (default: none, ever).

        Returns
        -------
        Checkpoint or None
            What to store so that an interrupted run can go on from here.
        """
        return None

    def prepare_resume(self, checkpoints: Sequence[Any] = ()) -> None:
        """Continue an interrupted run from this party's ``checkpoints`` (before ``start``).

        The default is for roles that keep no checkpoints: they have nothing to go on
        from, so any checkpoint is refused.

        Parameters
        ----------
        checkpoints : sequence
            The checkpoints :meth:`take_checkpoint` returned in the interrupted run.

        Raises
        ------
        ProtocolError
            If ``checkpoints`` is not empty.
        """
        if checkpoints:
            raise ProtocolError(
                f"{self.party}: a {type(self).__name__} keeps no checkpoints to resume from"
            )

    @property
    def done(self) -> bool:
        """Whether the role has finished."""
        return self._done

    @property
    def result(self) -> Any:
        """The role's output once :attr:`done` (protocol-specific)."""
        return self._result

    @property
    def progress(self) -> tuple[int, int]:
        """``(steps done, total steps)`` for progress displays."""
        return (1, 1) if self._done else (0, 1)

    def _finish(self, result: Any) -> None:
        self._done = True
        self._result = result

    def _unexpected(self, message: Message, state: str) -> UnexpectedMessageError:
        return UnexpectedMessageError(
            f"{self.party} did not expect {message.kind.name} from {message.sender} while {state}"
        )

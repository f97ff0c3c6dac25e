"""Secure sum: every party learns the elementwise sum of all parties' vectors, nothing else.

Roles: one *key owner* (the guest) and one or more *contributors* (the hosts), in a
fixed ring order ``c_1, ..., c_k``.

1. The owner generates a Paillier key pair and sends :class:`SumPublicKey` (key and
   vector length) to every contributor.
2. ``c_1`` encrypts its vector and sends :class:`SumPartial` to ``c_2``; each next
   contributor adds its own vector to the running encrypted sum (a plaintext
   addition), re-randomises it (statistically uniform obfuscator) and passes it on;
   the last one sends it to the owner.  Re-randomising at every hop keeps two
   contributors around a third from dividing their ciphertexts to read its vector.
3. The owner decrypts, adds its own vector and sends :class:`SumResult` to everyone.

What each party learns: contributors see only ciphertexts under the owner's key and
the final total.  The owner learns the total of the contributors' vectors; with a
single contributor that *is* the contributor's vector (inherent to a two-party sum).
Metadata: vector length; every encryption uses the job's public ``max_abs`` bound,
so no ciphertext's bound depends on the data.  Collusion of the owner with
contributor ``c_{i+1}`` reveals the prefix sum up to ``c_i`` (hence ``c_i``'s vector
given ``c_{i-1}``'s help): semi-honest, non-colluding parties are assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crypto.encoding import encode_scalar, exponent_for_precision
from crypto.exceptions import CryptoError
from crypto.paillier import (
    DEFAULT_VECTOR_PRECISION,
    EncryptedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)
from protocols.exceptions import ProtocolError
from protocols.messages import Message, SumPartial, SumPublicKey, SumResult
from protocols.roles import Role

__all__ = ["SumContributor", "SumKeyOwner"]

FloatArray = npt.NDArray[np.float64]


def _checked_values(values: npt.ArrayLike, max_abs: float, party: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ProtocolError(f"{party}: secure sum needs a non-empty 1-D vector")
    if not np.isfinite(array).all():
        raise ProtocolError(f"{party}: secure sum values must be finite")
    if np.abs(array).max() > max_abs:
        raise ProtocolError(
            f"{party}: a local value exceeds the job's max_abs={max_abs:g}; raise max_abs"
        )
    return array


EXPONENT = exponent_for_precision(DEFAULT_VECTOR_PRECISION)


def _check_counters(message: Message, party: str) -> None:
    """Secure sum has one round and no batches: other counters are a replay or forgery."""
    if message.round or message.batch:
        raise ProtocolError(
            f"{party}: {message.sender} sent {message.kind.name} for round {message.round} "
            f"batch {message.batch}; a secure sum has only round 0, batch 0"
        )


def _public_bound(vector: EncryptedVector, contributors: int, max_abs: float) -> EncryptedVector:
    """``vector`` claiming ``contributors * max_abs`` (public), never a bound from data."""
    per_party, _ = encode_scalar(max_abs, vector.public_key.n, exponent=EXPONENT)
    return EncryptedVector(
        vector.public_key, vector.ciphertexts, vector.exponent, contributors * per_party
    )


def _trusted_bound(
    vector: EncryptedVector, contributors: int, max_abs: float, sender: str, party: str
) -> EncryptedVector:
    """Check the exponent a peer claims and replace its bound by the public worst case.

    A peer's ``bound`` is metadata it chose; the sum of ``contributors`` vectors of
    values within ``max_abs`` cannot exceed ``contributors * max_abs``, so that is the
    bound this party relies on.
    """
    if vector.exponent != EXPONENT:
        raise ProtocolError(
            f"{party}: {sender} sent values at exponent {vector.exponent}, expected {EXPONENT}"
        )
    per_party, _ = encode_scalar(max_abs, vector.public_key.n, exponent=EXPONENT)
    return EncryptedVector(
        vector.public_key, vector.ciphertexts, EXPONENT, contributors * per_party
    )


class SumKeyOwner(Role):
    """The key owner's side of :mod:`protocols.secure_sum`.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    contributors : sequence of str
        The contributors in ring order.
    values : array_like
        This party's vector.
    max_abs : float
        Public bound on every party's values.
    key_length : int, default 2048
        Paillier key length.
    allow_weak_key : bool, default False
        Permit keys under 2048 bits (tests only).

    Raises
    ------
    ProtocolError
        If the contributors are not distinct other parties, or ``values`` is not a
        non-empty 1-D vector of finite values within ``max_abs``.

    Examples
    --------
    One key owner and two contributors; the caller moves the messages:

    >>> owner = SumKeyOwner("guest", "job-1", contributors=["h1", "h2"], values=[1.0, 2.0],
    ...                     max_abs=10.0, key_length=1024, allow_weak_key=True)
    >>> roles = {
    ...     "guest": owner,
    ...     "h1": SumContributor("h1", "job-1", key_owner="guest", ring=["h1", "h2"],
    ...                          values=[0.5, -1.0], max_abs=10.0, min_key_bits=1024),
    ...     "h2": SumContributor("h2", "job-1", key_owner="guest", ring=["h1", "h2"],
    ...                          values=[4.0, 0.0], max_abs=10.0, min_key_bits=1024),
    ... }
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue:
    ...     message = queue.pop(0)
    ...     queue += roles[message.receiver].receive(message)
    >>> owner.result.tolist(), roles["h2"].result.tolist()
    ([5.5, 1.0], [5.5, 1.0])
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        contributors: Sequence[str],
        values: npt.ArrayLike,
        max_abs: float,
        key_length: int = 2048,
        allow_weak_key: bool = False,
    ) -> None:
        super().__init__(party, job_id)
        if not contributors or party in contributors or len(set(contributors)) != len(contributors):
            raise ProtocolError(f"{party}: contributors must be distinct other parties")
        self.contributors = tuple(contributors)
        self.values = _checked_values(values, max_abs, party)
        self.max_abs = max_abs
        self.key_length = key_length
        self.allow_weak_key = allow_weak_key
        self._private_key: PaillierPrivateKey | None = None
        self._started = False

    @property
    def public_key(self) -> PaillierPublicKey:
        """The key this role generated in :meth:`start`."""
        if self._private_key is None:
            raise ProtocolError(f"{self.party}: the key owner has not started yet")
        return self._private_key.public_key

    def start(self) -> list[Message]:
        """Generate the key pair and send it to every contributor.

        Returns
        -------
        list of Message
            One :class:`SumPublicKey` per contributor.

        Raises
        ------
        ProtocolError
            If called twice.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        public_key, self._private_key = generate_paillier_keypair(
            self.key_length, allow_weak_key=self.allow_weak_key
        )
        return [
            SumPublicKey(
                job_id=self.job_id,
                sender=self.party,
                receiver=contributor,
                public_key=public_key,
                length=len(self.values),
            )
            for contributor in self.contributors
        ]

    def receive(self, message: Message) -> list[Message]:
        """Accept the final partial sum from the last contributor and broadcast the total.

        Parameters
        ----------
        message : Message
            The last contributor's :class:`SumPartial`.

        Returns
        -------
        list of Message
            One :class:`SumResult` per contributor.

        Raises
        ------
        ProtocolError
            If the message is unexpected, under another key or of the wrong length.
        """
        last = self.contributors[-1]
        if (
            self.done
            or not self._started
            or not isinstance(message, SumPartial)
            or message.sender != last
        ):
            raise self._unexpected(message, f"waiting for the partial sum from {last}")
        _check_counters(message, self.party)
        if message.public_key != self.public_key:
            raise ProtocolError(f"{self.party}: {last} sent a sum under another key")
        if message.contributors != len(self.contributors):
            raise ProtocolError(
                f"{self.party}: {last} reports {message.contributors} contributors, "
                f"expected {len(self.contributors)}"
            )
        if len(message.partial) != len(self.values):
            raise ProtocolError(
                f"{self.party}: {last} sent {len(message.partial)} values, "
                f"expected {len(self.values)}"
            )
        assert self._private_key is not None
        partial = _trusted_bound(
            message.partial, message.contributors, self.max_abs, last, self.party
        )
        try:
            others = self._private_key.decrypt_vector(partial)
        except CryptoError as error:  # e.g. a plaintext in the overflow band
            raise ProtocolError(
                f"{self.party}: {last} sent a sum that does not decrypt to values within "
                f"the job's bounds ({error})"
            ) from error
        # each contributor's values are within max_abs (up to the encoding's rounding)
        limit = len(self.contributors) * (self.max_abs + 2.0**-30)
        if not np.isfinite(others).all() or np.abs(others).max(initial=0.0) > limit:
            raise ProtocolError(
                f"{self.party}: {last} sent a sum beyond the public bound of "
                f"{len(self.contributors)} x max_abs={self.max_abs:g}"
            )
        totals = others + self.values
        self._finish(totals)
        return [
            SumResult(
                job_id=self.job_id,
                sender=self.party,
                receiver=contributor,
                totals=totals,
                contributors=len(self.contributors) + 1,
            )
            for contributor in self.contributors
        ]

    @property
    def waiting_for(self) -> Sequence[str]:
        """The last contributor until the sum is complete."""
        return () if self.done else (self.contributors[-1],)


class SumContributor(Role):
    """A contributor's side of :mod:`protocols.secure_sum`.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    key_owner : str
        The party that holds the key and learns the result first.
    ring : sequence of str
        All contributors in ring order (this party among them).
    values : array_like
        This party's vector.
    max_abs : float
        Public bound on every party's values (also the encryption bound).
    min_key_bits : int, default 2048
        Refuse an owner key shorter than this.

    Raises
    ------
    ProtocolError
        If ``ring`` does not list distinct contributors including this one (and not
        the key owner), or ``values`` is unusable.

    Examples
    --------
    See :class:`SumKeyOwner` for a whole run.  Each contributor knows its place:

    >>> first = SumContributor("h1", "job-1", key_owner="guest", ring=["h1", "h2"],
    ...                        values=[0.5], max_abs=10.0)
    >>> first.previous, first.next, first.start(), first.waiting_for
    (None, 'h2', [], ('guest',))
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        key_owner: str,
        ring: Sequence[str],
        values: npt.ArrayLike,
        max_abs: float,
        min_key_bits: int = 2048,
    ) -> None:
        super().__init__(party, job_id)
        if party not in ring or key_owner in ring or len(set(ring)) != len(ring):
            raise ProtocolError(
                f"{party}: the ring must list distinct contributors, this one included"
            )
        self.key_owner = key_owner
        self.ring = tuple(ring)
        self.position = self.ring.index(party)
        self.values = _checked_values(values, max_abs, party)
        self.max_abs = max_abs
        self.min_key_bits = min_key_bits
        self._public_key: PaillierPublicKey | None = None
        self._length: int | None = None
        self._incoming: SumPartial | None = None
        self._sent = False

    @property
    def previous(self) -> str | None:
        """The contributor whose partial sum this one extends (``None`` for the first)."""
        return self.ring[self.position - 1] if self.position else None

    @property
    def next(self) -> str:
        """Where this contributor's partial sum goes."""
        last = self.position == len(self.ring) - 1
        return self.key_owner if last else self.ring[self.position + 1]

    def start(self) -> list[Message]:
        """Nothing to send before the owner's key arrives.

        Returns
        -------
        list of Message
            Always empty.
        """
        return []

    def receive(self, message: Message) -> list[Message]:
        """Take the key, the previous partial sum and finally the result, in any order.

        Parameters
        ----------
        message : Message
            :class:`SumPublicKey` or :class:`SumResult` from the key owner, or
            :class:`SumPartial` from the previous contributor.

        Returns
        -------
        list of Message
            This contributor's :class:`SumPartial`, once it can be computed.

        Raises
        ------
        ProtocolError
            If the message is unexpected or inconsistent with the job.
        """
        _check_counters(message, self.party)
        if isinstance(message, SumPublicKey) and message.sender == self.key_owner:
            return self._take_key(message)
        if isinstance(message, SumPartial) and message.sender == self.previous:
            return self._take_partial(message)
        if isinstance(message, SumResult) and message.sender == self.key_owner:
            return self._take_result(message)
        raise self._unexpected(message, self._state())

    def _state(self) -> str:
        if self.done:
            return "finished"
        return "waiting for the result" if self._sent else "waiting for the key and partial sum"

    def _take_key(self, message: SumPublicKey) -> list[Message]:
        if self._public_key is not None:
            raise self._unexpected(message, "already holding the key")
        if message.public_key.bits < self.min_key_bits:
            raise ProtocolError(
                f"{self.party}: {self.key_owner}'s {message.public_key.bits}-bit key is "
                f"below the {self.min_key_bits}-bit minimum"
            )
        if message.length != len(self.values):
            raise ProtocolError(
                f"{self.party}: {self.key_owner} sums {message.length} values but this "
                f"party has {len(self.values)}; the parties' columns differ"
            )
        self._public_key, self._length = message.public_key, message.length
        return self._advance()

    def _take_partial(self, message: SumPartial) -> list[Message]:
        if self._incoming is not None or self._sent:
            raise self._unexpected(message, self._state())
        if message.contributors != self.position:
            raise ProtocolError(
                f"{self.party}: {message.sender} reports {message.contributors} "
                f"contributors, expected {self.position}"
            )
        self._incoming = message
        return self._advance()

    def _advance(self) -> list[Message]:
        """Send our partial sum once the key (and the previous partial, if any) are here."""
        if self._public_key is None or self._sent:
            return []
        if self.previous is not None and self._incoming is None:
            return []
        # Re-randomise at every hop: adding a plaintext keeps the incoming ciphertext's
        # randomness, so the two neighbours of a contributor could otherwise divide
        # what they sent and received and read 1 + v n, i.e. its vector.  And claim the
        # public bound: adding our vector raised the bound by our largest value, which
        # would travel in the clear to the next party.
        running = _public_bound(
            self._extend(self._public_key).rerandomize(), self.position + 1, self.max_abs
        )
        self._sent = True
        return [
            SumPartial(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.next,
                public_key=self._public_key,
                partial=running,
                contributors=self.position + 1,
            )
        ]

    def _extend(self, public_key: PaillierPublicKey) -> EncryptedVector:
        if self._incoming is None:
            return public_key.encrypt_vector(self.values, max_abs=self.max_abs)
        if self._incoming.public_key != public_key:
            raise ProtocolError(
                f"{self.party}: {self._incoming.sender}'s partial sum is under another key "
                f"than {self.key_owner}'s"
            )
        if len(self._incoming.partial) != self._length:
            raise ProtocolError(
                f"{self.party}: {self._incoming.sender} sent {len(self._incoming.partial)} "
                f"values, expected {self._length}"
            )
        partial = _trusted_bound(
            self._incoming.partial, self.position, self.max_abs, self._incoming.sender, self.party
        )
        return partial + self.values

    def _take_result(self, message: SumResult) -> list[Message]:
        if not self._sent or self.done:
            raise self._unexpected(message, self._state())
        totals = np.asarray(message.totals, dtype=np.float64)
        if totals.shape != (self._length,) or not np.isfinite(totals).all():
            raise ProtocolError(f"{self.party}: {self.key_owner} sent a malformed result")
        self._finish(totals)
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """The owner (key, result) and the previous contributor (partial sum)."""
        if self.done:
            return ()
        waiting = []
        if self._public_key is None or self._sent:
            waiting.append(self.key_owner)
        if not self._sent and self.previous is not None and self._incoming is None:
            waiting.append(self.previous)
        return tuple(waiting)

    @property
    def progress(self) -> tuple[int, int]:
        """Key received, partial sent, result received."""
        steps = int(self._public_key is not None) + int(self._sent) + int(self.done)
        return steps, 3

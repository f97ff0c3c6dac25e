"""The cryptography of each PSI method, as the guest and the host use it.

The roles (:mod:`protocols.psi.guest`, :mod:`protocols.psi.host`) move chunks of
bytes; these adapters say what each chunk is under each method:

========================  ===================================  ==================================
value                     ECDH (X25519, RFC 9380 hashing)       RSA blind signatures
========================  ===================================  ==================================
guest item                ``H(id)^a``                           ``FDH(id) * r^e mod n``
processed guest item      ``H(id)^ab``                          ``FDH(id)^d * r mod n``
host item                 ``H(id)^b``                           ``tag(FDH(id)^d)``
comparable value          ``H(id)^ab`` (both sides)             ``tag(FDH(id)^d)`` (both sides)
========================  ===================================  ==================================
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.ecdh import POINT_BYTES, EcdhKey, ecdh_dst, validate_points
from crypto.rsa_blind import (
    RsaBlinding,
    RsaBlindPrivateKey,
    RsaBlindPublicKey,
    generate_rsa_blind_key,
    ints_from_bytes,
    ints_to_bytes,
)

__all__ = [
    "COMPARABLE_BYTES",
    "EcdhGuestCipher",
    "EcdhHostCipher",
    "GuestCipher",
    "HostCipher",
    "RsaGuestCipher",
    "RsaHostCipher",
]

COMPARABLE_BYTES = 32
"""Width of the values the guest compares (points and signature tags)."""


class GuestCipher:
    """The guest's side of one method with one host.

    Examples
    --------
    The guest's and a host's comparable values agree exactly on the common ids
    (ECDH here; RSA in :class:`HostCipher`):

    >>> salt = bytes(32)
    >>> guest, host = EcdhGuestCipher(salt, None), EcdhHostCipher(salt, None)
    >>> mine = guest.finish(0, host.process(guest.prepare(0, [b"ann", b"bob"])))
    >>> theirs = guest.host_values(host.own([b"bob", b"cid"]))
    >>> mine[32:] == theirs[:32], mine[:32] in (theirs[:32], theirs[32:])
    (True, False)
    """

    item_bytes: int
    """Width of one guest item and of one processed guest item."""
    computes_host_values: bool = False
    """Whether turning host items into comparable values costs real work."""

    def prepare(self, chunk: int, ids: Sequence[bytes]) -> bytes:
        """The guest items for ``ids`` (chunk number ``chunk``).

        Parameters
        ----------
        chunk : int
            The chunk's number (RSA keeps its blinding factors under it).
        ids : sequence of bytes
            The chunk's ids, in the order they are sent.

        Returns
        -------
        bytes
            ``item_bytes`` per id, in order.
        """
        raise NotImplementedError

    def finish(self, chunk: int, processed: bytes) -> bytes:
        """Comparable values of chunk ``chunk`` from the host's processed items.

        Parameters
        ----------
        chunk : int
            The chunk's number.
        processed : bytes
            The host's answer to :meth:`prepare`'s items, in the same order.

        Returns
        -------
        bytes
            :data:`COMPARABLE_BYTES` per id, in order.

        Raises
        ------
        CryptoError
            If the host's items are malformed or (RSA) a signature does not verify.
        """
        raise NotImplementedError

    def host_values(self, items: bytes) -> bytes:
        """Comparable values of a chunk of host items.

        Parameters
        ----------
        items : bytes
            A chunk of the host's own items.

        Returns
        -------
        bytes
            :data:`COMPARABLE_BYTES` per item, in order.

        Raises
        ------
        CryptoError
            If an item is malformed.
        """
        raise NotImplementedError


class HostCipher:
    """A host's side of one method.

    Examples
    --------
    RSA-PSI: the host signs blinded values and tags its own ids:

    >>> salt = bytes(32)
    >>> host = RsaHostCipher(1024, allow_weak_key=True, n_jobs=None)
    >>> host.use_salt(salt)
    >>> guest = RsaGuestCipher(host.private_key.public_key, salt)
    >>> mine = guest.finish(0, host.process(guest.prepare(0, [b"ann", b"bob"])))
    >>> theirs = guest.host_values(host.own([b"bob", b"cid"]))
    >>> mine[32:] == theirs[:32], mine[:32] in (theirs[:32], theirs[32:])
    (True, False)
    """

    item_bytes: int
    """Width of one guest item and of one processed guest item."""

    def own(self, ids: Sequence[bytes]) -> bytes:
        """The host items for ``ids``.

        Parameters
        ----------
        ids : sequence of bytes
            A chunk of this host's ids, in the order they are sent.

        Returns
        -------
        bytes
            :data:`COMPARABLE_BYTES` per id, in order.
        """
        raise NotImplementedError

    def process(self, items: bytes) -> bytes:
        """The guest's items under this host's secret, in the same order.

        Parameters
        ----------
        items : bytes
            A chunk of the guest's items, ``item_bytes`` each.

        Returns
        -------
        bytes
            ``item_bytes`` per item, in order.

        Raises
        ------
        CryptoError
            If an item is malformed.
        """
        raise NotImplementedError


class EcdhGuestCipher(GuestCipher):
    """ECDH-PSI, guest side: a fresh secret exponent per host.

    Parameters
    ----------
    salt : bytes
        The job's salt (16 to 64 bytes; it makes the domain-separation tag).
    n_jobs : int or None
        Worker processes for the curve arithmetic; see :mod:`crypto.parallel`.

    Examples
    --------
    >>> guest = EcdhGuestCipher(bytes(32), None)
    >>> guest.item_bytes, len(guest.prepare(0, [b"ann", b"bob"]))
    (32, 64)
    """

    item_bytes = POINT_BYTES
    computes_host_values = True

    def __init__(self, salt: bytes, n_jobs: int | None) -> None:
        self._key = EcdhKey.generate()
        self._dst = ecdh_dst(salt)
        self._n_jobs = n_jobs

    def prepare(self, chunk: int, ids: Sequence[bytes]) -> bytes:
        """See :meth:`GuestCipher.prepare`."""
        return self._key.hash_and_exponentiate(ids, self._dst, n_jobs=self._n_jobs)

    def finish(self, chunk: int, processed: bytes) -> bytes:
        """See :meth:`GuestCipher.finish`."""
        validate_points(processed)
        return processed

    def host_values(self, items: bytes) -> bytes:
        """See :meth:`GuestCipher.host_values`."""
        return self._key.exponentiate(items, n_jobs=self._n_jobs)


class EcdhHostCipher(HostCipher):
    """ECDH-PSI, host side.

    Parameters
    ----------
    salt : bytes
        The job's salt (16 to 64 bytes).
    n_jobs : int or None
        Worker processes for the curve arithmetic; see :mod:`crypto.parallel`.

    Examples
    --------
    >>> host = EcdhHostCipher(bytes(32), None)
    >>> items = EcdhGuestCipher(bytes(32), None).prepare(0, [b"ann", b"bob"])
    >>> processed = host.process(items)
    >>> len(processed), host.process(items[32:]) == processed[32:]  # order is kept
    (64, True)
    """

    item_bytes = POINT_BYTES

    def __init__(self, salt: bytes, n_jobs: int | None) -> None:
        self._key = EcdhKey.generate()
        self._dst = ecdh_dst(salt)
        self._n_jobs = n_jobs

    def own(self, ids: Sequence[bytes]) -> bytes:
        """See :meth:`HostCipher.own`."""
        return self._key.hash_and_exponentiate(ids, self._dst, n_jobs=self._n_jobs)

    def process(self, items: bytes) -> bytes:
        """See :meth:`HostCipher.process`."""
        return self._key.exponentiate(items, n_jobs=self._n_jobs)


class RsaGuestCipher(GuestCipher):
    """RSA-PSI, guest side: blinds under one host's public key.

    Parameters
    ----------
    public_key : RsaBlindPublicKey
        The host's key.
    salt : bytes
        The job's salt.

    Examples
    --------
    >>> key = generate_rsa_blind_key(1024, allow_weak_key=True)
    >>> guest = RsaGuestCipher(key.public_key, bytes(32))
    >>> guest.item_bytes, len(guest.prepare(0, [b"ann", b"bob"]))
    (128, 256)
    """

    def __init__(self, public_key: RsaBlindPublicKey, salt: bytes) -> None:
        self._public_key = public_key
        self._salt = salt
        self._blindings: dict[int, RsaBlinding] = {}
        self.item_bytes = public_key.byte_length

    def prepare(self, chunk: int, ids: Sequence[bytes]) -> bytes:
        """See :meth:`GuestCipher.prepare`."""
        blinded, self._blindings[chunk] = self._public_key.blind(ids, self._salt)
        return ints_to_bytes(blinded, self.item_bytes)

    def finish(self, chunk: int, processed: bytes) -> bytes:
        """See :meth:`GuestCipher.finish`."""
        signed = ints_from_bytes(processed, self.item_bytes, self._public_key.n)
        return self._public_key.unblind_tags(signed, self._blindings.pop(chunk), self._salt)

    def host_values(self, items: bytes) -> bytes:
        """See :meth:`GuestCipher.host_values`."""
        return items


class RsaHostCipher(HostCipher):
    """RSA-PSI, host side: owns the signing key.

    Parameters
    ----------
    key_length : int
        Length of the RSA modulus it generates.
    allow_weak_key : bool
        Permit ``key_length < 2048`` (tests only).
    n_jobs : int or None
        Worker threads for signing; see :mod:`crypto.parallel`.

    Examples
    --------
    >>> host = RsaHostCipher(1024, allow_weak_key=True, n_jobs=None)
    >>> host.use_salt(bytes(32))
    >>> host.item_bytes, len(host.own([b"ann", b"bob"]))  # 32-byte tags
    (128, 64)
    """

    def __init__(self, key_length: int, *, allow_weak_key: bool, n_jobs: int | None) -> None:
        self.private_key: RsaBlindPrivateKey = generate_rsa_blind_key(
            key_length, allow_weak_key=allow_weak_key
        )
        self.item_bytes = self.private_key.public_key.byte_length
        self._salt = b""
        self._n_jobs = n_jobs

    def use_salt(self, salt: bytes) -> None:
        """Set the job's salt (known once the guest's setup arrives).

        Parameters
        ----------
        salt : bytes
            The salt of the guest's ``PsiSetup``.
        """
        self._salt = salt

    def own(self, ids: Sequence[bytes]) -> bytes:
        """See :meth:`HostCipher.own`."""
        return self.private_key.tags(ids, self._salt, n_jobs=self._n_jobs)

    def process(self, items: bytes) -> bytes:
        """See :meth:`HostCipher.process`."""
        values = ints_from_bytes(items, self.item_bytes, self.private_key.public_key.n)
        return ints_to_bytes(self.private_key.sign(values, n_jobs=self._n_jobs), self.item_bytes)

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
    """The guest's side of one method with one host."""

    item_bytes: int
    """Width of one guest item and of one processed guest item."""
    computes_host_values: bool = False
    """Whether turning host items into comparable values costs real work."""

    def prepare(self, chunk: int, ids: Sequence[bytes]) -> bytes:
        """The guest items for ``ids`` (chunk number ``chunk``)."""
        raise NotImplementedError

    def finish(self, chunk: int, processed: bytes) -> bytes:
        """Comparable values of chunk ``chunk`` from the host's processed items."""
        raise NotImplementedError

    def host_values(self, items: bytes) -> bytes:
        """Comparable values of a chunk of host items."""
        raise NotImplementedError


class HostCipher:
    """A host's side of one method."""

    item_bytes: int
    """Width of one guest item and of one processed guest item."""

    def own(self, ids: Sequence[bytes]) -> bytes:
        """The host items for ``ids``."""
        raise NotImplementedError

    def process(self, items: bytes) -> bytes:
        """The guest's items under this host's secret, in the same order."""
        raise NotImplementedError


class EcdhGuestCipher(GuestCipher):
    """ECDH-PSI, guest side: a fresh secret exponent per host."""

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
    """ECDH-PSI, host side."""

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
    """RSA-PSI, guest side: blinds under one host's public key."""

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
    """RSA-PSI, host side: owns the signing key."""

    def __init__(self, key_length: int, *, allow_weak_key: bool, n_jobs: int | None) -> None:
        self.private_key: RsaBlindPrivateKey = generate_rsa_blind_key(
            key_length, allow_weak_key=allow_weak_key
        )
        self.item_bytes = self.private_key.public_key.byte_length
        self._salt = b""
        self._n_jobs = n_jobs

    def use_salt(self, salt: bytes) -> None:
        """Set the job's salt (known once the guest's setup arrives)."""
        self._salt = salt

    def own(self, ids: Sequence[bytes]) -> bytes:
        """See :meth:`HostCipher.own`."""
        return self.private_key.tags(ids, self._salt, n_jobs=self._n_jobs)

    def process(self, items: bytes) -> bytes:
        """See :meth:`HostCipher.process`."""
        values = ints_from_bytes(items, self.item_bytes, self.private_key.public_key.n)
        return ints_to_bytes(self.private_key.sign(values, n_jobs=self._n_jobs), self.item_bytes)

"""Where the homomorphic arithmetic of training runs.

``"paillier"`` (the default) is this project's engine.  ``"phe"`` runs the same
protocol on python-paillier, one ``EncryptedNumber`` per value, as the baseline of
the benchmarks.  ``"plaintext"`` runs it on :mod:`crypto.plain`, whose values change
exactly as the encrypted plaintexts do, for equivalence tests; it hides nothing,
cannot cross the wire and a deployment job refuses it.  Only ``"paillier"`` vectors
can be serialised, so only it runs between processes.

Adding a backend: classes implementing the protocols of :mod:`crypto.vector_api`
(a key pair, vectors, masked vectors and masks; add them to that module's
conformance checks, which mypy verifies) and one :class:`Backend` entry in
:data:`BACKENDS`.  The roles compute through those protocols only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crypto.paillier import MIN_KEY_BITS, generate_paillier_keypair
from crypto.plain import generate_plain_keypair
from crypto.vector_api import VectorPrivateKey, VectorPublicKey
from protocols.exceptions import ProtocolError

__all__ = ["BACKENDS", "Backend", "KeyPair", "get_backend"]

KeyPair = tuple[VectorPublicKey, VectorPrivateKey]
"""``(public_key, private_key)`` of any backend (:mod:`crypto.vector_api`)."""


@dataclass(frozen=True)
class Backend:
    """A way to make key pairs whose vectors the roles compute with.

    Attributes
    ----------
    name : str
        ``"paillier"``, ``"phe"`` or ``"plaintext"``.
    wire : bool
        Whether its vectors can be sent through the wire codec (between processes).
    secure : bool
        Whether it hides anything (only secure backends may run in a deployment).

    Examples
    --------
    >>> backend = get_backend("plaintext")
    >>> backend.wire, backend.secure
    (False, False)
    >>> public_key, private_key = backend.generate_keypair(1024, allow_weak_key=True)
    >>> private_key.decrypt_vector(public_key.encrypt_vector([1.5]).multiply(2)).tolist()
    [3.0]
    """

    name: str
    wire: bool
    secure: bool
    _generate: Callable[[int], KeyPair]

    def generate_keypair(self, bits: int, *, allow_weak_key: bool = False) -> KeyPair:
        """A fresh ``(public_key, private_key)`` pair of ``bits`` bits.

        Parameters
        ----------
        bits : int
            Length of the modulus.
        allow_weak_key : bool, default False
            Permit ``bits < 2048`` (tests and benchmarks only).

        Returns
        -------
        tuple
            ``(public_key, private_key)`` of the backend's types.

        Raises
        ------
        ProtocolError
            If ``bits`` is below 2048 and ``allow_weak_key`` is false.
        """
        if bits < MIN_KEY_BITS and not allow_weak_key:
            raise ProtocolError(
                f"refusing a {bits}-bit key: the minimum is {MIN_KEY_BITS} bits; "
                "allow weak keys in tests and benchmarks only"
            )
        return self._generate(bits)


def _paillier(bits: int) -> KeyPair:
    return generate_paillier_keypair(bits, allow_weak_key=True)


def _phe(bits: int) -> KeyPair:
    from crypto.phe_vectors import generate_phe_keypair

    return generate_phe_keypair(bits)


BACKENDS = {
    "paillier": Backend("paillier", wire=True, secure=True, _generate=_paillier),
    "phe": Backend("phe", wire=False, secure=True, _generate=_phe),
    "plaintext": Backend("plaintext", wire=False, secure=False, _generate=generate_plain_keypair),
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``.

    Parameters
    ----------
    name : str
        ``"paillier"``, ``"phe"`` or ``"plaintext"``.

    Returns
    -------
    Backend
        The registered backend.

    Raises
    ------
    ProtocolError
        If no backend has that name.

    Examples
    --------
    >>> get_backend("paillier").wire
    True
    >>> get_backend("ckks")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: unknown backend 'ckks'; choose one of ('paillier', ...)
    """
    try:
        return BACKENDS[name]
    except KeyError:
        raise ProtocolError(f"unknown backend {name!r}; choose one of {tuple(BACKENDS)}") from None

"""The parameters every party of a PSI run agrees on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from protocols.exceptions import ProtocolError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "METHODS",
    "OUTPUTS",
    "PsiMethod",
    "PsiOutput",
    "PsiSettings",
]

PsiMethod = Literal["ecdh", "rsa", "kkrt", "vole"]
PsiOutput = Literal["both", "guest", "cardinality"]

METHODS: Final = ("ecdh", "rsa", "kkrt", "vole")
"""``"ecdh"`` (default): commutative X25519 exponentiation of RFC 9380 hashes.
``"rsa"``: RSA blind signatures (each host signs; suits a host with a much larger set).
``"kkrt"``: an oblivious PRF from OT extension (KKRT16): public-key work only for 512
base OTs, then AES and hashing per id, so it is many times faster on large sets.
``"vole"``: VOLE-PSI (RR22 class): a silent VOLE over GF(2^128) (expand-accumulate code)
and an oblivious key-value store; the fewest bytes per id (about 33) and the fastest."""

OUTPUTS: Final = ("both", "guest", "cardinality")
"""Who learns what: ``"both"`` every party learns the common ids in one agreed order;
``"guest"`` only the guest learns them; ``"cardinality"`` only the guest learns how
many there are (ECDH, one host; KKRT and RSA let the guest see which ids match)."""

DEFAULT_CHUNK_SIZE: Final = 16_384
"""Items per message: bounds memory per message and lets the parties work in parallel."""

MAX_CHUNK_SIZE: Final = 1 << 20


@dataclass(frozen=True)
class PsiSettings:
    """Parameters of one PSI run (the same on every party, as in the job file).

    Parameters
    ----------
    method : {"ecdh", "rsa", "kkrt", "vole"}, default "ecdh"
        The protocol (see :data:`METHODS`).
    output : {"both", "guest", "cardinality"}, default "both"
        Who learns the intersection (see :data:`OUTPUTS`).
    chunk_size : int, default 16384
        Ids per message.
    rsa_key_length : int, default 2048
        Each host's RSA modulus length (``method="rsa"``).
    allow_weak_key : bool, default False
        Permit RSA keys under 2048 bits (tests only).
    n_jobs : int or None, default None
        Worker processes or threads for the cryptography (scikit-learn semantics:
        ``None`` is one, ``-1`` all cores); KKRT runs in one thread and ignores it.
    rsa_window : int, default 4
        RSA guest: chunks awaiting signatures at once (bounds the blinding factors
        held in memory).

    Raises
    ------
    ProtocolError
        If a value is unknown or out of range, or ``output="cardinality"`` is asked
        of RSA-PSI or KKRT-PSI.

    Examples
    --------
    >>> PsiSettings(method="rsa", output="guest", chunk_size=1000).rsa_key_length
    2048
    >>> PsiSettings(method="rsa", output="cardinality")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: PSI output 'cardinality' needs method 'ecdh' ...
    """

    method: PsiMethod = "ecdh"
    output: PsiOutput = "both"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    rsa_key_length: int = 2048
    allow_weak_key: bool = False
    n_jobs: int | None = None
    rsa_window: int = 4

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ProtocolError(f"unknown PSI method {self.method!r}; choose one of {METHODS}")
        if self.output not in OUTPUTS:
            raise ProtocolError(f"unknown PSI output {self.output!r}; choose one of {OUTPUTS}")
        if self.output == "cardinality" and self.method != "ecdh":
            raise ProtocolError(
                "PSI output 'cardinality' needs method 'ecdh' (RSA-PSI and KKRT-PSI let "
                "the guest match its own values, so they cannot hide which ids are common)"
            )
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ProtocolError(
                f"PSI chunk_size must be between 1 and {MAX_CHUNK_SIZE}, not {self.chunk_size}"
            )
        if self.rsa_window < 1:
            raise ProtocolError(f"PSI rsa_window must be at least 1, not {self.rsa_window}")

    def check_hosts(self, count: int) -> None:
        """Refuse a number of hosts this configuration cannot serve.

        Parameters
        ----------
        count : int
            The number of hosts.

        Raises
        ------
        ProtocolError
            If there is no host, or several with ``output="cardinality"``.

        Examples
        --------
        >>> PsiSettings().check_hosts(3)
        >>> PsiSettings(output="cardinality").check_hosts(2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        protocols.exceptions.ProtocolError: PSI output 'cardinality' works with one host; ...
        """
        if count < 1:
            raise ProtocolError("PSI needs at least one host")
        if self.output == "cardinality" and count > 1:
            raise ProtocolError(
                "PSI output 'cardinality' works with one host; with several hosts use "
                "output 'guest' and count the common ids"
            )

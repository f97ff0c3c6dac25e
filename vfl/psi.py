"""Private set intersection from Python: :func:`intersect`.

All parties' roles run in this process (through the real wire codec), which is what
a notebook or a test wants.  Between organisations, run the ``psi`` step of a job
file with ``vfl run`` on each side instead: the same roles, over mutual TLS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.psi import PsiOutcome, PsiSettings, canonical_ids, psi_guest, psi_host
from protocols.psi.settings import DEFAULT_CHUNK_SIZE, PsiMethod, PsiOutput
from protocols.roles import Role
from vfl.exceptions import DataError
from vfl.runtime.local import run_locally

__all__ = ["IntersectionResult", "intersect"]

GUEST = "guest"


@dataclass(frozen=True)
class IntersectionResult:
    """The common ids of the guest and every host.

    Attributes
    ----------
    guest_index : numpy.ndarray or None
        Int64 rows of ``guest_ids``, one per common id, in the agreed order
        (``None`` for output ``"cardinality"``).
    host_indices : list of numpy.ndarray or None
        ``host_indices[j][k]`` is the row in host ``j``'s ids of the k-th common id,
        so ``guest_ids[guest_index[k]] == host_ids[j][host_indices[j][k]]``.
        ``None`` unless the output is ``"both"`` (the hosts learn nothing else).
    size : int
        Number of common ids.
    method, output : str
        As requested.
    dropped_duplicates : tuple of int
        Repeated ids dropped per party (guest first) when ``dedupe=True``.

    Examples
    --------
    >>> guest_ids, host_ids = ["ann", "bob", "cid", "ann"], ["cid", "dan", "ann"]
    >>> result = intersect(guest_ids, host_ids, dedupe=True)
    >>> result.size, result.dropped_duplicates
    (2, (1, 0))
    >>> [guest_ids[g] == host_ids[h] for g, h in zip(result.guest_index, result.host_index)]
    [True, True]
    >>> counted = intersect(guest_ids[:3], host_ids, output="cardinality")
    >>> counted.size, counted.guest_index, counted.host_index
    (2, None, None)
    """

    guest_index: npt.NDArray[np.int64] | None
    host_indices: list[npt.NDArray[np.int64]] | None
    size: int
    method: str
    output: str
    dropped_duplicates: tuple[int, ...] = ()

    @property
    def host_index(self) -> npt.NDArray[np.int64] | None:
        """``host_indices[0]``: the rows of the (first) host (``None`` like ``host_indices``)."""
        return None if self.host_indices is None else self.host_indices[0]


def _host_sets(host_ids: object) -> list[Sequence[object]]:
    """One host's ids, or a list of several hosts' ids."""
    if isinstance(host_ids, str | bytes):
        raise DataError("host_ids must be a sequence of ids (or a list of such sequences)")
    if (
        isinstance(host_ids, list | tuple)
        and host_ids
        and all(not isinstance(item, str | bytes) and hasattr(item, "__len__") for item in host_ids)
    ):
        return list(host_ids)
    if not hasattr(host_ids, "__len__"):
        raise DataError(f"host_ids must be a sequence, not {type(host_ids).__name__}")
    return [host_ids]  # type: ignore[list-item]


def intersect(
    guest_ids: Sequence[object],
    host_ids: Sequence[object] | Sequence[Sequence[object]],
    method: PsiMethod = "ecdh",
    output: PsiOutput = "both",
    *,
    dedupe: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rsa_key_length: int = 2048,
    allow_weak_key: bool = False,
    n_jobs: int | None = None,
) -> IntersectionResult:
    """Find the ids the guest shares with every host, by private set intersection.

    Parameters
    ----------
    guest_ids : sequence of str, bytes or int
        The guest's ids (a list, numpy array or pandas Series).  Integers compare
        as their decimal text, so ``17`` matches ``"17"``; floats are refused.
    host_ids : sequence, or list of sequences
        One host's ids, or a list with one sequence per host.
    method : {"ecdh", "rsa", "kkrt", "vole"}, default "ecdh"
        ECDH over curve25519 with RFC 9380 hashing, RSA blind signatures, KKRT
        (an oblivious PRF from OT extension: many times faster on large sets), or
        VOLE-PSI (a silent VOLE and an OKVS: the fastest, about 33 bytes per id).
    output : {"both", "guest", "cardinality"}, default "both"
        Who learns the intersection: every party (in one agreed order), only the
        guest, or only its size (ECDH with one host).
    dedupe : bool, default False
        Keep each repeated id's first row instead of refusing the input.
    chunk_size : int, default 16384
        Ids per message.
    rsa_key_length : int, default 2048
        RSA modulus length for ``method="rsa"``.
    allow_weak_key : bool, default False
        Permit RSA keys under 2048 bits (tests only).
    n_jobs : int or None, default None
        Cores for the cryptography of each party (``-1``: all).

    Returns
    -------
    IntersectionResult

    Raises
    ------
    DataError
        If an id is not a string, bytes or integer, or repeats without ``dedupe``.

    Examples
    --------
    >>> r = intersect(["ann", "bob", "cid"], ["dan", "cid", "ann"])
    >>> sorted(["ann", "bob", "cid"][i] for i in r.guest_index)
    ['ann', 'cid']
    >>> all(["ann", "bob", "cid"][g] == ["dan", "cid", "ann"][h]
    ...     for g, h in zip(r.guest_index, r.host_index))
    True
    """
    hosts = _host_sets(host_ids)
    try:
        settings = PsiSettings(
            method=method,
            output=output,
            chunk_size=chunk_size,
            rsa_key_length=rsa_key_length,
            allow_weak_key=allow_weak_key,
            n_jobs=n_jobs,
        )
        guest = canonical_ids(guest_ids, dedupe=dedupe, party=GUEST)
        host_names = [f"host-{j + 1}" for j in range(len(hosts))]
        host_inputs = [
            canonical_ids(ids, dedupe=dedupe, party=name)
            for name, ids in zip(host_names, hosts, strict=True)
        ]
        roles: dict[str, Role] = {
            GUEST: psi_guest(
                GUEST, "intersect#0", hosts=host_names, ids=guest.encoded, settings=settings
            )
        }
        for name, inputs in zip(host_names, host_inputs, strict=True):
            roles[name] = psi_host(
                name, "intersect#0", guest=GUEST, ids=inputs.encoded, settings=settings
            )
    except ProtocolError as error:
        raise DataError(str(error)) from error
    run_locally(roles)
    guest_outcome: PsiOutcome = roles[GUEST].result
    host_outcomes: list[PsiOutcome] = [roles[name].result for name in host_names]
    guest_index = None if guest_outcome.rows is None else guest.source_rows[guest_outcome.rows]
    host_indices = None
    if output == "both":
        host_indices = [
            inputs.source_rows[outcome.rows]
            for inputs, outcome in zip(host_inputs, host_outcomes, strict=True)
            if outcome.rows is not None
        ]
    return IntersectionResult(
        guest_index=guest_index,
        host_indices=host_indices,
        size=guest_outcome.size or 0,
        method=method,
        output=output,
        dropped_duplicates=(guest.dropped, *(h.dropped for h in host_inputs)),
    )

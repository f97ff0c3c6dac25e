"""Re-randomisation of ciphertexts before they leave their party."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from gmpy2 import mpz

from crypto import parallel
from crypto.paillier import _kernels

if TYPE_CHECKING:
    from crypto.paillier.keys import PaillierPublicKey

__all__ = ["rerandomize_ciphertexts"]

_MIN_CHUNK = 16


def rerandomize_ciphertexts(
    public_key: PaillierPublicKey,
    ciphertexts: Sequence[mpz],
    addends: Sequence[int] | None = None,
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> list[mpz]:
    """Multiply each ciphertext by a fresh obfuscator, statistically uniform in ``<hs>``.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key of the ciphertexts.
    ciphertexts : sequence of gmpy2.mpz
        Ciphertexts to refresh.
    addends : sequence of int, optional
        Plaintexts to add on the way (masks), one per ciphertext.
    n_jobs, executor
        See :mod:`crypto.parallel` (table look-ups: a process pool by default).

    Returns
    -------
    list of gmpy2.mpz
        One fresh ciphertext per input, in order.

    Examples
    --------
    >>> from crypto.paillier import EncryptedVector, generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> ev = public_key.encrypt_vector([1.0, 2.0])
    >>> fresh = rerandomize_ciphertexts(public_key, [mpz(c) for c in ev.ciphertexts], [16**8, 0])
    >>> [int(c) for c in fresh] == ev.ciphertexts
    False
    >>> again = EncryptedVector(public_key, [int(c) for c in fresh], ev.exponent, 2 * ev.bound)
    >>> private_key.decrypt_vector(again).tolist()  # 16**8 is 1.0 at exponent -8
    [2.0, 2.0]
    """
    workers = parallel.effective_workers(n_jobs, executor)
    chunks = parallel.chunk_bounds(len(ciphertexts), workers, _MIN_CHUNK)
    n = parallel.Resident(public_key._n)  # once per job on a cluster
    results = parallel.run_chunks(
        _kernels.rerandomize_public,
        [
            (n, list(ciphertexts[a:b]), None if addends is None else list(addends[a:b]))
            for a, b in chunks
        ],
        releases_gil=False,
        n_jobs=n_jobs,
        executor=executor,
    )
    return [c for chunk in results for c in chunk]

"""``vfl demo``: one encrypted gradient round of two-party hetero logistic regression.

Until the PSI, runtime and training issues land, the demo shows the cryptographic
core doing the real work of one mini-batch on the built-in breast data: the host
holds 20 features, the guest 10 features and the labels, each party has its own
Paillier key, and each learns its exact gradient without seeing the other's
features, labels or partial scores.  The result is checked against the same
Taylor-approximated gradient computed in plaintext.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from crypto.paillier import EncryptedVector, PaillierPrivateKey, generate_paillier_keypair
from crypto.parallel import parallel_config
from vfl.datasets import PartyTable, load_builtin

__all__ = ["DemoResult", "run_demo"]

T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured."""

    rows: int
    guest_gradient: FloatArray
    host_gradient: FloatArray
    max_error: float
    seconds: float


def _step(label: str, action: Callable[[], T], log: Callable[[str], None]) -> T:
    start = time.perf_counter()
    result = action()
    log(f"  {label:<68} {time.perf_counter() - start:7.2f} s")
    return result


def _align(guest: PartyTable, host: PartyTable) -> tuple[PartyTable, PartyTable]:
    """Join on ids in plaintext (private set intersection replaces this in the PSI issue)."""
    position = {customer: row for row, customer in enumerate(host.ids)}
    common = [row for row, customer in enumerate(guest.ids) if customer in position]
    guest_rows = np.array(common, dtype=np.intp)
    host_rows = np.array([position[guest.ids[row]] for row in common], dtype=np.intp)
    return guest.take(guest_rows), host.take(host_rows)


def _masked_decrypt(
    vector: EncryptedVector, owner: PaillierPrivateKey, log: Callable[[str], None], who: str
) -> FloatArray:
    """Pack, mask, let the key owner decrypt, unmask: the owner learns nothing."""
    packed = vector.pack()
    masked, mask = packed.mask()
    raw = _step(
        f"{who}'s key owner decrypts {len(masked)} masked ciphertext(s) for {len(vector)} values",
        lambda: owner.decrypt_raw(masked),
        log,
    )
    return mask.unmask(raw)


def run_demo(
    *,
    key_length: int = 2048,
    n_jobs: int = -1,
    allow_weak_key: bool = False,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run one encrypted gradient round and check it against plaintext.

    Parameters
    ----------
    key_length : int, default 2048
        Paillier key length of both parties.
    n_jobs : int, default -1
        Workers for the heavy steps (-1: every core).
    allow_weak_key : bool, default False
        Permit ``key_length < 2048`` (quick runs only).
    log : callable
        Receives one progress line at a time.

    Returns
    -------
    DemoResult
    """
    started = time.perf_counter()
    guest, host = load_builtin("breast")
    log(f"Built-in breast data: guest {guest.features.shape} + labels, host {host.features.shape}")
    guest, host = _align(guest, host)
    assert guest.labels is not None
    rows = len(guest)
    log(f"Rows aligned by customer id (plaintext join; PSI arrives with issue #4): {rows}")
    y = 2.0 * guest.labels - 1.0  # labels in {-1, +1}
    rng = np.random.default_rng(0)  # demo weights only; never used for keys or masks
    w_guest = rng.normal(scale=0.1, size=guest.features.shape[1])
    w_host = rng.normal(scale=0.1, size=host.features.shape[1])

    with parallel_config(n_jobs=n_jobs):
        _, host_private = _step(
            f"host generates its {key_length}-bit Paillier key pair",
            lambda: generate_paillier_keypair(key_length, allow_weak_key=allow_weak_key),
            log,
        )
        _, guest_private = _step(
            f"guest generates its {key_length}-bit Paillier key pair",
            lambda: generate_paillier_keypair(key_length, allow_weak_key=allow_weak_key),
            log,
        )
        u_host = host.features @ w_host
        u_guest = guest.features @ w_guest
        quarter_u_host = _step(
            f"host encrypts 1/4 u_h for {rows} rows under its own key (CRT)",
            lambda: host_private.encrypt_vector(0.25 * u_host),
            log,
        )
        encrypted_d = quarter_u_host + (0.25 * u_guest - 0.5 * y)
        guest_sum = _step(
            "guest computes [[X_g^T d]] (bucket multi-exponentiation)",
            lambda: guest.features.T @ encrypted_d,
            log,
        )
        guest_gradient = _masked_decrypt(guest_sum, host_private, log, "host") / rows

        encrypted_e = _step(
            f"guest encrypts e = 1/4 u_g - 1/2 y for {rows} rows under its own key",
            lambda: guest_private.encrypt_vector(0.25 * u_guest - 0.5 * y),
            log,
        )
        host_sum = _step(
            "host computes [[X_h^T e]] + 1/4 X_h^T u_h",
            lambda: host.features.T @ encrypted_e + 0.25 * (host.features.T @ u_host),
            log,
        )
        host_gradient = _masked_decrypt(host_sum, guest_private, log, "guest") / rows

    residual = 0.25 * (u_guest + u_host) - 0.5 * y
    expected_guest = guest.features.T @ residual / rows
    expected_host = host.features.T @ residual / rows
    error = float(
        max(
            np.abs(guest_gradient - expected_guest).max(),
            np.abs(host_gradient - expected_host).max(),
        )
    )
    seconds = time.perf_counter() - started
    log(f"Largest difference from the plaintext gradient: {error:.2e}")
    log(f"Guest gradient (first 3): {np.round(guest_gradient[:3], 6).tolist()}")
    log(f"Host gradient (first 3):  {np.round(host_gradient[:3], 6).tolist()}")
    log(f"Total time: {seconds:.1f} s")
    return DemoResult(rows, guest_gradient, host_gradient, error, seconds)

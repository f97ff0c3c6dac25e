"""pypaillier (Rust, rayon threads) as an optional baseline of the Paillier benchmark.

pypaillier sizes its rayon thread pool once per process from ``RAYON_NUM_THREADS``,
so each thread count is measured in a child process of the same run
(``python -m benchmarks.paillier_pypaillier SPEC_JSON``), which prints one JSON object
of rates.  :func:`measure` returns ``None`` with a note when pypaillier (import name
``paillier``) is not installed.

Operations, against ours: ``encrypt_many`` (floats at its scale 1e8),
``add_blocks`` with blocks ``[i, n + i]`` (elementwise ``ev + ev``),
``multiply_many_public`` by 0.731 (the scalar at scale 1e8, about 27 bits),
``multiply_integers_public`` by the 53-bit integer, and ``X.T @ ev`` as one
``multiply_many_public`` of the repeated vector by ``X.T`` flattened plus one
``add_blocks`` per feature.  Sampled results are decrypted and checked.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["MIN_BITS", "OPERATIONS", "available", "measure"]

MIN_BITS = 2048
"""pypaillier refuses shorter moduli."""

OPERATIONS = ("encrypt", "add", "mul_scalar_16bit", "mul_scalar_53bit", "matmul_xt_ev")
"""The operations measured, as keys of :func:`measure`'s result."""

_SCALAR = 0.731
_INT53 = (1 << 52) + 2_718_281_828_459


def available() -> bool:
    """Whether pypaillier can be imported."""
    return importlib.util.find_spec("paillier") is not None


def measure(spec: dict[str, Any], threads: int) -> dict[str, float] | None:
    """Rates (ops/s) of pypaillier with ``threads`` rayon threads, in a child process.

    Parameters
    ----------
    spec : dict
        ``bits``, ``values``, ``rows``, ``features``, ``budget`` and ``seed``.
    threads : int
        ``RAYON_NUM_THREADS`` of the child.

    Returns
    -------
    dict or None
        Operation (see :data:`OPERATIONS`) to rate; ``None`` if pypaillier is absent.
    """
    if not available():
        return None
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    completed = subprocess.run(  # noqa: S603 (our own module, run by this interpreter)
        [sys.executable, "-m", "benchmarks.paillier_pypaillier", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pypaillier baseline failed:\n{completed.stderr}")
    rates: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return rates


def _rate(fn: Callable[[], Any], ops: int, budget: float) -> tuple[float, Any]:
    result = fn()  # warm-up (and the result to check)
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return ops * calls / elapsed, result


def _check(what: str, got: list[float], want: np.ndarray[Any, Any], rtol: float) -> None:
    atol = 1e-6 * max(1.0, float(np.max(np.abs(want))))
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise SystemExit(f"pypaillier {what}: got {got[:3]}, want {want[:3].tolist()}")


def _run(spec: dict[str, Any]) -> dict[str, float]:
    paillier: Any = importlib.import_module("paillier")
    values, rows, features = int(spec["values"]), int(spec["rows"]), int(spec["features"])
    budget = float(spec["budget"])
    rng = np.random.default_rng([int(spec["seed"]), int(spec["bits"]), 21])
    xs, ys = rng.standard_normal(values), rng.standard_normal(values)
    column, matrix = rng.standard_normal(rows), rng.standard_normal((rows, features))
    public_key, secret_key = paillier.generate_keypair(int(spec["bits"]))

    def decrypt(blobs: list[Any]) -> list[float]:
        return [float(paillier.decrypt(secret_key, blob)) for blob in blobs[:8]]

    rates: dict[str, float] = {}
    rates["encrypt"], a = _rate(
        lambda: paillier.encrypt_many(public_key, xs.tolist()), values, budget
    )
    _check("encrypt", decrypt(a), xs[:8], 1e-6)
    b = paillier.encrypt_many(public_key, ys.tolist())
    blocks = [[i, values + i] for i in range(values)]
    rates["add"], total = _rate(
        lambda: paillier.add_blocks(public_key, a + b, blocks), values, budget
    )
    _check("add", decrypt(total), (xs + ys)[:8], 1e-6)
    rates["mul_scalar_16bit"], product = _rate(
        lambda: paillier.multiply_many_public(public_key, a, [_SCALAR] * values), values, budget
    )
    _check("c * 0.731", decrypt(product), xs[:8] * _SCALAR, 1e-6)
    rates["mul_scalar_53bit"], product = _rate(
        lambda: paillier.multiply_integers_public(public_key, a, [_INT53] * values),
        values,
        budget,
    )
    _check("c * int53", decrypt(product), xs[:8] * float(_INT53), 1e-6)
    encrypted = paillier.encrypt_many(public_key, column.tolist())
    flat = matrix.T.ravel().tolist()
    sums = [list(range(j * rows, (j + 1) * rows)) for j in range(features)]

    def matmul() -> Any:
        products = paillier.multiply_many_public(public_key, encrypted * features, flat)
        return paillier.add_blocks(public_key, products, sums)

    rates["matmul_xt_ev"], result = _rate(matmul, rows * features, budget)
    _check("X.T @ ev", decrypt(result), (matrix.T @ column)[:8], 1e-6)
    return rates


if __name__ == "__main__":
    print(json.dumps(_run(json.loads(sys.argv[1]))))

"""The same results whatever runs the work: inline, thread pool, process pool, any Executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from crypto.paillier import PaillierPublicKey
from crypto.parallel import ORPHAN_POLL_SECONDS, chunk_bounds, parallel_config, resolve_n_jobs


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return rng.normal(size=300), rng.normal(size=(300, 4))


def _results(public_key, private_key, x, X, **parallel):
    ev = public_key.encrypt_vector(x, **parallel)
    owner = private_key.encrypt_vector(x, **parallel)
    return {
        "decrypt": private_key.decrypt_vector(ev, **parallel),
        "owner": private_key.decrypt_vector(owner, **parallel),
        "xt": private_key.decrypt_vector(ev.matmul(X.T, **parallel), **parallel),
        "mul": private_key.decrypt_vector(ev.multiply(x, **parallel), **parallel),
        "packed": private_key.decrypt_vector(ev.pack(**parallel), **parallel),
        "rerandomized": private_key.decrypt_vector(ev.rerandomize(**parallel), **parallel),
    }


def test_processes_threads_and_custom_executors_agree(public_key, private_key, data) -> None:
    x, X = data
    inline = _results(public_key, private_key, x, X, n_jobs=1)
    pooled = _results(public_key, private_key, x, X, n_jobs=2)
    with ThreadPoolExecutor(max_workers=3) as executor:
        custom = _results(public_key, private_key, x, X, executor=executor)
    for name, expected in inline.items():
        assert np.array_equal(pooled[name], expected), name
        assert np.array_equal(custom[name], expected), name


def test_parallel_config_sets_defaults_for_operators(public_key, private_key, data) -> None:
    x, X = data
    ev = public_key.encrypt_vector(x)
    expected = private_key.decrypt_vector(X.T @ ev)
    with ThreadPoolExecutor(max_workers=2) as executor, parallel_config(executor=executor):
        assert np.array_equal(private_key.decrypt_vector(X.T @ ev), expected)
    with parallel_config(n_jobs=2):
        assert resolve_n_jobs(None) == 2
        assert np.array_equal(private_key.decrypt_vector(X.T @ ev), expected)
    assert resolve_n_jobs(None) == 1


def test_n_jobs_follows_scikit_learn(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert resolve_n_jobs(-1) == 8
    assert resolve_n_jobs(-2) == 7
    assert resolve_n_jobs(3) == 3
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_jobs"):
            resolve_n_jobs(bad)  # type: ignore[arg-type]


def test_chunks_cover_the_range_once() -> None:
    for total, workers, minimum in [(0, 2, 1), (1, 4, 8), (1000, 2, 16), (17, 3, 1), (10, 1, 1)]:
        chunks = chunk_bounds(total, workers, minimum)
        covered = [i for start, stop in chunks for i in range(start, stop)]
        assert covered == list(range(total))
    assert chunk_bounds(10, 1, 1) == [(0, 10)]


@pytest.mark.parametrize("rows", [1031, 1050, 513])
def test_matrix_products_give_every_worker_a_share_of_odd_batches(public_key, rows) -> None:
    # a batch of 1031 rows once went to a single worker (a rounding-up bug)
    from crypto.paillier import vector

    seen: list[int] = []
    original = vector.parallel.run_chunks

    def recording(kernel, arguments, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(len(arguments))
        return original(kernel, arguments, **kwargs)

    ev = public_key.encrypt_vector(np.linspace(-1, 1, rows))
    X = np.random.default_rng(0).normal(size=(rows, 3))
    with ThreadPoolExecutor(2) as pool:
        vector.parallel.run_chunks = recording  # type: ignore[assignment]
        try:
            ev.matmul(X.T, executor=pool)
        finally:
            vector.parallel.run_chunks = original  # type: ignore[assignment]
    assert seen and seen[-1] >= 2


# ---------------------------------------------------------------------------------------
# workers die with the party: no orphans after kill -9
# ---------------------------------------------------------------------------------------
_OWNER_SCRIPT = """
import json, os, sys, time
from crypto import parallel

if __name__ == "__main__":
    pool = parallel._shared_pool("process", 2)
    busy = [pool.submit(time.sleep, 1.0) for _ in range(2)]  # both workers start
    [future.result() for future in busy]
    print(json.dumps(sorted(pool._processes)), flush=True)
    time.sleep(600)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for a reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_pool_workers_exit_when_their_party_is_killed(tmp_path) -> None:
    """A party killed with SIGKILL runs no cleanup; its pool's workers must still go."""
    script = tmp_path / "owner.py"
    script.write_text(_OWNER_SCRIPT)
    root = Path(__file__).resolve().parents[2]
    owner = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert owner.stdout is not None
        workers = json.loads(owner.stdout.readline())
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
    finally:
        owner.kill()
        owner.wait(timeout=30)
    deadline = time.monotonic() + 20 * ORPHAN_POLL_SECONDS + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers), f"orphaned workers: {workers}"


def test_elementwise_operations_on_threads_are_bit_identical(public_key: PaillierPublicKey) -> None:
    """``ev + ev``, ``ev + x`` and ``ev * k`` chunked on threads give the inline ciphertexts."""
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=600), rng.normal(size=600)
    factors = rng.normal(size=600)
    ev, other = public_key.encrypt_vector(x), public_key.encrypt_vector(y)

    def operations() -> dict[str, list[int]]:
        return {
            "ev + ev": (ev + other).ciphertexts,
            "ev + x": (ev + y).ciphertexts,
            "ev * -0.731": (ev * -0.731).ciphertexts,
            "ev * int": (ev * np.int64(-(1 << 52) - 7)).ciphertexts,
            "ev * array": ev.multiply(factors).ciphertexts,
        }

    inline = operations()
    with parallel_config(n_jobs=2):
        threaded = operations()
    with ThreadPoolExecutor(max_workers=2) as executor, parallel_config(executor=executor):
        custom = operations()
    for name, expected in inline.items():
        assert threaded[name] == expected, name
        assert custom[name] == expected, name

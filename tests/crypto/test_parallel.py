"""The same results whatever runs the work: inline, thread pool, process pool, any Executor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from crypto.parallel import chunk_bounds, parallel_config, resolve_n_jobs


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

"""Resident arguments on a Dask cluster: bytes per task and wall time, before and after.

Paillier ``encrypt``, ``decrypt`` and ``X.T @ ev`` of ``--size`` values at ``--bits``
run on a Dask cluster through :class:`vfl.runtime.compute.ClusterExecutor`, first
with resident arguments disabled (key material and shared ciphertexts pickled into
every task, the old behaviour), then enabled (scattered once, a future in every
task), in the same run and on the same cluster.  Workers are warmed up first (their
per-process fixed-base tables built) so that both modes time the same work.

Bytes are those of each task's pickled arguments as submitted (a Dask future counts
as its key), plus, for the resident mode, the bytes scattered (once per job).

By default a loopback cluster is started in this process's machine
(:class:`distributed.LocalCluster`: a scheduler and ``--workers`` worker processes of
one thread); ``--scheduler tcp://host:port`` uses a running one.

Run as ``python -m benchmarks.dask_resident`` (``--size``, ``--bits``, ``--features``,
``--workers``, ``--repeats``, ``--plan``, ``--scheduler``, ``--json``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from crypto.paillier import EncryptedVector, generate_paillier_keypair
from crypto.parallel import parallel_config
from vfl.runtime.compute import ClusterExecutor

__all__ = ["DESCRIPTION", "SUITE", "add_arguments", "main"]

DESCRIPTION = "Dask: bytes per task and time of encrypt/decrypt/X.T @ ev, resident keys off vs on"


class _MeasuredExecutor(ClusterExecutor):
    """A :class:`ClusterExecutor` that counts the pickled bytes of what it sends."""

    def __init__(self, client: Any, workers: int, *, resident: bool) -> None:
        super().__init__(client, workers, resident=resident)
        self.task_bytes: list[int] = []
        self.scattered_bytes = 0

    def _future_of(self, value: object) -> Any:
        before = self.scatters
        future = super()._future_of(value)
        if self.scatters != before:
            self.scattered_bytes += len(pickle.dumps(value, protocol=5))
        return future

    def _place(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[object]]:
        placed, values = super()._place(args)
        size = 0
        for argument in placed:
            key = getattr(argument, "key", None)
            if key is not None and type(argument).__name__ == "Future":
                size += len(pickle.dumps(key, protocol=5))
            else:
                size += len(pickle.dumps(argument, protocol=5))
        self.task_bytes.append(size)
        return placed, values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this suite."""
    parser.add_argument("--size", type=int, default=4000, help="values per vector")
    parser.add_argument("--bits", type=int, default=2048, help="Paillier key size")
    parser.add_argument("--features", type=int, default=8, help="columns of X in X.T @ ev")
    parser.add_argument("--workers", type=int, default=2, help="local cluster's workers")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per operation")
    parser.add_argument(
        "--plan",
        choices=["auto", "tables", "subsets", "buckets"],
        default="auto",
        help="X.T @ ev plan (tables: every task reads all ciphertexts)",
    )
    parser.add_argument("--scheduler", default=None, help="use this running scheduler")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _time(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(args: argparse.Namespace) -> int:
    """Run the comparison; print a table (or JSON)."""
    distributed: Any = importlib.import_module("distributed")  # optional, untyped

    cluster = None
    if args.scheduler is None:
        cluster = distributed.LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )
        address = cluster.scheduler_address
    else:
        address = args.scheduler
    public_key, private_key = generate_paillier_keypair(args.bits, allow_weak_key=args.bits < 2048)
    rng = np.random.default_rng(0)
    values = rng.normal(size=args.size)
    matrix = rng.integers(-(2**7), 2**7, size=(args.size, args.features))
    ev = public_key.encrypt_vector(values)
    operations: dict[str, Callable[[], object]] = {
        "encrypt": lambda: public_key.encrypt_vector(values),
        "decrypt": lambda: private_key.decrypt_vector(ev),
        "X.T @ ev": lambda: matrix.T @ ev,
    }
    EncryptedVector._matmul_plan = None if args.plan == "auto" else args.plan
    results: dict[str, dict[str, float]] = {}
    try:
        with distributed.Client(address, set_as_default=False) as client:
            threads = sum(client.nthreads().values())
            with parallel_config(executor=ClusterExecutor(client, threads, resident=False)):
                for call in operations.values():  # warm the workers' tables
                    call()
            for mode, resident in (("off", False), ("on", True)):
                executor = _MeasuredExecutor(client, threads, resident=resident)
                with parallel_config(executor=executor):
                    for name, call in operations.items():
                        executor.task_bytes.clear()
                        call()  # the resident mode's first call scatters
                        per_task = statistics.mean(executor.task_bytes)
                        tasks = len(executor.task_bytes)
                        results[f"{name} [{mode}]"] = {
                            "seconds": _time(call, args.repeats),
                            "bytes_per_task": per_task,
                            "tasks_per_call": tasks,
                        }
                    results[f"scattered [{mode}]"] = {
                        "bytes": executor.scattered_bytes,
                        "objects": executor.scatters,
                    }
                executor.shutdown()
    finally:
        if cluster is not None:
            cluster.close()
    if args.json:
        print(
            json.dumps(
                {"size": args.size, "bits": args.bits, "plan": args.plan, "results": results}
            )
        )
        return 0
    print(
        f"{args.size} values, {args.bits}-bit key, {args.features} features, "
        f"plan {args.plan}, {address}"
    )
    for name, row in results.items():
        print(f"  {name:<22} " + "  ".join(f"{k}={v:,.3f}" for k, v in row.items()))
    return 0


SUITE = (DESCRIPTION, add_arguments, main)

if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m benchmarks.dask_resident")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))

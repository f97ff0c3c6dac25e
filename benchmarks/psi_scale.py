"""PSI at scale: peak RSS and time per party, ``local`` compute and a 2-worker Dask cluster.

``python -m benchmarks psi_scale --ids 10000000`` writes two id files on disk
(``N`` ids per side, ``N // 2`` common, each side in its own random order), then
runs the guest and the host as two ``vfl run`` processes over mutual TLS
(:func:`benchmarks.psi_bench.run_engine`: each party's peak RSS and CPU time come
from ``wait4``, and both aligned files are checked against the expected common ids)
once per compute setting:

* ``local``: the parties' own processes;
* ``dask``: each party's ``compute = { engine = "dask", ... }`` names a cluster the
  benchmark starts on loopback (``dask scheduler`` and ``dask worker --nworkers 2
  --nthreads 1``), stopped afterwards.  KKRT-PSI does its work in the party
  process (its ``n_jobs`` is unused), so this run shows the cost of a connected
  cluster; ECDH sends its exponentiations to the workers.

Results go to ``benchmarks/results/psi_scale.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.psi_bench import (
    ROOT,
    Settings,
    make_ids,
    run_engine,
    write_ids,
    write_job,
)
from benchmarks.psi_rows import PARTIES

__all__ = ["COMPUTES", "DESCRIPTION", "SUITE", "add_arguments", "main", "with_compute"]

DESCRIPTION = "PSI at scale: per-party peak RSS and time, local and on a 2-worker Dask cluster"
COMPUTES = ("local", "dask")
SCHEDULER_WAIT = 60.0
"""Seconds allowed for the loopback scheduler to accept connections."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``psi_scale`` suite's options to ``parser``."""
    option = parser.add_argument
    option("--ids", type=int, default=10_000_000, help="ids per side, half common (10000000)")
    option("--method", choices=["ecdh", "kkrt", "vole"], default="kkrt", help="PSI method (kkrt)")
    option(
        "--compute",
        nargs="+",
        choices=COMPUTES,
        default=list(COMPUTES),
        help="compute settings to run (local dask)",
    )
    option("--workers", type=int, default=2, help="Dask workers, one thread each (2)")
    option("--seed", type=int, default=0, help="seed of the ids and their order (0)")
    option("--workdir", type=Path, help="keep data, jobs, outputs and logs here")
    option(
        "--output",
        type=Path,
        default=Path("benchmarks/results/psi_scale.json"),
        help="the JSON results (benchmarks/results/psi_scale.json)",
    )
    option("--timeout", type=float, default=3600.0, help="seconds per run (3600)")


def with_compute(job_text: str, scheduler: str) -> str:
    """``job_text`` with every party's work sent to the Dask ``scheduler``.

    Parameters
    ----------
    job_text : str
        A job file as :func:`benchmarks.psi_bench.write_job` writes it.
    scheduler : str
        ``tcp://host:port``.

    Returns
    -------
    str
        The job with a ``compute`` line after each party's ``data`` line.

    Examples
    --------
    >>> print(with_compute('name = "g"\\ndata = { file = "g.csv" }\\n', "tcp://127.0.0.1:1"))
    name = "g"
    data = { file = "g.csv" }
    compute = { engine = "dask", scheduler = "tcp://127.0.0.1:1" }
    <BLANKLINE>
    """
    line = f'compute = {{ engine = "dask", scheduler = "{scheduler}" }}'
    out = []
    for text in job_text.splitlines():
        out.append(text)
        if text.startswith("data = "):
            out.append(line)
    return "\n".join(out) + "\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process group this benchmark started (SIGTERM, then SIGKILL)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` one-thread workers on loopback; yields its address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in (
            ("scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)]),
            (
                "workers",
                [dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1"],
            ),
        ):
            with (folder / f"dask-{name}.log").open("wb") as log:
                started.append(
                    subprocess.Popen(  # noqa: S603  # our own dask executable, fixed arguments
                        [*command, "--no-dashboard"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            if name == "scheduler":
                _wait_for_port(port)
        yield address
    finally:
        for process in reversed(started):
            _stop(process)


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + SCHEDULER_WAIT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the dask scheduler did not listen on port {port} in {SCHEDULER_WAIT} s")


def _log(start: float) -> Any:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def main(args: argparse.Namespace) -> int:
    """Run the suite; see the module docstring."""
    from vfl.certs import create_job_certificates

    if args.ids < 2 or args.workers < 1:
        raise SystemExit("--ids must be at least 2 and --workers at least 1")
    start = time.perf_counter()
    log = _log(start)
    settings = Settings(
        sizes=(int(args.ids),),
        method=str(args.method),
        n_jobs=int(args.workers),
        chunk_size=None,
        baseline_max_size=0,
        seed=int(args.seed),
        workdir=args.workdir,
        output=Path(args.output),
        timeout=float(args.timeout),
    )
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="psi-scale-")))
        else:
            folder = Path(args.workdir)
            folder.mkdir(parents=True, exist_ok=True)
        log(f"{args.ids:,} ids per side: writing the id files to {folder}")
        ids = make_ids(args.ids, args.seed)
        write_ids(folder / "guest.csv", ids.guest)
        write_ids(folder / "host.csv", ids.host)
        create_job_certificates(folder / "certs", list(PARTIES), overwrite=True)
        file_bytes = {name: (folder / f"{name}.csv").stat().st_size for name in PARTIES}
        results: dict[str, Any] = {}
        for compute in args.compute:
            job = write_job(folder, args.ids, settings)
            with contextlib.ExitStack() as cluster:
                if compute == "dask":
                    address = cluster.enter_context(dask_cluster(folder, args.workers))
                    job.write_text(with_compute(job.read_text("utf-8"), address), "utf-8")
                log(f"{args.ids:,} ids per side: {args.method} PSI, compute {compute}")
                run = run_engine(folder, job, ids, settings, log)
            record = run.to_json(args.ids)
            results[compute] = record
            peaks = {n: round(p.peak_rss_bytes / 2**20) for n, p in run.parties.items()}
            log(f"compute {compute}: {run.wall_seconds:.1f} s wall, peak RSS MiB {peaks}")
    document = {
        "meta": {
            **report.build_meta(
                getattr(args, "argv", []), {"ids": args.ids, "compute": list(args.compute)}
            ),
            "total_seconds": round(time.perf_counter() - start, 1),
        },
        "ids_per_side": args.ids,
        "common_ids": args.ids // 2,
        "method": args.method,
        "dask_workers": args.workers,
        "file_bytes": file_bytes,
        "results": results,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {output}")
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""``(description, add_arguments, main)`` for :data:`benchmarks.__main__.SUITES`."""

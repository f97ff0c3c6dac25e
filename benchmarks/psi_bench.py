"""PSI benchmark: two ``vfl run`` processes over mutual TLS against openmined-psi, same run.

For each set size ``N`` the guest and the host each hold ``N`` phone-number-like ids,
``N // 2`` of them common, in a different random order on each side.  The suite
writes the two id files, a job CA and certificates, and a job file with one
``psi`` step (``output = "both"``), starts the guest and the host as separate
processes on free loopback ports and times them from start to both exited; each
process's peak RSS and CPU time come from ``wait4``.  Both parties' aligned CSV
files must hold exactly the expected common ids, in the same order, or the run
stops with a :class:`~benchmarks.verify.VerificationError`.

The baseline is openmined-psi's full protocol (server setup, client request,
server response, client intersection; ``reveal_intersection=True``, GCS, false
positive rate 1e-9) on the same ids, in the benchmark process.

``--methods`` runs several of our methods on the same ids, and ``--spu`` runs
SecretFlow spu's RR22 and/or KKRT (:mod:`benchmarks.psi_spu`, two party processes
over spu's own link) after them, with bytes sent per id for every run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.psi_rows import (
    PARTIES,
    BaselineRun,
    EngineRun,
    PartyRun,
    SizeResult,
    markdown_table,
    plot_results,
    summarize,
)
from benchmarks.psi_spu import (
    PROTOCOLS as SPU_PROTOCOLS,
)
from benchmarks.psi_spu import (
    SpuPartyError,
    SpuRun,
    SpuUnavailableError,
    find_spu_python,
    run_spu_psi,
    spu_version,
)
from benchmarks.timing import time_once
from benchmarks.verify import VerificationError
from protocols.psi.settings import METHODS

__all__ = [
    "DESCRIPTION",
    "IdSets",
    "PartyProcessError",
    "Settings",
    "add_arguments",
    "main",
    "make_ids",
    "run",
    "run_baseline",
    "run_engine",
    "verify_alignment",
    "write_job",
]

DESCRIPTION = "PSI: guest and host as two `vfl run` processes over TLS vs openmined-psi"

Log = Callable[[str], None]

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory of the party processes."""
ID_COLUMN = "id"
BASELINE_FPR = 1e-9
"""openmined-psi's false-positive rate (the value of its own benchmarks)."""
PROGRESS_EVERY = 15.0
"""Seconds between 'still running' lines while the parties work."""
_MAX_DIGITS = 18
SPU_CHOICES = ("none", "both", *SPU_PROTOCOLS)
"""``--spu`` values: ``both`` is RR22 and KKRT."""


class PartyProcessError(RuntimeError):
    """A party process failed or timed out; the message holds the tail of its log."""


@dataclass(frozen=True)
class Settings:
    """Resolved options of one benchmark run."""

    sizes: tuple[int, ...]
    method: str
    n_jobs: int
    chunk_size: int | None
    baseline_max_size: int
    seed: int
    workdir: Path | None
    output: Path
    timeout: float
    methods: tuple[str, ...] = ()
    spu: tuple[str, ...] = ()
    spu_python: Path | None = None

    @property
    def all_methods(self) -> tuple[str, ...]:
        """Our methods to run on each size: ``methods``, else ``(method,)``."""
        return self.methods or (self.method,)

    @property
    def png(self) -> Path:
        """The plot, next to the JSON file."""
        return self.output.with_suffix(".png")

    def runs_baseline(self, size: int) -> bool:
        """Whether openmined-psi runs at ``size`` ids per side."""
        return 0 < size <= self.baseline_max_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``psi`` suite's options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The suite's sub-parser.
    """
    option = parser.add_argument
    option(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        metavar="N",
        help="ids per side, half of them common (10000 100000 1000000)",
    )
    option("--method", choices=list(METHODS), default="ecdh", help="PSI method (ecdh)")
    option(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        metavar="METHOD",
        help="run several of our methods on the same ids (overrides --method; the first "
        "is the reference of the ratios)",
    )
    option(
        "--spu",
        nargs="+",
        choices=SPU_CHOICES,
        default=["none"],
        help="also run SecretFlow spu's PSI on the same ids: rr22, rr22-lowcomm, kkrt, "
        "both (rr22 and kkrt) or none (none); needs spu, see --spu-python",
    )
    option(
        "--spu-python",
        type=Path,
        help="the Python interpreter that has spu==0.9.5 (default: this one if it imports "
        "spu, else .venv-spu/bin/python)",
    )
    option("--n-jobs", type=int, default=1, help="n_jobs of the psi step, per party (1)")
    option("--chunk-size", type=int, help="chunk_size of the psi step (the engine's default)")
    option(
        "--baseline-max-size",
        type=int,
        default=100_000,
        metavar="N",
        help="run openmined-psi at sizes up to N (100000; 0 disables it)",
    )
    option("--seed", type=int, default=0, help="seed of the ids and their order (0)")
    option(
        "--workdir",
        type=Path,
        help="keep data, certificates, job files, outputs and logs here (default: a "
        "temporary folder, removed afterwards)",
    )
    option(
        "--output",
        type=Path,
        default=Path("benchmarks/results/psi.json"),
        help="the JSON results; the PNG goes next to it (benchmarks/results/psi.json)",
    )
    option(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds allowed for both parties at one size before they are killed (1800)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings(
        sizes=tuple(int(n) for n in args.sizes),
        method=str(args.method),
        n_jobs=int(args.n_jobs),
        chunk_size=None if args.chunk_size is None else int(args.chunk_size),
        baseline_max_size=int(args.baseline_max_size),
        seed=int(args.seed),
        workdir=args.workdir,
        output=Path(args.output),
        timeout=float(args.timeout),
        methods=tuple(dict.fromkeys(args.methods or ())),
        spu=_spu_protocols(args.spu),
        spu_python=args.spu_python,
    )
    if min(settings.sizes) < 2:
        raise SystemExit("--sizes must be at least 2 (half of the ids are common)")
    if len(set(settings.sizes)) != len(settings.sizes):
        raise SystemExit("--sizes must not repeat a size")
    if settings.chunk_size is not None and settings.chunk_size < 1:
        raise SystemExit("--chunk-size must be positive")
    if settings.n_jobs == 0:
        raise SystemExit("--n-jobs must not be 0 (-1: every core)")
    if settings.baseline_max_size < 0 or settings.timeout <= 0:
        raise SystemExit("--baseline-max-size must be >= 0 and --timeout positive")
    if settings.output.suffix != ".json":
        raise SystemExit("--output must name a .json file")
    return settings


def _spu_protocols(chosen: Sequence[str]) -> tuple[str, ...]:
    """``--spu`` values as spu baselines, in order, without repeats.

    Examples
    --------
    >>> _spu_protocols(["none"]), _spu_protocols(["both", "rr22-lowcomm", "rr22"])
    ((), ('rr22', 'kkrt', 'rr22-lowcomm'))
    """
    out: list[str] = []
    for value in chosen:
        out += ["rr22", "kkrt"] if value == "both" else [] if value == "none" else [value]
    return tuple(dict.fromkeys(out))


def _make_log(start: float) -> Log:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    return log


# data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IdSets:
    """The ids of one size: each side's rows in its own order, and the common ids.

    Attributes
    ----------
    guest, host : list of str
        Each party's ids, unique, in the order of its file.
    common : frozenset of str
        The ids both hold.
    """

    guest: list[str]
    host: list[str]
    common: frozenset[str]


def make_ids(size: int, seed: int) -> IdSets:
    """Phone-number-like ids: ``size`` per side, ``size // 2`` common, shuffled per side.

    Parameters
    ----------
    size : int
        Ids per side (at least 2).
    seed : int
        Seed of :func:`numpy.random.default_rng` (with ``size``).

    Returns
    -------
    IdSets
        Ids such as ``"+1-555-0123456"`` (more digits when 7 cannot keep the draw
        sparse).
    """
    if size < 2:
        raise ValueError("size must be at least 2")
    common = size // 2
    unique = 2 * size - common
    digits = max(7, len(str(4 * unique)))
    if digits > _MAX_DIGITS:
        raise ValueError(f"size {size} is too large")
    rng = np.random.default_rng([seed, size])
    numbers = rng.choice(10**digits, size=unique, replace=False).tolist()
    ids = [f"+1-555-{number:0{digits}d}" for number in numbers]
    shared, guest_only, host_only = ids[:common], ids[common:size], ids[size:]
    guest = shared + guest_only
    host = shared + host_only
    guest = [guest[i] for i in rng.permutation(size).tolist()]
    host = [host[i] for i in rng.permutation(size).tolist()]
    return IdSets(guest=guest, host=host, common=frozenset(shared))


def write_ids(path: Path, ids: Sequence[str]) -> None:
    """Write a one-column CSV file (header ``id``).

    Parameters
    ----------
    path : Path
        The file.
    ids : sequence of str
        The rows.
    """
    path.write_text(ID_COLUMN + "\n" + "\n".join(ids) + "\n", encoding="utf-8")


def read_ids(path: Path) -> list[str]:
    """The ``id`` column of a CSV file, in file order.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    list of str
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or ID_COLUMN not in header:
            raise VerificationError(f"{path}: no {ID_COLUMN!r} column (header {header})")
        index = header.index(ID_COLUMN)
        return [row[index] for row in reader]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_job(folder: Path, size: int, settings: Settings, method: str | None = None) -> Path:
    """Write ``job.toml`` for a guest and a host on free loopback ports.

    The data files (``guest.csv``, ``host.csv``) and ``certs/`` are expected in
    ``folder``; outputs go to ``folder/output/<party>/``.

    Parameters
    ----------
    folder : Path
        The job's folder.
    size : int
        Ids per side (names the job).
    settings : Settings
        Method, ``n_jobs``, chunk size and timeout.
    method : str or None
        The PSI method (default: ``settings.method``).

    Returns
    -------
    Path
        The job file.
    """
    ports = _free_ports(len(PARTIES))
    message_timeout = max(600.0, settings.timeout)
    text = [
        "[job]",
        f'id = "psi-bench-{size}"',
        f"timeout = {message_timeout}",
        "connect_timeout = 120",
        'output_dir = "output"',
        "",
        "[tls]",
        'ca = "certs/ca.crt"',
    ]
    for name, port in zip(PARTIES, ports, strict=True):
        text += [
            "",
            "[[parties]]",
            f'name = "{name}"',
            f'role = "{name}"',
            f'address = "127.0.0.1:{port}"',
            f'certificate = "certs/{name}.crt"',
            f'private_key = "certs/{name}.key"',
            f'data = {{ file = "{name}.csv", id_column = "{ID_COLUMN}" }}',
        ]
    text += [
        "",
        "[[steps]]",
        'type = "psi"',
        f'method = "{method or settings.method}"',
        'output = "both"',
        f"n_jobs = {settings.n_jobs}",
    ]
    if settings.chunk_size is not None:
        text.append(f"chunk_size = {settings.chunk_size}")
    path = folder / "job.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


# our engine -----------------------------------------------------------------------------
@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    status: int | None = None
    usage: Any = None
    ended: float = 0.0


def _reap(child: _Process) -> None:
    """Wait for ``child`` with ``wait4`` (its rusage), then record the exit time."""
    _, status, usage = os.wait4(child.process.pid, 0)
    child.ended = time.perf_counter()
    child.usage = usage
    child.status = os.waitstatus_to_exitcode(status)
    child.process.returncode = child.status  # reaped here: Popen must not wait again


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _start(job: Path, name: str, folder: Path) -> _Process:
    log = folder / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "vfl.cli",
        "run",
        "--config",
        str(job),
        "--party",
        name,
        "--no-progress",
        "--log-level",
        "WARNING",
    ]
    with log.open("wb") as handle:
        process = subprocess.Popen(  # noqa: S603  # sys.executable and our own arguments
            command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT
        )
    return _Process(name, process, log)


def _wait_all(children: Sequence[_Process], timeout: float, log: Log, started: float) -> None:
    """Wait until every child exits.

    The others are killed once one fails (it would leave its peer waiting) or when
    ``timeout`` seconds have passed since ``started``.
    """
    threads = [threading.Thread(target=_reap, args=(c,), daemon=True) for c in children]
    for thread in threads:
        thread.start()
    deadline = started + timeout
    next_report = started + PROGRESS_EVERY
    while True:
        alive = [c for c, t in zip(children, threads, strict=True) if t.is_alive()]
        if not alive:
            break
        now = time.perf_counter()
        failed = [c.name for c in children if c.status not in (None, 0)]
        if failed or now >= deadline:
            reason = f"{', '.join(failed)} failed" if failed else f"no exit after {timeout:.0f} s"
            for child in alive:
                log(f"  {reason}: killing {child.name}")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.process.pid, signal.SIGKILL)
            break
        if now >= next_report:
            names = ", ".join(c.name for c in alive)
            log(f"  ... {names} still running ({now - started:.0f} s)")
            next_report += PROGRESS_EVERY
        time.sleep(0.05)
    for thread in threads:
        thread.join()


def _summary(folder: Path, name: str) -> dict[str, Any]:
    path = folder / "output" / name / "step-0-psi.json"
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VerificationError(f"{name}: no readable PSI summary {path}: {error}") from None
    return document


def _step_bytes(folder: Path, name: str) -> int | None:
    """Bytes the party sent in its PSI step, from its audit log (``None`` if absent)."""
    path = folder / "output" / name / "audit.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        record = json.loads(line)
        if record.get("event") == "step" and record.get("type") == "psi":
            sent = record.get("bytes_sent")
            return int(sent) if isinstance(sent, int) else None
    return None


def verify_alignment(aligned: Mapping[str, Sequence[str]], expected: frozenset[str]) -> None:
    """Check that every party's aligned ids are exactly ``expected``, in one shared order.

    Parameters
    ----------
    aligned : mapping
        Party name to the ids of its aligned file, in file order.
    expected : frozenset of str
        The common ids.

    Raises
    ------
    VerificationError
        On a missing, extra or repeated id, or rows in a different order.
    """
    names = list(aligned)
    if not names:
        raise VerificationError("no aligned files to check")
    first = list(aligned[names[0]])
    for name in names:
        rows = list(aligned[name])
        if len(set(rows)) != len(rows):
            raise VerificationError(f"{name}: the aligned file repeats ids")
        found = set(rows)
        if found != expected:
            missing, extra = len(expected - found), len(found - expected)
            raise VerificationError(
                f"{name}: aligned ids differ from the {len(expected)} common ids "
                f"({missing} missing, {extra} not common)"
            )
        if rows != first:
            at = next(i for i, (a, b) in enumerate(zip(first, rows, strict=True)) if a != b)
            raise VerificationError(
                f"{names[0]} and {name} list the common ids in different orders "
                f"(first difference at row {at})"
            )


def _check_summary(name: str, document: Mapping[str, Any], size: int, common: int) -> None:
    want = {"input_rows": size, "ids": size, "intersection_size": common, "output": "both"}
    for key, value in want.items():
        if document.get(key) != value:
            raise VerificationError(
                f"{name}: summary has {key}={document.get(key)!r}, expected {value!r}"
            )
    peer_ids = document.get("peer_ids")
    if not isinstance(peer_ids, dict) or set(peer_ids.values()) - {size}:
        raise VerificationError(f"{name}: summary has peer_ids={peer_ids!r}, expected {size}")


def run_engine(
    folder: Path, job: Path, ids: IdSets, settings: Settings, log: Log, method: str | None = None
) -> EngineRun:
    """Start the guest and the host as ``vfl run`` processes, time them and check outputs.

    Parameters
    ----------
    folder : Path
        The job's folder (logs are written there, outputs under ``output/``).
    job : Path
        The job file.
    ids : IdSets
        The ids in the parties' files (for the checks).
    settings : Settings
        Method, ``n_jobs`` and timeout.
    log : callable
        Progress reporter.
    method : str or None
        The job's PSI method, as recorded (default: ``settings.method``).

    Returns
    -------
    EngineRun

    Raises
    ------
    PartyProcessError
        If a party exits with an error or is killed after the timeout.
    VerificationError
        If the summaries or aligned files are not what the ids imply.
    """
    size, common = len(ids.guest), len(ids.common)
    shutil.rmtree(folder / "output", ignore_errors=True)
    started = time.perf_counter()
    children = [_start(job, name, folder) for name in PARTIES]
    _wait_all(children, settings.timeout, log, started)
    wall = max(child.ended for child in children) - started
    failed = [child for child in children if child.status != 0]
    if failed:
        details = "\n".join(
            f"--- {c.name} exited with {c.status}; last lines of {c.log}:\n{_tail(c.log)}"
            for c in failed
        )
        kept = "" if settings.workdir is not None else " (pass --workdir to keep the logs)"
        raise PartyProcessError(f"{size} ids: the PSI job failed{kept}\n{details}")

    summaries = {child.name: _summary(folder, child.name) for child in children}
    aligned: dict[str, list[str]] = {}
    for name, document in summaries.items():
        _check_summary(name, document, size, common)
        file = document.get("aligned_file")
        if not isinstance(file, str):
            raise VerificationError(f"{name}: no aligned file in its summary")
        aligned[name] = read_ids(folder / "output" / name / file)
    verify_alignment(aligned, ids.common)

    parties = {}
    for child in children:
        own = summaries[child.name].get("seconds")
        parties[child.name] = PartyRun(
            name=child.name,
            exit_code=0,
            exited_after=child.ended - started,
            own_seconds=float(own) if isinstance(own, int | float) else None,
            peak_rss_bytes=int(child.usage.ru_maxrss) * 1024,  # KiB on Linux
            cpu_seconds=float(child.usage.ru_utime + child.usage.ru_stime),
            bytes_sent=_step_bytes(folder, child.name),
        )
    return EngineRun(
        method=method or settings.method,
        n_jobs=settings.n_jobs,
        wall_seconds=wall,
        parties=parties,
        intersection_size=len(aligned[PARTIES[0]]),
    )


# openmined-psi ----------------------------------------------------------------------------
def _openmined() -> Any:
    try:
        return importlib.import_module("private_set_intersection.python")
    except ImportError as error:
        raise SystemExit(
            f"openmined-psi is not importable ({error}): pip install -e '.[bench]', or pass "
            "--baseline-max-size 0 to skip the baseline"
        ) from None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_baseline(ids: IdSets, log: Log) -> BaselineRun:
    """openmined-psi's full protocol on ``ids``: the host is the server, the guest the client.

    Parameters
    ----------
    ids : IdSets
        The same ids as the engine's run.
    log : callable
        Progress reporter.

    Returns
    -------
    BaselineRun

    Raises
    ------
    VerificationError
        If the intersection it reveals is not the common ids.
    """
    psi = _openmined()
    client_items, server_items = ids.guest, ids.host
    phases: dict[str, float] = {}
    values: dict[str, Any] = {}

    def phase(name: str, fn: Callable[[], Any]) -> Any:
        log(f"  openmined-psi: {name}")
        phases[name], values[name] = time_once(fn)
        return values[name]

    keys = phase(
        "keys",
        lambda: (psi.client.CreateWithNewKey(True), psi.server.CreateWithNewKey(True)),
    )
    client, server = keys
    setup = phase(
        "server_setup",
        lambda: server.CreateSetupMessage(
            BASELINE_FPR, len(client_items), server_items, psi.DataStructure.GCS
        ),
    )
    request = phase("client_request", lambda: client.CreateRequest(client_items))
    response = phase("server_response", lambda: server.ProcessRequest(request))
    indices = phase("client_intersection", lambda: client.GetIntersection(setup, response))

    found = [client_items[int(i)] for i in indices]
    if len(set(found)) != len(found) or set(found) != ids.common:
        raise VerificationError(
            f"openmined-psi found {len(set(found))} ids, not the {len(ids.common)} common ids"
        )
    return BaselineRun(
        seconds=sum(phases.values()),
        phases=phases,
        message_bytes={
            "setup": int(setup.ByteSize()),
            "request": int(request.ByteSize()),
            "response": int(response.ByteSize()),
        },
        intersection_size=len(found),
        version=_version("openmined-psi"),
    )


# the suite --------------------------------------------------------------------------------
@contextlib.contextmanager
def _workdir(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="psi-bench-") as folder:
        yield Path(folder)


def bench_size(size: int, settings: Settings, workdir: Path, log: Log) -> SizeResult:
    """Prepare, run and check one size: our engine, then openmined-psi if enabled.

    Parameters
    ----------
    size : int
        Ids per side.
    settings : Settings
        Resolved options.
    workdir : Path
        The run's work folder (a sub-folder per size is used).
    log : callable
        Progress reporter.

    Returns
    -------
    SizeResult
    """
    from vfl.certs import create_job_certificates

    folder = workdir / f"psi-{size}"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"{size:,} ids per side: generating ids, certificates and the job file")
    prepared = time.perf_counter()
    ids = make_ids(size, settings.seed)
    write_ids(folder / "guest.csv", ids.guest)
    write_ids(folder / "host.csv", ids.host)
    create_job_certificates(folder / "certs", list(PARTIES), overwrite=True)
    data_seconds = time.perf_counter() - prepared

    runs: list[EngineRun] = []
    for method in settings.all_methods:
        job = write_job(folder, size, settings, method)
        log(f"{size:,} ids per side: {method} PSI, guest and host processes (TLS)")
        run_ = run_engine(folder, job, ids, settings, log, method)
        per_item = run_.bytes_per_item(size)
        sent = "n/a" if per_item is None else f"{per_item:,.1f}"
        log(
            f"{size:,} ids per side: ours ({method}) {run_.wall_seconds:.2f} s wall, "
            f"{sent} bytes sent per id, checked ({run_.intersection_size:,} common ids in "
            "the same order on both sides)"
        )
        runs.append(run_)
    ours = runs[0]
    spu_runs: list[SpuRun] = []
    for protocol in settings.spu:
        log(f"{size:,} ids per side: spu {protocol} PSI, two party processes (brpc)")
        spu_run = run_spu_psi(
            folder / "guest.csv",
            folder / "host.csv",
            protocol,
            folder / "spu",
            log,
            python=settings.spu_python,
            expected=ids.common,
            timeout=settings.timeout,
        )
        log(
            f"{size:,} ids per side: spu {protocol} {spu_run.wall_s:.2f} s wall "
            f"(psi_execute {spu_run.protocol_s:.2f} s), {spu_run.bytes_per_item:,.1f} bytes "
            f"sent per id, checked; ours/spu wall {ours.wall_seconds / spu_run.wall_s:.2f}"
        )
        spu_runs.append(spu_run)
    baseline = None
    if settings.runs_baseline(size):
        log(f"{size:,} ids per side: openmined-psi full protocol (this process)")
        baseline = run_baseline(ids, log)
        log(
            f"{size:,} ids per side: openmined-psi {baseline.seconds:.2f} s, "
            f"speed-up {baseline.seconds / ours.wall_seconds:.1f}x"
        )
    return SizeResult(
        size=size,
        expected_intersection=len(ids.common),
        ours=ours,
        baseline=baseline,
        data_seconds=data_seconds,
        more=tuple(runs[1:]),
        spu=tuple(spu_runs),
    )


def run(settings: Settings, log: Log) -> list[SizeResult]:
    """Run the whole suite, size after size.

    Parameters
    ----------
    settings : Settings
        Resolved options.
    log : callable
        Progress reporter.

    Returns
    -------
    list of SizeResult
        In the order of ``settings.sizes``.
    """
    if any(settings.runs_baseline(size) for size in settings.sizes):
        _openmined()  # fail before the long runs, not after
    if settings.spu:
        try:
            find_spu_python(settings.spu_python)
        except SpuUnavailableError as error:
            raise SystemExit(f"--spu {' '.join(settings.spu)}: {error}") from None
    with _workdir(settings.workdir) as workdir:
        log(f"work folder {workdir}")
        return [bench_size(size, settings, workdir, log) for size in settings.sizes]


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks psi``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (see :func:`add_arguments`) and ``argv``.

    Returns
    -------
    int
        Exit status: 0, or 1 when a party fails or a check does not hold.
    """
    settings = _settings(args)
    start = time.perf_counter()
    log = _make_log(start)
    log(f"psi benchmark: {settings}")
    try:
        results = run(settings, log)
    except (PartyProcessError, SpuPartyError, VerificationError) as error:
        log(f"FAILED: {error}")
        return 1
    total = time.perf_counter() - start

    recorded = {
        **asdict(settings),
        "workdir": None if settings.workdir is None else str(settings.workdir),
        "output": str(settings.output),
        "spu_python": None if settings.spu_python is None else str(settings.spu_python),
    }
    meta = {
        **report.build_meta(getattr(args, "argv", []), recorded),
        "openmined_psi": _version("openmined-psi"),
        "cryptography": _version("cryptography"),
        "spu": spu_version(find_spu_python(settings.spu_python)) if settings.spu else None,
        "total_seconds": round(total, 1),
    }
    document = {"meta": meta, "results": summarize(results)}
    settings.output.parent.mkdir(parents=True, exist_ok=True)
    settings.output.write_text(
        json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    title = (
        f"PSI ({settings.all_methods[0]}, n_jobs={settings.n_jobs} per party, 50% overlap): "
        "this project (solid) vs openmined-psi (dashed)"
    )
    plot_results(results, settings.png, title=title)
    print(markdown_table(results), end="")
    log(f"measured in {total:.0f} s; wrote {settings.output} and {settings.png}")
    return 0

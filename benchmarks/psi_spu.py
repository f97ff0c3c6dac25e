"""SecretFlow ``spu``'s PSI (RR22, KKRT) as a baseline: two party processes on loopback.

``spu`` (0.9.5, Ant Group's C++ PSI library behind a Python binding) is an optional
benchmark tool, never a dependency of the engine.  It pins ``numpy<2``, so it usually
lives in its own virtual environment; :func:`find_spu_python` picks the interpreter
(``--spu-python``, else this one if it can import ``spu``, else ``.venv-spu/bin/python``
at the repository root)::

    python3 -m venv .venv-spu && .venv-spu/bin/pip install spu==0.9.5

:func:`run_spu_psi` starts the guest (rank 0, the receiver) and the host (rank 1,
the sender) as two processes of that interpreter running ``python -m
benchmarks.psi_spu party ...``, connected by spu's own link (brpc) over loopback,
both receiving the result (``broadcast_result``) aligned in one order.  Every byte
between them passes through a counting relay in the benchmark process (one per
direction of connection): spu's Python binding exposes no link statistics, and a
relay measures the TCP payload, brpc framing included, without trusting the tool's
own count.  Wall time runs from starting both processes to both exited
(interpreter start and ``import spu`` included, as for ``vfl run``); each party also
times its ``psi_execute`` call, and ``wait4`` gives its peak RSS and CPU time.  Both
output files must hold exactly the common ids in the same order, or the run fails
with :class:`~benchmarks.verify.VerificationError`.

This module imports only the standard library at module level, so the party
processes run under the ``spu`` interpreter without the engine's dependencies.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "PROTOCOLS",
    "SpuPartyError",
    "SpuRun",
    "SpuUnavailableError",
    "find_spu_python",
    "run_spu_psi",
    "spu_version",
]

ROOT = Path(__file__).resolve().parent.parent
"""The repository root: the working directory of the party processes."""
SPU_VERSION = "0.9.5"
"""The spu release this baseline was written and checked against."""
INSTALL_HINT = (
    f"install it in its own environment (it pins numpy<2): python3 -m venv .venv-spu && "
    f".venv-spu/bin/pip install spu=={SPU_VERSION}, then pass --spu-python "
    ".venv-spu/bin/python (or leave it: .venv-spu at the repository root is found)"
)
PROTOCOLS: Mapping[str, tuple[str, bool]] = {
    "rr22": ("PROTOCOL_RR22", False),
    "rr22-lowcomm": ("PROTOCOL_RR22", True),
    "kkrt": ("PROTOCOL_KKRT", False),
}
"""Baseline name to spu's protocol and RR22's ``low_comm_mode``."""
PARTY_NAMES = ("guest", "host")
"""Rank 0 (receiver) and rank 1 (sender), as in the engine's benchmark."""
ID_COLUMN = "id"
CONNECT_WAIT = 30.0
"""Seconds the relay keeps retrying a party's port that is not listening yet."""

Log = Callable[[str], None]


class SpuUnavailableError(RuntimeError):
    """No interpreter that can import ``spu`` was found; the message says how to install it."""


class SpuPartyError(RuntimeError):
    """A spu party process failed or timed out; the message holds the tail of its log."""


@dataclass(frozen=True)
class SpuRun:
    """One spu PSI run on two id files.

    Attributes
    ----------
    protocol : str
        A key of :data:`PROTOCOLS` (``"rr22"``, ``"rr22-lowcomm"`` or ``"kkrt"``).
    size : int
        Ids per side (the guest's file; both files hold the same count here).
    wall_s : float
        From just before both processes were started until both had exited.
    protocol_s : float or None
        The longer of the two parties' ``psi_execute`` calls (reading the CSV,
        the protocol and writing the output; the link set-up excluded).
    bytes_sent : mapping
        Party name to the TCP payload bytes it sent (brpc framing included).
    peak_rss_bytes : mapping
        Party name to its peak RSS (``ru_maxrss`` from ``wait4``).
    import_rss_bytes : mapping
        Party name to its peak RSS right after ``import spu`` (before any work).
    cpu_s : mapping
        Party name to user plus system CPU seconds.
    intersection_size : int
        Common ids found (checked against the expected ids).
    version : str
        The ``spu`` version the parties ran.
    """

    protocol: str
    size: int
    wall_s: float
    protocol_s: float | None
    bytes_sent: Mapping[str, int]
    peak_rss_bytes: Mapping[str, int]
    import_rss_bytes: Mapping[str, int]
    cpu_s: Mapping[str, float]
    intersection_size: int
    version: str

    @property
    def total_bytes(self) -> int:
        """Bytes sent by both parties."""
        return sum(self.bytes_sent.values())

    @property
    def bytes_per_item(self) -> float:
        """Bytes sent by both parties per id of one side.

        Examples
        --------
        >>> run = SpuRun("rr22", 4, 1.0, 0.5, {"guest": 60, "host": 40}, {}, {}, {}, 2, "0.9.5")
        >>> run.bytes_per_item
        25.0
        """
        return self.total_bytes / self.size if self.size else 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this run."""
        return {
            "protocol": self.protocol,
            "wall_seconds": round(self.wall_s, 3),
            "protocol_seconds": None if self.protocol_s is None else round(self.protocol_s, 3),
            "bytes_sent": dict(self.bytes_sent),
            "total_bytes": self.total_bytes,
            "bytes_per_item": round(self.bytes_per_item, 2),
            "peak_rss_mb": {k: round(v / 2**20, 1) for k, v in self.peak_rss_bytes.items()},
            "import_rss_mb": {k: round(v / 2**20, 1) for k, v in self.import_rss_bytes.items()},
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "intersection_size": self.intersection_size,
            "version": self.version,
        }


# finding spu ------------------------------------------------------------------------------
def _imports_spu(python: Path) -> bool:
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('spu') is None)"
    try:
        done = subprocess.run(  # noqa: S603  # an interpreter path and a fixed probe
            [str(python), "-c", probe], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_spu_python(explicit: Path | None = None) -> Path:
    """The interpreter that runs the spu parties.

    Parameters
    ----------
    explicit : Path or None
        ``--spu-python``: used if given (it must import ``spu``).

    Returns
    -------
    Path
        ``explicit``; else this interpreter if ``spu`` is importable here; else
        ``.venv-spu/bin/python`` at the repository root if it imports ``spu``.

    Raises
    ------
    SpuUnavailableError
        If none of them can import ``spu``; the message says how to install it.

    Examples
    --------
    >>> find_spu_python(Path("/nonexistent/python"))
    Traceback (most recent call last):
    ...
    benchmarks.psi_spu.SpuUnavailableError: /nonexistent/python cannot import spu: ...
    """
    if explicit is not None:
        if not _imports_spu(explicit):
            raise SpuUnavailableError(f"{explicit} cannot import spu: {INSTALL_HINT}")
        return explicit
    if importlib.util.find_spec("spu") is not None:
        return Path(sys.executable)
    local = ROOT / ".venv-spu" / "bin" / "python"
    if local.exists() and _imports_spu(local):
        return local
    raise SpuUnavailableError(
        f"spu is not importable by {sys.executable} and {local} does not import it: {INSTALL_HINT}"
    )


def spu_version(python: Path) -> str:
    """The ``spu`` version installed for ``python`` (without importing spu).

    Parameters
    ----------
    python : Path
        An interpreter that has ``spu``.

    Returns
    -------
    str
    """
    code = "import importlib.metadata as m; print(m.version('spu'))"
    done = subprocess.run(  # noqa: S603  # an interpreter path and a fixed script
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise SpuUnavailableError(f"{python} has no spu distribution: {INSTALL_HINT}")
    return done.stdout.strip()


# the counting relay -------------------------------------------------------------------------
class _Relay:
    """Forward loopback connections from a free port to ``target``, counting bytes each way.

    ``forward`` counts bytes from the connecting side to ``target``, ``backward`` the
    replies.  A connection to a ``target`` not listening yet is retried for
    :data:`CONNECT_WAIT` seconds (the peer process may still be starting).
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.forward = 0
        self.backward = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)  # a closed listener does not wake accept()
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._spawn(self._connect, client)

    def _connect(self, client: socket.socket) -> None:
        deadline = time.monotonic() + CONNECT_WAIT
        while True:
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                break
            except OSError:
                if self._closed.is_set() or time.monotonic() > deadline:
                    client.close()
                    return
                time.sleep(0.05)
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets += [client, upstream]
        self._spawn(self._pump, client, upstream, True)
        self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, forward: bool) -> None:
        buffer = bytearray(1 << 18)
        view = memoryview(buffer)
        try:
            while True:
                count = source.recv_into(buffer)
                if count == 0:
                    break
                sink.sendall(view[:count])
                with self._lock:
                    if forward:
                        self.forward += count
                    else:
                        self.backward += count
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop accepting and close every forwarded connection."""
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# the parent side ----------------------------------------------------------------------------
@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    status: int | None = None
    usage: Any = None
    ended: float = 0.0
    waiter: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.waiter = threading.Thread(target=self._reap, daemon=True)
        self.waiter.start()

    def _reap(self) -> None:
        _, status, usage = os.wait4(self.process.pid, 0)
        self.ended = time.perf_counter()
        self.usage = usage
        self.status = os.waitstatus_to_exitcode(status)
        self.process.returncode = self.status  # reaped here: Popen must not wait again


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _read_column(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or ID_COLUMN not in header:
            raise _verification(f"{path}: no {ID_COLUMN!r} column (header {header})")
        index = header.index(ID_COLUMN)
        return [row[index] for row in reader]


def _verification(message: str) -> Exception:
    from benchmarks.verify import VerificationError

    return VerificationError(message)


def _check_outputs(outputs: Mapping[str, Path], expected: frozenset[str]) -> int:
    first: list[str] | None = None
    for name, path in outputs.items():
        if not path.exists():
            raise _verification(f"spu {name}: no output file {path}")
        rows = _read_column(path)
        found = set(rows)
        if len(found) != len(rows):
            raise _verification(f"spu {name}: the output repeats ids ({path})")
        if found != expected:
            missing, extra = len(expected - found), len(found - expected)
            raise _verification(
                f"spu {name}: output ids differ from the {len(expected)} common ids "
                f"({missing} missing, {extra} not common; {path})"
            )
        if first is None:
            first = rows
        elif rows != first:
            raise _verification("spu: guest and host list the common ids in different orders")
    return len(expected)


def run_spu_psi(
    guest_ids_path: Path,
    host_ids_path: Path,
    protocol: str,
    workdir: Path,
    log: Log,
    *,
    python: Path | None = None,
    expected: frozenset[str] | None = None,
    timeout: float = 1800.0,
) -> SpuRun:
    """Run spu's PSI between two party processes on loopback and check its answer.

    Parameters
    ----------
    guest_ids_path, host_ids_path : Path
        One-column CSV files with header ``id`` (as the PSI benchmark writes them).
    protocol : str
        A key of :data:`PROTOCOLS`.
    workdir : Path
        Outputs, logs and party results go here (``spu-<protocol>-<party>.*``).
    log : callable
        Progress reporter.
    python : Path or None
        The interpreter with ``spu`` (default: :func:`find_spu_python`).
    expected : frozenset of str or None
        The common ids; computed from the two files when ``None``.
    timeout : float
        Seconds allowed before both parties are killed.

    Returns
    -------
    SpuRun

    Raises
    ------
    SpuUnavailableError
        If no interpreter can import ``spu``.
    SpuPartyError
        If a party exits with an error or is killed after the timeout.
    VerificationError
        If an output is not exactly the common ids, in one order on both sides.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown spu protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    interpreter = find_spu_python(python)
    version = spu_version(interpreter)
    inputs = {"guest": Path(guest_ids_path).resolve(), "host": Path(host_ids_path).resolve()}
    if expected is None:
        expected = frozenset(_read_column(inputs["guest"])) & frozenset(
            _read_column(inputs["host"])
        )
    size = sum(1 for _ in _read_column(inputs["guest"]))
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stem = {name: workdir / f"spu-{protocol}-{name}" for name in PARTY_NAMES}
    outputs = {name: stem[name].with_suffix(".out.csv") for name in PARTY_NAMES}
    results = {name: stem[name].with_suffix(".result.json") for name in PARTY_NAMES}
    for path in (*outputs.values(), *results.values()):
        path.unlink(missing_ok=True)

    own = _free_ports(2)
    relays = {name: _Relay(port) for name, port in zip(PARTY_NAMES, own, strict=True)}
    # each party listens on its own port and reaches its peer through the peer's relay
    addresses = {
        "guest": [f"127.0.0.1:{own[0]}", f"127.0.0.1:{relays['host'].port}"],
        "host": [f"127.0.0.1:{relays['guest'].port}", f"127.0.0.1:{own[1]}"],
    }
    children: list[_Child] = []
    started = time.perf_counter()
    try:
        for rank, name in enumerate(PARTY_NAMES):
            command = [
                str(interpreter),
                "-m",
                "benchmarks.psi_spu",
                "party",
                "--rank",
                str(rank),
                "--protocol",
                protocol,
                "--input",
                str(inputs[name]),
                "--output",
                str(outputs[name]),
                "--result",
                str(results[name]),
                "--timeout",
                str(timeout),
                "--addresses",
                *addresses[name],
            ]
            log_path = stem[name].with_suffix(".log")
            with log_path.open("wb") as handle:
                process = subprocess.Popen(  # noqa: S603  # our interpreter, our arguments
                    command,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            children.append(_Child(name, process, log_path))
        _wait(children, started + timeout, log)
    finally:
        for child in children:
            if child.status is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.process.pid, signal.SIGKILL)
                child.waiter.join()
        for relay in relays.values():
            relay.close()
    wall = max(child.ended for child in children) - started
    failed = [child for child in children if child.status != 0]
    if failed:
        details = "\n".join(
            f"--- spu {c.name} exited with {c.status}; last lines of {c.log}:\n{_tail(c.log)}"
            for c in failed
        )
        raise SpuPartyError(f"spu {protocol} PSI failed\n{details}")

    found = _check_outputs(outputs, expected)
    reports = {name: json.loads(results[name].read_text("utf-8")) for name in PARTY_NAMES}
    for name, report in reports.items():
        if report.get("intersection_count") != len(expected):
            raise _verification(
                f"spu {name}: reported {report.get('intersection_count')} common ids, "
                f"expected {len(expected)}"
            )
    # guest -> host: requests through the host's relay, replies through the guest's
    sent = {
        "guest": relays["host"].forward + relays["guest"].backward,
        "host": relays["guest"].forward + relays["host"].backward,
    }
    by_name = {child.name: child for child in children}
    return SpuRun(
        protocol=protocol,
        size=size,
        wall_s=wall,
        protocol_s=max(float(r["psi_seconds"]) for r in reports.values()),
        bytes_sent=sent,
        peak_rss_bytes={n: int(c.usage.ru_maxrss) * 1024 for n, c in by_name.items()},
        import_rss_bytes={n: int(r["import_rss_bytes"]) for n, r in reports.items()},
        cpu_s={n: float(c.usage.ru_utime + c.usage.ru_stime) for n, c in by_name.items()},
        intersection_size=found,
        version=version,
    )


def _wait(children: Sequence[_Child], deadline: float, log: Log) -> None:
    """Wait for every child; kill the rest once one fails or at ``deadline``."""
    next_report = time.perf_counter() + 15.0
    while any(child.waiter.is_alive() for child in children):
        now = time.perf_counter()
        failed = [c.name for c in children if c.status not in (None, 0)]
        if failed or now >= deadline:
            reason = f"{', '.join(failed)} failed" if failed else "timeout"
            for child in children:
                if child.status is None:
                    log(f"  spu: {reason}: killing {child.name}")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.process.pid, signal.SIGKILL)
            break
        if now >= next_report:
            log("  ... spu parties still running")
            next_report += 15.0
        time.sleep(0.02)
    for child in children:
        child.waiter.join()


# the party side (runs under the spu interpreter) -------------------------------------------------
def _peak_rss_now() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _party(args: argparse.Namespace) -> int:
    import importlib  # spu is optional and untyped: Any-typed modules

    link: Any = importlib.import_module("spu.libspu.link")
    psi: Any = importlib.import_module("spu.psi")

    import_rss = _peak_rss_now()
    protocol, low_comm = PROTOCOLS[args.protocol]
    desc = link.Desc()
    desc.id = "psi-bench-spu"
    for name, address in zip(PARTY_NAMES, args.addresses, strict=True):
        desc.add_party(name, address)
    desc.recv_timeout_ms = int(args.timeout * 1000)
    desc.connect_retry_times = 120
    desc.connect_retry_interval_ms = 500
    began = time.perf_counter()
    lctx = link.create_brpc(desc, args.rank)
    connected = time.perf_counter()
    config = psi.PsiExecuteConfig(
        protocol_conf=psi.PsiProtocolConfig(
            protocol=psi.parse_protocol(protocol),
            receiver_rank=0,
            broadcast_result=True,
            rr22_params=psi.Rr22Rarams(low_comm_mode=low_comm),
        ),
        input_params=psi.InputParams(
            path=str(args.input), selected_keys=[ID_COLUMN], keys_unique=False
        ),
        output_params=psi.OutputParams(path=str(args.output), disable_alignment=False),
    )
    report = psi.psi_execute(config, lctx)
    finished = time.perf_counter()
    lctx.stop_link()
    result = {
        "rank": args.rank,
        "protocol": args.protocol,
        "connect_seconds": connected - began,
        "psi_seconds": finished - connected,
        "import_rss_bytes": import_rss,
        "original_count": int(report.original_count),
        "intersection_count": int(report.intersection_count),
    }
    Path(args.result).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.psi_spu")
    commands = parser.add_subparsers(dest="command", required=True)
    party = commands.add_parser("party", help="one spu PSI party (started by run_spu_psi)")
    party.add_argument("--rank", type=int, choices=[0, 1], required=True)
    party.add_argument("--protocol", choices=list(PROTOCOLS), required=True)
    party.add_argument("--input", type=Path, required=True)
    party.add_argument("--output", type=Path, required=True)
    party.add_argument("--result", type=Path, required=True)
    party.add_argument("--timeout", type=float, default=1800.0)
    party.add_argument("--addresses", nargs=2, required=True, metavar="HOST:PORT")
    run = commands.add_parser("run", help="run both parties on two id files and print JSON")
    run.add_argument("guest", type=Path)
    run.add_argument("host", type=Path)
    run.add_argument("--protocol", choices=list(PROTOCOLS), default="rr22")
    run.add_argument("--workdir", type=Path, default=Path("spu-work"))
    run.add_argument("--spu-python", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.psi_spu party ...`` (one party) or ``run`` (both, as JSON).

    Parameters
    ----------
    argv : sequence of str or None
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    args = _parser().parse_args(argv)
    if args.command == "party":
        return _party(args)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    spu_run = run_spu_psi(
        args.guest, args.host, args.protocol, args.workdir, log, python=args.spu_python
    )
    print(json.dumps(spu_run.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

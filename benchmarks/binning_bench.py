"""Binning statistics: the encrypted-label exchange against the same protocol on phe.

Run with ``python -m benchmarks binning`` (default: 100,000 rows x 300 host features
x 10 bins at 2048 bits, both cores).

*Ours* is the whole exchange of :mod:`protocols.binning.exchange` between a
:class:`~protocols.binning.exchange.BinningGuest` and a
:class:`~protocols.binning.exchange.BinningHost` in this process, messages passed
by hand (no codec, no network): the guest encrypts its labels with its private key
(CRT), ``--rows-per-ciphertext`` rows to a ciphertext, the host sums them per bin
(joint buckets, process pool), masks, shuffles, packs and re-randomises the sums,
the guest decrypts, checks and computes WOE and IV, the host un-permutes.  Codes
are uniform over the bins, as quantile bins make them (the worst case for the joint
buckets: skewed bins fill fewer of them).
Every count is compared with numpy before the timing is kept.

*phe* is the same protocol written with python-paillier: ``encrypt`` per label,
``EncryptedNumber`` additions per row and feature into the bin's running sum,
``obfuscate()`` of every per-bin sum (the re-randomisation; phe cannot pack), and
``decrypt`` of every sum.  phe runs on one core (it has no parallel API), on a
sample: ``--phe-encryptions`` labels, ``--phe-rows`` x ``--phe-features`` for the
sums (the same codes), ``--phe-sums`` sums to re-randomise and decrypt; each part
is scaled linearly to the full size (phe's cost is linear in each), which the
output says.  Its sums are decrypted and checked against numpy too.

Reported: wall seconds of each; the per-core rate (row x features per core-second:
ours divided by the cores it used); the ratio of wall times and of per-core rates;
the machine's load average before and after (other work on a shared machine
slows every figure).  Keys are generated before timing (reported apart), and the
process pool is warmed up by a small exchange first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import phe

from benchmarks import report
from benchmarks.verify import VerificationError, check_close
from crypto import parallel
from crypto.paillier import generate_paillier_keypair
from protocols.binning.exchange import DEFAULT_ROWS_PER_CIPHERTEXT, BinningGuest, BinningHost
from protocols.messages import BinLabels, BinResult, BinSums, Message
from protocols.roles import Role

__all__ = [
    "DESCRIPTION",
    "SUITE",
    "BinningResult",
    "add_arguments",
    "main",
    "markdown_table",
    "run",
]

DESCRIPTION = "binning: encrypted per-bin label sums of a host's features vs python-paillier"
DEFAULT_OUTPUT = Path("benchmarks/results/binning.json")
Log = Callable[[str], None]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BinningResult:
    """One run of both implementations at one size."""

    rows: int
    features: int
    bins: int
    key_length: int
    rows_per_ciphertext: int
    cores: int
    keygen_seconds: float
    warmup_seconds: float
    ours_seconds: float
    ours_cpu_seconds: float | None
    ours_phases: dict[str, float]
    ours_rate_per_core: float
    phe_seconds: float
    phe_cpu_seconds: float
    phe_phases: dict[str, float]
    phe_samples: dict[str, int]
    phe_rate_per_core: float
    wall_ratio: float
    per_core_ratio: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the suite's options to ``parser``."""
    parser.add_argument("--rows", type=int, default=100_000, help="aligned rows (100000)")
    parser.add_argument("--features", type=int, default=300, help="host features (300)")
    parser.add_argument("--bins", type=int, default=10, help="bins per feature (10)")
    parser.add_argument("--key-length", type=int, default=2048, help="key bits (2048)")
    parser.add_argument("--jobs", type=int, default=-1, help="n_jobs of ours (-1: every core)")
    parser.add_argument(
        "--phe-encryptions", type=int, default=200, help="labels phe encrypts (200)"
    )
    parser.add_argument("--phe-rows", type=int, default=2000, help="row sample of phe's sums")
    parser.add_argument(
        "--phe-features", type=int, default=20, help="feature sample of phe's sums (20)"
    )
    parser.add_argument(
        "--phe-sums", type=int, default=100, help="sums phe re-randomises and decrypts (100)"
    )
    parser.add_argument(
        "--rows-per-ciphertext",
        type=int,
        default=DEFAULT_ROWS_PER_CIPHERTEXT,
        help=f"rows the guest packs into a ciphertext ({DEFAULT_ROWS_PER_CIPHERTEXT})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of labels and codes (0)")
    parser.add_argument(
        "--output", default=str(DEFAULT_OUTPUT), help=f"JSON results ({DEFAULT_OUTPUT})"
    )


def tree_cpu_seconds() -> float | None:
    """CPU seconds (user + system) of this process and its live descendants (pool workers).

    Read from ``/proc`` (Linux); ``None`` elsewhere.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process has ended
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) "
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(seconds.get(pid, 0.0) for pid in tree)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _exchange(
    guest: BinningGuest, host: BinningHost, phases: dict[str, float] | None = None
) -> None:
    """Run the two roles to the end, timing what each role does per message kind."""
    roles: dict[str, Role] = {guest.party: guest, host.party: host}
    queue: list[Message] = [*guest.start(), *host.start()]

    def timed(phase: str, role: Role, message: Message | None) -> list[Message]:
        start = time.perf_counter()
        messages = role.work() if message is None else role.receive(message)
        if phases is not None:
            phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - start
        return messages

    while queue or guest.has_work:
        if not queue:
            queue += timed("guest: encrypt labels", guest, None)
            continue
        message = queue.pop(0)
        phase = {
            BinLabels: "host: per-bin sums",
            BinSums: "guest: decrypt, check, WOE/IV",
            BinResult: "host: un-permute",
        }.get(type(message), "setup")
        queue += timed(phase, roles[message.receiver], message)
    if not (guest.done and host.done):
        raise VerificationError("the binning exchange did not finish")


def _expected_events(labels: IntArray, codes: IntArray, bins: int) -> IntArray:
    return np.stack(
        [np.bincount(codes[:, j], weights=labels, minlength=bins) for j in range(codes.shape[1])]
    ).astype(np.int64)


def run_ours(
    labels: IntArray,
    codes: IntArray,
    bins: int,
    key_length: int,
    jobs: int,
    log: Log,
    rows_per_ciphertext: int = DEFAULT_ROWS_PER_CIPHERTEXT,
) -> tuple[float, float | None, dict[str, float], float, float]:
    """Time the exchange: ``(seconds, CPU seconds, phases, keygen and warm-up seconds)``."""
    start = time.perf_counter()
    keypair = generate_paillier_keypair(key_length, allow_weak_key=key_length < 2048)
    keygen = time.perf_counter() - start
    n_bins = [bins] * codes.shape[1]

    def roles(rows: slice) -> tuple[BinningGuest, BinningHost]:
        guest = BinningGuest(
            "guest",
            "bench",
            hosts=["host"],
            labels=labels[rows],
            keypair=keypair,
            rows_per_ciphertext=rows_per_ciphertext,
            min_bin_rows=1,
            n_jobs=jobs,
        )
        host = BinningHost(
            "host",
            "bench",
            guest="guest",
            codes=codes[rows],
            n_bins=n_bins,
            min_bin_rows=1,
            min_key_bits=key_length,
            n_jobs=jobs,
        )
        return guest, host

    log("ours: warming up the process pool (a small exchange)")
    start = time.perf_counter()
    _exchange(*roles(slice(0, min(len(labels), 4 * bins))))
    warmup = time.perf_counter() - start
    guest, host = roles(slice(None))
    log(f"ours: {len(labels)} rows x {codes.shape[1]} features at {key_length} bits")
    phases: dict[str, float] = {}
    cpu_start = tree_cpu_seconds()
    start = time.perf_counter()
    _exchange(guest, host, phases)
    seconds = time.perf_counter() - start
    cpu_end = tree_cpu_seconds()
    cpu = None if cpu_start is None or cpu_end is None else cpu_end - cpu_start
    got = np.array([statistics.events for statistics in host.result])
    check_close("ours: events per bin", got, _expected_events(labels, codes, bins))
    rows = np.array([statistics.rows for statistics in host.result])
    check_close("ours: rows per bin", rows.sum(axis=1), np.full(codes.shape[1], len(labels)))
    return seconds, cpu, phases, keygen, warmup


class _Stopwatch:
    """Wall and CPU seconds of a block (phe runs in this process, on one thread)."""

    def __enter__(self) -> _Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def run_phe(
    labels: IntArray, codes: IntArray, bins: int, key_length: int, samples: dict[str, int], log: Log
) -> tuple[dict[str, float], dict[str, float]]:
    """Time phe's protocol on samples: wall and CPU seconds of each part at the full size."""
    rows, features = codes.shape
    public_key, private_key = phe.generate_paillier_keypair(n_length=key_length)
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def keep(phase: str, watch: _Stopwatch, scale: float) -> None:
        wall[phase], cpu[phase] = watch.wall * scale, watch.cpu * scale

    count = min(samples["encryptions"], rows)
    log(f"phe: encrypting {count} labels")
    with _Stopwatch() as watch:
        encrypted = [public_key.encrypt(int(y)) for y in labels[:count]]
    keep("guest: encrypt labels", watch, rows / count)

    sample_rows = min(samples["rows"], rows)
    sample_features = min(samples["features"], features)
    log(f"phe: per-bin sums of {sample_rows} rows x {sample_features} features")
    ciphertexts = [encrypted[i % count] for i in range(sample_rows)]  # reused: same cost
    sums: list[list[Any]] = []
    with _Stopwatch() as watch:
        for j in range(sample_features):
            column = codes[:sample_rows, j].tolist()
            accumulators: list[Any] = [None] * bins
            for code, ciphertext in zip(column, ciphertexts, strict=True):
                current = accumulators[code]
                accumulators[code] = ciphertext if current is None else current + ciphertext
            sums.append(accumulators)
    keep("host: per-bin sums", watch, (rows * features) / (sample_rows * sample_features))

    flat = [s for feature in sums for s in feature if s is not None][: samples["sums"]]
    log(f"phe: re-randomising and decrypting {len(flat)} sums")
    with _Stopwatch() as watch:
        for number in flat:
            number.obfuscate()
    keep("host: re-randomise sums", watch, features * bins / len(flat))
    with _Stopwatch() as watch:
        decrypted = [private_key.decrypt(number) for number in flat]
    keep("guest: decrypt sums", watch, features * bins / len(flat))

    reused = np.array([labels[i % count] for i in range(sample_rows)])
    expected = _expected_events(reused, codes[:sample_rows, :sample_features], bins)
    want = [
        int(value)
        for feature, row in zip(sums, expected, strict=True)
        for number, value in zip(feature, row, strict=True)
        if number is not None
    ]
    check_close("phe: per-bin sums", decrypted, want[: len(decrypted)])
    return wall, cpu


def run(args: argparse.Namespace, log: Log = _log) -> BinningResult:
    """Measure both implementations at the size of ``args``."""
    generator = np.random.default_rng(args.seed)
    labels = (generator.random(args.rows) < 0.2).astype(np.int64)
    codes = generator.integers(0, args.bins, size=(args.rows, args.features), dtype=np.int64)
    cores = parallel.resolve_n_jobs(args.jobs)
    load_before = os.getloadavg()
    seconds, cpu, phases, keygen, warmup = run_ours(
        labels, codes, args.bins, args.key_length, args.jobs, log, args.rows_per_ciphertext
    )
    samples = {
        "encryptions": args.phe_encryptions,
        "rows": args.phe_rows,
        "features": args.phe_features,
        "sums": args.phe_sums,
    }
    phe_phases, phe_cpu = run_phe(labels, codes, args.bins, args.key_length, samples, log)
    load_after = os.getloadavg()
    phe_seconds = sum(phe_phases.values())
    phe_cpu_seconds = sum(phe_cpu.values())
    work = args.rows * args.features
    ours_rate = work / (cpu if cpu is not None else seconds * cores)
    phe_rate = work / phe_cpu_seconds
    return BinningResult(
        rows=args.rows,
        features=args.features,
        bins=args.bins,
        key_length=args.key_length,
        rows_per_ciphertext=args.rows_per_ciphertext,
        cores=cores,
        keygen_seconds=keygen,
        warmup_seconds=warmup,
        ours_seconds=seconds,
        ours_cpu_seconds=cpu,
        ours_phases=phases,
        ours_rate_per_core=ours_rate,
        phe_seconds=phe_seconds,
        phe_cpu_seconds=phe_cpu_seconds,
        phe_phases=phe_phases,
        phe_samples=samples,
        phe_rate_per_core=phe_rate,
        wall_ratio=phe_seconds / seconds,
        per_core_ratio=ours_rate / phe_rate,
        load_before=load_before,
        load_after=load_after,
    )


def markdown_table(result: BinningResult) -> str:
    """The result as a Markdown table with the phases and a note on phe's sampling."""
    cpu_text = "-" if result.ours_cpu_seconds is None else f"{result.ours_cpu_seconds:.1f}"
    lines = [
        f"Binning statistics: {result.rows:,} rows x {result.features} host features x "
        f"{result.bins} bins, {result.key_length}-bit key, {result.rows_per_ciphertext} rows "
        f"to a label ciphertext; ours on {result.cores} core(s), phe on 1",
        "",
        "| phase | ours (s) | phe (s, scaled) |",
        "|---|---:|---:|",
    ]
    for phase in sorted(set(result.ours_phases) | set(result.phe_phases)):
        ours = result.ours_phases.get(phase)
        theirs = result.phe_phases.get(phase)
        lines.append(
            f"| {phase} | {'-' if ours is None else f'{ours:.2f}'} | "
            f"{'-' if theirs is None else f'{theirs:.1f}'} |"
        )
    lines += [
        f"| **total (wall)** | **{result.ours_seconds:.2f}** | **{result.phe_seconds:.1f}** |",
        f"| total CPU (every process) | {cpu_text} | {result.phe_cpu_seconds:.1f} |",
        "",
        f"Per-core rate (row x features per CPU-second): ours {result.ours_rate_per_core:,.0f}, "
        f"phe {result.phe_rate_per_core:,.0f}: **{result.per_core_ratio:.1f}x** per core; "
        f"**{result.wall_ratio:.1f}x** in wall time (ours on {result.cores} cores, phe on 1).",
        "",
        f"phe was timed on samples ({result.phe_samples['encryptions']} encryptions, "
        f"{result.phe_samples['rows']} rows x {result.phe_samples['features']} features of "
        f"sums, {result.phe_samples['sums']} re-randomisations and decryptions) and scaled "
        "linearly to the full size.  Key generation "
        f"({result.keygen_seconds:.1f} s) and the pool warm-up ({result.warmup_seconds:.1f} s) "
        "are not in ours.  Load average before/after: "
        f"{' '.join(f'{x:.2f}' for x in result.load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in result.load_after)} (shared machine).",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks binning``."""
    result = run(args)
    table = markdown_table(result)
    print(table)
    settings = {k: v for k, v in vars(args).items() if k not in ("handler", "argv")}
    document = {
        "meta": report.build_meta(args.argv, settings),
        "result": asdict(result),
        "table": table,
    }
    report.write_document(Path(args.output), document)
    return 0


SUITE = (DESCRIPTION, add_arguments, main)
"""The entry of :data:`benchmarks.__main__.SUITES`."""

"""Secure comparison benchmark: MSB, B2A and big-integer OTs (:mod:`crypto.comparison`).

Both parties run in this process, in turn, with no network: the time of each party
is the wall time of its own steps (median of ``--repeats`` runs), and the bytes of
each message are those of its arrays and integers (what a transport would carry,
without framing).  Default workload: ``2 x 1024`` comparisons at ``l = 16``,
``m = 4`` (two thresholds per row), ``2 x 1024`` B2A and ``1024`` OTs of 200-bit
integers; the one-off base-OT setup is timed separately.

Run as ``python -m benchmarks.comparison_bench`` (``--rows``, ``--bits``, ``--chunk``,
``--int-bits``, ``--triples``, ``--repeats``, ``--json``).
"""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from crypto.chosen_ot import (
    IntOtReceiver,
    IntOtSender,
    OtReceiverState,
    OtSenderState,
    setup_finish,
    setup_respond,
    setup_start,
)
from crypto.comparison import (
    TRIPLE_SOURCES,
    B2aReceiver,
    B2aSender,
    CompareOpenings,
    CompareTables,
    ComparisonReceiver,
    ComparisonSender,
)

__all__ = ["DESCRIPTION", "SUITE", "add_arguments", "main"]

DESCRIPTION = "secure comparison (MSB), B2A and big-integer OT on shares, both parties in-process"
KEY = b"comparison benchmark"
T = TypeVar("T")


class _Clock:
    """Wall time per party."""

    def __init__(self) -> None:
        self.seconds = {"R": 0.0, "S": 0.0}

    def run(self, party: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        out = call()
        self.seconds[party] += time.perf_counter() - start
        return out


def _compare(
    r_state: OtReceiverState,
    s_state: OtSenderState,
    rows: int,
    bits: int,
    chunk: int,
    triples: str,
) -> tuple[dict[str, float], list[tuple[str, int]]]:
    clock = _Clock()
    mask = (1 << bits) - 1
    x = np.frombuffer(secrets.token_bytes(8 * rows), dtype=np.uint64) & np.uint64(mask)
    y = np.frombuffer(secrets.token_bytes(8 * rows), dtype=np.uint64) & np.uint64(mask)
    receiver = ComparisonReceiver(r_state, bits, chunk, triples)
    sender = ComparisonSender(s_state, bits, chunk, triples)
    first = clock.run("R", lambda: receiver.start(x))
    sizes = [("R->S request", first.nbytes)]
    to_r: CompareTables | CompareOpenings | None = clock.run("S", lambda: sender.respond(first, y))
    while to_r is not None:
        sizes.append(("S->R " + type(to_r).__name__, to_r.nbytes))
        to_s = clock.run("R", functools.partial(receiver.step, to_r))
        if to_s is None:
            break
        sizes.append(("R->S openings", to_s.nbytes))
        to_r = clock.run("S", functools.partial(sender.step, to_s))
    total = (1 << bits) - 1
    expected = ((x.astype(np.uint64) + y) & np.uint64(total)) >> np.uint64(bits - 1)
    if not np.array_equal(receiver.result() ^ sender.result(), expected.astype(np.uint8)):
        raise SystemExit("comparison gave a wrong result")
    return clock.seconds, sizes


def _b2a(
    r_state: OtReceiverState, s_state: OtSenderState, rows: int
) -> tuple[dict[str, float], list[tuple[str, int]]]:
    clock = _Clock()
    c_r = np.frombuffer(secrets.token_bytes(rows), dtype=np.uint8) & 1
    c_s = np.frombuffer(secrets.token_bytes(rows), dtype=np.uint8) & 1
    receiver, sender = B2aReceiver(r_state), B2aSender(s_state)
    message = clock.run("R", lambda: receiver.request(c_r))
    reply = clock.run("S", lambda: sender.respond(message, c_s))
    mine = clock.run("R", lambda: receiver.result(reply))
    if not np.array_equal(mine + sender.result(), (c_r ^ c_s).astype(np.int64)):
        raise SystemExit("B2A gave a wrong result")
    return clock.seconds, [("R->S request", message.nbytes), ("S->R reply", reply.nbytes)]


def _int_ot(
    r_state: OtReceiverState, s_state: OtSenderState, rows: int, bits: int
) -> tuple[dict[str, float], list[tuple[str, int]]]:
    clock = _Clock()
    m0 = [secrets.randbits(bits) for _ in range(rows)]
    m1 = [secrets.randbits(bits) for _ in range(rows)]
    choices = np.frombuffer(secrets.token_bytes(rows), dtype=np.uint8) & 1
    receiver, sender = IntOtReceiver(r_state), IntOtSender(s_state)
    message = clock.run("R", lambda: receiver.request(choices))
    reply = clock.run("S", lambda: sender.respond(message, m0, m1, bits))
    out = clock.run("R", lambda: receiver.result(reply))
    if out != [b if c else a for a, b, c in zip(m0, m1, choices, strict=True)]:
        raise SystemExit("integer OT gave a wrong result")
    return clock.seconds, [("R->S request", message.nbytes), ("S->R reply", reply.nbytes)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's options."""
    parser.add_argument("--rows", type=int, default=1024, help="rows (2 comparisons per row)")
    parser.add_argument("--bits", type=int, default=16, help="ring bits l")
    parser.add_argument("--chunk", type=int, default=4, help="chunk bits m")
    parser.add_argument("--int-bits", type=int, default=200, help="bits of the integer OTs")
    parser.add_argument(
        "--triples",
        nargs="+",
        choices=TRIPLE_SOURCES,
        default=list(TRIPLE_SOURCES),
        help="where the Beaver triples come from",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs; medians are reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print the results."""
    start = time.perf_counter()
    setup, point = setup_start(KEY)
    s_state, points = setup_respond(point, KEY)
    r_state = setup_finish(setup, points)
    setup_seconds = time.perf_counter() - start
    setup_bytes = {"R->S point": len(point), "S->R points": len(points)}
    cases: dict[str, Callable[[], tuple[dict[str, float], list[tuple[str, int]]]]] = {
        f"MSB 2x{args.rows} (l={args.bits}, m={args.chunk}, triples={source})": functools.partial(
            _compare, r_state, s_state, 2 * args.rows, args.bits, args.chunk, source
        )
        for source in args.triples
    }
    cases |= {
        f"B2A 2x{args.rows}": lambda: _b2a(r_state, s_state, 2 * args.rows),
        f"OT {args.rows} x {args.int_bits}-bit": lambda: _int_ot(
            r_state, s_state, args.rows, args.int_bits
        ),
    }
    results: dict[str, object] = {
        "setup": {"seconds_both": round(setup_seconds, 4), "bytes": setup_bytes}
    }
    for name, case in cases.items():
        runs = [case() for _ in range(args.repeats)]
        seconds = {
            party: round(statistics.median(run[0][party] for run in runs), 4)
            for party in ("R", "S")
        }
        results[name] = {"seconds": seconds, "messages": runs[0][1]}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"base-OT setup (both parties): {setup_seconds:.3f} s, bytes {setup_bytes}")
    for name, value in results.items():
        if name == "setup" or not isinstance(value, dict):
            continue
        sec = value["seconds"]
        messages = value["messages"]
        total = sum(size for _, size in messages)
        print(
            f"{name}: R {sec['R']:.3f} s, S {sec['S']:.3f} s; {len(messages)} messages, {total:,} B"
        )
        for label, size in messages:
            print(f"    {label}: {size:,} B")
    return 0


SUITE = (DESCRIPTION, add_arguments, main)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))

"""Small batches: one shared-mode epoch at batch 64, with and without overlapped work.

``python -m benchmarks.small_batch [--rows 1024] [--repeats 2] [--n-jobs -1 1]``

Trains one epoch of hetero LR in shared mode (the only mode whose label-information
bound admits a batch of 64 on default_credit's 10 host features) on the first
``--rows`` aligned rows of default_credit, 2048-bit keys, every role in this process
(:func:`vfl.runtime.local.run_locally`).  Each repeat runs the epoch twice, in
alternating order: with :func:`vfl.runtime.local.overlap_work` off (a role's
obfuscators are precomputed only when no message waits: before) and on (precomputed
on a helper thread while the other role handles a message: after).  Alternating
matters on a shared machine, whose load drifts.

Reported per run: wall seconds of the epoch, CPU seconds of this process and its
pool workers (``/proc``, Linux), CPU use as a fraction of every core,
and the load average before the run, written to ``benchmarks/results/small_batch.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.hetero_lr_cases import SHARED_TRAINING, run_epoch
from vfl.runtime.local import overlap_work
from vfl.tables.datasets import load_builtin

__all__ = ["main", "run"]

RESULT = Path(__file__).parent / "results" / "small_batch.json"
BATCH_SIZE = 64
KEY_LENGTH = 2048


def _cpu_seconds() -> float:
    """CPU seconds of this process and every live descendant (pool workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    mine = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in mine} - mine
        grew = bool(found)
        mine |= found
    return sum(used[pid] for pid in mine)


def _data(rows: int) -> tuple[Any, Any, Any]:
    guest, host = load_builtin("default_credit")
    position = {identifier: row for row, identifier in enumerate(host.ids)}
    order = np.array([position[identifier] for identifier in guest.ids])[:rows]
    if guest.labels is None:
        raise ValueError("default_credit's guest table has no labels; reinstall the dataset")
    return guest.features[:rows], host.features[order], guest.labels[:rows].astype(int)


def run(rows: int, repeats: int, n_jobs: int) -> dict[str, Any]:
    """Time ``repeats`` pairs of epochs (overlap off, then on, alternating order).

    Parameters
    ----------
    rows : int
        Aligned default_credit rows to train on.
    repeats : int
        Pairs of epochs.
    n_jobs : int
        The estimator's ``n_jobs``.

    Returns
    -------
    dict
        The JSON document written to :data:`RESULT`.
    """
    guest_x, host_x, y = _data(rows)
    training = {**SHARED_TRAINING, "batch_size": BATCH_SIZE}
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        for overlap in order:
            load = os.getloadavg()
            cpu = _cpu_seconds()
            with overlap_work(overlap):
                epoch = run_epoch(
                    guest_x, host_x, y, backend="paillier", n_jobs=n_jobs,
                    key_length=KEY_LENGTH, class_weight=None, log=lambda _: None,
                    label="small_batch", training=training,
                )  # fmt: skip
            used = _cpu_seconds() - cpu
            row = {
                "overlap": overlap,
                "epoch_seconds": round(epoch.seconds, 2),
                "cpu_seconds": round(used, 2),
                "cpu_use": round(used / epoch.seconds / (os.cpu_count() or 1), 3),
                "load_before": [round(value, 2) for value in load],
                "coefficients_head": [round(float(w), 6) for w in epoch.coefficients[:4]],
            }
            print(json.dumps(row), flush=True)
            runs.append(row)

    def summary(overlap: bool) -> dict[str, float]:
        mine = [r for r in runs if r["overlap"] is overlap]
        return {
            "median_epoch_seconds": float(np.median([r["epoch_seconds"] for r in mine])),
            "median_cpu_use": float(np.median([r["cpu_use"] for r in mine])),
        }

    return {
        "description": (
            f"one shared-mode hetero LR epoch, batch {BATCH_SIZE}, {rows} default_credit "
            f"rows, {KEY_LENGTH}-bit keys, n_jobs={n_jobs}, all roles in one process; "
            "overlap off = obfuscators precomputed only when no message waits, on = on a "
            "helper thread while the other role works (vfl.runtime.local.overlap_work)"
        ),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "before": summary(False),
        "after": summary(True),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write :data:`RESULT`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.small_batch")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[-1, 1])
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args(argv)
    started = time.time()
    cases = {f"n_jobs={n_jobs}": run(args.rows, args.repeats, n_jobs) for n_jobs in args.n_jobs}
    document = {"measured_at_unix": int(started), "cases": cases}
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    for name, case in cases.items():
        print(name, json.dumps({k: case[k] for k in ("before", "after")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Faults: killing a party mid-PSI or mid-training stops every other party quickly.

Real `vfl run` processes over mutual TLS.  A party is killed with SIGKILL (no
goodbye, no abort: its sockets are simply closed by the kernel) once the guest's
``--progress lines`` output shows the step under way; every survivor must exit with
status 1 within its job ``timeout``, its last stderr line naming the killed party.
Each case records how long each survivor took (printed with ``-s``; see the
``fault timings`` lines).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import start_party, write_job
from vfl.certs import create_job_certificates

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0
"""Every job's ``timeout``: a survivor must be gone this long after the kill."""

PSI_IDS = 40_000
"""Ids per party in the PSI jobs (in chunks of 4096): PSI takes about ten seconds on
two cores, so a kill after the first tenth lands well inside it."""


class Party:
    """A `vfl run` process whose stderr is read line by line as it comes."""

    def __init__(self, job: Path, name: str) -> None:
        self.name = name
        self.process = start_party(job, name, "--progress", "lines", stdout=subprocess.DEVNULL)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, seconds: float) -> str:
        """The first stderr line matching ``pattern`` (fails after ``seconds``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-15:])
                    pytest.fail(f"{self.name}: no line matching {pattern!r}:\n{tail}")
                self._changed.wait(min(left, 0.2))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)

    def exit(self, seconds: float) -> tuple[int | None, str]:
        """Its exit status (None if still running after ``seconds``) and last stderr line."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return None, ""
        self._reader.join(5)
        with self._changed:
            return self.process.returncode, self.lines[-1] if self.lines else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _write_csv(path: Path, ids: np.ndarray, label: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(len(ids), 2))
    header = "id,y,x1,x2" if label else "id,x1,x2"
    rows = [header]
    for index, (customer, (x1, x2)) in enumerate(zip(ids.tolist(), values.tolist(), strict=True)):
        prefix = f"c{customer},{index % 2}," if label else f"c{customer},"
        rows.append(f"{prefix}{x1:.3f},{x2:.3f}")
    path.write_text("\n".join(rows) + "\n")


def _job(folder: Path, parties: list[tuple[str, str]], ids: int, steps: list[str]) -> Path:
    rng = np.random.default_rng(5)
    data: dict[str, str] = {}
    for index, (name, role) in enumerate(parties):
        if role == "arbiter":
            data[name] = "{}"
            continue
        # every party holds 90% of a common pool, in its own order
        chosen = np.sort(rng.choice(int(ids / 0.9), size=ids, replace=False))
        rng.shuffle(chosen)
        _write_csv(folder / f"{name}.csv", chosen, role == "guest", index)
        label = ', label_column = "y"' if role == "guest" else ""
        data[name] = f'{{ file = "{name}.csv"{label} }}'
    path = write_job(
        folder,
        job_id="faults",
        parties=parties,
        data=data,
        steps=steps,
        timeout=TIMEOUT,
        allow_weak_keys=True,
    )
    path.write_text(path.read_text().replace("data = {}\n", ""))
    create_job_certificates(folder / "certs", [name for name, _ in parties])
    return path


PSI_PARTIES = [("bank-a", "guest"), ("bank-b", "host"), ("bank-c", "host")]
TWO_PARTIES = [("bank-a", "guest"), ("bank-b", "host")]
ARBITER_PARTIES = [("arbiter", "arbiter"), *PSI_PARTIES]
PSI = ["[[steps]]", 'type = "psi"', "chunk_size = 4096"]
TRAINING = [
    "[[steps]]",
    'type = "psi"',
    "",
    "[[steps]]",
    'type = "hetero_lr"',
    "batch_size = 100",  # two host features: the label-information bound needs ~90
    "max_iter = 5",
    # every epoch runs: labels are noise here, so the loss would stop training after two
    # epochs, which can jump the guest's progress lines from 0 % to 100 % (no line to kill at)
    'convergence = "max_iter"',
    "key_length = 1024",
]

CASES = [
    # (name, parties, ids, steps, progress line to wait for on the guest, victim)
    *[
        (
            f"mid-PSI, {victim} killed",
            PSI_PARTIES,
            PSI_IDS,
            ["[[steps]]", 'type = "psi"'],
            "psi",
            victim,
        )
        for victim in ("bank-a", "bank-b", "bank-c")
    ],
    *[
        (
            f"mid-training (two-party), {victim} killed",
            TWO_PARTIES,
            1000,
            TRAINING,
            "hetero_lr",
            victim,
        )
        for victim in ("bank-a", "bank-b")
    ],
    *[
        (
            f"mid-training (arbiter, two hosts), {victim} killed",
            ARBITER_PARTIES,
            1000,
            [*TRAINING, 'mode = "arbiter"'],
            "hetero_lr",
            victim,
        )
        for victim in ("arbiter", "bank-c", "bank-a")
    ],
]

TIMINGS: dict[str, dict[str, float]] = {}


@pytest.mark.parametrize(
    ("parties", "ids", "steps", "step", "victim"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_killing_a_party_stops_every_other_party_naming_it(
    tmp_path: Path,
    parties: list[tuple[str, str]],
    ids: int,
    steps: list[str],
    step: str,
    victim: str,
) -> None:
    job = _job(tmp_path, parties, ids, steps)
    running = {name: Party(job, name) for name, _ in parties}
    try:
        # a tenth of the step done, and not all of it: the parties are mid-step
        line = running["bank-a"].wait_for(rf"^bank-a: {step} +(?:[1-7]\d|80)% ", 120)
        for name, party in running.items():
            assert party.process.poll() is None, f"{name} ended early: {party.lines[-5:]}"
        running[victim].kill()
        killed_at = time.monotonic()
        seconds: dict[str, float] = {}
        for name, party in running.items():
            if name == victim:
                continue
            left = killed_at + TIMEOUT - time.monotonic()
            status, last = party.exit(max(left, 0.1))
            seconds[name] = round(time.monotonic() - killed_at, 2)
            assert status is not None, f"{name} still running {TIMEOUT:g} s after the kill"
            assert status == 1, f"{name} exited with {status}: {party.lines[-5:]}"
            assert last.startswith("vfl: error: ") and victim in last, f"{name}: {last}"
            assert not any("Traceback" in line for line in party.lines), party.lines[-20:]
        TIMINGS[f"{step}: {victim} killed"] = seconds
        at = line.split(": ", 1)[1].split(" (")[0]
        print(f"fault timings: {victim} killed at {at}: survivors exited after {seconds} s")
        assert all(s < TIMEOUT for s in seconds.values()), seconds
    finally:
        for party in running.values():
            party.stop()

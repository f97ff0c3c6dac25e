"""Day-to-day log lines: one INFO line per training epoch, and lines while waiting for peers."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import logging
import re
import shutil
from pathlib import Path

from tests.support.job_files import free_ports, start_party, with_test_keys, write_job
from vfl.certs import create_job_certificates
from vfl.exceptions import PeerUnavailableError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import HeteroLrStep, load_job
from vfl.runtime.progress import EpochLog, Progress, epochs_to_settle
from vfl.runtime.transport.tls import TlsTransport

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_party_waiting_for_its_peers_says_so_every_interval(tmp_path: Path) -> None:
    credentials = create_job_certificates(tmp_path, ["alice", "bob"])
    (port,) = free_ports(1)  # nobody listens there
    alice = credentials["alice"]
    transport = TlsTransport(
        "alice",
        listen=("127.0.0.1", 0),
        peers={"bob": ("127.0.0.1", port)},
        certificate=alice.certificate,
        private_key=alice.private_key,
        ca=alice.ca,
        waiting_log_interval=1.0,
    )
    lines = _Lines()
    logger = logging.getLogger("vfl.transport")
    logger.addHandler(lines)
    saved_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        try:
            transport.connect(["bob"], timeout=3.6)
        except PeerUnavailableError as error:
            assert "could not reach 1 peer(s) within 3.6 s" in str(error)
        else:
            raise AssertionError("connect() should fail: bob never listens")
    finally:
        logger.removeHandler(lines)
        logger.setLevel(saved_level)
        transport.close()
    waiting = [r for r in lines.records if "waiting for" in r.getMessage()]
    assert len(waiting) >= 3, [r.getMessage() for r in lines.records]
    message = waiting[0].getMessage()
    assert message.startswith("alice: waiting for 1 peer(s), 1 s of 3.6 s: 'bob' at 127.0.0.1:")
    times = [r.created for r in waiting]
    assert all(later - earlier < 1.6 for earlier, later in itertools.pairwise(times))


def test_a_training_job_logs_each_epoch_at_info_on_each_party(tmp_path: Path) -> None:
    """The two-party example's data, 3 epochs, as real `vfl run` processes over mutual TLS."""
    parties = [("bank-a", "guest"), ("bank-b", "host")]
    for name, _ in parties:
        shutil.copy(EXAMPLES / "hetero-lr" / f"{name}.csv", tmp_path / f"{name}.csv")
    create_job_certificates(tmp_path / "certs", [name for name, _ in parties])
    steps = [
        "[[steps]]",
        'type = "psi"',
        "",
        "[[steps]]",
        'type = "hetero_lr"',
        "batch_size = 220",
        "learning_rate = 0.15",
        "max_iter = 3",
        "tol = 0",  # all three epochs
        'class_weight = "balanced"',
        "key_length = 1024",
    ]
    data = {
        "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
        "bank-b": '{ file = "bank-b.csv" }',
    }
    job = write_job(
        tmp_path, job_id="epochs", parties=parties, data=data, steps=steps,
        timeout=60, allow_weak_keys=True,
    )  # fmt: skip
    processes = {name: start_party(job, name) for name, _ in parties}
    logs = {}
    estimates = {}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        logs[name] = [line for line in stderr.splitlines() if " epoch finished " in line]
        estimates[name] = [line for line in stderr.splitlines() if " training estimate " in line]
    pattern = re.compile(
        r" INFO vfl\.progress epoch finished party=(?P<party>\S+) step=1 type=hetero_lr "
        r"epoch=(?P<epoch>\d+)(?P<metrics>( \w+=\S+)*) seconds=\d+\.\d\d(?P<left>( \w+=\S+)*)$"
    )
    for name, lines in logs.items():
        matches = [pattern.search(line) for line in lines]
        assert all(matches), lines
        assert [int(m["epoch"]) for m in matches if m] == [0, 1, 2], lines
        assert all(m["party"] == name for m in matches if m)
        lefts = [m["left"] for m in matches if m]
        assert all(re.fullmatch(r"( at_most_seconds_left=\d+)?", left) for left in lefts), lefts
        if name == "bank-a":  # the guest decides: a bound on the time left while epochs remain
            assert lefts[0] and lefts[1], lefts
    guest_metrics = [m["metrics"] for m in map(pattern.search, logs["bank-a"]) if m]
    assert all(re.fullmatch(r" loss=[0-9.e+-]+", metrics) for metrics in guest_metrics)
    # one estimate per party before training, from this machine's calibrated rates
    estimate = re.compile(
        r" INFO vfl\.progress training estimate party=(?P<party>\S+) step=1 type=hetero_lr "
        r"mode=shared rows=\d+ features=(?P<features>\d+) max_epochs=3 key_bits=1024 "
        r"encryption_ms=\S+ product_ms=\S+ seconds_per_epoch=\S+ at_most_seconds=\d+$"
    )
    for name, lines in estimates.items():
        assert len(lines) == 1 and (found := estimate.search(lines[0])), lines
        assert found["party"] == name
        assert lines[0] < logs[name][0]  # logged before the first epoch ended
    host_metrics = [m["metrics"] for m in map(pattern.search, logs["bank-b"]) if m]
    assert host_metrics == ["", "", ""]  # the host's history holds no loss


def test_progress_lines_of_training_give_the_max_iter_bound_as_such() -> None:
    out = io.StringIO()
    progress = Progress("bank-a: hetero_lr", 10, "lines", stream=out, bounded=True)
    progress.update(5, 10)
    progress.close()
    (line,) = out.getvalue().splitlines()
    assert "50% (5/10)" in line and ", at most about " in line
    assert line.endswith(" s left (if it runs to max_iter)")


def test_the_loss_trend_estimate_and_a_resumed_run_logs_only_new_epochs() -> None:
    assert epochs_to_settle([0.7, 0.6, 0.55], 1e-4) == 9
    assert epochs_to_settle([0.7, 0.6, 0.59995], 1e-4) == 0
    assert epochs_to_settle([0.7, 0.6], 1e-4) is None

    class Resumed:
        def __init__(self) -> None:
            self.resumed_after = 1
            self.history: list[dict[str, float]] = [
                {"epoch": 0, "loss": 0.7},
                {"epoch": 1, "loss": 0.6},
            ]
            self.progress = (6, 10)

    lines = _Lines()
    logger = logging.getLogger("vfl.progress")
    logger.addHandler(lines)
    saved_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        role = Resumed()
        log = EpochLog("bank-a", 1, "hetero_lr")
        log.update(role)  # the restored epochs 0 and 1 are not logged again
        role.history = [*role.history, {"epoch": 2, "loss": 0.55, "validation_auc": 0.9}]
        role.progress = (9, 10)
        log.update(role)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(saved_level)
    fields = [getattr(r, "fields", {}) for r in lines.records]
    assert [f["epoch"] for f in fields] == [2]
    assert fields[0]["loss"] == "0.55" and fields[0]["validation_auc"] == "0.9"
    assert "at_most_seconds_left" in fields[0]


def test_the_arbiter_logs_each_epoch_too(tmp_path: Path) -> None:
    """The arbiter example, two epochs, in process: an epoch line per epoch per party."""
    folder = tmp_path / "job"
    shutil.copytree(
        EXAMPLES / "hetero-lr-arbiter", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    job = with_test_keys(load_job(folder / "job.toml"))
    psi, train, score = job.steps
    assert isinstance(train, HeteroLrStep)
    job = dataclasses.replace(job, steps=(psi, dataclasses.replace(train, max_iter=2), score))
    handler = _Lines()
    logger = logging.getLogger("vfl.progress")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        simulate_job(job)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
    epochs: dict[str, list[int]] = {}
    for record in handler.records:
        fields = getattr(record, "fields", {})
        if record.getMessage() == "epoch finished":
            epochs.setdefault(fields["party"], []).append(fields["epoch"])
            if fields["party"] == "arbiter":  # it knows no loss
                assert set(fields) <= {"party", "step", "type", "epoch", "seconds"} | {
                    "at_most_seconds_left"
                }
    assert epochs == {name: [0, 1] for name in ("arbiter", "bank-a", "bank-b", "bank-c")}
    # each party's peers.json: every peer's session closed after the job
    peers = json.loads((job.output_dir / "arbiter" / "peers.json").read_text())
    assert peers["party"] == "arbiter" and peers["job"] == job.job_id
    assert {name: entry["state"] for name, entry in peers["peers"].items()} == {
        name: "closed" for name in ("bank-a", "bank-b", "bank-c")
    }

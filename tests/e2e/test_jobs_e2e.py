"""Whole jobs: separate `vfl run` processes over mutual TLS, `vfl simulate`, and faults."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import start_party, write_job
from vfl.certs import create_ca, create_job_certificates, issue_certificate
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job

PARTIES = [("bank-a", "guest"), ("bank-b", "host"), ("bank-c", "host")]
ROOT = Path(__file__).resolve().parents[2]


def _write_data(folder: Path, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for index, (name, role) in enumerate(PARTIES):
        rows = 20 + 5 * index
        values = np.round(rng.uniform(0, 1e4, size=(rows, 2)), 2)
        header = "id,y,balance,limit" if role == "guest" else "id,balance,limit"
        lines = [header]
        for row, (balance, limit) in enumerate(values):
            label = [str(row % 2)] if role == "guest" else []
            lines.append(",".join([f"c{row}", *label, f"{balance:.2f}", f"{limit:.2f}"]))
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
        columns[name] = values
    return columns


def _write_job(
    folder: Path, *, steps: int = 2, key_length: int = 1024, timeout: float = 20
) -> Path:
    lines: list[str] = []
    for index in range(steps):
        columns = '["balance", "limit"]' if index % 2 == 0 else '["limit"]'
        lines += [
            "[[steps]]",
            'type = "secure_sum"',
            f"columns = {columns}",
            f"key_length = {key_length}",
            "",
        ]
    label = {"guest": ', label_column = "y"', "host": ""}
    data = {name: f'{{ file = "{name}.csv"{label[role]} }}' for name, role in PARTIES}
    return write_job(
        folder,
        job_id="e2e-sum",
        parties=PARTIES,
        data=data,
        steps=lines,
        timeout=timeout,
        allow_weak_keys=key_length < 2048,
    )


@pytest.fixture()
def job_dir(tmp_path: Path) -> Path:
    _write_data(tmp_path)
    create_job_certificates(tmp_path / "certs", [name for name, _ in PARTIES])
    return tmp_path


def _start(job: Path, party: str) -> subprocess.Popen[str]:
    return start_party(job, party, "--log-level", "DEBUG")


def _outputs(folder: Path) -> dict[tuple[str, str], dict[str, object]]:
    result = {}
    for path in sorted(folder.rglob("step-*.json")):
        document = json.loads(path.read_text())
        result[(path.parent.name, path.name)] = {
            k: document[k] for k in ("totals", "rows", "columns", "parties")
        }
    return result


def test_separate_processes_over_tls_match_simulate_and_plaintext(job_dir: Path) -> None:
    data = _write_data(job_dir)
    job_path = _write_job(job_dir)
    processes = {name: _start(job_path, name) for name, _ in PARTIES}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        assert "finished" in stdout
    over_tls = _outputs(job_dir / "output")
    assert not list((job_dir / "output").rglob("*.tmp"))  # nothing half-written

    simulate_job(dataclasses.replace(load_job(job_path), output_dir=job_dir / "simulated"))
    simulated = _outputs(job_dir / "simulated")
    assert over_tls == simulated and len(over_tls) == 6  # 3 parties x 2 steps

    expected = sum(values.sum(axis=0) for values in data.values())
    step0 = over_tls[("bank-b", "step-0-secure_sum.json")]
    assert np.allclose(step0["totals"], expected, rtol=0, atol=1e-6)
    assert step0["rows"] == sum(len(v) for v in data.values()) and step0["parties"] == 3


def test_killing_a_peer_mid_job_stops_the_others_naming_it(job_dir: Path) -> None:
    job_path = _write_job(job_dir, steps=40, key_length=2048, timeout=30)
    processes = {name: _start(job_path, name) for name, _ in PARTIES}
    victim_output = job_dir / "output" / "bank-c" / "step-0-secure_sum.json"
    deadline = time.monotonic() + 60
    while not victim_output.exists():
        assert time.monotonic() < deadline, "the job never started"
        assert all(p.poll() is None for p in processes.values()), "a party ended early"
        time.sleep(0.01)
    os.kill(processes["bank-c"].pid, signal.SIGKILL)
    killed_at = time.monotonic()
    for name in ("bank-a", "bank-b"):
        _, stderr = processes[name].communicate(timeout=60)
        assert processes[name].returncode == 1, f"{name} should fail"
        last_line = stderr.strip().splitlines()[-1]
        assert last_line.startswith("vfl: error:") and "bank-c" in last_line, last_line
    assert time.monotonic() - killed_at < 30  # within the job's timeout
    processes["bank-c"].wait(timeout=10)
    assert not (job_dir / "output" / "bank-a" / "step-39-secure_sum.json").exists()


def _impostor(port: int, certificate: Path, key: Path, ca: Path) -> threading.Event:
    """A raw TLS server at ``port`` presenting someone else's (valid) certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        with server:
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                with connection, contextlib.suppress(ssl.SSLError, OSError):
                    context.wrap_socket(connection, server_side=True).close()

    threading.Thread(target=serve, daemon=True).start()
    return stop


def test_a_server_presenting_another_partys_certificate_is_refused(job_dir: Path) -> None:
    job_path = _write_job(job_dir, steps=1)
    text = job_path.read_text().replace("connect_timeout = 15", "connect_timeout = 5")
    job_path.write_text(text)
    port = load_job(job_path).party("bank-a").port
    certs = job_dir / "certs"
    stop = _impostor(port, certs / "bank-b.crt", certs / "bank-b.key", certs / "ca.crt")
    try:
        honest = {name: _start(job_path, name) for name in ("bank-b", "bank-c")}
        for name, process in honest.items():
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 1, name
            last_line = stderr.strip().splitlines()[-1]
            assert "bank-a" in last_line and "refused" in last_line.lower(), last_line
    finally:
        stop.set()
    # and our own tool will not even start a party with another party's certificate
    impostor = job_dir / "impostor.toml"
    impostor.write_text(
        text.replace(
            'certificate = "certs/bank-a.crt"', 'certificate = "certs/bank-b.crt"'
        ).replace('private_key = "certs/bank-a.key"', 'private_key = "certs/bank-b.key"')
    )
    result = _start(impostor, "bank-a")
    _, stderr = result.communicate(timeout=60)
    assert result.returncode == 1 and "not this party 'bank-a'" in stderr.splitlines()[-1]


def test_a_party_with_a_certificate_from_another_ca_is_refused(job_dir: Path) -> None:
    job_path = _write_job(job_dir, steps=1)
    foreign_ca = create_ca(job_dir / "foreign", common_name="another consortium")
    issue_certificate(foreign_ca, job_dir / "foreign", "bank-c")
    text = (
        job_path.read_text()
        .replace("connect_timeout = 15", "connect_timeout = 4")
        .replace("timeout = 20", "timeout = 4")
    )
    job_path.write_text(text)
    rogue = job_dir / "rogue.toml"
    rogue.write_text(
        text.replace(
            'certificate = "certs/bank-c.crt"', 'certificate = "foreign/bank-c.crt"'
        ).replace('private_key = "certs/bank-c.key"', 'private_key = "foreign/bank-c.key"')
    )
    processes = {
        "bank-a": _start(job_path, "bank-a"),
        "bank-b": _start(job_path, "bank-b"),
        "bank-c": _start(rogue, "bank-c"),
    }
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 1, name
        assert "bank-c" in stderr.strip().splitlines()[-1] or name == "bank-c"


def test_simulate_cli_and_clean_failures(job_dir: Path) -> None:
    job_path = _write_job(job_dir, steps=1)

    def vfl(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vfl.cli", *arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = vfl("simulate", "--config", str(job_path), "--log-level", "DEBUG")
    assert result.returncode == 0, result.stderr
    assert "totals over 3 parties" in result.stdout
    # logs carry metadata only: no data value, no total
    document = json.loads((job_dir / "output" / "bank-a" / "step-0-secure_sum.json").read_text())
    first_balance = (job_dir / "bank-b.csv").read_text().splitlines()[1].split(",")[1]
    for secret in (first_balance, f"{document['totals'][0]:.6g}", str(document["totals"][0])):
        assert secret not in result.stderr
    assert "kind=SUM_PARTIAL" in result.stderr

    unknown = vfl("run", "--config", str(job_path), "--party", "bank-z")
    assert (
        unknown.returncode == 1
        and unknown.stderr.count("\n") == 1
        and "no party 'bank-z'" in unknown.stderr
    )
    (job_dir / "bank-b.csv").unlink()
    missing = vfl("simulate", "--config", str(job_path))
    assert missing.returncode == 1 and "bank-b.data.file" in missing.stderr
    assert vfl("certs", "--out", str(job_dir / "x")).returncode == 1
    assert vfl("run", "--help").returncode == 0 and vfl("simulate", "--help").returncode == 0
    assert vfl("certs", "--help").returncode == 0


def test_bad_data_in_one_party_aborts_everyone_with_its_reason(job_dir: Path) -> None:
    job_path = _write_job(job_dir, steps=1)
    with (job_dir / "bank-c.csv").open("a") as stream:
        stream.write("x99,abc,2.0\n")
    job = load_job(job_path)
    with pytest.raises(Exception, match="bank-c") as raised:
        simulate_job(job)
    assert type(raised.value).__name__ == "DataError"

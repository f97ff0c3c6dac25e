"""A rejected TLS handshake between real `vfl run` processes: both sides name the cause.

One party holds a certificate from another CA.  Whichever side's check fails first,
its error names the handshake failure and the peer; the other side (whose peer then
stopped) ends naming the failed handshake it saw, and logged it at ERROR at once.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.job_files import start_party, write_job
from vfl.certs import create_ca, create_job_certificates, issue_certificate

PARTIES = [("bank-a", "guest"), ("bank-b", "host")]


def _job(folder: Path, connect_timeout: int) -> tuple[Path, Path]:
    """The job file and a copy in which bank-b uses a certificate of another CA."""
    for name, role in PARTIES:
        lines = ["id,y,x" if role == "guest" else "id,x"]
        for row in range(10):
            lines.append(f"c{row},{row % 2},{row}.5" if role == "guest" else f"c{row},{row}.5")
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    create_job_certificates(folder / "certs", [name for name, _ in PARTIES])
    foreign = create_ca(folder / "foreign", common_name="another consortium")
    issue_certificate(foreign, folder / "foreign", "bank-b")
    data = {
        "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
        "bank-b": '{ file = "bank-b.csv" }',
    }
    steps = ["[[steps]]", 'type = "secure_sum"', 'columns = ["x"]', "key_length = 1024"]
    job = write_job(
        folder, job_id="tls-causes", parties=PARTIES, data=data, steps=steps,
        timeout=5, allow_weak_keys=True,
    )  # fmt: skip
    text = job.read_text().replace("connect_timeout = 15", f"connect_timeout = {connect_timeout}")
    job.write_text(text)
    rogue = folder / "rogue.toml"
    rogue.write_text(
        text.replace("certs/bank-b.crt", "foreign/bank-b.crt").replace(
            "certs/bank-b.key", "foreign/bank-b.key"
        )
    )
    return job, rogue


def test_both_sides_of_a_rejected_handshake_name_it(tmp_path: Path) -> None:
    job, rogue = _job(tmp_path, connect_timeout=7)
    started = time.monotonic()
    processes = {"bank-a": start_party(job, "bank-a"), "bank-b": start_party(rogue, "bank-b")}
    errors = {}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 1, f"{name}: {stderr[-3000:]}"
        errors[name] = stderr
    assert time.monotonic() - started < 30
    finals = {name: stderr.strip().splitlines()[-1] for name, stderr in errors.items()}
    for name, final in finals.items():
        assert final.startswith("vfl: error:"), final
        # a TLS 1.3 client may only see its connection closed after its own handshake
        # finished (the server rejected its certificate): it says the peer refused it
        said = "TLS handshake" in final or "refused the connection" in final
        assert said, f"{name}: {final}"
        assert "job CA" in final, f"{name}: {final}"  # what to do
    # the side whose check failed names the peer and who rejected whom
    rejecting = [n for n, f in finals.items() if "rejected" in f and "could not reach" not in f]
    assert rejecting, finals
    other = {"bank-a": "bank-b", "bank-b": "bank-a"}
    for name in rejecting:
        assert repr(other[name]) in finals[name], finals[name]
    # the acceptor of the failed handshake logged it at ERROR with the client's address
    logged = [
        line
        for stderr in errors.values()
        for line in stderr.splitlines()
        if " ERROR vfl.transport " in line and "TLS handshake failed" in line
    ]
    assert logged and "127.0.0.1:" in logged[0], errors
    # a side left waiting (a line every 5 s) named the failed handshake; when both sides
    # saw the rejection at once (both stopped within the first 5 s) nobody waited
    waiting = [
        line for stderr in errors.values() for line in stderr.splitlines() if "waiting for" in line
    ]
    assert not waiting or any("TLS handshake" in line for line in waiting), errors

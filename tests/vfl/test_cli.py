"""The `vfl` command, run as a real process."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

from vfl.certs import certificate_names, fingerprint


def _vfl(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vfl.cli", *arguments], capture_output=True, text=True, timeout=300
    )


def test_help_and_version() -> None:
    result = _vfl("--help")
    assert result.returncode == 0 and "demo" in result.stdout
    assert _vfl("demo", "--help").returncode == 0
    version = _vfl("--version")
    assert version.returncode == 0 and version.stdout.startswith("vfl ")


def test_demo_refuses_a_weak_key_with_a_one_line_reason() -> None:
    result = _vfl("demo", "--key-length", "1024")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "2048" in result.stderr


def test_unknown_command_fails() -> None:
    assert _vfl("frobnicate").returncode == 2


# vfl certs --------------------------------------------------------------------------------
JOB = Path(__file__).resolve().parents[2] / "examples" / "hetero-lr" / "job.toml"


def test_certs_help_shows_both_flows() -> None:
    result = _vfl("certs", "--help")
    assert result.returncode == 0
    for word in ("request", "sign", "ca", "--config", "--party", "one machine"):
        assert word in result.stdout
    for command in ("ca", "request", "sign"):
        usage = _vfl("certs", command, "--help")
        assert usage.returncode == 0 and usage.stdout.startswith(f"usage: vfl certs {command} ")
    missing = _vfl("certs")
    assert missing.returncode == 2 and "--out" in missing.stderr


def test_certs_on_one_machine_still_works(tmp_path: Path) -> None:
    result = _vfl("certs", "--party", "bank-a", "--party", "bank-b", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"ca.crt", "ca.key", "bank-a.crt", "bank-a.key", "bank-b.crt", "bank-b.key"}


def test_certs_request_flow(tmp_path: Path) -> None:
    operator, inbox = tmp_path / "operator", tmp_path / "operator" / "inbox"
    ca = _vfl("certs", "ca", "--out", str(operator), "--days", "30")
    assert ca.returncode == 0, ca.stderr
    assert sorted(p.name for p in operator.iterdir()) == ["ca.crt", "ca.key"]
    assert fingerprint(operator / "ca.crt") in ca.stdout
    inbox.mkdir()
    for party in ("bank-a", "bank-b"):
        home = tmp_path / party
        made = _vfl("certs", "request", "--party", party, "--out", str(home))
        assert made.returncode == 0, made.stderr
        assert stat.S_IMODE((home / f"{party}.key").stat().st_mode) == 0o600
        assert fingerprint(home / f"{party}.csr") in made.stdout
        again = _vfl("certs", "request", "--party", party, "--out", str(home))
        assert again.returncode == 1 and "--overwrite" in again.stderr
        shutil.copyfile(home / f"{party}.csr", inbox / f"{party}.csr")  # only the request travels
    assert [p.name for p in operator.rglob("*.key")] == ["ca.key"]  # no party key here
    signed = _vfl(
        "certs", "sign", "--ca", str(operator), "--csr", str(inbox / "bank-a.csr"),
        "--config", str(JOB), "--party", "bank-a",
        "--expect-fingerprint", fingerprint(inbox / "bank-a.csr"),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert certificate_names(inbox / "bank-a.crt") == ["bank-a"]
    out = tmp_path / "bank-b" / "bank-b.crt"
    signed = _vfl(
        "certs", "sign", "--ca", str(operator / "ca.crt"), "--csr", str(inbox / "bank-b.csr"),
        "--out", str(out), "--days", "7",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert certificate_names(out) == ["bank-b"]
    twice = _vfl("certs", "sign", "--ca", str(operator), "--csr", str(inbox / "bank-b.csr"),
                 "--out", str(out))  # fmt: skip
    assert twice.returncode == 1 and "refusing to overwrite" in twice.stderr


def test_certs_sign_refuses_a_party_not_in_the_job(tmp_path: Path) -> None:
    assert _vfl("certs", "ca", "--out", str(tmp_path)).returncode == 0
    assert _vfl("certs", "request", "--party", "bank-x", "--out", str(tmp_path)).returncode == 0
    result = _vfl(
        "certs", "sign", "--ca", str(tmp_path), "--csr", str(tmp_path / "bank-x.csr"),
        "--config", str(JOB),
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "bank-x.csr names 'bank-x', which is not a party of" in result.stderr
    assert "job.toml" in result.stderr and not (tmp_path / "bank-x.crt").exists()

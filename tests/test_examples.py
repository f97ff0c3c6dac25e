"""Every example job file runs (on a copy, so the examples stay clean)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.job_files import with_test_keys
from vfl.jobfile import load_job
from vfl.jobs import simulate_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "job_file", sorted(EXAMPLES.glob("*/job.toml")), ids=lambda p: p.parent.name
)
def test_example_job_simulates(tmp_path: Path, job_file: Path) -> None:
    folder = tmp_path / job_file.parent.name
    shutil.copytree(job_file.parent, folder, ignore=shutil.ignore_patterns("certs", "output"))
    job = load_job(folder / "job.toml")
    # users copy the examples: they must use full-strength keys...
    assert not job.allow_weak_keys
    for step in job.steps:
        assert getattr(step, "key_length", 2048) >= 2048
        assert getattr(step, "rsa_key_length", 2048) >= 2048
    reports = simulate_job(with_test_keys(job))  # ...which the tests shorten to 1024 bits
    assert set(reports) == {p.name for p in job.parties}
    for report in reports.values():
        assert report.outputs and all(path.is_file() for path in report.outputs)


def test_secure_sum_example_totals_are_the_plain_totals(tmp_path: Path) -> None:
    folder = tmp_path / "secure-sum"
    shutil.copytree(
        EXAMPLES / "secure-sum", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    reports = simulate_job(with_test_keys(load_job(folder / "job.toml")))
    rows = [
        row
        for name in ("bank-a", "bank-b", "bank-c")
        for row in csv.DictReader((folder / f"{name}.csv").open())
    ]
    expected = [sum(float(r["balance"]) for r in rows), sum(float(r["credit_limit"]) for r in rows)]
    result = reports["bank-c"].results[0]
    assert result["rows"] == len(rows) == 30
    assert result["totals"] == pytest.approx(expected, abs=1e-6)


def test_example_certificates_command(tmp_path: Path) -> None:
    folder = tmp_path / "secure-sum"
    shutil.copytree(
        EXAMPLES / "secure-sum", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vfl.cli",
            "certs",
            "--config",
            str(folder / "job.toml"),
            "--out",
            str(folder / "certs"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    load_job(folder / "job.toml").check_files("bank-b")  # every file a TLS run needs is there

"""Every example job file runs (on a copy, so the examples stay clean)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vfl.jobfile import load_job
from vfl.jobs import simulate_job

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "job_file", sorted(EXAMPLES.glob("*/job.toml")), ids=lambda p: p.parent.name
)
def test_example_job_simulates(tmp_path: Path, job_file: Path) -> None:
    folder = tmp_path / job_file.parent.name
    shutil.copytree(job_file.parent, folder, ignore=shutil.ignore_patterns("certs", "output"))
    reports = simulate_job(load_job(folder / "job.toml"))
    assert set(reports) == {p.name for p in load_job(folder / "job.toml").parties}
    for report in reports.values():
        assert report.outputs and all(path.is_file() for path in report.outputs)


def test_secure_sum_example_totals_are_the_plain_totals(tmp_path: Path) -> None:
    folder = tmp_path / "secure-sum"
    shutil.copytree(
        EXAMPLES / "secure-sum", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    reports = simulate_job(load_job(folder / "job.toml"))
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

"""The `vfl` command, run as a real process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from vfl.demo import run_demo


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


def test_demo_runs_end_to_end_and_matches_plaintext() -> None:
    result = _vfl("demo", "--key-length", "1024", "--allow-weak-key", "--n-jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "Largest difference from the plaintext gradient" in result.stdout
    assert "Total time" in result.stdout


def test_demo_refuses_a_weak_key_with_a_one_line_reason() -> None:
    result = _vfl("demo", "--key-length", "1024")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "2048" in result.stderr


def test_unknown_command_fails() -> None:
    assert _vfl("frobnicate").returncode == 2


def test_demo_gradients_in_process() -> None:
    lines: list[str] = []
    result = run_demo(key_length=1024, allow_weak_key=True, n_jobs=1, log=lines.append)
    assert result.rows == 569
    assert result.guest_gradient.shape == (10,) and result.host_gradient.shape == (20,)
    assert result.max_error < 1e-5
    assert np.all(np.isfinite(result.guest_gradient))
    assert any("masked ciphertext" in line for line in lines)

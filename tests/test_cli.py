"""The `vfl` command, run as a real process."""

from __future__ import annotations

import subprocess
import sys


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

"""Job files for tests: free loopback ports, one certificate per party, and starting
one party's `vfl run` as a process of its own."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from vfl.jobs.jobfile import JobConfig, PsiStep

ROOT = Path(__file__).resolve().parents[2]


def start_party(
    job: Path,
    party: str,
    *options: str,
    cwd: Path = ROOT,
    stdout: int | IO[Any] = subprocess.PIPE,
    stderr: int | IO[Any] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """``vfl run --config job --party party [options]`` as a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "vfl.cli", "run", "--config", str(job), "--party", party, *options],
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def write_job(
    folder: Path,
    *,
    job_id: str,
    parties: Sequence[tuple[str, str]],
    data: dict[str, str],
    steps: Sequence[str],
    timeout: float = 20,
    allow_weak_keys: bool = False,
) -> Path:
    """Write ``folder/job.toml``: ``data[name]`` is each party's inline data table
    (e.g. ``'{ file = "a.csv" }'``) and ``steps`` the TOML lines after the parties."""
    text = [
        "[job]",
        f'id = "{job_id}"',
        f"timeout = {timeout}",
        "connect_timeout = 15",
        f"allow_weak_keys = {'true' if allow_weak_keys else 'false'}",
        "",
        "[tls]",
        'ca = "certs/ca.crt"',
    ]
    for (name, role), port in zip(parties, free_ports(len(parties)), strict=True):
        text += [
            "",
            "[[parties]]",
            f'name = "{name}"',
            f'role = "{role}"',
            f'address = "127.0.0.1:{port}"',
            f'certificate = "certs/{name}.crt"',
            f'private_key = "certs/{name}.key"',
            f"data = {data[name]}",
        ]
    path = folder / "job.toml"
    path.write_text("\n".join([*text, "", *steps]) + "\n")
    return path


def with_test_keys(job: JobConfig, bits: int = 1024) -> JobConfig:
    """``job`` with every Paillier and RSA key shortened to ``bits`` and weak keys
    allowed: example job files say 2048 (users copy them), tests run on 1024."""
    steps = []
    for step in job.steps:
        if isinstance(step, PsiStep):
            step = dataclasses.replace(step, rsa_key_length=bits)
        elif hasattr(step, "key_length"):
            step = dataclasses.replace(step, key_length=bits)
        steps.append(step)
    return dataclasses.replace(job, allow_weak_keys=True, steps=tuple(steps))

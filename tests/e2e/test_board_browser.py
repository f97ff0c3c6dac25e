"""``vfl board`` in a real browser: headless Chromium (Debian's ``chromium`` package,
installed by ``.ci/run``) loads the page while a real ``vfl simulate`` job trains, and
the DOM it renders shows the parties, their steps' states, the epoch count and the
loss, and no id or feature value of the data; a screenshot is kept in the test's tmp
folder (``board.png``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.job_files import free_ports
from tests.vfl.test_board_api import PARTIES, ROOT, assert_no_secrets, board_job

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed: apt-get install chromium (.ci/run does)",
)


def _wait_for(condition: Any, what: str, seconds: float = 60) -> Any:
    """Poll ``condition()`` until it returns something true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def _chromium(profile: Path, *options: str) -> str:
    """Run headless Chromium with ``options`` (in a process group of its own, killed
    whole on a timeout) and return its stdout."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *options,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("headless Chromium did not finish within 40 s")
    finally:
        with contextlib.suppress(ProcessLookupError):  # helpers left behind, if any
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr[-2000:]
    return stdout


def _state(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url + "api/state", timeout=5) as response:
            state: dict[str, Any] = json.load(response)
            return state
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _training(state: dict[str, Any] | None) -> bool:
    """Both parties' training step running, with at least 3 epochs in its history."""
    if not state:
        return False
    steps = [s for job in state["jobs"] for p in job["parties"] for s in p["steps"]]
    ready = [s for s in steps if s["state"] == "running" and len(s.get("history", [])) >= 3]
    return len(ready) == len(PARTIES)


def test_the_board_shows_a_running_job_in_chromium(tmp_path: Path) -> None:
    job, secrets = board_job(tmp_path / "job", max_iter=500, convergence="loss")
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/"
    processes: list[subprocess.Popen[str]] = []
    try:
        for command in (
            ["simulate", "--config", str(job)],
            ["board", "--config", str(job), "--port", str(port)],
        ):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vfl.cli", *command],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        def ready() -> dict[str, Any] | None:
            for process in processes:
                if process.poll() is not None:
                    errors = process.stderr.read() if process.stderr else ""
                    pytest.fail(f"{process.args} stopped: {errors}")
            state = _state(url)
            return state if _training(state) else None

        state = _wait_for(ready, "the board's API to show both parties training")
        profile = tmp_path / "chromium-profile"

        def rendered() -> str | None:
            dom = _chromium(profile, "--dump-dom", url)
            return dom if 'class="party-name"' in dom and 'class="loss"' in dom else None

        dom = _wait_for(rendered, "Chromium to render the parties and a loss", seconds=45)
        screenshot = tmp_path / "board.png"
        _chromium(profile, f"--screenshot={screenshot}", "--window-size=1280,900", url)
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)
    for name in PARTIES:
        assert f'<span class="party-name">{name}</span>' in dom
    assert "evaluate-example" in dom
    assert re.search(r'class="state state-running">running<', dom)
    assert re.search(r'class="state state-done">done<', dom)
    assert re.search(r'class="state state-waiting">waiting<', dom)
    done = r'<b class="epochs">(\d+) epochs done</b> of at most 500 \(max_iter\)'
    epochs = [int(n) for n in re.findall(done, dom)]
    assert len(epochs) == 2 and min(epochs) >= 3
    losses = [float(x) for x in re.findall(r'<span class="loss">loss (\d+\.\d{4})</span>', dom)]
    assert losses and all(0 < loss < 1 for loss in losses)
    assert "at most" in dom and "if it runs to max_iter" in dom  # an honest upper bound
    assert "<svg" in dom and "training loss per epoch" in dom
    assert "chain intact" in dom  # the audit log
    assert "439 in common" in dom  # PSI: a count, not the ids
    assert_no_secrets(dom, secrets)
    assert state["jobs"][0]["job"] == "evaluate-example"
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes().startswith(b"\x89PNG")

"""``vfl board``'s JSON state (``/api/state``) from real job folders: a finished job
(PSI, split, training, evaluation) and a job caught mid-training by a real
``vfl simulate`` run; no id, feature value or weight in it; the server answers GET
only and refuses every path outside the evaluation reports (``..``, links, CSVs)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.job_files import with_test_keys
from vfl.board import collect_state, job_plan, make_server
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "evaluate"
PARTIES = ("bank-a", "bank-b")


def board_job(
    folder: Path, *, max_iter: int, convergence: str = "max_iter"
) -> tuple[Path, set[str]]:
    """The evaluate example (PSI, split, hetero_lr, evaluate) in ``folder`` with ids no
    number on the board can contain, 1024-bit test keys and ``max_iter`` epochs; the
    job file and the secret strings (ids and a few feature values) of the data."""
    folder.mkdir(parents=True, exist_ok=True)
    secrets: set[str] = set()
    for party in PARTIES:
        lines = (EXAMPLE / f"{party}.csv").read_text().splitlines()
        rows = [lines[0]]
        for line in lines[1:]:
            identifier, rest = line.split(",", 1)
            new_id = f"cust{int(identifier) * 7919:07d}x"
            secrets.add(new_id)
            rows.append(f"{new_id},{rest}")
        secrets.update(lines[1].split(",")[2:5])  # feature values of the first row
        (folder / f"{party}.csv").write_text("\n".join(rows) + "\n")
    text = (EXAMPLE / "job.toml").read_text()
    text = text.replace("key_length = 2048", "key_length = 1024")
    text = text.replace("timeout = 120", "timeout = 120\nallow_weak_keys = true")
    text = re.sub(r"max_iter = \d+", f"max_iter = {max_iter}", text)
    text = re.sub(r'convergence = "\w+"', f'convergence = "{convergence}"', text)
    # a loss that never settles: a running job stays running however slow the machine
    # (convergence "loss" still makes the ETA an upper bound)
    text = text.replace("tol = 1e-4", "tol = 1e-12")
    assert f"max_iter = {max_iter}" in text and "allow_weak_keys = true" in text
    job = folder / "job.toml"
    job.write_text(text)
    return job, secrets


def assert_no_secrets(text: str, secrets: set[str]) -> None:
    """No id or feature value of the data, and no model weight, in ``text``."""
    for secret in secrets:
        assert not re.search(rf"(?<![0-9.]){re.escape(secret)}(?![0-9])", text), secret
    assert '"weights"' not in text and "plan_seed" not in text and "inputs_digest" not in text


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A finished job's output folder (3 epochs) and its data's secrets."""
    path, secrets = board_job(tmp_path_factory.mktemp("board") / "job", max_iter=3)
    simulate_job(with_test_keys(load_job(path)))
    return path, secrets


def _party(state: dict[str, Any], name: str) -> dict[str, Any]:
    (job,) = state["jobs"]
    return next(party for party in job["parties"] if party["name"] == name)


def test_the_state_of_a_finished_job(finished: tuple[Path, set[str]]) -> None:
    path, secrets = finished
    output, plan = job_plan(path)
    state = collect_state(output, plan)
    assert [job["job"] for job in state["jobs"]] == ["evaluate-example"]
    assert [p["name"] for p in state["jobs"][0]["parties"]] == list(PARTIES)
    for name in PARTIES:
        party = _party(state, name)
        assert party["state"] == "done" and not party["stalled"]
        steps = party["steps"]
        assert [(s["index"], s["type"], s["state"]) for s in steps] == [
            (0, "psi", "done"),
            (1, "split", "done"),
            (2, "hetero_lr", "done"),
            (3, "evaluate", "done"),
        ]
        psi, _, training, _ = steps
        assert psi["participants"] == list(PARTIES) and psi["bytes_sent"] > 0
        assert training["summary"]["epochs"] == 3 and training["bytes_received"] > 0
        assert len(training["history"]) == 3
        assert party["audit_check"]["intact"] and party["audit_check"]["lines"] == 7
        assert [line["event"] for line in party["audit"]].count("epoch") == 3
        (model,) = party["models"]
        assert model["number"] == 1 and re.fullmatch(r"[0-9a-f]{12}", model["hash"])
    guest = _party(state, "bank-a")["steps"]
    assert all(isinstance(h["loss"], float) for h in guest[2]["history"])
    assert guest[3]["metrics"]["auc"] > 0.9
    assert guest[3]["report"] == "/files/bank-a/step-3-report/report.html"
    assert "report" not in _party(state, "bank-b")["steps"][3]
    assert_no_secrets(json.dumps(state), secrets)
    # without the job file: the same steps, no max_iter; a party folder alone works too
    assert collect_state(output)["jobs"][0]["parties"][0]["steps"][2]["state"] == "done"
    (alone,) = collect_state(output / "bank-b")["jobs"]
    assert [p["name"] for p in alone["parties"]] == ["bank-b"]


def test_the_state_of_a_folder_of_several_jobs(finished: tuple[Path, set[str]]) -> None:
    path, _ = finished
    folder = path.parent.parent / "several"
    shutil.copytree(path.parent / "output", folder / "first")
    shutil.copytree(path.parent / "output", folder / "second")
    state = collect_state(folder)
    assert len(state["jobs"]) == 2
    assert {p["folder"] for job in state["jobs"] for p in job["parties"]} == {
        f"{run}/{party}" for run in ("first", "second") for party in PARTIES
    }


def _wait_for(condition: Any, what: str, seconds: float = 90) -> Any:
    """Poll ``condition()`` until it returns something true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def test_the_state_of_a_job_in_training(tmp_path: Path) -> None:
    path, secrets = board_job(tmp_path / "job", max_iter=500, convergence="loss")
    output, plan = job_plan(path)
    process = subprocess.Popen(
        [sys.executable, "-m", "vfl.cli", "simulate", "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def training() -> dict[str, Any] | None:
            if process.poll() is not None:
                errors = process.stderr.read() if process.stderr else ""
                pytest.fail(f"vfl simulate stopped: {errors}")
            if not output.is_dir():
                return None
            state = collect_state(output, plan)
            steps = [s for job in state["jobs"] for p in job["parties"] for s in p["steps"]]
            ready = [s for s in steps if s["state"] == "running" and len(s.get("history", [])) >= 3]
            return state if len(ready) == 2 and len(steps) == 8 else None

        state = _wait_for(training, "both parties in their third epoch of training")
    finally:
        process.kill()
        process.wait(timeout=30)
    for name in PARTIES:
        party = _party(state, name)
        assert party["state"] == "running"
        states = [(s["index"], s["state"]) for s in party["steps"]]
        assert states == [(0, "done"), (1, "done"), (2, "running"), (3, "waiting")]
        running = party["steps"][2]
        assert running["type"] == "hetero_lr" and running["participants"] == list(PARTIES)
        assert running["bytes_sent"] > 0 and running["bytes_received"] > 0
        progress = running["progress"]
        assert progress["epochs_done"] >= 3 and progress["max_iter"] == 500
        assert progress["upper_bound"] is True  # convergence = "loss": may stop earlier
        assert progress["seconds_per_epoch"] > 0
        # the shown seconds per epoch is rounded; allow one epoch's worth of rounding
        assert progress["seconds_left"] == pytest.approx(
            progress["seconds_per_epoch"] * (500 - progress["epochs_done"]),
            abs=progress["seconds_per_epoch"] + 0.5,
        )
        assert party["models"] == []
    history = _party(state, "bank-a")["steps"][2]["history"]
    assert [h["epoch"] for h in history] == list(range(len(history)))
    assert all(isinstance(h["loss"], float) for h in history)
    assert_no_secrets(json.dumps(state), secrets)


@contextlib.contextmanager
def _serving(folder: Path) -> Iterator[str]:
    server = make_server(folder, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_server_answers_get_only_and_serves_only_reports(
    finished: tuple[Path, set[str]], tmp_path: Path
) -> None:
    path, _ = finished
    output = path.parent / "output"
    outside = tmp_path / "secret.html"
    outside.write_text("not for the board")
    (output / "bank-a" / "step-9-report").mkdir(exist_ok=True)
    link = output / "bank-a" / "step-9-report" / "link.html"
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    with _serving(output) as base:
        status, page = _get(base + "/")
        assert status == 200 and b"/api/state" in page
        assert b"http://" not in page and b"https://" not in page  # nothing from the internet
        status, body = _get(base + "/api/state")
        assert status == 200
        assert _party(json.loads(body), "bank-a")["steps"][3]["report"].endswith("report.html")
        status, report = _get(base + "/files/bank-a/step-3-report/report.html")
        assert status == 200 and b"<html" in report.lower()
        assert _get(base + "/files/bank-a/step-3-report/roc.png")[0] == 200
        refused = [
            "/files/bank-a/step-0-psi.csv",
            "/files/bank-a/step-1-holdout.csv",
            "/files/bank-a/step-2-model.json",
            "/files/bank-a/step-3-report/../step-0-psi.csv",
            "/files/bank-a/step-3-report/%2e%2e/step-0-psi.csv",
            "/files/../../etc/passwd",
            "/files/%2e%2e/%2e%2e/etc/passwd",
            "/files//etc/step-1-report/passwd.html",
            "/files/bank-a/step-9-report/link.html",
            "/../job.toml",
            "/bank-a.csv",
        ]
        for url in refused:
            status, body = _get(base + url)
            assert status == 404, url
            assert b"not for the board" not in body and b"root:" not in body
        for method in ("POST", "PUT", "DELETE"):
            status, body = _get(base + "/api/state", method)
            assert status == 405 and b"read-only" in body, method
    link.unlink()


def test_a_missing_folder_or_a_busy_port_is_explained(tmp_path: Path) -> None:
    from vfl.exceptions import VflError

    with pytest.raises(VflError, match="no such folder: give the job's output folder"):
        make_server(tmp_path / "nowhere")
    # with the job file: the output folder may come later; the page shows no job yet
    server = make_server(tmp_path / "output", port=0, plan=[])
    server.server_close()
    assert collect_state(tmp_path / "output")["jobs"] == []
    server = make_server(tmp_path, port=0)
    try:
        with pytest.raises(VflError, match="choose another --port"):
            make_server(tmp_path, port=server.server_address[1])
    finally:
        server.server_close()


def test_peers_and_messages_per_kind_reach_the_state(
    finished: tuple[Path, set[str]], tmp_path: Path
) -> None:
    path, secrets = finished
    output, plan = job_plan(path)
    state = collect_state(output, plan)
    for name in PARTIES:
        party = _party(state, name)
        (other,) = set(PARTIES) - {name}
        assert party["peers"]["known"]
        (peer,) = party["peers"]["peers"]
        assert (peer["name"], peer["state"]) == (other, "closed")  # the job is over
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", peer["time"])
        for step in party["steps"]:
            kinds = step["messages"]  # the split step sends nothing
            assert bool(kinds) == (step["bytes_sent"] + step["bytes_received"] > 0)
            assert all(re.fullmatch(r"[A-Z_]+", kind) for kind in kinds)
            assert sum(counts[1] for counts in kinds.values()) == step["bytes_sent"]
            assert sum(counts[3] for counts in kinds.values()) == step["bytes_received"]
            assert all(counts[0] + counts[2] > 0 for counts in kinds.values())
        training = party["steps"][2]["messages"]
        assert "LR_DECISION" in training or "LR_FORWARD" in training
        step_lines = [line for line in party["audit"] if line["event"] == "step"]
        assert all("messages" in line for line in step_lines)
    assert_no_secrets(json.dumps(state), secrets)
    # a party still connecting (nothing but peers.json), one without it, a forged file
    copy = tmp_path / "output"
    (copy / "bank-a").mkdir(parents=True)
    (copy / "bank-a" / "peers.json").write_text(
        json.dumps(
            {
                "job": "evaluate-example",
                "party": "bank-a",
                "peers": {
                    "bank-b": {"state": "connecting", "time": "2026-12-07T10:00:00Z"},
                    "bank-c": {"state": "lost", "time": "2026-12-07T10:00:01Z", "x": "cust1x"},
                    "<b>": {"state": "connected"},
                    "arbiter": {"state": "cust0007919x", "time": "cust0007919x"},
                },
            }
        )
    )
    shutil.copytree(output / "bank-b", copy / "bank-b")
    (copy / "bank-b" / "peers.json").unlink()
    state = collect_state(copy)
    (job,) = state["jobs"]
    assert job["job"] == "evaluate-example"
    connecting = _party(state, "bank-a")
    assert connecting["state"] == "waiting" and connecting["peers"]["known"]
    assert connecting["peers"]["peers"] == [
        {"name": "arbiter", "state": "unknown", "time": None},
        {"name": "bank-b", "state": "connecting", "time": "2026-12-07T10:00:00Z"},
        {"name": "bank-c", "state": "lost", "time": "2026-12-07T10:00:01Z"},
    ]
    assert _party(state, "bank-b")["peers"] == {"known": False, "peers": []}
    text = json.dumps(state)
    assert "cust1x" not in text and "cust0007919x" not in text and "<b>" not in text


def test_forged_message_counts_are_dropped(tmp_path: Path) -> None:
    from vfl.jobs.audit_log import AuditLog

    log = AuditLog(tmp_path / "bank-a" / "audit.jsonl", "job-1", "bank-a")
    log.append(
        "step",
        {
            "step": 0,
            "type": "psi",
            "messages": {
                "PSI_ITEMS": [1, 10, 2, 20],
                "cust1234x": [1, 1, 1, 1],
                "LR_FORWARD": ["secret", 1, 1, 1],
                "ABORT": [1, 2, 3],
            },
        },
    )
    (party,) = collect_state(tmp_path / "bank-a")["jobs"][0]["parties"]
    assert party["steps"][0]["messages"] == {"PSI_ITEMS": [1, 10, 2, 20]}
    assert party["audit"][0]["messages"] == {"PSI_ITEMS": [1, 10, 2, 20]}

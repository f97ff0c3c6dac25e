"""Audit logs of a real job: every party's log after a run and a re-run, checked with
`vfl audit verify`, then an edited, a removed and a moved line, each found."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_jobs_e2e import ROOT
from tests.e2e.test_resume import PartyKilledError, _example_job, _killed
from tests.support.job_files import with_test_keys
from vfl.jobs import simulate_job
from vfl.jobs.audit_log import AUDIT_LOG_NAME, genesis
from vfl.jobs.jobfile import HeteroLrStep, load_job

PARTIES = ("arbiter", "bank-a", "bank-b", "bank-c")
HEX = re.compile(r"[0-9a-f]{64}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _vfl_audit_verify(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vfl.cli", "audit", "verify", str(path), *options],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def job_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The arbiter example (PSI, two epochs of training, scoring) run twice over; the
    output folder and each party's last hash."""
    folder = tmp_path_factory.mktemp("audit") / "job"
    shutil.copytree(
        ROOT / "examples" / "hetero-lr-arbiter",
        folder,
        ignore=shutil.ignore_patterns("certs", "output"),
    )
    job = with_test_keys(load_job(folder / "job.toml"))
    psi, train, score = job.steps
    assert isinstance(train, HeteroLrStep)
    job = dataclasses.replace(job, steps=(psi, dataclasses.replace(train, max_iter=2), score))
    simulate_job(job)
    reports = simulate_job(job)  # a re-run appends to the same logs
    heads = {name: report.audit_head for name, report in reports.items()}
    assert all(head is not None for head in heads.values())
    return job.output_dir, {name: str(head) for name, head in heads.items()}


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_party_logs_each_step_and_epoch_of_both_runs(
    job_output: tuple[Path, dict[str, str]],
) -> None:
    output, heads = job_output
    for party in PARTIES:
        path = output / party / AUDIT_LOG_NAME
        result = _vfl_audit_verify(path, "--last", heads[party])
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{path}: intact, ")
        assert result.stdout.rstrip().endswith(f"last line {heads[party]}")
        records = _records(path)
        assert records[0]["prev"] == genesis("hetero-lr-arbiter-example", party)
        events = [(r["event"], r["step"], r.get("epoch")) for r in records]
        if party == "arbiter":  # trains only; its last epoch is in the step line
            run = [("epoch", 1, 0), ("step", 1, None)]
        else:
            run = [("step", 0, None), ("epoch", 1, 0), ("epoch", 1, 1)]
            run += [("step", 1, None), ("step", 2, None)]
        assert events == run + run
        for record in records:  # counts, names, hashes and times: no data
            assert set(record) <= {
                *("event", "job", "party", "line", "prev", "time", "step", "type", "epoch"),
                *("rows", "participants", "bytes_sent", "bytes_received", "model_sha256"),
                "messages",
            }
            if record["event"] == "step":  # per kind: names, counts and sizes only
                kinds = record["messages"]
                assert isinstance(kinds, dict) and kinds
                assert all(name.isupper() and len(c) == 4 for name, c in kinds.items())
                assert sum(c[1] for c in kinds.values()) == record["bytes_sent"]
                assert sum(c[3] for c in kinds.values()) == record["bytes_received"]
            assert HEX.fullmatch(str(record["prev"])) and TIME.fullmatch(str(record["time"]))
            assert record["job"] == "hetero-lr-arbiter-example" and record["party"] == party
            participants = record["participants"]
            assert isinstance(participants, list) and party in participants
            assert set(participants) <= set(PARTIES)
            assert isinstance(record["bytes_sent"], int) and record["bytes_sent"] > 0
            assert isinstance(record["bytes_received"], int) and record["bytes_received"] > 0
            assert record["rows"] is None if party == "arbiter" else isinstance(record["rows"], int)
        training = [r for r in records if r["event"] == "step" and r["step"] == 1]
        if party == "arbiter":
            assert all("model_sha256" not in r for r in training)
            continue
        # the second run overwrote the model file: its hash is the last training line's
        model = (output / party / "step-1-model.json").read_bytes()
        assert training[-1]["model_sha256"] == hashlib.sha256(model).hexdigest()
        assert all(HEX.fullmatch(str(r["model_sha256"])) for r in training)
        epochs = [r for r in records[5:] if r["event"] == "epoch"]
        step = next(r for r in records[5:] if r["event"] == "step" and r["step"] == 1)
        for key in ("bytes_sent", "bytes_received"):  # the epochs add up to the step
            assert sum(int(str(r[key])) for r in epochs) == step[key]
    psi = _records(output / "bank-a" / AUDIT_LOG_NAME)[0]
    assert psi["participants"] == ["bank-a", "bank-b", "bank-c"]  # not the arbiter


@pytest.mark.parametrize(
    ("change", "line"),
    [("edit", 3), ("delete", 2), ("reorder", 2)],
)
def test_vfl_audit_verify_finds_a_tampered_line(
    job_output: tuple[Path, dict[str, str]], tmp_path: Path, change: str, line: int
) -> None:
    output, _ = job_output
    path = tmp_path / AUDIT_LOG_NAME
    lines = (output / "bank-a" / AUDIT_LOG_NAME).read_text().splitlines(keepends=True)
    if change == "edit":  # bytes sent in epoch 0 (line 2) changed: line 3 no longer chains
        lines[1] = lines[1].replace('"bytes_sent":', '"bytes_sent":1', 1)
    elif change == "delete":
        del lines[1]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines))
    result = _vfl_audit_verify(path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"vfl: error: {path}: line {line}: prev does not match the hash of line {line - 1}"
    )
    assert result.stderr.count("\n") == 1


def test_a_resumed_job_continues_each_chain(tmp_path: Path) -> None:
    """bank-b dies after its checkpoint of epoch 1; the resumed run appends epochs 2 and 3."""
    job = _example_job(tmp_path, "hetero-lr", max_iter=4, convergence="max_iter")
    with _killed("bank-b", 1), pytest.raises(PartyKilledError):
        simulate_job(job)
    interrupted = {
        party: (job.party_output_dir(party) / AUDIT_LOG_NAME).read_bytes()
        for party in ("bank-a", "bank-b")
    }
    reports = simulate_job(job, resume=True)
    assert reports["bank-b"].results[1]["resumed_after_epoch"] == 1
    for party, before in interrupted.items():
        path = job.party_output_dir(party) / AUDIT_LOG_NAME
        assert path.read_bytes().startswith(before)  # appended, not rewritten
        result = _vfl_audit_verify(path, "--last", str(reports[party].audit_head))
        assert result.returncode == 0, result.stderr
        records = _records(path)
        resumed = [(r["event"], r.get("epoch")) for r in records[before.count(b"\n") :]]
        assert resumed == [("epoch", 2), ("epoch", 3), ("step", None), ("step", None)]
    # bank-b died between writing its checkpoint of epoch 1 and that epoch's line
    epochs = [r.get("epoch") for r in _records(job.party_output_dir("bank-b") / AUDIT_LOG_NAME)]
    assert [e for e in epochs if e is not None] == [0, 2, 3]

"""The ``psi`` job step: aligned data files from `vfl simulate` and from `vfl run` over TLS."""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from pathlib import Path

import pytest

from tests.support.job_files import start_party, write_job
from tests.support.psi_helpers import phone_ids
from vfl.certs import create_job_certificates
from vfl.exceptions import DataError, JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job

PARTIES = [("bank-a", "guest"), ("bank-b", "host"), ("bank-c", "host")]


def _write_data(folder: Path, *, duplicate: bool = False) -> dict[str, dict[str, list[str]]]:
    """Three shuffled, partially overlapping files; returns each party's rows by id."""
    rng = random.Random(5)
    pool = phone_ids(200, seed=31)
    members = {"bank-a": pool[:150], "bank-b": pool[50:200], "bank-c": pool[20:120] + pool[160:]}
    rows: dict[str, dict[str, list[str]]] = {}
    for name, role in PARTIES:
        ids = list(members[name])
        rng.shuffle(ids)
        header = ["phone", "fraud", "balance"] if role == "guest" else ["phone", "income", "age"]
        table = {}
        for customer in ids:
            values = [str(rng.randint(0, 1))] if role == "guest" else [repr(rng.uniform(0, 1e5))]
            values.append(repr(round(rng.uniform(-50, 50), 3)))
            table[customer] = values
        lines = [header] + [[c, *v] for c, v in table.items()]
        if duplicate and role == "guest":
            lines.append(lines[1])
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(lines)
        rows[name] = table
    return rows


def _write_job(folder: Path, step: str, parties=PARTIES) -> Path:
    data = {
        name: f'{{ file = "{name}.csv", id_column = "phone"'
        + (', label_column = "fraud"' if role == "guest" else "")
        + " }"
        for name, role in parties
    }
    steps = ["[[steps]]", 'type = "psi"', *step.splitlines()]
    return write_job(folder, job_id="psi-e2e", parties=parties, data=data, steps=steps, timeout=60)


def _aligned(folder: Path, party: str) -> list[list[str]]:
    with (folder / party / "step-0-psi.csv").open(newline="") as handle:
        return list(csv.reader(handle))


def _summary(folder: Path, party: str) -> dict[str, object]:
    return json.loads((folder / party / "step-0-psi.json").read_text())


def _check_aligned(
    output: Path, rows: dict[str, dict[str, list[str]]], parties=PARTIES
) -> list[str]:
    names = [name for name, _ in parties]
    common = set(rows[names[0]]).intersection(*(set(rows[n]) for n in names[1:]))
    order = None
    for name in names:
        table = _aligned(output, name)
        ids = [line[0] for line in table[1:]]
        assert set(ids) == common
        order = order or ids
        assert ids == order  # row k is the same customer on every side
        for line in table[1:]:  # each row still carries the party's own values
            assert [float(x) for x in line[1:]] == [float(x) for x in rows[name][line[0]]]
        summary = _summary(output, name)
        assert summary["intersection_size"] == len(common)
        assert summary["ids"] == len(rows[name])
    return order or []


def test_simulated_psi_step_aligns_three_parties(tmp_path: Path) -> None:
    rows = _write_data(tmp_path)
    job = load_job(_write_job(tmp_path, 'method = "ecdh"\nchunk_size = 32'))
    simulate_job(job)
    order = _check_aligned(tmp_path / "output", rows)
    assert len(order) == 70
    guest = _summary(tmp_path / "output", "bank-a")
    assert guest["peer_ids"] == {"bank-b": 150, "bank-c": 140}


def test_guest_only_output_writes_no_aligned_file_for_hosts(tmp_path: Path) -> None:
    rows = _write_data(tmp_path)
    simulate_job(load_job(_write_job(tmp_path, 'output = "guest"')))
    output = tmp_path / "output"
    assert len(_aligned(output, "bank-a")) == 71
    for host in ("bank-b", "bank-c"):
        summary = _summary(output, host)
        assert summary["intersection_size"] is None and summary["aligned_file"] is None
        assert not (output / host / "step-0-psi.csv").exists()
    assert rows  # the guest's file was checked above


def test_duplicate_ids_fail_unless_the_step_dedupes(tmp_path: Path) -> None:
    _write_data(tmp_path, duplicate=True)
    with pytest.raises(DataError, match="appears twice"):
        simulate_job(load_job(_write_job(tmp_path, "")))
    simulate_job(load_job(_write_job(tmp_path, "dedupe = true")))
    summary = _summary(tmp_path / "output", "bank-a")
    assert summary["duplicates_dropped"] == 1 and summary["input_rows"] == 151


@pytest.mark.parametrize(
    ("step", "match"),
    [
        ('method = "dh"', "method"),
        ('output = "all"', "output"),
        ('method = "rsa"\noutput = "cardinality"', "needs method 'ecdh'"),
        ('output = "cardinality"', "one host"),
        ("chunk_size = 0", "chunk_size"),
        ("n_jobs = 0", "n_jobs"),
        ("colour = 1", "unknown key"),
    ],
)
def test_bad_psi_steps_are_refused(tmp_path: Path, step: str, match: str) -> None:
    with pytest.raises(JobFileError, match=match):
        load_job(_write_job(tmp_path, step))


def test_separate_processes_over_tls(tmp_path: Path) -> None:
    """Two banks (guest and host) as real `vfl run` processes; RSA and ECDH agree."""
    parties = PARTIES[:2]
    rows = _write_data(tmp_path)
    create_job_certificates(tmp_path / "certs", [name for name, _ in parties])
    job_path = _write_job(tmp_path, 'method = "rsa"\nrsa_key_length = 2048', parties)
    processes = {name: start_party(job_path, name) for name, _ in parties}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        assert "common ids" in stdout and "aligned rows ->" in stdout
    rsa_order = _check_aligned(tmp_path / "output", rows, parties)
    assert not list((tmp_path / "output").rglob("*.tmp"))
    # the same job simulated with ECDH finds the same customers
    job = load_job(job_path)
    ecdh = dataclasses.replace(
        job,
        output_dir=tmp_path / "ecdh",
        steps=(dataclasses.replace(job.steps[0], method="ecdh"),),
    )
    simulate_job(ecdh)
    assert set(_check_aligned(tmp_path / "ecdh", rows, parties)) == set(rsa_order)

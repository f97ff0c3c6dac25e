"""Audit every message of a binning job (SECURITY.md §13), simulated and over TLS.

A PSI + binning job on the examples' data (one host; two hosts, so the guest's label
ciphertexts go to both) runs in one process and as real ``vfl run`` processes writing
``--transcript`` files; :mod:`tests.support.auditor` checks every message against the
declared table (kinds, routes, fields), finds no id, feature value or label vector in
any frame, every ciphertext under the guest's announced key and never repeated (the
label ciphertexts only as the declared broadcast to every host), and
``Audit.check_binning``: the host's per-bin sums decrypt to exactly the plaintext
per-bin counts, never in its own order, every bin at least ``min_bin_rows`` rows, and
the guest's answer is the formula's WOE and IV.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from protocols.messages import BinSetup, BinSums
from tests.e2e.test_audit import Run, _run_processes
from tests.support.auditor import (
    Audit,
    SecretLog,
    pair_transcripts,
    prepare_binning_job,
    record_secrets,
    recorder_entries,
)
from tests.support.job_files import free_ports
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.runtime.transcript import TranscriptRecorder


def _simulated(folder: Path, hosts: int) -> Run:
    job = load_job(prepare_binning_job(folder, hosts=hosts))
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run(f"binning with {hosts} host(s)", job, wire, Audit(job, wire, secrets))


@pytest.fixture(scope="module")
def one_host(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _simulated(tmp_path_factory.mktemp("binning"), 1)


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _simulated(tmp_path_factory.mktemp("binning-hosts"), 2)


@pytest.fixture(scope="module")
def over_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("binning-tls")
    path = prepare_binning_job(folder, hosts=1, ports=free_ports(2))
    return _run_processes(folder, path, "binning over TLS")


@pytest.fixture(params=["one_host", "two_hosts", "over_tls"])
def run(request: pytest.FixtureRequest) -> Run:
    chosen: Run = request.getfixturevalue(request.param)
    return chosen


def test_every_binning_message_is_declared_and_every_route_ran(run: Run) -> None:
    assert run.audit.check_declared() == []
    assert run.audit.observed_routes() == run.audit.expected_routes()


def test_no_plaintext_id_feature_or_label_in_any_binning_message(run: Run) -> None:
    assert run.audit.check_plaintext() == []
    assert run.audit.check_public_fields() == []


def test_binning_ciphertexts_are_valid_and_never_repeat(run: Run) -> None:
    assert run.audit.check_ciphertexts() == []
    (setup, *_) = [w.message for w in run.wire if isinstance(w.message, BinSetup)]
    labels = math.ceil(setup.rows / setup.rows_per_ciphertext)  # k rows to a ciphertext
    hosts = len(run.job.hosts)
    assert run.audit.stats["ciphertexts"] > hosts * labels  # the labels, then the sums
    # the same label ciphertexts to every host, and no other repeat
    assert run.audit.stats["broadcast copies"] == (hosts - 1) * labels


def test_the_hosts_sums_are_exact_shuffled_and_large_enough(run: Run) -> None:
    assert run.audit.check_binning() == []
    assert run.audit.stats["binning bins checked"] > 0


def test_the_auditor_finds_planted_binning_leaks(one_host: Run) -> None:
    """Bins in the host's own order, a bin under min_bin_rows and changed sums are caught."""
    (index,) = [i for i, w in enumerate(one_host.wire) if isinstance(w.message, BinSums)]
    sent = one_host.wire[index]
    assert isinstance(sent.message, BinSums)

    def audited(message: BinSums) -> list[str]:
        wire = list(one_host.wire)
        wire[index] = dataclasses.replace(sent, message=message)
        return Audit(one_host.job, wire, one_host.audit.secrets).check_binning()

    counts = np.array(sent.message.counts)
    small = counts.copy()
    big = int(np.argmax(small))
    small[big] -= small[big] - 5  # a bin of 5 rows
    problems = audited(dataclasses.replace(sent.message, counts=small))
    assert any("bins of [5] rows (< 20)" in p for p in problems), problems
    assert any("not the host's per-bin counts" in p for p in problems), problems
    regrouped = np.array(sent.message.bins)  # one bin moved from feature 1 to feature 0
    regrouped[0] += 1
    regrouped[1] -= 1
    moved = dataclasses.replace(sent.message, bins=regrouped)
    assert any("not the host's per-bin counts" in p for p in audited(moved))

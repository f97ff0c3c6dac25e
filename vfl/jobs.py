"""Running a job file: one party over TLS, or every party in one process.

``vfl run`` plays one party over mutual TLS; ``vfl simulate`` plays all of them in
one process over in-memory transports, with the same roles, data and outputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.psi import PsiGuest, PsiHost, PsiOutcome
from protocols.roles import Role
from protocols.secure_sum import SumContributor, SumKeyOwner
from vfl.datasets import PartyTable, read_party_csv, write_party_csv
from vfl.exceptions import DataError, JobFileError, PeerAbortedError, PeerDisconnectedError
from vfl.files import write_json_atomically
from vfl.jobfile import JobConfig, PartyConfig, PsiStep, SecureSumStep, StepConfig
from vfl.runner import RunSettings, Session, step_job_id
from vfl.transport.base import Transport
from vfl.transport.memory import MemoryNetwork
from vfl.transport.tls import TlsTransport

__all__ = ["PartyReport", "run_party", "simulate_job", "write_json_atomically"]

MIN_KEY_BITS_STRICT = 2048


@dataclass(frozen=True)
class PartyReport:
    """What one party did: its outputs by step and how long it took."""

    party: str
    outputs: tuple[Path, ...]
    results: tuple[dict[str, Any], ...]
    seconds: float


def _settings(job: JobConfig) -> RunSettings:
    return RunSettings(
        timeout=job.timeout,
        connect_timeout=job.connect_timeout,
        max_message_bytes=job.max_message_bytes,
        allow_weak_keys=job.allow_weak_keys,
    )


def _load_table(job: JobConfig, party: PartyConfig) -> PartyTable:
    if party.data is None:
        raise DataError(f"party {party.name!r} has no data section")
    dedupe = any(isinstance(step, PsiStep) and step.dedupe for step in job.steps)
    return read_party_csv(
        party.data.file,
        id_column=party.data.id_column,
        label_column=party.data.label_column,
        dedupe=dedupe,
    )


def _secure_sum_values(
    step: SecureSumStep, party: PartyConfig, table: PartyTable
) -> npt.NDArray[np.float64]:
    missing = [c for c in step.columns if c not in table.feature_names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(f"party {party.name!r}: column(s) {missing} are not in {source}")
    indices = [table.feature_names.index(c) for c in step.columns]
    sums = table.features[:, indices].sum(axis=0)
    return np.append(sums, float(len(table)))


def build_role(
    job: JobConfig, index: int, step: StepConfig, party: PartyConfig, table: PartyTable
) -> Role | None:
    """The role ``party`` plays in step ``index`` (``None`` if it takes no part)."""
    job_id = step_job_id(job.job_id, index)
    if isinstance(step, SecureSumStep):
        if party.role == "arbiter":
            return None
        values = _secure_sum_values(step, party, table)
        ring = [host.name for host in job.hosts]
        if party.role == "guest":
            return SumKeyOwner(
                party.name,
                job_id,
                contributors=ring,
                values=values,
                max_abs=step.max_abs,
                key_length=step.key_length,
                allow_weak_key=job.allow_weak_keys,
            )
        return SumContributor(
            party.name,
            job_id,
            key_owner=job.guest.name,
            ring=ring,
            values=values,
            max_abs=step.max_abs,
            min_key_bits=512 if job.allow_weak_keys else MIN_KEY_BITS_STRICT,
        )
    if isinstance(step, PsiStep):
        if party.role == "arbiter":
            return None
        settings = step.settings(allow_weak_key=job.allow_weak_keys)
        ids = [customer.encode("utf-8") for customer in table.ids]
        if party.role == "guest":
            hosts = [host.name for host in job.hosts]
            return PsiGuest(party.name, job_id, hosts=hosts, ids=ids, settings=settings)
        return PsiHost(party.name, job_id, guest=job.guest.name, ids=ids, settings=settings)
    raise JobFileError(f"step type {step.type!r} cannot run yet")


def _psi_output(
    job: JobConfig,
    index: int,
    step: PsiStep,
    party: PartyConfig,
    outcome: PsiOutcome,
    table: PartyTable,
    seconds: float,
) -> tuple[dict[str, Any], PartyTable]:
    """Write the aligned data file (if this party learned the rows).

    Returns the summary and the table later steps see: the common customers in the
    agreed order for output ``"both"``, the whole table otherwise.
    """
    folder = job.party_output_dir(party.name)
    aligned = table
    aligned_path: Path | None = None
    if outcome.rows is not None:
        aligned = table.take(outcome.rows)
        aligned_path = folder / f"step-{index}-psi.csv"
        assert party.data is not None
        write_party_csv(
            aligned,
            aligned_path,
            id_column=party.data.id_column,
            label_column=party.data.label_column,
        )
    document = {
        "job": job.job_id,
        "step": index,
        "type": step.type,
        "party": party.name,
        "method": step.method,
        "output": step.output,
        "input_rows": len(table) + table.duplicates_dropped,
        "duplicates_dropped": table.duplicates_dropped,
        "ids": outcome.own_size,
        "peer_ids": dict(outcome.peer_sizes),
        "intersection_size": outcome.size,
        "aligned_file": aligned_path.name if aligned_path is not None else None,
        "seconds": round(seconds, 3),
    }
    return document, aligned if step.output == "both" else table


def _output(
    job: JobConfig,
    index: int,
    step: StepConfig,
    party: PartyConfig,
    result: Any,
    table: PartyTable,
    seconds: float,
) -> tuple[dict[str, Any], PartyTable]:
    """The step's summary document, and the table the next steps see."""
    if isinstance(step, PsiStep):
        return _psi_output(job, index, step, party, result, table, seconds)
    if isinstance(step, SecureSumStep):
        totals = np.asarray(result, dtype=np.float64)
        document = {
            "job": job.job_id,
            "step": index,
            "type": step.type,
            "party": party.name,
            "columns": list(step.columns),
            "totals": totals[:-1].tolist(),
            "rows": round(float(totals[-1])),
            "parties": 1 + len(job.hosts),
        }
        return document, table
    raise JobFileError(f"step type {step.type!r} has no output writer")


def _run_steps(
    job: JobConfig, party: PartyConfig, transport: Transport, *, show_progress: bool | None
) -> PartyReport:
    started = time.perf_counter()
    peers = [p.name for p in job.peers_of(party.name)]
    outputs: list[Path] = []
    results: list[dict[str, Any]] = []
    with Session(
        transport, party.name, job.job_id, peers, _settings(job), show_progress=show_progress
    ) as session:
        # loaded inside the session: a bad file aborts the peers instead of leaving them waiting
        table = _load_table(job, party) if party.data is not None else None
        for index, step in enumerate(job.steps):
            role = build_role(job, index, step, party, table) if table is not None else None
            if role is None or table is None:
                continue
            step_started = time.perf_counter()
            result = session.run(role, index, step.type)
            seconds = time.perf_counter() - step_started
            document, table = _output(job, index, step, party, result, table, seconds)
            path = job.party_output_dir(party.name) / f"step-{index}-{step.type}.json"
            write_json_atomically(path, document)
            outputs.append(path)
            results.append(document)
    return PartyReport(party.name, tuple(outputs), tuple(results), time.perf_counter() - started)


def run_party(job: JobConfig, party_name: str, *, show_progress: bool | None = None) -> PartyReport:
    """Run one party's side of ``job`` over mutual TLS (``vfl run``).

    Raises
    ------
    VflError
        With a one-line reason (and the peer's name when a peer is at fault).
    """
    party = job.party(party_name)
    job.check_files(party_name)
    assert party.certificate is not None and party.private_key is not None and job.ca is not None
    transport = TlsTransport(
        party.name,
        listen=(party.host, party.port),
        peers={p.name: (p.host, p.port) for p in job.peers_of(party.name)},
        certificate=party.certificate,
        private_key=party.private_key,
        ca=job.ca,
        max_message_bytes=job.max_message_bytes,
    )
    return _run_steps(job, party, transport, show_progress=show_progress)


def simulate_job(job: JobConfig) -> dict[str, PartyReport]:
    """Run every party of ``job`` in this process over in-memory transports.

    Raises
    ------
    VflError or ProtocolError
        The first party's failure (the root cause, not the peers' reactions to it).
    """
    job.check_files(tls=False)
    network = MemoryNetwork()
    transports = {
        party.name: network.transport(party.name, max_message_bytes=job.max_message_bytes)
        for party in job.parties
    }
    reports: dict[str, PartyReport] = {}
    failures: dict[str, BaseException] = {}

    def play(party: PartyConfig) -> Callable[[], None]:
        def target() -> None:
            try:
                reports[party.name] = _run_steps(
                    job, party, transports[party.name], show_progress=False
                )
            except BaseException as error:  # collected and re-raised in the caller
                failures[party.name] = error

        return target

    threads = [threading.Thread(target=play(p), name=f"party-{p.name}") for p in job.parties]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise _root_cause(failures)
    return reports


def _root_cause(failures: dict[str, BaseException]) -> BaseException:
    secondary = (PeerAbortedError, PeerDisconnectedError)
    for error in failures.values():
        if not isinstance(error, secondary):
            return error
    return next(iter(failures.values()))

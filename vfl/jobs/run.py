"""Running a job file: one party over TLS, or every party in one process.

``vfl run`` plays one party over mutual TLS; ``vfl simulate`` plays all of them in
one process over in-memory transports, with the same roles, data and outputs.

Each party writes under ``output_dir/<party>/``, atomically (temporary file, then
rename), one summary ``step-<i>-<type>.json`` per step it takes part in, and:

- ``psi``: ``step-<i>-psi.csv``, its rows of the common ids in the agreed order;
- ``hetero_lr``: ``step-<i>-model.json``, its own :class:`~vfl.models.PartyModel`
  (its weights and scaling only; the arbiter writes no model);
- ``score``: the guest's ``step-<i>-scores.csv`` (``id, probability``).

and appends to its audit log ``audit.jsonl`` a hash-chained line per step and per
training epoch (:mod:`vfl.jobs.audit_log`).

While its run is unfinished, each party also keeps a run record and, in a
``hetero_lr`` step (the arbiter too), a checkpoint after each epoch that training
goes on from, under ``checkpoints/`` (:mod:`vfl.jobs.checkpoint`; deleted once the party
finished every step).  With ``resume=True`` (``--resume``) a party skips the steps
it finished (reloading a ``psi`` step's aligned rows and a ``hetero_lr`` step's
model) and continues an interrupted ``hetero_lr`` step from the latest epoch every
training party holds a checkpoint of: the model is the one the uninterrupted run
would have trained.  Every party must resume, or none.

The runner knows no step by name: each step's type (:mod:`vfl.steps`) builds the
party's role, writes its outputs and reloads them on ``--resume``; a step type whose
roles keep checkpoints (:attr:`vfl.steps.StepType.checkpoints`) gets them stored
after each message through :meth:`protocols.roles.Role.take_checkpoint`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.roles import Role
from vfl.exceptions import DataError, PeerAbortedError, PeerDisconnectedError, VflError
from vfl.jobs.audit_log import AUDIT_LOG_NAME, AuditLog
from vfl.jobs.checkpoint import CheckpointStore, RunRecord
from vfl.jobs.jobfile import JobConfig, PartyConfig, StepConfig
from vfl.runtime.compute import compute_context
from vfl.runtime.files import write_json_atomically
from vfl.runtime.runner import PEERS_FILE_NAME, RunSettings, Session
from vfl.runtime.transcript import TranscriptEntry
from vfl.runtime.transport.base import Transport
from vfl.runtime.transport.memory import MemoryNetwork
from vfl.runtime.transport.tls import TlsTransport
from vfl.steps import StepContext, StepOutcome, StepType, step_type
from vfl.steps.base import read_options
from vfl.steps.hetero_lr import model_features
from vfl.tables.datasets import PartyTable, read_party_csv
from vfl.tables.models import PartyModel

__all__ = [
    "PartyReport",
    "build_role",
    "model_features",
    "run_party",
    "simulate_job",
    "write_json_atomically",
]


@dataclass(frozen=True)
class PartyReport:
    """What one party did: its outputs by step, how long it took, and its audit log.

    ``audit_log`` is the party's log (:mod:`vfl.jobs.audit_log`), ``audit_head`` the hash
    of its last line (keep it elsewhere to pin the log).
    """

    party: str
    outputs: tuple[Path, ...]
    results: tuple[dict[str, Any], ...]
    seconds: float
    audit_log: Path | None = None
    audit_head: str | None = None


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
    dedupe = any(step_type(step).dedupe(step) for step in job.steps)
    return read_party_csv(
        party.data.file,
        id_column=party.data.id_column,
        label_column=party.data.label_column,
        dedupe=dedupe,
        features_folder=_mapped_folder(job, party) if party.data.memory_map else None,
        **read_options(job, party),
    )


MAPPED_FOLDER_NAME = "mapped-features"
"""Where ``memory_map = true`` keeps a party's feature files during a job (removed at its end)."""


def _mapped_folder(job: JobConfig, party: PartyConfig) -> Path:
    return job.party_output_dir(party.name) / MAPPED_FOLDER_NAME


def build_role(
    job: JobConfig,
    index: int,
    step: StepConfig,
    party: PartyConfig,
    table: PartyTable | None,
    *,
    model: PartyModel | None = None,
) -> Role | None:
    """The role ``party`` plays in step ``index`` (``None`` if it takes no part).

    Parameters
    ----------
    job : JobConfig
    index : int
        The step's position in the job.
    step : StepConfig
    party : PartyConfig
    table : PartyTable or None
        The party's current rows (``None`` for an arbiter, which holds no data).
    model : PartyModel, optional
        The party's model from the latest earlier ``hetero_lr`` step (for ``score``).

    Returns
    -------
    Role or None

    Raises
    ------
    DataError
        If the party's data cannot serve the step (no rows, labels of one class only,
        columns that differ from the model's).
    """
    return step_type(step).build_role(step, StepContext(job, index, party, table, model))


def _with_header(
    context: StepContext, step: StepConfig, document: dict[str, Any]
) -> dict[str, Any]:
    """A step's summary with ``job``, ``step``, ``type`` and ``party`` in front."""
    header = {
        "job": context.job.job_id,
        "step": context.index,
        "type": step.type,
        "party": context.party.name,
    }
    return {**header, **document}


def _reload_step(
    kind: StepType[Any], step: StepConfig, context: StepContext
) -> tuple[Path, StepOutcome]:
    """A finished step's summary, and the table and model the next steps see."""
    job, index, party = context.job, context.index, context.party
    folder = context.folder
    path = folder / f"step-{index}-{step.type}.json"
    if not path.is_file():
        raise DataError(
            f"{party.name} cannot resume: step {index} is recorded as finished but its "
            f"output {path} is missing; run the job again without --resume to start over"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot reload this finished step's summary ({error})") from None
    if not isinstance(document, dict) or (
        document.get("job"),
        document.get("step"),
        document.get("type"),
        document.get("party"),
    ) != (job.job_id, index, step.type, party.name):
        raise DataError(f"{path}: not the summary of step {index} ({step.type}) of {party.name}")
    for key in kind.output_files:
        name = document.get(key)
        if name is not None and (not isinstance(name, str) or Path(name).name != name):
            raise DataError(f"{path}: {key} must name a file in {folder}")
        context.output_file(document, key)
    return path, kind.reload(step, context, document)


def _run_steps(
    job: JobConfig,
    party: PartyConfig,
    transport: Transport,
    *,
    show_progress: bool | str | None,
    recorder: Callable[[TranscriptEntry], None] | None = None,
    resume: bool = False,
) -> PartyReport:
    started = time.perf_counter()
    peers = [p.name for p in job.peers_of(party.name)]
    outputs: list[Path] = []
    results: list[dict[str, Any]] = []
    # Write-ahead: a checkpoint the training role took is written before the next
    # message leaves (the session reports each one before sending it), so no peer
    # hears of an epoch's end before this party's checkpoint of it is on disk.
    checkpointing: list[Callable[[], None]] = []

    def before_sending(entry: TranscriptEntry) -> None:
        if entry.direction == "sent" and checkpointing:
            checkpointing[0]()
        audit.count(entry)
        if recorder is not None:
            recorder(entry)

    mapped_files = contextlib.ExitStack()  # memory_map's feature files last one job
    if party.data is not None and party.data.memory_map:
        shutil.rmtree(_mapped_folder(job, party), ignore_errors=True)
        mapped_files.callback(shutil.rmtree, _mapped_folder(job, party), ignore_errors=True)
    with (
        mapped_files,
        contextlib.ExitStack() as compute,
        Session(
            transport,
            party.name,
            job.job_id,
            peers,
            _settings(job),
            show_progress=show_progress,
            recorder=before_sending,
            peers_file=job.party_output_dir(party.name) / PEERS_FILE_NAME,
        ) as session,
    ):
        # loaded inside the session: a bad file aborts the peers instead of leaving them waiting
        table = _load_table(job, party) if party.data is not None else None
        # the party's compute (a Dask cluster or local pools) for every step, once per job;
        # an unreachable scheduler aborts the peers too
        # (closed after the session, on the way out)
        compute.enter_context(
            compute_context(party.compute, party=party.name, timeout=job.connect_timeout)
        )
        audit = AuditLog(job.party_output_dir(party.name) / AUDIT_LOG_NAME, job.job_id, party.name)
        record = RunRecord.begin(job, party, resume=resume)
        if resume:  # before any step runs: a step that cannot go on is refused first
            for index, step in enumerate(job.steps):
                reason = None if index in record.finished else step_type(step).resume_refusal(step)
                if reason is not None:
                    raise VflError(
                        f"{party.name} cannot resume: steps[{index}] ({step.type}): {reason}"
                    )
        model: PartyModel | None = None  # this party's model from the latest hetero_lr step
        for index, step in enumerate(job.steps):
            kind = step_type(step)
            context = StepContext(job, index, party, table, model)
            if resume and index in record.finished:
                path, outcome = _reload_step(kind, step, context)
                table, model = outcome.table, outcome.model
                outputs.append(path)
                results.append(outcome.document)
                continue
            store = (
                CheckpointStore(job, party.name, index, record.run) if kind.checkpoints else None
            )
            context.resume = store if resume else None
            role = kind.build_role(step, context)
            if role is None:
                continue
            after_each: Callable[[Role], None] | None = None
            if store is not None:
                after_each = audit.keeping(store)  # saves each checkpoint, logs its epoch
                checkpointing[:] = [functools.partial(after_each, role)]
            audit.begin_step(index, step.type, rows=None if table is None else len(table))
            step_started = time.perf_counter()
            try:
                result = session.run(role, index, step.type, after_each=after_each)
            finally:
                checkpointing.clear()
            seconds = time.perf_counter() - step_started
            outcome = kind.output(step, context, role, result, seconds)
            table, model = outcome.table, outcome.model
            document = _with_header(context, step, outcome.document)
            path = context.folder / f"step-{index}-{step.type}.json"
            write_json_atomically(path, document)
            model_file = document.get("model_file")
            model_path = None if model_file is None else context.folder / model_file
            audit.finish_step(model_path, epochs=document.get("epochs"))
            record.finish_step(index)
            outputs.append(path)
            results.append(document)
        record.finish_job()
    seconds = time.perf_counter() - started
    return PartyReport(party.name, tuple(outputs), tuple(results), seconds, audit.path, audit.head)


def run_party(
    job: JobConfig,
    party_name: str,
    *,
    show_progress: bool | str | None = None,
    recorder: Callable[[TranscriptEntry], None] | None = None,
    resume: bool = False,
) -> PartyReport:
    """Run one party's side of ``job`` over mutual TLS (``vfl run``).

    ``show_progress`` is as in :class:`~vfl.runtime.runner.Session`: ``None`` (a bar on a
    terminal), ``True``, ``False``, or ``"lines"`` (one line per tenth of a step).
    ``recorder`` receives every message this party sends and receives
    (:mod:`vfl.transcript`).  ``resume`` continues an interrupted run
    (``vfl run --resume``, see the module docstring); every party must resume.

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
    return _run_steps(
        job, party, transport, show_progress=show_progress, recorder=recorder, resume=resume
    )


def simulate_job(
    job: JobConfig,
    *,
    recorder: Callable[[TranscriptEntry], None] | None = None,
    resume: bool = False,
) -> dict[str, PartyReport]:
    """Run every party of ``job`` in this process over in-memory transports.

    ``recorder`` (thread-safe, e.g. a :class:`~vfl.transcript.TranscriptRecorder`)
    receives every message every party sends and receives.  ``resume`` continues an
    interrupted run of every party (``vfl simulate --resume``).

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
                    job,
                    party,
                    transports[party.name],
                    show_progress=False,
                    recorder=recorder,
                    resume=resume,
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

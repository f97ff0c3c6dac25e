"""Running a job file: one party over TLS, or every party in one process.

``vfl run`` plays one party over mutual TLS; ``vfl simulate`` plays all of them in
one process over in-memory transports, with the same roles, data and outputs.

Each party writes under ``output_dir/<party>/``, atomically (temporary file, then
rename), one summary ``step-<i>-<type>.json`` per step it takes part in, and:

- ``psi``: ``step-<i>-psi.csv``, its rows of the common ids in the agreed order;
- ``hetero_lr``: ``step-<i>-model.json``, its own :class:`~vfl.models.PartyModel`
  (its weights and scaling only; the arbiter writes no model);
- ``score``: the guest's ``step-<i>-scores.csv`` (``id, probability``).

While its run is unfinished, each party also keeps a run record and, in a
``hetero_lr`` step (the arbiter too), a checkpoint after each epoch that training
goes on from, under ``checkpoints/`` (:mod:`vfl.checkpoint`; deleted once the party
finished every step).  With ``resume=True`` (``--resume``) a party skips the steps
it finished (reloading a ``psi`` step's aligned rows and a ``hetero_lr`` step's
model) and continues an interrupted ``hetero_lr`` step from the latest epoch every
training party holds a checkpoint of: the model is the one the uninterrupted run
would have trained.  Every party must resume, or none.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrPartyResult, ScoreGuest, ScoreHost
from protocols.hetero_lr.party import TrainingParty
from protocols.hetero_lr.settings import FEATURE_BOUND
from protocols.psi import PsiOutcome, psi_guest, psi_host
from protocols.roles import Role
from protocols.secure_sum import SumContributor, SumKeyOwner
from vfl import metrics
from vfl.checkpoint import CheckpointStore, RunRecord
from vfl.datasets import PartyTable, read_party_csv, write_party_csv
from vfl.exceptions import DataError, JobFileError, PeerAbortedError, PeerDisconnectedError
from vfl.files import write_csv_atomically, write_json_atomically
from vfl.hetero_lr import class_row_weights
from vfl.jobfile import (
    HeteroLrStep,
    JobConfig,
    PartyConfig,
    PsiStep,
    ScoreStep,
    SecureSumStep,
    StepConfig,
)
from vfl.models import PartyModel, Scaling
from vfl.runner import RunSettings, Session, step_job_id
from vfl.transcript import TranscriptEntry
from vfl.transport.base import Transport
from vfl.transport.memory import MemoryNetwork
from vfl.transport.tls import TlsTransport

__all__ = [
    "PartyReport",
    "build_role",
    "model_features",
    "run_party",
    "simulate_job",
    "write_json_atomically",
]

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


def _rows(party: PartyConfig, table: PartyTable | None) -> PartyTable:
    if table is None:
        raise DataError(f"party {party.name!r} has no data section")
    return table


def model_features(
    party: PartyConfig, table: PartyTable
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """The feature names and matrix a party trains and scores on.

    Every column of its data file but the id and the label, or only
    ``data.feature_columns`` (in that order) when the job file names them.

    Parameters
    ----------
    party : PartyConfig
    table : PartyTable
        The party's rows.

    Returns
    -------
    tuple of (list of str, numpy.ndarray)
        The column names and the matrix of those columns.

    Raises
    ------
    DataError
        If a named column is not in the data file.
    """
    wanted = party.data.feature_columns if party.data is not None else None
    if wanted is None:
        return list(table.feature_names), table.features
    missing = [c for c in wanted if c not in table.feature_names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(
            f"party {party.name!r}: feature_columns {missing} are not in {source} "
            f"(columns: {table.feature_names})"
        )
    indices = [table.feature_names.index(c) for c in wanted]
    return list(wanted), table.features[:, indices]


def _training_inputs(
    step: HeteroLrStep, party: PartyConfig, table: PartyTable
) -> tuple[list[str], npt.NDArray[np.float64], Scaling | None]:
    """Feature names, the (scaled) training matrix and the party's own scaling."""
    if len(table) == 0:
        raise DataError(
            f"party {party.name!r} has no rows to train on (did the psi step find no common ids?)"
        )
    names, matrix = model_features(party, table)
    log_columns = party.data.log_columns if party.data is not None else ()
    missing = [c for c in log_columns if c not in names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(f"party {party.name!r}: log_columns {missing} are not in {source}")
    log = [name in log_columns for name in names]
    scaling: Scaling | None = None
    scaled: npt.NDArray[np.float64] | None = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            if step.standardize or any(log):
                scaling = Scaling.fit(matrix, log=log, standardize=step.standardize)
            scaled = matrix if scaling is None else scaling.transform(matrix)
        except DataError:
            scaled = None  # a column's mean or deviation overflowed: named below
        _check_feature_range(party, names, matrix, scaled)
    assert scaled is not None
    return names, scaled, scaling


MAX_FEATURE_ABS = FEATURE_BOUND
"""Largest |feature| a party trains on, after its scaling: the protocol's public bound
(``protocols.hetero_lr.settings.FEATURE_BOUND``), checked here first to name the column."""


def _check_feature_range(
    party: PartyConfig,
    names: list[str],
    matrix: npt.NDArray[np.float64],
    scaled: npt.NDArray[np.float64] | None,
) -> None:
    """Refuse, naming the column, values the training cannot encode, before any message."""
    source = party.data.file if party.data else "its data"
    advice = (
        f"features must stay within ±{MAX_FEATURE_ABS:.3g} after scaling (set standardize "
        "= true, add the column to log_columns, or fix the value)"
    )
    for index, name in enumerate(names):
        if scaled is None:  # the scaling overflowed: find the column whose statistics did
            column = matrix[:, index]
            if not (np.isfinite(np.mean(column)) and np.isfinite(np.std(column))):
                raise DataError(
                    f"party {party.name!r}: column {name!r} of {source} overflows when "
                    f"scaled; {advice}"
                )
            continue
        largest = float(np.max(np.abs(scaled[:, index]))) if len(scaled) else 0.0
        if not np.isfinite(largest) or largest > MAX_FEATURE_ABS:
            raise DataError(
                f"party {party.name!r}: column {name!r} of {source} reaches {largest:.3g}; {advice}"
            )
    if scaled is None:
        raise DataError(f"party {party.name!r}: the features of {source} overflow when scaled")


def _training_labels(party: PartyConfig, table: PartyTable) -> npt.NDArray[np.float64]:
    source = party.data.file if party.data else "its data"
    if table.labels is None:
        raise DataError(
            f"party {party.name!r}: {source} has no label column; set data.label_column "
            "to its 0/1 column"
        )
    labels = table.labels.astype(np.float64)
    if len(np.unique(labels)) < 2:
        raise DataError(
            f"party {party.name!r}: every training row of {source} has label "
            f"{int(labels[0])}; training needs rows of both classes 0 and 1"
        )
    return labels


def _arbiter(job: JobConfig) -> str:
    return next(p.name for p in job.parties if p.role == "arbiter")


def _score_model(step: ScoreStep, party: PartyConfig, model: PartyModel | None) -> PartyModel:
    """The model a party scores with: from ``models_dir``, else the job's latest."""
    path = step.model_file(party.name)
    if path is None:
        if model is None:
            raise DataError(f"party {party.name!r} has no trained model to score with")
        return model
    loaded = PartyModel.load(path)
    if loaded.role != party.role:
        raise DataError(
            f"{path} is a {loaded.role}'s model, but {party.name!r} is a {party.role} in "
            "this job; copy each party's own model file there"
        )
    return loaded


def _score_role(
    job: JobConfig,
    job_id: str,
    step: ScoreStep,
    party: PartyConfig,
    table: PartyTable,
    model: PartyModel | None,
) -> Role:
    chosen = _score_model(step, party, model)
    names, matrix = model_features(party, table)
    if names != chosen.feature_names:
        raise DataError(
            f"party {party.name!r}: the model was trained on the columns "
            f"{chosen.feature_names}, the data has {names}; score data with the same columns"
        )
    features = matrix if chosen.scaling is None else chosen.scaling.transform(matrix)
    hosts = [host.name for host in job.hosts]
    if party.role == "guest":
        if sorted(chosen.peers) != sorted(hosts):
            raise DataError(
                f"party {party.name!r}: the model was trained with the hosts "
                f"{sorted(chosen.peers)}, this job's hosts are {sorted(hosts)}; every "
                "host of the training must score"
            )
        return ScoreGuest(
            party.name,
            job_id,
            hosts=hosts,
            features=features,
            weights=chosen.weights,
            intercept=chosen.intercept,
            row_ids=table.ids,
        )
    return ScoreHost(
        party.name,
        job_id,
        guest=job.guest.name,
        features=features,
        weights=chosen.weights,
        row_ids=table.ids,
    )


def _training_role(
    job: JobConfig, job_id: str, step: HeteroLrStep, party: PartyConfig, table: PartyTable | None
) -> Role | None:
    settings = step.settings(allow_weak_key=job.allow_weak_keys)
    arbiter = _arbiter(job) if step.mode == "arbiter" else None
    hosts = [host.name for host in job.hosts]
    if party.role == "arbiter":
        if arbiter is None:
            return None
        return LrArbiter(
            party.name,
            job_id,
            guest=job.guest.name,
            hosts=hosts,
            settings=settings,
            backend=step.backend,
        )
    rows = _rows(party, table)
    _, features, _ = _training_inputs(step, party, rows)
    if party.role == "guest":
        labels = _training_labels(party, rows)
        return LrGuest(
            party.name,
            job_id,
            hosts=hosts,
            features=features,
            labels=labels,
            settings=settings,
            backend=step.backend,
            arbiter=arbiter,
            sample_weight=class_row_weights(labels, step.class_weight),
            plan_seed=None,  # drawn from the CSPRNG: no batch plan is fixed in deployments
            row_ids=rows.ids,  # each host refuses rows that are not its customers in order
        )
    return LrHost(
        party.name,
        job_id,
        guest=job.guest.name,
        features=features,
        settings=settings,
        backend=step.backend,
        arbiter=arbiter,
        row_ids=rows.ids,
    )


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
    job_id = step_job_id(job.job_id, index)
    if isinstance(step, HeteroLrStep):
        return _training_role(job, job_id, step, party, table)
    if party.role == "arbiter":
        return None  # the arbiter takes part in arbiter-mode training only
    rows = _rows(party, table)
    if isinstance(step, ScoreStep):
        return _score_role(job, job_id, step, party, rows, model)
    if isinstance(step, SecureSumStep):
        values = _secure_sum_values(step, party, rows)
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
        settings = step.settings(allow_weak_key=job.allow_weak_keys)
        ids = [customer.encode("utf-8") for customer in rows.ids]
        if party.role == "guest":
            hosts = [host.name for host in job.hosts]
            return psi_guest(party.name, job_id, hosts=hosts, ids=ids, settings=settings)
        return psi_host(party.name, job_id, guest=job.guest.name, ids=ids, settings=settings)
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


def _training_output(
    job: JobConfig,
    index: int,
    step: HeteroLrStep,
    party: PartyConfig,
    result: LrPartyResult | None,
    table: PartyTable | None,
    seconds: float,
) -> tuple[dict[str, Any], PartyModel | None]:
    """Write this party's model file; the summary and the model later steps use."""
    document: dict[str, Any] = {
        "job": job.job_id,
        "step": index,
        "type": step.type,
        "party": party.name,
        "role": party.role,
        "mode": step.mode,
        "key_length": step.key_length,
        "label_privacy": _label_privacy_summary(step),
    }
    if party.role == "arbiter" or result is None or table is None:
        document.update(model_file=None, seconds=round(seconds, 3))
        return document, None  # the arbiter only decrypted masked values: no model
    names, _, scaling = _training_inputs(step, party, table)
    training = [job.guest.name, *(host.name for host in job.hosts)]
    model = PartyModel(
        party=party.name,
        role=party.role,
        feature_names=names,
        weights=[float(w) for w in result.weights],
        intercept=float(result.intercept),
        scaling=scaling,
        mode=step.mode,
        backend=step.backend,
        key_length=step.key_length,
        peers=[name for name in training if name != party.name],
        history=result.history,
        epochs=result.epochs,
        stop_reason=result.stop_reason,
    )
    path = model.save(job.party_output_dir(party.name) / f"step-{index}-model.json")
    final_loss = result.history[-1].get("loss") if result.history else None
    document.update(
        rows=len(table),
        features=len(names),
        epochs=result.epochs,
        stop_reason=result.stop_reason,
        final_loss=final_loss,
        history=result.history,
        model_file=path.name,
        seconds=round(seconds, 3),
    )
    return document, model


def _label_privacy_summary(step: HeteroLrStep) -> dict[str, float] | None:
    """The guest's label-privacy guarantee and noise scale (``None`` without)."""
    privacy = step.settings(allow_weak_key=True).label_privacy()
    if privacy is None:
        return None
    return {"epsilon": privacy.epsilon, "delta": privacy.delta, "sigma": privacy.sigma}


def _score_output(
    job: JobConfig,
    index: int,
    step: ScoreStep,
    party: PartyConfig,
    result: Any,
    table: PartyTable,
    seconds: float,
) -> dict[str, Any]:
    """The guest writes ``step-<i>-scores.csv`` (id, probability); hosts a summary only."""
    document: dict[str, Any] = {
        "job": job.job_id,
        "step": index,
        "type": step.type,
        "party": party.name,
        "role": party.role,
        "rows": len(table),
        "model": "from models_dir" if step.models_dir is not None else "from this job",
    }
    scores_path: Path | None = None
    auc = None
    if party.role == "guest":
        probabilities = np.asarray(result, dtype=np.float64)
        scores_path = job.party_output_dir(party.name) / f"step-{index}-scores.csv"
        write_csv_atomically(
            scores_path,
            ["id", "probability"],
            zip(table.ids, map(repr, probabilities.tolist()), strict=True),
        )
        if table.labels is not None and len(np.unique(table.labels)) == 2:
            auc = metrics.roc_auc(table.labels.astype(np.float64), probabilities)
    document.update(
        scores_file=scores_path.name if scores_path is not None else None,
        auc=auc,
        seconds=round(seconds, 3),
    )
    return document


def _output(
    job: JobConfig,
    index: int,
    step: StepConfig,
    party: PartyConfig,
    result: Any,
    table: PartyTable | None,
    model: PartyModel | None,
    seconds: float,
) -> tuple[dict[str, Any], PartyTable | None, PartyModel | None]:
    """The step's summary document, and the table and model the next steps see."""
    if isinstance(step, HeteroLrStep):
        document, trained = _training_output(job, index, step, party, result, table, seconds)
        return document, table, trained or model
    table = _rows(party, table)
    if isinstance(step, PsiStep):
        document, aligned = _psi_output(job, index, step, party, result, table, seconds)
        return document, aligned, model
    if isinstance(step, ScoreStep):
        return _score_output(job, index, step, party, result, table, seconds), table, model
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
        return document, table, model
    raise JobFileError(f"step type {step.type!r} has no output writer")


def _finished_output(path: Path, job: JobConfig, index: int, party: PartyConfig) -> Path:
    """A file a finished step wrote, which a resumed run reloads; refused if missing."""
    if not path.is_file():
        raise DataError(
            f"{party.name} cannot resume: step {index} is recorded as finished but its "
            f"output {path} is missing; run the job again without --resume to start over"
        )
    return path


def _reload_step(
    job: JobConfig,
    index: int,
    step: StepConfig,
    party: PartyConfig,
    table: PartyTable | None,
    model: PartyModel | None,
) -> tuple[Path, dict[str, Any], PartyTable | None, PartyModel | None]:
    """A finished step's summary, and the table and model the next steps see."""
    folder = job.party_output_dir(party.name)
    path = _finished_output(folder / f"step-{index}-{step.type}.json", job, index, party)
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
    for key in ("aligned_file", "model_file", "scores_file"):
        name = document.get(key)
        if name is not None and (not isinstance(name, str) or Path(name).name != name):
            raise DataError(f"{path}: {key} must name a file in {folder}")
    if isinstance(step, PsiStep) and document.get("aligned_file") is not None:
        aligned_path = _finished_output(folder / document["aligned_file"], job, index, party)
        assert party.data is not None
        aligned = read_party_csv(
            aligned_path, id_column=party.data.id_column, label_column=party.data.label_column
        )
        table = aligned if step.output == "both" else table
    if isinstance(step, HeteroLrStep) and document.get("model_file") is not None:
        model = PartyModel.load(
            _finished_output(folder / document["model_file"], job, index, party)
        )
    if isinstance(step, ScoreStep) and document.get("scores_file") is not None:
        _finished_output(folder / document["scores_file"], job, index, party)
    return path, document, table, model


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
        if recorder is not None:
            recorder(entry)

    with Session(
        transport,
        party.name,
        job.job_id,
        peers,
        _settings(job),
        show_progress=show_progress,
        recorder=before_sending,
    ) as session:
        # loaded inside the session: a bad file aborts the peers instead of leaving them waiting
        table = _load_table(job, party) if party.data is not None else None
        record = RunRecord.begin(job, party, resume=resume)
        model: PartyModel | None = None  # this party's model from the latest hetero_lr step
        for index, step in enumerate(job.steps):
            if resume and index in record.finished:
                path, document, table, model = _reload_step(job, index, step, party, table, model)
                outputs.append(path)
                results.append(document)
                continue
            role = build_role(job, index, step, party, table, model=model)
            if role is None:
                continue
            after_each: Callable[[Role], None] | None = None
            if isinstance(role, TrainingParty | LrArbiter):
                store = CheckpointStore(job, party.name, index, record.run)
                if resume:
                    role.prepare_resume(store.load(role.ROLE, role.inputs_digest))
                after_each = store.keep
                checkpointing[:] = [functools.partial(store.keep, role)]
            step_started = time.perf_counter()
            try:
                result = session.run(role, index, step.type, after_each=after_each)
            finally:
                checkpointing.clear()
            seconds = time.perf_counter() - step_started
            document, table, model = _output(job, index, step, party, result, table, model, seconds)
            if isinstance(role, TrainingParty | LrArbiter):
                document["resumed_after_epoch"] = role.resumed_after
            path = job.party_output_dir(party.name) / f"step-{index}-{step.type}.json"
            write_json_atomically(path, document)
            record.finish_step(index)
            outputs.append(path)
            results.append(document)
        record.finish_job()
    return PartyReport(party.name, tuple(outputs), tuple(results), time.perf_counter() - started)


def run_party(
    job: JobConfig,
    party_name: str,
    *,
    show_progress: bool | str | None = None,
    recorder: Callable[[TranscriptEntry], None] | None = None,
    resume: bool = False,
) -> PartyReport:
    """Run one party's side of ``job`` over mutual TLS (``vfl run``).

    ``show_progress`` is as in :class:`~vfl.runner.Session`: ``None`` (a bar on a
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

"""Job files: one TOML file describes the parties, their data, the steps and the outputs.

Every party runs the same job file (``vfl run --config job.toml --party NAME``);
``vfl simulate`` runs all of them in one process.  Paths are relative to the job
file.  Validation is strict: unknown keys, missing keys, wrong types, unknown roles
or step types, duplicate names, a missing guest and missing files are refused with
an error naming the file and the key.

Steps: ``psi`` (align the rows on common ids), ``secure_sum`` (column totals over
every party), ``hetero_lr`` (train a hetero logistic regression; each party keeps
only its own weights) and ``score`` (probabilities for the aligned rows, learned by
the guest).  Roles: one ``guest`` (holds the labels), one or more ``host`` parties,
and an ``arbiter`` (no data: it holds the key of an arbiter-mode ``hetero_lr`` step
and only ever decrypts masked values).

Example::

    [job]
    id = "consortium-lr"
    timeout = 60            # seconds to wait for a peer's next message
    connect_timeout = 30    # seconds to reach every peer at start
    output_dir = "output"   # each party writes to output/<party>/

    [tls]
    ca = "certs/ca.crt"

    [[parties]]
    name = "bank-a"
    role = "guest"
    address = "127.0.0.1:9101"
    certificate = "certs/bank-a.crt"
    private_key = "certs/bank-a.key"
    data = { file = "bank_a.csv", id_column = "id", label_column = "y" }

    [[parties]]
    name = "bank-b"
    role = "host"
    address = "127.0.0.1:9102"
    certificate = "certs/bank-b.crt"
    private_key = "certs/bank-b.key"
    data = { file = "bank_b.csv", id_column = "id" }

    [[steps]]
    type = "psi"            # align the rows on common ids first (ECDH by default)

    [[steps]]
    type = "secure_sum"     # sum over the common customers only
    columns = ["balance"]
    max_abs = 1e15

    [[steps]]
    type = "hetero_lr"      # train on the common customers (two-party: one host)
    optimizer = "sgd"
    learning_rate = 0.15
    batch_size = 64
    max_iter = 5
    key_length = 2048       # Paillier key; under 2048 only with allow_weak_keys

    [[steps]]
    type = "score"          # the guest learns a probability per common customer

Each step type is a plug-in of :mod:`vfl.steps` (``psi``, ``secure_sum``,
``hetero_lr``, ``score``, and any type registered with :func:`vfl.steps.register`):
it parses its own table and checks itself against the parties and the earlier
steps; this module reads the rest and calls it.  The ``hetero_lr`` keys (all
optional) are the declared settings of :mod:`protocols.hetero_lr.settings` that job
files accept, plus ``class_weight``, ``standardize`` and ``backend`` (only
``"paillier"``); see :func:`vfl.steps.hetero_lr.settings_table`.  There is no
``random_state``: the guest draws the batch plan from the CSPRNG.  A ``score`` step
uses the model of the latest earlier ``hetero_lr`` step, or ``models_dir``: a folder
holding ``<party>.json`` model files from an earlier job.

A party may also carry a ``compute`` table: where its heavy crypto runs, this
machine's pools (``engine = "local"``, the default) or a Dask cluster
(``engine = "dask"``, ``scheduler = "tcp://..."`` or ``"tls://..."``);
see :mod:`vfl.runtime.compute` and ``docs/dask.md``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from protocols.messages import PARTY_NAME_PATTERN
from vfl.exceptions import JobFileError
from vfl.jobs.compute_section import parse_compute
from vfl.runtime.compute import ComputeConfig
from vfl.runtime.transport.base import DEFAULT_MAX_MESSAGE_BYTES
from vfl.steps import (
    HeteroLrStep,
    JobCheck,
    LoadContext,
    PsiStep,
    ScoreStep,
    SecureSumStep,
    StepConfig,
    step_type,
    step_types,
)
from vfl.steps.base import PartyRoster, Section, positive, string_list

__all__ = [
    "ROLES",
    "DataConfig",
    "HeteroLrStep",
    "JobConfig",
    "PartyConfig",
    "PsiStep",
    "ScoreStep",
    "SecureSumStep",
    "StepConfig",
    "load_job",
]

ROLES = ("guest", "host", "arbiter")
JOB_ID = re.compile(r"[\x21-\x7e]{1,100}", re.ASCII)


@dataclass(frozen=True)
class DataConfig:
    """A party's data file."""

    file: Path
    id_column: str
    label_column: str | None
    feature_columns: tuple[str, ...] | None
    log_columns: tuple[str, ...] = ()
    memory_map: bool = False


@dataclass(frozen=True)
class PartyConfig:
    """One party of the job."""

    name: str
    role: str
    host: str
    port: int
    certificate: Path | None
    private_key: Path | None
    data: DataConfig | None
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    """Where the party's heavy crypto runs (``compute`` table; :mod:`vfl.runtime.compute`)."""


@dataclass(frozen=True)
class JobConfig(PartyRoster):
    """A validated job file."""

    path: Path
    job_id: str
    timeout: float
    connect_timeout: float
    max_message_bytes: int
    output_dir: Path
    allow_weak_keys: bool
    ca: Path | None
    parties: tuple[PartyConfig, ...]
    steps: tuple[StepConfig, ...]

    def party(self, name: str) -> PartyConfig:
        """The party called ``name``."""
        for party in self.parties:
            if party.name == name:
                return party
        names = ", ".join(p.name for p in self.parties)
        raise JobFileError(f"{self.path}: no party {name!r} in this job (parties: {names})")

    def peers_of(self, name: str) -> tuple[PartyConfig, ...]:
        """Every party but ``name``."""
        return tuple(p for p in self.parties if p.name != name)

    def party_output_dir(self, name: str) -> Path:
        """Where party ``name`` writes its outputs."""
        return self.output_dir / name

    def check_files(self, party: str | None = None, *, tls: bool = True) -> None:
        """Check that the files a run needs exist.

        Parameters
        ----------
        party : str, optional
            Check only this party's files (``vfl run``); all parties' data otherwise
            (``vfl simulate``).
        tls : bool, default True
            Also check the CA and the party's certificate and private key.
        """
        chosen = self.parties if party is None else (self.party(party),)
        missing: list[str] = []
        for config in chosen:
            if config.data is not None and not config.data.file.is_file():
                missing.append(f"{config.name}.data.file {config.data.file}")
            if tls:
                for label, file in (
                    ("certificate", config.certificate),
                    ("private_key", config.private_key),
                ):
                    if file is None:
                        missing.append(f"{config.name}.{label} (not set)")
                    elif not file.is_file():
                        missing.append(f"{config.name}.{label} {file}")
            for key, file in config.compute.files():
                if not file.is_file():
                    missing.append(f"{config.name}.compute.{key} {file}")
        for step in self.steps:
            for config in chosen:
                missing += step_type(step).missing_files(step, config)
        if tls and (self.ca is None or not self.ca.is_file()):
            missing.append(f"tls.ca {self.ca if self.ca else '(not set)'}")
        if missing:
            raise JobFileError(f"{self.path}: missing files: " + "; ".join(missing))


def _address(section: Section) -> tuple[str, int]:
    text = section.take("address", str)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise section.error("address", f"{text!r} is not host:port with a port in 1..65535")
    return host.strip("[]"), int(port)


def _data(path: Path, where: str, table: object) -> DataConfig:
    section = Section(path, where, table)
    feature_columns = section.take("feature_columns", list, None, string_list)
    log_columns = section.take("log_columns", list, None, string_list)
    data = DataConfig(
        file=section.path_value("file") or Path(),
        id_column=section.take("id_column", str, "id"),
        label_column=section.take("label_column", str, None),
        feature_columns=tuple(feature_columns) if feature_columns is not None else None,
        log_columns=tuple(log_columns or ()),
        memory_map=section.take("memory_map", bool, False),
    )
    if feature_columns is not None and not set(data.log_columns) <= set(feature_columns):
        extra = sorted(set(data.log_columns) - set(feature_columns))
        raise section.error("log_columns", f"names {extra}, which are not in feature_columns")
    section.finish()
    return data


def _party(path: Path, index: int, table: object) -> PartyConfig:
    where = f"parties[{index}]"
    section = Section(path, where, table)
    name = section.take(
        "name",
        str,
        check=lambda v: (
            None
            if PARTY_NAME_PATTERN.fullmatch(v)
            else "must be lowercase letters, digits and '-', starting with a letter (it is "
            "also the party's certificate name)"
        ),
    )
    role = section.take(
        "role", str, check=lambda v: None if v in ROLES else f"{v!r} is not one of {ROLES}"
    )
    host, port = _address(section)
    certificate = section.path_value("certificate", required=False)
    private_key = section.path_value("private_key", required=False)
    data_table = section.take("data", dict, None)
    compute_table = section.take("compute", dict, None)
    section.finish()
    data = _data(path, f"{where}.data", data_table) if data_table is not None else None
    compute = (
        ComputeConfig()
        if compute_table is None
        else parse_compute(path, f"{where}.compute", compute_table)
    )
    return PartyConfig(name, role, host, port, certificate, private_key, data, compute)


def _step(path: Path, index: int, table: object, allow_weak_keys: bool) -> StepConfig:
    """One ``[[steps]]`` table, parsed by its registered step type."""
    section = Section(path, f"steps[{index}]", table)
    name = section.take("type", str)
    try:
        kind = step_type(name)
    except JobFileError as error:
        raise section.error("type", str(error)) from None
    step: StepConfig = kind.parse(section, LoadContext(path, index, allow_weak_keys))
    return step


def _check_parties(path: Path, parties: Sequence[PartyConfig], steps: Sequence[StepConfig]) -> None:
    """The rules across sections: the parties, then each step against them and its elders."""
    names = [p.name for p in parties]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise JobFileError(f"{path}: parties: duplicate name(s) {duplicates}")
    addresses = [(p.host, p.port) for p in parties]
    if len(set(addresses)) != len(addresses):
        raise JobFileError(f"{path}: parties: two parties share an address")
    guests = [p.name for p in parties if p.role == "guest"]
    if len(guests) != 1:
        raise JobFileError(
            f"{path}: parties: exactly one party must have role 'guest', found {len(guests)}"
        )
    if not any(p.role == "host" for p in parties):
        raise JobFileError(f"{path}: parties: at least one party must have role 'host'")
    job = JobCheck(path, tuple(parties))
    _check_arbiters(job, steps)
    for index, step in enumerate(steps):
        kind = step_type(step)
        for party in parties:  # the guest's and the hosts' rows
            if kind.needs_data and party.role != "arbiter" and party.data is None:
                raise JobFileError(
                    f"{path}: parties: {party.name} has no data section, which the "
                    f"{step.type} step needs"
                )
        kind.check(step, index, job)


def _check_arbiters(job: JobCheck, steps: Sequence[StepConfig]) -> None:
    """An arbiter holds no data, and only a step that uses one allows it."""
    for party in job.arbiters:
        if party.data is not None:
            raise job.parties_error(
                f"the arbiter {party.name} holds no data; remove its data section"
            )
    if job.arbiters and not any(step_type(s).uses_arbiter(s) for s in steps):
        for index, step in enumerate(steps):
            reason = step_type(step).without_arbiter(step)
            if reason is not None:
                raise job.error(
                    index, step, f"{reason} (parties: {job.arbiters[0].name} has role 'arbiter')"
                )
        uses = [u for u in (step_type(name).arbiter_use for name in step_types()) if u]
        raise job.parties_error(
            f"{job.arbiters[0].name} has role 'arbiter', which only {' or '.join(uses)} uses; "
            "remove the party or set that mode"
        )


def load_job(path: str | Path) -> JobConfig:
    """Read and validate a job file.

    Raises
    ------
    JobFileError
        Naming the file and the offending key.
    """
    path = Path(path).resolve()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobFileError(f"{path}: no such job file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise JobFileError(f"{path}: not valid TOML: {error}") from None
    root = Section(path, "job file", document)
    job = Section(path, "job", root.take("job", dict))
    job_id = job.take(
        "id",
        str,
        check=lambda v: (
            None if JOB_ID.fullmatch(v) else "must be 1-100 printable characters without spaces"
        ),
    )
    timeout = float(job.take("timeout", (int, float), 60.0, positive))
    connect_timeout = float(job.take("connect_timeout", (int, float), 30.0, positive))
    max_message_mb = job.take(
        "max_message_mb", (int, float), DEFAULT_MAX_MESSAGE_BYTES / 2**20, positive
    )
    output_dir = job.path_value("output_dir", required=False) or (path.parent / "output").resolve()
    allow_weak_keys = job.take("allow_weak_keys", bool, False)
    job.finish()
    tls_table = root.take("tls", dict, None)
    ca = None
    if tls_table is not None:
        tls = Section(path, "tls", tls_table)
        ca = tls.path_value("ca")
        tls.finish()
    party_tables = root.take("parties", list)
    step_tables = root.take("steps", list)
    root.finish()
    parties = tuple(_party(path, i, table) for i, table in enumerate(party_tables))
    steps = tuple(_step(path, i, table, allow_weak_keys) for i, table in enumerate(step_tables))
    if not steps:
        raise JobFileError(f"{path}: steps: the job has no steps")
    _check_parties(path, parties, steps)
    return JobConfig(
        path=path,
        job_id=job_id,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_message_bytes=int(max_message_mb * 2**20),
        output_dir=output_dir,
        allow_weak_keys=allow_weak_keys,
        ca=ca,
        parties=parties,
        steps=steps,
    )

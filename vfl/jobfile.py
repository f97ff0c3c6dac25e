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

The ``hetero_lr`` keys (all optional) are those of
:class:`vfl.HeteroLogisticRegression`: ``mode`` (``"two-party"`` or ``"arbiter"``),
``batch_size``, ``max_iter``, ``optimizer``, ``learning_rate``, ``penalty``,
``alpha``, ``decay``, ``decay_sqrt``, ``tol``, ``convergence``, ``class_weight``
(``"balanced"`` or a table ``{ 0 = 1.0, 1 = 5.0 }``), ``fit_intercept``,
``standardize``, ``key_length``, ``n_jobs`` and ``backend`` (only ``"paillier"``).
There is no ``random_state``: the guest draws the batch plan from the CSPRNG.
A ``score`` step uses the model of the latest earlier ``hetero_lr`` step, or
``models_dir``: a folder holding ``<party>.json`` model files from an earlier job.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from crypto.paillier.keys import MAX_KEY_BITS
from protocols.exceptions import ProtocolError
from protocols.hetero_lr import (
    CONVERGENCE,
    MODES,
    OPTIMIZERS,
    PENALTIES,
    LrSettings,
)
from protocols.hetero_lr.party import MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.settings import FLAT_KEYWORDS
from protocols.messages import PARTY_NAME_PATTERN
from protocols.psi.settings import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, METHODS, OUTPUTS, PsiSettings
from vfl.exceptions import JobFileError
from vfl.transport.base import DEFAULT_MAX_MESSAGE_BYTES

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
STRONG_KEY_BITS = 2048
"""Paillier keys shorter than this need ``allow_weak_keys = true`` in ``[job]``."""
WEAKEST_LR_KEY_BITS = 1024
"""No hetero_lr key is ever shorter than this, even in tests."""
JOB_ID = re.compile(r"[\x21-\x7e]{1,100}", re.ASCII)
T = TypeVar("T")


@dataclass(frozen=True)
class DataConfig:
    """A party's data file."""

    file: Path
    id_column: str
    label_column: str | None
    feature_columns: tuple[str, ...] | None
    log_columns: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class SecureSumStep:
    """``type = "secure_sum"``: everyone learns the column totals over all parties.

    Each party contributes the sums of ``columns`` over its rows and its row count.
    """

    columns: tuple[str, ...]
    max_abs: float
    key_length: int

    type = "secure_sum"


@dataclass(frozen=True)
class PsiStep:
    """``type = "psi"``: align the parties' rows on their common customer ids.

    Each party's output is its data file restricted to the common ids, in one order
    agreed by every party (``output = "both"``), plus a summary.  Later steps of the
    job use the aligned rows.
    """

    method: str
    output: str
    dedupe: bool
    chunk_size: int
    rsa_key_length: int
    n_jobs: int | None

    type = "psi"

    def settings(self, allow_weak_key: bool) -> PsiSettings:
        """The protocol parameters of this step."""
        return PsiSettings(
            method=self.method,  # type: ignore[arg-type]  # checked when loaded
            output=self.output,  # type: ignore[arg-type]
            chunk_size=self.chunk_size,
            rsa_key_length=self.rsa_key_length,
            allow_weak_key=allow_weak_key,
            n_jobs=self.n_jobs,
        )


@dataclass(frozen=True)
class HeteroLrStep:
    """``type = "hetero_lr"``: train a hetero logistic regression on the aligned rows.

    The guest trains with its features and labels, each host with its features (and
    an arbiter holds the key in ``mode = "arbiter"``).  Each party writes its own
    model (its weights only) and a summary.  Defaults are those of
    :class:`vfl.HeteroLogisticRegression`; ``standardize`` makes each party scale its
    own features on its training rows.
    """

    mode: str = "two-party"
    batch_size: int = 1024
    max_iter: int = 10
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    penalty: str = "l2"
    alpha: float = 0.0
    decay: float = 0.0
    decay_sqrt: bool = False
    tol: float = 1e-4
    convergence: str = "loss"
    class_weight: str | dict[int, float] | None = None
    fit_intercept: bool = True
    standardize: bool = True
    key_length: int = STRONG_KEY_BITS
    n_jobs: int | None = None
    backend: str = "paillier"
    label_privacy_epsilon: float | None = None
    label_privacy_delta: float = 1e-5

    type = "hetero_lr"

    def settings(self, allow_weak_key: bool) -> LrSettings:
        """The protocol parameters of this step.

        Parameters
        ----------
        allow_weak_key : bool
            The job's ``allow_weak_keys`` (keys under 2048 bits, tests only).

        Returns
        -------
        LrSettings

        Raises
        ------
        ProtocolError
            If a value is out of range.
        """
        values = {key: getattr(self, key) for key in FLAT_KEYWORDS if hasattr(self, key)}
        return LrSettings.from_flat(**values, allow_weak_key=allow_weak_key)


@dataclass(frozen=True)
class ScoreStep:
    """``type = "score"``: the guest learns a probability for each of its current rows.

    The rows are those later steps see (the aligned rows after a ``psi`` step).  The
    model is the one trained by the latest earlier ``hetero_lr`` step of the job, or,
    with ``models_dir``, each party's ``<party>.json`` in that folder (the
    ``step-<i>-model.json`` files of an earlier job, renamed).  Hosts send only their
    partial scores; the guest writes ``step-<i>-scores.csv`` (``id, probability``).
    """

    models_dir: Path | None = None

    type = "score"

    def model_file(self, party: str) -> Path | None:
        """Where party ``party``'s model file is (``None``: from an earlier step)."""
        return None if self.models_dir is None else self.models_dir / f"{party}.json"


StepConfig = SecureSumStep | PsiStep | HeteroLrStep | ScoreStep


@dataclass(frozen=True)
class JobConfig:
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

    @property
    def guest(self) -> PartyConfig:
        """The label holder."""
        return next(p for p in self.parties if p.role == "guest")

    @property
    def hosts(self) -> tuple[PartyConfig, ...]:
        """The hosts, in job-file order."""
        return tuple(p for p in self.parties if p.role == "host")

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
        for step in self.steps:
            if not isinstance(step, ScoreStep):
                continue
            for config in chosen:
                model = step.model_file(config.name)
                if config.role != "arbiter" and model is not None and not model.is_file():
                    missing.append(f"{config.name}'s model file {model} (score.models_dir)")
        if tls and (self.ca is None or not self.ca.is_file()):
            missing.append(f"tls.ca {self.ca if self.ca else '(not set)'}")
        if missing:
            raise JobFileError(f"{self.path}: missing files: " + "; ".join(missing))


class _Section:
    """A TOML table being read: takes keys one by one, then refuses leftovers."""

    def __init__(self, path: Path, where: str, table: object) -> None:
        if not isinstance(table, dict):
            raise JobFileError(f"{path}: {where} must be a table")
        self.path, self.where, self.table = path, where, dict(table)

    def error(self, key: str, message: str) -> JobFileError:
        return JobFileError(f"{self.path}: {self.where}.{key}: {message}")

    def take(
        self,
        key: str,
        kind: type[T] | tuple[type, ...],
        default: object = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in self.table:
            if default is ...:
                raise JobFileError(f"{self.path}: {self.where}: missing key {key!r}")
            return default
        value = self.table.pop(key)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(key, f"expected {_names(kinds)}, got a boolean")
        if not isinstance(value, kinds):
            raise self.error(key, f"expected {_names(kinds)}, got {type(value).__name__}")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.error(key, problem)
        return value

    def path_value(self, key: str, *, required: bool = True) -> Path | None:
        value: str | None = self.take(key, str, ... if required else None)
        if value is None:
            return None
        if not value.strip():
            raise self.error(key, "must not be empty")
        return (self.path.parent / value).resolve()

    def finish(self) -> None:
        if self.table:
            unknown = ", ".join(sorted(map(repr, self.table)))
            raise JobFileError(f"{self.path}: {self.where}: unknown key(s) {unknown}")


def _names(kinds: Sequence[type]) -> str:
    names = {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _positive(value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else "must be a positive number"


def _string_list(value: list[Any]) -> str | None:
    if not value or not all(isinstance(item, str) and item for item in value):
        return "must be a non-empty list of non-empty strings"
    if len(set(value)) != len(value):
        return "must not repeat a column"
    return None


def _address(section: _Section) -> tuple[str, int]:
    text = section.take("address", str)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise section.error("address", f"{text!r} is not host:port with a port in 1..65535")
    return host.strip("[]"), int(port)


def _data(path: Path, where: str, table: object) -> DataConfig:
    section = _Section(path, where, table)
    feature_columns = section.take("feature_columns", list, None, _string_list)
    log_columns = section.take("log_columns", list, None, _string_list)
    data = DataConfig(
        file=section.path_value("file") or Path(),
        id_column=section.take("id_column", str, "id"),
        label_column=section.take("label_column", str, None),
        feature_columns=tuple(feature_columns) if feature_columns is not None else None,
        log_columns=tuple(log_columns or ()),
    )
    if feature_columns is not None and not set(data.log_columns) <= set(feature_columns):
        extra = sorted(set(data.log_columns) - set(feature_columns))
        raise section.error("log_columns", f"names {extra}, which are not in feature_columns")
    section.finish()
    return data


def _party(path: Path, index: int, table: object) -> PartyConfig:
    where = f"parties[{index}]"
    section = _Section(path, where, table)
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
    section.finish()
    data = _data(path, f"{where}.data", data_table) if data_table is not None else None
    return PartyConfig(name, role, host, port, certificate, private_key, data)


def _step(path: Path, index: int, table: object, allow_weak_keys: bool) -> StepConfig:
    section = _Section(path, f"steps[{index}]", table)
    kind = section.take("type", str)
    if kind == "secure_sum":
        step = SecureSumStep(
            columns=tuple(section.take("columns", list, check=_string_list)),
            max_abs=float(section.take("max_abs", (int, float), 1e15, _positive)),
            key_length=section.take(
                "key_length", int, 2048, lambda v: None if v >= 512 else "must be at least 512"
            ),
        )
        section.finish()
        return step
    if kind == "psi":
        psi = PsiStep(
            method=section.take(
                "method",
                str,
                "ecdh",
                lambda v: None if v in METHODS else f"must be one of {METHODS}",
            ),
            output=section.take(
                "output",
                str,
                "both",
                lambda v: None if v in OUTPUTS else f"must be one of {OUTPUTS}",
            ),
            dedupe=section.take("dedupe", bool, False),
            chunk_size=section.take(
                "chunk_size",
                int,
                DEFAULT_CHUNK_SIZE,
                lambda v: None if 1 <= v <= MAX_CHUNK_SIZE else f"must be in 1..{MAX_CHUNK_SIZE}",
            ),
            rsa_key_length=section.take(
                "rsa_key_length", int, 2048, lambda v: None if v >= 1024 else "must be >= 1024"
            ),
            n_jobs=section.take(
                "n_jobs", int, None, lambda v: None if v != 0 else "must not be 0 (-1: all cores)"
            ),
        )
        section.finish()
        try:
            psi.settings(allow_weak_key=True)
        except ProtocolError as error:
            raise JobFileError(f"{path}: steps[{index}]: {error}") from None
        return psi
    if kind == "hetero_lr":
        return _hetero_lr_step(path, index, section, allow_weak_keys)
    if kind == "score":
        score = ScoreStep(models_dir=section.path_value("models_dir", required=False))
        section.finish()
        return score
    raise section.error(
        "type",
        f"unknown step type {kind!r} (available: 'psi', 'secure_sum', 'hetero_lr', 'score')",
    )


def _choice(options: Sequence[str]) -> Callable[[str], str | None]:
    return lambda v: None if v in options else f"{v!r} is not one of {tuple(options)}"


def _at_least(low: float) -> Callable[[float], str | None]:
    return lambda v: None if math.isfinite(v) and v >= low else f"must be >= {low:g}"


def _class_weight(section: _Section) -> str | dict[int, float] | None:
    value = section.take("class_weight", (str, dict), None)
    if value is None:
        return None
    if value == "balanced":
        return "balanced"
    if isinstance(value, str):
        raise section.error(
            "class_weight", f"{value!r} is not 'balanced' (or a table {{ 0 = 1.0, 1 = 5.0 }})"
        )
    weights: dict[int, float] = {}
    for label, weight in value.items():
        if label not in ("0", "1"):
            raise section.error(
                "class_weight", f"the classes are 0 and 1, not {label!r} (e.g. {{ 0 = 1, 1 = 5 }})"
            )
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 < weight <= MAX_SAMPLE_WEIGHT
        ):
            raise section.error(
                "class_weight",
                f"class {label}'s weight must be a number in (0, {MAX_SAMPLE_WEIGHT:g}], "
                f"not {weight!r}",
            )
        weights[int(label)] = float(weight)
    return weights


def _key_length(allow_weak_keys: bool) -> Callable[[int], str | None]:
    def check(bits: int) -> str | None:
        if bits % 2 or not WEAKEST_LR_KEY_BITS <= bits <= MAX_KEY_BITS:
            return (
                f"must be an even number of bits from {STRONG_KEY_BITS} to {MAX_KEY_BITS} "
                f"({WEAKEST_LR_KEY_BITS} with allow_weak_keys), not {bits}"
            )
        if bits < STRONG_KEY_BITS and not allow_weak_keys:
            return (
                f"a {bits}-bit key is weak; use at least {STRONG_KEY_BITS} bits (set "
                "allow_weak_keys = true in [job] only for tests and quick trials)"
            )
        return None

    return check


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _hetero_lr_step(
    path: Path, index: int, section: _Section, allow_weak_keys: bool
) -> HeteroLrStep:
    if "random_state" in section.table:
        raise section.error(
            "random_state",
            "not accepted in a job file: the guest draws the batch plan from the CSPRNG "
            "(fix it only in the Python API's simulations); remove the key",
        )
    backend = section.take("backend", str, "paillier")
    if backend in ("plaintext", "phe"):
        raise section.error(
            "backend",
            f"{backend!r} is for tests and benchmarks only and cannot run between parties; "
            "use 'paillier' (the default)",
        )
    if backend != "paillier":
        raise section.error("backend", f"{backend!r} is not 'paillier' (the only choice)")
    step = HeteroLrStep(
        mode=section.take("mode", str, "two-party", _choice(MODES)),
        batch_size=section.take("batch_size", int, 1024, _at_least(1)),
        max_iter=section.take("max_iter", int, 10, _at_least(1)),
        optimizer=section.take("optimizer", str, "sgd", _choice(OPTIMIZERS)),
        learning_rate=float(section.take("learning_rate", (int, float), 0.1, _positive)),
        penalty=section.take("penalty", str, "l2", _choice(PENALTIES)),
        alpha=float(section.take("alpha", (int, float), 0.0, _at_least(0))),
        decay=float(section.take("decay", (int, float), 0.0, _at_least(0))),
        decay_sqrt=section.take("decay_sqrt", bool, False),
        tol=float(section.take("tol", (int, float), 1e-4, _at_least(0))),
        convergence=section.take("convergence", str, "loss", _choice(CONVERGENCE)),
        class_weight=_class_weight(section),
        fit_intercept=section.take("fit_intercept", bool, True),
        standardize=section.take("standardize", bool, True),
        key_length=section.take("key_length", int, STRONG_KEY_BITS, _key_length(allow_weak_keys)),
        n_jobs=section.take(
            "n_jobs", int, None, lambda v: None if v != 0 else "must not be 0 (-1: all cores)"
        ),
        backend=backend,
        label_privacy_epsilon=_optional_float(
            section.take("label_privacy_epsilon", (int, float), None, _positive)
        ),
        label_privacy_delta=float(
            section.take(
                "label_privacy_delta",
                (int, float),
                1e-5,
                lambda v: None if 0 < v < 1 else "must be between 0 and 1 (exclusive)",
            )
        ),
    )
    section.finish()
    if step.label_privacy_epsilon is not None and step.class_weight is not None:
        raise section.error(
            "label_privacy_epsilon",
            "needs unweighted rows, but class_weight is set (class weights depend on the "
            "labels and would reach the hosts' gradients un-noised); drop one of them",
        )
    try:
        step.settings(allow_weak_key=allow_weak_keys)
    except ProtocolError as error:
        raise JobFileError(f"{path}: steps[{index}]: {error}") from None
    return step


def _check_parties(path: Path, parties: Sequence[PartyConfig], steps: Sequence[StepConfig]) -> None:
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
    hosts = sum(1 for p in parties if p.role == "host")
    if not hosts:
        raise JobFileError(f"{path}: parties: at least one party must have role 'host'")
    _check_arbiters(path, parties, steps)
    psi_output = "both"
    trained = False
    for index, step in enumerate(steps):
        where = f"{path}: steps[{index}] ({step.type})"
        for party in parties:  # every step works on the guest's and the hosts' rows
            if party.role != "arbiter" and party.data is None:
                raise JobFileError(
                    f"{path}: parties: {party.name} has no data section, which the "
                    f"{step.type} step needs"
                )
        if isinstance(step, PsiStep):
            try:
                step.settings(allow_weak_key=True).check_hosts(hosts)
            except ProtocolError as error:
                raise JobFileError(f"{path}: steps: {error}") from None
            psi_output = step.output
        if isinstance(step, HeteroLrStep | ScoreStep) and psi_output != "both":
            raise JobFileError(
                f"{where}: needs the rows aligned on every party, but the psi step before "
                f"it has output = {psi_output!r}; use output = 'both'"
            )
        if isinstance(step, HeteroLrStep):
            guest = next(p for p in parties if p.role == "guest")
            if guest.data is not None and guest.data.label_column is None:
                raise JobFileError(
                    f"{path}: parties: the guest {guest.name} has no data.label_column, "
                    "which the hetero_lr step trains on (a 0/1 column)"
                )
            if step.mode == "two-party" and hosts != 1:
                raise JobFileError(
                    f"{where}: mode 'two-party' trains with exactly one host, the job has "
                    f"{hosts}; use mode = 'arbiter' (with an arbiter party) for several hosts"
                )
            trained = True
        if isinstance(step, ScoreStep) and step.models_dir is None and not trained:
            raise JobFileError(
                f"{where}: no model to score with: put a hetero_lr step before it, or set "
                "models_dir to a folder of <party>.json model files from an earlier job"
            )


def _check_arbiters(
    path: Path, parties: Sequence[PartyConfig], steps: Sequence[StepConfig]
) -> None:
    arbiters = [p for p in parties if p.role == "arbiter"]
    for party in arbiters:
        if party.data is not None:
            raise JobFileError(
                f"{path}: parties: the arbiter {party.name} holds no data; remove its data section"
            )
    needed = any(isinstance(s, HeteroLrStep) and s.mode == "arbiter" for s in steps)
    if arbiters and not needed:
        raise JobFileError(
            f"{path}: parties: {arbiters[0].name} has role 'arbiter', which only a hetero_lr "
            "step with mode = 'arbiter' uses; remove the party or set that mode"
        )
    if needed and len(arbiters) != 1:
        raise JobFileError(
            f"{path}: parties: a hetero_lr step with mode = 'arbiter' needs exactly one party "
            f"with role 'arbiter' (it holds the key and sees only masked values), found "
            f"{len(arbiters)}"
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
    root = _Section(path, "job file", document)
    job = _Section(path, "job", root.take("job", dict))
    job_id = job.take(
        "id",
        str,
        check=lambda v: (
            None if JOB_ID.fullmatch(v) else "must be 1-100 printable characters without spaces"
        ),
    )
    timeout = float(job.take("timeout", (int, float), 60.0, _positive))
    connect_timeout = float(job.take("connect_timeout", (int, float), 30.0, _positive))
    max_message_mb = job.take(
        "max_message_mb", (int, float), DEFAULT_MAX_MESSAGE_BYTES / 2**20, _positive
    )
    output_dir = job.path_value("output_dir", required=False) or (path.parent / "output").resolve()
    allow_weak_keys = job.take("allow_weak_keys", bool, False)
    job.finish()
    tls_table = root.take("tls", dict, None)
    ca = None
    if tls_table is not None:
        tls = _Section(path, "tls", tls_table)
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

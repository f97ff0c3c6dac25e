"""What a step type is: the one interface the job loader and the runner call.

A **step type** (a :class:`StepType` subclass, registered with
:func:`vfl.steps.register`) owns everything about one ``type = "..."`` of
``[[steps]]``: its configuration dataclass, the parsing of its TOML table, its
checks against the parties and the earlier steps, the role each party plays, the
files and summary each party writes, how a resumed run reloads a finished step, and
whether its roles keep checkpoints.  :mod:`vfl.jobs.jobfile` and :mod:`vfl.jobs` only
call these methods; they know no step by name.

Examples
--------
A step in which every party writes one file and exchanges no message:

>>> from dataclasses import dataclass
>>> from protocols.roles import Role
>>> @dataclass(frozen=True)
... class HelloStep:
...     text: str
...     type = "hello"
>>> class Hello(Role):
...     def start(self):
...         self._finish(f"{self.party} says hello")
...         return []
...     def receive(self, message):
...         raise self._unexpected(message, "saying hello")
...     @property
...     def waiting_for(self):
...         return ()
>>> class HelloType(StepType[HelloStep]):
...     name = "hello"
...     def parse(self, section, context):
...         step = HelloStep(text=section.take("text", str, "hello"))
...         section.finish()
...         return step
...     def build_role(self, step, context):
...         return Hello(context.party.name, context.job_id)
...     def output(self, step, context, role, result, seconds):
...         path = context.folder / f"step-{context.index}-hello.txt"
...         path.parent.mkdir(parents=True, exist_ok=True)
...         path.write_text(f"{result}: {step.text}")
...         return StepOutcome({"file": path.name}, context.table, context.model)
>>> HelloType().name, HelloType.checkpoints
('hello', False)
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from vfl.exceptions import DataError, JobFileError
from vfl.runtime.runner import step_job_id
from vfl.steps.registry import step_type

if TYPE_CHECKING:
    from protocols.roles import Role
    from vfl.jobs.checkpoint import CheckpointStore
    from vfl.jobs.jobfile import JobConfig, PartyConfig
    from vfl.tables.datasets import PartyTable
    from vfl.tables.models import PartyModel

__all__ = [
    "JobCheck",
    "LoadContext",
    "Section",
    "StepConfig",
    "StepContext",
    "StepOutcome",
    "StepType",
    "read_options",
    "sha256_of_file",
]

T = TypeVar("T")
S = TypeVar("S")


class StepConfig(Protocol):
    """A step's configuration: a frozen dataclass with a class attribute ``type``."""

    @property
    def type(self) -> str:
        """The step's ``type`` in job files (its step type's :attr:`StepType.name`)."""


class Section:
    """A TOML table being read: takes keys one by one, then refuses leftovers.

    Parameters
    ----------
    path : pathlib.Path
        The job file (named in every error).
    where : str
        The table, as errors name it (``"steps[1]"``).
    table : object
        The parsed TOML value (refused unless it is a table).

    Examples
    --------
    >>> section = Section(Path("job.toml"), "steps[0]", {"type": "psi", "chunk_size": 0})
    >>> section.take("type", str)
    'psi'
    >>> section.take("chunk_size", int, 16, lambda v: None if v > 0 else "must be > 0")
    Traceback (most recent call last):
    ...
    vfl.exceptions.JobFileError: job.toml: steps[0].chunk_size: must be > 0
    """

    def __init__(self, path: Path, where: str, table: object) -> None:
        if not isinstance(table, dict):
            raise JobFileError(f"{path}: {where} must be a table")
        self.path, self.where, self.table = path, where, dict(table)

    def error(self, key: str, message: str) -> JobFileError:
        """An error naming the file, this table and ``key``."""
        return JobFileError(f"{self.path}: {self.where}.{key}: {message}")

    def take(
        self,
        key: str,
        kind: type[T] | tuple[type, ...],
        default: object = ...,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """Remove ``key`` from the table and return its value.

        Parameters
        ----------
        key : str
        kind : type or tuple of type
            The accepted TOML value types (a boolean is never a number).
        default : object, optional
            Returned when the key is absent; without it the key is required.
        check : callable, optional
            Returns ``None`` for a valid value, else the problem (``"must be >= 1"``).

        Returns
        -------
        object

        Raises
        ------
        JobFileError
            If the key is missing and required, of another type, or refused by ``check``.
        """
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
        """Take a path, relative to the job file's folder (``None`` if absent and optional)."""
        value: str | None = self.take(key, str, ... if required else None)
        if value is None:
            return None
        if not value.strip():
            raise self.error(key, "must not be empty")
        return (self.path.parent / value).resolve()

    def finish(self) -> None:
        """Refuse the keys nobody took.

        Raises
        ------
        JobFileError
            Naming every unknown key.
        """
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


def positive(value: float) -> str | None:
    """A ``check`` for :meth:`Section.take`: a finite number > 0."""
    return None if math.isfinite(value) and value > 0 else "must be a positive number"


def string_list(value: list[Any]) -> str | None:
    """A ``check`` for :meth:`Section.take`: a non-empty list of distinct, non-empty strings."""
    if not value or not all(isinstance(item, str) and item for item in value):
        return "must be a non-empty list of non-empty strings"
    if len(set(value)) != len(value):
        return "must not repeat a column"
    return None


def non_zero_workers(value: int) -> str | None:
    """A ``check`` for :meth:`Section.take`: ``n_jobs`` (any integer but 0)."""
    return None if value != 0 else "must not be 0 (-1: all cores)"


@dataclass(frozen=True)
class LoadContext:
    """What a step's parser may use besides its own table.

    Attributes
    ----------
    path : pathlib.Path
        The job file.
    index : int
        The step's position in the job.
    allow_weak_keys : bool
        ``[job] allow_weak_keys``.
    """

    path: Path
    index: int
    allow_weak_keys: bool

    def error(self, message: str) -> JobFileError:
        """An error naming the file and this step (``job.toml: steps[1]: ...``)."""
        return JobFileError(f"{self.path}: steps[{self.index}]: {message}")


class PartyRoster:
    """The parties of a job by role (for classes with a ``parties`` tuple)."""

    parties: tuple[PartyConfig, ...]

    @property
    def guest(self) -> PartyConfig:
        """The label holder."""
        return next(p for p in self.parties if p.role == "guest")

    @property
    def hosts(self) -> tuple[PartyConfig, ...]:
        """The hosts, in job-file order."""
        return tuple(p for p in self.parties if p.role == "host")

    @property
    def arbiters(self) -> tuple[PartyConfig, ...]:
        """The parties with role ``arbiter``."""
        return tuple(p for p in self.parties if p.role == "arbiter")


@dataclass
class JobCheck(PartyRoster):
    """The job as the checks across sections see it, one step after the other.

    Each step type's :meth:`StepType.check` reads and updates it in job order.

    Attributes
    ----------
    path : pathlib.Path
    parties : tuple of PartyConfig
    unaligned : str or None
        Why the parties' rows are not aligned now (``None``: they are; after a ``psi``
        step with ``output = "both"``, or without any ``psi`` step).
    trained : bool
        Whether an earlier step trains a model each party keeps.
    binned : bool
        Whether an earlier ``binning`` step replaced the parties' columns by their
        selected WOE columns (what a later ``hetero_lr`` step trains on).
    held_out : int or None
        The index of the latest earlier ``split`` step, whose held-out rows an
        ``evaluate`` step scores (``None``: no split).
    """

    path: Path
    parties: tuple[PartyConfig, ...]
    unaligned: str | None = None
    trained: bool = False
    binned: bool = False
    held_out: int | None = None

    def error(self, index: int, step: StepConfig, message: str) -> JobFileError:
        """An error naming the file and step (``job.toml: steps[1] (hetero_lr): ...``)."""
        return JobFileError(f"{self.path}: steps[{index}] ({step.type}): {message}")

    def steps_error(self, message: str) -> JobFileError:
        """An error about the steps as a whole (``job.toml: steps: ...``)."""
        return JobFileError(f"{self.path}: steps: {message}")

    def parties_error(self, message: str) -> JobFileError:
        """An error about the parties (``job.toml: parties: ...``)."""
        return JobFileError(f"{self.path}: parties: {message}")

    def require_aligned(self, index: int, step: StepConfig) -> None:
        """Refuse a step that needs every party's rows aligned, when they are not.

        Raises
        ------
        JobFileError
        """
        if self.unaligned is not None:
            raise self.error(
                index, step, f"needs the rows aligned on every party, but {self.unaligned}"
            )


@dataclass
class StepContext:
    """One party's view of one step of a job, while it runs.

    Attributes
    ----------
    job : JobConfig
    index : int
        The step's position in the job.
    party : PartyConfig
    table : PartyTable or None
        The party's current rows (``None`` for an arbiter, which holds no data).
    model : PartyModel or None
        The party's model from the latest earlier step that trained one.
    resume : CheckpointStore or None
        In a resumed run, the party's checkpoints of this step (only for step types
        whose roles keep checkpoints, :attr:`StepType.checkpoints`).
    """

    job: JobConfig
    index: int
    party: PartyConfig
    table: PartyTable | None = None
    model: PartyModel | None = None
    resume: CheckpointStore | None = field(default=None)

    @property
    def job_id(self) -> str:
        """The job id the step's messages carry (``<job id>#<index>``)."""
        return step_job_id(self.job.job_id, self.index)

    @property
    def folder(self) -> Path:
        """Where the party writes its outputs."""
        return self.job.party_output_dir(self.party.name)

    def rows(self) -> PartyTable:
        """The party's current rows.

        Raises
        ------
        DataError
            If the party has no data section.
        """
        if self.table is None:
            raise DataError(f"party {self.party.name!r} has no data section")
        return self.table

    def output_file(self, document: dict[str, Any], key: str) -> Path | None:
        """The file a finished step's summary names under ``key``; refused if missing.

        Raises
        ------
        DataError
            If the summary names a file that is not there.
        """
        name = document.get(key)
        if name is None:
            return None
        path = self.folder / str(name)
        if not path.is_file():
            raise DataError(
                f"{self.party.name} cannot resume: step {self.index} is recorded as finished "
                f"but its output {path} is missing; run the job again without --resume to "
                "start over"
            )
        return path


@dataclass(frozen=True)
class StepOutcome:
    """What a step leaves a party: its summary and what the next steps see.

    Attributes
    ----------
    document : dict
        The step's summary (the runner adds ``job``, ``step``, ``type`` and ``party``
        in front and writes it to ``step-<i>-<type>.json``).
    table : PartyTable or None
        The rows the next steps work on.
    model : PartyModel or None
        The model the next steps use.
    """

    document: dict[str, Any]
    table: PartyTable | None
    model: PartyModel | None


class StepType(abc.ABC, Generic[S]):
    """The plug-in of one step type; subclass it and register an instance.

    Attributes
    ----------
    name : str
        The ``type`` of the step in job files (and the configuration's ``type``).
    checkpoints : bool
        Whether its roles keep checkpoints (:meth:`protocols.roles.Role.take_checkpoint`):
        the runner stores them after each message and, on ``--resume``, passes
        the store to :meth:`build_role` as ``context.resume``.
    output_files : tuple of str
        The summary keys that name files in the party's folder (checked on
        ``--resume`` before :meth:`reload`).
    arbiter_use : str or None
        How the job-file errors name a step of this type that needs the arbiter
        (``"a hetero_lr step with mode = 'arbiter'"``); ``None``: it never does.
    needs_data : bool
        Whether the guest and every host need a ``data`` section for it.
    """

    name: ClassVar[str]
    checkpoints: ClassVar[bool] = False
    output_files: ClassVar[tuple[str, ...]] = ()
    arbiter_use: ClassVar[str | None] = None
    needs_data: ClassVar[bool] = True

    # loading -----------------------------------------------------------------------------
    @abc.abstractmethod
    def parse(self, section: Section, context: LoadContext) -> S:
        """Read a ``[[steps]]`` table of this type (its ``type`` is already taken).

        Parameters
        ----------
        section : Section
            Take every key, then call :meth:`Section.finish`.
        context : LoadContext

        Returns
        -------
        StepConfig
            The step's configuration.

        Raises
        ------
        JobFileError
        """

    def check(self, step: S, index: int, job: JobCheck) -> None:
        """Check the step against the parties and the earlier steps (default: nothing).

        Parameters
        ----------
        step : StepConfig
        index : int
        job : JobCheck
            Read it, and update it for the later steps.

        Raises
        ------
        JobFileError
        """

    def uses_arbiter(self, step: S) -> bool:
        """Whether the arbiter takes part in this step (default: no)."""
        return False

    def without_arbiter(self, step: S) -> str | None:
        """Why this step, as configured, needs no arbiter (default: ``None``, no reason given).

        Named in the refusal of a job that lists an arbiter no step uses
        (``'shared mode needs no arbiter; drop it or use mode = "arbiter"'``).  An
        arbiter that another step uses is idle in this one.

        Parameters
        ----------
        step : StepConfig

        Returns
        -------
        str or None
        """
        return None

    def resume_refusal(self, step: S) -> str | None:
        """Why an interrupted run cannot go on with this step (default: ``None``, it can).

        Asked with ``--resume`` for every step the interrupted run did not finish,
        before any step runs.

        Parameters
        ----------
        step : StepConfig

        Returns
        -------
        str or None
            The reason and what to do instead.
        """
        return None

    def dedupe(self, step: S) -> bool:
        """Whether the data files are read keeping each repeated id's first row."""
        return False

    def raw_cells(self, step: S, party: PartyConfig) -> tuple[str, ...] | None:
        """Whether ``party``'s data is read with missing cells and text columns allowed.

        Returns
        -------
        tuple of str or None
            ``None`` (the default): every cell must be a finite number.  A tuple: missing
            cells and text columns are allowed, and these columns are always read as text
            (declared categorical).
        """
        return None

    def missing_files(self, step: S, party: PartyConfig) -> list[str]:
        """Files of ``party`` this step needs that are not there, described for an error."""
        return []

    def digest(self, step: S, party: PartyConfig) -> dict[str, Any]:
        """What of the step decides ``party``'s outputs (the run record's job digest).

        The default: every dataclass field but ``n_jobs``.
        """
        values: dict[str, Any] = {"type": self.name}
        for item in dataclasses.fields(step):  # type: ignore[arg-type]  # a dataclass
            if item.name != "n_jobs":
                values[item.name] = getattr(step, item.name)
        return values

    # running -----------------------------------------------------------------------------
    @abc.abstractmethod
    def build_role(self, step: S, context: StepContext) -> Role | None:
        """The role ``context.party`` plays in the step (``None``: it takes no part).

        Raises
        ------
        DataError
            If the party's data cannot serve the step.
        """

    @abc.abstractmethod
    def output(
        self, step: S, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """Write the party's files; its summary and what the next steps see.

        Parameters
        ----------
        step : StepConfig
        context : StepContext
        role : Role
            The role that ran (its :attr:`~protocols.roles.Role.result` is ``result``).
        result : object
        seconds : float
            How long the step ran.

        Returns
        -------
        StepOutcome
        """

    def reload(self, step: S, context: StepContext, document: dict[str, Any]) -> StepOutcome:
        """A finished step on ``--resume``: what the next steps see, from its files.

        The default keeps the table and the model as they are.

        Parameters
        ----------
        step : StepConfig
        context : StepContext
        document : dict
            The step's summary, checked (its :attr:`output_files` exist).

        Returns
        -------
        StepOutcome
        """
        return StepOutcome(document, context.table, context.model)


def read_options(job: JobConfig, party: PartyConfig) -> dict[str, Any]:
    """The options of :func:`~vfl.tables.datasets.read_party_csv` ``party``'s files need.

    Strict (no option) unless a step of the job takes raw cells
    (:meth:`StepType.raw_cells`); then missing cells and text columns are allowed and the
    columns any such step declares categorical are read as text.

    Parameters
    ----------
    job : JobConfig
    party : PartyConfig

    Returns
    -------
    dict
        Keyword arguments for ``read_party_csv`` (empty: strict).
    """
    declared = [step_type(step).raw_cells(step, party) for step in job.steps]
    wanted = [columns for columns in declared if columns is not None]
    if not wanted:
        return {}
    categorical = tuple(dict.fromkeys(name for columns in wanted for name in columns))
    return {"allow_missing": True, "allow_text": True, "categorical": categorical}


def sha256_of_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    str
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

"""Checkpoints and run records: how ``vfl run --resume`` continues an interrupted job.

Each party keeps, under ``<output_dir>/<party>/checkpoints/``:

- ``run.json``, its **run record**: the job id, a random run id, SHA-256 digests of
  the job's configuration (parties, steps, this party's data settings) and of its
  data file, and the steps it has finished.  A run without ``--resume`` starts a
  new record and deletes the party's old checkpoints; a run with ``--resume``
  refuses to go on if either digest changed, and starts from the beginning if there
  is no record.
- ``step-<i>-epoch-<k>.json``, its **checkpoint** of ``hetero_lr`` step ``i`` after
  epoch ``k``: a :class:`~protocols.hetero_lr.state.LrCheckpoint` in JSON (never
  pickle) with a header naming the format, its version, the job, the run, the step
  and the party.  Only the last two epochs' checkpoints of a step are kept.

The folder exists only while the party's run is unfinished: once it has finished
every step, the party deletes its checkpoints and its run record.

Every file is written to a temporary file, flushed to disk and renamed into place
(:mod:`vfl.runtime.files`), so a killed party leaves whole files or none.  Everything read
back is validated, and a bad file is refused with a :class:`~vfl.exceptions.DataError`
naming it.

A checkpoint holds the party's own weights, optimiser state, per-epoch weights and
history, the public batch-plan seed and a digest of its training inputs; never a
key, a mask, a data row or anything a peer sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.state import KEPT_CHECKPOINTS, LrCheckpoint
from protocols.roles import Checkpoint, Role
from vfl.exceptions import DataError
from vfl.jobs.jobfile import JobConfig, PartyConfig
from vfl.runtime.files import write_json_atomically
from vfl.steps import step_type
from vfl.steps.base import sha256_of_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "CheckpointStore",
    "RunRecord",
    "checkpoint_folder",
    "job_digests",
    "read_checkpoint",
    "resume_hint",
]

CHECKPOINT_FORMAT = "vfl-hetero-lr-checkpoint"
"""The ``format`` of every checkpoint file."""
CHECKPOINT_VERSION = 1
"""Version of the checkpoint file layout."""
RECORD_FORMAT = "vfl-run-record"
"""The ``format`` of ``run.json``."""
RECORD_VERSION = 1
"""Version of the run record layout."""
RESUME_HINT = "run the job again without --resume to start over"

_CHECKPOINT_KEYS = frozenset({"format", "version", "job", "run", "step", "party", "state"})
_RECORD_KEYS = frozenset({"format", "version", "job", "party", "run", "digests", "finished"})
_CHECKPOINT_NAME = re.compile(r"step-(0|[1-9][0-9]{0,8})-epoch-(0|[1-9][0-9]{0,8})\.json")
_TEMPORARY = re.compile(r"\.(step-[0-9]+-.+|run\.json)\.[A-Za-z0-9_]+\.tmp")
"""Temporary files of :mod:`vfl.runtime.files` that a killed party may have left behind."""


def checkpoint_folder(job: JobConfig, party: str) -> Path:
    """Where party ``party`` keeps its run record and checkpoints.

    Parameters
    ----------
    job : JobConfig
    party : str

    Returns
    -------
    pathlib.Path
        ``<output_dir>/<party>/checkpoints``.
    """
    return job.party_output_dir(party) / "checkpoints"


def job_digests(job: JobConfig, party: PartyConfig) -> dict[str, str]:
    """Digests of what decides a party's outputs: the job's configuration and its data.

    ``config`` covers the job id, ``allow_weak_keys``, every party's name and role,
    this party's data settings (columns, not the file's path) and what each step's
    type says decides the outputs (:meth:`vfl.steps.StepType.digest`: every setting
    but ``n_jobs`` and, for a ``score`` step with ``models_dir``, the content of this
    party's model file).  ``data`` is the SHA-256 of this party's data file.  Timeouts,
    addresses, certificates and paths are left out: they may change between runs.

    Parameters
    ----------
    job : JobConfig
    party : PartyConfig

    Returns
    -------
    dict
        ``{"config": <hex>, "data": <hex or "none">}``.
    """
    steps = [step_type(step).digest(step, party) for step in job.steps]
    data = party.data
    config = {
        "job": job.job_id,
        "allow_weak_keys": job.allow_weak_keys,
        "parties": [[p.name, p.role] for p in job.parties],
        "party": party.name,
        "data": None
        if data is None
        else {
            "id_column": data.id_column,
            "label_column": data.label_column,
            "feature_columns": data.feature_columns,
            "log_columns": data.log_columns,
        },
        "steps": steps,
    }
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return {
        "config": hashlib.sha256(text.encode()).hexdigest(),
        "data": "none" if data is None else sha256_of_file(data.file),
    }


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; a DataError naming the file otherwise."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            raise ValueError("a key appears twice")
        return document

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a {what}: the file is not UTF-8 text") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read the {what} ({error.strerror})") from None
    try:
        document = json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError as error:
        raise DataError(
            f"{path}: not a valid {what}: the file is truncated or not JSON ({error})"
        ) from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: not a {what}: expected a JSON object")
    return document


def _check_keys(path: Path, document: dict[str, Any], keys: frozenset[str], what: str) -> None:
    missing, unknown = keys - document.keys(), document.keys() - keys
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(sorted(missing))}")
        if unknown:
            problems.append(f"unknown {', '.join(sorted(unknown))}")
        raise DataError(f"{path}: not a valid {what} ({'; '.join(problems)})")


def _check_format(
    path: Path, document: dict[str, Any], expected: str, version: int, what: str
) -> None:
    if document["format"] != expected:
        raise DataError(f"{path}: not a {what} (format {document['format']!r})")
    found = document["version"]
    if type(found) is not int or found != version:
        raise DataError(
            f"{path}: {what} version {found!r} is not supported (this engine reads version "
            f"{version}); {RESUME_HINT}"
        )


def read_checkpoint(
    path: Path,
    *,
    job_id: str,
    run: str,
    step: int,
    party: str,
    role: str,
    inputs_digest: str,
) -> LrCheckpoint:
    """Read and validate one checkpoint file of this party's run.

    Parameters
    ----------
    path : pathlib.Path
        ``step-<i>-epoch-<k>.json``.
    job_id, run : str
        The job's id and the run id of the party's run record.
    step : int
        The ``hetero_lr`` step.
    party, role : str
        The party and its role.
    inputs_digest : str
        The party's training-inputs digest now
        (:attr:`~protocols.hetero_lr.LrGuest.inputs_digest`).

    Returns
    -------
    LrCheckpoint

    Raises
    ------
    DataError
        Naming the file: unreadable, truncated or not JSON, another format or
        version, another job, run, step, party or role, an invalid state, or made
        from other training inputs or settings.
    """
    what = "checkpoint"
    document = _read_json(path, what)
    _check_keys(path, document, _CHECKPOINT_KEYS, what)
    _check_format(path, document, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, what)
    found = (document["job"], document["step"], document["party"])
    if found != (job_id, step, party):
        raise DataError(
            f"{path}: a checkpoint of job {found[0]!r} step {found[1]!r} party {found[2]!r}, "
            f"not of job {job_id!r} step {step} party {party!r}"
        )
    if document["run"] != run:
        raise DataError(
            f"{path}: a checkpoint of another run of this job (its run id is not the one "
            f"in run.json); {RESUME_HINT}"
        )
    try:
        state = LrCheckpoint.from_dict(document["state"])
    except ProtocolError as error:
        raise DataError(f"{path}: invalid {error}") from None
    name = _CHECKPOINT_NAME.fullmatch(path.name)
    if name is None or int(name.group(2)) != state.epoch:
        raise DataError(f"{path}: holds the checkpoint of epoch {state.epoch}")
    if state.role != role:
        raise DataError(f"{path}: a {state.role}'s checkpoint, but {party!r} is the {role}")
    if state.inputs_digest != inputs_digest:
        raise DataError(
            f"{path}: made from other training data or settings than {party!r} has now "
            f"(the digests differ): the data or the job file changed since the interrupted "
            f"run; {RESUME_HINT}"
        )
    return state


@dataclass
class RunRecord:
    """A party's ``run.json``: which run of the job it is in and what it finished.

    Attributes
    ----------
    path : pathlib.Path
    job_id, party : str
    run : str
        A random id, fresh for every run started without ``--resume``.
    digests : dict
        :func:`job_digests` when the run started.
    finished : list of int
        The steps this party finished (their outputs are complete).
    """

    path: Path
    job_id: str
    party: str
    run: str
    digests: dict[str, str]
    finished: list[int] = field(default_factory=list)

    @classmethod
    def begin(cls, job: JobConfig, party: PartyConfig, *, resume: bool) -> RunRecord:
        """Start a party's run: a new record, or (``resume``) the interrupted run's.

        Without ``resume``, the party's old checkpoints are deleted.  With it, the
        interrupted run's record is read and checked against the job and data now;
        without a record the run starts from the beginning.  Either way, temporary
        files a killed run left behind are deleted.

        Parameters
        ----------
        job : JobConfig
        party : PartyConfig
        resume : bool

        Returns
        -------
        RunRecord

        Raises
        ------
        DataError
            If the record is invalid, or the job file or the data changed.
        """
        folder = checkpoint_folder(job, party.name)
        path = folder / "run.json"
        digests = job_digests(job, party)
        for place in (folder, folder.parent):  # what a killed run left half-written
            if place.is_dir():
                for leftover in place.iterdir():
                    if _TEMPORARY.fullmatch(leftover.name) and leftover.is_file():
                        leftover.unlink(missing_ok=True)
        if resume and path.exists():
            record = cls._read(path, job.job_id, party.name)
            changed = [
                {"config": "the job file", "data": f"{party.name}'s data file"}[name]
                for name in ("config", "data")
                if record.digests.get(name) != digests[name]
            ]
            if changed:
                raise DataError(
                    f"{party.name} cannot resume: {' and '.join(changed)} changed since the "
                    f"interrupted run ({path} records other digests); {RESUME_HINT}"
                )
            return record
        if not resume and folder.is_dir():
            for old in folder.iterdir():
                if _CHECKPOINT_NAME.fullmatch(old.name):
                    old.unlink(missing_ok=True)
        record = cls(path, job.job_id, party.name, secrets.token_hex(16), digests)
        record.save()
        return record

    @classmethod
    def _read(cls, path: Path, job_id: str, party: str) -> RunRecord:
        what = "run record"
        document = _read_json(path, what)
        _check_keys(path, document, _RECORD_KEYS, what)
        _check_format(path, document, RECORD_FORMAT, RECORD_VERSION, what)
        if (document["job"], document["party"]) != (job_id, party):
            raise DataError(
                f"{path}: the run record of job {document['job']!r} party "
                f"{document['party']!r}, not of job {job_id!r} party {party!r}"
            )
        run, digests, finished = document["run"], document["digests"], document["finished"]
        if (
            not isinstance(run, str)
            or not re.fullmatch(r"[0-9a-f]{32}", run)
            or not isinstance(digests, dict)
            or not all(isinstance(v, str) for v in digests.values())
            or not isinstance(finished, list)
            or not all(type(i) is int and i >= 0 for i in finished)
        ):
            raise DataError(f"{path}: not a valid run record (run, digests or finished)")
        return cls(path, job_id, party, run, dict(digests), sorted(set(finished)))

    def save(self) -> Path:
        """Write ``run.json`` (atomically).

        Returns
        -------
        pathlib.Path
        """
        return write_json_atomically(
            self.path,
            {
                "format": RECORD_FORMAT,
                "version": RECORD_VERSION,
                "job": self.job_id,
                "party": self.party,
                "run": self.run,
                "digests": self.digests,
                "finished": self.finished,
            },
        )

    def finish_step(self, index: int) -> None:
        """Record that step ``index``'s outputs are complete.

        Parameters
        ----------
        index : int
        """
        if index not in self.finished:
            self.finished = sorted([*self.finished, index])
            self.save()

    def finish_job(self) -> None:
        """The party finished every step: delete its checkpoints and this record.

        Nothing is left to resume (the model files supersede the checkpoints), so no
        training state stays on disk longer than needed; a later ``--resume`` finds no
        record and runs the job from the beginning.
        """
        folder = self.path.parent
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if _CHECKPOINT_NAME.fullmatch(path.name):
                path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()


class CheckpointStore:
    """One party's checkpoints of one ``hetero_lr`` step.

    Parameters
    ----------
    job : JobConfig
    party : str
    step : int
        The step's index.
    run : str
        The run id of the party's :class:`RunRecord`.

    Examples
    --------
    The last two checkpoints of step 1 of an arbiter (which only records epochs):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from protocols.hetero_lr.state import LrCheckpoint
    >>> class Job:  # the only part of a JobConfig the store uses
    ...     job_id = "job-1"
    ...     def party_output_dir(self, name):
    ...         return Path(folder) / name
    >>> folder = tempfile.mkdtemp()
    >>> store = CheckpointStore(Job(), "arbiter", 1, "0" * 32)
    >>> for epoch in range(3):
    ...     _ = store.save(LrCheckpoint("arbiter", epoch, bytes(32), "a" * 64))
    >>> [path.name for _, path in store.files()]
    ['step-1-epoch-1.json', 'step-1-epoch-2.json']
    >>> [checkpoint.epoch for checkpoint in store.load("arbiter", "a" * 64)]
    [1, 2]
    >>> store.load("arbiter", "b" * 64)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: ...step-1-epoch-1.json: made from other training data or settings ...
    >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(self, job: JobConfig, party: str, step: int, run: str) -> None:
        self.folder = checkpoint_folder(job, party)
        self.job_id = job.job_id
        self.party = party
        self.step = step
        self.run = run

    def path(self, epoch: int) -> Path:
        """The file of the checkpoint after ``epoch``."""
        return self.folder / f"step-{self.step}-epoch-{epoch}.json"

    def files(self) -> list[tuple[int, Path]]:
        """``(epoch, path)`` of every checkpoint file of this step, by epoch."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _CHECKPOINT_NAME.fullmatch(path.name)
            if match is not None and int(match.group(1)) == self.step:
                found.append((int(match.group(2)), path))
        return sorted(found)

    def load(self, role: str, inputs_digest: str) -> list[LrCheckpoint]:
        """Every checkpoint of this step, validated (see :func:`read_checkpoint`).

        Parameters
        ----------
        role : str
        inputs_digest : str
            The party's training-inputs digest now.

        Returns
        -------
        list of LrCheckpoint
            By epoch.

        Raises
        ------
        DataError
            If any file is invalid (the resume is refused rather than skipping it).
        """
        return [
            read_checkpoint(
                path,
                job_id=self.job_id,
                run=self.run,
                step=self.step,
                party=self.party,
                role=role,
                inputs_digest=inputs_digest,
            )
            for _, path in self.files()
        ]

    def save(self, checkpoint: Checkpoint) -> Path:
        """Write a checkpoint atomically, then delete all but the last two.

        Parameters
        ----------
        checkpoint : Checkpoint
            An :class:`~protocols.hetero_lr.state.LrCheckpoint` (any role's checkpoint
            with ``epoch`` and ``to_dict()``).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = write_json_atomically(
            self.path(checkpoint.epoch),
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "job": self.job_id,
                "run": self.run,
                "step": self.step,
                "party": self.party,
                "state": checkpoint.to_dict(),
            },
        )
        for epoch, old in self.files():
            if epoch <= checkpoint.epoch - KEPT_CHECKPOINTS:
                old.unlink(missing_ok=True)
        return path

    def keep(self, role: Role) -> None:
        """Save the checkpoint ``role`` took, if any (``Session.run``'s ``after_each``).

        Parameters
        ----------
        role : Role
            Any role: :meth:`~protocols.roles.Role.take_checkpoint` returns ``None``
            for those that keep no checkpoints.
        """
        checkpoint = role.take_checkpoint()
        if checkpoint is not None:
            self.save(checkpoint)


def resume_hint(job: JobConfig, party: str) -> str | None:
    """What ``--resume`` would continue from, for a failed or stopped run's last words.

    Parameters
    ----------
    job : JobConfig
    party : str

    Returns
    -------
    str or None
        ``None`` when the party has nothing to resume (no run record: the run had
        not started a step, or it had finished); otherwise a sentence saying to rerun
        every party with ``--resume`` and where this party would continue.
    """
    folder = checkpoint_folder(job, party)
    record = folder / "run.json"
    if not record.is_file():
        return None
    try:
        finished = [int(step) for step in _read_json(record, "run record").get("finished", [])]
    except (DataError, TypeError, ValueError):
        return None
    epochs = sorted(
        (int(match.group(1)), int(match.group(2)))
        for match in (_CHECKPOINT_NAME.fullmatch(path.name) for path in folder.iterdir())
        if match is not None
    )
    if epochs:
        step, epoch = epochs[-1]
        where = f"after epoch {epoch} of step {step}"
    elif finished:
        where = f"after step {max(finished)}"
    else:
        return None
    return (
        f"checkpoints of this run are in {folder}: rerun every party with --resume to "
        f"continue {where}"
    )

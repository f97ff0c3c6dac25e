"""A party's audit log: one hash-chained JSON line per step and per training epoch.

Each party appends to ``output_dir/<party>/audit.jsonl`` (:data:`AUDIT_LOG_NAME`) as it
runs a job (``vfl run`` and ``vfl simulate``): a line when it finishes a step and, in
a step whose roles keep checkpoints (``hetero_lr``), a line after each training epoch.
A line is one compact JSON object with sorted keys, for example::

    {"bytes_received":5210,"bytes_sent":4876,"epoch":0,"event":"epoch","job":"lr-1",
     "line":3,"participants":["bank-a","bank-b"],"party":"bank-a",
     "prev":"9c1e...","rows":150,"step":1,"time":"2026-12-07T17:58:03.120417Z",
     "type":"hetero_lr"}

(on one line).  ``prev`` is the SHA-256 (hex) of the previous line's bytes (UTF-8,
without its newline); the first line's ``prev`` is :func:`genesis`, a value bound to
the job id and the party, so a log cannot be passed off as another job's or party's.
``line`` counts the lines from 1.  A step line adds ``model_sha256`` (the SHA-256 of
the model file the step wrote, its *model version*) when the step wrote one.  The
bytes are those of the encoded messages this party sent and received during the step
(or epoch: since the previous epoch line of the step), as the runtime frames them;
the transport's own framing and TLS overhead are not counted.  A step line also has
``messages``: per message kind's name (e.g. ``"LR_FORWARD"``), ``[sent count, sent
bytes, received count, received bytes]``, which add up to ``bytes_sent`` and
``bytes_received`` (lines written before it existed have none and still verify).
No data value, label,
key or id is ever written: only counts, names, hashes and times.

Appending never rewrites a line: a resumed or re-run job continues the chain after
the last line.  Each line is written with one ``write`` then ``flush`` and
``os.fsync``, so a crash loses at most the line being written; such an unfinished
last line (no newline) is dropped when the log is next opened, and a log whose chain
is broken is refused (the job stops before its first step) rather than extended.

:func:`verify_log` (``vfl audit verify FILE``) checks the whole chain: a line edited,
removed, inserted or moved is found, with its number.  What the chain cannot show is
a log rewritten from the edited line to the end with every later hash recomputed: pin
the last hash somewhere else (``vfl run`` prints it when the party finishes) to make
such a rewrite detectable too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from protocols.roles import Checkpoint, Role
from vfl.exceptions import DataError
from vfl.runtime.transcript import TranscriptEntry

__all__ = [
    "AUDIT_LOG_NAME",
    "AuditLog",
    "AuditSummary",
    "genesis",
    "line_hash",
    "verify_log",
]

AUDIT_LOG_NAME = "audit.jsonl"
"""The audit log's file name in the party's output folder."""

AUDIT_FORMAT = "vfl-audit-log/1"
_REQUIRED = ("event", "job", "line", "party", "prev", "step", "time", "type")
_EVENTS = ("step", "epoch")


def genesis(job_id: str, party: str) -> str:
    """The ``prev`` of a log's first line: bound to the job and the party.

    Examples
    --------
    >>> genesis("lr-1", "bank-a") == genesis("lr-1", "bank-a") != genesis("lr-1", "bank-b")
    True
    """
    seed = json.dumps([AUDIT_FORMAT, job_id, party], separators=(",", ":"))
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def line_hash(line: bytes) -> str:
    """The SHA-256 (hex) of one line's bytes, without its newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


@dataclass(frozen=True)
class AuditSummary:
    """An intact log: its job, party, number of lines and last line's hash."""

    job: str
    party: str
    lines: int
    steps: int
    epochs: int
    head: str


def _check_lines(path: Path, lines: Iterable[bytes]) -> AuditSummary:
    """Walk the chain; raise :class:`DataError` naming the first bad line."""
    job = party = ""
    previous = ""
    count = steps = epochs = 0
    for number, raw in enumerate(lines, start=1):
        where = f"{path}: line {number}"
        try:
            record = json.loads(raw)
        except ValueError:
            raise DataError(f"{where}: not a JSON object (edited or cut short)") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: not a JSON object (edited)")
        missing = [key for key in _REQUIRED if key not in record]
        if missing:
            raise DataError(f"{where}: no {', '.join(missing)} (edited or not an audit log)")
        if number == 1:
            job, party = str(record["job"]), str(record["party"])
            previous = genesis(job, party)
        if (record["job"], record["party"]) != (job, party):
            raise DataError(
                f"{where}: belongs to job {record['job']!r}, party {record['party']!r}, "
                f"not to job {job!r}, party {party!r} like line 1 (lines mixed from two logs)"
            )
        if record["prev"] != previous:
            what = "the genesis value of this job and party" if number == 1 else "line"
            if number == 1:
                raise DataError(f"{where}: prev is not {what} (the first lines were removed)")
            raise DataError(
                f"{where}: prev does not match the hash of line {number - 1} (line "
                f"{number - 1} was edited, or a line was removed, inserted or moved here)"
            )
        if record["line"] != number:
            raise DataError(
                f"{where}: numbered {record['line']!r} (a line was removed, inserted or moved)"
            )
        if record["event"] not in _EVENTS:
            raise DataError(f"{where}: event {record['event']!r} is not one of {_EVENTS}")
        steps += record["event"] == "step"
        epochs += record["event"] == "epoch"
        previous = line_hash(raw)
        count = number
    if count == 0:
        raise DataError(f"{path}: empty: an audit log has at least one line")
    return AuditSummary(job, party, count, steps, epochs, previous)


def _read_lines(path: Path) -> tuple[list[bytes], bytes]:
    """The complete lines of ``path`` and what follows the last newline."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the audit log ({error.strerror})") from None
    *lines, tail = data.split(b"\n")
    return lines, tail


def verify_log(path: Path, *, last: str | None = None) -> AuditSummary:
    """Check an audit log's chain from its first line to its last.

    Parameters
    ----------
    path : pathlib.Path
        An ``audit.jsonl``.
    last : str, optional
        The hash the last line must have (pinned elsewhere, e.g. the one ``vfl run``
        printed): detects lines removed from the end and a chain rewritten to the end.

    Returns
    -------
    AuditSummary
        When every line is intact and in place.

    Raises
    ------
    DataError
        Naming the first line that is edited, out of place or after a removed one, or
        an unfinished last line.
    """
    lines, tail = _read_lines(path)
    if tail:
        raise DataError(
            f"{path}: line {len(lines) + 1}: unfinished (no newline: cut short by a crash "
            "or an edit; the next run of the job drops it)"
        )
    summary = _check_lines(path, lines)
    if last is not None and summary.head != last.strip().lower():
        raise DataError(
            f"{path}: line {summary.lines} (the last) has hash {summary.head}, not the pinned "
            f"{last}: lines were removed from the end, or the log was rewritten"
        )
    return summary


@dataclass
class _Traffic:
    """The messages of one step so far: bytes each way, the peers, counts per kind.

    ``kinds`` maps a message kind's name to ``[sent count, sent bytes, received
    count, received bytes]``.
    """

    sent: int = 0
    received: int = 0
    peers: set[str] = field(default_factory=set)
    kinds: dict[str, list[int]] = field(default_factory=dict)


class _CheckpointSaver(Protocol):
    def save(self, checkpoint: Checkpoint) -> Path: ...


class AuditLog:
    """The audit log a party appends to while it runs a job.

    Parameters
    ----------
    path : pathlib.Path
        The log (created with its folder if missing).
    job_id : str
    party : str

    Raises
    ------
    DataError
        If the existing log's chain is broken or belongs to another job or party.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / AUDIT_LOG_NAME
    >>> log = AuditLog(path, "job-1", "bank-a")
    >>> log.begin_step(0, "psi", rows=100)
    >>> log.count(TranscriptEntry("sent", "bank-a", "bank-b", 0, b"x" * 40, None))
    >>> log.finish_step()
    >>> summary = verify_log(path)
    >>> (summary.lines, summary.head == log.head)
    (1, True)
    >>> json.loads(path.read_text())["participants"]
    ['bank-a', 'bank-b']
    """

    def __init__(self, path: Path, job_id: str, party: str) -> None:
        self.path = path
        self.job_id = job_id
        self.party = party
        self.head = genesis(job_id, party)
        self.lines = 0
        self._step: int | None = None
        self._type = ""
        self._rows: int | None = None
        self._traffic: dict[int, _Traffic] = {}
        self._epoch_sent = self._epoch_received = 0
        self._last_epoch = -1
        if path.exists():
            self._continue()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)

    def _continue(self) -> None:
        lines, tail = _read_lines(self.path)
        if tail:  # a line cut short by a crash: never complete, never chained to
            with self.path.open("r+b") as file:
                file.truncate(self.path.stat().st_size - len(tail))
                file.flush()
                os.fsync(file.fileno())
        if not lines:
            return
        try:
            summary = _check_lines(self.path, lines)
        except DataError as error:
            raise DataError(
                f"{error}; the audit log is broken: move it aside (keep it for the record) "
                "and run again to start a new one"
            ) from None
        if (summary.job, summary.party) != (self.job_id, self.party):
            raise DataError(
                f"{self.path}: the audit log of job {summary.job!r}, party {summary.party!r}, "
                f"not of job {self.job_id!r}, party {self.party!r}: move it aside"
            )
        self.head, self.lines = summary.head, summary.lines

    def append(self, event: str, fields: dict[str, Any]) -> str:
        """Write one line (``event`` plus ``fields``) durably; return its hash."""
        record = {
            **fields,
            "event": event,
            "job": self.job_id,
            "party": self.party,
            "line": self.lines + 1,
            "prev": self.head,
            "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }
        line = _encode(record)
        with self.path.open("ab") as file:
            file.write(line + b"\n")
            file.flush()
            os.fsync(file.fileno())
        self.head, self.lines = line_hash(line), self.lines + 1
        return self.head

    # one step at a time --------------------------------------------------------------
    def begin_step(self, step: int, label: str, *, rows: int | None) -> None:
        """Start step ``step`` (``rows``: the rows of its party's table it uses)."""
        self._step, self._type, self._rows = step, label, rows
        self._epoch_sent = self._epoch_received = 0
        self._last_epoch = -1

    def count(self, entry: TranscriptEntry) -> None:
        """Count one message sent or received (a :class:`~vfl.runtime.runner.Session` recorder).

        A message counts for the step its job id names (``"<job>#<step>"``): one that
        arrives early, during the step before, counts for its own step.
        """
        _, _, number = str(getattr(entry.message, "job_id", "")).rpartition("#")
        step = int(number) if number.isdigit() else entry.step
        traffic = self._traffic.setdefault(step, _Traffic())
        kind = getattr(entry.message, "kind", None)
        name = str(getattr(kind, "name", kind)) if kind is not None else "UNKNOWN"
        counts = traffic.kinds.setdefault(name, [0, 0, 0, 0])
        size = len(entry.frame)
        if entry.direction == "sent":
            traffic.sent += size
            counts[0] += 1
            counts[1] += size
        else:
            traffic.received += size
            counts[2] += 1
            counts[3] += size
        traffic.peers.add(entry.peer)

    def _fields(self, *, epoch: bool) -> dict[str, Any]:
        assert self._step is not None, "begin_step() first"
        traffic = self._traffic.setdefault(self._step, _Traffic())
        sent, received = traffic.sent, traffic.received
        if epoch:  # since the previous epoch line of the step
            sent, received = sent - self._epoch_sent, received - self._epoch_received
            self._epoch_sent, self._epoch_received = traffic.sent, traffic.received
        return {
            "step": self._step,
            "type": self._type,
            "rows": self._rows,
            "participants": sorted({self.party, *traffic.peers}),
            "bytes_sent": sent,
            "bytes_received": received,
        }

    def epoch(self, epoch: int) -> None:
        """Write the line of training epoch ``epoch`` (from 0) of the current step."""
        self.append("epoch", {**self._fields(epoch=True), "epoch": epoch})
        self._last_epoch = epoch

    def finish_step(self, model: Path | None = None, *, epochs: object = None) -> None:
        """Write the line of the current step.

        Parameters
        ----------
        model : pathlib.Path, optional
            The model file the step wrote (its SHA-256 is the line's ``model_sha256``).
        epochs : int, optional
            The epochs the step trained in all: the last one, which no checkpoint
            follows, gets its epoch line here (with the traffic since the one before).
        """
        trained = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else 0
        if self._last_epoch < trained - 1:
            self.epoch(trained - 1)
        fields = self._fields(epoch=False)
        traffic = self._traffic.get(self._step if self._step is not None else -1, _Traffic())
        fields["messages"] = {name: list(counts) for name, counts in sorted(traffic.kinds.items())}
        if model is not None:
            fields["model_sha256"] = file_sha256(model)
        self.append("step", fields)
        self._traffic.pop(self._step if self._step is not None else -1, None)
        self._step = None

    def keeping(self, store: _CheckpointSaver) -> Callable[[Role], None]:
        """A ``Session.run`` ``after_each`` that saves each checkpoint, then logs its epoch."""

        def keep(role: Role) -> None:
            checkpoint = role.take_checkpoint()
            if checkpoint is not None:
                store.save(checkpoint)
                self.epoch(checkpoint.epoch)

        return keep

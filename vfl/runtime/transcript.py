"""A party's transcript: every message it sent or received, as the runner saw it.

A :class:`~vfl.runtime.runner.Session` given a ``recorder`` calls it once per message, after
encoding (sent) or after decoding and validation (received), with a
:class:`TranscriptEntry`.  :class:`TranscriptRecorder` keeps the entries in memory
(for audits in tests) and, with ``path``, appends each as one JSON line (metadata,
the frame's SHA-256 and the frame itself in base64) for an external reviewer:
``vfl run --transcript FILE``.  A transcript holds only what crossed the wire, which
this party has seen anyway; it never holds keys or this party's data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from protocols.messages import Message

__all__ = ["TranscriptEntry", "TranscriptRecorder", "read_transcript"]


@dataclass(frozen=True)
class TranscriptEntry:
    """One message as one party saw it.

    Attributes
    ----------
    direction : {"sent", "received"}
    party : str
        The party that recorded it.
    peer : str
        The receiver (sent) or the authenticated sender (received).
    step : int
        The job step the runner was in.
    frame : bytes
        The encoded message exactly as on the wire.
    message : Message
        The decoded message.
    """

    direction: str
    party: str
    peer: str
    step: int
    frame: bytes
    message: Message

    def to_json(self) -> dict[str, object]:
        """Metadata, digest and frame (base64) as a JSON-ready dictionary."""
        return {
            "direction": self.direction,
            "party": self.party,
            "peer": self.peer,
            "step": self.step,
            "job_id": self.message.job_id,
            "kind": self.message.kind.name,
            "round": self.message.round,
            "batch": self.message.batch,
            "bytes": len(self.frame),
            "sha256": hashlib.sha256(self.frame).hexdigest(),
            "frame": base64.b64encode(self.frame).decode("ascii"),
        }


class TranscriptRecorder:
    """Collects :class:`TranscriptEntry` objects; optionally appends them to a file.

    Parameters
    ----------
    path : str or Path, optional
        A JSON-lines file to append to (created, with its folder, if missing).
    keep : bool, default True
        Keep the entries in :attr:`entries` (turn off for long runs recorded to file).

    Examples
    --------
    >>> recorder = TranscriptRecorder()
    >>> len(recorder.entries)
    0
    """

    def __init__(self, path: str | Path | None = None, *, keep: bool = True) -> None:
        self.entries: list[TranscriptEntry] = []
        self.path = Path(path) if path is not None else None
        self._keep = keep
        self._lock = threading.Lock()
        self._stream: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")

    def __call__(self, entry: TranscriptEntry) -> None:
        """Record one entry (thread-safe: simulated parties share a recorder)."""
        with self._lock:
            if self._keep:
                self.entries.append(entry)
            if self._stream is not None:
                self._stream.write(json.dumps(entry.to_json()) + "\n")
                self._stream.flush()

    def close(self) -> None:
        """Close the file, if any."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    def __enter__(self) -> TranscriptRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_transcript(path: str | Path) -> Iterator[dict[str, object]]:
    """The JSON lines of a transcript file, with ``frame`` decoded back to bytes.

    Raises
    ------
    ValueError
        If a line is not a transcript entry or its frame does not match its digest.
    """
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("frame"), str):
                raise ValueError(f"{path}:{number}: not a transcript entry")
            frame = base64.b64decode(entry["frame"], validate=True)
            if hashlib.sha256(frame).hexdigest() != entry.get("sha256"):
                raise ValueError(f"{path}:{number}: the frame does not match its digest")
            entry["frame"] = frame
            yield entry

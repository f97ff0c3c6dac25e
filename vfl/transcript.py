"""``vfl.transcript``, a documented path: the code lives in :mod:`vfl.runtime.transcript`."""

from vfl.runtime.transcript import (
    TranscriptEntry,
    TranscriptRecorder,
    read_transcript,
)

__all__ = [
    "TranscriptEntry",
    "TranscriptRecorder",
    "read_transcript",
]

"""The runner's transcript recorder: every message, both ends, exactly as on the wire."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from tests.support.job_files import with_test_keys
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.runtime import codec
from vfl.runtime.transcript import TranscriptRecorder, read_transcript

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_message_is_recorded_once_by_each_end(tmp_path: Path) -> None:
    folder = tmp_path / "psi"
    shutil.copytree(EXAMPLES / "psi", folder, ignore=shutil.ignore_patterns("certs", "output"))
    with TranscriptRecorder(tmp_path / "t.jsonl") as recorder:
        simulate_job(with_test_keys(load_job(folder / "job.toml")), recorder=recorder)
    entries = recorder.entries
    sent = Counter((e.party, e.peer, e.frame) for e in entries if e.direction == "sent")
    received = Counter((e.peer, e.party, e.frame) for e in entries if e.direction == "received")
    assert sent and sent == received  # each frame: one send, one receipt, same bytes
    for entry in entries:
        sender = entry.party if entry.direction == "sent" else entry.peer
        assert entry.message.sender == sender and entry.step == 0
        assert codec.encode(entry.message) == entry.frame
    lines = list(read_transcript(tmp_path / "t.jsonl"))
    assert [line["frame"] for line in lines] == [e.frame for e in entries]
    assert {line["kind"] for line in lines} == {e.message.kind.name for e in entries}

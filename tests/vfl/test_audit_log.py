"""The audit log: its hash chain, appending across runs, and what `vfl audit verify` finds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from protocols.messages import Abort, LrDecision, Message
from vfl.cli import main
from vfl.exceptions import DataError
from vfl.jobs.audit_log import AUDIT_LOG_NAME, AuditLog, genesis, verify_log
from vfl.runtime.transcript import TranscriptEntry

KEYS = {"event", "job", "line", "party", "prev", "time", "step", "type", "rows"}
KEYS |= {"participants", "bytes_sent", "bytes_received"}


def _entry(
    direction: str, peer: str, step: int, size: int, *, decision: bool = False
) -> TranscriptEntry:
    """A real message of step ``step`` (``job-1#<step>``), its frame ``size`` bytes long.

    The log reads only the message's job id and kind and the frame's length.
    """
    sender, receiver = ("bank-a", peer) if direction == "sent" else (peer, "bank-a")
    header = {"job_id": f"job-1#{step}", "sender": sender, "receiver": receiver}
    message: Message = (
        LrDecision(**header, stop=False, best_epoch=0)
        if decision
        else Abort(**header, reason="test")
    )
    return TranscriptEntry(direction, "bank-a", peer, step, b"\0" * size, message)


class _Store:
    def __init__(self) -> None:
        self.saved: list[int] = []

    def save(self, checkpoint: _Checkpoint) -> Path:
        self.saved.append(checkpoint.epoch)
        return Path("unused")


class _Checkpoint:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch}


class _Role:
    """Hands out a checkpoint once, as training roles do after an epoch."""

    def __init__(self) -> None:
        self.pending: _Checkpoint | None = None

    def take_checkpoint(self) -> _Checkpoint | None:
        checkpoint, self.pending = self.pending, None
        return checkpoint


def _write_job_log(folder: Path) -> Path:
    """A psi step, then two epochs and the end of a training step, with known traffic."""
    path = folder / "bank-a" / AUDIT_LOG_NAME
    log = AuditLog(path, "job-1", "bank-a")
    log.begin_step(0, "psi", rows=20)
    log.count(_entry("sent", "bank-b", 0, 100))
    log.count(_entry("received", "bank-b", 0, 70))
    log.count(_entry("received", "arbiter", 1, 9))  # early: counts for step 1
    log.finish_step()
    store, role = _Store(), _Role()
    keep = log.keeping(store)
    log.begin_step(1, "hetero_lr", rows=12)
    log.count(_entry("sent", "bank-b", 1, 30))
    role.pending = _Checkpoint(0)
    keep(role)  # type: ignore[arg-type]
    keep(role)  # type: ignore[arg-type]  # nothing new: no line
    log.count(_entry("sent", "arbiter", 1, 5))
    log.count(_entry("received", "bank-b", 1, 7))
    model = folder / "bank-a" / "model.json"
    model.write_text('{"weights": [0.5]}')
    log.finish_step(model, epochs=2)  # the last epoch takes no checkpoint
    assert store.saved == [0]
    return path


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_chain_by_hash_and_count_each_steps_traffic(tmp_path: Path) -> None:
    path = _write_job_log(tmp_path)
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b""  # every line ends with a newline
    records = _records(path)
    assert [(r["event"], r["step"], r.get("epoch")) for r in records] == [
        ("step", 0, None),
        ("epoch", 1, 0),
        ("epoch", 1, 1),
        ("step", 1, None),
    ]
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    expected_prev = [genesis("job-1", "bank-a")]
    expected_prev += [hashlib.sha256(line).hexdigest() for line in raw[:3]]
    assert [r["prev"] for r in records] == expected_prev
    assert genesis("job-1", "bank-a") not in {
        genesis("job-1", "bank-b"),
        genesis("job-2", "bank-a"),
    }
    traffic = [(r["bytes_sent"], r["bytes_received"], r["participants"]) for r in records]
    assert traffic == [
        (100, 70, ["bank-a", "bank-b"]),
        (30, 9, ["arbiter", "bank-a", "bank-b"]),  # epoch 0: the early message too
        (5, 7, ["arbiter", "bank-a", "bank-b"]),  # epoch 1: since epoch 0's line
        (35, 16, ["arbiter", "bank-a", "bank-b"]),  # the whole step
    ]
    assert [r["rows"] for r in records] == [20, 12, 12, 12]
    model_hash = hashlib.sha256(b'{"weights": [0.5]}').hexdigest()
    assert records[3]["model_sha256"] == model_hash and "model_sha256" not in records[0]
    assert all(set(r) - {"epoch", "model_sha256", "messages"} == KEYS for r in records)
    assert all(str(r["time"]).endswith("Z") for r in records)
    summary = verify_log(path)
    assert (summary.lines, summary.steps, summary.epochs) == (4, 2, 2)
    assert summary.head == hashlib.sha256(raw[3]).hexdigest()


def test_a_new_run_continues_the_chain_without_rewriting(tmp_path: Path) -> None:
    path = _write_job_log(tmp_path)
    before = path.read_bytes()
    head = verify_log(path).head
    log = AuditLog(path, "job-1", "bank-a")
    assert (log.lines, log.head) == (4, head)
    log.begin_step(0, "psi", rows=20)
    log.finish_step()
    assert path.read_bytes().startswith(before)
    assert _records(path)[4]["prev"] == head and _records(path)[4]["line"] == 5
    assert verify_log(path).lines == 5


def test_a_line_cut_short_by_a_crash_is_dropped_on_the_next_run(tmp_path: Path) -> None:
    path = _write_job_log(tmp_path)
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"bytes_received":1')
    with pytest.raises(DataError, match="line 5: unfinished"):
        verify_log(path)
    AuditLog(path, "job-1", "bank-a").append("step", {"step": 2, "type": "score", "rows": 1})
    assert path.read_bytes().startswith(intact)
    assert verify_log(path).lines == 5


def test_another_jobs_or_a_broken_log_is_not_extended(tmp_path: Path) -> None:
    path = _write_job_log(tmp_path)
    with pytest.raises(DataError, match="the audit log of job 'job-1', party 'bank-a'"):
        AuditLog(path, "job-1", "bank-b")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[0], *lines[2:]]))
    broken = path.read_bytes()
    with pytest.raises(DataError, match=r"line 2: .*move it aside"):
        AuditLog(path, "job-1", "bank-a")
    assert path.read_bytes() == broken


def _edit(lines: list[str]) -> list[str]:
    record = json.loads(lines[1])
    record["rows"] = 13
    return [lines[0], json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n", *lines[2:]]


def _forge(lines: list[str]) -> list[str]:
    """Edit line 2 and give it a valid prev: line 3 still names the old line 2."""
    record = json.loads(lines[1])
    record["bytes_sent"] = 0
    record["prev"] = hashlib.sha256(lines[0].rstrip("\n").encode()).hexdigest()
    return [lines[0], json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n", *lines[2:]]


def _cut_in_the_middle(lines: list[str]) -> list[str]:
    return [lines[0], lines[1][:40], *lines[2:]]  # line 2 cut short (joined with line 3)


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (_edit, "line 3: prev does not match the hash of line 2"),
        (lambda lines: [lines[0], *lines[2:]], "line 2: prev does not match the hash of line 1"),
        (lambda lines: [lines[0], lines[2], lines[1], lines[3]], "line 2: prev does not match"),
        (lambda lines: lines[1:], "line 1: prev is not the genesis value"),
        (_cut_in_the_middle, "line 2: not a JSON object"),
        (_forge, "line 3: prev does not match the hash of line 2"),
        (lambda lines: [*lines, lines[3]], "line 5: prev does not match the hash of line 4"),
    ],
    ids=["edit", "delete", "reorder", "delete-first", "cut", "forged-line", "duplicate"],
)
def test_verify_finds_the_tampered_line(tmp_path: Path, tamper: object, match: str) -> None:
    path = _write_job_log(tmp_path)
    assert callable(tamper)
    path.write_text("".join(tamper(path.read_text().splitlines(keepends=True))))
    with pytest.raises(DataError, match=match):
        verify_log(path)


def _rechain(lines: list[str]) -> list[str]:
    """What a forger who rewrites every later hash writes: a valid chain of edited lines."""
    out: list[str] = []
    previous = genesis("job-1", "bank-a")
    for line in lines:
        record = json.loads(line)
        record["prev"] = previous
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        previous = hashlib.sha256(text.encode()).hexdigest()
        out.append(text + "\n")
    return out


def test_a_rewritten_chain_or_removed_last_lines_need_the_pinned_hash(tmp_path: Path) -> None:
    path = _write_job_log(tmp_path)
    pinned = verify_log(path).head
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(_rechain(_edit(lines))))
    assert verify_log(path).lines == 4  # the chain alone cannot tell
    with pytest.raises(DataError, match=r"line 4 \(the last\) has hash .* not the pinned"):
        verify_log(path, last=pinned)
    path.write_text("".join(lines[:3]))  # the last line removed
    assert verify_log(path).lines == 3
    with pytest.raises(DataError, match=r"line 3 \(the last\)"):
        verify_log(path, last=pinned)
    path.write_text("".join(lines))
    assert verify_log(path, last=pinned.upper()).head == pinned


def test_vfl_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_job_log(tmp_path)
    head = verify_log(path).head
    assert main(["audit", "verify", str(path), "--last", head]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"{path}: intact, 4 lines (2 steps, 2 epochs) of job 'job-1', party 'bank-a'; "
        f"last line {head}\n"
    )
    assert err == ""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([lines[0], lines[2], lines[1], lines[3]]))
    assert main(["audit", "verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"vfl: error: {path}: line 2: prev does not match the hash of line 1")
    assert err.count("\n") == 1
    assert main(["audit", "verify", str(tmp_path / "missing.jsonl")]) == 1
    assert "cannot read the audit log" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["audit", "verify", str(empty)]) == 1
    assert "empty" in capsys.readouterr().err


def test_a_step_line_counts_messages_and_bytes_per_kind(tmp_path: Path) -> None:
    path = tmp_path / "bank-a" / AUDIT_LOG_NAME
    log = AuditLog(path, "job-1", "bank-a")
    log.begin_step(1, "hetero_lr", rows=12)
    log.count(_entry("sent", "bank-b", 1, 30))
    log.count(_entry("sent", "arbiter", 1, 11, decision=True))
    log.count(_entry("sent", "bank-b", 1, 4, decision=True))
    log.count(_entry("received", "bank-b", 1, 7))
    log.count(_entry("received", "arbiter", 1, 13, decision=True))
    log.epoch(0)
    log.finish_step()
    epoch, step = _records(path)
    assert "messages" not in epoch  # per kind on step lines only
    assert step["messages"] == {"ABORT": [1, 30, 1, 7], "LR_DECISION": [2, 15, 1, 13]}
    kinds = step["messages"]
    assert isinstance(kinds, dict)
    assert sum(counts[1] for counts in kinds.values()) == step["bytes_sent"] == 45
    assert sum(counts[3] for counts in kinds.values()) == step["bytes_received"] == 20
    assert "test" not in path.read_text()  # kinds and sizes, never a payload
    assert verify_log(path).lines == 2


def test_an_old_line_without_messages_still_verifies_and_is_extended(tmp_path: Path) -> None:
    path = tmp_path / "bank-a" / AUDIT_LOG_NAME
    path.parent.mkdir()
    old = {"step": 0, "type": "psi", "rows": 20, "participants": ["bank-a", "bank-b"]}
    old |= {"bytes_sent": 100, "bytes_received": 70, "event": "step", "job": "job-1"}
    old |= {"party": "bank-a", "line": 1, "prev": genesis("job-1", "bank-a")}
    old["time"] = "2026-12-01T10:00:00.000000Z"
    raw = json.dumps(old, sort_keys=True, separators=(",", ":"))
    path.write_text(raw + "\n")
    assert verify_log(path).lines == 1
    log = AuditLog(path, "job-1", "bank-a")
    log.begin_step(1, "score", rows=20)
    log.count(_entry("sent", "bank-b", 1, 9))
    log.finish_step()
    assert verify_log(path).lines == 2
    assert _records(path)[1]["messages"] == {"ABORT": [1, 9, 0, 0]}

"""What ``vfl board`` shows: the state of the jobs under a folder.

It is read from the files the parties write as they run.

Every value comes from a party's own outputs, read as JSON (never pickle) and copied
field by field from an allow-list, so the page can show only what the party's logs
may show: names, counts, losses, metrics, hashes and times, never a data value, a
label, an id or a key.  The sources, per party folder ``<output_dir>/<party>/``:

- ``step-<i>-<type>.json``: a finished step's summary (rows, epochs, losses, the
  stop reason, an ``evaluate`` step's metrics and report folder);
- ``checkpoints/run.json``: present while the party's run is unfinished, with the
  steps it has finished; ``checkpoints/step-<i>-epoch-<k>.json``: the training
  history so far of the step being trained;
- ``audit.jsonl`` (:mod:`vfl.jobs.audit_log`): per step and epoch, the participants
  and the bytes exchanged, with times, and per step the messages and bytes per
  message kind; its chain is checked with
  :func:`~vfl.jobs.audit_log.verify_log`;
- ``models/v*.json`` (:mod:`vfl.tables.model_registry`): the model versions;
- ``peers.json`` (written by :class:`~vfl.runtime.runner.Session`): each peer's
  connection state (``connecting``, ``connected``, ``closed``, ``lost``,
  ``aborted``) and since when; without it the peers are ``unknown``.

A job file (``--config``) adds what the folders do not say: the list of steps (so
steps not yet started show as waiting) and each training step's ``max_iter`` and
convergence rule, which give the progress and the ETA.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from vfl.exceptions import VflError
from vfl.jobs.audit_log import AUDIT_LOG_NAME, verify_log
from vfl.runtime.runner import PEERS_FILE_NAME
from vfl.tables.model_registry import list_versions

__all__ = ["StepPlan", "collect_state", "find_party_folders", "report_file"]

_SUMMARY = re.compile(r"step-(0|[1-9][0-9]{0,8})-([a-z_]+)\.json")
_CHECKPOINT = re.compile(r"step-(0|[1-9][0-9]{0,8})-epoch-(0|[1-9][0-9]{0,8})\.json")
_KIND = re.compile(r"[A-Z][A-Z0-9_]{0,47}")
_REPORT_FILE = re.compile(r"step-(0|[1-9][0-9]{0,8})-report/[A-Za-z0-9_.-]+\.(html|png)")
# step-<i>-model.json is a model, not a summary
_NOT_SUMMARIES = {"model"}
# summary fields the page may show: counts, names, losses, metrics, times
_SUMMARY_FIELDS = (
    "role",
    "mode",
    "method",
    "rows",
    "input_rows",
    "intersection_size",
    "training_rows",
    "holdout_rows",
    "features",
    "epochs",
    "stop_reason",
    "final_loss",
    "key_length",
    "seconds",
)
_METRIC_FIELDS = (
    "auc",
    "ks",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "lift",
    "rows",
    "positives",
)
_AUDIT_FIELDS = (
    "line",
    "event",
    "step",
    "type",
    "epoch",
    "rows",
    "participants",
    "bytes_sent",
    "bytes_received",
    "model_sha256",
    "time",
)
_PEER_STATES = ("connecting", "connected", "closed", "lost", "aborted")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STALLED_SECONDS = 120.0
"""A running party with no file changed for this long is shown as possibly stopped."""

StepPlan = dict[str, Any]
"""A step of the job file: ``{"index", "type", "max_iter", "convergence"}``."""


def _read_json(path: Path) -> Any:
    """A JSON document, or None when the file is missing, half-written or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _pick(document: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The allowed fields of ``document`` whose values are numbers or short strings."""
    picked: dict[str, Any] = {}
    for key in fields:
        value = document.get(key)
        if (isinstance(value, str) and len(value) <= 64) or _number(value) is not None:
            picked[key] = value
    return picked


def _messages(value: Any) -> dict[str, list[int]] | None:
    """An audit step line's ``messages``: kind names to four counts, nothing else.

    ``{kind: [sent count, sent bytes, received count, received bytes]}``; a kind whose
    name is not an upper-case message kind name or whose counts are not four whole
    numbers is left out.
    """
    if not isinstance(value, dict):
        return None
    kinds: dict[str, list[int]] = {}
    for name, counts in value.items():
        if not isinstance(name, str) or not _KIND.fullmatch(name):
            continue
        if not isinstance(counts, list) or len(counts) != 4:
            continue
        if all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            kinds[name] = [int(c) for c in counts]
    return kinds


def _peers(folder: Path) -> dict[str, Any]:
    """The peers' connection state from ``peers.json``: names, states and times only."""
    document = _read_json(folder / PEERS_FILE_NAME)
    if not isinstance(document, dict) or not isinstance(document.get("peers"), dict):
        return {"known": False, "peers": []}
    peers = []
    for name, entry in sorted(document["peers"].items()):
        if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(entry, dict):
            continue
        state = entry.get("state")
        moment = entry.get("time")
        peers.append(
            {
                "name": name,
                "state": state if state in _PEER_STATES else "unknown",
                "time": moment if _timestamp(moment) is not None else None,
            }
        )
    return {"known": True, "peers": peers}


def _history(entries: Any) -> list[dict[str, Any]]:
    """Per-epoch loss and validation metrics from a summary's or checkpoint's history."""
    if not isinstance(entries, list):
        return []
    history = []
    for entry in entries:
        if not isinstance(entry, dict) or _number(entry.get("epoch")) is None:
            continue
        point: dict[str, Any] = {"epoch": int(entry["epoch"])}
        for key, value in entry.items():
            wanted = key in ("loss", "weight_change") or key.startswith("validation_")
            if wanted and _number(value) is not None:
                point[key] = value
        history.append(point)
    return history


def _is_party_folder(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    if (folder / AUDIT_LOG_NAME).is_file() or (folder / "checkpoints" / "run.json").is_file():
        return True
    if (folder / PEERS_FILE_NAME).is_file():  # connecting, nothing else written yet
        return True
    return any(_SUMMARY.fullmatch(path.name) for path in folder.glob("step-*.json"))


def find_party_folders(root: Path) -> list[Path]:
    """The party folders at ``root``.

    ``root`` itself, its subfolders (an output folder) or their subfolders (a folder of
    output folders), whichever level holds any.
    """
    if not root.is_dir():
        return []  # the job's output folder, not made yet
    if _is_party_folder(root):
        return [root]
    children = sorted(path for path in root.iterdir() if path.is_dir())
    parties = [path for path in children if _is_party_folder(path)]
    if parties:
        return parties
    return [
        path for child in children for path in sorted(child.iterdir()) if _is_party_folder(path)
    ]


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _audit(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The audit lines of the party's latest run (allowed fields) and the chain's check."""
    path = folder / AUDIT_LOG_NAME
    if not path.is_file():
        return [], {"present": False}
    try:
        summary = verify_log(path)
        check: dict[str, Any] = {
            "present": True,
            "intact": True,
            "lines": summary.lines,
            "head": summary.head,
        }
    except (VflError, OSError) as error:
        check = {"present": True, "intact": False, "problem": str(error).replace(str(path), "")}
    lines: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return [], check
    previous: dict[str, Any] | None = None
    for raw in text.splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            continue
        line = {key: record[key] for key in _AUDIT_FIELDS if key in record}
        if isinstance(line.get("participants"), list):
            line["participants"] = [str(name) for name in line["participants"]]
        kinds = _messages(record.get("messages"))
        if kinds is not None:
            line["messages"] = kinds
        if previous is not None and (
            line["step"] < previous["step"]
            or (line["step"] == previous["step"] and previous.get("event") == "step")
        ):
            lines = []  # a new run of the job starts here
        lines.append(line)
        previous = line
    return lines, check


def _job_id(folder: Path, run: Any) -> str | None:
    if isinstance(run, dict) and isinstance(run.get("job"), str):
        return str(run["job"])
    for path in sorted(folder.glob("step-*.json")):
        document = _read_json(path)
        if isinstance(document, dict) and isinstance(document.get("job"), str):
            return str(document["job"])
    return None


def _audit_job(folder: Path) -> str | None:
    path = folder / AUDIT_LOG_NAME
    try:
        with path.open(encoding="utf-8") as file:
            first = json.loads(file.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        first = None
    if isinstance(first, dict) and "job" in first:
        return str(first["job"])
    document = _read_json(folder / PEERS_FILE_NAME)
    if isinstance(document, dict) and isinstance(document.get("job"), str):
        return str(document["job"])
    return None


def _last_change(folder: Path) -> float:
    latest = 0.0
    for path in [folder, *folder.glob("*"), *folder.glob("checkpoints/*")]:
        try:
            latest = max(latest, path.stat().st_mtime)
        except OSError:
            continue
    return latest


def _party(folder: Path, root: Path, plan: list[StepPlan] | None, now: float) -> dict[str, Any]:
    """One party's state (see the module's docstring)."""
    run = _read_json(folder / "checkpoints" / "run.json")
    running = isinstance(run, dict)
    finished = {int(i) for i in run.get("finished", []) if isinstance(i, int)} if running else set()
    audit, audit_check = _audit(folder)
    job = _job_id(folder, run) or _audit_job(folder)
    steps: dict[int, dict[str, Any]] = {}
    for item in plan or []:
        steps[item["index"]] = {"index": item["index"], "type": item["type"], "state": "waiting"}
    for path in folder.glob("step-*.json"):
        match = _SUMMARY.fullmatch(path.name)
        if not match or match.group(2) in _NOT_SUMMARIES:
            continue
        index = int(match.group(1))
        document = _read_json(path)
        if not isinstance(document, dict):
            continue
        step = steps.setdefault(index, {"index": index, "state": "waiting"})
        step["type"] = match.group(2)
        if running and index not in finished:
            continue  # a summary of an earlier run: this run has not redone the step yet
        step["state"] = "done"
        step["summary"] = _pick(document, _SUMMARY_FIELDS)
        step["history"] = _history(document.get("history"))
        if isinstance(document.get("metrics"), dict):
            step["metrics"] = _pick(document["metrics"], _METRIC_FIELDS)
        files = document.get("report_files")
        report_dir = document.get("report_dir")
        if isinstance(files, dict) and isinstance(report_dir, str):
            relative = f"{report_dir}/{files.get('html')}"
            if _REPORT_FILE.fullmatch(relative) and (folder / relative).is_file():
                step["report"] = "/files/" + (folder / relative).relative_to(root).as_posix()
    for index in finished:
        steps.setdefault(index, {"index": index, "type": None})["state"] = "done"
    # the step in training: its latest checkpoint holds the history so far
    checkpoints: dict[int, tuple[int, Path]] = {}
    for path in (folder / "checkpoints").glob("step-*-epoch-*.json"):
        match = _CHECKPOINT.fullmatch(path.name)
        if match:
            index, epoch = int(match.group(1)), int(match.group(2))
            if index not in checkpoints or checkpoints[index][0] < epoch:
                checkpoints[index] = (epoch, path)
    if running:
        pending = sorted(set(steps) - finished) or [max(finished, default=-1) + 1]
        current = min(pending)
        step = steps.setdefault(current, {"index": current, "type": None})
        step["state"] = "running"
        if current in checkpoints:
            document = _read_json(checkpoints[current][1])
            state = document.get("state") if isinstance(document, dict) else None
            if isinstance(state, dict):
                step["type"] = step.get("type") or "hetero_lr"
                step["history"] = _history(state.get("history"))
                step["summary"] = _pick(state, ("role",))
    # per step: bytes and peers from the audit lines of this run
    for line in audit:
        step = steps.setdefault(line["step"], {"index": line["step"], "state": "done"})
        step["type"] = step.get("type") or line.get("type")
        if line.get("event") == "step":
            step["participants"] = line.get("participants", [])
            step["bytes_sent"] = line.get("bytes_sent")
            step["bytes_received"] = line.get("bytes_received")
            step["rows"] = line.get("rows")
            if "messages" in line:
                step["messages"] = line["messages"]
            if "model_sha256" in line:
                step["model_sha256"] = line["model_sha256"]
    for step in steps.values():
        if step.get("state") != "running":
            continue
        epochs = [line for line in audit if line["step"] == step["index"]]
        if epochs:
            step["participants"] = epochs[-1].get("participants", [])
            step["bytes_sent"] = sum(int(line.get("bytes_sent") or 0) for line in epochs)
            step["bytes_received"] = sum(int(line.get("bytes_received") or 0) for line in epochs)
        step["progress"] = _progress(step, audit, plan)
    try:
        versions = [
            {"number": v.number, "name": v.name, "created": v.created, "hash": v.short_hash}
            for v in list_versions(folder / "models")
        ]
    except (VflError, OSError):
        versions = []
    changed = _last_change(folder)
    return {
        "name": folder.name,
        "folder": folder.relative_to(root).as_posix() if folder != root else ".",
        "job": job,
        "state": "running" if running else ("done" if steps else "waiting"),
        "idle_seconds": round(max(0.0, now - changed), 1),
        "stalled": running and now - changed > STALLED_SECONDS,
        "steps": [steps[index] for index in sorted(steps)],
        "audit": audit[-200:],
        "audit_check": audit_check,
        "models": versions,
        "peers": _peers(folder),
    }


def _progress(
    step: dict[str, Any], audit: list[dict[str, Any]], plan: list[StepPlan] | None
) -> dict[str, Any]:
    """Epochs done, the time per epoch so far and the time left.

    The time left is an upper bound when the training may stop before ``max_iter``.
    """
    index = step["index"]
    lines = [line for line in audit if line["step"] == index and line.get("event") == "epoch"]
    history = step.get("history") or []
    done = max(len(lines), len(history))
    progress: dict[str, Any] = {"epochs_done": done}
    planned = next((item for item in plan or [] if item["index"] == index), None)
    max_iter = planned.get("max_iter") if planned else None
    if isinstance(max_iter, int):
        progress["max_iter"] = max_iter
        progress["upper_bound"] = planned is not None and planned.get("convergence") != "max_iter"
    times = [_timestamp(line.get("time")) for line in lines]
    before = [line for line in audit if line["step"] < index]
    start = _timestamp(before[-1].get("time")) if before else None
    stamps = [t for t in [start, *times] if t is not None]
    if len(lines) >= 1 and len(stamps) >= 2:
        per_epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
        progress["seconds_per_epoch"] = round(per_epoch, 3)
        if isinstance(max_iter, int):
            progress["seconds_left"] = round(per_epoch * max(0, max_iter - done), 1)
    return progress


def collect_state(root: Path, plan: list[StepPlan] | None = None) -> dict[str, Any]:
    """The board's JSON state of the jobs under ``root``.

    Parameters
    ----------
    root : pathlib.Path
        A party folder, an output folder (one subfolder per party) or a folder of
        output folders.
    plan : list of StepPlan, optional
        The job file's steps (``vfl board --config``): waiting steps and ``max_iter``.

    Returns
    -------
    dict
        ``{"root", "time", "jobs": [{"job", "parties": [...]}, ...]}``: JSON-ready.
    """
    now = time.time()
    jobs: dict[str, dict[str, Any]] = {}
    for folder in find_party_folders(root):
        party = _party(folder, root, plan, now)
        key = f"{party['job']}\0{folder.parent}"
        job = jobs.setdefault(key, {"job": party["job"], "parties": []})
        job["parties"].append(party)
    return {"root": str(root), "time": now, "jobs": list(jobs.values())}


def report_file(root: Path, relative: str) -> Path | None:
    """The evaluation report file ``relative`` under ``root``, or None.

    Only ``<party folder>/step-<i>-report/<name>.html|.png`` is one: a path outside
    ``root``, through a link, or to any other file gives None.
    """
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in relative or len(parts) < 3:
        return None
    if not _REPORT_FILE.fullmatch("/".join(parts[-2:])):
        return None
    path = root.joinpath(*parts)
    try:
        resolved = path.resolve(strict=True)
        resolved.relative_to(root.resolve())
    except (OSError, ValueError):
        return None
    if not resolved.is_file() or path.is_symlink() or path.parent.is_symlink():
        return None
    if not _is_party_folder(root.joinpath(*parts[:-2])):
        return None
    return resolved

"""Step types are plug-ins: a type registered from this module runs through ``vfl simulate``.

The toy ``row_count`` step is defined and registered here, and nowhere else: every
party tells every other party how many rows it holds (one message each way), then
writes what it heard to a file of its own.  The job loader, the runner, the resume
bookkeeping and the CLI run it without knowing it.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from protocols.messages import Message, SumResult
from protocols.roles import Role
from tests.support.job_files import write_job
from vfl.cli import main
from vfl.exceptions import JobFileError
from vfl.jobs.jobfile import load_job
from vfl.steps import (
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    register,
    step_type,
    step_types,
    unregister,
)
from vfl.steps.base import JobCheck

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RowCountStep:
    """``type = "row_count"``: every party learns every other party's row count."""

    label: str = "rows"

    type = "row_count"


class RowCounter(Role):
    """Sends its row count to every peer; done once it heard every peer's."""

    def __init__(self, party: str, job_id: str, peers: Sequence[str], rows: int) -> None:
        super().__init__(party, job_id)
        self.peers = tuple(peers)
        self.rows = rows
        self.heard: dict[str, int] = {}

    def start(self) -> list[Message]:
        count = np.array([float(self.rows)])
        return [
            SumResult(
                job_id=self.job_id, sender=self.party, receiver=peer, totals=count, contributors=1
            )
            for peer in self.peers
        ]

    def receive(self, message: Message) -> list[Message]:
        if not isinstance(message, SumResult) or message.sender in self.heard:
            raise self._unexpected(message, "counting rows")
        self.heard[message.sender] = int(message.totals[0])
        if len(self.heard) == len(self.peers):
            self._finish(dict(sorted(self.heard.items())))
        return []

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return tuple(peer for peer in self.peers if peer not in self.heard)


class RowCountType(StepType[RowCountStep]):
    name = "row_count"
    output_files = ("counts_file",)

    def parse(self, section: Section, context: LoadContext) -> RowCountStep:
        step = RowCountStep(label=section.take("label", str, "rows"))
        section.finish()
        return step

    def check(self, step: RowCountStep, index: int, job: JobCheck) -> None:
        if len(job.hosts) > 5:
            raise job.error(index, step, "counts rows of five hosts at most")

    def build_role(self, step: RowCountStep, context: StepContext) -> Role | None:
        if context.party.role == "arbiter":
            return None
        peers = [p.name for p in context.job.peers_of(context.party.name) if p.role != "arbiter"]
        return RowCounter(context.party.name, context.job_id, peers, len(context.rows()))

    def output(
        self, step: RowCountStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        path = context.folder / f"step-{context.index}-counts.json"
        path.write_text(json.dumps({step.label: len(context.rows()), "peers": result}))
        return StepOutcome({"counts_file": path.name}, context.table, context.model)


@pytest.fixture()
def row_count() -> Iterator[RowCountType]:
    kind = register(RowCountType())
    try:
        yield kind
    finally:
        unregister(kind.name)


def _job(folder: Path, steps: list[str]) -> Path:
    (folder / "bank-a.csv").write_text("id,y,x\n" + "".join(f"{i},{i % 2},{i}\n" for i in range(6)))
    (folder / "bank-b.csv").write_text("id,z\n" + "".join(f"{i},{i}\n" for i in range(3, 10)))
    return write_job(
        folder,
        job_id="toy-steps",
        parties=[("bank-a", "guest"), ("bank-b", "host")],
        data={
            "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
            "bank-b": '{ file = "bank-b.csv" }',
        },
        steps=steps,
        timeout=10,
    )


def test_a_step_type_registered_here_runs_through_vfl_simulate(
    tmp_path: Path, row_count: RowCountType, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = ["[[steps]]", 'type = "psi"', "", "[[steps]]", 'type = "row_count"', 'label = "n"']
    job = _job(tmp_path, steps)
    assert main(["simulate", "--config", str(job)]) == 0
    capsys.readouterr()
    for party, peer in (("bank-a", "bank-b"), ("bank-b", "bank-a")):
        folder = tmp_path / "output" / party
        counts = json.loads((folder / "step-1-counts.json").read_text())
        assert counts == {"n": 3, "peers": {peer: 3}}  # ids 3, 4, 5 are common
        summary = json.loads((folder / "step-1-row_count.json").read_text())
        assert summary == {
            "job": "toy-steps",
            "step": 1,
            "type": "row_count",
            "party": party,
            "counts_file": "step-1-counts.json",
        }


def test_a_registered_type_is_parsed_checked_and_named_by_the_loader(
    tmp_path: Path, row_count: RowCountType
) -> None:
    assert step_types()[-1] == "row_count" and step_type("row_count") is row_count
    job = load_job(_job(tmp_path, ["[[steps]]", 'type = "row_count"']))
    assert job.steps == (RowCountStep(),)
    with pytest.raises(JobFileError, match=r"steps\[0\]: unknown key\(s\) 'colour'"):
        load_job(_job(tmp_path, ["[[steps]]", 'type = "row_count"', 'colour = "red"']))
    with pytest.raises(ValueError, match="already registered"):
        register(RowCountType())


def test_an_unregistered_type_is_refused_naming_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match=r"steps\[0\]\.type: unknown step type 'row_count'") as e:
        load_job(_job(tmp_path, ["[[steps]]", 'type = "row_count"']))
    assert "'psi', 'secure_sum', 'hetero_lr', 'score'" in str(e.value)
    with pytest.raises(ValueError, match="lowercase letters"):
        register(type("Bad", (RowCountType,), {"name": "Row Count"})())


GENERIC = ["vfl/jobs/jobfile.py", "vfl/jobs/run.py", "vfl/jobs/checkpoint.py"]
STEP_CLASSES = {"HeteroLrStep", "PsiStep", "ScoreStep", "SecureSumStep"}  # re-exported
ROLE_CLASSES = {
    "TrainingParty",
    "LrArbiter",
    "LrGuest",
    "LrHost",
    "ScoreGuest",
    "ScoreHost",
    "SumKeyOwner",
    "SumContributor",
}


@pytest.mark.parametrize("module", GENERIC)
def test_the_loader_runner_and_checkpoints_dispatch_on_no_step_or_role_class(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            assert not named & (STEP_CLASSES | ROLE_CLASSES), f"{module}:{node.lineno}"
        if isinstance(node, ast.ImportFrom):
            imported = {alias.name for alias in node.names}
            assert not imported & ROLE_CLASSES, f"{module}:{node.lineno} imports {imported}"

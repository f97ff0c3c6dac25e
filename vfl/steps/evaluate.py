"""``type = "evaluate"``: score the held-out rows and write the evaluation report (guest).

The rows are those the latest earlier ``split`` step held out (its
``step-<i>-holdout.csv`` on each party); the model is the one the latest earlier
``hetero_lr`` step trained (with its points after a ``scorecard`` step).  The held-out
rows are scored exactly as a ``score`` step scores (the same roles and messages: hosts
send only their partial scores).  The guest then writes ``step-<i>-scores.csv`` and,
into ``step-<i>-report/``, the report of :func:`vfl.evaluation.report.write_report`
(``metrics.json``, ``roc.png``, ``ks.png``, ``report.md``, ``report.html``) plus a
cumulative lift chart ``lift.png``; its summary holds the metrics.  A host's summary
holds only its row count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from vfl.evaluation import metrics
from vfl.evaluation.plots import plot_lift
from vfl.evaluation.report import ModelScores, write_report
from vfl.exceptions import DataError
from vfl.runtime.files import write_text_atomically
from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
)
from vfl.steps.score import ScoreStep, ScoreType
from vfl.steps.split import SplitStep, read_holdout

if TYPE_CHECKING:
    from protocols.roles import Role
    from vfl.tables.datasets import PartyTable

__all__ = ["EvaluateStep", "EvaluateType"]

_SCORING = ScoreStep()  # the score step's roles and outputs, on the held-out rows


def _threshold(value: float) -> str | None:
    return None if math.isfinite(value) and 0 <= value <= 1 else "must be in [0, 1]"


def _fraction(value: float) -> str | None:
    return None if math.isfinite(value) and 0 < value <= 1 else "must be in (0, 1]"


@dataclass(frozen=True)
class EvaluateStep:
    """``type = "evaluate"``: score the held-out rows; the guest writes the report.

    Attributes
    ----------
    threshold : float
        The cut-off for accuracy, precision, recall and F1.
    lift_fraction : float
        The share of top-scored rows of the lift in the metrics table.
    """

    threshold: float = 0.5
    lift_fraction: float = 0.1

    type = "evaluate"


class EvaluateType(StepType[EvaluateStep]):
    """The ``evaluate`` step type."""

    name = "evaluate"
    output_files = ("scores_file",)

    def parse(self, section: Section, context: LoadContext) -> EvaluateStep:
        """See :meth:`StepType.parse`."""
        step = EvaluateStep(
            threshold=float(section.take("threshold", (int, float), 0.5, _threshold)),
            lift_fraction=float(section.take("lift_fraction", (int, float), 0.1, _fraction)),
        )
        section.finish()
        return step

    def check(self, step: EvaluateStep, index: int, job: JobCheck) -> None:
        """An earlier ``split`` step, then a ``hetero_lr`` step after it."""
        job.require_aligned(index, step)
        if job.held_out is None:
            raise job.error(
                index,
                step,
                "no held-out rows to evaluate on: put a split step (e.g. holdout = 0.3) "
                "after the psi step, then a hetero_lr step, before it",
            )
        if not job.trained:
            raise job.error(
                index,
                step,
                "no model trained on the training rows: put a hetero_lr step after the "
                "split step, before it",
            )

    def build_role(self, step: EvaluateStep, context: StepContext) -> Role | None:
        """The score step's role on the held-out rows (the arbiter takes no part)."""
        if context.party.role == "arbiter":
            return None
        held_out = _held_out(context)
        if context.party.role == "guest":
            labels = held_out.rows().labels
            if labels is None or len(np.unique(labels)) != 2:
                raise DataError(
                    f"party {context.party.name!r}: the held-out rows of the evaluate step "
                    f"{context.index} hold one class only; hold out more rows (holdout) "
                    "or change the split's salt"
                )
        return ScoreType().build_role(_SCORING, held_out)

    def output(
        self, step: EvaluateStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """The scores and, on the guest, the report; the next steps see the training rows."""
        held_out = _held_out(context)
        scored = ScoreType().output(_SCORING, held_out, role, result, seconds)
        document: dict[str, Any] = {
            "role": context.party.role,
            "rows": scored.document["rows"],
            "split_step": _split_index(context),
            "scores_file": scored.document["scores_file"],
        }
        if context.party.role == "guest":
            labels = held_out.rows().labels
            assert labels is not None  # checked by build_role
            probabilities = np.asarray(result, dtype=np.float64)
            document.update(_report(step, context, labels, probabilities))
        document["seconds"] = round(seconds, 3)
        return StepOutcome(document, context.table, context.model)


def _split_index(context: StepContext) -> int:
    """The latest ``split`` step before this one."""
    earlier = [
        index
        for index, step in enumerate(context.job.steps[: context.index])
        if isinstance(step, SplitStep)
    ]
    if not earlier:  # the job file's check refuses this
        raise DataError(f"steps[{context.index}] (evaluate): no earlier split step")
    return earlier[-1]


def _held_out(context: StepContext) -> StepContext:
    """The step context on the held-out rows of the latest earlier ``split`` step."""
    table: PartyTable = read_holdout(context, _split_index(context))
    return StepContext(
        context.job, context.index, context.party, table, context.model, context.resume
    )


def _report(
    step: EvaluateStep,
    context: StepContext,
    labels: npt.NDArray[np.int64],
    probabilities: npt.NDArray[np.float64],
) -> dict[str, Any]:
    """Write ``step-<i>-report/``; the summary's ``metrics`` and ``report`` entries."""
    folder = context.folder / f"step-{context.index}-report"
    model = ModelScores(
        "federated",
        "the job's model on the held-out rows (every party's features)",
        labels,
        probabilities,
    )
    facts = [
        ("job", context.job.job_id),
        ("step", str(context.index)),
        ("held-out rows", str(len(labels))),
        ("positives", str(int(np.count_nonzero(labels == 1)))),
        ("split step", str(_split_index(context))),
    ]
    report = write_report(
        folder,
        [model],
        facts=facts,
        title=f"Evaluation of job {context.job.job_id} on its held-out rows",
        threshold=step.threshold,
    )
    found = dict(report.metrics["federated"])
    if step.lift_fraction != 0.1:
        found["lift"] = metrics.lift(labels, probabilities, fraction=step.lift_fraction)
    lift_png = plot_lift(labels, probabilities, folder / "lift.png")
    _add_lift_chart(report.files["html"], report.files["markdown"], lift_png.name)
    files = {key: path.name for key, path in report.files.items()}
    files["lift"] = lift_png.name
    return {
        "metrics": found,
        "lift_fraction": step.lift_fraction,
        "threshold": step.threshold,
        "report_dir": folder.name,
        "report_files": dict(sorted(files.items())),
    }


def _add_lift_chart(html_path: Path, markdown_path: Path, image: str) -> None:
    """Show the lift chart in ``report.html`` and ``report.md`` (after the other charts)."""
    caption = "Cumulative lift on the held-out rows"
    page = html_path.read_text(encoding="utf-8")
    figure = f'<figure><img src="{image}" alt="{caption}"></figure>\n'
    write_text_atomically(html_path, page.replace("</body></html>", figure + "</body></html>", 1))
    text = markdown_path.read_text(encoding="utf-8")
    write_text_atomically(markdown_path, text + f"\n## {caption}\n\n![{caption}]({image})\n")

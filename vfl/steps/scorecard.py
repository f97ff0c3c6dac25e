"""``type = "scorecard"``: each party turns its weights on WOE columns into points per bin.

After ``binning`` and ``hetero_lr`` steps, each party builds the points of its own
selected features from its own weights and WOE values, alone (no message is
exchanged): a bin's points are ``-factor * w * (woe - mean) / scale`` (the weight
on the WOE column, the party's scaling folded in), and the guest also holds the base
points ``offset - factor * intercept``.  ``factor = pdo / ln 2`` and ``offset =
base_score - factor * ln(base_odds)`` (the points to double the odds, and the score
at the given odds, good:bad), or FATE's form ``offset`` and ``factor`` directly.
A customer's score is the sum of every party's points for its bins, which is
``offset - factor * log-odds`` of the model: a later ``score`` step writes it next to
the probability.

Each party writes its model file again with its points (``step-<i>-model.json``, model
format 4) and its points table as ``step-<i>-scorecard.csv`` and
``step-<i>-scorecard.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocols.roles import Role
from vfl.exceptions import DataError
from vfl.runtime.files import write_text_atomically
from vfl.steps.base import JobCheck, LoadContext, Section, StepContext, StepOutcome, StepType
from vfl.tables.model_registry import registry_folder, save_version
from vfl.tables.models import PartyModel

if TYPE_CHECKING:
    from protocols.binning.scorecard import PointsScale
    from protocols.messages import Message
    from vfl.tables.binning_model import PartyBinning
    from vfl.tables.scorecard_model import PartyPoints

__all__ = ["ScorecardStep", "ScorecardType", "party_points"]


@dataclass(frozen=True)
class ScorecardStep:
    """``type = "scorecard"``: points per bin from each party's weights on WOE columns.

    Either the banks' form ``base_score`` (600), ``pdo`` (20: points to double the
    odds) and ``base_odds`` (50: the good:bad odds that score ``base_score``), or
    FATE's ``offset`` and ``factor`` (both, and none of the other three).
    """

    base_score: float = 600.0
    pdo: float = 20.0
    base_odds: float = 50.0
    offset: float | None = None
    factor: float | None = None

    type = "scorecard"

    def scale(self) -> PointsScale:
        """The points scale of this step."""
        from protocols.binning.scorecard import PointsScale

        if self.offset is not None and self.factor is not None:
            return PointsScale.from_offset_factor(self.offset, self.factor)
        return PointsScale(base_score=self.base_score, pdo=self.pdo, base_odds=self.base_odds)


def _finite(value: float) -> str | None:
    return None if math.isfinite(value) else "must be a finite number"


def _positive(value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else "must be a positive number"


class ScorecardType(StepType[ScorecardStep]):
    """The ``scorecard`` step type."""

    name = "scorecard"
    output_files = ("model_file", "scorecard_file", "markdown_file")

    def parse(self, section: Section, context: LoadContext) -> ScorecardStep:
        """See :meth:`StepType.parse`: the PDO form or the offset/factor form, not both."""
        banks = [key for key in ("base_score", "pdo", "base_odds") if key in section.table]
        fate = [key for key in ("offset", "factor") if key in section.table]
        if fate and banks:
            raise context.error(
                f"give either base_score/pdo/base_odds or offset/factor, not both ({banks[0]} "
                f"and {fate[0]} are set)"
            )
        if len(fate) == 1:
            other = "factor" if fate == ["offset"] else "offset"
            raise section.error(other, f"is needed with {fate[0]} (FATE's form sets both)")
        defaults = ScorecardStep()
        step = ScorecardStep(
            base_score=float(
                section.take("base_score", (int, float), defaults.base_score, _finite)
            ),
            pdo=float(section.take("pdo", (int, float), defaults.pdo, _positive)),
            base_odds=float(section.take("base_odds", (int, float), defaults.base_odds, _positive)),
            offset=_number(section.take("offset", (int, float), None, _finite)),
            factor=_number(section.take("factor", (int, float), None, _positive)),
        )
        section.finish()
        return step

    def check(self, step: ScorecardStep, index: int, job: JobCheck) -> None:
        """A model to turn into points: a ``hetero_lr`` step after a ``binning`` step."""
        if not job.trained:
            raise job.error(
                index,
                step,
                "no model to turn into points: put a binning step, then a hetero_lr step, "
                "before it",
            )
        if not job.binned:
            raise job.error(
                index,
                step,
                "the model before it was trained on raw columns, which have no bins to give "
                "points to: put a binning step before its hetero_lr step",
            )

    def build_role(self, step: ScorecardStep, context: StepContext) -> Role | None:
        """Each party's points are its own work (no message); the arbiter takes no part."""
        if context.party.role == "arbiter":
            return None
        model = _binned_model(context)
        points = party_points(model, step.scale())
        return _Done(context.party.name, context.job_id, points)

    def output(
        self, step: ScorecardStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """Write the model file with its points, and the points table (CSV, Markdown)."""
        model = dataclasses.replace(_binned_model(context), points=result)
        folder, index = context.folder, context.index
        path = model.save(folder / f"step-{index}-model.json")
        version = save_version(registry_folder(folder), model)  # scoring by version has points
        points: PartyPoints = result
        table = points.to_csv(folder / f"step-{index}-scorecard.csv")
        markdown = write_text_atomically(
            folder / f"step-{index}-scorecard.md", points.to_markdown() + "\n"
        )
        scale = step.scale()
        document = {
            "role": context.party.role,
            "offset": scale.offset,
            "factor": scale.factor,
            "features": len(model.feature_names),
            "model_file": path.name,
            "model_version": version.number,
            "model_version_file": f"models/{version.name}",
            "model_sha256": version.sha256(),
            "scorecard_file": table.name,
            "markdown_file": markdown.name,
            "seconds": round(seconds, 3),
        }
        return StepOutcome(document, context.table, model)

    def reload(
        self, step: ScorecardStep, context: StepContext, document: dict[str, Any]
    ) -> StepOutcome:
        """Load the party's model (with its points) back from ``step-<i>-model.json``."""
        path = context.output_file(document, "model_file")
        model = context.model if path is None else PartyModel.load(path)
        return StepOutcome(document, context.table, model)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _binned_model(context: StepContext) -> PartyModel:
    """The party's trained model on WOE columns (refused otherwise)."""
    model, party = context.model, context.party.name
    if model is None or not model.trained:
        raise DataError(
            f"party {party!r}: the scorecard step needs a trained model; put a binning step, "
            "then a hetero_lr step, before it"
        )
    if model.binning is None:
        raise DataError(
            f"party {party!r}: the latest model was trained on raw columns, which have no bins "
            "to give points to; put a binning step before its hetero_lr step"
        )
    return model


def party_points(model: PartyModel, scale: PointsScale) -> PartyPoints:
    """A party's points table from its model on WOE columns.

    The model's scaling is folded in: a bin's points are ``-factor * w * (woe - mean)
    / scale``, so each row's points sum to ``-factor`` times the party's share of the
    log-odds, and the guest's base points ``offset - factor * intercept`` complete
    the customer's score ``offset - factor * log-odds``.  The table shows each bin's
    own WOE (an empty bin's 0), not the centred value the points are computed from.

    Parameters
    ----------
    model : PartyModel
        Trained, with a binning.
    scale : PointsScale

    Returns
    -------
    PartyPoints

    Raises
    ------
    DataError
        If the model has no binning.
    """
    from vfl.tables.scorecard_model import build_points

    if model.binning is None:
        raise DataError(f"{model.party}: a scorecard needs the model's binning")
    weights = list(model.weights)
    binning: PartyBinning = model.binning
    if model.scaling is not None:
        mean, deviation = model.scaling.mean, model.scaling.scale
        weights = [w / s for w, s in zip(weights, deviation, strict=True)]
        shift = dict(zip(model.feature_names, mean, strict=True))
        binning = dataclasses.replace(
            binning,
            features=tuple(
                dataclasses.replace(f, woe=tuple(v - shift[f.bins.name] for v in f.woe))
                if f.bins.name in shift
                else f
                for f in binning.features
            ),
        )
    intercept = model.intercept if model.role == "guest" else None
    points = build_points(binning, weights, intercept, scale)
    own = model.binning
    return dataclasses.replace(
        points,
        features=tuple(
            dataclasses.replace(feature, woe=own.feature(feature.name).woe)
            for feature in points.features
        ),
    )


class _Done(Role):
    """A step a party does alone: finished as it starts, with ``result``."""

    def __init__(self, party: str, job_id: str, result: Any) -> None:
        super().__init__(party, job_id)
        self._outcome = result

    def start(self) -> list[Message]:
        """Finish at once; nothing to send."""
        self._finish(self._outcome)
        return []

    def receive(self, message: Message) -> list[Message]:
        """Nothing is expected."""
        raise self._unexpected(message, "building its points alone")

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """Nobody."""
        return ()

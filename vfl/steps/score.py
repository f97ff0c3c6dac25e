"""``type = "score"``: the guest learns a probability for each of its current rows.

The rows are those later steps see (the aligned rows after a ``psi`` step).  The
model is the one trained by the latest earlier ``hetero_lr`` step of the job (with its
points after a ``scorecard`` step); with ``models_dir``, each party's
``<party>.json`` in that folder; with ``model_version`` (``"latest"``, a number or a
file name) and/or ``models_registry``, a version from each party's model registry
(:mod:`vfl.tables.model_registry`): ``models/`` in its output folder of this job, or
of the training job whose ``output_dir`` ``models_registry`` names.  The arbiter
takes no part; a job that scores saved models may list it (idle), so the training
job's file serves for scoring too.  Each party applies its own binning (if its model has
one) and scaling to its raw columns, then its weights.  Hosts send only their partial
scores; the guest writes ``step-<i>-scores.csv`` (``id, probability``, and ``points``
when its model has a scorecard: the sum of every party's points for the row).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from protocols.hetero_lr import ScoreGuest, ScoreHost
from protocols.messages import LrPartialScores, Message
from vfl.evaluation import metrics
from vfl.exceptions import DataError
from vfl.runtime.files import write_csv_atomically
from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    sha256_of_file,
)
from vfl.steps.hetero_lr import binned_features, model_features
from vfl.tables.model_registry import (
    ModelVersion,
    check_version_request,
    find_version,
    list_versions,
    registry_folder,
)
from vfl.tables.models import PartyModel

if TYPE_CHECKING:
    from protocols.roles import Role
    from vfl.jobs.jobfile import PartyConfig
    from vfl.tables.datasets import PartyTable

__all__ = ["ScoreStep", "ScoreType"]


@dataclass(frozen=True)
class ScoreStep:
    """``type = "score"``: the guest learns a probability for each of its current rows.

    The rows are those later steps see (the aligned rows after a ``psi`` step).  The
    model is the one trained by the latest earlier ``hetero_lr`` step of the job, or,
    with ``models_dir``, each party's ``<party>.json`` in that folder (the
    ``step-<i>-model.json`` files of an earlier job, renamed), or, with
    ``model_version`` and/or ``models_registry``, a version from each party's model
    registry.  Hosts send only their partial scores; the guest writes
    ``step-<i>-scores.csv`` (``id, probability``).

    Attributes
    ----------
    models_dir : pathlib.Path or None
        A folder of ``<party>.json`` model files.
    model_version : str or int or None
        ``"latest"``, a version number or a version's file name (``None``: the latest
        when ``models_registry`` is set, else no registry is used).
    models_registry : pathlib.Path or None
        The ``output_dir`` of the training job: each party reads
        ``<models_registry>/<party>/models/`` (``None``: its own output folder).
    """

    models_dir: Path | None = None
    model_version: str | int | None = None
    models_registry: Path | None = None

    type = "score"

    @property
    def from_registry(self) -> bool:
        """Whether each party takes a version from a model registry."""
        return self.model_version is not None or self.models_registry is not None

    @property
    def from_elsewhere(self) -> bool:
        """Whether the model comes from files (``models_dir`` or a registry), not a step."""
        return self.models_dir is not None or self.from_registry

    def model_file(self, party: str) -> Path | None:
        """Where party ``party``'s model file is in ``models_dir`` (else ``None``)."""
        return None if self.models_dir is None else self.models_dir / f"{party}.json"

    def registry(self, party: str, own_folder: Path) -> Path:
        """Party ``party``'s registry folder.

        ``<models_registry>/<party>/models`` with ``models_registry``, else
        ``models/`` in ``own_folder`` (the party's output folder of this job).
        """
        if self.models_registry is not None:
            return registry_folder(self.models_registry / party)
        return registry_folder(own_folder)

    def version(self, party: str, own_folder: Path) -> ModelVersion:
        """The version party ``party`` scores with (``model_version``, default latest).

        Raises
        ------
        DataError
            If there is no such version (naming those there are).
        """
        wanted = "latest" if self.model_version is None else self.model_version
        try:
            return find_version(self.registry(party, own_folder), wanted)
        except DataError as error:
            raise DataError(f"party {party!r}, score step: {error}") from None


class ScoreType(StepType[ScoreStep]):
    """The ``score`` step type."""

    name = "score"
    output_files = ("scores_file",)

    def parse(self, section: Section, context: LoadContext) -> ScoreStep:
        """See :meth:`StepType.parse`."""
        models_dir = section.path_value("models_dir", required=False)
        model_version = section.take("model_version", (str, int), None, check_version_request)
        models_registry = section.path_value("models_registry", required=False)
        if models_dir is not None and (model_version is not None or models_registry is not None):
            key = "model_version" if model_version is not None else "models_registry"
            raise section.error(
                key,
                "models_dir holds one model per party (<party>.json), it has no versions; "
                "drop models_dir to take a version from a registry (models/ in each "
                "party's output folder), or drop " + key,
            )
        score = ScoreStep(
            models_dir=models_dir, model_version=model_version, models_registry=models_registry
        )
        section.finish()
        return score

    def check(self, step: ScoreStep, index: int, job: JobCheck) -> None:
        """Aligned rows, and a model: from an earlier step, ``models_dir`` or a registry."""
        job.require_aligned(index, step)
        if not step.from_elsewhere and not job.trained:
            raise job.error(
                index,
                step,
                "no model to score with: put a hetero_lr step before it, set "
                'model_version = "latest" (or a version) to score with a model an earlier '
                "run of this job saved, models_registry to the output_dir of the training "
                "job, or models_dir to a folder of <party>.json model files",
            )

    def uses_arbiter(self, step: ScoreStep) -> bool:
        """Whether the job may list an arbiter for this step: when it scores saved models.

        The arbiter takes no part in scoring; it stays idle.  A job that scores the
        models a training job saved (``models_dir``, ``model_version`` or
        ``models_registry``) may keep that job's arbiter, so one job file (its parties
        and ``output_dir``) serves training and scoring.
        """
        return step.from_elsewhere

    def missing_files(self, step: ScoreStep, party: PartyConfig) -> list[str]:
        """The party's model file in ``models_dir`` or its version in ``models_registry``.

        The arbiter needs none.  A version in this job's own output folder is looked for
        when the step runs (the training may be an earlier step of the same run).
        """
        if party.role == "arbiter":
            return []
        model = step.model_file(party.name)
        if model is not None and not model.is_file():
            return [f"{party.name}'s model file {model} (score.models_dir)"]
        if step.models_registry is not None:
            folder = step.registry(party.name, step.models_registry)
            try:
                step.version(party.name, step.models_registry)
            except DataError:
                available = [str(v.number) for v in list_versions(folder)]
                return [
                    f"{party.name}'s model version {step.model_version or 'latest'!r} in "
                    f"{folder} (score.models_registry; versions there: "
                    f"{', '.join(available) or 'none'})"
                ]
        return []

    def digest(self, step: ScoreStep, party: PartyConfig) -> dict[str, Any]:
        """The content of the party's model file from ``models_dir``, not its path."""
        values = super().digest(step, party)
        model = step.model_file(party.name)
        values["models_dir"] = (
            sha256_of_file(model) if model is not None and model.is_file() else None
        )
        if step.models_registry is not None:
            values["models_registry"] = None  # the chosen version's content, not the path
            if party.role != "arbiter":
                with contextlib.suppress(DataError):  # missing: refused by missing_files
                    chosen = step.version(party.name, step.models_registry)
                    values["models_registry"] = chosen.sha256()
        return values

    def build_role(self, step: ScoreStep, context: StepContext) -> Role | None:
        """The guest's or a host's scoring role (the arbiter takes no part)."""
        job, party = context.job, context.party
        if party.role == "arbiter":
            return None
        table = context.rows()
        chosen = _score_model(step, party, context)
        features = _scoring_features(party, table, chosen)
        hosts = [host.name for host in job.hosts]
        if party.role == "guest":
            if sorted(chosen.peers) != sorted(hosts):
                raise DataError(
                    f"party {party.name!r}: the model was trained with the hosts "
                    f"{sorted(chosen.peers)}, this job's hosts are {sorted(hosts)}; every "
                    "host of the training must score"
                )
            return _PointsGuest(
                party.name,
                context.job_id,
                hosts=hosts,
                features=features,
                weights=chosen.weights,
                intercept=chosen.intercept,
                row_ids=table.ids,
            )
        return ScoreHost(
            party.name,
            context.job_id,
            guest=job.guest.name,
            features=features,
            weights=chosen.weights,
            row_ids=table.ids,
        )

    def output(
        self, step: ScoreStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """The guest writes ``step-<i>-scores.csv`` (id, probability); hosts a summary only."""
        party, table = context.party, context.rows()
        document: dict[str, Any] = {
            "role": party.role,
            "rows": len(table),
            "model": (
                "from models_dir"
                if step.models_dir is not None
                else "from the model registry"
                if step.from_registry
                else "from this job"
            ),
            "model_version": None,
        }
        if step.from_registry:
            version = step.version(party.name, context.folder)
            document["model_version"] = {
                "number": version.number,
                "file": str(version.path),
                "sha256": version.sha256(),
            }
        scores_path: Path | None = None
        auc = None
        if party.role == "guest":
            assert isinstance(role, _PointsGuest)
            probabilities = np.asarray(result, dtype=np.float64)
            scores_path = context.folder / f"step-{context.index}-scores.csv"
            chosen = _score_model(step, party, context)
            header = ["id", "probability"]
            columns = [table.ids, [repr(p) for p in probabilities.tolist()]]
            if chosen.points is not None:  # offset - factor * log-odds: every party's points
                scale = chosen.points.scale
                points = scale.offset - scale.factor * role.log_odds()
                header.append("points")
                columns.append([repr(p) for p in points.tolist()])
                document["points"] = {"offset": scale.offset, "factor": scale.factor}
            write_csv_atomically(scores_path, header, zip(*columns, strict=True))
            if table.labels is not None and len(np.unique(table.labels)) == 2:
                auc = metrics.roc_auc(table.labels.astype(np.float64), probabilities)
        document.update(
            scores_file=scores_path.name if scores_path is not None else None,
            auc=auc,
            seconds=round(seconds, 3),
        )
        return StepOutcome(document, table, context.model)


class _PointsGuest(ScoreGuest):
    """The guest's scoring role, which also keeps each row's log-odds (for the points)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partial_scores: dict[str, npt.NDArray[np.float64]] = {}

    def receive(self, message: Message) -> list[Message]:
        """See :meth:`ScoreGuest.receive`; keeps the host's partial scores it checked."""
        answer = super().receive(message)
        assert isinstance(message, LrPartialScores)  # ScoreGuest refused anything else
        self.partial_scores[message.sender] = np.asarray(message.scores, dtype=np.float64)
        return answer

    def log_odds(self) -> npt.NDArray[np.float64]:
        """Each row's total score ``X_g w_g + b + sum_h u_h`` (after every host answered)."""
        total: npt.NDArray[np.float64] = self.X @ self.weights + self.intercept
        for partial in self.partial_scores.values():
            total = total + partial
        return total


def _scoring_features(
    party: PartyConfig, table: PartyTable, model: PartyModel
) -> npt.NDArray[np.float64]:
    """The party's rows as its model takes them: WOE values if binned, then scaled."""
    if model.binning is not None:
        names, matrix = binned_features(party, table, model.binning)
    else:
        names, matrix = model_features(party, table, purpose="the score step")
        if names != model.feature_names:
            raise DataError(
                f"party {party.name!r}: the model was trained on the columns "
                f"{model.feature_names}, the data has {names}; score data with the same columns"
            )
    return matrix if model.scaling is None else model.scaling.transform(matrix)


def _score_model(step: ScoreStep, party: PartyConfig, context: StepContext) -> PartyModel:
    """The model a party scores with: from ``models_dir``, a registry, or the job's latest."""
    model = context.model
    path = step.model_file(party.name)
    if step.from_registry:
        version = step.version(party.name, context.folder)
        loaded = version.load()
        path = version.path
    elif path is None:
        if model is None:
            raise DataError(f"party {party.name!r} has no trained model to score with")
        if not model.trained:
            raise DataError(
                f"party {party.name!r}: the latest model is a binning without weights; put a "
                "hetero_lr step after the binning step, before the score step"
            )
        return model
    else:
        loaded = PartyModel.load(path)
    if loaded.role != party.role:
        raise DataError(
            f"{path} is a {loaded.role}'s model, but {party.name!r} is a {party.role} in "
            "this job; copy each party's own model file there"
        )
    return loaded

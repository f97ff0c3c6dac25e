"""The truth: each party's data and a plaintext replay of the training."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import Any
from unittest import mock

import numpy as np

from crypto.plain import PlainVector
from protocols.messages import LrMasked, LrSetup
from tests.support.auditor.pairing import Wire
from tests.support.auditor.secret_log import SecretLog
from tests.support.protocol_harness import run_roles
from vfl.jobs import build_role
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, PsiStep, ScoreStep, SecureSumStep
from vfl.steps.base import read_options
from vfl.tables.datasets import PartyTable, read_party_csv
from vfl.tables.models import PartyModel


@dataclasses.dataclass
class PartyData:
    name: str
    role: str
    ids: list[bytes]  # as the PSI step hashes them
    raw: np.ndarray  # the CSV's feature columns
    labels: np.ndarray | None  # the CSV's labels (the guest)
    aligned: PartyTable | None  # its rows after PSI (output file)


@dataclasses.dataclass
class Truth:
    """What the parties hold, and what the training computed (by a plaintext replay)."""

    parties: dict[str, PartyData]
    training: dict[str, np.ndarray]  # each data party's training matrix, as trained on
    masked: dict[tuple[str, int, int], dict[str, np.ndarray]]  # (sender, epoch, batch)
    final_scores: dict[str, np.ndarray]  # each host's u_h at scoring
    sums: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # secure sum
    lr_roles: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Shared mode: each data party's training role as built with the plaintext backend
    (never run): its integer features ``X_int``, the guest's labels ``y`` and
    ``row_weights``, the settings and penalty flags the shared replay uses."""
    models: dict[str, PartyModel] = dataclasses.field(default_factory=dict)


def step_index(job: JobConfig, kind: type) -> int:
    (index,) = [i for i, s in enumerate(job.steps) if isinstance(s, kind)]
    return index


def load_truth(job: JobConfig, wire: Sequence[Wire], secrets: SecretLog) -> Truth:
    """Each party's files and outputs, and a plaintext replay of the job's training.

    A job of one PSI step only (:func:`prepare_psi_job`) has no training to replay;
    a party that did not learn the common rows (output ``"guest"``) has no aligned
    file.  The replay starts the guest from the secret initial weights the real run
    drew (their seed is in ``secrets``); a secure-sum step gives each party's vector.
    """
    parties: dict[str, PartyData] = {}
    psi = step_index(job, PsiStep)
    for party in job.parties:
        if party.data is None:
            parties[party.name] = PartyData(
                party.name, party.role, [], np.zeros((0, 0)), None, None
            )
            continue
        options = read_options(job, party)  # missing cells and text in a binning job
        table = read_party_csv(
            party.data.file,
            id_column=party.data.id_column,
            label_column=party.data.label_column,
            **options,
        )
        aligned_path = job.party_output_dir(party.name) / f"step-{psi}-psi.csv"
        aligned = None
        if aligned_path.exists():
            aligned = read_party_csv(
                aligned_path,
                id_column=party.data.id_column,
                label_column=party.data.label_column,
                **options,
            )
        parties[party.name] = PartyData(
            party.name,
            party.role,
            [i.encode("utf-8") for i in table.ids],
            table.features,
            table.labels,
            aligned,
        )
    sums: dict[str, np.ndarray] = {}
    for index, config in enumerate(job.steps):
        if isinstance(config, SecureSumStep):
            for party in job.parties:
                if party.role != "arbiter":
                    summer = build_role(job, index, config, party, parties[party.name].aligned)
                    sums[party.name] = np.asarray(summer.values)  # type: ignore[union-attr]
    if not any(isinstance(s, HeteroLrStep) for s in job.steps):
        return Truth(parties, {}, {}, {}, sums)
    lr = step_index(job, HeteroLrStep)
    step = job.steps[lr]
    assert isinstance(step, HeteroLrStep)
    plain_step = dataclasses.replace(step, backend="plaintext")
    final_scores, models = _scoring_truth(job, parties, lr)
    if step.mode == "shared":  # no secret initial weights and no float replay: see checks_shared
        built: dict[str, Any] = {
            p.name: build_role(job, lr, plain_step, p, parties[p.name].aligned)
            for p in job.parties
            if p.data is not None
        }
        training = {name: np.asarray(role.X) for name, role in built.items()}
        return Truth(parties, training, {}, final_scores, sums, built, models)
    seeds = secrets.initial_weights_seeds.get(job.guest.name, [])
    assert len(seeds) == 1, f"{len(seeds)} initial-weights seeds recorded for the guest"
    lr_guest = importlib.import_module("protocols.hetero_lr.guest")
    real_initial_weights = lr_guest.secret_initial_weights

    def initial_weights(features: Any, _: bytes) -> np.ndarray:
        weights: np.ndarray = real_initial_weights(features, seeds[0])  # the run's start
        return weights

    with mock.patch.object(lr_guest, "secret_initial_weights", initial_weights):
        roles: dict[str, Any] = {
            p.name: build_role(job, lr, plain_step, p, parties[p.name].aligned) for p in job.parties
        }
    training = {name: role.X for name, role in roles.items() if hasattr(role, "X")}
    (seed,) = {w.message.plan_seed for w in wire if isinstance(w.message, LrSetup)}
    roles[job.guest.name].plan_seed = seed  # the run's public batch plan
    made: dict[int, tuple[Any, np.ndarray]] = {}
    real_mask = PlainVector.mask

    def mask(self: PlainVector, **kwargs: Any) -> Any:
        masked, plain_mask = real_mask(self, **kwargs)
        made[id(masked)] = (masked, np.asarray(plain_mask.unmask(masked.mantissas)))
        return masked, plain_mask

    with mock.patch.object(PlainVector, "mask", mask):
        transcript = run_roles(roles)
    masked: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
    for message in transcript:
        if isinstance(message, LrMasked):
            masked[(message.sender, message.round, message.batch)] = {
                name: made[id(getattr(message, name))][1] for name in ("gradient", "loss")
            }
    return Truth(parties, training, masked, final_scores, sums, {}, models)


def _scoring_truth(
    job: JobConfig, parties: dict[str, PartyData], lr: int
) -> tuple[dict[str, np.ndarray], dict[str, PartyModel]]:
    """Each host's partial scores ``X_h w_h`` at scoring, and every party's model file."""
    final_scores: dict[str, np.ndarray] = {}
    models = {
        p.name: PartyModel.load(job.party_output_dir(p.name) / f"step-{lr}-model.json")
        for p in job.parties
        if p.data is not None
    }
    score = step_index(job, ScoreStep)
    for host in job.hosts:
        scorer: Any = build_role(
            job, score, job.steps[score], host, parties[host.name].aligned, model=models[host.name]
        )
        final_scores[host.name] = scorer.X @ scorer.weights
    return final_scores, models

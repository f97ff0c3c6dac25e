"""``type = "hetero_lr"``: train a hetero logistic regression; and the one LR builder.

This module owns, for hetero LR:

- the job files' ``hetero_lr`` step (:class:`HeteroLrStep`, :class:`HeteroLrType`):
  its keys come from the declared settings (:func:`job_declarations`: those of
  :class:`~protocols.hetero_lr.LrSettings` and
  :class:`~protocols.hetero_lr.OptimizerSettings` that job files accept, then the
  step's own ``class_weight``, ``standardize`` and ``backend``), and so does the
  table of ``docs/job-file.md`` (:func:`settings_table`);
- the builder of the training roles and models that both the step and
  :class:`vfl.HeteroLogisticRegression` use (:func:`build_lr_role`,
  :func:`lr_party_model`, :func:`class_row_weights`);
- a party's training inputs from its data section (:func:`model_features`,
  :func:`training_inputs`, :func:`training_labels`).

The guest trains with its features and labels, each host with its features (and an
arbiter holds the key with ``mode = "arbiter"``).  After a ``binning`` step each party
trains on the WOE values of the columns its binning selected (the binning comes with
the party's model chain, :attr:`PartyModel.binning <vfl.tables.models.PartyModel.binning>`)
and keeps the binning in its model file.  The default mode is ``"shared"``
(:data:`ENGINE_MODE`): no party learns a gradient, and the loss is the logistic one.
Each party writes its own model file (its weights and scaling only) and a summary;
its roles keep a checkpoint per epoch, which ``--resume`` goes on from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import BACKENDS, LrArbiter, LrGuest, LrHost, LrPartyResult, LrSettings
from protocols.hetero_lr.declarations import (
    Context,
    Declaration,
    Flag,
    Rule,
    declarations,
    setting,
    shown_default,
)
from protocols.hetero_lr.guest import Evaluator
from protocols.hetero_lr.party import MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.settings import DEFAULTS as LR_DEFAULTS
from protocols.hetero_lr.settings import FEATURE_BOUND, flat_declarations
from protocols.hetero_lr.shared_party import SharedGuest, SharedHost
from vfl.exceptions import DataError
from vfl.steps.base import JobCheck, LoadContext, Section, StepContext, StepOutcome, StepType
from vfl.tables.mapped import column_max_abs
from vfl.tables.model_registry import registry_folder, save_version
from vfl.tables.models import PartyModel, Scaling

if TYPE_CHECKING:
    from protocols.roles import Role
    from vfl.jobs.jobfile import PartyConfig
    from vfl.tables.binning_model import PartyBinning
    from vfl.tables.datasets import PartyTable

__all__ = [
    "DEFAULTS",
    "ENGINE_MODE",
    "MAX_FEATURE_ABS",
    "SHARED_OPTIMIZERS",
    "HeteroLrStep",
    "HeteroLrType",
    "LrParties",
    "binned_features",
    "build_lr_role",
    "class_row_weights",
    "job_declarations",
    "lr_party_model",
    "model_features",
    "settings_table",
    "shared_mode_refusal",
    "training_inputs",
    "training_labels",
]

FloatArray = npt.NDArray[np.float64]


# the step's own settings -------------------------------------------------------------------
@dataclass(frozen=True)
class ClassWeight(Rule):
    """``"balanced"``, a table of the classes 0 and 1 to weights, or ``None``."""

    toml = "string or table"
    kinds = (str, dict)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem` (a TOML table's keys are strings)."""
        if value is None or value == "balanced":
            return None
        if isinstance(value, str):
            return f"{value!r} is not 'balanced' (or a table {{ 0 = 1.0, 1 = 5.0 }})"
        for label, weight in value.items():
            if str(label) not in ("0", "1"):
                return f"the classes are 0 and 1, not {label!r} (e.g. {{ 0 = 1, 1 = 5 }})"
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not 0 < weight <= MAX_SAMPLE_WEIGHT
            ):
                return (
                    f"class {label}'s weight must be a number in (0, {MAX_SAMPLE_WEIGHT:g}], "
                    f"not {weight!r}"
                )
        return None

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if isinstance(value, str | dict) or value is None:
            problem = self.problem(value, context)
            return None if problem is None else f"{name}: {problem}"
        return f"{name} must be 'balanced', a dict {{0: w0, 1: w1}} or None, not {value!r}"

    def convert(self, value: Any) -> Any:
        """A table's keys as the integers 0 and 1, its weights as floats."""
        if isinstance(value, dict):
            return {int(label): float(weight) for label, weight in value.items()}
        return value


@dataclass(frozen=True)
class JobBackend(Rule):
    """The arithmetic: ``"paillier"`` in job files; every backend in the Python API."""

    toml = "string"
    kinds = (str,)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`: job files run only ``"paillier"``."""
        if value == "paillier":
            return None
        if value in BACKENDS:
            return (
                f"{value!r} is for tests and benchmarks only and cannot run between parties; "
                "use 'paillier' (the default)"
            )
        return f"{value!r} is not 'paillier' (the only choice)"

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if value in BACKENDS:
            return None
        return f"unknown {name} {value!r}; expected one of {', '.join(BACKENDS)}"


ENGINE_MODE = "shared"
"""The training mode of job files' ``hetero_lr`` steps and of the estimator when none is
given: no party learns a gradient.  (:class:`~protocols.hetero_lr.LrSettings` itself
keeps ``"two-party"``, the protocol layer's default.)"""
_MODE = next(d for d in declarations(LrSettings) if d.name == "mode")


@dataclass(frozen=True)
class HeteroLrStep:
    """``type = "hetero_lr"``: train a hetero logistic regression on the aligned rows.

    The guest trains with its features and labels, each host with its features (and
    an arbiter holds the key in ``mode = "arbiter"``).  Each party writes its own
    model (its weights only) and a summary.  Every default is its declaration's
    (:data:`DEFAULTS`), as in :class:`vfl.HeteroLogisticRegression`; ``standardize``
    makes each party scale its own features on its training rows.
    """

    mode: str = setting(
        ENGINE_MODE,
        _MODE.rule,
        doc=_MODE.doc,
    )
    loss: str | None = LR_DEFAULTS["loss"]
    batch_size: int = LR_DEFAULTS["batch_size"]
    max_iter: int = LR_DEFAULTS["max_iter"]
    optimizer: str = LR_DEFAULTS["optimizer"]
    learning_rate: float = LR_DEFAULTS["learning_rate"]
    penalty: str = LR_DEFAULTS["penalty"]
    alpha: float = LR_DEFAULTS["alpha"]
    decay: float = LR_DEFAULTS["decay"]
    decay_sqrt: bool = LR_DEFAULTS["decay_sqrt"]
    tol: float = LR_DEFAULTS["tol"]
    convergence: str = LR_DEFAULTS["convergence"]
    class_weight: str | dict[int, float] | None = setting(  # noqa: RUF009  (a field())
        None,
        ClassWeight(),
        doc='`"balanced"` (each class weighs `rows / (2 · rows of the class)`) or a table '
        "`{ 0 = 1.0, 1 = 5.0 }`; weights in (0, 2²⁰]. Useful for rare events (default, "
        "fraud).",
    )
    fit_intercept: bool = LR_DEFAULTS["fit_intercept"]
    standardize: bool = setting(
        True,
        Flag(),
        doc="Each party standardises its own features on its training rows (mean 0, "
        "standard deviation 1; constant columns keep scale 1). The scaling is stored in "
        "its model file. After scaling every value must lie within ±2³⁰ (the public bound "
        "on partial scores); a column beyond it, or whose statistics overflow, is refused "
        "by name before training starts.",
    )
    key_length: int = LR_DEFAULTS["key_length"]
    n_jobs: int | None = LR_DEFAULTS["n_jobs"]
    backend: str = setting(
        "paillier",
        JobBackend(),
        doc='Only `"paillier"`. `"phe"` and `"plaintext"` exist in the Python API for '
        "benchmarks and tests and are refused here.",
    )
    label_privacy_epsilon: float | None = LR_DEFAULTS["label_privacy_epsilon"]
    label_privacy_delta: float = LR_DEFAULTS["label_privacy_delta"]

    type = "hetero_lr"

    def settings(self, allow_weak_key: bool) -> LrSettings:
        """The protocol parameters of this step.

        Parameters
        ----------
        allow_weak_key : bool
            The job's ``allow_weak_keys`` (keys under 2048 bits, tests only).

        Returns
        -------
        LrSettings

        Raises
        ------
        ProtocolError
            If a value is out of range.
        """
        values = {d.name: getattr(self, d.name) for d in flat_declarations() if d.job_file}
        return LrSettings.from_flat(**values, allow_weak_key=allow_weak_key)


DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {**LR_DEFAULTS, **{d.name: d.default for d in declarations(HeteroLrStep)}}
)
"""The default of every hetero LR keyword: the protocol settings' and the step's own."""


def job_declarations() -> tuple[Declaration, ...]:
    """The ``hetero_lr`` keys of job files, declared, in :class:`HeteroLrStep`'s order.

    Returns
    -------
    tuple of Declaration

    Raises
    ------
    TypeError
        If a field of :class:`HeteroLrStep` is no declared job-file setting.

    Examples
    --------
    >>> [d.name for d in job_declarations()][:4]
    ['mode', 'loss', 'batch_size', 'max_iter']
    """
    known = {d.name: d for d in flat_declarations() if d.job_file}
    known.update((d.name, d) for d in declarations(HeteroLrStep))
    found = []
    for item in dataclasses.fields(HeteroLrStep):
        if item.name not in known:
            raise TypeError(f"HeteroLrStep.{item.name} is not a declared job-file setting")
        found.append(known[item.name])
    return tuple(found)


def settings_table() -> str:
    """The job-file reference's table of ``hetero_lr`` keys, from the declarations.

    ``docs/job-file.md`` holds this table; a test keeps them equal.  Print it with
    ``python -c "from vfl.steps.hetero_lr import settings_table; print(settings_table())"``.

    Returns
    -------
    str
        A Markdown table, one row per key.
    """
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for declaration in job_declarations():
        rows.append(
            f"| `{declaration.name}` | {declaration.rule.toml} | "
            f"{shown_default(declaration)} | {declaration.doc} |"
        )
    return "\n".join(rows) + "\n"


# what shared mode refuses, said before any key is generated --------------------------------
SHARED_OPTIMIZERS = ("sgd", "momentum", "nesterov")
"""The optimisers shared mode runs: linear updates, applied to shares of the weights."""


def shared_mode_refusal(settings: LrSettings, *, job_file: bool) -> tuple[str, str] | None:
    """The first setting shared mode cannot train with, and why (``None``: none).

    The shared-mode roles refuse the same settings when they are built; this says it
    at job-check and estimator-fit time, in the caller's spelling, before any key is
    generated or message sent.

    Parameters
    ----------
    settings : LrSettings
    job_file : bool
        Word the advice as job-file keys (``mode = "two-party"``) rather than Python
        keywords (``mode='two-party'``).

    Returns
    -------
    tuple of (str, str) or None
        The setting's keyword and the reason, a sentence that says what to do.

    Examples
    --------
    >>> settings = LrSettings.from_flat(mode="shared", optimizer="adam")
    >>> key, reason = shared_mode_refusal(settings, job_file=True)
    >>> key, reason.split(";")[0]
    ('optimizer', 'shared mode cannot run the "adam" optimizer (its update divides by a \
function of the squared gradient, which only exists as shares)')
    >>> shared_mode_refusal(LrSettings.from_flat(mode="shared"), job_file=False) is None
    True
    """
    if settings.mode != "shared":
        return None

    def spell(key: str, value: str) -> str:
        return f'{key} = "{value}"' if job_file else f"{key}={value!r}"

    other_mode = f"or {spell('mode', 'two-party')} (which reveals each party's gradient)"
    name = settings.optimizer.name
    if name not in SHARED_OPTIMIZERS:
        choices = ", ".join(f'"{o}"' for o in SHARED_OPTIMIZERS)
        return "optimizer", (
            f'shared mode cannot run the "{name}" optimizer (its update divides by a function '
            f"of the squared gradient, which only exists as shares); use {choices} "
            f"(with decay if wanted), {other_mode}"
        )
    if settings.optimizer.penalty == "l1" and settings.optimizer.alpha != 0.0:
        return "penalty", (
            "shared mode cannot apply an L1 penalty (its soft threshold would reveal the signs "
            f"of the weights); use {spell('penalty', 'l2')}, {other_mode}"
        )
    if settings.convergence == "weights":
        return "convergence", (
            "shared mode cannot stop on the weight change (no party may learn it); use "
            f"{spell('convergence', 'loss')} (the loss is computed on shares) or "
            f"{spell('convergence', 'max_iter')}, {other_mode}"
        )
    if settings.label_privacy_epsilon is not None:
        return "label_privacy_epsilon", (
            "label privacy protects the gradients the other modes reveal; shared mode reveals "
            f"no gradient, so drop label_privacy_epsilon, {other_mode}"
        )
    return None


# the builder the step and the estimator share ----------------------------------------------
@dataclass(frozen=True)
class LrParties:
    """Who trains together: the guest, the hosts (in order) and the arbiter, if any.

    Attributes
    ----------
    guest : str
    hosts : tuple of str
    arbiter : str or None
        ``None`` in two-party mode.
    """

    guest: str
    hosts: tuple[str, ...]
    arbiter: str | None = None

    def peers_of(self, name: str) -> list[str]:
        """The training parties other than ``name`` (guest first), as a model records them."""
        return [party for party in (self.guest, *self.hosts) if party != name]


def build_lr_role(
    role: str,
    name: str,
    job_id: str,
    parties: LrParties,
    settings: LrSettings,
    backend: str,
    *,
    features: npt.ArrayLike | None = None,
    labels: npt.ArrayLike | None = None,
    sample_weight: npt.ArrayLike | None = None,
    row_ids: Sequence[str] | None = None,
    validation: npt.ArrayLike | None = None,
    validation_labels: npt.ArrayLike | None = None,
    evaluate: Evaluator | None = None,
    initial_weights: npt.ArrayLike | None = None,
    initial_weights_seed: bytes | None = None,
    plan_seed: bytes | None = None,
) -> LrGuest | LrHost | LrArbiter | SharedGuest | SharedHost:
    """The training role of one party: the one place hetero LR roles are built.

    ``settings.mode`` picks the protocol: ``"shared"`` builds
    :class:`~protocols.hetero_lr.shared_party.SharedGuest` /
    :class:`~protocols.hetero_lr.shared_party.SharedHost` (no arbiter; the guest's
    ``initial_weights_seed`` is not used: shared mode starts from zero weights, as no
    gradient is revealed), the other modes
    :class:`~protocols.hetero_lr.LrGuest`, :class:`~protocols.hetero_lr.LrHost` and
    :class:`~protocols.hetero_lr.LrArbiter`.

    Parameters
    ----------
    role : {"guest", "host", "arbiter"}
    name : str
        The party's name.
    job_id : str
    parties : LrParties
    settings : LrSettings
    backend : str
    features : array_like, optional
        The party's (scaled) training matrix (guest and hosts).
    labels, sample_weight : array_like, optional
        The guest's 0/1 labels and row weights.
    row_ids : sequence of str, optional
        The rows' ids (a job's parties check that they train on the same rows).
    validation, validation_labels, evaluate : optional
        Held-out rows for early stopping (guest and hosts; labels and metric: guest).
    initial_weights : array_like, optional
        Warm start.
    initial_weights_seed, plan_seed : bytes, optional
        The guest's seeds (``None``: from the CSPRNG, as in deployments).

    Returns
    -------
    LrGuest, LrHost, LrArbiter, SharedGuest or SharedHost

    Raises
    ------
    ProtocolError
        If the role refuses its inputs (or, in shared mode, an arbiter is asked for).
    """
    if settings.mode == "shared":
        return _build_shared_role(
            role,
            name,
            job_id,
            parties,
            settings,
            backend,
            features=features,
            labels=labels,
            sample_weight=sample_weight,
            row_ids=row_ids,
            validation=validation,
            validation_labels=validation_labels,
            evaluate=evaluate,
            initial_weights=initial_weights,
            plan_seed=plan_seed,
        )
    if role == "arbiter":
        return LrArbiter(
            name,
            job_id,
            guest=parties.guest,
            hosts=list(parties.hosts),
            settings=settings,
            backend=backend,
        )
    assert features is not None, "a training party needs its features"
    if role == "guest":
        assert labels is not None, "the guest needs its labels"
        return LrGuest(
            name,
            job_id,
            hosts=list(parties.hosts),
            features=features,
            labels=labels,
            settings=settings,
            backend=backend,
            arbiter=parties.arbiter,
            sample_weight=sample_weight,
            validation=validation,
            validation_labels=validation_labels,
            evaluate=evaluate,
            initial_weights=initial_weights,
            initial_weights_seed=initial_weights_seed,
            plan_seed=plan_seed,
            row_ids=row_ids,
        )
    return LrHost(
        name,
        job_id,
        guest=parties.guest,
        features=features,
        settings=settings,
        backend=backend,
        arbiter=parties.arbiter,
        validation=validation,
        initial_weights=initial_weights,
        row_ids=row_ids,
    )


def _build_shared_role(
    role: str,
    name: str,
    job_id: str,
    parties: LrParties,
    settings: LrSettings,
    backend: str,
    *,
    features: npt.ArrayLike | None,
    labels: npt.ArrayLike | None,
    sample_weight: npt.ArrayLike | None,
    row_ids: Sequence[str] | None,
    validation: npt.ArrayLike | None,
    validation_labels: npt.ArrayLike | None,
    evaluate: Evaluator | None,
    initial_weights: npt.ArrayLike | None,
    plan_seed: bytes | None,
) -> SharedGuest | SharedHost:
    """A shared-mode role (see :func:`build_lr_role`)."""
    if role == "arbiter" or parties.arbiter is not None:
        raise ProtocolError(f'{name}: shared mode needs no arbiter; drop it or use mode="arbiter"')
    assert features is not None, "a training party needs its features"
    if role == "guest":
        assert labels is not None, "the guest needs its labels"
        return SharedGuest(
            name,
            job_id,
            hosts=list(parties.hosts),
            features=features,
            labels=labels,
            settings=settings,
            backend=backend,
            sample_weight=sample_weight,
            validation=validation,
            validation_labels=validation_labels,
            evaluate=evaluate,
            initial_weights=initial_weights,
            plan_seed=plan_seed,
            row_ids=row_ids,
        )
    return SharedHost(
        name,
        job_id,
        guest=parties.guest,
        features=features,
        settings=settings,
        backend=backend,
        validation=validation,
        initial_weights=initial_weights,
        row_ids=row_ids,
    )


def lr_party_model(
    name: str,
    role: str,
    feature_names: Sequence[str],
    result: LrPartyResult,
    scaling: Scaling | None,
    *,
    parties: LrParties,
    settings: LrSettings,
    backend: str,
) -> PartyModel:
    """A training party's model: its own weights and scaling, as it saves them.

    Parameters
    ----------
    name, role : str
        The party and its role (``"guest"`` or ``"host"``).
    feature_names : sequence of str
    result : LrPartyResult
        What its role learned.
    scaling : Scaling or None
    parties : LrParties
    settings : LrSettings
    backend : str

    Returns
    -------
    PartyModel
    """
    return PartyModel(
        party=name,
        role=role,
        feature_names=list(feature_names),
        weights=[float(w) for w in result.weights],
        intercept=float(result.intercept),
        scaling=scaling,
        mode=settings.mode,
        loss=settings.loss_name,
        backend=backend,
        key_length=settings.key_length,
        peers=parties.peers_of(name),
        history=result.history,
        epochs=result.epochs,
        stop_reason=result.stop_reason,
    )


def class_row_weights(
    labels: FloatArray,
    class_weight: str | dict[int, float] | None,
    sample_weight: npt.ArrayLike | None = None,
) -> FloatArray | None:
    """Row weights from class weights, multiplied with ``sample_weight``.

    Parameters
    ----------
    labels : numpy.ndarray
        0/1 per row.
    class_weight : "balanced", dict or None
        ``"balanced"``: ``rows / (2 * rows_of_the_class)`` per class (0 for an absent
        class); a dict ``{0: w0, 1: w1}`` (a missing class weighs 1); ``None``: no
        class weights.
    sample_weight : array_like, optional
        A weight per row.

    Returns
    -------
    numpy.ndarray or None
        A weight per row, or ``None`` when neither class nor sample weights are given.

    Raises
    ------
    DataError
        If ``class_weight`` is none of the above.

    Examples
    --------
    >>> import numpy as np
    >>> class_row_weights(np.array([1.0, 0.0, 0.0, 0.0]), "balanced").tolist()
    [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    >>> class_row_weights(np.array([1.0, 0.0]), {1: 3.0}, sample_weight=[0.5, 2.0]).tolist()
    [1.5, 2.0]
    >>> class_row_weights(np.array([1.0, 0.0]), None) is None
    True
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_weight is None:
        return weights
    if class_weight == "balanced":
        positives = labels.sum()
        counts = {1: positives, 0: len(labels) - positives}
        per_class = {c: len(labels) / (2 * counts[c]) if counts[c] else 0.0 for c in (0, 1)}
    elif isinstance(class_weight, dict):
        per_class = {c: float(class_weight.get(c, 1.0)) for c in (0, 1)}
    else:
        raise DataError(f"class_weight must be None, 'balanced' or a dict, not {class_weight!r}")
    by_class: FloatArray = np.where(labels > 0, per_class[1], per_class[0])
    return by_class if weights is None else by_class * weights


# a party's training inputs from its data section -------------------------------------------
def model_features(
    party: PartyConfig, table: PartyTable, *, purpose: str = "the hetero_lr step"
) -> tuple[list[str], FloatArray]:
    """The feature names and matrix a party trains and scores on (raw columns).

    Every column of its data file but the id and the label, or only
    ``data.feature_columns`` (in that order) when the job file names them.  Every
    cell must be a number: a missing cell or a text column is refused with the advice
    to bin it first (:meth:`PartyTable.numeric <vfl.tables.datasets.PartyTable.numeric>`).

    Parameters
    ----------
    party : PartyConfig
    table : PartyTable
        The party's rows.
    purpose : str, default "the hetero_lr step"
        How a refusal names the step.

    Returns
    -------
    tuple of (list of str, numpy.ndarray)
        The column names and the matrix of those columns.

    Raises
    ------
    DataError
        If a named column is not in the data file, holds text or has missing cells.
    """
    wanted = party.data.feature_columns if party.data is not None else None
    names = list(wanted) if wanted is not None else list(table.column_names)
    missing = [c for c in names if c not in table.column_names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(
            f"party {party.name!r}: feature_columns {missing} are not in {source} "
            f"(columns: {table.column_names})"
        )
    return names, table.numeric(names, purpose=purpose)


def binned_features(
    party: PartyConfig, table: PartyTable, binning: PartyBinning
) -> tuple[list[str], FloatArray]:
    """The WOE columns a party's binning selected, and their values on its rows.

    Parameters
    ----------
    party : PartyConfig
    table : PartyTable
        The party's rows (raw columns: missing cells and categories fall in their bins).
    binning : PartyBinning

    Returns
    -------
    tuple of (list of str, numpy.ndarray)

    Raises
    ------
    DataError
        If a binned column is missing, or the binning selected no column.
    """
    if not binning.selected:
        raise DataError(
            f"party {party.name!r}: the binning step selected none of its columns (their IVs: "
            f"{ {name: round(iv, 4) for name, iv in binning.ivs.items()} }); lower min_iv or "
            "set top_k in the binning step"
        )
    needed = list(binning.selected)
    absent = [name for name in needed if name not in table.column_names]
    if absent:
        source = party.data.file if party.data else "its data"
        raise DataError(
            f"party {party.name!r}: the binning needs the column(s) {absent}, which are not in "
            f"{source} (columns: {table.column_names})"
        )
    matrix: FloatArray = np.asarray(binning.transform(table.columns(needed)), dtype=np.float64)
    return list(binning.selected), matrix


MAX_FEATURE_ABS = FEATURE_BOUND
"""Largest |feature| a party trains on, after its scaling: the protocol's public bound
(``protocols.hetero_lr.settings.FEATURE_BOUND``), checked here first to name the column."""


def training_inputs(
    step: HeteroLrStep,
    party: PartyConfig,
    table: PartyTable,
    binning: PartyBinning | None = None,
) -> tuple[list[str], FloatArray, Scaling | None]:
    """Feature names, the (scaled) training matrix and the party's own scaling.

    Parameters
    ----------
    step : HeteroLrStep
    party : PartyConfig
    table : PartyTable
        The party's rows.
    binning : PartyBinning, optional
        The party's binning from an earlier ``binning`` step: it trains on the selected
        WOE columns (``log_columns`` apply to raw columns only and are not used).

    Returns
    -------
    tuple of (list of str, numpy.ndarray, Scaling or None)

    Raises
    ------
    DataError
        If there are no rows, a named column is missing, or a value is beyond the
        public bound after scaling.
    """
    if len(table) == 0:
        raise DataError(
            f"party {party.name!r} has no rows to train on (did the psi step find no common ids?)"
        )
    if binning is not None:
        names, matrix = binned_features(party, table, binning)
        log_columns: tuple[str, ...] = ()
    else:
        names, matrix = model_features(party, table)
        log_columns = party.data.log_columns if party.data is not None else ()
    missing = [c for c in log_columns if c not in names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(f"party {party.name!r}: log_columns {missing} are not in {source}")
    log = [name in log_columns for name in names]
    scaling: Scaling | None = None
    scaled: FloatArray | None = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            if step.standardize or any(log):
                scaling = Scaling.fit(matrix, log=log, standardize=step.standardize)
            scaled = matrix if scaling is None else scaling.transform(matrix)
        except DataError:
            scaled = None  # a column's mean or deviation overflowed: named below
        _check_feature_range(party, names, matrix, scaled)
    assert scaled is not None
    return names, scaled, scaling


def _check_feature_range(
    party: PartyConfig, names: list[str], matrix: FloatArray, scaled: FloatArray | None
) -> None:
    """Refuse, naming the column, values the training cannot encode, before any message."""
    source = party.data.file if party.data else "its data"
    advice = (
        f"features must stay within ±{MAX_FEATURE_ABS:.3g} after scaling (set standardize "
        "= true, add the column to log_columns, or fix the value)"
    )
    largest_values = None if scaled is None else column_max_abs(scaled)
    for index, name in enumerate(names):
        if scaled is None:  # the scaling overflowed: find the column whose statistics did
            column = matrix[:, index]
            if not (np.isfinite(np.mean(column)) and np.isfinite(np.std(column))):
                raise DataError(
                    f"party {party.name!r}: column {name!r} of {source} overflows when "
                    f"scaled; {advice}"
                )
            continue
        assert largest_values is not None
        largest = float(largest_values[index])
        if not np.isfinite(largest) or largest > MAX_FEATURE_ABS:
            raise DataError(
                f"party {party.name!r}: column {name!r} of {source} reaches {largest:.3g}; {advice}"
            )
    if scaled is None:
        raise DataError(f"party {party.name!r}: the features of {source} overflow when scaled")


def training_labels(party: PartyConfig, table: PartyTable) -> FloatArray:
    """The guest's 0/1 labels as floats; refused unless both classes are present.

    Parameters
    ----------
    party : PartyConfig
    table : PartyTable

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    DataError
        If the table has no labels or only one class.
    """
    source = party.data.file if party.data else "its data"
    if table.labels is None:
        raise DataError(
            f"party {party.name!r}: {source} has no label column; set data.label_column "
            "to its 0/1 column"
        )
    labels = table.labels.astype(np.float64)
    if len(np.unique(labels)) < 2:
        raise DataError(
            f"party {party.name!r}: every training row of {source} has label "
            f"{int(labels[0])}; training needs rows of both classes 0 and 1"
        )
    return labels


# the step type -----------------------------------------------------------------------------
class HeteroLrType(StepType[HeteroLrStep]):
    """The ``hetero_lr`` step type."""

    name = "hetero_lr"
    checkpoints = True
    output_files = ("model_file",)
    arbiter_use = "a hetero_lr step with mode = 'arbiter'"

    def parse(self, section: Section, context: LoadContext) -> HeteroLrStep:
        """Every declared job-file setting (:func:`job_declarations`), checked by its rule."""
        if "random_state" in section.table:
            raise section.error(
                "random_state",
                "not accepted in a job file: the guest draws the batch plan from the CSPRNG "
                "(fix it only in the Python API's simulations); remove the key",
            )
        rules = Context(
            allow_weak_key=context.allow_weak_keys, flag="allow_weak_keys = true in [job]"
        )
        values: dict[str, Any] = {}
        for declaration in job_declarations():
            value = section.take(
                declaration.name,
                declaration.rule.kinds,
                declaration.default,
                _checker(declaration.rule, rules),
            )
            values[declaration.name] = declaration.rule.convert(value)
        section.finish()
        step = HeteroLrStep(**values)
        if step.loss == "logistic" and step.mode != "shared":
            raise section.error(
                "loss",
                f'"logistic" needs mode = "shared" (the {step.mode} mode cannot evaluate the '
                'sigmoid on encrypted scores); use mode = "shared" or loss = "taylor"',
            )
        refusal = shared_mode_refusal(
            step.settings(allow_weak_key=context.allow_weak_keys), job_file=True
        )
        if refusal is not None:
            raise section.error(*refusal)
        if step.label_privacy_epsilon is not None and step.class_weight is not None:
            raise section.error(
                "label_privacy_epsilon",
                "needs unweighted rows, but class_weight is set (class weights depend on the "
                "labels and would reach the hosts' gradients un-noised); drop one of them",
            )
        return step

    def check(self, step: HeteroLrStep, index: int, job: JobCheck) -> None:
        """Aligned rows, the guest's labels, and the hosts (and arbiter) the mode needs."""
        arbiters = len(job.arbiters)
        if step.mode == "arbiter" and arbiters != 1:
            raise job.parties_error(
                f"{self.arbiter_use} needs exactly one party with role 'arbiter' (it holds the "
                f"key and sees only masked values), found {arbiters}"
            )
        job.require_aligned(index, step)
        guest = job.guest
        if guest.data is not None and guest.data.label_column is None:
            raise job.parties_error(
                f"the guest {guest.name} has no data.label_column, which the hetero_lr step "
                "trains on (a 0/1 column)"
            )
        hosts = len(job.hosts)
        if step.mode == "two-party" and hosts != 1:
            raise job.error(
                index,
                step,
                f"mode 'two-party' trains with exactly one host, the job has {hosts}; use "
                "mode = 'arbiter' (with an arbiter party) for several hosts",
            )
        job.trained = True

    def uses_arbiter(self, step: HeteroLrStep) -> bool:
        """In ``mode = "arbiter"``."""
        return step.mode == "arbiter"

    def without_arbiter(self, step: HeteroLrStep) -> str | None:
        """In ``mode = "shared"``: it needs no arbiter (idle if another step uses one)."""
        if step.mode == "shared":
            return 'shared mode needs no arbiter; drop it or use mode = "arbiter"'
        return None

    def build_role(self, step: HeteroLrStep, context: StepContext) -> Role | None:
        """The party's training role; resumed from its checkpoints with ``--resume``."""
        job, party = context.job, context.party
        settings = step.settings(allow_weak_key=job.allow_weak_keys)
        arbiter = (
            next(p.name for p in job.parties if p.role == "arbiter")
            if step.mode == "arbiter"
            else None
        )
        parties = LrParties(job.guest.name, tuple(h.name for h in job.hosts), arbiter)
        if party.role == "arbiter":
            if arbiter is None:
                return None  # two-party and shared mode: the arbiter takes no part
            role = build_lr_role("arbiter", party.name, context.job_id, parties, settings,
                                 step.backend)  # fmt: skip
        else:
            rows = context.rows()
            _, features, _ = training_inputs(step, party, rows, _binning(context))
            labels = training_labels(party, rows) if party.role == "guest" else None
            role = build_lr_role(
                party.role,
                party.name,
                context.job_id,
                parties,
                settings,
                step.backend,
                features=features,
                labels=labels,
                sample_weight=(
                    None if labels is None else class_row_weights(labels, step.class_weight)
                ),
                plan_seed=None,  # drawn from the CSPRNG: no batch plan is fixed in deployments
                row_ids=rows.ids,  # each host refuses rows that are not its customers in order
            )
        if context.resume is not None:
            role.prepare_resume(context.resume.load(party.role, role.inputs_digest))
        return role

    def output(
        self,
        step: HeteroLrStep,
        context: StepContext,
        role: Role,
        result: Any,
        seconds: float,
    ) -> StepOutcome:
        """Write this party's model file and a new version of it in its registry.

        ``step-<i>-model.json`` (a new run overwrites it) and
        ``models/v<N>-<UTC time>-<hash>.json`` (never overwritten: see
        :mod:`vfl.tables.model_registry`); the summary names both and the version's
        SHA-256.
        """
        job, party, table = context.job, context.party, context.table
        document: dict[str, Any] = {
            "role": party.role,
            "mode": step.mode,
            "loss": step.settings(allow_weak_key=True).loss_name,
            "key_length": step.key_length,
            "label_privacy": _label_privacy_summary(step),
        }
        model = context.model
        if party.role == "arbiter" or result is None or table is None:
            document.update(model_file=None, model_version=None, seconds=round(seconds, 3))
        else:  # the arbiter only decrypted masked values: it has no model
            binning = _binning(context)
            names, _, scaling = training_inputs(step, party, table, binning)
            parties = LrParties(job.guest.name, tuple(h.name for h in job.hosts))
            model = lr_party_model(
                party.name,
                party.role,
                names,
                result,
                scaling,
                parties=parties,
                settings=step.settings(allow_weak_key=True),
                backend=step.backend,
            )
            if binning is not None:  # the weights apply to its WOE columns
                model = dataclasses.replace(model, binning=binning)
            path = model.save(context.folder / f"step-{context.index}-model.json")
            # ...and as a new version in the party's registry, which no run overwrites
            version = save_version(registry_folder(context.folder), model)
            final_loss = result.history[-1].get("loss") if result.history else None
            document.update(
                rows=len(table),
                features=len(names),
                binned=binning is not None,
                epochs=result.epochs,
                stop_reason=result.stop_reason,
                final_loss=final_loss,
                history=result.history,
                model_file=path.name,
                model_version=version.number,
                model_version_file=f"models/{version.name}",
                model_sha256=version.sha256(),
                seconds=round(seconds, 3),
            )
        document["resumed_after_epoch"] = role.resumed_after
        return StepOutcome(document, table, model)

    def reload(
        self, step: HeteroLrStep, context: StepContext, document: dict[str, Any]
    ) -> StepOutcome:
        """Load the party's model back from ``step-<i>-model.json``."""
        path = context.output_file(document, "model_file")
        model = context.model if path is None else PartyModel.load(path)
        return StepOutcome(document, context.table, model)


def _binning(context: StepContext) -> PartyBinning | None:
    """The party's binning from an earlier ``binning`` step (its model chain), if any."""
    return None if context.model is None else context.model.binning


def _checker(rule: Rule, context: Context) -> Callable[[Any], str | None]:
    """A :meth:`Section.take` check from a declared rule."""
    return lambda value: rule.problem(value, context)


def _label_privacy_summary(step: HeteroLrStep) -> dict[str, float] | None:
    """The guest's label-privacy guarantee and noise scale (``None`` without)."""
    privacy = step.settings(allow_weak_key=True).label_privacy()
    if privacy is None:
        return None
    return {"epsilon": privacy.epsilon, "delta": privacy.delta, "sigma": privacy.sigma}

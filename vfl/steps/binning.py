"""``type = "binning"``: every party bins its own columns, learns their WOE and IV, selects.

Each party bins its own columns on its own rows (quantile, equal-width, or
``"optimal"``: fine quantile bins merged to a monotonic WOE), with missing cells in a
bin of their own and declared categorical columns as groups of categories.  The guest
computes the WOE and IV of its own bins in the clear.  For a host's columns the guest
sends its labels encrypted under its key; the host sums them per bin, permutes its
bins and returns the encrypted sums; the guest decrypts the per-bin event counts,
computes WOE and IV and returns them, which the host un-permutes and keeps
(:mod:`protocols.binning.exchange`; every bin holds at least ``min_bin_rows`` rows).
Then each party selects its own columns by IV (``min_iv``, ``top_k``) and, optionally,
by correlation and VIF among its own WOE columns.

Each party writes ``step-<i>-bins.json`` (its
:class:`~vfl.tables.binning_model.PartyBinning`: bins, WOE, IV and selection) and
``step-<i>-iv.csv``.  The rows the next steps see are unchanged (the raw columns); the
binning travels in the party's model chain, so the next ``hetero_lr`` step trains on the
selected WOE columns and keeps the binning in its model file, and scoring applies it
before the weights.  On ``--resume`` a finished binning step is read back from its file.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from crypto.paillier.keys import key_length_problem, shortest_key_bits
from vfl.exceptions import DataError
from vfl.runtime.files import write_csv_atomically, write_json_atomically
from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    non_zero_workers,
    string_list,
)
from vfl.tables.models import PartyModel

if TYPE_CHECKING:
    from protocols.binning.bins import FeatureBins
    from protocols.binning.exchange import LabelNoise
    from protocols.roles import Role
    from vfl.jobs.jobfile import PartyConfig
    from vfl.tables.binning_model import BinningSettings, PartyBinning
    from vfl.tables.datasets import PartyTable

__all__ = ["METHODS", "BinningStep", "BinningType", "binning_columns"]

METHODS = ("optimal", "quantile", "equal_width")
"""The ways a party cuts its numeric columns into bins."""


@dataclass(frozen=True)
class BinningStep:
    """``type = "binning"``: each party bins its own columns and keeps their WOE and IV.

    The keys are those of :class:`~vfl.tables.binning_model.BinningSettings` (see
    ``docs/binning.md``) plus ``categorical`` (per party, the columns binned as
    categories), ``key_length`` (the guest's Paillier key for the hosts' labels) and
    ``n_jobs``.
    """

    method: str = "optimal"
    n_bins: int = 10
    min_bin_share: float = 0.05
    min_bin_rows: int | None = None
    rare_share: float = 0.01
    categorical: tuple[tuple[str, tuple[str, ...]], ...] = ()
    min_iv: float | None = 0.02
    top_k: int | None = None
    max_abs_corr: float | None = None
    max_vif: float | None = None
    noise_epsilon: float | None = None
    noise_delta: float = 1e-5
    key_length: int = 2048
    n_jobs: int | None = None

    type = "binning"

    def categorical_of(self, party: str) -> tuple[str, ...]:
        """The columns ``party`` declared categorical (``categorical.<party>``)."""
        return dict(self.categorical).get(party, ())

    def settings(self, party: str) -> BinningSettings:
        """The binning parameters of ``party`` in this step.

        Raises
        ------
        DataError
            If a value is out of range (the settings' own message).
        """
        from vfl.tables.binning_model import BinningSettings

        values: dict[str, Any] = {
            "method": self.method,
            "n_bins": self.n_bins,
            "min_bin_share": self.min_bin_share,
            "rare_share": self.rare_share,
            "categorical": self.categorical_of(party),
            "min_iv": self.min_iv,
            "top_k": self.top_k,
            "max_abs_corr": self.max_abs_corr,
            "max_vif": self.max_vif,
            "noise_epsilon": self.noise_epsilon,
            "noise_delta": self.noise_delta,
        }
        if self.min_bin_rows is not None:  # else the protocol's safe default
            values["min_bin_rows"] = self.min_bin_rows
        return BinningSettings(**values)


def _in_range(low: float, high: float | None = None, *, open_low: bool = False) -> Any:
    """A ``check``: a finite number in ``[low, high]`` (``(low, high]`` if ``open_low``)."""

    def check(value: float) -> str | None:
        above = value > low if open_low else value >= low
        if math.isfinite(value) and above and (high is None or value <= high):
            return None
        left = "(" if open_low else "["
        right = f"{high:g}]" if high is not None else "inf)"
        return f"must be a number in {left}{low:g}, {right}"

    return check


def _at_least(low: int) -> Any:
    return lambda value: None if value >= low else f"must be an integer >= {low}"


def _categorical(section: Section) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``categorical = { bank-a = ["region"], ... }``: per party, its categorical columns."""
    table = section.take("categorical", dict, {})
    declared: list[tuple[str, tuple[str, ...]]] = []
    for party, columns in table.items():
        if not isinstance(columns, list):
            raise section.error(
                "categorical",
                f"{party}: expected a list of column names, got {type(columns).__name__} "
                '(e.g. categorical = { bank-a = ["region", "job"] })',
            )
        problem = string_list(columns)
        if problem:
            raise section.error("categorical", f"{party}: {problem}")
        declared.append((str(party), tuple(columns)))
    return tuple(declared)


class BinningType(StepType[BinningStep]):
    """The ``binning`` step type."""

    name = "binning"
    output_files = ("binning_file", "iv_file")

    def __init__(self) -> None:
        # each role's fine bins and codes, from build_role to output (same process)
        self._prepared: weakref.WeakKeyDictionary[Role, _Prepared] = weakref.WeakKeyDictionary()

    def parse(self, section: Section, context: LoadContext) -> BinningStep:
        """See :meth:`StepType.parse`; the ranges are :class:`BinningSettings`'s."""
        defaults = BinningStep()
        step = BinningStep(
            method=section.take(
                "method",
                str,
                defaults.method,
                lambda v: None if v in METHODS else f"{v!r} is not one of {', '.join(METHODS)}",
            ),
            n_bins=section.take("n_bins", int, defaults.n_bins, _at_least(2)),
            min_bin_share=float(
                section.take(
                    "min_bin_share", (int, float), defaults.min_bin_share, _in_range(0, 0.5)
                )
            ),
            min_bin_rows=section.take("min_bin_rows", int, None, _at_least(1)),
            rare_share=float(
                section.take("rare_share", (int, float), defaults.rare_share, _in_range(0, 0.5))
            ),
            categorical=_categorical(section),
            min_iv=_optional_float(section, "min_iv", defaults.min_iv, _in_range(0)),
            top_k=section.take("top_k", int, None, _at_least(1)),
            max_abs_corr=_optional_float(
                section, "max_abs_corr", None, _in_range(0, 1, open_low=True)
            ),
            max_vif=_optional_float(section, "max_vif", None, _in_range(1, open_low=True)),
            noise_epsilon=_optional_float(
                section, "noise_epsilon", None, _in_range(0, open_low=True)
            ),
            noise_delta=float(
                section.take(
                    "noise_delta",
                    (int, float),
                    defaults.noise_delta,
                    _in_range(0, 1, open_low=True),
                )
            ),
            key_length=section.take(
                "key_length",
                int,
                defaults.key_length,
                lambda bits: key_length_problem(
                    bits,
                    allow_weak_key=context.allow_weak_keys,
                    flag="allow_weak_keys = true in [job]",
                ),
            ),
            n_jobs=section.take("n_jobs", int, None, non_zero_workers),
        )
        section.finish()
        if step.noise_delta != defaults.noise_delta and step.noise_epsilon is None:
            raise section.error(
                "noise_delta", "is used only with noise_epsilon; set noise_epsilon or drop it"
            )
        for party, _ in step.categorical:
            try:
                step.settings(party)
            except (DataError, ValueError) as error:
                raise context.error(str(error)) from None
        if not step.categorical:
            try:
                step.settings("")
            except (DataError, ValueError) as error:
                raise context.error(str(error)) from None
        return step

    def check(self, step: BinningStep, index: int, job: JobCheck) -> None:
        """Aligned rows, the guest's labels, and ``categorical`` naming only data parties."""
        job.require_aligned(index, step)
        guest = job.guest
        if guest.data is not None and guest.data.label_column is None:
            raise job.parties_error(
                f"the guest {guest.name} has no data.label_column, which the binning step "
                "needs (its WOE and IV are computed from the 0/1 labels)"
            )
        names = {p.name for p in (guest, *job.hosts)}
        unknown = sorted(party for party, _ in step.categorical if party not in names)
        if unknown:
            raise job.error(
                index,
                step,
                f"categorical names {unknown}, which are not the guest or a host of this job "
                f"({', '.join(sorted(names))})",
            )
        job.binned = True  # a later hetero_lr step trains on the selected WOE columns
        job.trained = False  # and the steps after it need that model, not an older one

    def raw_cells(self, step: BinningStep, party: PartyConfig) -> tuple[str, ...] | None:
        """Missing cells and text columns are read; ``categorical`` columns as text."""
        return step.categorical_of(party.name)

    def build_role(self, step: BinningStep, context: StepContext) -> Role | None:
        """The guest's (key owner) or a host's binning role; the arbiter takes no part.

        The party's fine bins are cut here, from its own rows, before any message.
        """
        from protocols.binning.exchange import BinningGuest, BinningHost
        from vfl.tables.binning_model import prepare_bins

        job, party = context.job, context.party
        if party.role == "arbiter":
            return None
        settings = _checked_settings(step, party)
        columns = binning_columns(party, context.rows(), step)
        bins, codes = prepare_bins(columns, settings)
        role: Role
        if party.role == "guest":
            role = BinningGuest(
                party.name,
                context.job_id,
                hosts=[host.name for host in job.hosts],
                labels=_labels(party, context.rows()),
                key_length=step.key_length,
                allow_weak_key=job.allow_weak_keys,
                min_bin_rows=settings.min_bin_rows,
                noise=_noise(settings),
                n_jobs=step.n_jobs,
            )
        else:
            role = BinningHost(
                party.name,
                context.job_id,
                guest=job.guest.name,
                codes=codes,
                n_bins=[b.n_bins for b in bins],
                min_bin_rows=settings.min_bin_rows,
                min_key_bits=shortest_key_bits(job.allow_weak_keys),
                n_jobs=step.n_jobs,
            )
        self._prepared[role] = _Prepared(settings, columns, bins, codes)
        return role

    def output(
        self, step: BinningStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """Write the party's binning and IV table; the next steps see its binning."""
        from vfl.tables.binning_model import finish_binning, own_statistics

        party = context.party
        prepared = self._prepared.pop(role)
        if party.role == "guest":
            labels = _labels(party, context.rows())
            statistics = own_statistics(prepared.codes, [b.n_bins for b in prepared.bins], labels)
            hosts_seen = {host: len(features) for host, features in dict(result).items()}
        else:
            statistics = list(result)
            hosts_seen = {}
        binning = finish_binning(prepared.bins, statistics, prepared.settings, prepared.columns)
        return _outcome(step, context, binning, hosts_seen, seconds)

    def reload(
        self, step: BinningStep, context: StepContext, document: dict[str, Any]
    ) -> StepOutcome:
        """Read the party's binning back from ``step-<i>-bins.json``."""
        import json

        from vfl.tables.binning_model import PartyBinning

        path = context.output_file(document, "binning_file")
        if path is None:
            return StepOutcome(document, context.table, context.model)
        try:
            binning = PartyBinning.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot reload this finished binning step ({error})") from None
        return StepOutcome(document, context.table, _chain_model(context, binning))


def _optional_float(section: Section, key: str, default: float | None, check: Any) -> float | None:
    value = section.take(key, (int, float), default, check)
    return None if value is None else float(value)


def _checked_settings(step: BinningStep, party: PartyConfig) -> BinningSettings:
    try:
        return step.settings(party.name)
    except ValueError as error:
        raise DataError(f"party {party.name!r}: the binning step: {error}") from None


@dataclass(frozen=True)
class _Prepared:
    """A party's binning inputs, cut before the exchange."""

    settings: BinningSettings
    columns: dict[str, Any]
    bins: list[FeatureBins]
    codes: npt.NDArray[np.int64]


def binning_columns(party: PartyConfig, table: PartyTable, step: BinningStep) -> dict[str, Any]:
    """The columns a party bins: ``data.feature_columns``, else every column.

    Parameters
    ----------
    party : PartyConfig
    table : PartyTable
        The party's rows (numeric columns with NaN for missing cells, text columns).
    step : BinningStep

    Returns
    -------
    dict
        Each column by name, in order (float64 with NaN, or object text).

    Raises
    ------
    DataError
        If the party has no rows, a named column is missing, or a declared categorical
        column is not one it bins.
    """
    if len(table) == 0:
        raise DataError(
            f"party {party.name!r} has no rows to bin (did the psi step find no common ids?)"
        )
    wanted = party.data.feature_columns if party.data is not None else None
    names = list(wanted) if wanted is not None else list(table.column_names)
    source = party.data.file if party.data else "its data"
    missing = [c for c in names if c not in table.column_names]
    if missing:
        raise DataError(
            f"party {party.name!r}: feature_columns {missing} are not in {source} "
            f"(columns: {table.column_names})"
        )
    stray = [c for c in step.categorical_of(party.name) if c not in names]
    if stray:
        raise DataError(
            f"party {party.name!r}: the binning step declares {stray} categorical, but they are "
            f"not columns it bins ({names})"
        )
    return table.columns(names)


def _labels(party: PartyConfig, table: PartyTable) -> Any:
    from vfl.steps.hetero_lr import training_labels

    return training_labels(party, table).astype("int64")


def _noise(settings: BinningSettings) -> LabelNoise | None:
    """The label noise on what the hosts receive (``noise_epsilon``), if any."""
    from protocols.binning.exchange import LabelNoise

    if settings.noise_epsilon is None:
        return None
    return LabelNoise(epsilon=settings.noise_epsilon, delta=settings.noise_delta)


def _chain_model(context: StepContext, binning: PartyBinning) -> PartyModel:
    job, party = context.job, context.party
    peers = [p.name for p in (job.guest, *job.hosts) if p.name != party.name]
    return PartyModel.binned(party.name, party.role, binning, peers)


def _outcome(
    step: BinningStep,
    context: StepContext,
    binning: PartyBinning,
    hosts_seen: Mapping[str, int],
    seconds: float,
) -> StepOutcome:
    """Write ``step-<i>-bins.json`` and ``step-<i>-iv.csv``; the summary and chain.

    (``step-<i>-binning.json`` is the step's summary, which the runner writes.)
    """
    folder, index = context.folder, context.index
    binning_path = write_json_atomically(folder / f"step-{index}-bins.json", binning.to_dict())
    table = binning.iv_table()
    iv_path = write_csv_atomically(
        folder / f"step-{index}-iv.csv",
        ["feature", "iv", "bins", "selected"],
        ([row["name"], repr(float(row["iv"])), row["bins"], row["selected"]] for row in table),
    )
    document: dict[str, Any] = {
        "role": context.party.role,
        "method": step.method,
        "rows": len(context.rows()),
        "features": len(binning.features),
        "selected": list(binning.selected),
        "iv": {row["name"]: float(row["iv"]) for row in table},
        "host_features": dict(hosts_seen),
        "binning_file": binning_path.name,
        "iv_file": iv_path.name,
        "seconds": round(seconds, 3),
    }
    return StepOutcome(document, context.table, _chain_model(context, binning))

"""The secure_sum step sums numbers only: missing cells and text are refused with advice.

A job with a binning step reads every party file with missing cells and text columns
allowed (:func:`vfl.steps.base.read_options`); the secure sum must not then add ``NaN``
into a total or call a text column absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.auditor.runs import prepare_secure_sum_job
from vfl.exceptions import DataError
from vfl.jobs.jobfile import load_job
from vfl.steps.base import StepContext
from vfl.steps.secure_sum import SecureSumStep, _values
from vfl.tables.datasets import PartyTable


def _context(tmp_path: Path, table: PartyTable) -> tuple[StepContext, SecureSumStep]:
    job = load_job(prepare_secure_sum_job(tmp_path, hosts=1))
    index = next(i for i, step in enumerate(job.steps) if step.type == "secure_sum")
    step = job.steps[index]
    assert isinstance(step, SecureSumStep)
    return StepContext(job, index, job.guest, table), step


def _table(balance: list[float], text: list[str | None] | None = None) -> PartyTable:
    rows = len(balance)
    features = np.column_stack([np.array(balance), np.arange(rows, dtype=np.float64)])
    extra = {} if text is None else {"region": np.array(text, dtype=object)}
    return PartyTable(
        [f"c{i}" for i in range(rows)], features, ["balance", "credit_limit"], text=extra
    )


def test_complete_numbers_are_summed_with_the_row_count(tmp_path: Path) -> None:
    context, step = _context(tmp_path, _table([1.5, 2.25, 4.0]))
    assert _values(step, context).tolist() == [7.75, 3.0, 3.0]


def test_a_missing_cell_is_refused_not_summed_as_nan(tmp_path: Path) -> None:
    context, step = _context(tmp_path, _table([1.5, float("nan"), 4.0]))
    with pytest.raises(DataError, match=r"'balance' has 1 missing cell.*binning step"):
        _values(step, context)


def test_a_text_column_is_named_as_text_not_as_absent(tmp_path: Path) -> None:
    context, step = _context(tmp_path, _table([1.0, 2.0], ["north", None]))
    step = SecureSumStep(columns=("region",), max_abs=step.max_abs, key_length=step.key_length)
    with pytest.raises(DataError, match=r"'region' holds text"):
        _values(step, context)
    unknown = SecureSumStep(columns=("income",), max_abs=step.max_abs, key_length=step.key_length)
    with pytest.raises(DataError, match=r"\['income'\] are not in"):
        _values(unknown, context)

"""``type = "secure_sum"``: every party learns column totals over all parties' rows.

Each party contributes the sums of ``columns`` over its current rows and its row
count; the guest holds the Paillier key, the hosts pass the encrypted running total
around the ring.  Nobody learns another party's own totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from crypto.paillier.keys import key_length_problem, shortest_key_bits
from protocols.secure_sum import SumContributor, SumKeyOwner
from vfl.exceptions import DataError
from vfl.steps.base import (
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    positive,
    string_list,
)

if TYPE_CHECKING:
    from protocols.roles import Role

__all__ = ["WEAKEST_SUM_KEY_BITS", "SecureSumStep", "SecureSumType"]

WEAKEST_SUM_KEY_BITS = 512
"""The shortest key of a secure sum, with ``allow_weak_keys`` (tests only)."""


@dataclass(frozen=True)
class SecureSumStep:
    """``type = "secure_sum"``: everyone learns the column totals over all parties.

    Each party contributes the sums of ``columns`` over its rows and its row count.
    """

    columns: tuple[str, ...]
    max_abs: float
    key_length: int

    type = "secure_sum"


class SecureSumType(StepType[SecureSumStep]):
    """The ``secure_sum`` step type."""

    name = "secure_sum"

    def parse(self, section: Section, context: LoadContext) -> SecureSumStep:
        """See :meth:`StepType.parse`."""
        step = SecureSumStep(
            columns=tuple(section.take("columns", list, check=string_list)),
            max_abs=float(section.take("max_abs", (int, float), 1e15, positive)),
            key_length=section.take(
                "key_length",
                int,
                2048,
                lambda bits: key_length_problem(
                    bits,
                    allow_weak_key=context.allow_weak_keys,
                    weakest=WEAKEST_SUM_KEY_BITS,
                    flag="allow_weak_keys = true in [job]",
                ),
            ),
        )
        section.finish()
        return step

    def build_role(self, step: SecureSumStep, context: StepContext) -> Role | None:
        """The guest holds the key; the hosts, in job order, form the ring."""
        if context.party.role == "arbiter":
            return None
        job, party = context.job, context.party
        values = _values(step, context)
        ring = [host.name for host in job.hosts]
        if party.role == "guest":
            return SumKeyOwner(
                party.name,
                context.job_id,
                contributors=ring,
                values=values,
                max_abs=step.max_abs,
                key_length=step.key_length,
                allow_weak_key=job.allow_weak_keys,
            )
        return SumContributor(
            party.name,
            context.job_id,
            key_owner=job.guest.name,
            ring=ring,
            values=values,
            max_abs=step.max_abs,
            min_key_bits=shortest_key_bits(job.allow_weak_keys, WEAKEST_SUM_KEY_BITS),
        )

    def output(
        self, step: SecureSumStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """The totals, the row count and the number of parties (no file)."""
        totals = np.asarray(result, dtype=np.float64)
        document = {
            "columns": list(step.columns),
            "totals": totals[:-1].tolist(),
            "rows": round(float(totals[-1])),
            "parties": 1 + len(context.job.hosts),
        }
        return StepOutcome(document, context.rows(), context.model)


def _values(step: SecureSumStep, context: StepContext) -> npt.NDArray[np.float64]:
    """The party's column sums, then its row count."""
    table, party = context.rows(), context.party
    missing = [c for c in step.columns if c not in table.column_names]
    if missing:
        source = party.data.file if party.data else "its data"
        raise DataError(f"party {party.name!r}: column(s) {missing} are not in {source}")
    sums = table.numeric(step.columns, purpose="the secure_sum step").sum(axis=0)
    return np.append(sums, float(len(table)))

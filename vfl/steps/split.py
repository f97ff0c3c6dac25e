"""``type = "split"``: hold out a share of the aligned rows, the same rows on every party.

Every party assigns each of its current rows to the hold-out when the first 8 bytes of
``HMAC-SHA256(salt, id)``, read as a big-endian integer and divided by ``2**64``, are
below ``holdout``.  The ids are aligned (a ``psi`` step before it), so every party
computes the same split without any message, whatever the order of its rows.  The
training rows are what the next steps see; the held-out rows are written to
``step-<i>-holdout.csv`` (the party's own columns only), which a later ``evaluate``
step scores.  On ``--resume`` the split is computed again from the reloaded rows (it
is a function of the ids and the salt alone) and the hold-out file must still be there.

What the split reveals: nothing new.  It is a public, deterministic function of the
ids and the salt, and every party already knows the common ids after the ``psi`` step.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from protocols.messages import Message
from protocols.roles import Role
from vfl.exceptions import DataError
from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    read_options,
)
from vfl.tables.datasets import read_party_csv, write_party_csv

if TYPE_CHECKING:
    from vfl.tables.datasets import PartyTable

__all__ = [
    "MAX_HOLDOUT",
    "SplitStep",
    "SplitType",
    "holdout_mask",
    "read_holdout",
]

MAX_HOLDOUT = 0.9
"""The largest share of rows a ``split`` step may hold out."""


def holdout_mask(ids: Sequence[str], salt: str, holdout: float) -> npt.NDArray[np.bool_]:
    """Which rows are held out: ``int(HMAC-SHA256(salt, id)[:8]) / 2**64 < holdout``.

    Parameters
    ----------
    ids : sequence of str
        The rows' customer ids (UTF-8 encoded for the hash).
    salt : str
        The HMAC key (UTF-8 encoded); every party must use the same.
    holdout : float
        The share of ids to hold out, in ``(0, 1)``.

    Returns
    -------
    numpy.ndarray
        One boolean per id: ``True`` for a held-out row.  Each id's answer depends on
        the id, the salt and ``holdout`` only, never on the other ids or their order.

    Examples
    --------
    >>> holdout_mask(["a", "b", "c", "d"], "salt", 0.5).tolist()
    [False, True, True, False]
    >>> holdout_mask(["c", "b"], "salt", 0.5).tolist()  # the same answer in any order
    [True, True]
    """
    key = salt.encode("utf-8")
    threshold = holdout * 2.0**64
    return np.fromiter(
        (
            int.from_bytes(
                hmac.new(key, customer.encode("utf-8"), hashlib.sha256).digest()[:8], "big"
            )
            < threshold
            for customer in ids
        ),
        dtype=np.bool_,
        count=len(ids),
    )


def _share(value: float) -> str | None:
    if math.isfinite(value) and 0 < value <= MAX_HOLDOUT:
        return None
    return f"must be a share in (0, {MAX_HOLDOUT}], e.g. 0.3 to hold out 30 % of the rows"


def _salt(value: str) -> str | None:
    return None if value.strip() else "must not be empty (or leave it out: the job id)"


@dataclass(frozen=True)
class SplitStep:
    """``type = "split"``: hold out a share of the aligned rows, the same rows on every party.

    Attributes
    ----------
    holdout : float
        The share of rows held out, in ``(0, 0.9]``.
    salt : str or None
        The HMAC key of the split; ``None``: the job id.
    """

    holdout: float
    salt: str | None = None

    type = "split"

    def salt_for(self, job_id: str) -> str:
        """The salt the split uses in job ``job_id``."""
        return job_id if self.salt is None else self.salt


class _LocalSplit(Role):
    """A role that exchanges nothing: its result is the hold-out mask of its rows."""

    def __init__(self, party: str, job_id: str, mask: npt.NDArray[np.bool_]) -> None:
        super().__init__(party, job_id)
        self.mask = mask

    def start(self) -> list[Message]:
        """Finish at once with the mask; nothing to send."""
        self._finish(self.mask)
        return []

    def receive(self, message: Message) -> list[Message]:
        """Refuse any message: the split needs none."""
        raise self._unexpected(message, "splitting its rows (no message is expected)")

    @property
    def waiting_for(self) -> Sequence[str]:
        """Nobody."""
        return ()


class SplitType(StepType[SplitStep]):
    """The ``split`` step type."""

    name = "split"
    output_files = ("holdout_file",)

    def parse(self, section: Section, context: LoadContext) -> SplitStep:
        """See :meth:`StepType.parse`."""
        step = SplitStep(
            holdout=float(section.take("holdout", (int, float), check=_share)),
            salt=section.take("salt", str, None, _salt),
        )
        section.finish()
        return step

    def check(self, step: SplitStep, index: int, job: JobCheck) -> None:
        """Aligned rows; the steps after it need a model trained after it."""
        job.require_aligned(index, step)
        job.held_out = index
        job.trained = False  # a model trained before would have seen the held-out rows

    def build_role(self, step: SplitStep, context: StepContext) -> Role | None:
        """A local role (the arbiter takes no part): no message is exchanged."""
        if context.party.role == "arbiter":
            return None
        return _LocalSplit(context.party.name, context.job_id, self._mask(step, context))

    def output(
        self, step: SplitStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """Write ``step-<i>-holdout.csv``; the next steps see the training rows."""
        table = context.rows()
        mask: npt.NDArray[np.bool_] = result
        training, held_out = _parts(table, mask)
        if len(training) == 0 or len(held_out) == 0:
            which = "no row is held out" if len(held_out) == 0 else "every row is held out"
            raise DataError(
                f"party {context.party.name!r}: the split of step {context.index} leaves "
                f"{len(training)} training and {len(held_out)} held-out rows ({which}); "
                "change holdout (or the salt), or use more rows"
            )
        path = context.folder / f"step-{context.index}-holdout.csv"
        data = context.party.data
        assert data is not None
        write_party_csv(held_out, path, id_column=data.id_column, label_column=data.label_column)
        document = {
            "holdout": step.holdout,
            "salt": "the job id" if step.salt is None else "from the job file",
            "input_rows": len(table),
            "training_rows": len(training),
            "holdout_rows": len(held_out),
            "holdout_file": path.name,
            "seconds": round(seconds, 3),
        }
        return StepOutcome(document, training, context.model)

    def reload(
        self, step: SplitStep, context: StepContext, document: dict[str, Any]
    ) -> StepOutcome:
        """Split the reloaded rows again (the same split) and check the hold-out file."""
        table = context.table
        if table is None:  # the arbiter
            return StepOutcome(document, table, context.model)
        training, _ = _parts(table, self._mask(step, context))
        path = context.output_file(document, "holdout_file")
        if len(training) != document.get("training_rows") or path is None:
            raise DataError(
                f"{context.party.name} cannot resume: the split of step {context.index} "
                f"now gives {len(training)} training rows, the finished run had "
                f"{document.get('training_rows')}; run the job again without --resume"
            )
        return StepOutcome(document, training, context.model)

    @staticmethod
    def _mask(step: SplitStep, context: StepContext) -> npt.NDArray[np.bool_]:
        return holdout_mask(context.rows().ids, step.salt_for(context.job.job_id), step.holdout)


def _parts(table: PartyTable, mask: npt.NDArray[np.bool_]) -> tuple[PartyTable, PartyTable]:
    """The training rows and the held-out rows, each in the table's order."""
    return table.take(np.flatnonzero(~mask)), table.take(np.flatnonzero(mask))


def read_holdout(context: StepContext, split_index: int) -> PartyTable:
    """The held-out rows the ``split`` step ``split_index`` wrote for ``context.party``.

    Parameters
    ----------
    context : StepContext
        The later step's context (its party and job).
    split_index : int
        The index of the ``split`` step.

    Returns
    -------
    PartyTable

    Raises
    ------
    DataError
        If the file is missing.
    """
    path = context.folder / f"step-{split_index}-holdout.csv"
    if not path.is_file():
        raise DataError(
            f"party {context.party.name!r}: the hold-out rows of step {split_index} "
            f"({path}) are missing; run the job again without --resume"
        )
    data = context.party.data
    assert data is not None
    return read_party_csv(
        path,
        id_column=data.id_column,
        label_column=data.label_column,
        **read_options(context.job, context.party),
    )

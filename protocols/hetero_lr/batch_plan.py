"""The public mini-batch plan every party derives from one agreed seed.

Which rows form each batch is not secret (every party holds all aligned rows), but
all parties must agree on it.  The guest draws a seed, sends it in ``LrSetup``, and
each party orders ``range(rows)`` per epoch by the keyed hash
``BLAKE2b(key=seed, epoch || row)``: a shuffle without a random-number generator.
The rows are split into ``max(1, rows // batch_size)`` batches whose sizes differ
by at most one, so no batch is smaller than ``batch_size`` (a small last batch
would let a party solve for residuals).

Examples
--------
>>> plan = BatchPlan(rows=10, batch_size=4, seed=bytes(32))
>>> [len(batch) for batch in plan.batches(0)]
[5, 5]
>>> sorted(int(i) for batch in plan.batches(0) for i in batch) == list(range(10))
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BatchPlan"]


@dataclass(frozen=True)
class BatchPlan:
    """Mini-batches of ``rows`` rows for every epoch.

    Parameters
    ----------
    rows : int
        Training rows (aligned on every party).
    batch_size : int
        Minimum rows per batch; ``rows < batch_size`` gives one full batch.
    seed : bytes
        The agreed seed (32 bytes).

    Examples
    --------
    >>> plan = BatchPlan(rows=1000, batch_size=300, seed=bytes(32))
    >>> plan.batch_count, plan.smallest, [len(batch) for batch in plan.batches(0)]
    (3, 333, [334, 333, 333])
    >>> bool((plan.batches(1)[0] == plan.batches(0)[0]).all())  # reshuffled every epoch
    False
    """

    rows: int
    batch_size: int
    seed: bytes

    @property
    def batch_count(self) -> int:
        """Batches per epoch."""
        return max(1, self.rows // self.batch_size)

    @property
    def smallest(self) -> int:
        """Rows in the smallest batch."""
        return self.rows // self.batch_count

    def batches(self, epoch: int) -> list[npt.NDArray[np.int64]]:
        """The row indices of each batch of ``epoch``.

        Parameters
        ----------
        epoch : int
            The epoch, from 0.

        Returns
        -------
        list of numpy.ndarray
            :attr:`batch_count` int64 arrays that together hold every row once.
        """
        prefix = epoch.to_bytes(8, "big")
        keys = np.fromiter(
            (
                int.from_bytes(
                    hashlib.blake2b(
                        prefix + row.to_bytes(8, "big"), digest_size=8, key=self.seed
                    ).digest(),
                    "big",
                )
                for row in range(self.rows)
            ),
            dtype=np.uint64,
            count=self.rows,
        )
        order = np.argsort(keys, kind="stable").astype(np.int64)
        return list(np.array_split(order, self.batch_count))

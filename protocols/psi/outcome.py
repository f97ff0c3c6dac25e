"""What a party's PSI role produces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["PsiOutcome"]


@dataclass(frozen=True)
class PsiOutcome:
    """One party's result of a PSI run.

    Attributes
    ----------
    rows : numpy.ndarray or None
        Int64 indices into this party's input ids: ``rows[k]`` is its k-th common
        customer, in the order every party agreed on.  ``None`` when this party does
        not learn the intersection (hosts with output ``"guest"``; everyone with
        ``"cardinality"``).
    size : int or None
        Number of common ids, or ``None`` when this party does not learn it.
    own_size : int
        Number of ids this party put in.
    peer_sizes : dict of str to int
        Every peer's number of ids (set sizes are revealed by design).

    Examples
    --------
    What :class:`~protocols.psi.PsiGuest` produces; ``rows`` indexes its ids:

    >>> import numpy as np
    >>> ids = [b"ann", b"bob", b"cid"]
    >>> outcome = PsiOutcome(np.array([2, 0]), 2, own_size=3, peer_sizes={"host": 5})
    >>> [ids[row] for row in outcome.rows]
    [b'cid', b'ann']
    """

    rows: npt.NDArray[np.int64] | None
    size: int | None
    own_size: int
    peer_sizes: dict[str, int]

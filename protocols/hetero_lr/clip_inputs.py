"""The comparison inputs of a clipped sigmoid: coarse ring shares of ``z - lo`` and ``hi - z``.

Shared-mode training holds each row's score as integer shares ``z = a + b`` at scale
``2**INPUT_FRACTION`` (the guest's ``a``, the partner host's ``b``; either may be a
mask far wider than ``z``).  Clipping the sigmoid to 0 below ``lo`` and 1 above ``hi``
needs boolean shares of ``[z < lo]`` and ``[z > hi]``, which
:mod:`crypto.comparison` computes as the most significant bit of a sum of shares in
``Z_2**bits``.  This module makes those shares locally, without a message:

* each party floors its share to ``2**-fraction`` units, ``floor(a / 2**s)`` with
  ``s = INPUT_FRACTION - fraction``: the two floors add up to ``floor(z * 2**fraction)``
  or one less (never more: exact integer arithmetic, no wrap);
* ``[z < lo]`` is the sign of ``floor(...) - lo * 2**fraction``; ``[z > hi]`` the sign
  of ``hi * 2**fraction - floor(...) - 1``, each reduced mod ``2**bits`` (a sign bit is
  right while ``|z|`` stays below ``2**(bits - fraction - 2)``);
* the guest's inputs carry the thresholds, the partner's are its floors (negated for
  the upper threshold).

A row with ``z`` in ``[t, t + 2**-fraction)`` for a threshold ``t`` may fall on either
side (the floors may lose one unit), the only inexactness; :func:`reference` states
exactly which side each sum lands on.

Examples
--------
>>> z = [-9.0, -7.5, 0.0, 6.5]
>>> a = [round(v * 2**16) + 12345678901 for v in z]  # guest: z + mask
>>> b = [-12345678901] * 4  # partner: minus the mask
>>> guest, partner = guest_inputs(a), partner_inputs(b)
>>> sums = (guest + partner) % 2**CLIP_BITS
>>> (sums >> (CLIP_BITS - 1)).tolist()  # [z < -8] for the 4 rows, then [z > 6]
[1, 0, 0, 0, 0, 0, 0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.shared_fixed_point import INPUT_FRACTION

__all__ = [
    "CLIP_BITS",
    "CLIP_FRACTION",
    "CLIP_HIGH",
    "CLIP_LOW",
    "guest_inputs",
    "partner_inputs",
    "reference",
]

CLIP_LOW = -8
"""Below this score the clipped sigmoid is 0 (``benchmarks.sigmoid_study --clip -8 6``)."""
CLIP_HIGH = 6
"""Above this score the clipped sigmoid is 1."""
CLIP_FRACTION = 2
"""Fraction bits of the compared scores: thresholds placed to a quarter of a unit."""
CLIP_BITS = 16
"""Ring of the comparison, ``Z_2**16``: signs are right for ``|z| < 2**12``."""

UInt64 = npt.NDArray[np.uint64]


def _floors(shares: Sequence[int]) -> list[int]:
    shift = INPUT_FRACTION - CLIP_FRACTION
    return [int(share) >> shift for share in shares]  # floor division, negative shares too


def _ring(values: list[int]) -> UInt64:
    modulus = 1 << CLIP_BITS
    return np.array([value % modulus for value in values], dtype=np.uint64)


def guest_inputs(shares: Sequence[int]) -> UInt64:
    """The guest's ``2n`` comparison inputs from its ``n`` shares of ``z``.

    Parameters
    ----------
    shares : sequence of int
        The guest's integer shares of the batch's scores at scale ``2**INPUT_FRACTION``.

    Returns
    -------
    numpy.ndarray
        ``(2n,)`` uint64 in ``[0, 2**CLIP_BITS)``: ``floor(a) - lo`` for every row,
        then ``hi - floor(a) - 1`` (in ``2**-CLIP_FRACTION`` units).
    """
    floors = _floors(shares)
    low, high = CLIP_LOW << CLIP_FRACTION, CLIP_HIGH << CLIP_FRACTION
    return _ring([f - low for f in floors] + [high - f - 1 for f in floors])


def partner_inputs(shares: Sequence[int]) -> UInt64:
    """The partner host's ``2n`` comparison inputs from its ``n`` shares of ``z``.

    Parameters
    ----------
    shares : sequence of int
        The partner's integer shares of the batch's scores at scale ``2**INPUT_FRACTION``.

    Returns
    -------
    numpy.ndarray
        ``(2n,)`` uint64: ``floor(b)`` for every row, then ``-floor(b)``, mod ``2**CLIP_BITS``.
    """
    floors = _floors(shares)
    return _ring(floors + [-f for f in floors])


def reference(guest: Sequence[int], partner: Sequence[int]) -> tuple[list[int], list[int]]:
    """What the comparisons compute, in the clear: ``([z < lo], [z > hi])`` per row.

    Exactly the sign bits of the sums of :func:`guest_inputs` and :func:`partner_inputs`
    (for tests and the transcript auditor): with ``f = floor(a / 2**s) + floor(b / 2**s)``,
    ``[f < lo * 2**CLIP_FRACTION]`` and ``[f >= hi * 2**CLIP_FRACTION]``.

    Raises
    ------
    ProtocolError
        If a row's score is beyond the range whose sign the ring holds.
    """
    low, high = CLIP_LOW << CLIP_FRACTION, CLIP_HIGH << CLIP_FRACTION
    below, above = [], []
    limit = 1 << (CLIP_BITS - 2)
    for f in (x + y for x, y in zip(_floors(guest), _floors(partner), strict=True)):
        if abs(f) >= limit:
            raise ProtocolError(
                f"a score of {f / (1 << CLIP_FRACTION):g} is beyond the clip's ring"
            )
        below.append(int(f < low))
        above.append(int(f >= high))
    return below, above

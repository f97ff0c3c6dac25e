"""An independent fixed-point reference: Python ints and exact rounding, no crypto code."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction


def mantissas(values: Iterable[float], exponent: int) -> list[int]:
    """round(value / 16**exponent), ties to even, computed exactly."""
    scale = Fraction(16) ** (-exponent)
    return [round(Fraction(float(v)) * scale) for v in values]


def decode(mantissas_: Iterable[int], exponent: int) -> list[float]:
    """Correctly rounded floats of mantissa * 16**exponent."""
    scale = Fraction(16) ** exponent
    return [float(m * scale) for m in mantissas_]

"""Result checks: a benchmark must never report the speed of a wrong answer."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["VerificationError", "check_close"]


class VerificationError(AssertionError):
    """A benchmarked operation returned a wrong result."""


def check_close(
    what: str,
    got: npt.ArrayLike,
    want: npt.ArrayLike,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> None:
    """Raise :class:`VerificationError` unless ``got`` matches ``want`` elementwise.

    Parameters
    ----------
    what : str
        Names the measurement in the error message.
    got, want : array_like
        Decrypted result and the plaintext (numpy) reference.
    rtol, atol : float
        Tolerances as in :func:`numpy.allclose`.
    """
    got_array = np.asarray(got, dtype=np.float64)
    want_array = np.asarray(want, dtype=np.float64)
    if got_array.shape != want_array.shape:
        raise VerificationError(
            f"{what}: result has shape {got_array.shape}, expected {want_array.shape}"
        )
    if not np.allclose(got_array, want_array, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(got_array - want_array)))
        raise VerificationError(
            f"{what}: decrypted result differs from the numpy reference (max abs error "
            f"{worst:.3g}, rtol={rtol}, atol={atol}); its timing would be meaningless"
        )

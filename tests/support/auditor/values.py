"""Helpers: values of a message, searching bytes, fixed-point encodings, uniformity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from crypto.encoding import encode_array
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT, FACTOR_EXPONENT
from protocols.messages import Message, payload_fields
from tests.support.auditor.pairing import Wire


def fields_of(message: Message) -> list[tuple[str, Any]]:
    return [(f.name, getattr(message, f.name)) for f in payload_fields(type(message))]


EXPONENTS = (
    ENCRYPTION_EXPONENT,
    FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + 2 * FACTOR_EXPONENT,
)
"""Every exponent a hetero LR value is encoded at (values, factors and their products)."""


def encodings(values: Iterable[Any], moduli: Iterable[int]) -> set[int]:
    """Fixed-point mantissas of ``values`` at every exponent in :data:`EXPONENTS`, mod n."""
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    flat = np.concatenate(arrays) if arrays else np.zeros(0)
    flat = np.unique(flat[np.isfinite(flat)])
    residues: set[int] = set()
    for exponent in EXPONENTS:
        mantissas = encode_array(flat, exponent)
        for n in moduli:
            residues.update(m % n for m in mantissas)
    return residues


def distinctive(values: Iterable[float]) -> set[float]:
    """Floats whose 8 bytes are distinctive enough to search for (>= 6 nonzero bytes)."""
    return {
        float(v)
        for v in values
        if np.isfinite(v) and sum(b != 0 for b in np.float64(v).tobytes()) >= 6
    }


class Needles:
    """Byte strings (>= 8 bytes) to find anywhere in a set of frames, fast (numpy)."""

    def __init__(self) -> None:
        self._by_anchor: dict[int, list[tuple[bytes, str, frozenset[str] | None]]] = defaultdict(
            list
        )

    def add(self, needle: bytes, what: str, receivers: Iterable[str] | None = None) -> None:
        assert len(needle) >= 8, (needle, what)
        anchor = int.from_bytes(needle[-8:], "little")
        only = None if receivers is None else frozenset(receivers)
        self._by_anchor[anchor].append((bytes(needle), what, only))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_anchor.values())

    def search(self, wire: Sequence[Wire]) -> list[str]:
        """Every needle found in a frame to a receiver it is forbidden for."""
        if not self._by_anchor or not wire:
            return []
        data = b"".join(w.frame for w in wire)
        starts = np.cumsum([0] + [len(w.frame) for w in wire])
        anchors = np.fromiter(self._by_anchor, dtype=np.uint64, count=len(self._by_anchor))
        found: list[str] = []
        for shift in range(8):
            count = (len(data) - shift) // 8
            words = np.frombuffer(data, dtype="<u8", count=count, offset=shift)
            for index in np.flatnonzero(np.isin(words, anchors)):
                end = shift + 8 * int(index) + 8
                frame = int(np.searchsorted(starts, end - 8, side="right")) - 1
                w = wire[frame]
                for needle, what, only in self._by_anchor[int(words[index])]:
                    begin = end - len(needle)
                    if begin < starts[frame] or data[begin:end] != needle:
                        continue
                    if only is None or w.receiver in only:
                        found.append(
                            f"{what} in {w.message.describe()} (offset {begin - starts[frame]})"
                        )
        return found


def uniformity_problems(residues: Sequence[int], n: int, what: str) -> list[str]:
    """Why ``residues`` do not look uniform in ``[0, n)`` (empty if they do).

    A masked value is ``(m + R) mod n`` with ``R`` uniform; an unmasked fixed-point
    value is small (or ``n`` minus a small one).  Each uniform residue is within
    ``2**200`` of either end with probability ~``2**-823``; the counts below fail for
    uniform residues with probability < 1e-6.
    """
    problems: list[str] = []
    if not residues:
        return [f"{what}: nothing to check"]
    low = [r for r in residues if not 2**200 <= r < n - 2**200]
    if low:
        problems.append(f"{what}: {len(low)} of {len(residues)} residues are near 0 or n")
    if len(set(residues)) != len(residues):
        problems.append(f"{what}: a residue repeats")
    count = len(residues)
    upper = sum(2 * r >= n for r in residues)
    if abs(upper - count / 2) > 2.5 * count**0.5 + 1:
        problems.append(f"{what}: {upper} of {count} residues in the upper half of Z_n")
    short = sum(r.bit_length() < n.bit_length() - 8 for r in residues)
    if short > count / 16 + 3:
        problems.append(f"{what}: {short} of {count} residues are 8+ bits shorter than n")
    top_bytes = {r * 256 // n for r in residues}
    if len(top_bytes) < min(count, 256) // 2:
        problems.append(f"{what}: only {len(top_bytes)} distinct top bytes in {count} residues")
    return problems

"""Random 1-out-of-2 oblivious transfers from the KKRT oblivious PRF (:mod:`crypto.ot_extension`).

KKRT16's batched OPRF is a 1-out-of-N OT extension; with two public inputs per
instance ("bit 0" and "bit 1", each a pseudorandom 512-bit code word) it gives
random 1-out-of-2 OTs: instance ``j`` of the receiver, whose choice bit is ``b``,
puts the code word of ``b`` in row ``j``; it learns the PRF value ``H(j, t[j])`` of
``b`` only, while the sender evaluates the PRF on both words and so holds both pads.
The two code words differ in about half of their 512 bits (at least
:data:`MIN_CODE_DISTANCE` is checked), which is what KKRT's security argument needs.

The pads are 16 bytes (:data:`crypto.ot_extension.OUTPUT_BYTES`); instances are the
OPRF's bins, so every instance of a job has its own number and the pads of different
instances are independent.

Examples
--------
>>> import numpy as np
>>> from crypto.ot import RandomOtReceiver, RandomOtSender
>>> from crypto.ot_extension import CODE_BYTES, OprfReceiver, OprfSender, choice_bits
>>> secret = np.frombuffer(bytes(range(CODE_BYTES)), dtype=np.uint8)
>>> base_sender, base_receiver = RandomOtSender(512), RandomOtReceiver(choice_bits(secret))
>>> receiver = OprfReceiver(base_sender.keys(base_receiver.points), key=bytes(32))
>>> sender = OprfSender(secret, base_receiver.keys(base_sender.point), key=bytes(32))
>>> codes = bit_codes(bytes(32))
>>> bits = np.array([0, 1, 1] + [0] * 125, dtype=np.uint8)
>>> columns, t_rows = receiver.columns(0, choice_rows(bits, codes))
>>> chosen = chosen_pads(receiver, t_rows, 0)
>>> pad0, pad1 = both_pads(sender, sender.rows(0, columns), 0, codes)
>>> bool((np.where(bits[:, None] == 1, pad1, pad0) == chosen).all())
True
>>> bool((pad0 != pad1).any(axis=1).all())
True
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from crypto.exceptions import MalformedInputError
from crypto.ot_extension import CODE_BITS, CODE_BYTES, OUTPUT_BYTES, OprfReceiver, OprfSender

__all__ = ["MIN_CODE_DISTANCE", "bit_codes", "both_pads", "choice_rows", "chosen_pads"]

MIN_CODE_DISTANCE = 128
"""Fewest bits in which the two code words must differ (KKRT's requirement)."""
_LABEL = b"VFL-ROT-V01 bit codes"

Pads = npt.NDArray[np.uint64]
"""``(count, 2)`` uint64: one 16-byte pad per instance."""


def bit_codes(key: bytes) -> npt.NDArray[np.uint8]:
    """The public code words of choice 0 and choice 1 for a job.

    Parameters
    ----------
    key : bytes
        Public, per job (e.g. derived from the PSI salt).

    Returns
    -------
    numpy.ndarray
        ``(2, CODE_BYTES)`` uint8.

    Raises
    ------
    MalformedInputError
        If the two words are closer than :data:`MIN_CODE_DISTANCE` bits (probability
        about ``2**-180``; another key must be used).

    Examples
    --------
    >>> codes = bit_codes(b"job")
    >>> codes.shape, int(np.unpackbits(codes[0] ^ codes[1]).sum()) >= MIN_CODE_DISTANCE
    ((2, 64), True)
    """
    words = np.frombuffer(hashlib.shake_256(_LABEL + key).digest(2 * CODE_BYTES), dtype=np.uint8)
    words = words.reshape(2, CODE_BYTES)
    if int(np.unpackbits(words[0] ^ words[1]).sum()) < MIN_CODE_DISTANCE:
        raise MalformedInputError("the two OT code words are too close; use another key")
    return words


def choice_rows(bits: npt.NDArray[np.uint8], codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The receiver's OPRF rows: the code word of each choice bit.

    Parameters
    ----------
    bits : numpy.ndarray
        ``(count,)`` choice bits, 0 or 1; ``count`` a multiple of 128.
    codes : numpy.ndarray
        :func:`bit_codes`.

    Returns
    -------
    numpy.ndarray
        ``(count, CODE_BYTES)`` uint8, for :meth:`OprfReceiver.columns`.

    Raises
    ------
    MalformedInputError
        If a bit is not 0 or 1.
    """
    bits = np.asarray(bits)
    if bits.ndim != 1 or (len(bits) and int(bits.max(initial=0)) > 1):
        raise MalformedInputError("choice bits must be a vector of 0 and 1")
    return np.ascontiguousarray(codes[bits.astype(np.intp)])


def _as_pads(outputs: bytes, count: int) -> Pads:
    if len(outputs) != count * OUTPUT_BYTES:
        raise MalformedInputError(f"{len(outputs)} bytes of OPRF output for {count} instances")
    return np.frombuffer(outputs, dtype="<u8").reshape(count, 2).copy()


def chosen_pads(receiver: OprfReceiver, t_rows: npt.NDArray[np.uint8], first: int) -> Pads:
    """The receiver's pads, one per instance: the PRF value of its choice.

    Parameters
    ----------
    receiver : OprfReceiver
        The OPRF receiver.
    t_rows : numpy.ndarray
        The rows :meth:`OprfReceiver.columns` kept.
    first : int
        Number of the first instance (the block's first bin).

    Returns
    -------
    numpy.ndarray
        ``(len(t_rows), 2)`` uint64.
    """
    bins = np.arange(first, first + len(t_rows), dtype=np.int64)
    return _as_pads(receiver.outputs(t_rows, bins), len(t_rows))


def both_pads(
    sender: OprfSender, q_rows: npt.NDArray[np.uint8], first: int, codes: npt.NDArray[np.uint8]
) -> tuple[Pads, Pads]:
    """The sender's two pads of every instance.

    Parameters
    ----------
    sender : OprfSender
        The OPRF sender.
    q_rows : numpy.ndarray
        :meth:`OprfSender.rows` of a block.
    first : int
        Number of the block's first instance.
    codes : numpy.ndarray
        :func:`bit_codes`.

    Returns
    -------
    tuple of numpy.ndarray
        The pads of choice 0 and of choice 1, each ``(len(q_rows), 2)`` uint64.

    Raises
    ------
    MalformedInputError
        If ``codes`` is not two code words.
    """
    if codes.shape != (2, CODE_BYTES) or CODE_BITS != 8 * CODE_BYTES:
        raise MalformedInputError("codes must be two code words (bit_codes)")
    count = len(q_rows)
    bins = np.arange(first, first + count, dtype=np.int64)
    pads = []
    for bit in (0, 1):
        words = np.broadcast_to(codes[bit], (count, CODE_BYTES))
        pads.append(_as_pads(sender.outputs(q_rows, bins, np.ascontiguousarray(words)), count))
    return pads[0], pads[1]

"""Chosen-message oblivious transfers from the KKRT OT extension (semi-honest).

KKRT16's batched OPRF (:mod:`crypto.ot_extension`) is a 1-out-of-N OT extension:
instance ``j`` of the **receiver** R, whose choice is ``v`` in ``[0, N)``, puts the
public code word ``C[v]`` (:func:`choice_codes`) in row ``j`` and learns the pad
``H(j, t[j])`` of ``v`` only; the **sender** S evaluates the PRF on all ``N`` code
words and so holds every pad of the instance.  This module builds on it:

* the setup (R is the base-OT *sender*, S the base-OT *receiver* with its secret
  512 choice bits): :func:`setup_start` (R's point -> S), :func:`setup_respond`
  (S's points -> R), :func:`setup_finish`; each party ends with a small
  serialisable state (:class:`OtReceiverState`, :class:`OtSenderState`): the setup
  keys and an **instance counter**;
* 1-out-of-N chosen-message OT of byte strings (:func:`request`,
  :func:`sender_pads`, :func:`receiver_pads`, then XOR masking);
* 1-out-of-2 OT of big non-negative integers (:class:`IntOtReceiver`,
  :class:`IntOtSender`);
* random bit products from random OTs (:class:`BitProductReceiver`,
  :class:`BitProductSender`): R's random bit ``a``, S's random bit ``b`` and XOR
  shares of ``a & b``, the cross terms of Beaver bit triples.

Instance numbers: KKRT is secure only if every instance number (the PRF's bin) is
used for one receiver query.  Both states hold the next unused number; a batch of
``n`` instances reserves ``ceil(n / 128) * 128`` numbers (``BIN_ALIGN``), starting
at the counter, on both sides.  The sender refuses a request whose first instance is
not its own counter (a replay, a lost message or a desynchronised peer).

Pads: the OPRF output (16 bytes, a correlation-robust hash of the instance number
and the row) is used directly for messages of up to 16 bytes (its prefix), and
expanded with SHAKE-256 over a domain label, the instance number and the pad for
longer messages.

Examples
--------
>>> start, point = setup_start(b"job key")
>>> sender_state, points = setup_respond(point, b"job key")
>>> receiver_state = setup_finish(start, points)
>>> ot_r, ot_s = IntOtReceiver(receiver_state), IntOtSender(sender_state)
>>> message = ot_r.request(np.array([1, 0], dtype=np.uint8))
>>> reply = ot_s.respond(message, [5, 2**100], [7, 3], bits=101)
>>> ot_r.result(reply)
[7, 1267650600228229401496703205376]
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crypto.exceptions import MalformedInputError
from crypto.ot import RandomOtReceiver, RandomOtSender
from crypto.ot_extension import (
    BIN_ALIGN,
    CODE_BITS,
    CODE_BYTES,
    OUTPUT_BYTES,
    OprfReceiver,
    OprfSender,
    choice_bits,
)

__all__ = [
    "MAX_CHOICES",
    "MIN_CODE_DISTANCE",
    "BitProductReceiver",
    "BitProductSender",
    "ChosenRequest",
    "IntOtReceiver",
    "IntOtReply",
    "IntOtSender",
    "OtColumns",
    "OtFlips",
    "OtReceiverState",
    "OtSenderState",
    "SetupStart",
    "choice_codes",
    "random_bits",
    "receiver_pads",
    "request",
    "sender_pads",
    "setup_finish",
    "setup_respond",
    "setup_start",
]

MAX_CHOICES = 256
"""Largest ``N`` of a 1-out-of-N transfer."""
MIN_CODE_DISTANCE = 128
"""Fewest bits in which any two code words must differ (KKRT's requirement)."""
_CODE_LABEL = b"VFL-COT-V01 choice codes"
_EXPAND_LABEL = b"VFL-COT-V01 pad expansion"
_RECEIVER_MAGIC = b"VFL-COT-R1"
_SENDER_MAGIC = b"VFL-COT-S1"
_MAX_KEY = 1024

Bytes2 = npt.NDArray[np.uint8]


def random_bits(count: int) -> npt.NDArray[np.uint8]:
    """``count`` uniform bits (0 or 1, uint8) from :func:`secrets.token_bytes`.

    Parameters
    ----------
    count : int
        Number of bits.

    Returns
    -------
    numpy.ndarray
        ``(count,)`` uint8.
    """
    raw = np.frombuffer(secrets.token_bytes((count + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw)[:count].copy()


def choice_codes(key: bytes, count: int) -> Bytes2:
    """The public code words of the choices ``0 .. count - 1`` for a job.

    Parameters
    ----------
    key : bytes
        Public, per job.
    count : int
        ``N``, 2 to :data:`MAX_CHOICES`.

    Returns
    -------
    numpy.ndarray
        ``(count, CODE_BYTES)`` uint8.

    Raises
    ------
    MalformedInputError
        If ``count`` is out of range, or two words are closer than
        :data:`MIN_CODE_DISTANCE` bits (probability below ``2**-160``).

    Examples
    --------
    >>> choice_codes(b"job", 16).shape
    (16, 64)
    """
    if not 2 <= count <= MAX_CHOICES:
        raise MalformedInputError(f"a 1-out-of-N OT needs 2 <= N <= {MAX_CHOICES}, not {count}")
    digest = hashlib.shake_256(_CODE_LABEL + count.to_bytes(2, "little") + key)
    words = np.frombuffer(digest.digest(count * CODE_BYTES), dtype=np.uint8).reshape(count, -1)
    distances = np.unpackbits(words[:, None, :] ^ words[None, :, :], axis=2).sum(axis=2)
    np.fill_diagonal(distances, CODE_BITS)
    if int(distances.min()) < MIN_CODE_DISTANCE:
        raise MalformedInputError("two OT code words are too close; use another key")
    return words


def _reserved(count: int) -> int:
    return -(-count // BIN_ALIGN) * BIN_ALIGN


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) > _MAX_KEY:
        raise MalformedInputError(f"the OT job key must be at most {_MAX_KEY} bytes")
    return key


# --- setup and state -------------------------------------------------------------


@dataclass
class OtReceiverState:
    """R's OT-extension state: both seeds of every base OT, the job key, the counter.

    Attributes
    ----------
    pairs : tuple of (bytes, bytes)
        :data:`CODE_BITS` pairs of 32-byte seeds (secret).
    key : bytes
        The job's public output-hash key.
    counter : int
        The next unused instance number (a multiple of ``BIN_ALIGN``).
    """

    pairs: tuple[tuple[bytes, bytes], ...] = field(repr=False)
    key: bytes
    counter: int = 0

    def to_bytes(self) -> bytes:
        """The state as bytes (secret: store it like a key)."""
        seeds = b"".join(a + b for a, b in self.pairs)
        return _RECEIVER_MAGIC + struct.pack("<QH", self.counter, len(self.key)) + self.key + seeds

    @classmethod
    def from_bytes(cls, data: bytes) -> OtReceiverState:
        """Read :meth:`to_bytes`; raises :class:`MalformedInputError` if malformed."""
        key, counter, rest = _read_state(data, _RECEIVER_MAGIC, CODE_BITS * 64)
        pairs = tuple(
            (rest[64 * i : 64 * i + 32], rest[64 * i + 32 : 64 * i + 64]) for i in range(CODE_BITS)
        )
        return cls(pairs, key, counter)


@dataclass
class OtSenderState:
    """S's OT-extension state: its secret, its base-OT seeds, the job key, the counter.

    Attributes
    ----------
    secret : bytes
        ``CODE_BYTES`` bytes: the base-OT choice bits ``s`` (secret).
    seeds : tuple of bytes
        :data:`CODE_BITS` 32-byte seeds ``k{s[i]}[i]`` (secret).
    key : bytes
        The job's public output-hash key.
    counter : int
        The next unused instance number (a multiple of ``BIN_ALIGN``).
    """

    secret: bytes = field(repr=False)
    seeds: tuple[bytes, ...] = field(repr=False)
    key: bytes
    counter: int = 0

    def to_bytes(self) -> bytes:
        """The state as bytes (secret: store it like a key)."""
        head = _SENDER_MAGIC + struct.pack("<QH", self.counter, len(self.key)) + self.key
        return head + self.secret + b"".join(self.seeds)

    @classmethod
    def from_bytes(cls, data: bytes) -> OtSenderState:
        """Read :meth:`to_bytes`; raises :class:`MalformedInputError` if malformed."""
        key, counter, rest = _read_state(data, _SENDER_MAGIC, CODE_BYTES + CODE_BITS * 32)
        seeds = tuple(
            rest[CODE_BYTES + 32 * i : CODE_BYTES + 32 * (i + 1)] for i in range(CODE_BITS)
        )
        return cls(rest[:CODE_BYTES], seeds, key, counter)


def _read_state(data: bytes, magic: bytes, body: int) -> tuple[bytes, int, bytes]:
    head = len(magic) + 10
    if not isinstance(data, bytes) or len(data) < head or data[: len(magic)] != magic:
        raise MalformedInputError("not a saved OT state (wrong header)")
    counter, key_length = struct.unpack("<QH", data[len(magic) : head])
    if len(data) != head + key_length + body or counter % BIN_ALIGN:
        raise MalformedInputError("a saved OT state has the wrong length or counter")
    return data[head : head + key_length], counter, data[head + key_length :]


@dataclass(frozen=True)
class SetupStart:
    """R's secret from :func:`setup_start`, kept until :func:`setup_finish`."""

    base: RandomOtSender = field(repr=False)
    key: bytes


def setup_start(key: bytes) -> tuple[SetupStart, bytes]:
    """R's first setup step: its base-OT point (32 bytes), to send to S.

    Parameters
    ----------
    key : bytes
        The job's public output-hash key (the same on both sides).

    Returns
    -------
    tuple
        The secret to keep and the point to send.
    """
    base = RandomOtSender(CODE_BITS)
    return SetupStart(base, _check_key(key)), base.point


def setup_respond(point: bytes, key: bytes) -> tuple[OtSenderState, bytes]:
    """S's setup step: from R's point, its state and its ``2 * 512`` points for R.

    Parameters
    ----------
    point : bytes
        :func:`setup_start`'s point.
    key : bytes
        The job's public output-hash key.

    Returns
    -------
    tuple
        S's state and the ``2 * CODE_BITS * 32`` bytes to send to R.

    Raises
    ------
    crypto.exceptions.InvalidPointError
        If ``point`` is not a valid X25519 point.
    """
    secret = secrets.token_bytes(CODE_BYTES)
    base = RandomOtReceiver(choice_bits(np.frombuffer(secret, dtype=np.uint8)))
    seeds = tuple(base.keys(point))
    return OtSenderState(secret, seeds, _check_key(key)), base.points


def setup_finish(start: SetupStart, points: bytes) -> OtReceiverState:
    """R's last setup step: its state from S's points.

    Parameters
    ----------
    start : SetupStart
        From :func:`setup_start`.
    points : bytes
        From :func:`setup_respond`.

    Returns
    -------
    OtReceiverState
        R's state, counter 0.
    """
    return OtReceiverState(tuple(start.base.keys(points)), start.key)


# --- 1-out-of-N transfers ----------------------------------------------------------


@dataclass(frozen=True)
class OtColumns:
    """R -> S: one OT-extension batch.

    Attributes
    ----------
    first : int
        The batch's first instance number (R's counter before the batch).
    count : int
        Number of transfers ``n`` (the batch reserves ``ceil(n / 128) * 128``).
    columns : bytes
        ``CODE_BITS * reserved / 8`` bytes: KKRT's ``u`` (empty when ``n = 0``).
    """

    first: int
    count: int
    columns: bytes

    @property
    def nbytes(self) -> int:
        """Bytes on the wire (two 8-byte integers and the columns)."""
        return 16 + len(self.columns)


@dataclass(frozen=True)
class ChosenRequest:
    """R's secret part of a batch, kept to compute its pads."""

    first: int
    choices: npt.NDArray[np.int64]
    t_rows: Bytes2 = field(repr=False)


def request(
    state: OtReceiverState, choices: npt.ArrayLike, n_choices: int
) -> tuple[OtColumns, ChosenRequest]:
    """R: start a batch of 1-out-of-``n_choices`` transfers; advances the counter.

    Parameters
    ----------
    state : OtReceiverState
        R's state (its counter advances).
    choices : array_like
        ``(n,)`` integers in ``[0, n_choices)``.
    n_choices : int
        ``N``.

    Returns
    -------
    tuple
        The message for S and the secret to keep.

    Raises
    ------
    MalformedInputError
        If a choice is out of range.
    """
    values = np.asarray(choices)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "ui"):
        raise MalformedInputError("OT choices must be a vector of integers")
    values = values.astype(np.int64)
    if values.size and (int(values.min()) < 0 or int(values.max()) >= n_choices):
        raise MalformedInputError(f"OT choices must lie in [0, {n_choices})")
    codes = choice_codes(state.key, n_choices)
    count = len(values)
    first = state.counter
    reserved = _reserved(count)
    if not count:
        return OtColumns(first, 0, b""), ChosenRequest(
            first, values, np.zeros((0, CODE_BYTES), np.uint8)
        )
    rows = np.frombuffer(secrets.token_bytes(reserved * CODE_BYTES), dtype=np.uint8)
    rows = rows.reshape(reserved, CODE_BYTES).copy()
    rows[:count] = codes[values]
    columns, t_rows = OprfReceiver(state.pairs, state.key).columns(first, rows)
    state.counter = first + reserved
    return OtColumns(first, count, columns), ChosenRequest(first, values, t_rows[:count])


def _expand(pads: bytes, first: int, width: int) -> Bytes2:
    """``width`` bytes per 16-byte pad: its prefix, or SHAKE-256(label, j, pad)."""
    count = len(pads) // OUTPUT_BYTES
    raw = np.frombuffer(pads, dtype=np.uint8).reshape(count, OUTPUT_BYTES)
    if width <= OUTPUT_BYTES:
        return raw[:, :width].copy()
    out = b"".join(
        hashlib.shake_256(
            _EXPAND_LABEL + (first + j).to_bytes(8, "little") + pads[16 * j : 16 * j + 16]
        ).digest(width)
        for j in range(count)
    )
    return np.frombuffer(out, dtype=np.uint8).reshape(count, width).copy()


def receiver_pads(state: OtReceiverState, secret: ChosenRequest, width: int) -> Bytes2:
    """R's pad of its choice in every transfer of a batch.

    Parameters
    ----------
    state : OtReceiverState
        R's state (not changed).
    secret : ChosenRequest
        From :func:`request`.
    width : int
        Bytes per pad.

    Returns
    -------
    numpy.ndarray
        ``(n, width)`` uint8.
    """
    count = len(secret.choices)
    bins = np.arange(secret.first, secret.first + count, dtype=np.int64)
    outputs = OprfReceiver(state.pairs, state.key).outputs(secret.t_rows, bins)
    return _expand(outputs, secret.first, width)


def sender_pads(
    state: OtSenderState, message: OtColumns, n_choices: int, count: int, width: int
) -> Bytes2:
    """S: every pad of every transfer of R's batch; advances the counter.

    Parameters
    ----------
    state : OtSenderState
        S's state (its counter advances).
    message : OtColumns
        R's batch.
    n_choices : int
        ``N`` (public).
    count : int
        The number of transfers S expects (public).
    width : int
        Bytes per pad.

    Returns
    -------
    numpy.ndarray
        ``(count, n_choices, width)`` uint8.

    Raises
    ------
    MalformedInputError
        If the batch does not start at S's counter (replayed or out of order), has
        another count, or its columns have the wrong type or length.
    """
    if not isinstance(message, OtColumns):
        raise MalformedInputError("expected an OtColumns message")
    if not isinstance(message.first, int) or message.first != state.counter:
        raise MalformedInputError(
            f"the OT batch starts at instance {message.first!r} but the next unused one is "
            f"{state.counter}: a replayed or out-of-order message; restart the protocol"
        )
    if message.count != count:
        raise MalformedInputError(f"the OT batch has {message.count!r} transfers, expected {count}")
    reserved = _reserved(count)
    if not isinstance(message.columns, bytes) or len(message.columns) != reserved * CODE_BYTES:
        raise MalformedInputError(
            f"the OT batch must carry {reserved * CODE_BYTES} bytes of columns"
        )
    codes = choice_codes(state.key, n_choices)
    state.counter += reserved
    if not count:
        return np.zeros((0, n_choices, width), dtype=np.uint8)
    oprf = OprfSender(np.frombuffer(state.secret, dtype=np.uint8), state.seeds, state.key)
    q_rows = oprf.rows(message.first, message.columns)[:count]
    bins = np.arange(message.first, message.first + count, dtype=np.int64)
    pads = np.empty((count, n_choices, width), dtype=np.uint8)
    for value in range(n_choices):
        words = np.ascontiguousarray(np.broadcast_to(codes[value], (count, CODE_BYTES)))
        pads[:, value] = _expand(oprf.outputs(q_rows, bins, words), message.first, width)
    return pads


# --- 1-out-of-2 OT of big integers -------------------------------------------------


@dataclass(frozen=True)
class IntOtReply:
    """S -> R: both messages of every transfer, masked with the pads.

    Attributes
    ----------
    bits : int
        Public bit width of the messages (1 to 65536).
    masked : numpy.ndarray
        ``(n, 2, ceil(bits / 8))`` uint8: little-endian message XOR pad.
    """

    bits: int
    masked: Bytes2

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        return 8 + int(self.masked.nbytes)


@dataclass(frozen=True)
class OtFlips:
    """R -> S: which transfers swap their two messages (derandomised random OT).

    Attributes
    ----------
    flips : numpy.ndarray
        ``(n,)`` uint8, 0 or 1: R's actual choice XOR its requested (random) choice.
    """

    flips: Bytes2

    @property
    def nbytes(self) -> int:
        """Bytes on the wire (one byte per bit; pack them in a codec)."""
        return int(self.flips.nbytes)


def _check_flips(message: object, count: int) -> Bytes2:
    flips = message.flips if isinstance(message, OtFlips) else None
    if not isinstance(flips, np.ndarray) or flips.dtype != np.uint8 or flips.shape != (count,):
        raise MalformedInputError(f"OT flips must be a ({count},) uint8 array")
    if count and int(flips.max()) > 1:
        raise MalformedInputError("OT flips must be 0 or 1")
    return flips


def _int_bytes(values: Sequence[int], width: int, bits: int) -> Bytes2:
    try:
        data = b"".join(int(v).to_bytes(width, "little") for v in values)
    except (OverflowError, TypeError, ValueError) as error:
        raise MalformedInputError(f"OT messages must be integers in [0, 2**{bits})") from error
    out = np.frombuffer(data, dtype=np.uint8).reshape(len(values), width)
    if any(int(v) < 0 or int(v) >> bits for v in values):
        raise MalformedInputError(f"OT messages must be integers in [0, 2**{bits})")
    return out


class IntOtReceiver:
    """R's side of a batch of 1-out-of-2 OTs of big integers.

    Parameters
    ----------
    state : OtReceiverState
        R's state (its counter advances at :meth:`request`).
    """

    def __init__(self, state: OtReceiverState) -> None:
        self._state = state
        self._secret: ChosenRequest | None = None

    def request(self, choices: npt.ArrayLike) -> OtColumns:
        """The message for S, from ``(n,)`` choice bits."""
        message, self._secret = request(self._state, choices, 2)
        return message

    def flips(self, choices: npt.ArrayLike) -> OtFlips:
        """Derandomise: the message telling S to serve ``choices`` instead of the requested ones.

        Request with random choices ``c`` (:func:`random_bits`) before the real choices
        ``i`` are known, then send ``i ^ c``; :meth:`result` gives ``m[i]``.

        Raises
        ------
        MalformedInputError
            If ``choices`` is not ``n`` bits.
        """
        if self._secret is None:
            raise MalformedInputError("call request() before flips()")
        bits = np.asarray(choices)
        count = len(self._secret.choices)
        if bits.shape != (count,) or (
            count and (bits.dtype.kind not in "uib" or int(bits.max()) > 1 or int(bits.min()) < 0)
        ):
            raise MalformedInputError(f"the actual choices must be {count} bits")
        return OtFlips(bits.astype(np.uint8) ^ self._secret.choices.astype(np.uint8))

    def result(self, reply: IntOtReply) -> list[int]:
        """The chosen message of every transfer.

        Raises
        ------
        MalformedInputError
            If the reply has the wrong type, width, shape or dtype.
        """
        if self._secret is None:
            raise MalformedInputError("call request() before result()")
        count = len(self._secret.choices)
        if not isinstance(reply, IntOtReply) or not isinstance(reply.bits, int):
            raise MalformedInputError("expected an IntOtReply message")
        if not 1 <= reply.bits <= 65_536:
            raise MalformedInputError(f"the OT bit width {reply.bits} is out of range")
        width = -(-reply.bits // 8)
        masked = reply.masked
        if (
            not isinstance(masked, np.ndarray)
            or masked.dtype != np.uint8
            or masked.shape != (count, 2, width)
        ):
            raise MalformedInputError(f"the OT reply must be a ({count}, 2, {width}) uint8 array")
        pads = receiver_pads(self._state, self._secret, width)
        chosen = masked[np.arange(count), self._secret.choices] ^ pads
        limit = (1 << reply.bits) - 1
        return [int.from_bytes(row.tobytes(), "little") & limit for row in chosen]


class IntOtSender:
    """S's side of a batch of 1-out-of-2 OTs of big integers.

    :meth:`respond` answers a request at once; :meth:`accept` then :meth:`reply`
    split it, so that the messages (and R's :class:`OtFlips`) can come later.

    Parameters
    ----------
    state : OtSenderState
        S's state (its counter advances at :meth:`accept`).
    """

    def __init__(self, state: OtSenderState) -> None:
        self._state = state
        self._pads: Bytes2 | None = None
        self._bits = 0

    def accept(self, message: OtColumns, count: int, bits: int) -> None:
        """Take R's request for ``count`` transfers of ``bits``-bit integers.

        Raises
        ------
        MalformedInputError
            If the request is malformed, replayed or of another count, or ``bits`` is
            not 1 to 65536.
        """
        if not isinstance(bits, int) or not 1 <= bits <= 65_536:
            raise MalformedInputError(f"the OT bit width must be 1 to 65536, not {bits!r}")
        self._pads = sender_pads(self._state, message, 2, count, -(-bits // 8))
        self._bits = bits

    def reply(
        self, m0: Sequence[int], m1: Sequence[int], flips: OtFlips | None = None
    ) -> IntOtReply:
        """Mask both messages of every accepted transfer.

        Parameters
        ----------
        m0, m1 : sequence of int
            ``n`` messages each, in ``[0, 2**bits)``.
        flips : OtFlips, optional
            R's :meth:`IntOtReceiver.flips`: where a flip is 1 the two messages swap
            places, so that R's random choice ``c`` receives ``m[c ^ flip]``.

        Returns
        -------
        IntOtReply
            The message for R.

        Raises
        ------
        MalformedInputError
            If nothing was accepted, or the messages or flips are malformed.
        """
        if self._pads is None:
            raise MalformedInputError("call accept() before reply()")
        count, bits = len(self._pads), self._bits
        if len(m0) != count or len(m1) != count:
            raise MalformedInputError(f"expected {count} pairs of messages, one per transfer")
        width = -(-bits // 8)
        plain = np.stack([_int_bytes(m0, width, bits), _int_bytes(m1, width, bits)], axis=1)
        if flips is not None:
            swap = _check_flips(flips, count).astype(bool)
            plain[swap] = plain[swap][:, ::-1]
        pads, self._pads = self._pads, None
        return IntOtReply(bits, plain ^ pads)

    def respond(
        self, message: OtColumns, m0: Sequence[int], m1: Sequence[int], bits: int
    ) -> IntOtReply:
        """Mask both messages of every transfer (:meth:`accept` then :meth:`reply`).

        Parameters
        ----------
        message : OtColumns
            R's request.
        m0, m1 : sequence of int
            ``n`` messages each, in ``[0, 2**bits)``.
        bits : int
            The public bit width.

        Returns
        -------
        IntOtReply
            The message for R.

        Raises
        ------
        MalformedInputError
            If the request or the messages are malformed.
        """
        if len(m0) != len(m1) or not isinstance(bits, int) or not 1 <= bits <= 65_536:
            raise MalformedInputError("m0 and m1 must have the same length; 1 <= bits <= 65536")
        for values in (m0, m1):  # refuse bad messages before the instances are used
            _int_bytes(values, -(-bits // 8), bits)
        self.accept(message, len(m0), bits)
        return self.reply(m0, m1)


# --- random bit products (cross terms of Beaver triples) ----------------------------


class BitProductReceiver:
    """R: random bits ``a`` and its XOR shares of ``a & b`` (``b`` is S's random bit).

    From a random 1-out-of-2 OT with R's choice ``a``: S holds pads ``m0, m1``, R
    holds ``m_a``; with ``b = lsb(m0) ^ lsb(m1)`` and ``v = lsb(m0)``,
    ``lsb(m_a) = v ^ (a & b)``.  Only R's columns travel (one message).

    Parameters
    ----------
    state : OtReceiverState
        R's state (its counter advances at :meth:`request`).
    """

    def __init__(self, state: OtReceiverState) -> None:
        self._state = state
        self._secret: ChosenRequest | None = None

    def request(self, count: int) -> OtColumns:
        """The message for S for ``count`` products."""
        message, self._secret = request(self._state, random_bits(count), 2)
        return message

    def shares(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """R's random bits ``a`` and its shares of ``a & b``, ``(count,)`` uint8 each."""
        if self._secret is None:
            raise MalformedInputError("call request() before shares()")
        pads = receiver_pads(self._state, self._secret, 1)[:, 0]
        return self._secret.choices.astype(np.uint8), pads & np.uint8(1)


class BitProductSender:
    """S's side of :class:`BitProductReceiver`: its random bits ``b`` and shares.

    Parameters
    ----------
    state : OtSenderState
        S's state (its counter advances at :meth:`shares`).
    """

    def __init__(self, state: OtSenderState) -> None:
        self._state = state

    def shares(
        self, message: OtColumns, count: int
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        """S's random bits ``b`` and its shares of ``a & b``, ``(count,)`` uint8 each.

        Raises
        ------
        MalformedInputError
            If the request is malformed, replayed or of another count.
        """
        pads = sender_pads(self._state, message, 2, count, 1)[:, :, 0] & np.uint8(1)
        return pads[:, 0] ^ pads[:, 1], pads[:, 0].copy()

"""Secure comparison on additive shares: MSB, millionaires' protocol and B2A (semi-honest).

The receiver R (the OT-extension receiver, :mod:`crypto.chosen_ot`) holds ``x`` and
the sender S holds ``y``, both ``(n,)`` arrays in ``Z_{2**l}``.  They end with boolean
shares ``c_R ^ c_S = MSB((x + y) mod 2**l)`` (:class:`ComparisonReceiver`,
:class:`ComparisonSender`), in the style of CrypTFlow2's millionaires' protocol
(Rathee et al., CCS 2020, Algorithm 1):

* ``MSB = x[l-1] ^ y[l-1] ^ carry`` with ``carry = [x_low + y_low >= 2**(l-1)]``
  ``= [y_low > w]``, ``w = 2**(l-1) - 1 - x_low`` (``low``: the ``l - 1`` low bits);
* the ``l - 1`` bits are cut into ``q`` chunks of ``m`` bits (zero-padded at the top);
  for chunk ``j`` S draws random bits ``r, r'`` and offers, for each of the ``2**m``
  values ``v`` of R's chunk, ``([y_j > v] ^ r, [y_j == v] ^ r')`` in a 1-out-of-2**m
  chosen-message OT; R picks the entry of its chunk of ``w``: boolean shares of the
  chunk's ``gt`` and ``eq``;
* chunks are combined from the most significant, adjacent pairs per level
  (``gt = gt_hi ^ (eq_hi & gt_lo)``, ``eq = eq_hi & eq_lo``; the root needs ``gt``
  only), ``ceil(log2 q)`` levels of AND gates on Beaver bit triples;
* each triple comes from two random bit products (:class:`crypto.chosen_ot.BitProductReceiver`):
  ``a = a1 ^ b2``, ``b = a2 ^ b1`` with R holding ``a1, a2`` and S ``b1, b2``
  (``triples="random_ot"``, the default); or, with ``triples="chosen_ot"``, two triples
  come from one 1-out-of-16 chosen-message OT: R's four random bits
  ``(a_R, b_R, a_R', b_R')`` choose the entry, which holds ``a_R b_S ^ a_S b_R ^ s`` and
  the same for the second triple, S keeping ``a_S b_S ^ s`` (a quarter of the OT
  instances, 16 more bytes from S per two triples; see :data:`TRIPLE_SOURCES`).

Messages (R -> S first): :class:`CompareRequest` (two OT-extension batches),
:class:`CompareTables` (S's masked tables and its first openings), then
:class:`CompareOpenings` in turn until both are done (each party opens the next level
as soon as it can: 4 messages for ``q <= 4``).  :meth:`ComparisonReceiver.step` and
:meth:`ComparisonSender.step` return ``None`` when they have nothing more to send.

B2A (:class:`B2aReceiver`, :class:`B2aSender`): a boolean-shared bit ``c = c_R ^ c_S``
becomes integer shares ``c = (c + rho) + (-rho)``: R, with choice ``c_R``, receives
``c + rho`` in a 1-out-of-2 OT where S offers ``(c_S + rho, 1 - c_S + rho)``;
``rho`` is uniform in ``[0, 2**(1 + STATISTICAL_BITS))``.

Examples
--------
>>> from crypto.chosen_ot import setup_finish, setup_respond, setup_start
>>> start, point = setup_start(b"job")
>>> s_state, points = setup_respond(point, b"job")
>>> r_state = setup_finish(start, points)
>>> receiver, sender = ComparisonReceiver(r_state, bits=8), ComparisonSender(s_state, bits=8)
>>> x, y = np.array([100, 3, 200]), np.array([100, 3, 60])
>>> to_r = sender.respond(receiver.start(x), y)
>>> while to_r is not None:
...     to_s = receiver.step(to_r)
...     to_r = sender.step(to_s) if to_s is not None else None
>>> (receiver.result() ^ sender.result()).tolist()  # MSB of 200, 6, 4 (mod 256)
[1, 0, 0]
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crypto.chosen_ot import (
    BitProductReceiver,
    BitProductSender,
    ChosenRequest,
    OtColumns,
    OtReceiverState,
    OtSenderState,
    random_bits,
    receiver_pads,
    request,
    sender_pads,
)
from crypto.exceptions import MalformedInputError
from crypto.shares import STATISTICAL_BITS

__all__ = [
    "B2A_BITS",
    "MAX_BITS",
    "TRIPLE_SOURCES",
    "AndOpenings",
    "B2aReceiver",
    "B2aReply",
    "B2aSender",
    "CompareOpenings",
    "CompareRequest",
    "CompareTables",
    "ComparisonReceiver",
    "ComparisonSender",
]

MAX_BITS = 32
"""Largest ring ``Z_{2**l}`` of a comparison."""
MAX_CHUNK = 8
"""Largest chunk ``m`` (tables of ``2**m`` entries)."""
TRIPLE_SOURCES = ("random_ot", "chosen_ot")
"""Where Beaver triples come from: two random 1-of-2 OTs per triple (R's choice bits times
S's pad bits), or one 1-out-of-16 chosen-message OT per two triples (R's four random bits
choose the entry; S's table holds the cross terms ``a_R b_S ^ a_S b_R`` XOR S's masks):
a quarter of the OT instances for 16 extra bytes from S per two triples."""
B2A_BITS = STATISTICAL_BITS + 1
"""``rho`` is uniform in ``[0, 2**B2A_BITS)``."""

Bits = npt.NDArray[np.uint8]


# --- messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareRequest:
    """R -> S: the OT batches of the chunk tables and of the bit products.

    Attributes
    ----------
    tables : OtColumns
        ``n * q`` transfers, 1-out-of-``2**m``, row-major ``(row, chunk)``.
    products : OtColumns
        The triples' batch (``ands`` AND gates per row): ``2 * n * ands`` random
        1-out-of-2 transfers (``triples="random_ot"``) or ``ceil(n * ands / 2)``
        1-out-of-16 transfers (``triples="chosen_ot"``).
    """

    tables: OtColumns
    products: OtColumns

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        return self.tables.nbytes + self.products.nbytes


@dataclass(frozen=True)
class AndOpenings:
    """One party's masked inputs ``d = x ^ a``, ``e = y ^ b`` of one level of AND gates.

    Attributes
    ----------
    level : int
        The tree level (0 = the leaves' level).
    d, e : numpy.ndarray
        ``(ceil(k / 8),)`` uint8, ``numpy.packbits`` of the ``k = n * gates`` bits
        (row-major ``(row, gate)``), padding bits zero.
    """

    level: int
    d: Bits
    e: Bits

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        return 8 + int(self.d.nbytes + self.e.nbytes)


@dataclass(frozen=True)
class CompareTables:
    """S -> R: the masked chunk tables and S's first openings.

    Attributes
    ----------
    masked : numpy.ndarray
        ``(n * q, 2**m)`` uint8: entry ``v`` is ``gt | eq << 1`` (masked by S's
        bits) XOR the transfer's pad of ``v``.
    openings : tuple of AndOpenings
        S's openings of level 0 (empty when ``q = 1``).
    triples : numpy.ndarray
        ``(ceil(n * ands / 2), 16)`` uint8 with ``triples="chosen_ot"`` (two triples
        per 1-out-of-16 transfer: entry ``v`` holds R's two shares of the cross terms
        XOR the pad of ``v``); ``(0, 16)`` with ``triples="random_ot"``.
    """

    masked: Bits
    openings: tuple[AndOpenings, ...]
    triples: Bits

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        extra = int(self.triples.nbytes)
        return int(self.masked.nbytes) + extra + sum(o.nbytes for o in self.openings)


@dataclass(frozen=True)
class CompareOpenings:
    """Either party -> the other: its openings of the next levels, in order."""

    openings: tuple[AndOpenings, ...]

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        return sum(o.nbytes for o in self.openings)


# --- the circuit, shared by both parties ----------------------------------------------


@dataclass(frozen=True)
class _Layout:
    bits: int
    chunk: int
    chunks: int
    gates: tuple[int, ...]  # AND gates per row at each level

    @classmethod
    def of(cls, bits: int, chunk: int) -> _Layout:
        if not isinstance(bits, int) or not 2 <= bits <= MAX_BITS:
            raise MalformedInputError(f"comparisons need 2 <= l <= {MAX_BITS} bits, not {bits!r}")
        if not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
            raise MalformedInputError(f"the chunk must be 1 to {MAX_CHUNK} bits, not {chunk!r}")
        chunks = -(-(bits - 1) // chunk)
        gates = []
        nodes = chunks
        while nodes > 1:
            pairs = nodes // 2
            gates.append(pairs if nodes == 2 else 2 * pairs)
            nodes = pairs + nodes % 2
        return cls(bits, chunk, chunks, tuple(gates))

    def digits(self, values: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """``(n, q)`` chunks of the low ``l - 1`` bits, most significant first."""
        shifts = np.arange(self.chunks - 1, -1, -1, dtype=np.uint64) * np.uint64(self.chunk)
        mask = np.uint64((1 << self.chunk) - 1)
        return ((values[:, None] >> shifts[None, :]) & mask).astype(np.int64)


def _check_values(values: npt.ArrayLike, bits: int) -> npt.NDArray[np.uint64]:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "ui"):
        raise MalformedInputError("comparison inputs must be a vector of integers")
    if array.size and (int(array.min()) < 0 or int(array.max()) >> bits):
        raise MalformedInputError(f"comparison inputs must lie in [0, 2**{bits})")
    return array.astype(np.uint64)


def _unpack(opening: object, level: int, count: int) -> tuple[Bits, Bits]:
    """Validate a peer's openings of ``level`` (``count`` bits each) and unpack them."""
    if not isinstance(opening, AndOpenings) or opening.level != level:
        raise MalformedInputError(f"expected the peer's AND openings of level {level}")
    size = -(-count // 8)
    out = []
    for packed in (opening.d, opening.e):
        if (
            not isinstance(packed, np.ndarray)
            or packed.dtype != np.uint8
            or packed.shape != (size,)
        ):
            raise MalformedInputError(
                f"AND openings of level {level} must be ({size},) uint8 arrays of packed bits"
            )
        bits = np.unpackbits(packed)
        if bits[count:].any():
            raise MalformedInputError("the padding bits of AND openings must be zero")
        out.append(bits[:count])
    return out[0], out[1]


_VALUES = np.arange(16)
_R_BITS = [(_VALUES >> shift) & 1 for shift in (3, 2, 1, 0)]  # a_R1, b_R1, a_R2, b_R2 of v


def _check_source(triples: str) -> str:
    if triples not in TRIPLE_SOURCES:
        raise MalformedInputError(f"triples must be one of {TRIPLE_SOURCES}, not {triples!r}")
    return triples


def _triple_tables(total: int) -> tuple[Bits, Bits, Bits, Bits]:
    """S: its ``a, b, c`` shares of ``total`` triples and the ``(k, 16)`` plain tables."""
    count = -(-total // 2)
    a_s, b_s, mask = (random_bits(2 * count).reshape(count, 2) for _ in range(3))
    table = np.zeros((count, 16), dtype=np.uint8)
    for t in (0, 1):
        a_r, b_r = _R_BITS[2 * t][None, :], _R_BITS[2 * t + 1][None, :]
        cross = mask[:, t : t + 1] ^ (a_r & b_s[:, t : t + 1]) ^ (b_r & a_s[:, t : t + 1])
        table |= (cross << t).astype(np.uint8)
    c_s = a_s & b_s ^ mask
    return a_s.ravel()[:total], b_s.ravel()[:total], c_s.ravel()[:total], table


class _Party:
    """The AND tree of one party: its shares, triples and openings, level by level."""

    def __init__(self, layout: _Layout, is_receiver: bool) -> None:
        self._layout = layout
        self._receiver = is_receiver
        self._rows = 0
        self._ready = False  # leaf shares set
        self._gt: Bits = np.zeros((0, 0), dtype=np.uint8)
        self._eq: Bits = np.zeros((0, 0), dtype=np.uint8)
        self._triples: list[tuple[Bits, Bits, Bits]] = []
        self._level = 0  # the next level to compute
        self._mine: list[tuple[Bits, Bits]] = []  # my unpacked openings, per level
        self._theirs: list[tuple[Bits, Bits]] = []
        self._top: Bits = np.zeros(0, dtype=np.uint8)  # my share of x[l-1] or y[l-1]

    @property
    def done(self) -> bool:
        return self._ready and self._level == len(self._layout.gates)

    def _set_triples(self, a: Bits, b: Bits, c: Bits) -> None:
        start = 0
        for gates in self._layout.gates:
            size = self._rows * gates
            self._triples.append(
                (a[start : start + size], b[start : start + size], c[start : start + size])
            )
            start += size

    def _inputs(self, level: int) -> tuple[Bits, Bits]:
        gt, eq = self._gt, self._eq
        final = level == len(self._layout.gates) - 1
        pairs = gt.shape[1] // 2
        hi_eq, lo_gt, lo_eq = (
            eq[:, 0 : 2 * pairs : 2],
            gt[:, 1 : 2 * pairs : 2],
            eq[:, 1 : 2 * pairs : 2],
        )
        if final:
            return hi_eq.ravel(), lo_gt.ravel()
        return np.concatenate([hi_eq, hi_eq], axis=1).ravel(), np.concatenate(
            [lo_gt, lo_eq], axis=1
        ).ravel()

    def _advance(self) -> tuple[AndOpenings, ...]:
        """Compute every level both openings allow; return my new openings."""
        new = []
        gates = self._layout.gates
        while self._level < len(gates):
            level = self._level
            if len(self._mine) == level:
                x, y = self._inputs(level)
                a, b, _ = self._triples[level]
                d, e = x ^ a, y ^ b
                self._mine.append((d, e))
                new.append(AndOpenings(level, np.packbits(d), np.packbits(e)))
            if len(self._theirs) <= level:
                break
            a, b, c = self._triples[level]
            d = self._mine[level][0] ^ self._theirs[level][0]
            e = self._mine[level][1] ^ self._theirs[level][1]
            z = c ^ (d & b) ^ (e & a)
            if self._receiver:
                z ^= d & e
            z = z.reshape(self._rows, gates[level])
            pairs = self._gt.shape[1] // 2
            gt = self._gt[:, 0 : 2 * pairs : 2] ^ z[:, :pairs]
            eq = z[:, pairs:] if level < len(gates) - 1 else np.zeros_like(gt)
            if self._gt.shape[1] % 2:
                gt = np.concatenate([gt, self._gt[:, -1:]], axis=1)
                eq = np.concatenate([eq, self._eq[:, -1:]], axis=1)
            self._gt, self._eq = gt, eq
            self._level += 1
        return tuple(new)

    def _receive(self, openings: object) -> None:
        if not isinstance(openings, tuple):
            raise MalformedInputError("AND openings must come as a tuple")
        first = len(self._theirs)
        if first + len(openings) > len(self._mine) + 1 or first + len(openings) > len(
            self._layout.gates
        ):
            raise MalformedInputError("the peer sent AND openings of levels it cannot have reached")
        unpacked = [  # all checked before any is kept
            _unpack(opening, first + offset, self._rows * self._layout.gates[first + offset])
            for offset, opening in enumerate(openings)
        ]
        self._theirs.extend(unpacked)

    def result(self) -> Bits:
        if not self.done:
            raise MalformedInputError("the comparison is not finished; keep exchanging messages")
        return self._top ^ self._gt[:, 0]


class ComparisonReceiver(_Party):
    """R's side of ``MSB(x + y mod 2**l)`` on ``n`` rows (R: the OT-extension receiver).

    Parameters
    ----------
    state : OtReceiverState
        R's OT state (its counter advances).
    bits : int
        ``l``, 2 to :data:`MAX_BITS` (16 by default).
    chunk : int
        ``m``, 1 to :data:`MAX_CHUNK` (4 by default).
    """

    def __init__(
        self, state: OtReceiverState, bits: int = 16, chunk: int = 4, triples: str = "random_ot"
    ) -> None:
        super().__init__(_Layout.of(bits, chunk), is_receiver=True)
        self._state = state
        self._source = _check_source(triples)
        self._products = BitProductReceiver(state)
        self._triple_request: ChosenRequest | None = None
        self._tables: ChosenRequest | None = None
        self._received: Bits | None = None

    def start(self, x: npt.ArrayLike) -> CompareRequest:
        """The first message, from R's ``(n,)`` shares ``x`` in ``[0, 2**l)``.

        Raises
        ------
        MalformedInputError
            If ``x`` is not a vector of integers in range.
        """
        if self._tables is not None:
            raise MalformedInputError("start() was already called; use a new ComparisonReceiver")
        layout = self._layout
        values = _check_values(x, layout.bits)
        self._rows = len(values)
        low_mask = np.uint64((1 << (layout.bits - 1)) - 1)
        self._top = ((values >> np.uint64(layout.bits - 1)) & np.uint64(1)).astype(np.uint8)
        w = low_mask - (values & low_mask)
        tables, self._tables = request(self._state, layout.digits(w).ravel(), 1 << layout.chunk)
        total = self._rows * sum(layout.gates)
        if self._source == "random_ot":
            products = self._products.request(2 * total)
        else:
            choices = random_bits(-(-total // 2) * 4).reshape(-1, 4) @ np.array([8, 4, 2, 1])
            products, self._triple_request = request(self._state, choices, 16)
        return CompareRequest(tables, products)

    @property
    def received(self) -> Bits:
        """R's view of the tables: its ``(n, q, 2)`` leaf shares (gt, eq) as received."""
        if self._received is None:
            raise MalformedInputError("no tables received yet")
        return self._received

    def step(self, message: CompareTables | CompareOpenings) -> CompareOpenings | None:
        """Process S's message; the next message for S, or ``None`` if none is needed.

        Raises
        ------
        MalformedInputError
            If the message is of the wrong kind, shape, dtype or level.
        """
        layout = self._layout
        if self._tables is None:
            raise MalformedInputError("call start() first")
        if self._received is None:
            if not isinstance(message, CompareTables):
                raise MalformedInputError("expected S's CompareTables first")
            shape = (self._rows * layout.chunks, 1 << layout.chunk)
            masked = message.masked
            if (
                not isinstance(masked, np.ndarray)
                or masked.dtype != np.uint8
                or masked.shape != shape
            ):
                raise MalformedInputError(f"the masked tables must be a {shape} uint8 array")
            expected = 1 if layout.gates else 0
            if not isinstance(message.openings, tuple) or len(message.openings) != expected:
                raise MalformedInputError(f"S's tables must carry {expected} level of openings")
            triples = self._own_triples(message.triples)  # every check before any change
            self._receive(message.openings)
            pads = receiver_pads(self._state, self._tables, 1)[:, 0]
            entries = masked[np.arange(shape[0]), self._tables.choices] ^ pads
            leaves = np.stack([entries & 1, (entries >> 1) & 1], axis=1).reshape(
                self._rows, layout.chunks, 2
            )
            self._received = leaves.astype(np.uint8)
            self._gt, self._eq = self._received[:, :, 0].copy(), self._received[:, :, 1].copy()
            self._ready = True
            self._set_triples(*triples)
        elif isinstance(message, CompareOpenings) and message.openings:
            self._receive(message.openings)
        else:
            raise MalformedInputError("expected S's CompareOpenings of at least one level")
        new = self._advance()
        return CompareOpenings(new) if new else None

    def _own_triples(self, tables: object) -> tuple[Bits, Bits, Bits]:
        """R's shares ``a, b, c`` of the triples, from the products or S's triple tables."""
        total = self._rows * sum(self._layout.gates)
        secret = self._triple_request
        count = 0 if secret is None else len(secret.choices)
        if (
            not isinstance(tables, np.ndarray)
            or tables.dtype != np.uint8
            or tables.shape != (count, 16)
        ):
            raise MalformedInputError(f"the triple tables must be a ({count}, 16) uint8 array")
        if secret is None:
            a, z = self._products.shares()
            a1, a2 = a[0::2], a[1::2]
            return a1, a2, a1 & a2 ^ z[0::2] ^ z[1::2]
        pads = receiver_pads(self._state, secret, 1)[:, 0]
        entries = tables[np.arange(count), secret.choices] ^ pads
        cross = np.stack([entries & 1, (entries >> 1) & 1], axis=1).ravel()[:total]
        choice = ((secret.choices[:, None] >> np.array([3, 2, 1, 0])) & 1).astype(np.uint8)
        a_r, b_r = choice[:, 0::2].ravel()[:total], choice[:, 1::2].ravel()[:total]
        return a_r, b_r, a_r & b_r ^ cross

    def result(self) -> Bits:
        """R's ``(n,)`` uint8 share of the MSB (after the last message)."""
        return super().result()


class ComparisonSender(_Party):
    """S's side of ``MSB(x + y mod 2**l)`` on ``n`` rows (S: the OT-extension sender).

    Parameters
    ----------
    state : OtSenderState
        S's OT state (its counter advances).
    bits : int
        ``l``, 2 to :data:`MAX_BITS` (16 by default).
    chunk : int
        ``m``, 1 to :data:`MAX_CHUNK` (4 by default).
    """

    def __init__(
        self, state: OtSenderState, bits: int = 16, chunk: int = 4, triples: str = "random_ot"
    ) -> None:
        super().__init__(_Layout.of(bits, chunk), is_receiver=False)
        self._state = state
        self._source = _check_source(triples)
        self._started = False

    def _mask_bits(self, count: int) -> Bits:
        """S's random masks of the table entries (CSPRNG)."""
        return random_bits(count)

    def respond(self, message: CompareRequest, y: npt.ArrayLike) -> CompareTables:
        """S's tables from R's request and S's ``(n,)`` shares ``y`` in ``[0, 2**l)``.

        Returns
        -------
        CompareTables
            The message for R.

        Raises
        ------
        MalformedInputError
            If ``y`` or the request is malformed, replayed or of another size.
        """
        if self._started:
            raise MalformedInputError("respond() was already called; use a new ComparisonSender")
        if not isinstance(message, CompareRequest):
            raise MalformedInputError("expected R's CompareRequest")
        layout = self._layout
        values = _check_values(y, layout.bits)
        rows = self._rows = len(values)
        self._started = True
        self._top = ((values >> np.uint64(layout.bits - 1)) & np.uint64(1)).astype(np.uint8)
        low_mask = np.uint64((1 << (layout.bits - 1)) - 1)
        digits = layout.digits(values & low_mask).reshape(-1, 1)
        size = 1 << layout.chunk
        pads = sender_pads(self._state, message.tables, size, rows * layout.chunks, 1)[:, :, 0]
        total = rows * sum(layout.gates)
        triple_tables = np.zeros((0, 16), dtype=np.uint8)
        if self._source == "random_ot":
            b, z = BitProductSender(self._state).shares(message.products, 2 * total)
            b1, b2 = b[0::2], b[1::2]
            self._set_triples(b2, b1, b1 & b2 ^ z[0::2] ^ z[1::2])
        else:
            count = -(-total // 2)
            triple_pads = sender_pads(self._state, message.products, 16, count, 1)[:, :, 0]
            a_s, b_s, c_s, plain = _triple_tables(total)
            self._set_triples(a_s, b_s, c_s)
            triple_tables = plain ^ triple_pads
        masks = self._mask_bits(2 * rows * layout.chunks).reshape(-1, 2)
        choices = np.arange(size)[None, :]
        gt = (digits > choices).astype(np.uint8) ^ masks[:, :1]
        eq = (digits == choices).astype(np.uint8) ^ masks[:, 1:]
        self._gt = masks[:, 0].reshape(rows, layout.chunks).copy()
        self._eq = masks[:, 1].reshape(rows, layout.chunks).copy()
        self._ready = True
        return CompareTables((gt | eq << 1) ^ pads, self._advance(), triple_tables)

    def step(self, message: CompareOpenings) -> CompareOpenings | None:
        """Process R's openings; the next message for R, or ``None`` if none is needed.

        Raises
        ------
        MalformedInputError
            If the message is of the wrong kind, shape, dtype or level.
        """
        if not self._started:
            raise MalformedInputError("call respond() first")
        if not isinstance(message, CompareOpenings) or not message.openings:
            raise MalformedInputError("expected R's CompareOpenings of at least one level")
        self._receive(message.openings)
        new = self._advance()
        return CompareOpenings(new) if new else None

    def result(self) -> Bits:
        """S's ``(n,)`` uint8 share of the MSB (after the last message)."""
        return super().result()


# --- B2A -------------------------------------------------------------------------------


@dataclass(frozen=True)
class B2aReply:
    """S -> R: the two masked B2A messages of every row.

    Attributes
    ----------
    masked : numpy.ndarray
        ``(n, 2, 8)`` uint8: the little-endian uint64 ``(c_S + rho, 1 - c_S + rho)``
        XOR the transfer's pads.
    """

    masked: Bits

    @property
    def nbytes(self) -> int:
        """Bytes on the wire."""
        return int(self.masked.nbytes)


def _check_bits(bits: npt.ArrayLike) -> Bits:
    array = np.asarray(bits)
    if array.ndim != 1 or (
        array.size
        and (array.dtype.kind not in "uib" or int(array.max()) > 1 or int(array.min()) < 0)
    ):
        raise MalformedInputError("boolean shares must be a vector of 0 and 1")
    return array.astype(np.uint8)


class B2aReceiver:
    """R's side of boolean-to-integer conversion: ends with ``c + rho`` per row.

    Parameters
    ----------
    state : OtReceiverState
        R's OT state (its counter advances at :meth:`request`).
    """

    def __init__(self, state: OtReceiverState) -> None:
        self._state = state
        self._secret: ChosenRequest | None = None

    def request(self, shares: npt.ArrayLike) -> OtColumns:
        """The message for S from R's ``(n,)`` boolean shares ``c_R``."""
        message, self._secret = request(self._state, _check_bits(shares), 2)
        return message

    def result(self, reply: B2aReply) -> npt.NDArray[np.int64]:
        """R's ``(n,)`` int64 integer shares ``c + rho`` in ``[0, 2**B2A_BITS]``.

        Raises
        ------
        MalformedInputError
            If the reply is malformed or a value is out of range.
        """
        if self._secret is None:
            raise MalformedInputError("call request() before result()")
        count = len(self._secret.choices)
        masked = reply.masked if isinstance(reply, B2aReply) else None
        if (
            not isinstance(masked, np.ndarray)
            or masked.dtype != np.uint8
            or masked.shape != (count, 2, 8)
        ):
            raise MalformedInputError(f"the B2A reply must be a ({count}, 2, 8) uint8 array")
        pads = receiver_pads(self._state, self._secret, 8)
        chosen = np.ascontiguousarray(masked[np.arange(count), self._secret.choices] ^ pads)
        values = chosen.view("<u8")[:, 0]
        if count and int(values.max()) > 1 << B2A_BITS:
            raise MalformedInputError(
                "a B2A value is out of range: the peer is not following the protocol"
            )
        return values.astype(np.int64)


class B2aSender:
    """S's side of boolean-to-integer conversion: ends with ``-rho`` per row.

    Parameters
    ----------
    state : OtSenderState
        S's OT state (its counter advances at :meth:`respond`).
    """

    def __init__(self, state: OtSenderState) -> None:
        self._state = state
        self._shares: npt.NDArray[np.int64] | None = None

    def respond(self, message: OtColumns, shares: npt.ArrayLike) -> B2aReply:
        """Mask ``(c_S + rho, 1 - c_S + rho)`` for R, from S's ``(n,)`` boolean shares.

        Raises
        ------
        MalformedInputError
            If the shares or the request are malformed, replayed or of another size.
        """
        bits = _check_bits(shares).astype(np.uint64)
        count = len(bits)
        pads = sender_pads(self._state, message, 2, count, 8)
        raw = np.frombuffer(secrets.token_bytes(8 * count), dtype="<u8")
        rho = raw & np.uint64((1 << B2A_BITS) - 1)
        plain = np.stack([bits + rho, np.uint64(1) - bits + rho], axis=1).astype("<u8")
        self._shares = -rho.astype(np.int64)
        return B2aReply(plain.view(np.uint8).reshape(count, 2, 8) ^ pads)

    def result(self) -> npt.NDArray[np.int64]:
        """S's ``(n,)`` int64 integer shares ``-rho``."""
        if self._shares is None:
            raise MalformedInputError("call respond() before result()")
        return self._shares

"""Binning statistics of a host's features without moving labels.

Roles: the *guest* (label owner, key owner) and one or more *hosts*, each holding
bin codes of its own features for the same aligned rows.  The guest runs the
exchange with every host; the hosts never talk to each other.

1. The guest sends :class:`~protocols.messages.BinSetup` to every host: its
   Paillier public key and the public parameters (rows, weighted or not, chunk
   size, rows per ciphertext, minimum rows per bin, label-noise guarantee).
2. The guest encrypts the row values with its private key (CRT: the fast path),
   ``k = rows_per_ciphertext`` consecutive rows to a ciphertext, row ``t`` in slot
   ``t`` (:class:`RowLayout`: ``k`` times fewer encryptions, which dominate the
   guest's cost), and sends them in :class:`~protocols.messages.BinLabels` chunks
   of ``chunk_rows`` rows (a chunk stays far below the transport's frame limit).  A
   row value is the label ``y`` in {0, 1}; with row weights it is
   ``W y + W * 2**H``: the weighted label and the weight, fixed point
   (``W = round(w * 2**WEIGHT_FRACTION_BITS)``), in two halves of ``H`` bits, wide
   enough for any sum over the rows.  The same ciphertexts go to every host.
3. Each host validates the ciphertexts and, chunk by chunk and for each position
   ``t``, multiplies them per bin of each feature by the bin of their row ``t``
   (:func:`crypto.binsums.bin_products`: joint buckets, process pool).  After the
   last chunk it aligns the positions so that slot ``k - 1`` of a bin's sum holds
   the bin's whole sum (:func:`crypto.binsums.combine_positions`) and masks every
   other slot, which holds sums of rows of other bins, with uniform masks
   :data:`~crypto.shares.STATISTICAL_BITS` wider than any sum
   (:func:`crypto.binsums.mask_slots`).  It shuffles the features and the bins
   within each feature with a CSPRNG permutation, packs the per-bin sums into few
   ciphertexts by a public layout and **re-randomises** every packed ciphertext
   (:func:`crypto.binsums.seal_sums`), and sends them with the per-bin row counts
   in the clear (:class:`~protocols.messages.BinSums`).  Without re-randomisation
   the guest could test which subset of its own ciphertexts multiplies to a sum and
   so learn which rows share a bin.  The host refuses to start if a bin of one of
   its features holds ``0 < rows < min_bin_rows`` (the larger of its own and the
   guest's minimum).
4. The guest validates the counts (every feature's bins add up to the rows, every
   non-empty bin holds at least ``min_bin_rows`` rows), decrypts and unpacks the
   sums, reads slot ``k - 1`` of each and checks them (a bin's events are at most
   its rows; every feature's events add up to the guest's total).  Once every host has answered it
   optionally adds Gaussian noise to the counts (:class:`LabelNoise`), computes WOE
   and IV (:func:`protocols.binning.woe.woe_iv`) and sends per bin the events,
   non-events and WOE and per feature the IV (:class:`~protocols.messages.BinResult`),
   in the host's shuffled order.  The host un-permutes them and keeps one
   :class:`BinStatistics` per feature, in its own order.

What each party learns.  The guest: the number of features of each host, and for
every feature, in an order it cannot link to the host's columns, the bin sizes and
the (weighted) event count of every bin, i.e. per-bin counts of *anonymous* host
bins (the masked slots are within ``2**-40`` of uniform); never a host's codes or
bin edges.  Each host: for each of its own bins, the events, non-events, WOE and
IV (noisy with label noise), hence its bins' event rates and the guest's total
events, but no label of a row.  Metadata: rows,
weighted or not, key size.  Semi-honest parties are assumed, as in FATE's hetero
binning: a guest that encrypted other values than its labels (e.g. ``2**i`` for
row ``i``) would read the bin membership of every row from the sums; a host that
sent other sums would pass the guest's consistency checks only with sums that
add up like honest ones.

Minimum rows per bin (:data:`DEFAULT_MIN_BIN_ROWS` = 50).  A bin's counts are a
sum over its customers; with at least 50 rows one customer is at most 2% of the
bin.  Statistical offices suppress frequency-table cells below 3 to 10 units;
50 is stricter, costs nothing in credit scoring (where a bin holds at least 5% of
the rows, i.e. 50 rows from 1,000 up) and keeps each WOE estimate stable.  Empty
bins are allowed: they are about no one.  The rule does not stop differencing:
two bins of different features whose rows differ by one customer reveal that
customer's label through their difference; the noise does.

Label noise (:class:`LabelNoise`, unweighted rows only).  Changing one label moves,
in *every* feature of *every* host, one bin's events by 1 and its non-events by -1.
Over ``F`` host features in all that is an L2 sensitivity of ``sqrt(2 F)``; the
guest waits for every host's sums, draws independent Gaussian noise of the
calibrated ``sigma`` (zero-concentrated DP, one release:
:func:`protocols.hetero_lr.privacy.noise_scale`) for every count, clips the noisy
counts at 0 and computes WOE and IV from them: everything the hosts receive is
post-processing.  The guest's own view is exact.  Row weights are refused with
noise, as in :mod:`protocols.hetero_lr.privacy`: class weights depend on the labels
(one label would move every row's weight), which this accounting does not cover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

from crypto.binsums import (
    Products,
    bin_products,
    combine_positions,
    mask_slots,
    multiply_products,
    open_sums,
    seal_sums,
)
from crypto.exceptions import CryptoError
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)
from crypto.permutation import secure_permutation
from crypto.shares import STATISTICAL_BITS, encrypt_integers
from protocols.binning.woe import woe_iv
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.privacy import DEFAULT_DELTA, csprng_normal, noise_scale
from protocols.messages import BinLabels, BinResult, BinSetup, BinSums, Message
from protocols.roles import Role

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_MIN_BIN_ROWS",
    "DEFAULT_ROWS_PER_CIPHERTEXT",
    "MAX_BINS",
    "MAX_FEATURES",
    "MAX_ROWS_PER_CIPHERTEXT",
    "MAX_WEIGHT",
    "WEIGHT_FRACTION_BITS",
    "BinStatistics",
    "BinningGuest",
    "BinningHost",
    "LabelNoise",
    "RowLayout",
]

DEFAULT_ROWS_PER_CIPHERTEXT = 3
"""Rows whose values the guest packs into one ciphertext (fewer if the key is short)."""
MAX_ROWS_PER_CIPHERTEXT = 64
"""The most rows per ciphertext a host accepts."""
DEFAULT_MIN_BIN_ROWS = 50
"""The fewest rows a non-empty bin may hold (see the module documentation)."""
MAX_BINS = 256
"""The most bins of one feature."""
MAX_FEATURES = 1 << 16
"""The most features of one host."""
WEIGHT_FRACTION_BITS = 24
"""Row weights travel as integers ``round(w * 2**WEIGHT_FRACTION_BITS)``."""
MAX_WEIGHT = float(1 << 20)
"""The largest row weight (a public bound: it sizes the slots of the row values)."""
CHUNK_BYTES = 64 << 20
"""About how many bytes of ciphertexts one :class:`BinLabels` chunk carries."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BinStatistics:
    """What the exchange yields for one feature.

    Attributes
    ----------
    rows : tuple of int
        Rows per bin.
    events, non_events : tuple of float
        (Weighted) label-1 and label-0 counts per bin; noisy with label noise.
    woe : tuple of float
        Weight of evidence per bin (:func:`protocols.binning.woe.woe_iv`).
    iv : float
        The feature's information value.
    """

    rows: tuple[int, ...]
    events: tuple[float, ...]
    non_events: tuple[float, ...]
    woe: tuple[float, ...]
    iv: float


@dataclass(frozen=True)
class LabelNoise:
    """Gaussian noise on the per-bin counts the hosts receive: ``(epsilon, delta)``-DP labels.

    Parameters
    ----------
    epsilon : float
        The guarantee for every label, over everything every host receives.
    delta : float, default 1e-5
        Its ``delta``.

    Raises
    ------
    ProtocolError
        If ``epsilon`` is not positive and finite or ``delta`` not in ``(0, 1)``.

    Examples
    --------
    >>> noise = LabelNoise(epsilon=1.0)
    >>> round(noise.sigma(features=1), 3), round(noise.sigma(features=4), 3)
    (6.93, 13.861)
    """

    epsilon: float
    delta: float = DEFAULT_DELTA

    def __post_init__(self) -> None:
        noise_scale(self.epsilon, self.delta, 1, 1.0)  # validates

    def sigma(self, features: int) -> float:
        """The noise standard deviation for ``features`` host features in all.

        Parameters
        ----------
        features : int
            Features of every host together.

        Returns
        -------
        float
            ``noise_scale`` at sensitivity ``sqrt(2 * features)``, one release.
        """
        return noise_scale(self.epsilon, self.delta, 1, math.sqrt(2 * features))


@dataclass(frozen=True)
class RowLayout:
    """The public layout of the row values, from the rows, the weighting and the packing.

    Each ciphertext packs the values of ``rows_per_ciphertext`` (``k``) consecutive
    rows, row ``t`` in slot ``t`` of :attr:`slot_bits` bits.  A value is the label,
    or the weighted label and the weight in two halves of :attr:`half_bits` bits;
    any sum of values over the rows is below ``2**value_bits``.  A host's per-bin
    sum (:func:`crypto.binsums.combine_positions`) has ``2k - 1`` slots: the bin's
    sum in slot ``k - 1``, the others masked by ``value_bits +`` :data:`STATISTICAL_BITS`
    random bits (so ``slot_bits`` leaves one bit more: no carry).

    Attributes
    ----------
    rows_per_ciphertext : int
        ``k``.
    half_bits : int
        Width of each half of a weighted value (0 unweighted).
    value_bits : int
        Width of any sum of values.

    Examples
    --------
    >>> layout = RowLayout.of(100_000, weighted=False, rows_per_ciphertext=3)
    >>> layout.value_bits, layout.slot_bits, layout.sum_bits, layout.fits(2048)
    (17, 58, 290, True)
    >>> RowLayout.of(100_000, weighted=True, rows_per_ciphertext=1).sum_bits  # two halves
    122
    """

    rows_per_ciphertext: int
    half_bits: int
    value_bits: int

    @classmethod
    def of(cls, rows: int, weighted: bool, rows_per_ciphertext: int) -> RowLayout:
        """The layout of ``rows`` rows, weighted or not, ``rows_per_ciphertext`` a ciphertext."""
        if not weighted:
            return cls(rows_per_ciphertext, 0, max(rows, 1).bit_length())
        largest = int(MAX_WEIGHT) << WEIGHT_FRACTION_BITS
        half = (max(rows, 1) * largest).bit_length()
        return cls(rows_per_ciphertext, half, 2 * half)

    @property
    def slot_bits(self) -> int:
        """Width of a row's slot (the value itself when a ciphertext holds one row)."""
        if self.rows_per_ciphertext == 1:
            return self.value_bits
        return self.value_bits + STATISTICAL_BITS + 1

    @property
    def sum_bits(self) -> int:
        """Width of a per-bin sum as the host sends it (``2k - 1`` slots)."""
        return (2 * self.rows_per_ciphertext - 1) * self.slot_bits

    def fits(self, key_bits: int) -> bool:
        """Whether a ``key_bits`` key holds the row ciphertexts and the per-bin sums."""
        return max(self.sum_bits, self.rows_per_ciphertext * self.slot_bits) < key_bits - 2

    def pack(self, values: Sequence[int]) -> list[int]:
        """Row values, ``k`` to a plaintext (the last one may hold fewer)."""
        k, width = self.rows_per_ciphertext, self.slot_bits
        return [
            sum(value << (width * t) for t, value in enumerate(values[i : i + k]))
            for i in range(0, len(values), k)
        ]

    def bin_sum(self, combined: int) -> int:
        """The bin's sum: slot ``k - 1`` of a per-bin sum the host sent."""
        k = self.rows_per_ciphertext
        return (combined >> (self.slot_bits * (k - 1))) & ((1 << self.slot_bits) - 1)


def _chunk_rows(public_key: PaillierPublicKey, rows_per_ciphertext: int) -> int:
    ciphertexts = max(1, CHUNK_BYTES // (2 * ((public_key.bits + 7) // 8)))
    return ciphertexts * rows_per_ciphertext


def _check_counters(message: Message, party: str, batch: int = 0) -> None:
    """One round; batches only for label chunks (in order): other counters are forged."""
    if message.round or message.batch != batch:
        raise ProtocolError(
            f"{party}: {message.sender} sent {message.kind.name} for round {message.round} "
            f"batch {message.batch}; expected round 0 batch {batch}"
        )


def _int_array(value: object, length: int, what: str) -> IntArray:
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iu":
        raise ProtocolError(f"{what} must be a 1-D integer array")
    if len(value) != length:
        raise ProtocolError(f"{what} holds {len(value)} values, expected {length}")
    if value.size and (value.min() < 0 or value.max() > np.iinfo(np.int64).max):
        raise ProtocolError(f"{what} holds a negative or oversized value")
    return value.astype(np.int64)


def _float_array(value: object, length: int, what: str) -> FloatArray:
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind != "f":
        raise ProtocolError(f"{what} must be a 1-D float array")
    if len(value) != length:
        raise ProtocolError(f"{what} holds {len(value)} values, expected {length}")
    if not np.isfinite(value).all():
        raise ProtocolError(f"{what} holds a value that is not finite")
    return value.astype(np.float64)


def _small_bin(counts: IntArray, n_bins: Sequence[int], min_rows: int) -> tuple[int, int] | None:
    """``(feature, bin)`` of the first bin with ``0 < rows < min_rows``, if any."""
    start = 0
    for feature, bins in enumerate(n_bins):
        block = counts[start : start + bins]
        small = np.flatnonzero((block > 0) & (block < min_rows))
        if small.size:
            return feature, int(small[0])
        start += bins
    return None


class BinningGuest(Role):
    """The guest's side of :mod:`protocols.binning.exchange`: labels and key.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts whose features are binned.
    labels : array_like
        0/1 label per aligned row.
    weights : array_like, optional
        Non-negative row weights (at most :data:`MAX_WEIGHT`), quantised to
        ``2**-WEIGHT_FRACTION_BITS``.
    key_length : int, default 2048
        Paillier key length (when no ``keypair`` is given).
    allow_weak_key : bool, default False
        Permit keys under 2048 bits (tests only).
    keypair : tuple, optional
        ``(public_key, private_key)`` to use instead of generating one.
    min_bin_rows : int, default DEFAULT_MIN_BIN_ROWS
        Refuse a host bin of ``0 < rows < min_bin_rows``.
    noise : LabelNoise, optional
        Label noise on everything the hosts receive (unweighted rows only).
    chunk_rows : int, optional
        Rows per label chunk (default: about :data:`CHUNK_BYTES` of ciphertexts;
        rounded up to whole ciphertexts).
    rows_per_ciphertext : int, default DEFAULT_ROWS_PER_CIPHERTEXT
        Rows packed into one ciphertext (fewer if the key cannot hold them).
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Attributes
    ----------
    result : dict of str to list of BinStatistics
        Once done: per host, what it was sent (noisy with label noise), one entry per
        feature in the host's *shuffled* order, bins shuffled too.

    Raises
    ------
    ProtocolError
        If the hosts are not distinct other parties, the labels or weights are
        unusable, or weights come with noise.

    Examples
    --------
    See :class:`BinningHost` for a whole run.
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        labels: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
        key_length: int = 2048,
        allow_weak_key: bool = False,
        keypair: tuple[PaillierPublicKey, PaillierPrivateKey] | None = None,
        min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
        noise: LabelNoise | None = None,
        chunk_rows: int | None = None,
        rows_per_ciphertext: int = DEFAULT_ROWS_PER_CIPHERTEXT,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(party, job_id)
        if not hosts or party in hosts or len(set(hosts)) != len(hosts):
            raise ProtocolError(f"{party}: hosts must be distinct other parties")
        self.hosts = tuple(hosts)
        y = np.asarray(labels)
        if y.ndim != 1 or y.size == 0 or not np.isin(y, (0, 1)).all():
            raise ProtocolError(f"{party}: binning needs a non-empty 1-D vector of 0/1 labels")
        self.labels = y.astype(np.int64)
        self.rows = len(self.labels)
        self.weighted = weights is not None
        if not 1 <= rows_per_ciphertext <= MAX_ROWS_PER_CIPHERTEXT:
            raise ProtocolError(
                f"{party}: rows_per_ciphertext must be in [1, {MAX_ROWS_PER_CIPHERTEXT}]"
            )
        self.layout = RowLayout.of(self.rows, self.weighted, rows_per_ciphertext)
        if weights is not None and noise is not None:
            raise ProtocolError(
                f"{party}: label noise needs unweighted rows (class weights depend on the "
                "labels, beyond what the noise covers); drop the weights or the noise"
            )
        if weights is None:
            self._weights = np.ones(self.rows, dtype=np.int64)
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (self.rows,) or not np.isfinite(w).all():
                raise ProtocolError(f"{party}: weights must be one finite value per label")
            if (w < 0).any() or w.max() > MAX_WEIGHT or not (w > 0).any():
                raise ProtocolError(
                    f"{party}: weights must be in [0, {MAX_WEIGHT:g}], at least one positive"
                )
            self._weights = np.rint(w * 2.0**WEIGHT_FRACTION_BITS).astype(np.int64)
        if min_bin_rows < 1:
            raise ProtocolError(f"{party}: min_bin_rows must be at least 1, not {min_bin_rows}")
        self.min_bin_rows = int(min_bin_rows)
        self.noise = noise
        self.key_length = key_length
        self.allow_weak_key = allow_weak_key
        self.n_jobs, self.executor = n_jobs, executor
        self._keypair = keypair
        self._private_key: PaillierPrivateKey | None = None
        if chunk_rows is not None and chunk_rows < 1:
            raise ProtocolError(f"{party}: chunk_rows must be positive, not {chunk_rows}")
        self._chunk_rows = chunk_rows
        self._chunks_sent = 0
        self._received: dict[str, tuple[IntArray, IntArray, FloatArray, FloatArray]] = {}
        self._started = False

    @property
    def public_key(self) -> PaillierPublicKey:
        """The guest's key (once started)."""
        if self._private_key is None:
            raise ProtocolError(f"{self.party}: the guest has not started yet")
        return self._private_key.public_key

    @property
    def chunk_rows(self) -> int:
        """Rows per label chunk (a whole number of ciphertexts)."""
        k = self.layout.rows_per_ciphertext
        if self._chunk_rows is None:
            return _chunk_rows(self.public_key, k)
        return -(-self._chunk_rows // k) * k

    @property
    def chunks(self) -> int:
        """Label chunks sent to every host."""
        return -(-self.rows // self.chunk_rows)

    def _row_values(self, start: int, stop: int) -> list[int]:
        """The chunk's plaintexts: row values packed ``k`` to a plaintext."""
        y: list[int] = self.labels[start:stop].tolist()
        if self.weighted:
            w = self._weights[start:stop].tolist()
            half = self.layout.half_bits
            y = [wi * yi + (wi << half) for wi, yi in zip(w, y, strict=True)]
        return self.layout.pack(y)

    def _totals(self) -> tuple[int, int]:
        """The sum of the weighted labels and of the weights (integers)."""
        return int(self._weights @ self.labels), int(self._weights.sum())

    def start(self) -> list[Message]:
        """Take or make the key pair and send the setup to every host.

        Returns
        -------
        list of Message
            One :class:`~protocols.messages.BinSetup` per host; the label chunks
            follow as :meth:`work`.

        Raises
        ------
        ProtocolError
            If called twice, or the chunk size or layout does not fit.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        if self._keypair is not None:
            public_key, self._private_key = self._keypair
        else:
            public_key, self._private_key = generate_paillier_keypair(
                self.key_length, allow_weak_key=self.allow_weak_key
            )
        layout = self.layout
        while layout.rows_per_ciphertext > 1 and not layout.fits(public_key.bits):
            layout = RowLayout.of(self.rows, self.weighted, layout.rows_per_ciphertext - 1)
        if not layout.fits(public_key.bits):
            raise ProtocolError(f"{self.party}: a {public_key.bits}-bit key is too short")
        self.layout = layout
        noise = self.noise
        return [
            BinSetup(
                job_id=self.job_id,
                sender=self.party,
                receiver=host,
                public_key=public_key,
                rows=self.rows,
                weighted=self.weighted,
                chunk_rows=self.chunk_rows,
                rows_per_ciphertext=layout.rows_per_ciphertext,
                min_bin_rows=self.min_bin_rows,
                noise_epsilon=0.0 if noise is None else noise.epsilon,
                noise_delta=DEFAULT_DELTA if noise is None else noise.delta,
            )
            for host in self.hosts
        ]

    @property
    def has_work(self) -> bool:
        """Label chunks are left to encrypt and send."""
        return self._started and self._chunks_sent < self.chunks

    def work(self) -> list[Message]:
        """Encrypt the next chunk of row values and send it to every host.

        Returns
        -------
        list of Message
            One :class:`~protocols.messages.BinLabels` per host.
        """
        if not self.has_work:
            return []
        assert self._private_key is not None
        batch = self._chunks_sent
        layout = self.layout
        start = batch * self.chunk_rows
        stop = min(start + self.chunk_rows, self.rows)
        labels = encrypt_integers(
            self._private_key,
            self._row_values(start, stop),
            layout.rows_per_ciphertext * layout.slot_bits,
            n_jobs=self.n_jobs,
            executor=self.executor,
        )
        assert isinstance(labels, EncryptedVector)
        self._chunks_sent += 1
        return [
            BinLabels(
                job_id=self.job_id, sender=self.party, receiver=host, batch=batch, labels=labels
            )
            for host in self.hosts
        ]

    def receive(self, message: Message) -> list[Message]:
        """Take a host's sums; once every host's are in, send every host its statistics.

        Parameters
        ----------
        message : Message
            A host's :class:`~protocols.messages.BinSums`.

        Returns
        -------
        list of Message
            Nothing until the last host's sums; then one
            :class:`~protocols.messages.BinResult` per host.

        Raises
        ------
        ProtocolError
            If the message is unexpected or its counts or sums are inconsistent.
        """
        sender = message.sender
        if (
            self.done
            or self.has_work
            or not self._started
            or not isinstance(message, BinSums)
            or sender not in self.hosts
            or sender in self._received
        ):
            raise self._unexpected(message, self._state())
        _check_counters(message, self.party)
        self._received[sender] = self._take_sums(message)
        if len(self._received) < len(self.hosts):
            return []
        return self._results()

    def _state(self) -> str:
        if self.done:
            return "finished"
        if not self._started or self.has_work:
            return "sending labels"
        return "waiting for sums from " + ", ".join(self.waiting_for)

    def _take_sums(self, message: BinSums) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Bins, rows, events and non-events per bin of a host, all checked."""
        host = message.sender
        what = f"{self.party}: {host}'s"
        if not isinstance(message.bins, np.ndarray) or message.bins.ndim != 1:
            raise ProtocolError(f"{what} bins must be a 1-D integer array")
        bins = _int_array(message.bins, len(message.bins), f"{what} bins")
        if not 1 <= len(bins) <= MAX_FEATURES:
            raise ProtocolError(f"{what} feature count {len(bins)} is not in [1, {MAX_FEATURES}]")
        if bins.min() < 1 or bins.max() > MAX_BINS:
            raise ProtocolError(
                f"{what} features must have 1 to {MAX_BINS} bins; one has {int(bins.max())}"
                if bins.max() > MAX_BINS
                else f"{what} features must have at least one bin"
            )
        total = int(bins.sum())
        counts = _int_array(message.counts, total, f"{what} bin counts")
        per_feature = np.add.reduceat(counts, np.cumsum(bins) - bins)
        if (per_feature != self.rows).any():
            feature = int(np.flatnonzero(per_feature != self.rows)[0])
            raise ProtocolError(
                f"{what} bins of feature {feature} hold {int(per_feature[feature])} rows, "
                f"not the {self.rows} aligned rows"
            )
        small = _small_bin(counts, bins.tolist(), self.min_bin_rows)
        if small is not None:
            raise ProtocolError(
                f"{what} feature {small[0]} has a bin of fewer than {self.min_bin_rows} rows "
                f"(bin {small[1]}); the host must merge its bins"
            )
        if not isinstance(message.sums, MaskedVector) or message.sums.public_key != self.public_key:
            raise ProtocolError(f"{what} sums are under another key")
        assert self._private_key is not None
        try:
            combined = open_sums(
                self._private_key,
                message.sums,
                total,
                self.layout.sum_bits,
                n_jobs=self.n_jobs,
                executor=self.executor,
            )
        except CryptoError as error:
            raise ProtocolError(f"{what} sums do not decrypt by the layout: {error}") from error
        sums = [self.layout.bin_sum(value) for value in combined]
        if any(value >> self.layout.value_bits for value in sums):
            raise ProtocolError(f"{what} sums exceed the public bound of any sum of labels")
        return bins, counts, *self._split(bins, counts, sums, host)

    def _split(
        self, bins: IntArray, counts: IntArray, sums: list[int], host: str
    ) -> tuple[FloatArray, FloatArray]:
        """Events and non-events per bin (checked against the counts and totals)."""
        what = f"{self.party}: {host}'s sums"
        starts = np.cumsum(bins) - bins
        if not self.weighted:
            counted = np.array(sums, dtype=np.int64)
            if (counted > counts).any():
                raise ProtocolError(f"{what} give a bin more events than rows")
            totals = np.add.reduceat(counted, starts)
            if (totals != int(self.labels.sum())).any():
                raise ProtocolError(f"{what} do not add up to the label total in every feature")
            return counted.astype(np.float64), (counts - counted).astype(np.float64)
        half = self.layout.half_bits
        weighted_events = [s & ((1 << half) - 1) for s in sums]
        weights = [s >> half for s in sums]
        if any(e > w for e, w in zip(weighted_events, weights, strict=True)) or any(
            w and not c for w, c in zip(weights, counts.tolist(), strict=True)
        ):
            raise ProtocolError(f"{what} give a bin more weighted events than weight")
        event_total, weight_total = self._totals()
        start = 0
        for size in bins.tolist():
            if (
                sum(weighted_events[start : start + size]) != event_total
                or sum(weights[start : start + size]) != weight_total
            ):
                raise ProtocolError(f"{what} do not add up to the totals in every feature")
            start += size
        scale = 2.0**WEIGHT_FRACTION_BITS
        events = np.array([e / scale for e in weighted_events], dtype=np.float64)
        non_events = np.array(
            [(w - e) / scale for e, w in zip(weighted_events, weights, strict=True)],
            dtype=np.float64,
        )
        return events, non_events

    def _results(self) -> list[Message]:
        features = sum(len(self._received[host][0]) for host in self.hosts)
        sigma = 0.0 if self.noise is None else self.noise.sigma(features)
        messages: list[Message] = []
        result: dict[str, list[BinStatistics]] = {}
        for host in self.hosts:
            bins, counts, events, non_events = self._received[host]
            if sigma:
                events = np.maximum(events + sigma * csprng_normal(len(events)), 0.0)
                non_events = np.maximum(non_events + sigma * csprng_normal(len(events)), 0.0)
            statistics = []
            woes, ivs = [], []
            start = 0
            for size in bins.tolist():
                e, ne = events[start : start + size], non_events[start : start + size]
                woe, iv = woe_iv(e, ne)
                statistics.append(
                    BinStatistics(
                        rows=tuple(counts[start : start + size].tolist()),
                        events=tuple(e.tolist()),
                        non_events=tuple(ne.tolist()),
                        woe=tuple(np.asarray(woe, dtype=np.float64).tolist()),
                        iv=float(iv),
                    )
                )
                woes.append(np.asarray(woe, dtype=np.float64))
                ivs.append(float(iv))
                start += size
            result[host] = statistics
            messages.append(
                BinResult(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=host,
                    events=events,
                    non_events=non_events,
                    woe=np.concatenate(woes),
                    iv=np.array(ivs, dtype=np.float64),
                    noise_sigma=sigma,
                )
            )
        self._finish(result)
        return messages

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts whose sums have not arrived."""
        if self.done:
            return ()
        return tuple(host for host in self.hosts if host not in self._received)

    @property
    def progress(self) -> tuple[int, int]:
        """Label chunks sent and hosts' sums received."""
        if not self._started:
            return 0, 1 + len(self.hosts)
        return self._chunks_sent + len(self._received), self.chunks + len(self.hosts)


class BinningHost(Role):
    """A host's side of :mod:`protocols.binning.exchange`: bin codes of its own features.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest (key and label owner).
    codes : array_like
        ``rows x features`` integer bin codes, rows in the aligned order of the
        guest's labels.
    n_bins : sequence of int
        Bins of each feature (1 to :data:`MAX_BINS`); ``codes[:, j] < n_bins[j]``.
    min_bin_rows : int, default DEFAULT_MIN_BIN_ROWS
        Refuse to send a feature with a bin of ``0 < rows < min_bin_rows`` (the
        guest's larger minimum, if any, applies too).
    min_key_bits : int, default 2048
        Refuse a guest key shorter than this.
    n_jobs, executor
        See :mod:`crypto.parallel`.

    Attributes
    ----------
    result : list of BinStatistics
        Once done: one per feature, in the host's own order.

    Raises
    ------
    ProtocolError
        If the codes or bins are unusable, or a bin is too small.

    Examples
    --------
    A guest and one host; the caller moves the messages:

    >>> guest = BinningGuest("guest", "job-1", hosts=["host"], labels=[1, 0, 0, 1, 1, 0],
    ...                      key_length=1024, allow_weak_key=True, min_bin_rows=2)
    >>> host = BinningHost("host", "job-1", guest="guest", codes=[[0, 1], [0, 0], [1, 0],
    ...                    [1, 1], [0, 1], [1, 0]], n_bins=[2, 2], min_bin_rows=2,
    ...                    min_key_bits=1024)
    >>> roles = {"guest": guest, "host": host}
    >>> queue = guest.start() + host.start()
    >>> while queue or guest.has_work:
    ...     if queue:
    ...         message = queue.pop(0)
    ...         queue += roles[message.receiver].receive(message)
    ...     else:
    ...         queue += guest.work()
    >>> [(s.rows, s.events) for s in host.result]
    [((3, 3), (2.0, 1.0)), ((3, 3), (0.0, 3.0))]
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        codes: npt.ArrayLike,
        n_bins: Sequence[int],
        min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
        min_key_bits: int = 2048,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(party, job_id)
        if guest == party:
            raise ProtocolError(f"{party}: the guest must be another party")
        self.guest = guest
        matrix = np.asarray(codes)
        bins = [int(b) for b in n_bins]
        if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.dtype.kind not in "iu":
            raise ProtocolError(f"{party}: codes must be a non-empty rows x features integer array")
        if matrix.shape[1] != len(bins) or not 1 <= len(bins) <= MAX_FEATURES:
            raise ProtocolError(
                f"{party}: codes have {matrix.shape[1]} features but n_bins lists {len(bins)}"
                f" (1 to {MAX_FEATURES} features)"
            )
        if min(bins) < 1 or max(bins) > MAX_BINS:
            raise ProtocolError(
                f"{party}: every feature needs 1 to {MAX_BINS} bins; merge the bins of "
                f"feature {next(j for j, b in enumerate(bins) if not 1 <= b <= MAX_BINS)}"
            )
        if matrix.min() < 0 or (matrix >= np.asarray(bins)).any():
            feature = int(np.flatnonzero(((matrix < 0) | (matrix >= np.asarray(bins))).any(0))[0])
            raise ProtocolError(f"{party}: feature {feature} has a code outside [0, n_bins)")
        self.codes = matrix
        self.n_bins = tuple(bins)
        self.rows = matrix.shape[0]
        self._starts = [sum(bins[:j]) for j in range(len(bins))]
        self.counts = np.concatenate(
            [np.bincount(matrix[:, j], minlength=b) for j, b in enumerate(bins)]
        ).astype(np.int64)
        if min_bin_rows < 1:
            raise ProtocolError(f"{party}: min_bin_rows must be at least 1, not {min_bin_rows}")
        self.min_bin_rows = int(min_bin_rows)
        self._check_bins(self.min_bin_rows)
        self.min_key_bits = min_key_bits
        self.n_jobs, self.executor = n_jobs, executor
        self._setup: BinSetup | None = None
        self._chunks_received = 0
        self._layout: RowLayout | None = None
        self._products: list[Products | None] = []
        self._order: IntArray | None = None
        self._bin_orders: list[IntArray] = []
        self._sent = False

    def _check_bins(self, min_rows: int) -> None:
        small = _small_bin(self.counts, self.n_bins, min_rows)
        if small is not None:
            feature, bin_ = small
            rows = int(self.counts[self._starts[feature] + bin_])
            raise ProtocolError(
                f"{self.party}: feature {feature} has a bin of {rows} rows (bin {bin_}), fewer "
                f"than the minimum of {min_rows}; merge it with a neighbour before binning"
            )

    def start(self) -> list[Message]:
        """Nothing to send before the guest's setup.

        Returns
        -------
        list of Message
            Always empty.
        """
        return []

    def receive(self, message: Message) -> list[Message]:
        """Take the setup, the label chunks and finally the statistics.

        Parameters
        ----------
        message : Message
            From the guest: :class:`~protocols.messages.BinSetup`, then every
            :class:`~protocols.messages.BinLabels` chunk in order, then
            :class:`~protocols.messages.BinResult`.

        Returns
        -------
        list of Message
            After the last chunk, the :class:`~protocols.messages.BinSums`.

        Raises
        ------
        ProtocolError
            If the message is unexpected or inconsistent with the job.
        """
        if message.sender == self.guest and not self.done:
            if isinstance(message, BinSetup) and self._setup is None:
                _check_counters(message, self.party)
                return self._take_setup(message)
            if (
                isinstance(message, BinLabels)
                and self._setup is not None
                and self._chunks_received < self._chunks()
            ):
                _check_counters(message, self.party, self._chunks_received)
                return self._take_labels(message)
            if isinstance(message, BinResult) and self._sent:
                _check_counters(message, self.party)
                return self._take_result(message)
        raise self._unexpected(message, self._state())

    def _state(self) -> str:
        if self.done:
            return "finished"
        if self._setup is None:
            return "waiting for the setup"
        if self._sent:
            return "waiting for the statistics"
        return f"waiting for label chunk {self._chunks_received}"

    def _chunks(self) -> int:
        assert self._setup is not None
        return int(-(-self.rows // self._setup.chunk_rows))

    def _take_setup(self, message: BinSetup) -> list[Message]:
        key = message.public_key
        if not isinstance(key, PaillierPublicKey):
            raise ProtocolError(f"{self.party}: {self.guest}'s setup carries no Paillier key")
        if key.bits < self.min_key_bits:
            raise ProtocolError(
                f"{self.party}: {self.guest}'s {key.bits}-bit key is below the "
                f"{self.min_key_bits}-bit minimum"
            )
        if message.rows != self.rows:
            raise ProtocolError(
                f"{self.party}: {self.guest} bins {message.rows} rows but this party has "
                f"{self.rows}; align the rows first"
            )
        k = message.rows_per_ciphertext
        if not 1 <= k <= MAX_ROWS_PER_CIPHERTEXT:
            raise ProtocolError(
                f"{self.party}: {self.guest}'s rows per ciphertext {k} is not in "
                f"[1, {MAX_ROWS_PER_CIPHERTEXT}]"
            )
        if message.chunk_rows < 1 or message.chunk_rows % k:
            raise ProtocolError(
                f"{self.party}: {self.guest}'s chunk size {message.chunk_rows} is not a positive "
                f"multiple of its {k} rows per ciphertext"
            )
        if not 1 <= message.min_bin_rows <= self.rows:
            raise ProtocolError(
                f"{self.party}: {self.guest}'s min_bin_rows {message.min_bin_rows} is not in "
                f"[1, {self.rows}]"
            )
        epsilon, delta = message.noise_epsilon, message.noise_delta
        if not (math.isfinite(epsilon) and epsilon >= 0 and 0 < delta < 1):
            raise ProtocolError(f"{self.party}: {self.guest} sent invalid noise parameters")
        layout = RowLayout.of(self.rows, message.weighted, k)
        if not layout.fits(key.bits):
            raise ProtocolError(
                f"{self.party}: {self.guest}'s {key.bits}-bit key cannot hold {k} rows per "
                "ciphertext"
            )
        self._check_bins(max(self.min_bin_rows, message.min_bin_rows))
        self._setup, self._layout = message, layout
        return []

    def _take_labels(self, message: BinLabels) -> list[Message]:
        assert self._setup is not None and self._layout is not None
        setup = self._setup
        k = self._layout.rows_per_ciphertext
        labels = message.labels
        if not isinstance(labels, EncryptedVector):
            raise ProtocolError(f"{self.party}: {self.guest}'s labels are not a ciphertext vector")
        start = self._chunks_received * setup.chunk_rows
        stop = min(start + setup.chunk_rows, self.rows)
        if labels.public_key != setup.public_key:
            raise ProtocolError(f"{self.party}: {self.guest} sent labels under another key")
        expected = -(-(stop - start) // k)
        if len(labels) != expected or labels.exponent != 0:
            raise ProtocolError(
                f"{self.party}: {self.guest}'s label chunk {message.batch} holds "
                f"{len(labels)} values at exponent {labels.exponent}, expected {expected} "
                "at exponent 0"
            )
        if not self._products:
            self._products = [None] * k
        parts: list[Products | None] = []
        for t in range(k):  # the ciphertexts by the bin of their row t
            codes = self.codes[start + t : stop : k]
            try:
                parts.append(
                    bin_products(
                        labels if len(codes) == len(labels) else labels[: len(codes)],
                        codes,
                        self.n_bins,
                        n_jobs=self.n_jobs,
                        executor=self.executor,
                    )
                    if len(codes)
                    else None
                )
            except CryptoError as error:
                raise ProtocolError(
                    f"{self.party}: {self.guest}'s label chunk {message.batch} is invalid: {error}"
                ) from error
        for t, part in enumerate(parts):  # every part is valid: now take them
            previous = self._products[t]
            if part is not None and previous is not None:
                part = multiply_products(previous, part, labels.public_key)
            self._products[t] = part if part is not None else previous
        self._chunks_received += 1
        if self._chunks_received < self._chunks():
            return []
        return self._send_sums()

    def _send_sums(self) -> list[Message]:
        assert self._setup is not None and self._layout is not None
        layout, public_key = self._layout, self._setup.public_key
        k = layout.rows_per_ciphertext
        empty = [[mpz(1)] * b for b in self.n_bins]  # a position no row reached (rows < k)
        combined = combine_positions(
            public_key,
            [empty if products is None else products for products in self._products],
            layout.slot_bits,
            n_jobs=self.n_jobs,
            executor=self.executor,
        )
        if k > 1:  # hide the slots that hold sums of other rows than the bin's
            combined = mask_slots(
                public_key,
                combined,
                2 * k - 1,
                k - 1,
                layout.slot_bits,
                layout.value_bits + STATISTICAL_BITS,
            )
        order = secure_permutation(len(self.n_bins))
        bin_orders = [secure_permutation(b) for b in self.n_bins]
        starts = self._starts
        flat_sums = []
        counts = []
        for feature in order.tolist():
            for b in bin_orders[feature].tolist():
                flat_sums.append(combined[starts[feature] + b])
                counts.append(int(self.counts[starts[feature] + b]))
        sealed = seal_sums(
            public_key, flat_sums, layout.sum_bits, n_jobs=self.n_jobs, executor=self.executor
        )
        self._order, self._bin_orders = order, bin_orders
        self._products = []
        self._sent = True
        return [
            BinSums(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                bins=np.array([self.n_bins[f] for f in order.tolist()], dtype=np.int64),
                counts=np.array(counts, dtype=np.int64),
                sums=sealed,
            )
        ]

    def _take_result(self, message: BinResult) -> list[Message]:
        assert self._setup is not None and self._order is not None
        what = f"{self.party}: {self.guest}'s"
        total = len(self.counts)
        events = _float_array(message.events, total, f"{what} events")
        non_events = _float_array(message.non_events, total, f"{what} non-events")
        woe = _float_array(message.woe, total, f"{what} WOE")
        iv = _float_array(message.iv, len(self.n_bins), f"{what} IV")
        sigma = message.noise_sigma
        if (events < 0).any() or (non_events < 0).any():
            raise ProtocolError(f"{what} counts include a negative value")
        if not (math.isfinite(sigma) and sigma >= 0) or (
            (sigma > 0) != (self._setup.noise_epsilon > 0)
        ):
            raise ProtocolError(
                f"{what} noise sigma {sigma!r} does not match the noise agreed in the setup"
            )
        statistics: list[BinStatistics | None] = [None] * len(self.n_bins)
        start = 0
        for position, feature in enumerate(self._order.tolist()):
            size = self.n_bins[feature]
            inverse = np.argsort(self._bin_orders[feature])
            e = events[start : start + size][inverse]
            ne = non_events[start : start + size][inverse]
            w = woe[start : start + size][inverse]
            rows = self.counts[self._starts[feature] : self._starts[feature] + size]
            if not sigma and not self._setup.weighted and not np.array_equal(e + ne, rows):
                raise ProtocolError(
                    f"{what} events and non-events do not add up to this party's bin sizes"
                )
            expected_woe, expected_iv = woe_iv(e, ne)
            if not (
                np.allclose(w, expected_woe, rtol=1e-9, atol=1e-9)
                and math.isclose(
                    float(iv[position]), float(expected_iv), rel_tol=1e-9, abs_tol=1e-9
                )
            ):
                raise ProtocolError(f"{what} WOE or IV do not follow from its counts")
            # kept as computed in this party's bin order: independent of the shuffle
            statistics[feature] = BinStatistics(
                rows=tuple(rows.tolist()),
                events=tuple(e.tolist()),
                non_events=tuple(ne.tolist()),
                woe=tuple(expected_woe.tolist()),
                iv=float(expected_iv),
            )
            start += size
        self._finish(statistics)
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest, until the statistics arrive."""
        return () if self.done else (self.guest,)

    @property
    def progress(self) -> tuple[int, int]:
        """Setup, label chunks and statistics received."""
        if self._setup is None:
            return 0, 3
        return 1 + self._chunks_received + int(self.done), 2 + self._chunks()

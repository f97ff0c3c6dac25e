"""Typed, frozen protocol messages.

Every message carries the same header (kind, job id, round, batch, sender, receiver,
protocol version) and a few typed payload fields.  Payload fields may only have the
types in :data:`PAYLOAD_TYPES`; the wire codec (``vfl.codec``) encodes each of them
with an explicit, validated format.  A message class registers its kind on
definition, so ``MESSAGE_TYPES[kind]`` finds the class to decode.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from crypto.paillier import EncryptedVector, MaskedVector, PackedEncryptedVector, PaillierPublicKey

__all__ = [
    "MESSAGE_TYPES",
    "PARTY_NAME_PATTERN",
    "PAYLOAD_TYPES",
    "PROTOCOL_VERSION",
    "Abort",
    "BinLabels",
    "BinResult",
    "BinSetup",
    "BinSums",
    "LrCross",
    "LrDecision",
    "LrDecrypted",
    "LrEpochEnd",
    "LrForward",
    "LrHostSetup",
    "LrMasked",
    "LrPartialScores",
    "LrPublicKey",
    "LrResidual",
    "LrResume",
    "LrScoreRequest",
    "LrSetup",
    "LrSharePlain",
    "LrSharePowers",
    "LrShareResidual",
    "LrShareSealed",
    "LrShareWeights",
    "Message",
    "MessageKind",
    "PsiDone",
    "PsiGuestItems",
    "PsiHostItems",
    "PsiHostSetup",
    "PsiOkvsCells",
    "PsiOtColumns",
    "PsiOtReceiverPoints",
    "PsiOtSenderPoint",
    "PsiPositions",
    "PsiProcessedItems",
    "PsiSetup",
    "PsiVoleCorrections",
    "SumPartial",
    "SumPublicKey",
    "SumResult",
    "payload_fields",
    "unzigzag",
    "zigzag",
]

PROTOCOL_VERSION = 1
"""Version of the message set; a peer speaking another version is refused."""

PARTY_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}", re.ASCII)
"""Party names (use ``fullmatch``): DNS-safe, as they are also certificate names."""

PAYLOAD_TYPES: tuple[type, ...] = (
    bool,
    int,
    float,
    str,
    bytes,
    np.ndarray,
    PaillierPublicKey,
    EncryptedVector,
    PackedEncryptedVector,
    MaskedVector,
    tuple,  # only tuple[int, ...] (non-negative big integers) and tuple[str, ...]
)
"""Types a payload field may have.

A vector field is decoded with a key the receiving party already knows, or with a
:class:`PaillierPublicKey` field declared *before* it in the same message.
"""


class MessageKind(enum.IntEnum):
    """Every message kind of every protocol (values are wire constants: never reuse one).

    Examples
    --------
    >>> MessageKind(20).name, MESSAGE_TYPES[MessageKind.PSI_SETUP].__name__
    ('PSI_SETUP', 'PsiSetup')
    """

    ABORT = 1
    SUM_PUBLIC_KEY = 10
    SUM_PARTIAL = 11
    SUM_RESULT = 12
    PSI_SETUP = 20
    PSI_HOST_SETUP = 21
    PSI_GUEST_ITEMS = 22
    PSI_PROCESSED_ITEMS = 23
    PSI_HOST_ITEMS = 24
    PSI_POSITIONS = 25
    PSI_DONE = 26
    PSI_OT_SENDER = 27
    PSI_OT_RECEIVER = 28
    PSI_OT_COLUMNS = 29
    LR_SETUP = 30
    LR_HOST_SETUP = 31
    LR_PUBLIC_KEY = 32
    LR_FORWARD = 33
    LR_RESIDUAL = 34
    LR_MASKED = 35
    LR_DECRYPTED = 36
    LR_CROSS = 37
    LR_EPOCH_END = 38
    LR_DECISION = 39
    LR_SCORE_REQUEST = 40
    LR_PARTIAL_SCORES = 41
    LR_RESUME = 42
    LR_SHARE_PLAIN = 43
    LR_SHARE_WEIGHTS = 44
    LR_SHARE_SEALED = 45
    LR_SHARE_POWERS = 46
    LR_SHARE_RESIDUAL = 47
    BIN_SETUP = 50
    BIN_LABELS = 51
    BIN_SUMS = 52
    BIN_RESULT = 53
    PSI_VOLE_CORRECTIONS = 60
    PSI_OKVS_CELLS = 61


MESSAGE_TYPES: dict[MessageKind, type[Message]] = {}
"""Message class of each kind."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Message:
    """The header every message carries.

    Attributes
    ----------
    job_id : str
        The job this message belongs to.
    sender, receiver : str
        Party names.
    round : int
        Protocol round (e.g. the epoch), from 0.
    batch : int
        Mini-batch or chunk index within the round, from 0.
    version : int
        :data:`PROTOCOL_VERSION` of the sender.

    Examples
    --------
    Every concrete message is a frozen, keyword-only dataclass with this header and
    its own payload fields:

    >>> message = LrDecision(
    ...     job_id="job-1", sender="guest", receiver="host", round=4, stop=True, best_epoch=2
    ... )
    >>> message.kind, message.version
    (<MessageKind.LR_DECISION: 39>, 1)
    >>> message.describe()
    'LR_DECISION guest->host round=4 batch=0'
    >>> message.stop = False
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'stop'
    """

    KIND: ClassVar[MessageKind]

    job_id: str
    sender: str
    receiver: str
    round: int = 0
    batch: int = 0
    version: int = PROTOCOL_VERSION

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("KIND")
        if kind is None:
            return
        if kind in MESSAGE_TYPES:
            raise TypeError(f"message kind {kind!r} is already used by {MESSAGE_TYPES[kind]}")
        MESSAGE_TYPES[kind] = cls

    @property
    def kind(self) -> MessageKind:
        """The message kind (the class's ``KIND``)."""
        return self.KIND

    def describe(self) -> str:
        """A log-safe one-line summary: header only, never payload values.

        Returns
        -------
        str
            ``"<KIND> <sender>-><receiver> round=<round> batch=<batch>"``.
        """
        return (
            f"{self.KIND.name} {self.sender}->{self.receiver} round={self.round} batch={self.batch}"
        )


HEADER_FIELDS = tuple(f.name for f in dataclasses.fields(Message))


def payload_fields(cls: type[Message]) -> tuple[dataclasses.Field[Any], ...]:
    """The payload fields of a message class, in declaration order.

    Parameters
    ----------
    cls : type of Message
        A message class.

    Returns
    -------
    tuple of dataclasses.Field
        Every field that is not part of the header.

    Examples
    --------
    >>> [field.name for field in payload_fields(PsiSetup)]
    ['method', 'output', 'salt', 'size', 'chunk_size']
    """
    return tuple(f for f in dataclasses.fields(cls) if f.name not in HEADER_FIELDS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Abort(Message):
    """A party stops the job; ``reason`` is a one-line, data-free explanation.

    Examples
    --------
    >>> Abort(job_id="job-1", sender="host", receiver="guest", reason="disk full").reason
    'disk full'
    """

    KIND = MessageKind.ABORT
    reason: str


# --- secure sum (protocols.secure_sum) ------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SumPublicKey(Message):
    """Key owner -> every contributor: the key to encrypt under and the vector length."""

    KIND = MessageKind.SUM_PUBLIC_KEY
    public_key: PaillierPublicKey
    length: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SumPartial(Message):
    """Contributor -> next contributor (or the key owner): the running encrypted sum.

    It carries the key it is encrypted under, so that it can be decoded even when it
    overtakes the owner's :class:`SumPublicKey` on another connection; the receiver
    checks that the two keys are the same.
    """

    KIND = MessageKind.SUM_PARTIAL
    public_key: PaillierPublicKey
    partial: EncryptedVector
    contributors: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SumResult(Message):
    """Key owner -> every contributor: the decrypted total over all parties."""

    KIND = MessageKind.SUM_RESULT
    totals: np.ndarray
    contributors: int


# --- private set intersection (protocols.psi) ------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiSetup(Message):
    """Guest -> every host: the agreed parameters and the guest's set size.

    ``salt`` (fresh random bytes per job) goes into every hash of an id, so that
    values of one job cannot be compared with another's.
    """

    KIND = MessageKind.PSI_SETUP
    method: str
    output: str
    salt: bytes
    size: int
    chunk_size: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiHostSetup(Message):
    """Host -> guest: the host's set size and, for RSA-PSI, its public key ``(n, e)``."""

    KIND = MessageKind.PSI_HOST_SETUP
    size: int
    rsa_public_key: tuple[int, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiGuestItems(Message):
    """Guest -> host: chunk ``batch`` of the guest's shuffled, blinded items.

    ECDH: ``H(id)^a`` as 32-byte points; RSA: ``FDH(id) * r^e mod n``, fixed width.
    """

    KIND = MessageKind.PSI_GUEST_ITEMS
    items: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiProcessedItems(Message):
    """Host -> guest: chunk ``batch`` of the guest's items under the host's secret.

    ECDH: ``H(id)^ab`` (in cardinality mode re-shuffled over the whole set);
    RSA: the blind signatures ``FDH(id)^d * r``.
    """

    KIND = MessageKind.PSI_PROCESSED_ITEMS
    items: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiHostItems(Message):
    """Host -> guest: chunk ``batch`` of the host's own shuffled items.

    ECDH: ``H(id)^b``; RSA: 32-byte tags of the host's signatures ``FDH(id)^d``;
    KKRT: the three 16-byte PRF outputs of each id, one per cuckoo bin.
    """

    KIND = MessageKind.PSI_HOST_ITEMS
    items: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiPositions(Message):
    """Guest -> host (output ``"both"``): the intersection in the agreed order.

    ``positions[k]`` is the index, in the host's shuffled item sequence, of the k-th
    common customer.
    """

    KIND = MessageKind.PSI_POSITIONS
    positions: np.ndarray


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiDone(Message):
    """Guest -> host (outputs ``"guest"`` and ``"cardinality"``): the protocol is over."""

    KIND = MessageKind.PSI_DONE


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiOtSenderPoint(Message):
    """Guest -> host (``method="kkrt"``): the guest's base-OT point ``R = r * G``.

    Reveals nothing: a fresh X25519 public key (see :mod:`crypto.ot`).
    """

    KIND = MessageKind.PSI_OT_SENDER
    point: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiOtReceiverPoints(Message):
    """Host -> guest (``method="kkrt"``): two points per base OT.

    One is an X25519 public key, the other a point hashed from random bytes; which
    is which (the host's secret choice bits) does not show (see :mod:`crypto.ot`).
    """

    KIND = MessageKind.PSI_OT_RECEIVER
    points: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiOtColumns(Message):
    """Guest -> host (``method="kkrt"``): block ``batch`` of the OT-extension matrix ``u``.

    512 columns of the block's bins, each masked by a PRG stream the host does not
    know (see :mod:`crypto.ot_extension`).
    """

    KIND = MessageKind.PSI_OT_COLUMNS
    columns: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiVoleCorrections(Message):
    """Host -> guest (``method="vole"``): the VOLE sender's corrections for segment ``batch``.

    ``level_sums``: for every GGM tree and level, the XOR of the left children and of
    the right children, each masked by a random-OT pad (the guest can unmask one per
    level, the off-path side); ``base_corrections``: for every noise value and bit,
    ``r0 ^ r1 ^ x^k * Delta`` (Gilboa's multiplication from random OTs);
    ``tree_sums``: for every tree, the XOR of its leaves plus the sender's share of the
    base VOLE.  Every 16-byte value is masked by a pad the guest lacks or is
    pseudorandom (see :mod:`crypto.vole`).
    """

    KIND = MessageKind.PSI_VOLE_CORRECTIONS
    level_sums: bytes
    base_corrections: bytes
    tree_sums: bytes


@dataclasses.dataclass(frozen=True, kw_only=True)
class PsiOkvsCells(Message):
    """Guest -> host (``method="vole"``): chunk ``batch`` of ``A + P``.

    ``P`` is the guest's OKVS of its items (``key`` fixes the OKVS's public hash
    positions); ``A`` is the guest's pseudorandom VOLE vector, unknown to the host, so
    the cells are uniformly distributed to the host.
    """

    KIND = MessageKind.PSI_OKVS_CELLS
    key: bytes
    cells: bytes


# --- hetero logistic regression (protocols.hetero_lr) -----------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrSetup(Message):
    """Guest -> every host and the arbiter: the agreed training parameters.

    ``plan_seed`` fixes the public batch plan (which rows form each mini-batch of
    each epoch); ``weighted`` says whether rows carry weights (the weights stay with
    the guest); ``validation_rows`` is the size of the aligned validation set
    (0: none).  ``resume`` says that the guest continues an interrupted run
    (``vfl run --resume``); every party must agree.  When resuming with
    checkpoints, ``plan_seed`` is the seed of the guest's checkpoints.
    ``rows_digest`` (to hosts only; empty: not checked) is a SHA-256 of the guest's
    row ids in order, salted with ``plan_seed``: a host refuses rows that are not its
    own customers in its own order.  ``convergence`` and ``early_stopping`` (empty:
    none) say what the guest asks the hosts for at the end of each epoch: a host sends
    its weight-change norm only for ``"weights"`` and its validation partial scores
    only with early stopping, and refuses a setup that differs from its own settings.
    """

    KIND = MessageKind.LR_SETUP
    mode: str
    hosts: tuple[str, ...]
    rows: int
    batch_size: int
    max_iter: int
    plan_seed: bytes
    guest_features: int
    weighted: bool
    validation_rows: int
    key_length: int
    resume: bool = False
    rows_digest: bytes = b""
    convergence: str = "loss"
    early_stopping: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrHostSetup(Message):
    """Host -> guest: the host's feature count and row counts (checked by the guest).

    Sent in reply to :class:`LrSetup`, or, when the host resumes an interrupted run
    (``resume``), first: then ``resume_epochs`` lists the epochs after which the host
    holds a checkpoint (at most two) and ``resume_seed`` the plan seed of those
    checkpoints (empty without any).  The guest picks the epoch to continue from
    (:class:`LrResume`).  ``gradient_bits`` is the bit length of the host's largest
    feature value at the protocol's resolution: with ``features`` it bounds what the
    host's exact gradient can reveal (the label-information bound,
    :mod:`protocols.hetero_lr.leakage`), which the guest checks.
    """

    KIND = MessageKind.LR_HOST_SETUP
    features: int
    rows: int
    validation_rows: int
    gradient_bits: int = 0
    resume: bool = False
    resume_seed: bytes = b""
    resume_epochs: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrPublicKey(Message):
    """Key owner -> peers: the Paillier key to encrypt under.

    Two-party: each party's own key to its peer; arbiter mode: the arbiter's key to
    everyone.
    """

    KIND = MessageKind.LR_PUBLIC_KEY
    public_key: PaillierPublicKey


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrForward(Message):
    """Host -> guest, batch ``batch`` of epoch ``round``: the host's encrypted scores.

    ``[[u_h / 4]]`` per row and ``[[sum u_h**2]]`` (one value; per row when rows are
    weighted), under the key owner's key (two-party: the host's own key; arbiter
    mode: the arbiter's).
    """

    KIND = MessageKind.LR_FORWARD
    quarter_scores: EncryptedVector
    squares: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrResidual(Message):
    """Guest -> host: what the host needs for its gradient.

    Two-party: ``[[e]] = [[w * (u_g / 4 - y / 2)]]`` under the guest's key, and
    ``[[w / 4]]`` per row when rows are weighted (else empty).  Arbiter mode: the full
    residual ``[[d]] = [[w * ((u_g + sum_h u_h) / 4 - y / 2)]]`` under the arbiter's
    key (re-randomised), and, when several hosts train and this is not the first,
    ``prefix = [[w * sum_{j<h} u_j / 4]]`` for the loss cross term (else empty).
    """

    KIND = MessageKind.LR_RESIDUAL
    residual: EncryptedVector
    weights: EncryptedVector
    prefix: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrMasked(Message):
    """Party -> key owner: its masked gradient (and, from the guest, the batch loss).

    Both are under the receiver's key, each plaintext hidden by a mask uniform in
    ``Z_n`` and re-randomised.  ``loss`` is empty when the sender is a host.
    """

    KIND = MessageKind.LR_MASKED
    gradient: MaskedVector
    loss: MaskedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrDecrypted(Message):
    """Key owner -> masking party: the decrypted values of its :class:`LrMasked`.

    Gradient first, then the loss (if any); still masked, so meaningless to the owner.
    """

    KIND = MessageKind.LR_DECRYPTED
    values: tuple[int, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrCross(Message):
    """Host -> guest (arbiter mode, several hosts): ``[[sum_i u_h,i * prefix_i]]``."""

    KIND = MessageKind.LR_CROSS
    cross: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrEpochEnd(Message):
    """Host -> guest after its last update of epoch ``round``.

    Its penalty term; the squared norm of its weight change over the epoch only when
    training converges on weights (``0.0`` otherwise); its partial scores ``u_h`` on
    the validation rows only with early stopping (empty otherwise).  Together, epoch
    after epoch, the two would let the guest rebuild the Gram matrix of the host's
    validation rows, so neither is sent unless the job's stopping rule needs it.
    """

    KIND = MessageKind.LR_EPOCH_END
    weight_change: float
    penalty: float
    validation_scores: np.ndarray


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrDecision(Message):
    """Guest -> every host and the arbiter: stop after epoch ``round`` or go on.

    On stopping, ``best_epoch`` names the epoch whose weights every party keeps
    (early stopping), or is -1 to keep the last ones.
    """

    KIND = MessageKind.LR_DECISION
    stop: bool
    best_epoch: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrResume(Message):
    """Guest -> every host and the arbiter, in a resumed run only: where training goes on.

    Training continues with epoch ``round``, from every party's checkpoint taken
    after epoch ``round - 1``: the latest epoch for which the guest and every host
    hold a checkpoint of this training run (``round`` 0: none, start afresh with
    the setup's plan seed).  Keys, masks and obfuscators are always fresh.
    """

    KIND = MessageKind.LR_RESUME


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrScoreRequest(Message):
    """Guest -> host: send partial scores for the ``rows`` aligned rows to score.

    ``rows_digest`` (empty: not checked) is a SHA-256 of the guest's row ids in
    order, salted with the fresh ``rows_salt``: the host refuses to score other rows.
    """

    KIND = MessageKind.LR_SCORE_REQUEST
    rows: int
    rows_salt: bytes = b""
    rows_digest: bytes = b""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrPartialScores(Message):
    """Host -> guest: ``u_h = X_h w_h`` for every row to score (the guest learns them)."""

    KIND = MessageKind.LR_PARTIAL_SCORES
    scores: np.ndarray


# shared-mode hetero LR (protocols.hetero_lr.shared_party) ---------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrSharePlain(Message):
    """Shared mode: values that are uniformly random to the receiver, in the clear.

    ``purpose`` says which: ``"initial"`` (the receiver's initial share of the
    sender's weights), ``"scores"`` (another host's mask of its partial score, to the
    partner host; ``"validation"`` from another host: the same for the validation
    rows), ``"residual"`` (the partner host's residual share, to another
    host), ``"loss"`` (the partner host's share of the epoch's loss sum, to the
    guest), ``"validation"`` (the partner host's share of every validation row's score,
    to the guest, with early stopping only: the guest learns those scores) and
    ``"final"`` (the receiver's share of its own weights, at the end).
    Signed integers travel zigzag-encoded (:func:`zigzag`).
    """

    KIND = MessageKind.LR_SHARE_PLAIN
    purpose: str
    shares: tuple[int, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrShareWeights(Message):
    """Shared mode: the sender's share of the receiver's weights, under the sender's key.

    ``purpose``: ``"batch"`` (for the batch's scores) or ``"validation"`` (for the
    validation scores at an epoch's end, with early stopping only).
    """

    KIND = MessageKind.LR_SHARE_WEIGHTS
    purpose: str
    weights: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrShareSealed(Message):
    """Shared mode: masked, packed values under the receiver's key (its new shares).

    ``purpose``: ``"scores"`` (a partial score per row), ``"sigmoid"`` (the
    approximate sigmoid per row), ``"loss"`` (the batch's loss sum),
    ``"gradient"`` (the receiver's share of a gradient) or ``"validation"`` (a partial
    score per validation row, with early stopping only).
    """

    KIND = MessageKind.LR_SHARE_SEALED
    purpose: str
    sealed: MaskedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrSharePowers(Message):
    """Shared mode, guest -> partner host: powers of the guest's score shares.

    ``powers`` holds ``columns`` columns of one value per row of the batch, column
    after column, under the guest's key (see :mod:`protocols.hetero_lr.shared_party`);
    with ``convergence="loss"``, one more value: the guest's part of the batch's
    ``-sum(w y z)``, which the partner host adds to its loss sum.
    """

    KIND = MessageKind.LR_SHARE_POWERS
    columns: int
    powers: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class LrShareResidual(Message):
    """Shared mode: the sender's share of the batch's residuals, under its own key."""

    KIND = MessageKind.LR_SHARE_RESIDUAL
    residual: EncryptedVector


# --- binning statistics (protocols.binning.exchange) -------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class BinSetup(Message):
    """Guest -> every host: the guest's key and the exchange's public parameters.

    ``rows`` aligned rows, sent as :class:`BinLabels` chunks of ``chunk_rows`` rows,
    the values of ``rows_per_ciphertext`` rows packed into each ciphertext;
    ``weighted``: each row value packs a weighted label and a weight (fixed point);
    ``min_bin_rows``: the guest refuses a bin of fewer rows (but at least one);
    ``noise_epsilon`` (0: none) and ``noise_delta``: the label-privacy guarantee of
    the per-bin counts the host receives.
    """

    KIND = MessageKind.BIN_SETUP
    public_key: PaillierPublicKey
    rows: int
    weighted: bool
    chunk_rows: int
    rows_per_ciphertext: int
    min_bin_rows: int
    noise_epsilon: float
    noise_delta: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class BinLabels(Message):
    """Guest -> host, chunk ``batch``: the encrypted row values of the chunk's rows.

    Exact integers at exponent 0 under the guest's key (the bound is ignored: the
    host relies on the public bound of the setup).
    """

    KIND = MessageKind.BIN_LABELS
    labels: EncryptedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class BinSums(Message):
    """Host -> guest: per-bin row counts and encrypted sums, in a secret random order.

    ``bins`` holds the number of bins of each feature and ``counts`` the rows of
    each bin, feature after feature; features and the bins within each are
    shuffled.  ``sums`` packs the encrypted per-bin sums by a public layout, every
    packed ciphertext re-randomised.
    """

    KIND = MessageKind.BIN_SUMS
    bins: np.ndarray
    counts: np.ndarray
    sums: MaskedVector


@dataclasses.dataclass(frozen=True, kw_only=True)
class BinResult(Message):
    """Guest -> host: the statistics of every bin, in the order of :class:`BinSums`.

    ``events``, ``non_events`` and ``woe`` per bin (weighted when rows carry
    weights; with label noise, the events are noisy and the WOE is computed from
    them); ``iv`` per feature; ``noise_sigma`` the noise's standard deviation (0:
    none).
    """

    KIND = MessageKind.BIN_RESULT
    events: np.ndarray
    non_events: np.ndarray
    woe: np.ndarray
    iv: np.ndarray
    noise_sigma: float


def zigzag(values: Iterable[int]) -> tuple[int, ...]:
    """Signed integers as the non-negative integers a message's int tuple holds.

    Examples
    --------
    >>> zigzag([0, -1, 1, -2])
    (0, 1, 2, 3)
    >>> unzigzag(zigzag([5, -7, 2**100]))
    [5, -7, 1267650600228229401496703205376]
    """
    return tuple(2 * v if v >= 0 else -2 * v - 1 for v in (int(x) for x in values))


def unzigzag(values: Iterable[int]) -> list[int]:
    """The signed integers :func:`zigzag` encoded."""
    return [v >> 1 if v % 2 == 0 else -((v + 1) >> 1) for v in values]

"""An auditor of whole-job transcripts against the declared leakage table.

:data:`DECLARED` is SECURITY.md §9 to §11 in machine-readable form: for every message
kind, the roles that may send it to which roles, and for every payload field whether
it is a ciphertext (under whose key), a masked vector the receiver decrypts, a public
key, or a plaintext and what it is declared to reveal.

:class:`Audit` takes the messages of a job as recorded by every party (in memory from
``simulate_job(recorder=...)`` or from ``vfl run --transcript`` files), decodes every
frame as its receiver did, pairs each frame sent with the frame received, and checks
each message against the table and against the parties' real data:

* every message is of a declared kind, on a declared route, with the declared fields;
* no plaintext id, id hash or hash-to-curve point (and no point under the receiver's
  own PSI secret), no feature value and no label vector appears in any frame or
  decoded payload value; for KKRT-PSI no code word ``C(id, h)`` or raw cuckoo bins
  anywhere, and no guest ``t`` row, guest PRF value ``H(j, t[j])`` or value
  ``F(j, id)`` the host can evaluate itself in anything a host receives;
* KKRT-PSI messages have exactly the protocol's kinds, order and sizes, base-OT points
  are valid and distinct, OT-extension columns look uniform, and host PRF values
  match a value the guest can compute only for the ids the guest holds;
* every ciphertext is under the declared owner's announced key, in ``(0, n**2)``,
  coprime to ``n`` and not a trivial encryption;
* everything a party decrypts for another one is uniformly masked, hides the true
  gradient or loss, and unmasks to exactly the values a plaintext replay computes;
* no ciphertext and no Paillier obfuscator appears twice in the whole job;
* public vector metadata (exponent, bound, length) does not depend on the data, and
  every masked gradient is packed with the layout public values alone give (width,
  batch size, hosts, key), so its ciphertext count never depends on the data;
* fields declared ``only_with`` a stopping rule are empty without it:
  ``LrEpochEnd.weight_change`` is 0.0 unless ``convergence = "weights"``,
  ``validation_scores`` empty without early stopping (checked on the step's
  ``LrSetup``, whose ``convergence`` and ``early_stopping`` match the job);
  ``LrHostSetup.gradient_bits`` is exactly the bit length of the host's largest
  ``|round(x * 2**16)|``;
* secure sum: the partials go around the ring, each decrypts to the prefix sum, and
  every hop is re-randomised (what a contributor sends divided by what it received
  is never ``1 + v n``), including the hops between contributors.

The secrets the audit needs (Paillier private keys, PSI scalars, masks, KKRT's OPRF
states, the seed of the guest's secret initial weights, which the plaintext replay
starts from) are recorded by wrapping the real functions that make them
(:func:`record_secrets`); in separate processes :func:`main` does the same around
``vfl run``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import importlib
import json
import re
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import gmpy2
import numpy as np

from crypto.ecdh import POINT_BYTES, EcdhKey, ecdh_dst, validate_points
from crypto.encoding import encode_array, encode_scalar, to_signed
from crypto.exceptions import CryptoError
from crypto.hash_to_curve import hash_to_field, hash_to_x25519_many
from crypto.ot import BASE_POINT
from crypto.ot_extension import (
    BIN_ALIGN,
    CODE_BITS,
    CODE_BYTES,
    HASH_FUNCTIONS,
    OUTPUT_BYTES,
    OprfReceiver,
    OprfSender,
    item_hashes,
)
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PackedEncryptedVector,
    PackingLayout,
    PaillierPrivateKey,
    PaillierPublicKey,
    VectorMask,
)
from crypto.plain import PlainVector
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import gradient_entry_bits
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT, FACTOR_EXPONENT, MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.privacy import MAX_NOISE
from protocols.hetero_lr.settings import FEATURE_BOUND, SCORE_BOUND
from protocols.messages import (
    LrDecision,
    LrDecrypted,
    LrForward,
    LrHostSetup,
    LrMasked,
    LrPublicKey,
    LrSetup,
    Message,
    MessageKind,
    PsiHostItems,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiSetup,
    SumPartial,
    SumPublicKey,
    SumResult,
    payload_fields,
)
from protocols.psi.cuckoo import bin_count
from protocols.psi.kkrt_guest import output_key
from tests.support.protocol_harness import run_roles
from vfl.jobs import build_role
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, PsiStep, ScoreStep, SecureSumStep
from vfl.runtime import codec
from vfl.tables.datasets import PartyTable, read_party_csv
from vfl.tables.models import PartyModel

ROOT = Path(__file__).resolve().parents[2]
SECURITY_MD = ROOT / "SECURITY.md"

# ---------------------------------------------------------------------------------------
# The declared leakage table (SECURITY.md §9 secure sum, §10 PSI, §11 hetero LR + scoring)
# ---------------------------------------------------------------------------------------

FORMS = {
    "ciphertext": "an EncryptedVector under `key`; the receiver cannot decrypt it unless "
    "`opened` says what its decryption reveals",
    "masked": "a MaskedVector under the receiver's key: the receiver decrypts it, and "
    "every plaintext is hidden by a mask uniform in Z_n",
    "public-key": "a Paillier public key",
    "parameter": "a public parameter of the job (checked against the job file)",
    "size": "a set size or row count",
    "blinded": "id-derived group elements or tags (PSI), never testable by the receiver",
    "ot-points": "base-OT group elements (KKRT-PSI): fresh X25519 public keys and points "
    "hashed from random bytes, independent of every id",
    "ot-columns": "the OT-extension matrix u (KKRT-PSI), every column masked by a PRG "
    "stream the receiver does not know",
    "positions": "positions of the common ids in the host's shuffled sequence",
    "residues": "raw decryptions of the receiver's own masked values",
    "partial-scores": "a host's partial scores u_h = X_h w_h, one per row",
    "magnitude": "the bit length of the sender's largest |round(x * 2**16)| over its "
    "training features: one small integer, the order of magnitude of its largest value",
    "scalar": "a float summary of the sender's own weights",
    "totals": "the secure-sum total",
    "reason": "a one-line reason without data",
}
KEY_OWNERS = ("sender", "receiver", "guest", "arbiter")
ROLES = ("guest", "host", "arbiter")
MODES = ("two-party", "arbiter")
CONDITIONS: dict[str, Callable[[LrSetup], bool]] = {
    'convergence = "weights"': lambda setup: setup.convergence == "weights",
    "early stopping": lambda setup: setup.early_stopping != "",
}
"""When a field declared ``only_with`` a condition may carry a value: a predicate on
the :class:`LrSetup` of its step (what the guest asked of the sending host, and the
host accepted only if its own settings say the same).  Otherwise the field is empty
(``0.0``, an empty array)."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One payload field: its form, whose key (ciphertexts) and what it reveals."""

    name: str
    form: str
    reveals: str
    key: str | None = None
    opened: str | None = None  # the key owner receives it and learns this (secure sum)
    only_with: str | None = None  # a key of CONDITIONS: sent empty unless it holds

    def __post_init__(self) -> None:
        assert self.form in FORMS, self.form
        assert self.only_with is None or self.only_with in CONDITIONS, self.only_with
        assert (self.key is not None) == (self.form in ("ciphertext", "masked")), self
        assert self.key is None or self.key in KEY_OWNERS, self.key
        assert self.form != "masked" or self.key == "receiver", self


@dataclasses.dataclass(frozen=True)
class Route:
    """Who may send a kind to whom (roles), in which training mode, with which fields."""

    sender: str
    receiver: str
    fields: tuple[Field, ...]
    mode: str | None = None  # hetero LR only: "two-party" or "arbiter"; None: any

    def __post_init__(self) -> None:
        assert self.sender in (*ROLES, "any") and self.receiver in (*ROLES, "any"), self
        assert self.mode is None or self.mode in MODES, self.mode


@dataclasses.dataclass(frozen=True)
class Declared:
    """A message kind: its protocol, its SECURITY.md section and its routes."""

    kind: MessageKind
    cls: str  # the message class name, as SECURITY.md writes it
    protocol: str  # "psi", "hetero_lr", "score", "secure_sum" or "any"
    section: str
    routes: tuple[Route, ...]
    methods: tuple[str, ...] = ()  # PSI: the methods that send it (empty: every method)


def _f(name: str, form: str, reveals: str, key: str | None = None, **extra: Any) -> Field:
    return Field(name, form, reveals, key, **extra)


PSI_METHODS = ("ecdh", "rsa", "kkrt")
BLINDING_METHODS = ("ecdh", "rsa")
OT_METHODS = ("kkrt",)


NOTHING = "nothing (it cannot decrypt)"
UNIFORM = "nothing: uniform residues in Z_n"
LR_SETUP_FIELDS = (
    _f("mode", "parameter", "the training mode"),
    _f("hosts", "parameter", "the host names"),
    _f("rows", "size", "the aligned row count"),
    _f("batch_size", "parameter", "the batch size"),
    _f("max_iter", "parameter", "the most epochs"),
    _f("plan_seed", "parameter", "the public batch plan"),
    _f("guest_features", "size", "the guest's gradient width"),
    _f("weighted", "parameter", "whether rows are weighted"),
    _f("validation_rows", "size", "the validation row count"),
    _f("key_length", "parameter", "the key length"),
    _f("resume", "parameter", "whether the guest continues an interrupted run"),
    _f("rows_digest", "parameter", "whether the receiver holds the same ordered ids (hosts)"),
    _f(
        "convergence",
        "parameter",
        'the convergence rule (a host sends weight-change norms only for "weights")',
    ),
    _f(
        "early_stopping",
        "parameter",
        "the early-stopping metric, empty for none (a host sends validation scores only then)",
    ),
)


def _lr_forward(key: str) -> tuple[Field, ...]:
    return (
        _f("quarter_scores", "ciphertext", NOTHING, key),
        _f("squares", "ciphertext", NOTHING, key),
    )


def _lr_residual(key: str) -> tuple[Field, ...]:
    return (
        _f("residual", "ciphertext", NOTHING, key),
        _f("weights", "ciphertext", NOTHING + "; empty unless rows are weighted", key),
        _f("prefix", "ciphertext", NOTHING + "; empty except for hosts after the first", key),
    )


LR_MASKED_FIELDS = (
    _f("gradient", "masked", UNIFORM, "receiver"),
    _f("loss", "masked", UNIFORM + "; empty from a host", "receiver"),
)
LR_DECRYPTED_FIELDS = (
    _f(
        "values",
        "residues",
        "the receiver unmasks its own gradient sum per batch (the guest also the batch loss)",
    ),
)
LR_EPOCH_END_FIELDS = (
    _f(
        "weight_change",
        "scalar",
        "the host's squared weight change over the epoch; 0.0 unless training converges on weights",
        only_with='convergence = "weights"',
    ),
    _f("penalty", "scalar", "the host's penalty value"),
    _f(
        "validation_scores",
        "partial-scores",
        "the host's partial scores on validation rows; empty without early stopping (with "
        "weight-change norms, epoch after epoch, they give the Gram matrix of its "
        "validation rows)",
        only_with="early stopping",
    ),
)
LR_DECISION_FIELDS = (
    _f("stop", "parameter", "whether training stops"),
    _f("best_epoch", "parameter", "the epoch every party keeps"),
)
PSI = "psi"
LR = "hetero_lr"


def _declare(
    kind: MessageKind,
    cls: str,
    protocol: str,
    section: str,
    *routes: Route,
    methods: tuple[str, ...] = (),
) -> Declared:
    return Declared(kind, cls, protocol, section, routes, methods)


DECLARED: dict[MessageKind, Declared] = {
    d.kind: d
    for d in (
        _declare(
            MessageKind.ABORT,
            "Abort",
            "any",
            "§7, §9",
            Route("any", "any", (_f("reason", "reason", "that the job stopped, and why"),)),
        ),
        # secure sum (§9): the guest holds the key, hosts c_1..c_k add in a ring
        _declare(
            MessageKind.SUM_PUBLIC_KEY,
            "SumPublicKey",
            "secure_sum",
            "§9",
            Route(
                "guest",
                "host",
                (
                    _f("public_key", "public-key", "the guest's key"),
                    _f("length", "size", "the vector length"),
                ),
            ),
        ),
        _declare(
            MessageKind.SUM_PARTIAL,
            "SumPartial",
            "secure_sum",
            "§9",
            Route(
                "host",
                "host",
                (
                    _f("public_key", "public-key", "the guest's key"),
                    _f(
                        "partial",
                        "ciphertext",
                        NOTHING + "; re-randomised at every hop, so the sender's two "
                        "neighbours cannot divide what they exchanged with it and read "
                        "1 + v n, its vector (Audit.check_secure_sum)",
                        "guest",
                    ),
                    _f("contributors", "size", "how many parties added so far"),
                ),
            ),
            Route(
                "host",
                "guest",
                (
                    _f("public_key", "public-key", "the guest's key"),
                    _f(
                        "partial",
                        "ciphertext",
                        "the hosts' total",
                        "guest",
                        opened="the hosts' total (one host: its vector, inherent)",
                    ),
                    _f("contributors", "size", "how many parties added"),
                ),
            ),
        ),
        _declare(
            MessageKind.SUM_RESULT,
            "SumResult",
            "secure_sum",
            "§9",
            Route(
                "guest",
                "host",
                (
                    _f("totals", "totals", "the total over all parties"),
                    _f("contributors", "size", "how many parties added"),
                ),
            ),
        ),
        # private set intersection (§10)
        _declare(
            MessageKind.PSI_SETUP,
            "PsiSetup",
            PSI,
            "§10",
            Route(
                "guest",
                "host",
                (
                    _f("method", "parameter", "the PSI method"),
                    _f("output", "parameter", "who learns the result"),
                    _f("salt", "parameter", "the job's public salt"),
                    _f("size", "size", "the guest's set size"),
                    _f("chunk_size", "parameter", "the chunk size"),
                ),
            ),
        ),
        _declare(
            MessageKind.PSI_HOST_SETUP,
            "PsiHostSetup",
            PSI,
            "§10",
            Route(
                "host",
                "guest",
                (
                    _f("size", "size", "the host's set size"),
                    _f("rsa_public_key", "parameter", "RSA-PSI: the host's (n, e); else empty"),
                ),
            ),
        ),
        _declare(
            MessageKind.PSI_GUEST_ITEMS,
            "PsiGuestItems",
            PSI,
            "§10",
            Route("guest", "host", (_f("items", "blinded", "nothing (DDH / uniform blinding)"),)),
            methods=BLINDING_METHODS,
        ),
        _declare(
            MessageKind.PSI_PROCESSED_ITEMS,
            "PsiProcessedItems",
            PSI,
            "§10",
            Route("host", "guest", (_f("items", "blinded", "comparable values of its own ids"),)),
            methods=BLINDING_METHODS,
        ),
        _declare(
            MessageKind.PSI_HOST_ITEMS,
            "PsiHostItems",
            PSI,
            "§10",
            Route(
                "host",
                "guest",
                (
                    _f(
                        "items",
                        "blinded",
                        "after matching: the common ids (KKRT: the OPRF value of each host "
                        "id in its three candidate bins, pseudorandom unless the guest holds "
                        "the id)",
                    ),
                ),
            ),
        ),
        _declare(
            MessageKind.PSI_POSITIONS,
            "PsiPositions",
            PSI,
            "§10",
            Route(
                "guest",
                "host",
                (_f("positions", "positions", "the common ids, in the agreed order"),),
            ),
        ),
        _declare(
            MessageKind.PSI_DONE,
            "PsiDone",
            PSI,
            "§10",
            Route("guest", "host", ()),
        ),
        # KKRT-PSI (§10): base OTs and the OT-extension matrix of the batched OPRF
        _declare(
            MessageKind.PSI_OT_SENDER,
            "PsiOtSenderPoint",
            PSI,
            "§10",
            Route(
                "guest",
                "host",
                (_f("point", "ot-points", "nothing (a fresh X25519 public key R = r·G)"),),
            ),
            methods=OT_METHODS,
        ),
        _declare(
            MessageKind.PSI_OT_RECEIVER,
            "PsiOtReceiverPoints",
            PSI,
            "§10",
            Route(
                "host",
                "guest",
                (
                    _f(
                        "points",
                        "ot-points",
                        "nothing: which point of each of the 512 pairs is the host's key "
                        "(its secret s) does not show, and CDH hides the other seed",
                    ),
                ),
            ),
            methods=OT_METHODS,
        ),
        _declare(
            MessageKind.PSI_OT_COLUMNS,
            "PsiOtColumns",
            PSI,
            "§10",
            Route(
                "guest",
                "host",
                (
                    _f(
                        "columns",
                        "ot-columns",
                        "nothing: u = G(k0) ^ G(k1) ^ r is masked by the PRG stream of the "
                        "seed the host did not choose (the guest's set size and the chunk "
                        "size fix every length)",
                    ),
                ),
            ),
            methods=OT_METHODS,
        ),
        # hetero logistic regression (§11)
        _declare(
            MessageKind.LR_SETUP,
            "LrSetup",
            LR,
            "§11",
            Route("guest", "host", LR_SETUP_FIELDS),
            Route("guest", "arbiter", LR_SETUP_FIELDS, mode="arbiter"),
        ),
        _declare(
            MessageKind.LR_HOST_SETUP,
            "LrHostSetup",
            LR,
            "§11",
            Route(
                "host",
                "guest",
                (
                    _f("features", "size", "the host's gradient width"),
                    _f("rows", "size", "the aligned row count"),
                    _f("validation_rows", "size", "the validation row count"),
                    _f(
                        "gradient_bits",
                        "magnitude",
                        "the order of magnitude of the host's largest feature value (for "
                        "the label-information bound)",
                    ),
                    _f("resume", "parameter", "whether the host continues an interrupted run"),
                    _f("resume_seed", "parameter", "the plan seed of its checkpoints"),
                    _f("resume_epochs", "parameter", "the epochs it holds checkpoints of"),
                ),
            ),
        ),
        _declare(
            MessageKind.LR_PUBLIC_KEY,
            "LrPublicKey",
            LR,
            "§11",
            Route("guest", "host", (_f("public_key", "public-key", "nothing"),), "two-party"),
            Route("host", "guest", (_f("public_key", "public-key", "nothing"),), "two-party"),
            Route("arbiter", "guest", (_f("public_key", "public-key", "nothing"),), "arbiter"),
            Route("arbiter", "host", (_f("public_key", "public-key", "nothing"),), "arbiter"),
        ),
        _declare(
            MessageKind.LR_FORWARD,
            "LrForward",
            LR,
            "§11",
            Route("host", "guest", _lr_forward("sender"), "two-party"),
            Route("host", "guest", _lr_forward("arbiter"), "arbiter"),
        ),
        _declare(
            MessageKind.LR_RESIDUAL,
            "LrResidual",
            LR,
            "§11",
            Route("guest", "host", _lr_residual("sender"), "two-party"),
            Route("guest", "host", _lr_residual("arbiter"), "arbiter"),
        ),
        _declare(
            MessageKind.LR_MASKED,
            "LrMasked",
            LR,
            "§11",
            Route("guest", "host", LR_MASKED_FIELDS, "two-party"),
            Route("host", "guest", LR_MASKED_FIELDS, "two-party"),
            Route("guest", "arbiter", LR_MASKED_FIELDS, "arbiter"),
            Route("host", "arbiter", LR_MASKED_FIELDS, "arbiter"),
        ),
        _declare(
            MessageKind.LR_DECRYPTED,
            "LrDecrypted",
            LR,
            "§11",
            Route("host", "guest", LR_DECRYPTED_FIELDS, "two-party"),
            Route("guest", "host", LR_DECRYPTED_FIELDS, "two-party"),
            Route("arbiter", "guest", LR_DECRYPTED_FIELDS, "arbiter"),
            Route("arbiter", "host", LR_DECRYPTED_FIELDS, "arbiter"),
        ),
        _declare(
            MessageKind.LR_CROSS,
            "LrCross",
            LR,
            "§11",
            Route("host", "guest", (_f("cross", "ciphertext", NOTHING, "arbiter"),), "arbiter"),
        ),
        _declare(
            MessageKind.LR_EPOCH_END,
            "LrEpochEnd",
            LR,
            "§11",
            Route("host", "guest", LR_EPOCH_END_FIELDS),
        ),
        _declare(
            MessageKind.LR_DECISION,
            "LrDecision",
            LR,
            "§11",
            Route("guest", "host", LR_DECISION_FIELDS),
            Route("guest", "arbiter", LR_DECISION_FIELDS, "arbiter"),
        ),
        _declare(
            MessageKind.LR_RESUME,
            "LrResume",
            LR,
            "§11",
            Route("guest", "host", ()),
            Route("guest", "arbiter", (), "arbiter"),
        ),
        # scoring (§11, "Scoring")
        _declare(
            MessageKind.LR_SCORE_REQUEST,
            "LrScoreRequest",
            "score",
            "§11",
            Route(
                "guest",
                "host",
                (
                    _f("rows", "size", "the number of rows to score"),
                    _f("rows_salt", "parameter", "a fresh salt for the rows digest"),
                    _f("rows_digest", "parameter", "whether the host holds the same ordered ids"),
                ),
            ),
        ),
        _declare(
            MessageKind.LR_PARTIAL_SCORES,
            "LrPartialScores",
            "score",
            "§11",
            Route(
                "host",
                "guest",
                (_f("scores", "partial-scores", "the host's partial score per scored row"),),
            ),
        ),
    )
}

VECTOR_TYPES = (EncryptedVector, PackedEncryptedVector, MaskedVector)
KEY_KINDS = {MessageKind.LR_PUBLIC_KEY, MessageKind.SUM_PUBLIC_KEY, MessageKind.SUM_PARTIAL}


def routes_for(kind: MessageKind, mode: str | None) -> list[Route]:
    """The declared routes of ``kind`` in training mode ``mode``."""
    return [r for r in DECLARED[kind].routes if r.mode is None or r.mode == mode]


def find_route(kind: MessageKind, sender: str, receiver: str, mode: str | None) -> Route | None:
    """The declared route of a message, or None if undeclared."""
    for route in routes_for(kind, mode):
        if route.sender in (sender, "any") and route.receiver in (receiver, "any"):
            return route
    return None


# ---------------------------------------------------------------------------------------
# SECURITY.md: which kinds and routes it declares
# ---------------------------------------------------------------------------------------

_PARTY_WORDS = {
    "g": "guest",
    "guest": "guest",
    "h": "host",
    "h_j": "host",
    "host": "host",
    "hosts": "host",
    "every host": "host",
    "c_i": "host",
    "c_{i+1}": "host",
    "c_k": "host",
    "a": "arbiter",
    "arbiter": "arbiter",
    "any": "any",
}


def _doc_parties(text: str) -> set[str]:
    text = re.sub(r"\(.*?\)", "", text).replace("`", "").strip().lower()
    parties: set[str] = set()
    for token in re.split(r",|\band\b", text):
        token = token.strip()
        if token in ("all", "each"):
            parties |= {"guest", "host"}
        elif token in _PARTY_WORDS:
            parties.add(_PARTY_WORDS[token])
        else:
            raise ValueError(f"SECURITY.md: unknown party {token!r} in {text!r}")
    return parties


def _doc_routes(cell: str) -> set[tuple[str, str]]:
    if "↔" in cell:
        left, right = (_doc_parties(side) for side in cell.split("↔"))
        return {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}
    left_text, right_text = cell.split("→")
    if right_text.strip() == "the other":
        left = _doc_parties(left_text)
        assert left == {"guest", "host"}, cell
        return {("guest", "host"), ("host", "guest")}
    return {(a, b) for a in _doc_parties(left_text) for b in _doc_parties(right_text)}


def security_md_routes(
    text: str | None = None,
) -> dict[tuple[str, str | None], set[tuple[str, str]]]:
    """Routes SECURITY.md's message tables (and the scoring paragraph) declare.

    Keys are ``(class name, mode)`` with mode ``"two-party"``/``"arbiter"`` for §11
    training and ``None`` elsewhere; values are ``(sender role, receiver role)`` pairs.
    """
    text = SECURITY_MD.read_text() if text is None else text
    routes: dict[tuple[str, str | None], set[tuple[str, str]]] = defaultdict(set)
    mode: str | None = None
    text = re.sub(r"\n(?!\n|\||#|\*\*|\* )", " ", text)  # join the lines of each paragraph
    for line in text.splitlines():
        if line.startswith("## "):
            mode = None
        if line.startswith("**Two-party mode**"):
            mode = "two-party"
        elif line.startswith("**Arbiter mode**"):
            mode = "arbiter"
        elif line.startswith("**Scoring**"):
            mode = None
            for sender, receiver, name in re.findall(r"\b([GHA]) → ([GHA]) `(\w+)`", line):
                pair = (_PARTY_WORDS[sender.lower()], _PARTY_WORDS[receiver.lower()])
                routes[(name, None)].add(pair)
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        if not names or not any(name in {d.cls for d in DECLARED.values()} for name in names):
            continue
        if cells[1] == "as in two-party":
            for name in names:
                routes[(name, mode)] |= routes[(name, "two-party")]
            continue
        for name in names:
            routes[(name, mode)] |= _doc_routes(cells[1])
    return dict(routes)


def security_md_message_names(text: str | None = None) -> set[str]:
    """Names in the first column of SECURITY.md's message tables (``| message | ...``)."""
    text = SECURITY_MD.read_text() if text is None else text
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.startswith("| message |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            names.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return names


def security_md_rows(text: str | None = None) -> dict[str, list[str]]:
    """The rows of SECURITY.md's message tables, by the message names in their first
    column (a name may have rows in several tables)."""
    text = SECURITY_MD.read_text() if text is None else text
    rows: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`(\w+)`", line.split("|")[1]):
                rows[name].append(line)
    return dict(rows)


def security_md_field_gaps(text: str | None = None) -> list[str]:
    """Fields whose disclosure SECURITY.md's rows must spell out, and do not (sorted).

    A field sent only under a condition (``only_with``) must have that condition in a
    row of its message (e.g. ``convergence = "weights"``, ``early stopping``); a field
    of form ``magnitude`` (a statistic of the sender's data) must be named in one.
    """
    rows = security_md_rows(text)
    gaps: set[str] = set()
    for declared in DECLARED.values():
        for field in {f for route in declared.routes for f in route.fields}:
            needles = [field.only_with] if field.only_with else []
            if field.form == "magnitude":
                needles.append(f"`{field.name}`")
            for needle in needles:
                if not any(needle in row for row in rows.get(declared.cls, [])):
                    gaps.add(f"{declared.cls}.{field.name}: no row of SECURITY.md says {needle}")
    return sorted(gaps)


def security_md_gaps(text: str | None = None) -> list[str]:
    """Differences between the declared routes and SECURITY.md's (sorted)."""
    documented = security_md_routes(text)
    gaps: list[str] = []
    for declared in DECLARED.values():
        modes: tuple[str | None, ...] = MODES if declared.protocol == LR else (None,)
        for mode in modes:
            table = {(r.sender, r.receiver) for r in routes_for(declared.kind, mode)}
            doc = documented.get((declared.cls, mode), set())
            if declared.kind == MessageKind.ABORT:
                doc = set().union(*(v for (name, _), v in documented.items() if name == "Abort"))
            where = f"{declared.cls}" + (f" ({mode})" if mode else "")
            gaps += [f"{where}: {s} → {r} not in SECURITY.md" for s, r in sorted(table - doc)]
            gaps += [f"{where}: SECURITY.md has {s} → {r}" for s, r in sorted(doc - table)]
    return sorted(gaps)


# ---------------------------------------------------------------------------------------
# Recording the secrets (wrapping the real functions that make them)
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OprfBlock:
    """One block of a KKRT OT extension as one party computed it (secret).

    The guest (OPRF receiver) keeps ``t[j]`` for every bin ``j`` of the block: its
    own PRF value of the id in bin ``j`` is ``H(j, t[j])``.  A host (OPRF sender)
    keeps ``q[j] = t[j] ^ (s & r[j])`` and its secret ``s`` (``choices``): it can
    evaluate ``F(j, y) = H(j, q[j] ^ (s & C(y)))`` for any guess ``y``.
    """

    start: int
    rows: bytes  # t rows (guest) or q rows (host), 64 bytes per bin
    choices: bytes = b""  # the host's secret s (64 bytes); empty for the guest


class SecretLog:
    """Paillier private keys, PSI scalars, masks, KKRT OPRF states and the guest's
    initial-weights seeds as made.

    With ``path``, every record is also appended to that JSON-lines file (for
    parties in separate processes); :meth:`load` reads such files back.  The keys
    of KKRT's base OTs are not PSI scalars and are not recorded (there are 513 per
    link, and no id is ever raised to them).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.private_keys: dict[int, PaillierPrivateKey] = {}
        self.key_party: dict[int, str] = {}
        self.ecdh: dict[str, list[bytes]] = defaultdict(list)
        self.masks: dict[int, VectorMask] = {}  # first masked ciphertext -> its mask
        self.oprf: dict[str, list[OprfBlock]] = defaultdict(list)
        self.initial_weights_seeds: dict[str, list[bytes]] = defaultdict(list)
        self._lock = threading.Lock()
        self._path = path

    def _write(self, record: dict[str, Any]) -> None:
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(record) + "\n")

    def add_private_key(self, party: str, private_key: PaillierPrivateKey) -> None:
        with self._lock:
            n = private_key.public_key.n
            self.private_keys[n] = private_key
            self.key_party[n] = party
            self._write(
                {
                    "type": "paillier",
                    "party": party,
                    "p": hex(private_key.p),
                    "q": hex(private_key.q),
                }
            )

    def add_ecdh(self, party: str, scalar: bytes) -> None:
        with self._lock:
            self.ecdh[party].append(scalar)
            self._write({"type": "ecdh", "party": party, "scalar": scalar.hex()})

    def add_oprf(self, party: str, block: OprfBlock) -> None:
        with self._lock:
            self.oprf[party].append(block)
            self._write(
                {
                    "type": "oprf",
                    "party": party,
                    "start": block.start,
                    "rows": block.rows.hex(),
                    "choices": block.choices.hex(),
                }
            )

    def add_initial_weights_seed(self, party: str, seed: bytes) -> None:
        with self._lock:
            self.initial_weights_seeds[party].append(seed)
            self._write({"type": "initial_weights", "party": party, "seed": seed.hex()})

    def add_mask(self, masked: MaskedVector, mask: VectorMask) -> None:
        if not len(masked):
            return
        with self._lock:
            self.masks[masked.ciphertexts[0]] = mask
            layout = mask.layout
            self._write(
                {
                    "type": "mask",
                    "n": hex(mask.public_key.n),
                    "first": hex(masked.ciphertexts[0]),
                    "masks": [hex(m) for m in mask._masks],
                    "exponent": mask.exponent,
                    "length": mask.length,
                    "layout": None if layout is None else dataclasses.astuple(layout),
                }
            )

    @classmethod
    def load(cls, paths: Iterable[Path]) -> SecretLog:
        log = cls()
        for path in paths:
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record["type"] == "paillier":
                    p, q = int(record["p"], 16), int(record["q"], 16)
                    public = PaillierPublicKey(p * q, allow_weak_key=True)
                    log.add_private_key(record["party"], PaillierPrivateKey(public, p, q))
                elif record["type"] == "ecdh":
                    log.add_ecdh(record["party"], bytes.fromhex(record["scalar"]))
                elif record["type"] == "oprf":
                    block = OprfBlock(
                        record["start"],
                        bytes.fromhex(record["rows"]),
                        bytes.fromhex(record["choices"]),
                    )
                    log.add_oprf(record["party"], block)
                elif record["type"] == "initial_weights":
                    log.add_initial_weights_seed(record["party"], bytes.fromhex(record["seed"]))
                else:
                    public = PaillierPublicKey(int(record["n"], 16), allow_weak_key=True)
                    layout = record["layout"]
                    log.masks[int(record["first"], 16)] = VectorMask(
                        public,
                        [int(m, 16) for m in record["masks"]],
                        record["exponent"],
                        record["length"],
                        None if layout is None else PackingLayout(*layout),
                    )
        return log


@contextlib.contextmanager
def record_secrets(log: SecretLog, party: str | None = None) -> Iterator[SecretLog]:
    """Record every key pair, PSI scalar, mask, OPRF state and initial-weights seed the
    engine makes (the real code runs).

    Wraps the Paillier key generation the hetero LR backend and the secure sum's key
    owner call, ``mask_vector`` (both places that call it), ``EcdhKey.generate``
    (except in :mod:`crypto.ot`: base-OT keys are not PSI scalars), KKRT's
    ``OprfReceiver.columns`` and ``OprfSender.rows`` (each block's ``t`` or ``q``
    rows), and ``secret_initial_weights`` as the hetero LR guest calls it (its secret
    seed: the plaintext replay needs the same starting point).  The party is ``party``
    or, in ``simulate_job``, taken from the thread name (``party-<name>``).
    """
    backends = importlib.import_module("protocols.hetero_lr.backends")
    lr_guest = importlib.import_module("protocols.hetero_lr.guest")
    secure_sum = importlib.import_module("protocols.secure_sum")
    masking = importlib.import_module("crypto.paillier.masking")
    vector = importlib.import_module("crypto.paillier.vector")
    ot = importlib.import_module("crypto.ot")
    real_keygen = backends.generate_paillier_keypair
    real_sum_keygen = secure_sum.generate_paillier_keypair
    real_initial_weights = lr_guest.secret_initial_weights
    real_mask = masking.mask_vector
    real_generate = EcdhKey.generate
    real_columns = OprfReceiver.columns
    real_rows = OprfSender.rows

    class OtKeys:
        """What :mod:`crypto.ot` sees as ``EcdhKey``: keys made without recording."""

        generate = staticmethod(real_generate)

    def who() -> str:
        return party or threading.current_thread().name.removeprefix("party-")

    def keygen(*args: Any, **kwargs: Any) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        public_key, private_key = real_keygen(*args, **kwargs)
        log.add_private_key(who(), private_key)
        return public_key, private_key

    def sum_keygen(*args: Any, **kwargs: Any) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        public_key, private_key = real_sum_keygen(*args, **kwargs)
        log.add_private_key(who(), private_key)
        return public_key, private_key

    def initial_weights(features: Any, seed: bytes) -> np.ndarray:
        log.add_initial_weights_seed(who(), bytes(seed))
        weights: np.ndarray = real_initial_weights(features, seed)
        return weights

    def mask(*args: Any, **kwargs: Any) -> tuple[MaskedVector, VectorMask]:
        masked, vector_mask = real_mask(*args, **kwargs)
        log.add_mask(masked, vector_mask)
        return masked, vector_mask

    def generate(cls: type[EcdhKey]) -> EcdhKey:
        key = real_generate()
        log.add_ecdh(who(), key.to_bytes())
        return key

    def columns(self: OprfReceiver, start_bin: int, rows: Any) -> tuple[bytes, Any]:
        u, t_rows = real_columns(self, start_bin, rows)
        log.add_oprf(who(), OprfBlock(start_bin, np.ascontiguousarray(t_rows).tobytes()))
        return u, t_rows

    def rows(self: OprfSender, start_bin: int, u: bytes) -> Any:
        q_rows = real_rows(self, start_bin, u)
        choices = np.asarray(self._choices, dtype=np.uint8).tobytes()
        log.add_oprf(who(), OprfBlock(start_bin, np.ascontiguousarray(q_rows).tobytes(), choices))
        return q_rows

    with (
        mock.patch.object(backends, "generate_paillier_keypair", keygen),
        mock.patch.object(secure_sum, "generate_paillier_keypair", sum_keygen),
        mock.patch.object(lr_guest, "secret_initial_weights", initial_weights),
        mock.patch.object(masking, "mask_vector", mask),
        mock.patch.object(vector, "mask_vector", mask),
        mock.patch.object(EcdhKey, "generate", classmethod(generate)),
        mock.patch.object(ot, "EcdhKey", OtKeys),
        mock.patch.object(OprfReceiver, "columns", columns),
        mock.patch.object(OprfSender, "rows", rows),
    ):
        yield log


def main(argv: Sequence[str] | None = None) -> int:
    """``python -c 'from tests.support.auditor import main; main()' SECRETS run --party P ...``.

    Runs ``vfl`` (``vfl.cli.main``) with the remaining arguments, recording this
    party's secrets to SECRETS: a real ``vfl run`` process whose keys and masks the
    audit can read afterwards.
    """
    from vfl.cli import main as vfl_main

    args = list(sys.argv[1:] if argv is None else argv)
    path, rest = Path(args[0]), args[1:]
    party = rest[rest.index("--party") + 1]
    with record_secrets(SecretLog(path), party):
        return vfl_main(rest)


# ---------------------------------------------------------------------------------------
# Transcripts: frames sent and received, paired and decoded as the receiver did
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Wire:
    """One message on one connection: the frame as sent and received, decoded."""

    step: int
    sender: str
    receiver: str
    frame: bytes
    message: Message


def recorder_entries(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """:class:`~vfl.transcript.TranscriptEntry` objects as ``read_transcript`` dicts."""
    return [
        {
            "direction": e.direction,
            "party": e.party,
            "peer": e.peer,
            "kind": e.message.kind.name,
            "frame": e.frame,
        }
        for e in entries
    ]


def pair_transcripts(entries: Iterable[Mapping[str, Any]]) -> list[Wire]:
    """Pair every party's sent frames with the receivers' received frames.

    Each party's entries are decoded in its own order with its own keyring, as its
    runner did.  Raises AssertionError unless, on every connection, the frames
    received are exactly the frames sent, in order.
    """
    by_party: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_party[str(entry["party"])].append(entry)
    sent: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    received: dict[tuple[str, str], list[tuple[bytes, Message]]] = defaultdict(list)
    for party, items in by_party.items():
        keyring = codec.Keyring()
        for entry in items:
            frame, peer = bytes(entry["frame"]), str(entry["peer"])
            if entry["direction"] == "received":
                message = codec.decode(frame, keyring, allow_weak_keys=True)
                assert (message.sender, message.receiver) == (peer, party), message.describe()
                keyring.remember(message)
                received[(peer, party)].append((frame, message))
            else:
                assert entry["direction"] == "sent", entry["direction"]
                if MessageKind[str(entry["kind"])] in KEY_KINDS:
                    keyring.remember(codec.decode(frame, keyring, allow_weak_keys=True))
                sent[(party, peer)].append(frame)
    assert set(sent) == set(received), (sorted(sent), sorted(received))
    wire: list[Wire] = []
    for link in sorted(sent):
        frames = [frame for frame, _ in received[link]]
        assert frames == sent[link], f"{link}: frames received differ from frames sent"
        for frame, message in received[link]:
            step = int(message.job_id.rpartition("#")[2])
            wire.append(Wire(step, link[0], link[1], frame, message))
    return wire


# ---------------------------------------------------------------------------------------
# Helpers: values of a message, searching bytes, fixed-point encodings, uniformity
# ---------------------------------------------------------------------------------------


def fields_of(message: Message) -> list[tuple[str, Any]]:
    return [(f.name, getattr(message, f.name)) for f in payload_fields(type(message))]


def _is_empty(value: Any) -> bool:
    """Whether a field carries nothing: ``0.0``, an empty array or vector."""
    if isinstance(value, bool | int | float):
        return value == 0
    if isinstance(value, np.ndarray):
        return value.size == 0
    return len(value) == 0


def conditional_field_problems(messages: Iterable[Message]) -> tuple[list[str], int]:
    """Fields declared ``only_with`` a condition (:data:`CONDITIONS`) are empty unless it
    holds.

    The condition is evaluated on the :class:`LrSetup` of the same step (job id) that
    the guest sent to the host concerned (the message's sender or receiver): the host
    refuses a setup that differs from its own settings, so that is what it agreed to
    send.  Works on any sequence of messages as their receivers got them (a whole
    job's transcripts, or a sans-IO run).

    Returns
    -------
    tuple
        The problems found, and how many conditional fields were checked.
    """
    messages = list(messages)
    setups = {(m.job_id, m.receiver): m for m in messages if isinstance(m, LrSetup)}
    problems: list[str] = []
    checked = 0
    for m in messages:
        declared = DECLARED.get(m.kind)
        if declared is None:
            continue
        conditional = {
            f.name: f.only_with for r in declared.routes for f in r.fields if f.only_with
        }
        if not conditional:
            continue
        setup = setups.get((m.job_id, m.sender)) or setups.get((m.job_id, m.receiver))
        if setup is None:
            problems.append(f"{m.describe()}: no LrSetup of its step says what it may carry")
            continue
        for name, condition in conditional.items():
            checked += 1
            if not CONDITIONS[condition](setup) and not _is_empty(getattr(m, name)):
                problems.append(
                    f"{m.describe()}.{name}: sent without {condition} (the step's LrSetup "
                    f"says convergence = {setup.convergence!r}, early_stopping = "
                    f"{setup.early_stopping!r})"
                )
    return problems, checked


def public_gradient_layout(
    width: int, rows: int, hosts: int, public_key: PaillierPublicKey
) -> PackingLayout:
    """The packing layout of a batch's gradient ``X_p^T [[d]]`` from public values only.

    SECURITY.md §11: the gradient's bound is ``rows * FEATURE_BOUND *
    MAX_SAMPLE_WEIGHT * ((hosts + 1) * SCORE_BOUND / 4 + 1/2 + MAX_NOISE)`` for every
    batch, at the gradient's exponent; it fixes the slots per ciphertext, hence how
    many ciphertexts the key owner decrypts: a function of the gradient width, the
    batch size, the number of hosts and the key length, never of the data.
    """
    residual = MAX_SAMPLE_WEIGHT * ((hosts + 1) * SCORE_BOUND / 4 + 0.5 + MAX_NOISE)
    bound, _ = encode_scalar(
        rows * FEATURE_BOUND * residual,
        public_key.n,
        exponent=ENCRYPTION_EXPONENT + FACTOR_EXPONENT,
    )
    return PackingLayout.for_bound(width, max(bound, 1), public_key.bits)


EXPONENTS = (
    ENCRYPTION_EXPONENT,
    FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + FACTOR_EXPONENT,
    ENCRYPTION_EXPONENT + 2 * FACTOR_EXPONENT,
)
"""Every exponent a hetero LR value is encoded at (values, factors and their products)."""


def encodings(values: Iterable[Any], moduli: Iterable[int]) -> set[int]:
    """Fixed-point mantissas of ``values`` at every exponent in :data:`EXPONENTS`, mod n."""
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values] or [[]])
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


# ---------------------------------------------------------------------------------------
# The truth: each party's data and a plaintext replay of the training
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class PartyData:
    name: str
    role: str
    ids: list[bytes]  # as the PSI step hashes them
    raw: np.ndarray  # the CSV's feature columns
    labels: np.ndarray | None  # the CSV's labels (the guest)
    aligned: PartyTable | None  # its rows after PSI (output file)


@dataclasses.dataclass
class Truth:
    """What the parties hold, and what the training computed (by a plaintext replay)."""

    parties: dict[str, PartyData]
    training: dict[str, np.ndarray]  # each data party's training matrix, as trained on
    masked: dict[tuple[str, int, int], dict[str, np.ndarray]]  # (sender, epoch, batch)
    final_scores: dict[str, np.ndarray]  # each host's u_h at scoring
    sums: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # secure sum


def step_index(job: JobConfig, kind: type) -> int:
    (index,) = [i for i, s in enumerate(job.steps) if isinstance(s, kind)]
    return index


def load_truth(job: JobConfig, wire: Sequence[Wire], secrets: SecretLog) -> Truth:
    """Each party's files and outputs, and a plaintext replay of the job's training.

    A job of one PSI step only (:func:`prepare_psi_job`) has no training to replay;
    a party that did not learn the common rows (output ``"guest"``) has no aligned
    file.  The replay starts the guest from the secret initial weights the real run
    drew (their seed is in ``secrets``); a secure-sum step gives each party's vector.
    """
    parties: dict[str, PartyData] = {}
    psi = step_index(job, PsiStep)
    for party in job.parties:
        if party.data is None:
            parties[party.name] = PartyData(
                party.name, party.role, [], np.zeros((0, 0)), None, None
            )
            continue
        table = read_party_csv(
            party.data.file, id_column=party.data.id_column, label_column=party.data.label_column
        )
        aligned_path = job.party_output_dir(party.name) / f"step-{psi}-psi.csv"
        aligned = None
        if aligned_path.exists():
            aligned = read_party_csv(
                aligned_path,
                id_column=party.data.id_column,
                label_column=party.data.label_column,
            )
        parties[party.name] = PartyData(
            party.name,
            party.role,
            [i.encode("utf-8") for i in table.ids],
            table.features,
            table.labels,
            aligned,
        )
    sums: dict[str, np.ndarray] = {}
    for index, config in enumerate(job.steps):
        if isinstance(config, SecureSumStep):
            for party in job.parties:
                if party.role != "arbiter":
                    summer = build_role(job, index, config, party, parties[party.name].aligned)
                    sums[party.name] = np.asarray(summer.values)  # type: ignore[union-attr]
    if not any(isinstance(s, HeteroLrStep) for s in job.steps):
        return Truth(parties, {}, {}, {}, sums)
    lr = step_index(job, HeteroLrStep)
    step = job.steps[lr]
    assert isinstance(step, HeteroLrStep)
    plain_step = dataclasses.replace(step, backend="plaintext")
    seeds = secrets.initial_weights_seeds.get(job.guest.name, [])
    assert len(seeds) == 1, f"{len(seeds)} initial-weights seeds recorded for the guest"
    lr_guest = importlib.import_module("protocols.hetero_lr.guest")
    real_initial_weights = lr_guest.secret_initial_weights

    def initial_weights(features: Any, _: bytes) -> np.ndarray:
        return real_initial_weights(features, seeds[0])  # the run's secret starting point

    with mock.patch.object(lr_guest, "secret_initial_weights", initial_weights):
        roles = {
            p.name: build_role(job, lr, plain_step, p, parties[p.name].aligned) for p in job.parties
        }
    training = {name: role.X for name, role in roles.items() if hasattr(role, "X")}
    (seed,) = {w.message.plan_seed for w in wire if isinstance(w.message, LrSetup)}
    roles[job.guest.name].plan_seed = seed  # the run's public batch plan
    made: dict[int, tuple[PlainVector, np.ndarray]] = {}
    real_mask = PlainVector.mask

    def mask(self: PlainVector, **kwargs: Any) -> Any:
        masked, plain_mask = real_mask(self, **kwargs)
        made[id(masked)] = (masked, np.asarray(plain_mask.unmask(masked.mantissas)))
        return masked, plain_mask

    with mock.patch.object(PlainVector, "mask", mask):
        transcript = run_roles(roles)
    masked: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
    for message in transcript:
        if isinstance(message, LrMasked):
            masked[(message.sender, message.round, message.batch)] = {
                name: made[id(getattr(message, name))][1] for name in ("gradient", "loss")
            }
    final_scores: dict[str, np.ndarray] = {}
    score = step_index(job, ScoreStep)
    for host in job.hosts:
        model = PartyModel.load(job.party_output_dir(host.name) / f"step-{lr}-model.json")
        scorer = build_role(
            job, score, job.steps[score], host, parties[host.name].aligned, model=model
        )
        final_scores[host.name] = scorer.X @ scorer.weights
    return Truth(parties, training, masked, final_scores, sums)


# ---------------------------------------------------------------------------------------
# KKRT-PSI: what each party can compute
# ---------------------------------------------------------------------------------------


def oprf_hash(key: bytes, bins: Iterable[int], rows: np.ndarray) -> list[bytes]:
    """``H(j, row)`` for each bin ``j`` and 64-byte row (the job's output hash, keyed
    with ``output_key(salt)``), through :meth:`OprfReceiver.outputs`, which computes
    nothing else (a host value that matches a guest value checks it)."""
    hasher = OprfReceiver([(bytes(32), bytes(32))] * CODE_BITS, key)
    rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
    out = hasher.outputs(rows, np.fromiter(bins, dtype=np.int64, count=len(rows)))
    return [out[i : i + OUTPUT_BYTES] for i in range(0, len(out), OUTPUT_BYTES)]


def codes_per_function(codes: np.ndarray) -> np.ndarray:
    """``C(id, h)`` as ``(ids, HASH_FUNCTIONS, CODE_BYTES)``, whether ``item_hashes``
    gives one code word per id or one per id and hash function."""
    if codes.ndim == 2:
        return np.repeat(codes[:, None, :], HASH_FUNCTIONS, axis=1)
    return codes


@dataclasses.dataclass
class KkrtView:
    """A KKRT step's public parameters and what each party can compute."""

    step: int
    salt: bytes
    bins: int
    block: int
    ids: list[bytes]  # every id of every party
    codes: np.ndarray  # C(id, h), (len(ids), 3, 64)
    positions: np.ndarray  # candidate bins, (len(ids), 3)
    bin_bytes: list[bytes]  # the 24 SHAKE bytes each id's bins come from
    guest_values: dict[str, set[bytes]]  # guest -> H(j, t[j]) for every bin of every link
    guest_rows: set[bytes]  # the guest's t rows
    host_values: dict[str, dict[bytes, bytes]]  # host -> {F(j, y): y} for every id, bin
    host_rows: dict[str, dict[bytes, bytes]]  # host -> {its 48-byte row of y: y}


def kkrt_view(
    job: JobConfig, step: int, wire: Sequence[Wire], truth: Truth, secrets: SecretLog
) -> KkrtView:
    """:class:`KkrtView` of step ``step`` from the transcript and the recorded states."""
    config = job.steps[step]
    assert isinstance(config, PsiStep) and config.method == "kkrt"
    (salt,) = {w.message.salt for w in wire if w.step == step and isinstance(w.message, PsiSetup)}
    key = output_key(salt)
    guest = job.guest.name
    bins = bin_count(len(truth.parties[guest].ids))
    block = -(-config.chunk_size // BIN_ALIGN) * BIN_ALIGN
    ids = sorted({i for p in truth.parties.values() for i in p.ids})
    raw_codes, positions = item_hashes(ids, salt, bins)
    prefix = hashlib.shake_256(b"VFL-OTPSI-V01 item" + len(salt).to_bytes(2, "little") + salt)
    code_bytes = raw_codes[0].size if len(ids) else 0
    bin_bytes = []
    for index, value in enumerate(ids):
        state = prefix.copy()
        state.update(value)
        digest = state.digest(code_bytes + 8 * HASH_FUNCTIONS)  # code words, then bins
        assert digest[:code_bytes] == raw_codes[index].tobytes(), "C(x) is SHAKE-256"
        bin_bytes.append(digest[code_bytes:])
    codes = codes_per_function(raw_codes)
    guest_values: dict[str, set[bytes]] = defaultdict(set)
    guest_rows: set[bytes] = set()
    host_values: dict[str, dict[bytes, bytes]] = {}
    host_rows: dict[str, dict[bytes, bytes]] = {}
    for party, blocks in secrets.oprf.items():
        if party == guest:
            for b in blocks:
                rows = np.frombuffer(b.rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
                guest_values[party].update(
                    oprf_hash(key, range(b.start, b.start + len(rows)), rows)
                )
                guest_rows.update(row.tobytes() for row in rows)
            continue
        (choices,) = {b.choices for b in blocks}
        s = np.frombuffer(choices, dtype=np.uint8)
        q = np.zeros((bins, CODE_BYTES), dtype=np.uint8)
        for b in blocks:
            rows = np.frombuffer(b.rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
            q[b.start : b.start + len(rows)] = rows
        flat = positions.reshape(-1)  # item-major: (id k, function h) at 3 k + h
        owners = np.repeat(np.arange(len(ids)), HASH_FUNCTIONS)
        values = oprf_hash(key, flat, q[flat] ^ (codes.reshape(-1, CODE_BYTES) & s))
        host_values[party] = {v: ids[o] for v, o in zip(values, owners.tolist(), strict=True)}
        own = set(truth.parties[party].ids)
        host_rows[party] = {
            b"".join(values[HASH_FUNCTIONS * k : HASH_FUNCTIONS * (k + 1)]): value
            for k, value in enumerate(ids)
            if value in own
        }
    return KkrtView(
        step,
        salt,
        bins,
        block,
        ids,
        codes,
        positions,
        bin_bytes,
        dict(guest_values),
        guest_rows,
        host_values,
        host_rows,
    )


def _payload_size(message: Message) -> int | None:
    """Bytes of a KKRT message's payload (point, points, columns or items), else None."""
    for name in ("point", "points", "columns", "items"):
        value = getattr(message, name, None)
        if isinstance(value, bytes):
            return len(value)
    return None


# ---------------------------------------------------------------------------------------
# The audit
# ---------------------------------------------------------------------------------------


class Audit:
    """Every check of one job's transcripts; each ``check_*`` returns its violations."""

    def __init__(
        self,
        job: JobConfig,
        wire: Sequence[Wire],
        secrets: SecretLog,
    ) -> None:
        self.job = job
        self.wire = list(wire)
        self.secrets = secrets
        self.roles = {p.name: p.role for p in job.parties}
        self.steps = {i: s for i, s in enumerate(job.steps)}
        self.truth = load_truth(job, self.wire, secrets)
        self.keys = self._announced_keys()
        self.stats: Counter[str] = Counter()

    # the context ------------------------------------------------------------------------
    def mode(self, step: int) -> str | None:
        config = self.steps[step]
        return config.mode if isinstance(config, HeteroLrStep) else None

    def protocol(self, step: int) -> str:
        return self.steps[step].type

    def psi_method(self, step: int) -> str | None:
        config = self.steps[step]
        return config.method if isinstance(config, PsiStep) else None

    def _announced_keys(self) -> dict[tuple[int, str], PaillierPublicKey]:
        keys: dict[tuple[int, str], PaillierPublicKey] = {}
        for w in self.wire:
            if isinstance(w.message, LrPublicKey | SumPublicKey):
                known = keys.setdefault((w.step, w.sender), w.message.public_key)
                assert known == w.message.public_key, f"{w.sender} announced two keys"
        return keys

    def owner(self, field: Field, w: Wire) -> str:
        if field.key == "sender":
            return w.sender
        if field.key == "receiver":
            return w.receiver
        wanted = field.key
        (name,) = [p for p, role in self.roles.items() if role == wanted]
        return name

    def private_key(self, n: int) -> PaillierPrivateKey | None:
        return self.secrets.private_keys.get(n)

    def vectors(self) -> Iterator[tuple[Wire, Field, Any]]:
        for w in self.wire:
            route = find_route(
                w.message.kind, self.roles[w.sender], self.roles[w.receiver], self.mode(w.step)
            )
            assert route is not None, w.message.describe()
            declared = {f.name: f for f in route.fields}
            for name, value in fields_of(w.message):
                if isinstance(value, VECTOR_TYPES):
                    yield w, declared[name], value

    # 1. the table ------------------------------------------------------------------------
    def check_declared(self) -> list[str]:
        """Every message: a declared kind, for this step's protocol, on a declared route."""
        problems: list[str] = []
        for w in self.wire:
            declared = DECLARED.get(w.message.kind)
            if declared is None:
                problems.append(f"undeclared kind {w.message.describe()}")
                continue
            if declared.protocol not in (self.protocol(w.step), "any"):
                problems.append(f"{w.message.describe()} in a {self.protocol(w.step)} step")
            method = self.psi_method(w.step)
            if declared.methods and method not in declared.methods:
                problems.append(f"{w.message.describe()} in a PSI step of method {method!r}")
            if w.message.kind == MessageKind.ABORT:
                problems.append(f"the job aborted: {w.message.describe()}")
            route = find_route(
                w.message.kind, self.roles[w.sender], self.roles[w.receiver], self.mode(w.step)
            )
            if route is None:
                problems.append(
                    f"undeclared route {w.message.describe()} ({self.roles[w.sender]} → "
                    f"{self.roles[w.receiver]}, mode {self.mode(w.step)})"
                )
                continue
            names = [name for name, _ in fields_of(w.message)]
            if names != [f.name for f in route.fields]:
                problems.append(f"{w.message.describe()}: fields {names} differ from the table")
        return problems

    def observed_routes(self) -> set[tuple[str, str, str, str | None]]:
        return {
            (w.message.kind.name, self.roles[w.sender], self.roles[w.receiver], self.mode(w.step))
            for w in self.wire
        }

    def expected_routes(self) -> set[tuple[str, str, str, str | None]]:
        """The declared routes every step of this job must use."""
        expected = set()
        for index, step in self.steps.items():
            mode = self.mode(index)
            for declared in DECLARED.values():
                if declared.protocol != step.type:
                    continue
                if declared.methods and self.psi_method(index) not in declared.methods:
                    continue
                both = getattr(step, "output", "") == "both"
                if declared.kind == MessageKind.PSI_DONE and both:
                    continue
                if declared.kind == MessageKind.PSI_POSITIONS and not both:
                    continue
                if declared.kind == MessageKind.LR_CROSS and len(self.job.hosts) < 2:
                    continue
                if declared.kind == MessageKind.LR_RESUME:
                    continue  # resumed runs only
                for route in routes_for(declared.kind, mode):
                    expected.add((declared.kind.name, route.sender, route.receiver, mode))
        return expected

    # 2. public fields reveal exactly what is declared ------------------------------------
    def check_public_fields(self) -> list[str]:
        self.stats["partial scores checked"] = 0
        self.stats["public fields checked"] = 0
        problems: list[str] = []
        job, truth = self.job, self.truth
        guest = job.guest.name
        data = truth.parties
        psi_step = job.steps[step_index(job, PsiStep)]
        assert isinstance(psi_step, PsiStep)
        aligned = data[guest].aligned
        assert aligned is not None
        rows = len(aligned)
        expected_setup: dict[str, Any] = {}
        epochs = 0
        if self.truth.training:  # a job that trains
            lr_step = job.steps[step_index(job, HeteroLrStep)]
            assert isinstance(lr_step, HeteroLrStep)
            expected_setup = {
                "mode": lr_step.mode,
                "hosts": tuple(h.name for h in job.hosts),
                "rows": rows,
                "batch_size": lr_step.batch_size,
                "max_iter": lr_step.max_iter,
                "guest_features": truth.training[guest].shape[1],
                "weighted": lr_step.class_weight is not None,
                "validation_rows": 0,
                "key_length": lr_step.key_length,
                "resume": False,
                "convergence": lr_step.convergence,
                # job files have no early stopping (and no validation set)
                "early_stopping": getattr(lr_step, "early_stopping", None) or "",
            }
            decisions = [w.message for w in self.wire if isinstance(w.message, LrDecision)]
            epochs = 1 + max(m.round for m in decisions)
        for w in self.wire:
            m, values = w.message, dict(fields_of(w.message))
            kind = m.kind
            expect: dict[str, Any] = {}
            if kind == MessageKind.PSI_SETUP:
                expect = {
                    "method": psi_step.method,
                    "output": psi_step.output,
                    "size": len(data[guest].ids),
                    "chunk_size": psi_step.chunk_size,
                }
                if len(values["salt"]) != 32:
                    problems.append(f"{m.describe()}: a salt of {len(values['salt'])} bytes")
            elif kind == MessageKind.PSI_HOST_SETUP:
                expect = {"size": len(data[w.sender].ids), "rsa_public_key": ()}
            elif kind == MessageKind.PSI_POSITIONS:
                positions = values["positions"]
                host_size = len(data[w.receiver].ids)
                if (
                    positions.dtype.kind not in "iu"
                    or len(positions) != rows
                    or len(set(positions.tolist())) != rows
                    or positions.min() < 0
                    or positions.max() >= host_size
                ):
                    problems.append(f"{m.describe()}: positions are not {rows} distinct indices")
            elif kind == MessageKind.LR_SETUP:
                expect = {k: v for k, v in expected_setup.items() if k != "rows_digest"}
                digest_bytes = 0 if self.roles[w.receiver] == "arbiter" else 32
                if len(values["rows_digest"]) != digest_bytes:
                    problems.append(f"{m.describe()}: a rows digest of the wrong length")
                if len(values["plan_seed"]) != 32:
                    problems.append(
                        f"{m.describe()}: a plan seed of {len(values['plan_seed'])} bytes"
                    )
            elif kind == MessageKind.LR_HOST_SETUP:
                expect = {
                    "features": truth.training[w.sender].shape[1],
                    "rows": rows,
                    "validation_rows": 0,
                    "gradient_bits": gradient_entry_bits(truth.training[w.sender]),
                    "resume": False,
                    "resume_seed": b"",
                    "resume_epochs": (),
                }
            elif kind == MessageKind.LR_EPOCH_END:
                for name in ("weight_change", "penalty"):
                    if not (np.isfinite(values[name]) and values[name] >= 0):
                        problems.append(f"{m.describe()}: {name} = {values[name]!r}")
                if values["validation_scores"].shape != (0,):
                    problems.append(f"{m.describe()}: validation scores without a validation set")
            elif kind == MessageKind.LR_DECISION:
                expect = {"stop": m.round == epochs - 1, "best_epoch": -1}
            elif kind == MessageKind.LR_PUBLIC_KEY:
                if values["public_key"].bits != expected_setup["key_length"]:
                    problems.append(f"{m.describe()}: a {values['public_key'].bits}-bit key")
            elif kind == MessageKind.LR_SCORE_REQUEST:
                expect = {"rows": rows}
                if len(values["rows_salt"]) != 16 or len(values["rows_digest"]) != 32:
                    problems.append(f"{m.describe()}: a rows salt or digest of the wrong length")
            elif kind == MessageKind.LR_PARTIAL_SCORES:
                if not np.array_equal(values["scores"], truth.final_scores[w.sender]):
                    problems.append(f"{m.describe()}: scores are not exactly X_h w_h")
                self.stats["partial scores checked"] += len(values["scores"])
            elif kind == MessageKind.SUM_PUBLIC_KEY:
                summing = self.steps[w.step]
                assert isinstance(summing, SecureSumStep)
                expect = {"length": len(summing.columns) + 1}
                if values["public_key"].bits != summing.key_length:
                    problems.append(f"{m.describe()}: a {values['public_key'].bits}-bit key")
            elif kind == MessageKind.SUM_PARTIAL:
                ring = [h.name for h in job.hosts]
                expect = {"contributors": ring.index(w.sender) + 1}
            elif kind == MessageKind.SUM_RESULT:
                expect = {"contributors": len(job.hosts) + 1}  # the guest's vector too
                total = np.sum(list(truth.sums.values()), axis=0)
                if not np.allclose(values["totals"], total, rtol=0, atol=1e-6):
                    problems.append(f"{m.describe()}: totals are not the parties' total")
            for name, value in expect.items():
                if values[name] != value:
                    problems.append(
                        f"{m.describe()}: {name} = {values[name]!r}, expected {value!r}"
                    )
            self.stats["public fields checked"] += len(expect)
        return problems

    # 3. no plaintext id, id hash, point, feature or label -------------------------------
    @functools.cached_property
    def _id_forms(self) -> tuple[Needles, dict[str, set[bytes]]]:
        return self.id_needles()

    def id_needles(self) -> tuple[Needles, dict[str, set[bytes]]]:
        """Every form of every id a receiver could test (the worst case: exact guesses).

        Returns the needles (for frame bytes) and, per receiver, the 32-byte forms
        that no PSI item it gets may equal.
        """
        needles = Needles()
        ids = sorted({i for p in self.truth.parties.values() for i in p.ids})
        salts = {w.message.salt for w in self.wire if isinstance(w.message, PsiSetup)}
        assert len(salts) == 1, "one salt per job"
        (salt,) = salts
        dst = ecdh_dst(salt)
        forms: set[bytes] = set()
        for value in ids:
            assert len(value) >= 8, "audit with ids of at least 8 bytes"
            needles.add(value, f"raw id {value!r}")
            digests = {
                "sha256": hashlib.sha256(value).digest(),
                "sha512": hashlib.sha512(value).digest(),
                "sha1": hashlib.sha1(value).digest(),
                "md5": hashlib.md5(value).digest(),
                "sha3-256": hashlib.sha3_256(value).digest(),
                "blake2b": hashlib.blake2b(value).digest(),
                "blake2b-256": hashlib.blake2b(value, digest_size=32).digest(),
                "blake2s": hashlib.blake2s(value).digest(),
                "salted sha256": hashlib.sha256(salt + value).digest(),
                "sha256 salted after": hashlib.sha256(value + salt).digest(),
                "hmac-sha256": hmac.new(salt, value, "sha256").digest(),
                "keyed blake2b": hashlib.blake2b(value, key=salt, digest_size=32).digest(),
            }
            for index, u in enumerate(hash_to_field(value, dst, 2)):
                digests[f"hash_to_field[{index}]"] = u.to_bytes(32, "little")
                digests[f"hash_to_field[{index}] big-endian"] = u.to_bytes(32, "big")
            for name, digest in digests.items():
                needles.add(digest, f"{name}({value!r})")
                for offset in range(0, len(digest) - 31, 32):
                    forms.add(digest[offset : offset + 32])
                if len(digest) >= 32:
                    forms.add(digest[:32])
        points = _hashed_points(tuple(ids), dst)
        for index, value in enumerate(ids):
            point = points[index * POINT_BYTES : (index + 1) * POINT_BYTES]
            needles.add(point, f"H({value!r})")
            forms.add(point)
        testable: dict[str, set[bytes]] = {name: set(forms) for name in self.roles}
        for party, scalars in self.secrets.ecdh.items():
            for scalar in scalars:
                raised = EcdhKey(scalar).exponentiate(points)
                for index, value in enumerate(ids):
                    point = raised[index * POINT_BYTES : (index + 1) * POINT_BYTES]
                    needles.add(point, f"H({value!r})^(own secret of {party})", [party])
                    testable[party].add(point)
        self._kkrt_needles(needles)
        self.stats["id forms"] = len(needles)
        return needles, testable

    def _kkrt_needles(self, needles: Needles) -> None:
        """KKRT: every id's code word ``C(id)`` (whole and in 16-byte pieces) and raw
        bin bytes, anywhere; the guest's ``t`` rows and PRF values ``H(j, t[j])``, and
        every ``F(j, id)`` a host could evaluate itself, in nothing a host receives."""
        kkrt = self.kkrt
        if kkrt is None:
            return
        hosts = [h.name for h in self.job.hosts]
        for index, value in enumerate(kkrt.ids):
            for h in range(HASH_FUNCTIONS):
                code = kkrt.codes[index, h].tobytes()
                needles.add(code, f"the code word C({value!r}, {h})")
                for offset in range(0, CODE_BYTES, 16):
                    piece = code[offset : offset + 16]
                    needles.add(piece, f"C({value!r}, {h})[{offset}:{offset + 16}]")
            needles.add(kkrt.bin_bytes[index], f"the raw cuckoo bins of {value!r}")
        for guest, values in kkrt.guest_values.items():
            for value in values:
                needles.add(value, f"a PRF value H(j, t[j]) of {guest}", hosts)
        for row in kkrt.guest_rows:
            needles.add(row, "a t row of the guest's OT extension", hosts)
        for host, table in kkrt.host_values.items():
            for value, item in table.items():
                needles.add(value, f"F(j, {item!r}), which {host} can evaluate", [host])

    @functools.cached_property
    def kkrt(self) -> KkrtView | None:
        """The KKRT step's public parameters and the PRF values its parties can compute
        (from the recorded OPRF states), or None if no step runs KKRT."""
        steps = [i for i, s in self.steps.items() if isinstance(s, PsiStep) and s.method == "kkrt"]
        if not steps:
            return None
        (index,) = steps
        return kkrt_view(self.job, index, self.wire, self.truth, self.secrets)

    def check_kkrt(self) -> list[str]:
        """KKRT: exact message sequences and sizes, valid distinct base-OT points,
        balanced and distinct OT columns, host values exactly ``F`` of the host's ids
        and matching a guest value only for the common ids."""
        if self.kkrt is None:
            return ["no KKRT step"]
        return (
            self.check_kkrt_sizes()
            + self.check_kkrt_points()
            + self.check_kkrt_columns()
            + self.check_kkrt_values()
        )

    def _kkrt_links(self) -> dict[tuple[str, str], list[Wire]]:
        kkrt = self.kkrt
        assert kkrt is not None
        links: dict[tuple[str, str], list[Wire]] = defaultdict(list)
        for w in self.wire:
            if w.step == kkrt.step:
                links[(w.sender, w.receiver)].append(w)
        return links

    def check_kkrt_sizes(self) -> list[str]:
        """Every message of the step, link by link, is exactly the protocol's: its kind,
        batch and payload size follow from the set sizes and the chunk size alone."""
        kkrt = self.kkrt
        assert kkrt is not None
        guest = self.job.guest.name
        step = self.steps[kkrt.step]
        assert isinstance(step, PsiStep)
        links = self._kkrt_links()
        problems: list[str] = []
        blocks = -(-kkrt.bins // kkrt.block)
        columns = [
            ("PSI_OT_COLUMNS", b, CODE_BITS * min(kkrt.block, kkrt.bins - b * kkrt.block) // 8)
            for b in range(blocks)
        ]
        final = "PSI_POSITIONS" if step.output == "both" else "PSI_DONE"
        for host in self.job.hosts:
            size = len(self.truth.parties[host.name].ids)
            chunks = -(-size // step.chunk_size)
            items = [
                (
                    "PSI_HOST_ITEMS",
                    c,
                    3 * OUTPUT_BYTES * min(step.chunk_size, size - c * step.chunk_size),
                )
                for c in range(chunks)
            ]
            expected = {
                (guest, host.name): [
                    ("PSI_SETUP", 0, None),
                    ("PSI_OT_SENDER", 0, 32),
                    *columns,
                    (final, 0, None),
                ],
                (host.name, guest): [
                    ("PSI_HOST_SETUP", 0, None),
                    ("PSI_OT_RECEIVER", 0, 2 * CODE_BITS * POINT_BYTES),
                    *items,
                ],
            }
            for link, wanted in expected.items():
                seen = [
                    (w.message.kind.name, w.message.batch, _payload_size(w.message))
                    for w in links.get(link, [])
                ]
                if seen != wanted:
                    problems.append(
                        f"{link[0]} → {link[1]}: (kind, batch, bytes) {seen} differ from the "
                        f"protocol's {wanted}"
                    )
                if any(w.message.round != 0 for w in links.get(link, [])):
                    problems.append(f"{link[0]} → {link[1]}: a message of round > 0")
        self.stats["kkrt messages checked"] = sum(len(v) for v in links.values())
        return problems

    def check_kkrt_points(self) -> list[str]:
        """Base-OT points: valid (canonical, on the curve, not low-order), not the base
        point, and all distinct: within a message, across links and between sides."""
        problems: list[str] = []
        seen: dict[bytes, str] = {}
        for w in self.wire:
            m = w.message
            if isinstance(m, PsiOtSenderPoint):
                blob = m.point
            elif isinstance(m, PsiOtReceiverPoints):
                blob = m.points
            else:
                continue
            try:
                validate_points(blob)
            except CryptoError as error:
                problems.append(f"{m.describe()}: {error}")
            for offset in range(0, len(blob) - POINT_BYTES + 1, POINT_BYTES):
                point = blob[offset : offset + POINT_BYTES]
                if point == BASE_POINT:
                    problems.append(f"{m.describe()}: the base point at offset {offset}")
                if point in seen:
                    problems.append(
                        f"{m.describe()}: the point at offset {offset} was already sent in "
                        f"{seen[point]}"
                    )
                seen[point] = m.describe()
        self.stats["base-OT points checked"] = len(seen)
        return problems

    def check_kkrt_columns(self) -> list[str]:
        """OT-extension columns look uniform: half their bits set (within 6 sigma), and
        no column repeats (in a block, across blocks or across hosts)."""
        problems: list[str] = []
        seen: dict[bytes, str] = {}
        bits = ones = 0
        for w in self.wire:
            m = w.message
            if not isinstance(m, PsiOtColumns) or len(m.columns) % CODE_BITS:
                continue
            width = len(m.columns) // CODE_BITS
            array = np.frombuffer(m.columns, dtype=np.uint8)
            ones += int(np.unpackbits(array).sum())
            bits += 8 * len(array)
            for i in range(CODE_BITS):
                column = m.columns[i * width : (i + 1) * width]
                if column in seen:
                    problems.append(f"{m.describe()}: column {i} repeats one of {seen[column]}")
                seen[column] = m.describe()
        if not bits:
            return ["no OT-extension columns"]
        if abs(ones - bits / 2) > 6 * (bits / 4) ** 0.5:
            problems.append(f"OT-extension columns: {ones} of {bits} bits set")
        self.stats["OT-extension columns checked"] = len(seen)
        return problems

    def check_kkrt_values(self) -> list[str]:
        """Each host's items are exactly the PRF values of its own ids in their three
        candidate bins (as its recorded OPRF state gives them), and a value equals one
        the guest can compute (``H(j, t[j])``, any bin) only for an id the guest holds."""
        kkrt = self.kkrt
        assert kkrt is not None
        guest = self.job.guest.name
        guest_ids = set(self.truth.parties[guest].ids)
        computable = set().union(*kkrt.guest_values.values()) if kkrt.guest_values else set()
        if not computable:
            return [f"no recorded OPRF state of {guest}"]
        problems: list[str] = []
        width = 3 * OUTPUT_BYTES
        for host in self.job.hosts:
            blob = b"".join(
                w.message.items
                for w in self._kkrt_links().get((host.name, guest), [])
                if isinstance(w.message, PsiHostItems)
            )
            rows = [blob[i : i + width] for i in range(0, len(blob), width)]
            own = kkrt.host_rows.get(host.name)
            if own is None:
                problems.append(f"no recorded OPRF state of {host.name}")
                own = {}
            elif sorted(rows) != sorted(own):
                problems.append(
                    f"{host.name}'s PsiHostItems are not exactly F(h_i(y), y) of its ids y"
                )
            common = guest_ids & set(self.truth.parties[host.name].ids)
            evaluable = kkrt.host_values.get(host.name, {})
            matching = 0
            for row in rows:
                values = [row[i : i + OUTPUT_BYTES] for i in range(0, width, OUTPUT_BYTES)]
                if set(values) & computable:
                    matching += 1
                    # whose row it is: the id most of its values are F(j, id) of
                    owners = Counter(evaluable[v] for v in values if v in evaluable)
                    item = owners.most_common(1)[0][0] if owners else None
                    if item is not None and item not in guest_ids:
                        problems.append(
                            f"{host.name}: the value of {item!r}, which the guest does not "
                            "hold, equals a PRF value the guest can compute"
                        )
            if matching != len(common):
                problems.append(
                    f"{host.name}: {matching} rows match a PRF value the guest can compute, "
                    f"for {len(common)} common ids"
                )
            self.stats["kkrt host values checked"] += 3 * len(rows)
        return problems

    def check_psi_items(self) -> list[str]:
        """No PSI item a receiver gets equals a form of an id it could compute itself."""
        problems: list[str] = []
        _, testable = self._id_forms
        self.stats["psi items checked"] = 0
        for w in self.wire:
            items = getattr(w.message, "items", None)
            if not isinstance(items, bytes):
                continue
            width = POINT_BYTES
            chunks = {items[i : i + width] for i in range(0, len(items), width)}
            self.stats["psi items checked"] += len(chunks)
            if chunks & testable[w.receiver]:
                problems.append(
                    f"{w.message.describe()}: {len(chunks & testable[w.receiver])} testable items"
                )
        return problems

    def check_plaintext(self) -> list[str]:
        """No id form, feature value or label vector in any frame or decoded value."""
        needles, _ = self.id_needles()  # a fresh copy: features and labels are added
        truth = self.truth
        features: set[float] = set()
        skipped = 0
        for party in truth.parties.values():
            values = np.concatenate(
                [party.raw.ravel(), truth.training.get(party.name, np.zeros(0)).ravel()]
            )
            unique = set(np.unique(values).tolist())
            kept = distinctive(unique)
            skipped += len(unique - kept)
            features |= kept
        for value in features:
            raw = np.float64(value)
            needles.add(raw.tobytes(), f"feature value {value!r}")
            needles.add(raw.byteswap().tobytes(), f"feature value {value!r} (big-endian)")
        self.stats["distinctive feature values"] = len(features)
        self.stats["round feature values (decoded checks only)"] = skipped
        label_vectors = self._label_vectors()
        for what, labels in label_vectors.items():
            for form, encoded in _label_forms(labels).items():
                if len(encoded) >= 8:
                    needles.add(encoded, f"labels of {what} as {form}")
        self.stats["needles"] = len(needles)
        problems = needles.search(self.wire)
        self.stats["plaintext integers checked"] = 0
        problems += self._decoded_plaintext(features, label_vectors)
        return problems

    def _label_vectors(self) -> dict[str, np.ndarray]:
        guest = self.truth.parties[self.job.guest.name]
        assert guest.labels is not None and guest.aligned is not None
        assert guest.aligned.labels is not None
        vectors = {"the CSV": guest.labels, "the aligned rows": guest.aligned.labels}
        setup = next((w.message for w in self.wire if isinstance(w.message, LrSetup)), None)
        if setup is None:  # a PSI job: no batches
            return vectors
        plan = BatchPlan(setup.rows, setup.batch_size, setup.plan_seed)
        epochs = 1 + max(w.message.round for w in self.wire if isinstance(w.message, LrDecision))
        for epoch in range(epochs):
            for batch, rows in enumerate(plan.batches(epoch)):
                vectors[f"epoch {epoch} batch {batch}"] = guest.aligned.labels[rows]
        return vectors

    def _decoded_plaintext(
        self, features: set[float], labels: Mapping[str, np.ndarray]
    ) -> list[str]:
        problems: list[str] = []
        ids = {i for p in self.truth.parties.values() for i in p.ids}
        id_text = {i.decode() for i in ids}
        label_like = [np.asarray(v, dtype=np.float64) for v in labels.values()]
        moduli = {v.public_key.n for _, _, v in self.vectors()}
        forbidden_ints = encodings(
            [*self.truth.training.values(), *(p.raw for p in self.truth.parties.values())], moduli
        )
        for w in self.wire:
            route = find_route(
                w.message.kind, self.roles[w.sender], self.roles[w.receiver], self.mode(w.step)
            )
            assert route is not None
            forms = {f.name: f.form for f in route.fields}
            for name, value in fields_of(w.message):
                where = f"{w.message.describe()}.{name}"
                if isinstance(value, str) and (
                    value in id_text or any(t in value for t in id_text)
                ):
                    problems.append(f"{where}: an id in a string")
                elif isinstance(value, tuple) and value and isinstance(value[0], str):
                    if set(value) & id_text:
                        problems.append(f"{where}: an id in a string tuple")
                elif isinstance(value, bytes) and value in ids:
                    problems.append(f"{where}: a raw id")
                elif isinstance(value, float) and value in features:
                    problems.append(f"{where}: a feature value")
                elif isinstance(value, np.ndarray):
                    floats = value.astype(np.float64).ravel()
                    if forms[name] != "positions" and features & set(floats.tolist()):
                        problems.append(
                            f"{where}: {len(features & set(floats.tolist()))} feature values"
                        )
                    if len(floats) >= 16 and np.isin(floats, (0.0, 1.0)).all():
                        problems.append(f"{where}: a label-like 0/1 vector")
                    for labels_ in label_like:
                        for candidate in (labels_, 2 * labels_ - 1, labels_ / 2):
                            if len(candidate) == len(floats) and np.array_equal(candidate, floats):
                                problems.append(f"{where}: the labels")
                elif isinstance(value, tuple) and value:
                    self.stats["plaintext integers checked"] += len(value)
                    if set(value) & forbidden_ints:
                        problems.append(f"{where}: a fixed-point encoding of a feature")
        return problems

    # 4. ciphertexts: keys, ranges, repeats, obfuscators ------------------------------------
    def check_ciphertexts(self) -> list[str]:
        self.stats["ciphertexts"] = 0
        problems: list[str] = []
        seen: dict[int, str] = {}
        announcer = {(step, key.n): party for (step, party), key in self.keys.items()}
        obfuscators: dict[tuple[int, int, int], str] = {}
        recovery: dict[int, tuple[Any, Any, Any, Any]] = {}
        for w, field, vector in self.vectors():
            where = f"{w.message.describe()}.{field.name}"
            owner = self.owner(field, w)
            expected = self.keys.get((w.step, owner))
            key = vector.public_key
            if expected is None or key != expected:
                problems.append(f"{where}: under {key.fingerprint}, not {owner}'s announced key")
            holder = announcer.get((w.step, key.n))
            if holder is None:
                problems.append(f"{where}: under a key nobody announced")
            if holder == w.receiver and field.form != "masked" and field.opened is None:
                problems.append(f"{where}: the receiver holds the key and it is not masked")
            n, n2 = key.n, key.nsquare
            private = self.private_key(n)
            if private is None:
                problems.append(f"{where}: no private key recorded for {key.fingerprint}")
            elif n not in recovery:
                p, q = private.p, private.q
                recovery[n] = (p, q, gmpy2.invert(n, p - 1), gmpy2.invert(n, q - 1))
            for c in vector.ciphertexts:
                self.stats["ciphertexts"] += 1
                if not 0 < c < n2 or gmpy2.gcd(c, n) != 1:
                    problems.append(f"{where}: a ciphertext outside Z*_(n^2)")
                if c % n == 1:
                    problems.append(f"{where}: a trivial ciphertext (obfuscator 1)")
                if c in seen:
                    problems.append(f"{where}: a ciphertext already sent in {seen[c]}")
                seen[c] = where
                if n in recovery:
                    p, q, dp, dq = recovery[n]
                    r = (n, int(gmpy2.powmod(c % p, dp, p)), int(gmpy2.powmod(c % q, dq, q)))
                    if r in obfuscators:
                        problems.append(f"{where}: obfuscator already used in {obfuscators[r]}")
                    obfuscators[r] = where
        self.stats["obfuscators recovered"] = len(obfuscators)
        problems += self._check_recovery(recovery)
        return problems

    def _check_recovery(self, recovery: Mapping[int, tuple[Any, Any, Any, Any]]) -> list[str]:
        """The obfuscator formula is right: c == (1 + m n) r^n mod n^2 on a few ciphertexts."""
        checked: Counter[int] = Counter()
        problems = []
        for _, _, vector in self.vectors():
            n = vector.public_key.n
            if n not in recovery or checked[n] >= 3 or not len(vector):
                continue
            c = vector.ciphertexts[0]
            private = self.secrets.private_keys[n]
            m = private.raw_decrypt(c)
            phi = (private.p - 1) * (private.q - 1)
            r = pow(c % n, pow(n, -1, phi), n)
            if (1 + m * n) * pow(r, n, n * n) % (n * n) != c:
                problems.append("obfuscator recovery does not reproduce a ciphertext")
            checked[n] += 1
        return problems

    # 5. what key owners decrypt -----------------------------------------------------------
    def check_masking(self) -> list[str]:
        self.stats["masked values decrypted"] = 0
        problems: list[str] = []
        residues_by_key: dict[int, list[int]] = defaultdict(list)
        masks_by_key: dict[int, list[int]] = defaultdict(list)
        decrypted: dict[tuple[str, str, int, int], list[int]] = {}
        moduli = {v.public_key.n for _, _, v in self.vectors()}
        truths = [a for values in self.truth.masked.values() for a in values.values()]
        forbidden = encodings(truths, moduli)
        for w, field, vector in self.vectors():
            if field.form != "masked" or not len(vector):
                continue
            where = f"{w.message.describe()}.{field.name}"
            key = vector.public_key
            private = self.private_key(key.n)
            if private is None:
                problems.append(f"{where}: no private key to audit")
                continue
            residues = private.decrypt_raw(vector)
            decrypted.setdefault(
                (w.sender, w.receiver, w.message.round, w.message.batch), []
            ).extend(residues)
            residues_by_key[key.n] += residues
            if set(residues) & forbidden:
                problems.append(f"{where}: decrypts to a true value's encoding")
            mask = self.secrets.masks.get(vector.ciphertexts[0])
            if mask is None:
                problems.append(f"{where}: not made by mask_vector")
                continue
            masks_by_key[key.n] += list(mask._masks)
            truth = self.truth.masked[(w.sender, w.message.round, w.message.batch)][field.name]
            if not np.array_equal(mask.unmask(residues), truth):
                problems.append(f"{where}: unmasks to something other than the replay's value")
            plaintexts = [(r - s) % key.n for r, s in zip(residues, mask._masks, strict=True)]
            if set(residues) & set(plaintexts):
                problems.append(f"{where}: a residue equals its unmasked plaintext")
            naive = VectorMask(key, [0] * len(residues), mask.exponent, mask.length, mask.layout)
            try:
                looks = naive.unmask(residues)
            except (CryptoError, ValueError, ArithmeticError):
                looks = None  # not even a valid encoding: good
            if looks is not None and np.allclose(looks, truth):
                problems.append(f"{where}: decrypts to the true values without the mask")
            self.stats["masked values decrypted"] += len(residues)
        for n, residues in residues_by_key.items():
            owner = self.secrets.key_party.get(n, "?")
            problems += uniformity_problems(residues, n, f"what {owner} decrypts")
        for n, masks in masks_by_key.items():
            problems += uniformity_problems(
                masks, n, f"masks under {self.secrets.key_party.get(n)}'s key"
            )
        # what the key owner sends back is exactly what it decrypted, nothing else
        for w in self.wire:
            if isinstance(w.message, LrDecrypted):
                expected = decrypted.get((w.receiver, w.sender, w.message.round, w.message.batch))
                if expected != list(w.message.values):
                    problems.append(f"{w.message.describe()}: not exactly the decryptions")
        return problems

    def check_forward_truth(self) -> list[str]:
        """The hosts' forwards decrypt (with the owner's key) to their partial scores/4,
        and nothing the guest gets in plaintext encodes those training scores."""
        problems: list[str] = []
        scores: list[np.ndarray] = []
        for w in self.wire:
            if isinstance(w.message, LrForward):
                private = self.private_key(w.message.quarter_scores.public_key.n)
                assert private is not None
                quarter = private.decrypt_vector(w.message.quarter_scores)
                scores += [quarter, 4 * quarter]
        moduli = {v.public_key.n for _, _, v in self.vectors()}
        forbidden = encodings(scores, moduli)
        values = set(np.concatenate(scores).tolist())
        for w in self.wire:
            if w.receiver != self.job.guest.name:
                continue
            for name, value in fields_of(w.message):
                if isinstance(value, tuple) and set(value) & forbidden:
                    problems.append(f"{w.message.describe()}.{name}: a training partial score")
                if isinstance(value, np.ndarray) and values & set(value.ravel().tolist()):
                    problems.append(f"{w.message.describe()}.{name}: a training partial score")
        self.stats["training partial scores"] = len(values)
        return problems

    # 6. vector metadata does not depend on the data ---------------------------------------
    def check_metadata(self) -> list[str]:
        """Exponent, bound and length of each field are the same for every batch of the
        same size (every epoch): they may depend on public constants only."""
        setup = next(w.message for w in self.wire if isinstance(w.message, LrSetup))
        plan = BatchPlan(setup.rows, setup.batch_size, setup.plan_seed)
        sizes = [len(rows) for rows in plan.batches(0)]
        groups: dict[tuple[Any, ...], set[tuple[Any, ...]]] = defaultdict(set)
        for w, field, vector in self.vectors():
            m = w.message
            group = (m.kind.name, field.name, w.sender, w.receiver, sizes[m.batch])
            if isinstance(vector, MaskedVector):
                groups[group].add(("length", len(vector)))
            elif isinstance(vector, PackedEncryptedVector):
                groups[group].add((len(vector), vector.exponent, vector.layout))
            else:
                groups[group].add((len(vector), vector.exponent, vector.bound))
        problems = []
        for (kind, name, sender, receiver, size), seen in sorted(groups.items()):
            if len(seen) > 1:
                problems.append(
                    f"{kind}.{name} {sender} → {receiver}: {len(seen)} different (length, "
                    f"exponent, bound) for batches of {size} rows"
                )
        return problems + self.check_packing()

    def check_packing(self) -> list[str]:
        """Every masked gradient holds exactly the ciphertexts of the layout computed from
        public values (:func:`public_gradient_layout`: gradient width, batch size, hosts,
        key), was packed with that very layout (the masker's recorded mask), and every
        masked loss is one ciphertext (from the guest) or none (from a host)."""
        self.stats["packed gradients checked"] = 0
        setup = next(w.message for w in self.wire if isinstance(w.message, LrSetup))
        plan = BatchPlan(setup.rows, setup.batch_size, setup.plan_seed)
        sizes = [len(rows) for rows in plan.batches(0)]
        guest = self.job.guest.name
        widths = {guest: setup.guest_features}
        widths |= {
            w.sender: w.message.features for w in self.wire if isinstance(w.message, LrHostSetup)
        }
        problems: list[str] = []
        for w in self.wire:
            m = w.message
            if not isinstance(m, LrMasked):
                continue
            key = m.gradient.public_key
            layout = public_gradient_layout(widths[w.sender], sizes[m.batch], len(setup.hosts), key)
            if len(m.gradient) != layout.ciphertexts:
                problems.append(
                    f"{m.describe()}.gradient: {len(m.gradient)} ciphertexts, the public layout "
                    f"needs {layout.ciphertexts}"
                )
            mask = self.secrets.masks.get(m.gradient.ciphertexts[0]) if len(m.gradient) else None
            if mask is None or mask.layout != layout:
                problems.append(
                    f"{m.describe()}.gradient: packed with {None if mask is None else mask.layout}, "
                    f"not the public layout {layout}"
                )
            if len(m.loss) != (1 if w.sender == guest else 0):
                problems.append(f"{m.describe()}.loss: {len(m.loss)} ciphertexts")
            self.stats["packed gradients checked"] += 1
        return problems

    # 7. fields sent only when the stopping rule needs them -------------------------------
    def check_conditional_fields(self) -> list[str]:
        """Every field declared ``only_with`` a condition is empty unless the step's
        :class:`LrSetup` meets it: ``LrEpochEnd.weight_change`` is 0.0 unless
        ``convergence == "weights"``, ``validation_scores`` empty without early
        stopping (:func:`conditional_field_problems`)."""
        problems, checked = conditional_field_problems(w.message for w in self.wire)
        self.stats["conditional fields checked"] = checked
        return problems

    # 8. secure sum: the ring, its values, a fresh obfuscator at every hop ------------------
    def check_secure_sum(self) -> list[str]:
        """The secure sum's partials go around the ring ``c_1 .. c_k`` to the guest, each
        decrypts (guest's key) to exactly the prefix sum of the contributors' vectors
        under the public bound ``i * max_abs``, and *every* hop is re-randomised: what a
        contributor sends, divided by what it received, is never ``1 + v n`` (a
        plaintext addition without a fresh obfuscator, which its two neighbours could
        compute to read its vector ``v``)."""
        problems: list[str] = []
        self.stats["secure-sum hops checked"] = 0
        steps = [i for i, s in self.steps.items() if isinstance(s, SecureSumStep)]
        if not steps:
            return ["no secure-sum step"]
        ring = [h.name for h in self.job.hosts]
        guest = self.job.guest.name
        for index in steps:
            config = self.steps[index]
            assert isinstance(config, SecureSumStep)
            partials = {
                w.sender: w
                for w in self.wire
                if w.step == index and isinstance(w.message, SumPartial)
            }
            results = [w for w in self.wire if w.step == index and isinstance(w.message, SumResult)]
            if sorted(w.receiver for w in results) != sorted(ring):
                problems.append(f"step {index}: SumResult did not reach every contributor once")
            if sorted(partials) != sorted(ring) or len(partials) != sum(
                isinstance(w.message, SumPartial) for w in self.wire if w.step == index
            ):
                problems.append(f"step {index}: not one SumPartial per contributor")
                continue
            prefix: list[int] | None = None
            for position, sender in enumerate(ring):
                w = partials[sender]
                m = w.message
                assert isinstance(m, SumPartial)
                where = m.describe()
                expected_receiver = ring[position + 1] if position + 1 < len(ring) else guest
                if w.receiver != expected_receiver:
                    problems.append(f"{where}: to {w.receiver}, not {expected_receiver}")
                key = m.partial.public_key
                private = self.private_key(key.n)
                if private is None:
                    problems.append(f"{where}: no private key recorded for the guest's key")
                    continue
                own = encode_array(self.truth.sums[sender], m.partial.exponent)
                prefix = (
                    own if prefix is None else [a + b for a, b in zip(prefix, own, strict=True)]
                )
                got = [to_signed(v, key.n) for v in private.decrypt_raw(m.partial)]
                if got != prefix:
                    problems.append(f"{where}: does not decrypt to the prefix sum up to {sender}")
                if position == 0:
                    continue
                incoming = partials[ring[position - 1]].message
                assert isinstance(incoming, SumPartial)
                n2 = key.nsquare
                for j, (before, after) in enumerate(
                    zip(incoming.partial.ciphertexts, m.partial.ciphertexts, strict=True)
                ):
                    quotient = after * pow(before, -1, n2) % n2
                    if quotient % key.n == 1:
                        problems.append(
                            f"{where}: value {j} is the incoming ciphertext times 1 + v n (not "
                            f"re-randomised): {ring[position - 1]} and {expected_receiver} "
                            f"could read {sender}'s value"
                        )
                self.stats["secure-sum hops checked"] += 1
        return problems

    def check_secure_sum_bounds(self) -> list[str]:
        """Every ``SumPartial`` claims the public bound ``i * max_abs`` (``i`` its
        contributors so far, at the vector's exponent), never one computed from the
        values: a bound travels in the clear, and ``(i - 1) * max_abs + max|v_i|``
        would give the receiver the sender's largest value."""
        problems: list[str] = []
        ring = [h.name for h in self.job.hosts]
        for w in self.wire:
            m = w.message
            if not isinstance(m, SumPartial):
                continue
            config = self.steps[w.step]
            assert isinstance(config, SecureSumStep)
            key = m.partial.public_key
            per_party, _ = encode_scalar(config.max_abs, key.n, exponent=m.partial.exponent)
            public = (ring.index(w.sender) + 1) * per_party
            if m.partial.bound != public:
                problems.append(
                    f"{m.describe()}: bound {m.partial.bound}, not the public {public} "
                    f"(the difference is {m.partial.bound - public})"
                )
        return problems


@functools.lru_cache(maxsize=8)
def _hashed_points(ids: tuple[bytes, ...], dst: bytes) -> bytes:
    """``H(id)`` for every id (RFC 9380 hash to curve25519, the job's DST), cached."""
    return hash_to_x25519_many(ids, dst)


def _label_forms(labels: np.ndarray) -> dict[str, bytes]:
    """A label vector as the bytes any plausible encoding would give (both byte orders)."""
    labels = np.asarray(labels)
    arrays = {
        "uint8": labels.astype(np.uint8),
        "int64": labels.astype(np.int64),
        "float64": labels.astype(np.float64),
        "signed float64": 2.0 * labels.astype(np.float64) - 1.0,
        "signed int8": (2 * labels.astype(np.int8) - 1).astype(np.int8),
        "halves": labels.astype(np.float64) / 2,
    }
    forms = {name: array.tobytes() for name, array in arrays.items()}
    forms |= {
        f"{name} (big-endian)": array.byteswap().tobytes()
        for name, array in arrays.items()
        if array.itemsize > 1
    }
    forms["bits"] = np.packbits(labels.astype(np.uint8)).tobytes()
    return forms


# ---------------------------------------------------------------------------------------
# The example jobs, ready to audit
# ---------------------------------------------------------------------------------------


def audit_id(value: str) -> str:
    """A long, realistic id for an example's short one (same mapping in every file).

    The examples number their customers 0..568; ids that short occur by chance in any
    frame, so the audit renames them (the PSI and everything after it are unchanged).
    """
    return "cust-" + hashlib.sha256(b"audit-id:" + value.encode()).hexdigest()[:16]


def prepare_example(
    name: str, folder: Path, *, max_iter: int, ports: Sequence[int] | None = None
) -> Path:
    """Copy ``examples/<name>`` to ``folder`` for an audit; return its job file.

    Ids are renamed (:func:`audit_id`), keys are 1024 bits (weak keys allowed),
    ``max_iter`` is set, and with ``ports`` every party gets a free loopback port.
    """
    source = ROOT / "examples" / name
    folder.mkdir(parents=True, exist_ok=True)
    for csv_file in sorted(source.glob("*.csv")):
        lines = csv_file.read_text().splitlines()
        header = lines[0].split(",")
        column = header.index("id")
        rows = [line.split(",") for line in lines[1:]]
        for row in rows:
            row[column] = audit_id(row[column])
        (folder / csv_file.name).write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    text = (source / "job.toml").read_text()
    edits = [
        (r"key_length = 2048", "key_length = 1024"),
        (r"\[job\]\n", "[job]\nallow_weak_keys = true\n"),
        (r"max_iter = \d+", f"max_iter = {max_iter}"),
    ]
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text)
        assert count >= 1, pattern
    if ports is not None:
        addresses = iter(ports)
        text = re.sub(
            r'address = "127\.0\.0\.1:\d+"',
            lambda _: f'address = "127.0.0.1:{next(addresses)}"',
            text,
        )
    path = folder / "job.toml"
    path.write_text(text)
    return path


def prepare_psi_job(
    folder: Path,
    *,
    method: str,
    output: str = "both",
    chunk_size: int = 16384,
    ports: Sequence[int] | None = None,
) -> Path:
    """The ``hetero-lr`` example's parties and data (:func:`prepare_example`) with a
    PSI step only: ``method``, ``output`` and ``chunk_size`` as given."""
    path = prepare_example("hetero-lr", folder, max_iter=1, ports=ports)
    text = path.read_text()
    first = text.index("[[steps]]")
    second = text.index("[[steps]]", first + 1)
    psi = text[first:second]
    psi, count = re.subn(
        r'method = "ecdh"',
        f'method = "{method}"\noutput = "{output}"\nchunk_size = {chunk_size}',
        psi,
    )
    assert count == 1, psi
    path.write_text(text[:first] + psi)
    return path


def prepare_secure_sum_job(
    folder: Path, *, hosts: int = 3, ports: Sequence[int] | None = None
) -> Path:
    """A job of a guest and ``hosts`` hosts: PSI (ECDH, output ``both``), then a secure
    sum of two columns over the common rows.

    Three or more hosts give the ring ``c_1 .. c_k`` a hop *between* contributors
    after an addition (``c_2 → c_3``), the one a contributor's two neighbours could
    exploit if it were not re-randomised.  Data are drawn with a fixed seed: 300 of
    600 long ids per party, balances and limits with cents (distinctive floats).
    """
    rng = np.random.default_rng(2026)
    names = ["bank-a", *(f"bank-{chr(ord('b') + i)}" for i in range(hosts))]
    everyone = [audit_id(f"sum-{i}") for i in range(600)]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        chosen = rng.choice(len(everyone), size=300, replace=False)
        balance = np.round(rng.lognormal(9.0, 1.0, size=300), 2)
        limit = np.round(rng.lognormal(10.0, 0.5, size=300), 2)
        header = ["id", *(["y"] if name == "bank-a" else []), "balance", "credit_limit"]
        lines = [",".join(header)]
        for row, index in enumerate(chosen.tolist()):
            label = [str(int(rng.integers(0, 2)))] if name == "bank-a" else []
            values = [f"{balance[row]:.2f}", f"{limit[row]:.2f}"]
            lines.append(",".join([everyone[index], *label, *values]))
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    addresses = iter(ports) if ports is not None else None
    text = [
        "[job]",
        'id = "secure-sum-audit"',
        "timeout = 60",
        "connect_timeout = 30",
        "allow_weak_keys = true",
        'output_dir = "output"',
        "",
        "[tls]",
        'ca = "certs/ca.crt"',
    ]
    for number, name in enumerate(names):
        port = next(addresses) if addresses is not None else 9170 + number
        labelled = ', label_column = "y"' if name == "bank-a" else ""
        text += [
            "",
            "[[parties]]",
            f'name = "{name}"',
            f'role = "{"guest" if name == "bank-a" else "host"}"',
            f'address = "127.0.0.1:{port}"',
            f'certificate = "certs/{name}.crt"',
            f'private_key = "certs/{name}.key"',
            f'data = {{ file = "{name}.csv", id_column = "id"{labelled} }}',
        ]
    text += [
        "",
        "[[steps]]",
        'type = "psi"',
        'method = "ecdh"',
        "",
        "[[steps]]",
        'type = "secure_sum"',
        'columns = ["balance", "credit_limit"]',
        "max_abs = 1e12",
        "key_length = 1024",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(text) + "\n")
    return path

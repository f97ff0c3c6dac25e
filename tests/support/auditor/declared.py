"""The declared leakage table: SECURITY.md §9 secure sum, §10 PSI, §11 hetero LR + scoring,
§12 shared-mode hetero LR, §13 binning."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from crypto.paillier import EncryptedVector, MaskedVector, PackedEncryptedVector
from protocols.messages import LrSetup, MessageKind

FORMS = {
    "ciphertext": "an EncryptedVector under `key`; the receiver cannot decrypt it unless "
    "`opened` says what its decryption reveals",
    "masked": "a MaskedVector under the receiver's key: the receiver decrypts it, and "
    "every plaintext is hidden by a mask uniform in Z_n",
    "public-key": "a Paillier public key",
    "parameter": "a public parameter of the job (checked against the job file)",
    "size": "a set size or row count",
    "blinded": "id-derived group elements or tags (PSI), never testable by the receiver",
    "ot-points": "base-OT group elements (KKRT- and VOLE-PSI): fresh X25519 public keys and "
    "points hashed from random bytes, independent of every id",
    "ot-columns": "the OT-extension matrix u (KKRT- and VOLE-PSI), every column masked by a "
    "PRG stream the receiver does not know",
    "vole-corrections": "the VOLE sender's corrections (VOLE-PSI): 16-byte values, each "
    "masked by a random-OT pad the receiver does not hold or pseudorandom to it (the GGM "
    "trees' leaf sums plus the sender's base-VOLE share); sizes fixed by the guest's set size",
    "okvs-cells": "A + P (VOLE-PSI): the guest's OKVS P masked by its VOLE vector A, "
    "pseudorandom to the receiver under dual LPN; sizes fixed by the guest's set size",
    "positions": "positions of the common ids in the host's shuffled sequence",
    "residues": "raw decryptions of the receiver's own masked values",
    "partial-scores": "a host's partial scores u_h = X_h w_h, one per row",
    "magnitude": "the bit length of the sender's largest |round(x * 2**16)| over its "
    "training features: one small integer, the order of magnitude of its largest value",
    "scalar": "a float summary of the sender's own weights",
    "totals": "the secure-sum total",
    "reason": "a one-line reason without data",
    "sealed": "statistically masked packed shares under the receiver's key (shared mode): "
    "the receiver decrypts x + R per value, R a mask the sender drew uniformly in "
    "[0, 2**(b+40)) for the value's public bound 2**b, and the sender keeps -R",
    "bin-sizes": "row counts of the sender's bins (binning): per feature its number of bins "
    "and per bin its rows, features and bins in the sender's secret random order; every "
    "non-empty bin holds at least min_bin_rows rows",
    "bin-statistics": "statistics of the receiver's own bins (binning), in the order it "
    "shuffled them in: per bin the (weighted, possibly noisy) events and non-events and the "
    "WOE, per feature the IV",
    "plain-share": "integers in the clear (shared mode): uniformly random to the receiver "
    "(a mask the sender drew, or a function of one alone) or the other share of an output "
    "the receiver is declared to learn",
    "powers": "ciphertexts under the guest's key (shared mode): `columns` columns of one "
    "value per batch row, w a^j of the guest's score share a (and w y, then the guest's "
    'loss term, with convergence = "loss")',
}
KEY_OWNERS = ("sender", "receiver", "guest", "arbiter")
ROLES = ("guest", "host", "arbiter")
POSITIONS = {"partner": "host", "other-host": "host"}
"""Shared mode: the hosts' two positions (the partner host P, the job's first host; any
other host h), each a kind of ``host``.  A route may name a position or the role."""
MODES = ("two-party", "arbiter", "shared")
OLD_MODES = ("two-party", "arbiter")
ENCRYPTED_FORMS = ("ciphertext", "masked", "sealed", "powers")
RECEIVER_KEY_FORMS = ("masked", "sealed")
"""Forms whose ciphertexts are under the receiver's key (it decrypts masked values)."""
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
    broadcast: bool = False
    """The same ciphertexts go to every receiver of the message (one value for all of
    them, so equal ciphertexts reveal only what the protocol says: that it is equal):
    a repeat is allowed between copies of one message to different receivers only."""

    def __post_init__(self) -> None:
        assert self.form in FORMS, self.form
        assert self.only_with is None or self.only_with in CONDITIONS, self.only_with
        assert (self.key is not None) == (self.form in ENCRYPTED_FORMS), self
        assert self.key is None or self.key in KEY_OWNERS, self.key
        assert (self.form in RECEIVER_KEY_FORMS) == (self.key == "receiver"), self
        assert self.form != "powers" or self.key == "guest", self


@dataclasses.dataclass(frozen=True)
class Route:
    """Who may send a kind to whom (roles, or shared-mode host positions), in which
    training mode, for which ``purpose`` values (shared mode), with which fields."""

    sender: str
    receiver: str
    fields: tuple[Field, ...]
    mode: str | None = None  # hetero LR only: "two-party", "arbiter" or "shared"; None: any
    purposes: tuple[str, ...] = ()  # the message's `purpose` values here; () if it has none

    def __post_init__(self) -> None:
        parties = (*ROLES, *POSITIONS, "any")
        assert self.sender in parties and self.receiver in parties, self
        assert self.mode is None or self.mode in MODES, self.mode
        named = any(p in POSITIONS for p in (self.sender, self.receiver))
        assert not named or self.mode == "shared", self
        assert bool(self.purposes) == any(f.name == "purpose" for f in self.fields), self


def role_of(party: str) -> str:
    """The role of a route's party word (a shared-mode position is a host)."""
    return POSITIONS.get(party, party)


def _matches(declared: str, actual: str) -> bool:
    return declared in (actual, "any") or (declared == "host" and role_of(actual) == "host")


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


PSI_METHODS = ("ecdh", "rsa", "kkrt", "vole")
BLINDING_METHODS = ("ecdh", "rsa")
OT_METHODS = ("kkrt", "vole")
"""The methods that run base OTs and an OT extension (VOLE-PSI's random OTs come from
KKRT's OPRF)."""
VOLE_METHODS = ("vole",)


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
LR_HOST_SETUP_FIELDS = (
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
)
SHARED_HOST_SETUP_FIELDS = tuple(
    _f("gradient_bits", "parameter", "nothing: the constant 1 in shared mode")
    if f.name == "gradient_bits"
    else f
    for f in LR_HOST_SETUP_FIELDS
)
MASK = "nothing: a mask the sender drew, uniform and independent of every data value"
PURPOSE = _f("purpose", "parameter", "which values the message carries (a protocol step)")


def _S(*purposes: str) -> tuple[str, tuple[str, ...]]:
    """A shared-mode route's mode and purposes (``Route(..., *_S("initial"))``)."""
    return "shared", purposes


def _plain(reveals: str) -> tuple[Field, ...]:
    return (PURPOSE, _f("shares", "plain-share", reveals))


def _share_weights() -> tuple[Field, ...]:
    return (PURPOSE, _f("weights", "ciphertext", NOTHING + " (the sender's share)", "sender"))


def _sealed() -> tuple[Field, ...]:
    return (
        PURPOSE,
        _f(
            "sealed",
            "sealed",
            "nothing: x + R per value, within 2**-40 of R alone (its new share of x)",
            "receiver",
        ),
    )


PSI = "psi"
LR = "hetero_lr"
BINNING = "binning"


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
                        "the id; VOLE: a 12-byte tag of Decode(K, y) + Delta H(y) per host "
                        "id, pseudorandom unless the guest holds the id)",
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
        # VOLE-PSI (§10): the VOLE corrections per segment, the guest's masked OKVS
        _declare(
            MessageKind.PSI_VOLE_CORRECTIONS,
            "PsiVoleCorrections",
            PSI,
            "§10",
            Route(
                "host",
                "guest",
                (
                    _f(
                        "level_sums",
                        "vole-corrections",
                        "nothing: each GGM level's left and right sums are masked by the "
                        "random-OT pads of both choices, the guest holds only its off-path one",
                    ),
                    _f(
                        "base_corrections",
                        "vole-corrections",
                        "nothing: r0 + r1 + x^k Delta is masked by the pad r_{1-b} the guest "
                        "did not choose",
                    ),
                    _f(
                        "tree_sums",
                        "vole-corrections",
                        "nothing: each tree's leaf sum plus the sender's base-VOLE share, "
                        "pseudorandom (its punctured leaf is unknown to the guest)",
                    ),
                ),
            ),
            methods=VOLE_METHODS,
        ),
        _declare(
            MessageKind.PSI_OKVS_CELLS,
            "PsiOkvsCells",
            PSI,
            "§10",
            Route(
                "guest",
                "host",
                (
                    _f("key", "parameter", "the OKVS's public hash key (the same in every chunk)"),
                    _f(
                        "cells",
                        "okvs-cells",
                        "nothing beyond the OKVS size m (a function of the guest's announced "
                        "set size): A + P with A pseudorandom under dual LPN",
                    ),
                ),
            ),
            methods=VOLE_METHODS,
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
            "§11, §12",
            *(Route("host", "guest", LR_HOST_SETUP_FIELDS, mode) for mode in OLD_MODES),
            Route("host", "guest", SHARED_HOST_SETUP_FIELDS, "shared"),
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
            Route("guest", "host", (_f("public_key", "public-key", "nothing"),), "shared"),
            Route("partner", "guest", (_f("public_key", "public-key", "nothing"),), "shared"),
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
            *(Route("host", "guest", LR_EPOCH_END_FIELDS, mode) for mode in OLD_MODES),
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
        # binning (§13): the guest's encrypted labels, the host's shuffled per-bin sums
        _declare(
            MessageKind.BIN_SETUP,
            "BinSetup",
            BINNING,
            "§13",
            Route(
                "guest",
                "host",
                (
                    _f("public_key", "public-key", "the guest's key"),
                    _f("rows", "size", "the aligned row count"),
                    _f("weighted", "parameter", "whether rows carry weights"),
                    _f("chunk_rows", "parameter", "the rows per label chunk"),
                    _f("rows_per_ciphertext", "parameter", "the rows packed in a ciphertext"),
                    _f("min_bin_rows", "parameter", "the guest's minimum rows per bin"),
                    _f("noise_epsilon", "parameter", "the label-noise guarantee (0: none)"),
                    _f("noise_delta", "parameter", "its delta"),
                ),
            ),
        ),
        _declare(
            MessageKind.BIN_LABELS,
            "BinLabels",
            BINNING,
            "§13",
            Route(
                "guest",
                "host",
                (
                    _f(
                        "labels",
                        "ciphertext",
                        NOTHING + "; the same ciphertexts go to every host",
                        "sender",
                        broadcast=True,
                    ),
                ),
            ),
        ),
        _declare(
            MessageKind.BIN_SUMS,
            "BinSums",
            BINNING,
            "§13",
            Route(
                "host",
                "guest",
                (
                    _f("bins", "bin-sizes", "the host's number of features and of bins"),
                    _f("counts", "bin-sizes", "the rows of each anonymous, shuffled host bin"),
                    _f(
                        "sums",
                        "ciphertext",
                        "the (weighted) events of each bin",
                        "guest",
                        opened="the (weighted) event count of each anonymous, shuffled host "
                        "bin (Audit.check_binning: exactly the plaintext per-bin sums, never "
                        "in the host's own order)",
                    ),
                ),
            ),
        ),
        _declare(
            MessageKind.BIN_RESULT,
            "BinResult",
            BINNING,
            "§13",
            Route(
                "guest",
                "host",
                (
                    _f("events", "bin-statistics", "the events of each of its own bins"),
                    _f("non_events", "bin-statistics", "the non-events of each of its own bins"),
                    _f("woe", "bin-statistics", "the WOE of each of its own bins"),
                    _f("iv", "bin-statistics", "the IV of each of its own features"),
                    _f("noise_sigma", "parameter", "the noise's standard deviation (0: none)"),
                ),
            ),
        ),
        # shared-mode hetero LR (§12): P is the partner host, h any other host
        _declare(
            MessageKind.LR_SHARE_PLAIN,
            "LrSharePlain",
            LR,
            "§12",
            Route(
                "guest",
                "partner",
                _plain(MASK + " (G's initial share of its weights)"),
                *_S("initial"),
            ),
            Route(
                "host",
                "guest",
                _plain(MASK + " (the host's initial share of its weights)"),
                *_S("initial"),
            ),
            Route(
                "other-host",
                "partner",
                _plain(MASK + ": -R, h's kept share of its sealed partial scores"),
                *_S("scores", "validation"),
            ),
            Route(
                "partner",
                "other-host",
                _plain("nothing: e_P = floor(-R / 2**k), a function of P's sigmoid mask alone"),
                *_S("residual"),
            ),
            Route(
                "partner",
                "guest",
                _plain(
                    "outputs: the epoch's loss sum (loss), each validation row's total score "
                    "(validation), its own final weights (final)"
                ),
                *_S("loss", "validation", "final"),
            ),
            Route("guest", "host", _plain("output: its own final weights"), *_S("final")),
        ),
        _declare(
            MessageKind.LR_SHARE_WEIGHTS,
            "LrShareWeights",
            LR,
            "§12",
            Route("guest", "host", _share_weights(), *_S("batch", "validation")),
            Route("partner", "guest", _share_weights(), *_S("batch", "validation")),
        ),
        _declare(
            MessageKind.LR_SHARE_SEALED,
            "LrShareSealed",
            LR,
            "§12",
            Route("guest", "partner", _sealed(), *_S("scores", "gradient", "validation")),
            Route("host", "guest", _sealed(), *_S("scores", "gradient", "validation")),
            Route("partner", "guest", _sealed(), *_S("sigmoid", "loss")),
        ),
        _declare(
            MessageKind.LR_SHARE_POWERS,
            "LrSharePowers",
            LR,
            "§12",
            Route(
                "guest",
                "partner",
                (
                    _f("columns", "parameter", "the column count (public settings give it)"),
                    _f("powers", "powers", NOTHING, "guest"),
                ),
                "shared",
            ),
        ),
        _declare(
            MessageKind.LR_SHARE_RESIDUAL,
            "LrShareResidual",
            LR,
            "§12",
            Route(
                "guest",
                "host",
                (
                    _f(
                        "residual",
                        "ciphertext",
                        NOTHING + "; the same ciphertexts of e_G go to every host",
                        "sender",
                        broadcast=True,
                    ),
                ),
                "shared",
            ),
            Route("partner", "guest", (_f("residual", "ciphertext", NOTHING, "sender"),), "shared"),
        ),
    )
}

VECTOR_TYPES = (EncryptedVector, PackedEncryptedVector, MaskedVector)
KEY_KINDS = {
    MessageKind.LR_PUBLIC_KEY,
    MessageKind.SUM_PUBLIC_KEY,
    MessageKind.SUM_PARTIAL,
    MessageKind.BIN_SETUP,
}


def routes_for(kind: MessageKind, mode: str | None) -> list[Route]:
    """The declared routes of ``kind`` in training mode ``mode``."""
    return [r for r in DECLARED[kind].routes if r.mode is None or r.mode == mode]


def find_route(
    kind: MessageKind, sender: str, receiver: str, mode: str | None, purpose: str | None = None
) -> Route | None:
    """The declared route of a message, or None if undeclared.

    ``sender`` and ``receiver`` are the parties' roles or, in shared mode, the hosts'
    positions (``partner``, ``other-host``); ``purpose`` the message's ``purpose``
    field, if it has one.
    """
    for route in routes_for(kind, mode):
        if (
            _matches(route.sender, sender)
            and _matches(route.receiver, receiver)
            and (not route.purposes or purpose in route.purposes)
        ):
            return route
    return None

"""Hetero LR checks: what key owners decrypt, vector metadata, conditional fields."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from crypto.encoding import encode_scalar
from crypto.exceptions import CryptoError
from crypto.paillier import (
    MaskedVector,
    PackedEncryptedVector,
    PackingLayout,
    PaillierPublicKey,
    VectorMask,
)
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT, FACTOR_EXPONENT, MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.privacy import MAX_NOISE
from protocols.hetero_lr.settings import FEATURE_BOUND, SCORE_BOUND
from protocols.messages import LrDecrypted, LrForward, LrHostSetup, LrMasked, LrSetup, Message
from tests.support.auditor.context import AuditContext
from tests.support.auditor.declared import CONDITIONS, DECLARED
from tests.support.auditor.values import encodings, fields_of, uniformity_problems


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


class LrChecks(AuditContext):
    """Hetero LR checks, mixed into :class:`Audit`."""

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
            purpose = getattr(m, "purpose", None)  # shared mode: one group per purpose
            group = (m.kind.name, purpose, field.name, w.sender, w.receiver, sizes[m.batch])
            if isinstance(vector, MaskedVector):
                groups[group].add(("length", len(vector)))
            elif isinstance(vector, PackedEncryptedVector):
                groups[group].add((len(vector), vector.exponent, vector.layout))
            else:
                groups[group].add((len(vector), vector.exponent, vector.bound))
        problems = []
        for (kind, purpose, name, sender, receiver, size), seen in sorted(groups.items(), key=str):
            if len(seen) > 1:
                what = f"{kind}.{name}" + (f" {purpose!r}" if purpose else "")
                problems.append(
                    f"{what} {sender} → {receiver}: {len(seen)} different (length, "
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

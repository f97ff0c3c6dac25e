"""Shared-mode checks (SECURITY.md §12): seals, plain shares and an exact replay.

Every value a party receives in shared mode is a ciphertext under a key it does not
hold, a sealed ``x + R`` it decrypts, or a plain share.  With the secrets the engine
made (:class:`~tests.support.auditor.secret_log.Seal` per ``reshare``, the initial
splits, the private keys) the audit recomputes every ``x`` and replays the shared
arithmetic exactly, from the parties' data and the wire alone:

* the weights: both holders' shares of every party's weights, batch by batch
  (:class:`~protocols.hetero_lr.shared_fixed_point.SharedOptimizer` on each share, as
  the parties do); each ``LrShareWeights`` must decrypt to the sender's share, the
  ``"final"`` shares must be the sender's last share, and the two halves must give
  the model file's weights;
* the scores: each sealed partial score is ``X_p w_p`` of the party's rows of the batch
  (integers at scale ``2**40``);
* the sigmoid: ``w p(a + b)`` with ``a`` and ``b`` the guest's and the partner host's
  truncated shares of the total score; the powers are ``w a^j``;
* the residuals: G's share is ``(sigmoid share >> k) - w y``, P's ``-R >> k``; every
  sealed gradient is ``X_pᵀ (e_G + e_P)``;
* the loss: P's epoch share is minus the sum of its loss masks.

Nothing else may reach a party in the clear: every ``LrSharePlain`` value is a mask the
sender drew (or a function of one alone) or the other share of a declared output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from crypto.exceptions import CryptoError
from crypto.shares import STATISTICAL_BITS, decrypt_integers, open_shares, share_layout, truncate
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.shared_fixed_point import (
    FEATURE_FRACTION,
    INPUT_FRACTION,
    RESIDUAL_BITS,
    ROW_WEIGHT_FRACTION,
    WEIGHT_BITS,
    WEIGHT_FRACTION,
    SharedOptimizer,
    gradient_bits,
    multiply_public,
    score_bits,
    weight_share_bits,
)
from protocols.hetero_lr.shared_polynomials import (
    COEFFICIENT_FRACTION,
    DEGREE,
    integer_polynomial,
    logistic_coefficients,
)
from protocols.messages import (
    LrDecision,
    LrSetup,
    LrSharePlain,
    LrShareSealed,
    unzigzag,
)
from tests.support.auditor.context import AuditContext
from tests.support.auditor.pairing import Wire

POLY_SCALE = ROW_WEIGHT_FRACTION + COEFFICIENT_FRACTION + INPUT_FRACTION * DEGREE
"""Scale of ``w p(z)`` (recomputed from the public constants, as shared_party does)."""
SIGMOID_BITS = POLY_SCALE + 20 + RESIDUAL_BITS
SCORE_SHIFT = WEIGHT_FRACTION + FEATURE_FRACTION - INPUT_FRACTION
RESIDUAL_SHIFT = POLY_SCALE - WEIGHT_FRACTION
LOSS_SHIFT = COEFFICIENT_FRACTION + INPUT_FRACTION * DEGREE - INPUT_FRACTION
INITIAL_BITS = WEIGHT_BITS + WEIGHT_FRACTION
"""The initial shares' public bound: masks are uniform in ``[0, 2**(12 + 24 + 40))``."""


def public_bound(purpose: str, rows: int) -> int:
    """The public bound ``b`` (``|x| < 2**b``) of a sealed value, by its purpose."""
    if purpose in ("scores", "validation"):
        return score_bits()
    if purpose == "sigmoid":
        return SIGMOID_BITS
    if purpose == "loss":
        return SIGMOID_BITS + rows.bit_length() + 8
    assert purpose == "gradient", purpose
    return gradient_bits(rows)


def _upper_half_problems(values: Sequence[int], bits: int, what: str) -> list[str]:
    """Masks uniform in ``[0, 2**bits)`` fall in the upper half about half the time
    (fails for uniform masks with probability < 1e-6); a narrower draw never does."""
    count = len(values)
    upper = sum(v >> (bits - 1) == 1 for v in values)
    if count >= 16 and abs(upper - count / 2) > 2.5 * count**0.5 + 1:
        return [f"{what}: {upper} of {count} masks in the upper half of [0, 2**{bits})"]
    return []


class SharedChecks(AuditContext):
    """Shared-mode checks, mixed into :class:`Audit`."""

    def _shared_wire(self) -> list[Wire]:
        return [w for w in self.wire if self.mode(w.step) == "shared"]

    def _setup(self) -> LrSetup:
        return next(w.message for w in self._shared_wire() if isinstance(w.message, LrSetup))

    def _plan(self) -> tuple[BatchPlan, int]:
        setup = self._setup()
        plan = BatchPlan(setup.rows, setup.batch_size, setup.plan_seed)
        decisions = [w.message.round for w in self.wire if isinstance(w.message, LrDecision)]
        return plan, 1 + max(decisions)

    def _widths(self) -> dict[str, int]:
        return {name: len(role.X_int[0]) for name, role in self.truth.lr_roles.items()}

    # 1. every sealed value: x + R with R the sender's mask of the public bound's range ----
    def opened_seals(self) -> tuple[dict[tuple[Any, ...], tuple[list[int], list[int]]], list[str]]:
        """``{(purpose, sender, receiver, round, batch): (x, R)}`` of every sealed message,
        and the problems found opening them."""
        plan, _ = self._plan()
        widths = self._widths()
        opened: dict[tuple[Any, ...], tuple[list[int], list[int]]] = {}
        problems: list[str] = []
        for w in self._shared_wire():
            m = w.message
            if not isinstance(m, LrShareSealed):
                continue
            where = f"{m.describe()} {m.purpose!r}"
            rows = len(plan.batches(m.round)[m.batch])
            count = {"gradient": widths.get(w.sender, 0), "loss": 1}.get(m.purpose, rows)
            bits = public_bound(m.purpose, rows)
            key = m.sealed.public_key
            private = self.private_key(key.n)
            if private is None or self.keys.get((w.step, w.receiver)) != key:
                problems.append(f"{where}: not under the receiver's announced key")
                continue
            layout = share_layout(count, bits, key)
            if len(m.sealed) != layout.ciphertexts:
                problems.append(
                    f"{where}: {len(m.sealed)} ciphertexts, the public layout of {count} values "
                    f"of {bits} bits needs {layout.ciphertexts}"
                )
                continue
            try:
                values = open_shares(private, m.sealed, count, bits)
            except CryptoError as error:
                problems.append(f"{where}: does not open with the public layout ({error})")
                continue
            seal = self.secrets.seals.get(m.sealed.ciphertexts[0]) if len(m.sealed) else None
            if seal is None or seal.party != w.sender:
                problems.append(f"{where}: not sealed by its sender's reshare")
                continue
            masks = list(seal.masks)
            if seal.bits != bits or seal.drawn_bits < bits or not seal.from_draw:
                problems.append(
                    f"{where}: sealed for a bound of {seal.bits} bits with masks of "
                    f"{seal.drawn_bits} + {STATISTICAL_BITS} bits (from random_shares: "
                    f"{seal.from_draw}); the public bound is {bits} bits"
                )
            if len(masks) != count or any(
                not 0 <= r < 1 << (bits + STATISTICAL_BITS) for r in masks
            ):
                problems.append(f"{where}: masks outside [0, 2**({bits} + {STATISTICAL_BITS}))")
                continue
            x = [v - r for v, r in zip(values, masks, strict=True)]
            beyond = [v for v in x if abs(v) >= 1 << bits]
            if beyond:
                problems.append(
                    f"{where}: {len(beyond)} of {count} values beyond the public bound 2**{bits} "
                    f"(largest 2**{max(abs(v) for v in beyond).bit_length() - 1}): hidden "
                    "less well than 2**-40"
                )
            opened[(m.purpose, w.sender, w.receiver, m.round, m.batch)] = (x, masks)
        return opened, problems

    def check_shared_seals(self) -> list[str]:
        """Every ``LrShareSealed`` opens (public layout) to ``x + R``: R the masks its
        sender's ``reshare`` drew with ``random_shares`` for the public bound ``b`` of its
        purpose, uniform in ``[0, 2**(b + 40))``, and ``|x| < 2**b``; every mask drawn in
        the run (seals and initial splits) is distinct."""
        opened, problems = self.opened_seals()
        by_purpose: dict[tuple[str, int], list[int]] = defaultdict(list)
        plan, _ = self._plan()
        for (purpose, _, _, epoch, batch), (_, masks) in opened.items():
            bits = public_bound(purpose, len(plan.batches(epoch)[batch])) + STATISTICAL_BITS
            by_purpose[(purpose, bits)] += masks
        for (purpose, bits), masks in sorted(by_purpose.items()):
            problems += _upper_half_problems(masks, bits, f"{purpose} seals")
        drawn = [r for _, masks in opened.values() for r in masks]
        drawn += [
            m for shares in self.secrets.initial_shares.values() for s in shares for m in s.masks
        ]
        if len(set(drawn)) != len(drawn):
            problems.append(f"{len(drawn) - len(set(drawn))} masks drawn twice in the run")
        self.stats["sealed values opened"] = sum(len(x) for x, _ in opened.values())
        self.stats["masks drawn"] = len(drawn)
        return problems

    # 2. plain shares: masks, functions of masks, or output shares -------------------------
    def check_shared_plain(self) -> list[str]:
        """Every ``LrSharePlain`` value is what its purpose declares:

        * ``initial``: exactly the masks of the sender's initial split, in
          ``[0, 2**(12 + 24 + 40))``;
        * ``scores`` (another host to P): ``-R`` of that host's sealed scores;
        * ``residual`` (P to another host): ``-R >> k`` of P's sigmoid seal;
        * ``loss`` (P to G): minus the sum of P's loss masks of the epoch;
        * ``final``: checked by :meth:`check_shared_replay` (the sender's last share of
          the receiver's weights, which give the model file's weights).
        """
        opened, _ = self.opened_seals()  # their problems: check_shared_seals
        problems: list[str] = []
        guest = self.job.guest.name
        masks_of = {key: masks for key, (_, masks) in opened.items()}
        initial_masks: list[int] = []
        checked = 0
        for w in self._shared_wire():
            m = w.message
            if not isinstance(m, LrSharePlain):
                continue
            where = f"{m.describe()} {m.purpose!r}"
            shares = unzigzag(m.shares)
            checked += len(shares)
            expected: list[int] | None = None
            if m.purpose == "initial":
                splits = [list(s.masks) for s in self.secrets.initial_shares.get(w.sender, [])]
                expected = shares if shares in splits else None
                if any(not 0 <= v < 1 << (INITIAL_BITS + STATISTICAL_BITS) for v in shares):
                    problems.append(f"{where}: a share outside [0, 2**{INITIAL_BITS + 40})")
                initial_masks += shares
            elif m.purpose == "scores":
                masks = masks_of.get(("scores", w.sender, guest, m.round, m.batch))
                expected = None if masks is None else [-r for r in masks]
            elif m.purpose == "residual":
                masks = masks_of.get(("sigmoid", w.sender, guest, m.round, m.batch))
                expected = None if masks is None else [(-r) >> RESIDUAL_SHIFT for r in masks]
            elif m.purpose == "loss":
                epoch = [
                    r
                    for k, v in masks_of.items()
                    if k[:4] == ("loss", w.sender, guest, m.round)
                    for r in v
                ]
                expected = [-sum(epoch)] if epoch else None
            elif m.purpose == "final":
                continue  # check_shared_replay
            if expected is None or expected != shares:
                problems.append(
                    f"{where}: {len(shares)} values that are not the declared masks or shares"
                )
        problems += _upper_half_problems(
            initial_masks, INITIAL_BITS + STATISTICAL_BITS, "initial shares"
        )
        self.stats["plain shares checked"] = checked
        return problems

    # 3. the exact replay -------------------------------------------------------------
    def check_shared_replay(self) -> list[str]:
        """Replay the shared arithmetic exactly (see the module docstring) and compare
        every decryptable value and the model files with it."""
        opened, _ = self.opened_seals()  # their problems: check_shared_seals
        problems: list[str] = []
        plan, epochs = self._plan()
        setup = self._setup()
        guest = self.job.guest.name
        hosts = list(setup.hosts)
        partner = hosts[0]
        roles = self.truth.lr_roles
        g_role = roles[guest]
        settings = g_role.settings
        weighted = setup.weighted
        coefficients = logistic_coefficients(settings.loss_name, weighted)
        loss = settings.convergence == "loss"
        holder = {guest: partner} | {h: guest for h in hosts}
        messages: dict[tuple[Any, ...], Any] = {}
        for w in self._shared_wire():
            m = w.message
            tag = (type(m).__name__, getattr(m, "purpose", None), w.sender, w.receiver)
            messages[(*tag, getattr(m, "round", 0), getattr(m, "batch", 0))] = m

        def decrypt(vector: Any) -> list[int]:
            private = self.private_key(vector.public_key.n)
            assert private is not None
            return decrypt_integers(private, vector)

        # the two holders' shares of every party's weights, from the initial splits
        owner_share: dict[str, SharedOptimizer] = {}
        holder_share: dict[str, SharedOptimizer] = {}
        for party in holder:
            splits = self.secrets.initial_shares.get(party, [])
            if len(splits) != 1:
                return [f"{party}: {len(splits)} initial splits recorded"]
            flags = list(roles[party]._penalized)
            owner_share[party] = SharedOptimizer(settings.optimizer, list(splits[0].own), flags)
            holder_share[party] = SharedOptimizer(settings.optimizer, list(splits[0].masks), flags)
        counts: dict[str, int] = defaultdict(int)
        for epoch in range(epochs):
            for batch, rows in enumerate(plan.batches(epoch)):
                at = (epoch, batch)
                x_rows = {p: roles[p].X_int[rows].astype(object) for p in holder}
                weights = [g_role.row_weights[i] for i in rows]
                labels = [int(v) for v in g_role.y[rows]]
                # weight shares and partial scores
                for party, other in holder.items():
                    sent = messages.get(("LrShareWeights", "batch", other, party, *at))
                    if sent is None or decrypt(sent.weights) != holder_share[party].weights:
                        problems.append(
                            f"{at}: {other}'s LrShareWeights to {party} is not its share"
                        )
                    total = np.array(
                        [
                            a + b
                            for a, b in zip(
                                owner_share[party].weights, holder_share[party].weights, strict=True
                            )
                        ],
                        dtype=object,
                    )
                    receiver = partner if party == guest else guest
                    x, _ = opened.get(("scores", party, receiver, *at), (None, None))
                    if x is None or list(x_rows[party] @ total) != x:
                        problems.append(f"{at}: {party}'s sealed scores are not X w of its rows")
                    counts["partial scores"] += len(rows)
                # the guest's and the partner host's shares of the total score
                g_total = [-r for r in opened[("scores", guest, partner, *at)][1]]
                p_total = [-r for r in opened[("scores", partner, guest, *at)][1]]
                x_g, r_g = opened[("scores", guest, partner, *at)]
                p_total = [t + x + r for t, x, r in zip(p_total, x_g, r_g, strict=True)]
                for host in hosts:
                    x_h, r_h = opened[("scores", host, guest, *at)]
                    g_total = [t + x + r for t, x, r in zip(g_total, x_h, r_h, strict=True)]
                    if host != partner:
                        p_total = [t - r for t, r in zip(p_total, r_h, strict=True)]
                a, b = truncate(g_total, SCORE_SHIFT), truncate(p_total, SCORE_SHIFT)
                # the powers (under G's key)
                powers = messages.get(("LrSharePowers", None, guest, partner, *at))
                columns: list[int] = list(weights) if weighted else []
                power = [1] * len(rows)
                for _ in range(DEGREE):
                    power = [p * v for p, v in zip(power, a, strict=True)]
                    columns += [wi * p for wi, p in zip(weights, power, strict=True)]
                if loss:
                    labelled = [wi * y for wi, y in zip(weights, labels, strict=True)]
                    columns += labelled
                    columns.append(
                        -(sum(v * z for v, z in zip(labelled, a, strict=True)) << LOSS_SHIFT)
                    )
                if powers is None or decrypt(powers.powers) != columns:
                    problems.append(f"{at}: the powers are not w a^j of G's score shares")
                # the sigmoid, then the residual shares
                x_s, r_s = opened[("sigmoid", partner, guest, *at)]
                sigmoid = [
                    wi * integer_polynomial(coefficients, ai + bi)
                    for wi, ai, bi in zip(weights, a, b, strict=True)
                ]
                if x_s != sigmoid:
                    problems.append(f"{at}: the sealed sigmoid is not w p(a + b)")
                counts["sigmoid values"] += len(rows)
                e_g = [
                    ((x + r) >> RESIDUAL_SHIFT)
                    - ((wi * y) << (WEIGHT_FRACTION - ROW_WEIGHT_FRACTION))
                    for x, r, wi, y in zip(x_s, r_s, weights, labels, strict=True)
                ]
                e_p = [(-r) >> RESIDUAL_SHIFT for r in r_s]
                for host in hosts:
                    sent = messages.get(("LrShareResidual", None, guest, host, *at))
                    if sent is None or decrypt(sent.residual) != e_g:
                        problems.append(
                            f"{at}: G's residual share to {host} is not (sigmoid >> k) - w y"
                        )
                sent = messages.get(("LrShareResidual", None, partner, guest, *at))
                if sent is None or decrypt(sent.residual) != e_p:
                    problems.append(f"{at}: P's residual share is not -R >> k of its sigmoid mask")
                residual = np.array([u + v for u, v in zip(e_g, e_p, strict=True)], dtype=object)
                # gradients, then every holder's update
                for party in holder:
                    receiver = partner if party == guest else guest
                    x, r = opened[("gradient", party, receiver, *at)]
                    if list(x_rows[party].T @ residual) != x:
                        problems.append(f"{at}: {party}'s sealed gradient is not X^T (e_G + e_P)")
                    counts["gradient values"] += len(x)
                    for optimizer, share in (
                        (owner_share[party], [-v for v in r]),
                        (holder_share[party], [u + v for u, v in zip(x, r, strict=True)]),
                    ):
                        mean = multiply_public(truncate(share, FEATURE_FRACTION), 1.0 / len(rows))
                        optimizer.step(mean, epoch)
        # the end: final shares and the model files
        scale = float(1 << WEIGHT_FRACTION)
        last = epochs - 1
        for party, other in holder.items():
            final = next(
                (
                    m
                    for k, m in messages.items()
                    if k[:4] == ("LrSharePlain", "final", other, party) and k[4] == last
                ),
                None,
            )
            if final is None or unzigzag(final.shares) != holder_share[party].weights:
                problems.append(
                    f"{other}'s final share to {party} is not its share of {party}'s weights"
                )
            final_weights = np.array(
                [
                    (u + v) / scale
                    for u, v in zip(
                        owner_share[party].weights, holder_share[party].weights, strict=True
                    )
                ]
            )
            model = self.truth.models[party]
            stored = np.array(
                model.weights
                + ([model.intercept] if party == guest and settings.fit_intercept else [])
            )
            if not np.array_equal(final_weights, stored):
                problems.append(f"{party}: the model file's weights are not the two shares' sum")
            counts["final weights"] += len(final_weights)
        self.stats.update({f"replayed {k}": v for k, v in counts.items()})
        bits = weight_share_bits(settings.max_iter * plan.batch_count)
        self.stats["weight share bits"] = bits
        return problems

"""Hetero LR roles: encrypted training equals the plaintext backend, which equals an
independent numpy implementation of the Taylor-approximated mini-batch training."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import (
    BatchPlan,
    LrArbiter,
    LrGuest,
    LrHost,
    LrSettings,
    OptimizerSettings,
)
from protocols.hetero_lr.leakage import (
    gradient_entry_bits,
    minimum_batch_for_labels,
    secret_initial_weights,
)
from protocols.messages import LrMasked
from protocols.roles import Role
from tests.support.protocol_harness import run_roles
from vfl.tables.datasets import load_builtin

SEED = bytes(range(32))
INITIAL = bytes(range(1, 33))  # the guest's initial-weights seed, the same in every run
BATCH = 120


@pytest.fixture(scope="module")
def breast() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    assert guest.ids == host.ids
    assert guest.labels is not None
    # two host columns: 240 rows in batches of 120 pass the label-information bound
    return guest.features[:240], guest.labels[:240].astype(float), host.features[:240, :2]


def settings(mode: str = "two-party", **optimizer: object) -> LrSettings:
    return LrSettings(
        mode=mode,
        batch_size=BATCH,
        max_iter=3,
        convergence="max_iter",
        key_length=1024,
        allow_weak_key=True,
        optimizer=OptimizerSettings(**{"name": "sgd", "learning_rate": 0.15, **optimizer}),  # type: ignore[arg-type]
    )


def train(
    backend: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    lr_settings: LrSettings,
    *,
    host_splits: int = 1,
    sample_weight: np.ndarray | None = None,
    rng: random.Random | None = None,
) -> dict[str, Role]:
    Xg, y, Xh = data
    blocks = np.array_split(np.arange(Xh.shape[1]), host_splits)
    names = ["host"] if host_splits == 1 else [f"host-{i}" for i in range(1, host_splits + 1)]
    arbiter = "arbiter" if lr_settings.mode == "arbiter" else None
    roles: dict[str, Role] = {
        "guest": LrGuest(
            "guest", "job", hosts=names, features=Xg, labels=y, settings=lr_settings,
            backend=backend, arbiter=arbiter, sample_weight=sample_weight, plan_seed=SEED,
            initial_weights_seed=INITIAL,
        )
    }  # fmt: skip
    for name, columns in zip(names, blocks, strict=True):
        roles[name] = LrHost(
            name, "job", guest="guest", features=Xh[:, columns], settings=lr_settings,
            backend=backend, arbiter=arbiter,
        )  # fmt: skip
    if arbiter:
        roles[arbiter] = LrArbiter(
            arbiter, "job", guest="guest", hosts=names, settings=lr_settings, backend=backend
        )
    roles["transcript"] = run_roles(roles, rng=rng)  # type: ignore[assignment]
    return roles


def all_weights(roles: dict[str, Role]) -> np.ndarray:
    parts = [roles["guest"].result.weights, [roles["guest"].result.intercept]]
    parts += [roles[name].result.weights for name in roles if name.startswith("host")]
    return np.concatenate(parts)


@pytest.mark.parametrize(
    ("mode", "hosts"), [("two-party", 1), ("arbiter", 1), ("arbiter", 2)], ids=str
)
def test_encrypted_training_matches_the_plaintext_backend(breast, mode, hosts) -> None:
    lr_settings = settings(mode)
    encrypted = train("paillier", breast, lr_settings, host_splits=hosts)
    plain = train("plaintext", breast, lr_settings, host_splits=hosts)
    np.testing.assert_allclose(all_weights(encrypted), all_weights(plain), rtol=1e-6, atol=0)
    # the arithmetic is identical, so the agreement is in fact exact
    assert np.array_equal(all_weights(encrypted), all_weights(plain))
    losses = [epoch["loss"] for epoch in encrypted["guest"].result.history]
    assert losses == [epoch["loss"] for epoch in plain["guest"].result.history]
    assert losses[-1] < losses[0]  # from the guest's random start (above log 2) downwards


def test_weighted_rows_with_l1_also_match_exactly(breast) -> None:
    weights = np.where(breast[1] > 0, 2.5, 0.75)
    lr_settings = settings("arbiter", name="sgd", penalty="l1", alpha=0.3)
    encrypted = train("paillier", breast, lr_settings, host_splits=2, sample_weight=weights)
    plain = train("plaintext", breast, lr_settings, host_splits=2, sample_weight=weights)
    assert np.array_equal(all_weights(encrypted), all_weights(plain))
    assert (all_weights(plain) == 0).any()  # the proximal L1 step makes exact zeros


def reference_training(
    Xg: np.ndarray,
    y: np.ndarray,
    Xh: np.ndarray,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Taylor-approximated mini-batch SGD on the joined columns, written from the paper."""
    guest_columns = np.hstack([Xg, np.ones((len(Xg), 1))])
    X = np.hstack([guest_columns, Xh])
    signed = 2 * y - 1
    s = np.ones(len(y)) if weights is None else weights
    # the guest starts from its secret random weights (here: from a known seed)
    w = np.concatenate([secret_initial_weights(guest_columns, INITIAL), np.zeros(Xh.shape[1])])
    plan = BatchPlan(len(y), batch_size, SEED)
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for rows in plan.batches(epoch):
            z = X[rows] @ w
            total += float(np.sum(s[rows] * (math.log(2) - signed[rows] * z / 2 + z**2 / 8)))
            d = s[rows] * (z / 4 - signed[rows] / 2)
            w = w - learning_rate * X[rows].T @ d / len(rows)
        losses.append(total / len(y))
    return w, losses


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_plaintext_backend_agrees_with_an_independent_implementation(breast, mode, weighted):
    Xg, y, Xh = breast
    weights = np.where(y > 0, 1.7, 0.6) if weighted else None
    lr_settings = settings(mode, penalty="none")
    roles = train("plaintext", breast, lr_settings, sample_weight=weights)
    expected, losses = reference_training(Xg, y, Xh, 3, 0.15, BATCH, weights)
    guest = roles["guest"].result
    got = np.concatenate([guest.weights, [guest.intercept], roles["host"].result.weights])
    # only fixed-point rounding (features at 2**-16) separates the two
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-4)
    np.testing.assert_allclose([e["loss"] for e in guest.history], losses, rtol=1e-4)


def test_training_is_the_same_under_every_delivery_order(breast) -> None:
    lr_settings = settings("arbiter")
    first = all_weights(train("plaintext", breast, lr_settings, host_splits=2))
    for seed in range(3):
        again = train("plaintext", breast, lr_settings, host_splits=2, rng=random.Random(seed))
        assert np.array_equal(all_weights(again), first)


def test_a_batch_breaking_the_label_information_bound_is_refused_by_both(breast) -> None:
    Xg, y, Xh = breast
    bits = gradient_entry_bits(Xh)
    assert minimum_batch_for_labels(2, bits) > 60
    small = LrSettings(batch_size=60, key_length=1024, allow_weak_key=True)
    guest = LrGuest("guest", "job", hosts=["host"], features=Xg, labels=y, settings=small,
                    backend="plaintext", plan_seed=SEED)  # fmt: skip
    host = LrHost("host", "job", guest="guest", features=Xh, settings=small, backend="plaintext")
    setup = guest.start()[0]
    with pytest.raises(
        ProtocolError, match=r"this host's exact gradient of 2 features of \d+ bits"
    ):
        host.receive(setup)
    # the guest refuses too, from the host's reported width and bits
    reply = LrHost("host", "job", guest="guest", features=Xh, settings=settings(),
                   backend="plaintext")._setup_reply()  # fmt: skip
    with pytest.raises(ProtocolError, match=r"label-information bound.*at an event rate"):
        guest.receive(reply)


def test_the_label_information_bound_is_the_derived_inequality() -> None:
    # B H(p) >= 2 f (b + log2(pi e B / 2) / 2), the smallest B is the first to pass
    for width, bits, rate in [(1, 18, 0.5), (4, 20, 0.37), (10, 21, 0.066), (20, 20, 0.5)]:
        least = minimum_batch_for_labels(width, bits, rate)
        entropy = -(rate * math.log2(rate) + (1 - rate) * math.log2(1 - rate))

        def holds(batch: int, width=width, bits=bits, entropy=entropy) -> bool:
            information = width * (bits + 0.5 * math.log2(math.pi * math.e * batch / 2))
            return batch * entropy >= 2 * information

        assert holds(least) and not holds(least - 1)


def test_guest_refuses_a_batch_size_not_above_its_own_columns(breast) -> None:
    Xg, y, _ = breast
    tiny = LrSettings(batch_size=8, key_length=1024, allow_weak_key=True)
    guest = LrGuest("guest", "job", hosts=["host"], features=Xg, labels=y, settings=tiny,
                    backend="plaintext", plan_seed=SEED)  # fmt: skip
    with pytest.raises(ProtocolError, match="11 gradient columns"):
        guest.start()


def test_two_party_mode_needs_exactly_one_host(breast) -> None:
    Xg, y, _ = breast
    with pytest.raises(ProtocolError, match="exactly one host"):
        LrGuest("guest", "job", hosts=["a", "b"], features=Xg, labels=y, settings=settings(),
                backend="plaintext")  # fmt: skip


def test_labels_must_be_zero_or_one(breast) -> None:
    Xg, y, _ = breast
    with pytest.raises(ProtocolError, match="0 or 1"):
        LrGuest("guest", "job", hosts=["host"], features=Xg, labels=2 * y - 1,
                settings=settings(), backend="plaintext")  # fmt: skip


def test_batch_plan_is_a_partition_without_small_batches() -> None:
    plan = BatchPlan(rows=1000, batch_size=300, seed=SEED)
    for epoch in range(3):
        batches = plan.batches(epoch)
        assert [len(b) for b in batches] == [334, 333, 333]
        assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert not np.array_equal(plan.batches(0)[0], plan.batches(1)[0])
    assert np.array_equal(plan.batches(2)[1], BatchPlan(1000, 300, SEED).batches(2)[1])
    assert BatchPlan(rows=50, batch_size=300, seed=SEED).smallest == 50


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_the_number_of_gradient_ciphertexts_does_not_depend_on_the_data(breast, mode) -> None:
    # The packing layout follows the gradient's bound.  A bound from the data (its
    # largest row norm) told the key owner whether the features crossed a power of
    # two (scale 0.01 or 0.5: 2 ciphertexts, >= 1: 3); the public bound does not.
    Xg, y, Xh = breast
    # 23 guest gradient values: with a 1024-bit key, the data's bound put them in 2
    # ciphertexts at scale 0.01 and in 3 at scale 100
    wide = np.hstack([Xg, Xg, Xg])[:, :22]
    counts = []
    for scale in (0.01, 100.0):
        lr_settings = settings(mode, learning_rate=1e-7)  # no divergence at scale 100
        roles = train("paillier", (wide * scale, y, Xh[:, :1] * scale), lr_settings)
        transcript = roles["transcript"]
        counts.append(
            sorted((m.sender, len(m.gradient)) for m in transcript if isinstance(m, LrMasked))
        )
    assert counts[0] == counts[1]

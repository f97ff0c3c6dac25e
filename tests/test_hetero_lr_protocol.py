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
from protocols.roles import Role
from tests.protocol_harness import run_roles
from vfl.datasets import load_builtin

SEED = bytes(range(32))


@pytest.fixture(scope="module")
def breast() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    assert guest.ids == host.ids
    assert guest.labels is not None
    return guest.features[:240], guest.labels[:240].astype(float), host.features[:240]


def settings(mode: str = "two-party", **optimizer: object) -> LrSettings:
    return LrSettings(
        mode=mode,
        batch_size=64,
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
    run_roles(roles, rng=rng)
    return roles


def all_weights(roles: dict[str, Role]) -> np.ndarray:
    parts = [roles["guest"].result.weights, [roles["guest"].result.intercept]]
    parts += [role.result.weights for name, role in roles.items() if name.startswith("host")]
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
    assert losses[-1] < losses[0] < math.log(2)


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
    X = np.hstack([Xg, np.ones((len(Xg), 1)), Xh])
    signed = 2 * y - 1
    s = np.ones(len(y)) if weights is None else weights
    w = np.zeros(X.shape[1])
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
    expected, losses = reference_training(Xg, y, Xh, 3, 0.15, 64, weights)
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


def test_a_batch_not_larger_than_a_feature_count_is_refused(breast) -> None:
    Xg, y, Xh = breast
    small = LrSettings(batch_size=16, key_length=1024, allow_weak_key=True)
    guest = LrGuest("guest", "job", hosts=["host"], features=Xg, labels=y, settings=small,
                    backend="plaintext", plan_seed=SEED)  # fmt: skip
    host = LrHost("host", "job", guest="guest", features=Xh, settings=small, backend="plaintext")
    setup = guest.start()[0]
    with pytest.raises(ProtocolError, match="20 gradient columns"):
        host.receive(setup)  # batches of 16 rows, the host has 20 features


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

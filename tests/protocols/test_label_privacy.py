"""Label privacy: the noise scale, its accounting and the CSPRNG normal sampler."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats  # type: ignore[import-untyped]

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import (
    LrArbiter,
    LrGuest,
    LrHost,
    LrSettings,
    OptimizerSettings,
)
from protocols.hetero_lr.privacy import LabelPrivacy, csprng_normal, epsilon_spent, noise_scale
from protocols.messages import LrResidual
from tests.protocols.test_hetero_lr_protocol import INITIAL, SEED, all_weights, train
from tests.support.job_files import with_test_keys
from tests.support.protocol_harness import run_roles
from vfl.exceptions import JobFileError
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job
from vfl.tables.datasets import load_builtin

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

epsilons = st.floats(min_value=0.01, max_value=50.0)
deltas = st.floats(min_value=1e-12, max_value=0.1)
epochs = st.integers(min_value=1, max_value=1000)
sensitivities = st.floats(min_value=1e-3, max_value=100.0)


@given(epsilons, deltas, epochs, sensitivities)
def test_the_noise_scale_spends_exactly_the_requested_epsilon(
    epsilon: float, delta: float, rounds: int, sensitivity: float
) -> None:
    sigma = noise_scale(epsilon, delta, rounds, sensitivity)
    assert epsilon_spent(sigma, delta, rounds, sensitivity) == pytest.approx(epsilon, rel=1e-9)
    # less noise would spend more
    assert epsilon_spent(sigma * 0.99, delta, rounds, sensitivity) > epsilon


@given(epsilons, deltas, epochs, sensitivities)
def test_more_epochs_or_a_smaller_epsilon_need_more_noise(
    epsilon: float, delta: float, rounds: int, sensitivity: float
) -> None:
    sigma = noise_scale(epsilon, delta, rounds, sensitivity)
    assert noise_scale(epsilon, delta, rounds + 1, sensitivity) > sigma
    assert noise_scale(epsilon / 2, delta, rounds, sensitivity) > sigma
    # sigma scales linearly with the sensitivity and with sqrt(epochs)
    assert noise_scale(epsilon, delta, 4 * rounds, 2 * sensitivity) == pytest.approx(4 * sigma)


def test_a_known_value() -> None:
    # rho = (sqrt(ln 1e5 + 1) - sqrt(ln 1e5))^2; sigma = 0.5 * sqrt(4 / (2 rho))
    log_term = math.log(1e5)
    rho = (math.sqrt(log_term + 1) - math.sqrt(log_term)) ** 2
    assert noise_scale(1.0, 1e-5, 4, 0.5) == pytest.approx(0.5 * math.sqrt(2 / rho), rel=1e-12)


@pytest.mark.parametrize(
    ("epsilon", "delta", "rounds", "sensitivity"),
    [(0, 1e-5, 1, 1), (math.inf, 1e-5, 1, 1), (1, 0, 1, 1), (1, 1, 1, 1), (1, 1e-5, 0, 1),
     (1, 1e-5, 1, 0), (float("nan"), 1e-5, 1, 1)],
)  # fmt: skip
def test_out_of_range_parameters_are_refused(
    epsilon: float, delta: float, rounds: int, sensitivity: float
) -> None:
    with pytest.raises(ProtocolError):
        noise_scale(epsilon, delta, rounds, sensitivity)


def test_the_sampler_is_standard_normal_and_fresh() -> None:
    values = csprng_normal(50_001)
    assert values.shape == (50_001,) and np.all(np.isfinite(values))
    assert stats.kstest(values, "norm").pvalue > 1e-4
    assert len(csprng_normal(0)) == 0
    assert not np.array_equal(csprng_normal(8), csprng_normal(8))


def test_label_privacy_noise_has_the_scale() -> None:
    privacy = LabelPrivacy(epsilon=1.0, delta=1e-5, epochs=4)
    # y is -1 or +1 in the residual's y/2: flipping a label moves an entry by 1
    assert privacy.sensitivity == 1.0 and privacy.sigma == noise_scale(1.0, 1e-5, 4, 1.0)
    noise = privacy.noise(40_000)
    assert float(noise.std()) == pytest.approx(privacy.sigma, rel=0.03)
    with pytest.raises(ProtocolError, match="positive finite epsilon"):
        LabelPrivacy(epsilon=-1.0, delta=1e-5, epochs=4)


# -- the noise in the protocol ------------------------------------------------------------------


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    guest, host = load_builtin("breast")
    assert guest.labels is not None
    # two host columns (split 1 + 1 between two hosts): passes the label-information bound
    return guest.features[:480], guest.labels[:480].astype(float), host.features[:480, :2]


def _settings(mode: str, epsilon: float | None, epochs: int = 1) -> LrSettings:
    return LrSettings(
        mode=mode, batch_size=480, max_iter=epochs, convergence="max_iter", key_length=1024,
        allow_weak_key=True, optimizer=OptimizerSettings(name="sgd", learning_rate=0.15),
        label_privacy_epsilon=epsilon,
    )  # fmt: skip


def _first_residuals(roles: dict, mode: str) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    """What each host's first LrResidual holds, decrypted with the key it is under."""
    private = roles["guest"]._own_keys[1] if mode == "two-party" else roles["arbiter"]._keys[1]
    transcript = roles["transcript"]
    found: dict[str, np.ndarray] = {}
    for message in transcript:
        if isinstance(message, LrResidual) and message.receiver not in found:
            found[message.receiver] = np.asarray(private.decrypt_vector(message.residual))
    return found


def _run(mode: str, epsilon: float | None, hosts: int = 1) -> dict:  # type: ignore[type-arg]
    Xg, y, Xh = _data()
    names = ["host"] if hosts == 1 else [f"host-{i}" for i in range(1, hosts + 1)]
    settings = _settings(mode, epsilon)
    arbiter = "arbiter" if mode == "arbiter" else None
    roles: dict = {  # type: ignore[type-arg]
        "guest": LrGuest(
            "guest",
            "job",
            hosts=names,
            features=Xg,
            labels=y,
            settings=settings,
            backend="plaintext",
            arbiter=arbiter,
            plan_seed=SEED,
            initial_weights_seed=INITIAL,  # the same start with and without noise
        )
    }
    for name, columns in zip(names, np.array_split(np.arange(Xh.shape[1]), hosts), strict=True):
        roles[name] = LrHost(name, "job", guest="guest", features=Xh[:, columns],
                             settings=settings, backend="plaintext", arbiter=arbiter)  # fmt: skip
    if arbiter:
        roles[arbiter] = LrArbiter(arbiter, "job", guest="guest", hosts=names, settings=settings,
                                   backend="plaintext")  # fmt: skip
    roles["transcript"] = run_roles(roles)
    return roles


@pytest.mark.parametrize(("mode", "hosts"), [("two-party", 1), ("arbiter", 2)])
def test_one_noise_draw_per_batch_of_the_right_scale_for_every_host(mode: str, hosts: int) -> None:
    exact = _first_residuals(_run(mode, None, hosts), mode)
    noisy_roles = _run(mode, 1.0, hosts)
    noisy = _first_residuals(noisy_roles, mode)
    sigma = noise_scale(1.0, 1e-5, 1, 1.0)  # sensitivity 1: y in {-1, +1}, y/2 moves by 1
    noises = [noisy[host] - exact[host] for host in exact]
    for noise in noises:
        assert noise.shape == (480,)
        assert float(noise.std()) == pytest.approx(sigma, rel=0.2)
        assert abs(float(noise.mean())) < 4 * sigma / math.sqrt(480)
    # the same draw for every host: colluding hosts cannot average it away
    for noise in noises[1:]:
        np.testing.assert_allclose(noise, noises[0], rtol=0, atol=1e-6)


def test_every_partys_update_uses_the_same_noisy_residual() -> None:
    exact = _run("two-party", None)
    noisy = _run("two-party", 0.5)
    noise = (
        _first_residuals(noisy, "two-party")["host"] - _first_residuals(exact, "two-party")["host"]
    )
    Xg, _, Xh = _data()
    order = noisy["guest"].plan.batches(0)[0]  # the residual is in the batch's row order
    Xg, Xh = Xg[order], Xh[order]
    rate, rows = 0.15, len(Xg)
    # one batch, one epoch of SGD: both parties' weights moved by -rate * X^T e / rows
    guest_shift = np.append(noisy["guest"].result.weights, noisy["guest"].result.intercept) - (
        np.append(exact["guest"].result.weights, exact["guest"].result.intercept)
    )
    expected = -rate * np.hstack([Xg, np.ones((rows, 1))]).T @ noise / rows
    np.testing.assert_allclose(guest_shift, expected, rtol=1e-3, atol=1e-6)
    host_shift = noisy["host"].result.weights - exact["host"].result.weights
    np.testing.assert_allclose(host_shift, -rate * Xh.T @ noise / rows, rtol=1e-3, atol=1e-6)


def test_label_privacy_refuses_row_weights() -> None:
    Xg, y, _ = _data()
    with pytest.raises(ProtocolError, match="label privacy needs unweighted rows"):
        LrGuest("guest", "job", hosts=["host"], features=Xg, labels=y,
                settings=_settings("two-party", 1.0), backend="plaintext",
                sample_weight=np.ones(len(y)))  # fmt: skip
    with pytest.raises(ProtocolError, match="label_privacy_epsilon must be a positive"):
        _settings("two-party", -1.0)


def test_encrypted_training_with_noise_runs_and_differs_from_noiseless() -> None:
    data = _data()
    settings = dataclasses_replace(_settings("two-party", 2.0, epochs=2), batch_size=160)
    noisy = train("paillier", data, settings)
    exact = train("paillier", data, dataclasses_replace(settings, label_privacy_epsilon=None))
    assert not np.allclose(all_weights(noisy), all_weights(exact))


def dataclasses_replace(settings: LrSettings, **changes: object) -> LrSettings:
    import dataclasses

    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def test_job_files_take_label_privacy_and_report_it(tmp_path: Path) -> None:
    folder = tmp_path / "hetero-lr"
    shutil.copytree(
        EXAMPLES / "hetero-lr", folder, ignore=shutil.ignore_patterns("certs", "output")
    )
    text = (folder / "job.toml").read_text()
    marker = 'type = "hetero_lr"'
    job_file = folder / "job.toml"
    job_file.write_text(text.replace(marker, marker + "\nlabel_privacy_epsilon = 4"))
    job = with_test_keys(load_job(job_file))
    simulate_job(job)
    summary = json.loads((folder / "output" / "bank-a" / "step-1-hetero_lr.json").read_text())
    assert summary["label_privacy"] == {
        "epsilon": 4.0,
        "delta": 1e-5,
        "sigma": noise_scale(4.0, 1e-5, job.steps[1].max_iter, 1.0),  # type: ignore[union-attr]
    }
    job_file.write_text(
        text.replace(marker, marker + '\nlabel_privacy_epsilon = 4\nclass_weight = "balanced"')
    )
    with pytest.raises(JobFileError, match="needs unweighted rows, but class_weight is set"):
        load_job(job_file)
    job_file.write_text(text.replace(marker, marker + "\nlabel_privacy_delta = 2"))
    with pytest.raises(JobFileError, match="label_privacy_delta: must be between 0 and 1"):
        load_job(job_file)

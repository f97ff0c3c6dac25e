"""Label privacy: the noise scale, its accounting and the CSPRNG normal sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats  # type: ignore[import-untyped]

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.privacy import LabelPrivacy, csprng_normal, epsilon_spent, noise_scale

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
    assert privacy.sensitivity == 0.5 and privacy.sigma == noise_scale(1.0, 1e-5, 4, 0.5)
    noise = privacy.noise(40_000)
    assert float(noise.std()) == pytest.approx(privacy.sigma, rel=0.03)
    with pytest.raises(ProtocolError, match="positive finite epsilon"):
        LabelPrivacy(epsilon=-1.0, delta=1e-5, epochs=4)

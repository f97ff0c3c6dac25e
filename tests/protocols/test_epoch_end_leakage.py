"""What a host tells the guest at each epoch's end, and the attack that made it matter.

Per epoch a host used to send its validation partial scores ``s_t = V w_t`` and the
norm of its weight change ``||w_t - w_{t-1}||**2``.  Together they give the guest
the Gram matrix ``V V^T`` of the host's validation rows: the scores span ``V``'s
column space and ``||Delta w_t||**2 = Delta s_t^T (V V^T)^+ Delta s_t`` is linear in the
pseudo-inverse, so ``f(f+1)/2`` epochs determine it (outside review).  Now each is
sent only when the job's stopping rule needs it; the attack below still works when
a job asks for both (early stopping and ``convergence = "weights"``), which
SECURITY.md §11 declares.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrGuest, LrHost, LrSettings, OptimizerSettings
from protocols.messages import LrEpochEnd, LrSetup
from tests.support.protocol_harness import run_roles

SEED = bytes(range(32))
ROWS, VALIDATION, HOST_FEATURES = 300, 20, 3


def _data() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    guest, host = rng.normal(size=(ROWS, 2)), rng.normal(size=(ROWS, HOST_FEATURES))
    labels = (guest[:, 0] + host @ [1.0, -0.5, 0.25] + rng.normal(size=ROWS) > 0).astype(float)
    guest_validation = rng.normal(size=(VALIDATION, 2))
    host_validation = rng.normal(size=(VALIDATION, HOST_FEATURES))
    validation_labels = np.arange(VALIDATION) % 2.0
    return guest, labels, host, guest_validation, host_validation, validation_labels


def _evaluate(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return {"auc": float(roc_auc_score(labels, probabilities)), "ks": 0.0}


def _train(settings: LrSettings, host_settings: LrSettings | None = None) -> list:  # type: ignore[type-arg]
    guest_rows, labels, host_rows, guest_validation, host_validation, validation_labels = _data()
    roles = {
        "guest": LrGuest(
            "guest", "job", hosts=["host"], features=guest_rows, labels=labels,
            settings=settings, backend="plaintext", validation=guest_validation,
            validation_labels=validation_labels, evaluate=_evaluate, plan_seed=SEED,
        ),
        "host": LrHost(
            "host", "job", guest="guest", features=host_rows, settings=host_settings or settings,
            backend="plaintext", validation=host_validation,
        ),
    }  # fmt: skip
    transcript = run_roles(roles)
    return [transcript, roles]


def _settings(**changes: object) -> LrSettings:
    values: dict[str, object] = {
        "batch_size": 150, "max_iter": 10, "key_length": 1024, "allow_weak_key": True,
        "optimizer": OptimizerSettings(name="sgd", learning_rate=0.3),
    }  # fmt: skip
    values.update(changes)
    return LrSettings(**values)  # type: ignore[arg-type]


def test_by_default_a_host_sends_neither_weight_changes_nor_validation_scores() -> None:
    transcript, roles = _train(_settings(convergence="max_iter"))
    ends = [m for m in transcript if isinstance(m, LrEpochEnd)]
    assert len(ends) == 10
    assert all(end.weight_change == 0.0 and len(end.validation_scores) == 0 for end in ends)
    history = roles["guest"].result.history
    assert all(entry["weight_change"] is None for entry in history)
    assert all(entry["validation_auc"] is None for entry in history)
    # the host still keeps its own weight changes
    assert all(entry["weight_change"] > 0 for entry in roles["host"].result.history)


def test_each_is_sent_only_for_the_rule_that_needs_it() -> None:
    transcript, _ = _train(_settings(convergence="weights", tol=0.0))
    ends = [m for m in transcript if isinstance(m, LrEpochEnd)]
    assert all(end.weight_change > 0 and len(end.validation_scores) == 0 for end in ends)
    early = _settings(convergence="max_iter", early_stopping="auc", patience=10)
    transcript, roles = _train(early)
    ends = [m for m in transcript if isinstance(m, LrEpochEnd)]
    assert all(end.weight_change == 0 and len(end.validation_scores) == VALIDATION for end in ends)
    assert all(entry["validation_auc"] is not None for entry in roles["guest"].result.history)


@pytest.mark.parametrize(
    ("guest_changes", "host_changes", "field"),
    [
        ({"convergence": "weights"}, {"convergence": "loss"}, "convergence"),
        ({"early_stopping": "auc"}, {}, "early_stopping"),
    ],
)
def test_a_host_refuses_to_send_more_than_its_own_configuration_allows(
    guest_changes: dict,
    host_changes: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(ProtocolError, match=f"the guest's {field} is"):
        _train(_settings(**guest_changes), _settings(**host_changes))


def test_with_both_on_the_guest_rebuilds_the_gram_matrix_of_the_hosts_validation_rows() -> None:
    # The declared consequence (SECURITY.md §11), played as the guest would.
    settings = _settings(
        convergence="weights", tol=0.0, early_stopping="auc", patience=10, max_iter=10
    )
    transcript, _ = _train(settings)
    ends = [m for m in transcript if isinstance(m, LrEpochEnd)]
    scores = np.array([end.validation_scores for end in ends])  # s_t = V w_t
    changes = np.array([end.weight_change for end in ends])  # ||w_t - w_{t-1}||^2
    steps = np.diff(np.vstack([np.zeros(VALIDATION), scores]), axis=0)  # host starts at 0
    basis = np.linalg.svd(steps.T, full_matrices=False)[0][:, :HOST_FEATURES]
    coordinates = steps @ basis
    pairs = [(i, j) for i in range(HOST_FEATURES) for j in range(i, HOST_FEATURES)]
    equations = np.array(
        [[a[i] * a[j] * (1 if i == j else 2) for i, j in pairs] for a in coordinates]
    )
    solution = np.linalg.lstsq(equations, changes, rcond=None)[0]
    inverse = np.zeros((HOST_FEATURES, HOST_FEATURES))
    for value, (i, j) in zip(solution, pairs, strict=True):
        inverse[i, j] = inverse[j, i] = value
    rebuilt = basis @ np.linalg.inv(inverse) @ basis.T
    host_validation = _data()[4]
    gram = host_validation @ host_validation.T
    assert np.abs(rebuilt - gram).max() < 1e-6 * np.abs(gram).max()

    # with the defaults the guest holds neither series: nothing to solve
    default_ends = [m for m in _train(_settings())[0] if isinstance(m, LrEpochEnd)]
    assert not any(len(end.validation_scores) or end.weight_change for end in default_ends)


def test_the_setup_carries_the_stopping_rule() -> None:
    transcript, _ = _train(_settings(convergence="loss"))
    (setup,) = [m for m in transcript if isinstance(m, LrSetup)]
    assert (setup.convergence, setup.early_stopping) == ("loss", "")

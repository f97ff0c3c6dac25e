"""Hetero logistic regression in scikit-learn style, every party in one process.

:class:`HeteroLogisticRegression` runs the real guest, host and arbiter roles of
:mod:`protocols.hetero_lr` in one process, every message through the wire codec (the
``paillier`` backend), on rows that are already aligned (see :func:`vfl.intersect`).
It is the simulation and evaluation API; deployments run a job file with ``vfl run``
per party.

Examples
--------
>>> from vfl import HeteroLogisticRegression
>>> from vfl.datasets import load_builtin
>>> guest, host = load_builtin("breast")  # both files list the ids in the same order
>>> model = HeteroLogisticRegression(key_length=1024, allow_weak_key=True, batch_size=128,
...                                  optimizer="adam", learning_rate=0.1, max_iter=3,
...                                  random_state=0)
>>> model = model.fit(guest.features, guest.labels, hosts=[host.features])
>>> probabilities = model.predict_proba(guest.features, hosts=[host.features])[:, 1]
>>> bool(model.evaluate(guest.features, guest.labels, hosts=[host.features])["auc"] > 0.98)
True
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import (
    LrArbiter,
    LrGuest,
    LrHost,
    LrPartyResult,
    LrSettings,
    ScoreGuest,
    ScoreHost,
    get_backend,
)
from protocols.hetero_lr.settings import FLAT_KEYWORDS
from protocols.roles import Role
from vfl import metrics
from vfl.exceptions import DataError
from vfl.local import run_locally
from vfl.models import PartyModel, Scaling, merge_to_sklearn

__all__ = ["HeteroLogisticRegression", "class_row_weights"]

FloatArray = npt.NDArray[np.float64]
GUEST, ARBITER = "guest", "arbiter"


def host_names(count: int) -> list[str]:
    """The simulated hosts' party names: ``host`` alone, else ``host-1``, ``host-2``..."""
    return ["host"] if count == 1 else [f"host-{i}" for i in range(1, count + 1)]


def _matrix(values: object, what: str) -> FloatArray:
    """A 2-D float64 array from a DataFrame or array, with a clear error."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{what} must be numeric ({error})") from error
    if array.ndim != 2:
        raise DataError(f"{what} must be 2-D (rows x features), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise DataError(f"{what} holds a missing or infinite value; clean the data first")
    return array


def _column_names(values: object, count: int, prefix: str) -> list[str]:
    columns = getattr(values, "columns", None)
    if columns is not None and len(columns) == count:
        return [str(c) for c in columns]
    return [f"{prefix}{i}" for i in range(count)]


def _binary_labels(values: object, rows: int) -> FloatArray:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    labels = np.asarray(values).ravel()
    if labels.shape != (rows,):
        raise DataError(f"y has {labels.size} labels for {rows} rows")
    if labels.dtype == bool:
        return labels.astype(np.float64)
    try:
        numeric = labels.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"labels must be 0/1, -1/+1 or bool ({error})") from error
    values_seen = set(np.unique(numeric).tolist())
    if values_seen <= {0.0, 1.0}:
        return numeric
    if values_seen <= {-1.0, 1.0}:
        return (numeric > 0).astype(np.float64)
    raise DataError(f"labels must be 0/1, -1/+1 or bool, found {sorted(values_seen)[:5]}")


def class_row_weights(
    labels: FloatArray,
    class_weight: str | dict[int, float] | None,
    sample_weight: npt.ArrayLike | None = None,
) -> FloatArray | None:
    """Row weights from class weights, multiplied with ``sample_weight``.

    Parameters
    ----------
    labels : numpy.ndarray
        0/1 per row.
    class_weight : "balanced", dict or None
        ``"balanced"``: ``rows / (2 * rows_of_the_class)`` per class (0 for an absent
        class); a dict ``{0: w0, 1: w1}`` (a missing class weighs 1); ``None``: no
        class weights.
    sample_weight : array_like, optional
        A weight per row.

    Returns
    -------
    numpy.ndarray or None
        A weight per row, or ``None`` when neither class nor sample weights are given.

    Raises
    ------
    DataError
        If ``class_weight`` is none of the above.

    Examples
    --------
    >>> import numpy as np
    >>> class_row_weights(np.array([1.0, 0.0, 0.0, 0.0]), "balanced").tolist()
    [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    >>> class_row_weights(np.array([1.0, 0.0]), {1: 3.0}, sample_weight=[0.5, 2.0]).tolist()
    [1.5, 2.0]
    >>> class_row_weights(np.array([1.0, 0.0]), None) is None
    True
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_weight is None:
        return weights
    if class_weight == "balanced":
        positives = labels.sum()
        counts = {1: positives, 0: len(labels) - positives}
        per_class = {c: len(labels) / (2 * counts[c]) if counts[c] else 0.0 for c in (0, 1)}
    elif isinstance(class_weight, dict):
        per_class = {c: float(class_weight.get(c, 1.0)) for c in (0, 1)}
    else:
        raise DataError(f"class_weight must be None, 'balanced' or a dict, not {class_weight!r}")
    by_class: FloatArray = np.where(labels > 0, per_class[1], per_class[0])
    return by_class if weights is None else by_class * weights


class HeteroLogisticRegression:
    """Vertical federated logistic regression (guest with labels, one or more hosts).

    Parameters
    ----------
    mode : {"two-party", "arbiter"}, default "two-party"
        Two-party: each party holds its own Paillier key (one host).  Arbiter: a
        third party holds the key and decrypts only masked values (one or more hosts).
    key_length : int, default 2048
    allow_weak_key : bool, default False
        Allow keys under 2048 bits (tests only).
    batch_size : int, default 1024
        Minimum rows per mini-batch; must exceed every party's feature count.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    learning_rate : float, default 0.1
    penalty : {"l2", "l1", "none"}, default "l2"
    alpha : float, default 0.0
        Penalty strength (the guest's intercept is not penalised).
    decay : float, default 0.0
        Learning-rate decay per epoch; ``decay_sqrt`` picks ``1/sqrt`` decay.
    decay_sqrt : bool, default False
    max_iter : int, default 10
        Maximum epochs.
    tol : float, default 1e-4
    convergence : {"loss", "weights", "max_iter"}, default "loss"
    early_stopping : {"auc", "ks"} or None
        Stop when the validation metric (``eval_set``) stops improving and keep the
        best epoch.
    patience : int, default 3
    class_weight : "balanced", dict or None
        Row weights per class (rare fraud labels); multiplied with ``sample_weight``.
    fit_intercept : bool, default True
    standardize : bool, default True
        Each party standardises its own features on its training rows.
    backend : {"paillier", "phe", "plaintext"}, default "paillier"
    n_jobs : int or None
        Workers for the cryptography (``-1``: every core).
    random_state : int or None
        Fixes the batch plan (not any key or mask, which always come from the CSPRNG).
    warm_start : bool, default False
        Start from the previous fit's weights.
    verbose : bool, default False
        Show a progress bar.
    label_privacy_epsilon : float or None, default None
        Label differential privacy: the guest adds Gaussian noise to the residual it
        sends each host, so each host's gradients over the run are
        ``(epsilon, label_privacy_delta)``-DP per label
        (:mod:`protocols.hetero_lr.privacy`).  Needs no class or sample weights.
    label_privacy_delta : float, default 1e-5

    Attributes
    ----------
    coef_guest_ : numpy.ndarray
    coef_hosts_ : list of numpy.ndarray
    intercept_ : float
    history_ : list of dict
        Per epoch: loss, weight change, validation AUC and KS.
    n_iter_ : int
        Epochs trained.
    stop_reason_ : str
    classes_ : numpy.ndarray
    party_models_ : dict of str to PartyModel
        Every party's model as it would save it.

    Examples
    --------
    A guest with two features and the labels, one host with one feature, rows
    already aligned (see :func:`vfl.intersect`):

    >>> import numpy as np
    >>> x = np.linspace(-1.0, 1.0, 200)
    >>> X_guest, X_host = np.column_stack([x, np.cos(5 * x)]), np.sin(3 * x)[:, None]
    >>> y = (x + np.sin(3 * x) > 0).astype(int)
    >>> model = HeteroLogisticRegression(key_length=1024, allow_weak_key=True, batch_size=50,
    ...                                  optimizer="adam", learning_rate=0.2, max_iter=5,
    ...                                  random_state=0)
    >>> model = model.fit(X_guest, y, hosts=[X_host])
    >>> model.n_iter_, model.stop_reason_, len(model.coef_guest_), len(model.coef_hosts_[0])
    (5, 'max_iter', 2, 1)
    >>> model.predict(X_guest[[0, -1]], hosts=[X_host[[0, -1]]]).tolist()
    [0, 1]
    >>> model.evaluate(X_guest, y, hosts=[X_host])["auc"]
    1.0
    """

    def __init__(
        self,
        *,
        mode: str = "two-party",
        key_length: int = 2048,
        allow_weak_key: bool = False,
        batch_size: int = 1024,
        optimizer: str = "sgd",
        learning_rate: float = 0.1,
        penalty: str = "l2",
        alpha: float = 0.0,
        decay: float = 0.0,
        decay_sqrt: bool = False,
        max_iter: int = 10,
        tol: float = 1e-4,
        convergence: str = "loss",
        early_stopping: str | None = None,
        patience: int = 3,
        class_weight: str | dict[int, float] | None = None,
        fit_intercept: bool = True,
        standardize: bool = True,
        backend: str = "paillier",
        n_jobs: int | None = None,
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: bool = False,
        label_privacy_epsilon: float | None = None,
        label_privacy_delta: float = 1e-5,
    ) -> None:
        self.mode = mode
        self.key_length = key_length
        self.allow_weak_key = allow_weak_key
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.penalty = penalty
        self.alpha = alpha
        self.decay = decay
        self.decay_sqrt = decay_sqrt
        self.max_iter = max_iter
        self.tol = tol
        self.convergence = convergence
        self.early_stopping = early_stopping
        self.patience = patience
        self.class_weight = class_weight
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.backend = backend
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.label_privacy_epsilon = label_privacy_epsilon
        self.label_privacy_delta = label_privacy_delta

    # scikit-learn's estimator contract -----------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn contract).

        Parameters
        ----------
        deep : bool, default True
            Ignored (no parameter is an estimator).

        Returns
        -------
        dict
            Every constructor parameter and its value.

        Examples
        --------
        >>> HeteroLogisticRegression(max_iter=3).get_params()["max_iter"]
        3
        """
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> HeteroLogisticRegression:
        """Set constructor parameters (scikit-learn contract).

        Parameters
        ----------
        **params
            Constructor parameters and their new values.

        Returns
        -------
        HeteroLogisticRegression
            ``self``.

        Raises
        ------
        ValueError
            If a name is not a constructor parameter.

        Examples
        --------
        >>> HeteroLogisticRegression().set_params(penalty="l1", alpha=0.01)
        HeteroLogisticRegression(penalty='l1', alpha=0.01)
        """
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"unknown parameter {name!r}; valid: {sorted(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if v != defaults[k]}
        return f"HeteroLogisticRegression({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def settings(self) -> LrSettings:
        """The protocol settings these parameters describe.

        Returns
        -------
        LrSettings
            What every party's role is given.

        Raises
        ------
        ProtocolError
            If a parameter is invalid.

        Examples
        --------
        >>> settings = HeteroLogisticRegression(optimizer="adam", max_iter=3).settings()
        >>> settings.optimizer.name, settings.max_iter
        ('adam', 3)
        """
        params = self.get_params()
        return LrSettings.from_flat(**{key: params[key] for key in FLAT_KEYWORDS})

    # training ---------------------------------------------------------------------------
    def fit(
        self,
        X_guest: object,
        y: object,
        hosts: Sequence[object],
        *,
        sample_weight: npt.ArrayLike | None = None,
        eval_set: tuple[object, object, Sequence[object]] | None = None,
    ) -> HeteroLogisticRegression:
        """Train on aligned rows: ``X_guest`` and ``y`` on the guest, ``hosts[j]`` on host j.

        Parameters
        ----------
        X_guest : array_like or DataFrame
        y : array_like
            0/1, -1/+1 or bool.
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.
        sample_weight : array_like, optional
        eval_set : tuple, optional
            ``(X_guest_val, y_val, [X_host_val, ...])`` for validation AUC/KS per
            epoch and early stopping.

        Returns
        -------
        HeteroLogisticRegression
            ``self``.

        Raises
        ------
        DataError
            If the data are malformed or not aligned, the number of hosts does not
            fit the mode, or training fails.
        ProtocolError
            If a parameter is invalid.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> model.n_iter_ <= 10, model.classes_.tolist()
        (True, [0, 1])
        """
        guest_matrix = _matrix(X_guest, "X_guest")
        host_matrices = self._host_matrices(hosts, len(guest_matrix))
        labels = _binary_labels(y, len(guest_matrix))
        weights = self._row_weights(labels, sample_weight)
        settings = self.settings()
        if self.mode == "two-party" and len(host_matrices) != 1:
            raise DataError(
                f"two-party mode trains with exactly one host, got {len(host_matrices)}; "
                "use mode='arbiter' for several hosts"
            )
        backend = get_backend(self.backend)
        warm = self.warm_start and hasattr(self, "party_models_")
        if warm:
            scalings = self._scalings
        else:
            scalings = [
                Scaling.fit(m) if self.standardize else None for m in [guest_matrix, *host_matrices]
            ]
        scaled = [
            _apply(s, m) for s, m in zip(scalings, [guest_matrix, *host_matrices], strict=True)
        ]
        validation = self._validation(eval_set, scalings, len(host_matrices))
        names = host_names(len(host_matrices))
        arbiter = ARBITER if self.mode == "arbiter" else None
        job_id = "simulated-hetero-lr"
        guest_start = None
        if warm:
            guest_start = np.append(self.coef_guest_, self.intercept_ if self.fit_intercept else [])
        roles: dict[str, Role] = {
            GUEST: LrGuest(
                GUEST,
                job_id,
                hosts=names,
                features=scaled[0],
                labels=labels,
                settings=settings,
                backend=self.backend,
                arbiter=arbiter,
                sample_weight=weights,
                validation=None if validation is None else validation[0],
                validation_labels=None if validation is None else validation[1],
                evaluate=_validation_metrics,
                initial_weights=guest_start,
                plan_seed=self._plan_seed(),
            )
        }
        for index, name in enumerate(names):
            roles[name] = LrHost(
                name,
                job_id,
                guest=GUEST,
                features=scaled[index + 1],
                settings=settings,
                backend=self.backend,
                arbiter=arbiter,
                validation=None if validation is None else validation[2][index],
                initial_weights=self.coef_hosts_[index] if warm else None,
            )
        if arbiter is not None:
            roles[arbiter] = LrArbiter(
                arbiter, job_id, guest=GUEST, hosts=names, settings=settings, backend=self.backend
            )
        self._run(roles, backend.wire)
        results: list[LrPartyResult] = [roles[name].result for name in [GUEST, *names]]
        self._learn(results, scalings, [guest_matrix, *host_matrices], [X_guest, *hosts], names)
        return self

    def _host_matrices(self, hosts: Sequence[object], rows: int) -> list[FloatArray]:
        if not isinstance(hosts, list | tuple) or not hosts:
            raise DataError("hosts must be a non-empty list of each host's feature matrix")
        matrices = [_matrix(h, f"hosts[{i}]") for i, h in enumerate(hosts)]
        for index, matrix in enumerate(matrices):
            if len(matrix) != rows:
                raise DataError(
                    f"hosts[{index}] has {len(matrix)} rows, X_guest {rows}; the rows must "
                    "be aligned (use vfl.intersect)"
                )
        return matrices

    def _row_weights(self, labels: FloatArray, sample_weight: npt.ArrayLike | None) -> Any:
        return class_row_weights(labels, self.class_weight, sample_weight)

    def _validation(
        self,
        eval_set: tuple[object, object, Sequence[object]] | None,
        scalings: list[Scaling | None],
        host_count: int,
    ) -> tuple[FloatArray, FloatArray, list[FloatArray]] | None:
        if eval_set is None:
            return None
        X_val, y_val, hosts_val = eval_set
        guest_val = _matrix(X_val, "eval_set's X_guest")
        matrices = self._host_matrices(hosts_val, len(guest_val))
        if len(matrices) != host_count:
            raise DataError(f"eval_set has {len(matrices)} hosts, training {host_count}")
        labels = _binary_labels(y_val, len(guest_val))
        scaled = [_apply(s, m) for s, m in zip(scalings, [guest_val, *matrices], strict=True)]
        return scaled[0], labels, scaled[1:]

    def _plan_seed(self) -> bytes | None:
        if self.random_state is None:
            return None
        return hashlib.sha256(f"vfl-batch-plan:{self.random_state}".encode()).digest()

    def _run(self, roles: dict[str, Role], wire: bool) -> None:
        guest = roles[GUEST]
        bar = None
        if self.verbose:
            from tqdm import tqdm

            bar = tqdm(total=1, desc="hetero LR", unit="batch")

        def show() -> None:
            if bar is not None:
                done, total = guest.progress
                bar.total = total
                bar.n = done
                bar.refresh()

        try:
            run_locally(
                roles,
                allow_weak_keys=self.allow_weak_key,
                through_codec=wire,
                on_step=show if bar is not None else None,
            )
        except ProtocolError as error:
            raise DataError(f"training failed: {error}") from error
        finally:
            if bar is not None:
                bar.close()

    def _learn(
        self,
        results: list[LrPartyResult],
        scalings: list[Scaling | None],
        matrices: list[FloatArray],
        originals: list[object],
        names: list[str],
    ) -> None:
        models: dict[str, PartyModel] = {}
        for index, (name, result) in enumerate(zip([GUEST, *names], results, strict=True)):
            models[name] = PartyModel(
                party=name,
                role="guest" if index == 0 else "host",
                feature_names=_column_names(
                    originals[index], matrices[index].shape[1], "x" if index == 0 else f"{name}_x"
                ),
                weights=[float(w) for w in result.weights],
                intercept=result.intercept,
                scaling=scalings[index],
                mode=self.mode,
                backend=self.backend,
                key_length=self.key_length,
                peers=[n for n in [GUEST, *names] if n != name],
                history=result.history,
                epochs=result.epochs,
                stop_reason=result.stop_reason,
            )
        self._adopt(models)

    def _adopt(self, models: dict[str, PartyModel]) -> None:
        """Set the learned attributes from every party's model."""
        guest = models[GUEST]
        hosts = [models[name] for name in host_names(len(models) - 1)]
        self.coef_guest_ = np.array(guest.weights)
        self.coef_hosts_ = [np.array(host.weights) for host in hosts]
        self.intercept_ = guest.intercept
        self.history_ = guest.history
        self.n_iter_ = guest.epochs
        self.stop_reason_ = guest.stop_reason
        self.classes_ = np.array([0, 1])
        self._scalings = [model.scaling for model in (guest, *hosts)]
        self.party_models_ = models

    @classmethod
    def from_party_models(
        cls, guest: PartyModel, hosts: Sequence[PartyModel], **params: Any
    ) -> HeteroLogisticRegression:
        """A fitted estimator from saved party models (to score, or to warm-start).

        Parameters
        ----------
        guest : PartyModel
            The guest's model (``PartyModel.load``).
        hosts : sequence of PartyModel
            The hosts' models, in the order their matrices will be passed.
        **params
            Constructor parameters; pass ``warm_start=True`` to continue training
            from these weights with :meth:`fit`.

        Returns
        -------
        HeteroLogisticRegression
            A fitted estimator.

        Raises
        ------
        DataError
            If ``guest`` is not a guest's model or ``hosts`` are not hosts' models.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> models = model.party_models_
        >>> again = HeteroLogisticRegression.from_party_models(models["guest"], [models["host"]])
        >>> bool(np.allclose(again.decision_function(X_guest, [X_host]),
        ...                  model.decision_function(X_guest, [X_host])))
        True
        """
        if guest.role != "guest" or not hosts or any(host.role != "host" for host in hosts):
            raise DataError("from_party_models needs the guest's model and the hosts' models")
        names = host_names(len(hosts))
        models = {GUEST: guest, **dict(zip(names, hosts, strict=True))}
        estimator = cls(**{"mode": guest.mode, "key_length": guest.key_length, **params})
        estimator._adopt(models)
        return estimator

    # prediction -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "party_models_"):
            raise DataError("this model is not fitted yet; call fit() first")

    def decision_function(self, X_guest: object, hosts: Sequence[object]) -> FloatArray:
        """``z = X_g w_g + b + sum_h X_h w_h`` per row, through the scoring protocol.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The guest's rows.
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.

        Returns
        -------
        numpy.ndarray
            The log-odds of class 1, one per row.

        Raises
        ------
        DataError
            If the model is not fitted, or the data are malformed or do not match it.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> z = model.decision_function(X_guest, [X_host])
        >>> z.shape, bool(z[0] < 0 < z[-1])
        ((200,), True)
        """
        self._check_fitted()
        guest_matrix = _matrix(X_guest, "X_guest")
        host_matrices = self._host_matrices(hosts, len(guest_matrix))
        if len(host_matrices) != len(self.coef_hosts_):
            raise DataError(
                f"the model was trained with {len(self.coef_hosts_)} hosts, "
                f"got {len(host_matrices)}"
            )
        names = host_names(len(host_matrices))
        guest_model = self.party_models_[GUEST]
        roles: dict[str, Role] = {
            GUEST: ScoreGuest(
                GUEST,
                "simulated-scoring",
                hosts=names,
                features=_apply(guest_model.scaling, guest_matrix),
                weights=guest_model.weights,
                intercept=guest_model.intercept,
            )
        }
        for name, matrix in zip(names, host_matrices, strict=True):
            model = self.party_models_[name]
            roles[name] = ScoreHost(
                name,
                "simulated-scoring",
                guest=GUEST,
                features=_apply(model.scaling, matrix),
                weights=model.weights,
            )
        run_locally(roles)
        probabilities: FloatArray = roles[GUEST].result
        with np.errstate(divide="ignore"):
            return np.log(probabilities) - np.log1p(-probabilities)

    def predict_proba(self, X_guest: object, hosts: Sequence[object]) -> FloatArray:
        """Probabilities of classes 0 and 1, shape ``(rows, 2)``.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The guest's rows.
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.

        Returns
        -------
        numpy.ndarray
            Column 1 is the probability of the event, column 0 its complement.

        Raises
        ------
        DataError
            If the model is not fitted, or the data are malformed or do not match it.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> probabilities = model.predict_proba(X_guest, [X_host])
        >>> probabilities.shape, bool(np.allclose(probabilities.sum(axis=1), 1.0))
        ((200, 2), True)
        """
        z = self.decision_function(X_guest, hosts)
        positive = np.exp(-np.logaddexp(0.0, -z))
        return np.column_stack([1.0 - positive, positive])

    def predict(
        self, X_guest: object, hosts: Sequence[object], *, threshold: float = 0.5
    ) -> npt.NDArray[np.int64]:
        """0/1 per row (1 when the probability is at least ``threshold``).

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The guest's rows.
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.
        threshold : float, default 0.5
            Probability from which a row is predicted positive.

        Returns
        -------
        numpy.ndarray
            Int64 labels.

        Raises
        ------
        DataError
            If the model is not fitted, or the data are malformed or do not match it.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> model.predict(X_guest[[0, -1]], [X_host[[0, -1]]]).tolist()
        [0, 1]
        """
        return (self.predict_proba(X_guest, hosts)[:, 1] >= threshold).astype(np.int64)

    def score(self, X_guest: object, y: object, hosts: Sequence[object]) -> float:
        """Accuracy at threshold 0.5 (scikit-learn's classifier contract).

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The guest's rows.
        y : array_like
            Their labels (0/1, -1/+1 or bool).
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.

        Returns
        -------
        float
            The share of rows predicted right.

        Raises
        ------
        DataError
            If the model is not fitted, or the data are malformed or do not match it.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> model.score(X_guest, y, [X_host]) > 0.9
        True
        """
        labels = _binary_labels(y, len(_matrix(X_guest, "X_guest")))
        return float(np.mean(self.predict(X_guest, hosts) == labels))

    def evaluate(
        self, X_guest: object, y: object, hosts: Sequence[object], *, threshold: float = 0.5
    ) -> dict[str, float]:
        """AUC, KS, precision, recall, F1 and lift on held-out rows (see :mod:`vfl.metrics`).

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The guest's rows.
        y : array_like
            Their labels (0/1, -1/+1 or bool).
        hosts : sequence of array_like or DataFrame
            Each host's rows, aligned with ``X_guest``.
        threshold : float, default 0.5
            Threshold of precision, recall and F1.

        Returns
        -------
        dict of str to float
            See :func:`vfl.metrics.evaluate`.

        Raises
        ------
        DataError
            If the model is not fitted, or the data are malformed or do not match it.
        MetricError
            If the labels hold only one class.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> report = model.evaluate(X_guest, y, [X_host])
        >>> sorted(report)
        ['auc', 'f1', 'ks', 'lift', 'positives', 'precision', 'recall', 'rows']
        >>> report["rows"], report["positives"]
        (200, 100)
        """
        labels = _binary_labels(y, len(_matrix(X_guest, "X_guest")))
        return metrics.evaluate(
            labels, self.predict_proba(X_guest, hosts)[:, 1], threshold=threshold
        )

    # export ----------------------------------------------------------------------------------
    def to_sklearn(self) -> Any:
        """A scikit-learn ``LogisticRegression`` on the raw columns (guest's, then hosts').

        Returns
        -------
        sklearn.linear_model.LogisticRegression
            See :func:`vfl.models.merge_to_sklearn`.

        Raises
        ------
        DataError
            If the model is not fitted.
        """
        self._check_fitted()
        models = [self.party_models_[name] for name in host_names(len(self.coef_hosts_))]
        return merge_to_sklearn(self.party_models_[GUEST], models)

    def plot_history(self, path: str) -> Any:
        """Write the training curves (loss, validation AUC/KS per epoch) to a PNG.

        Parameters
        ----------
        path : str
            The PNG file to write.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        DataError
            If the model is not fitted.
        ImportError
            If matplotlib is not installed.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     written = model.plot_history(str(Path(folder) / "history.png"))
        ...     written.name, written.read_bytes()[1:4]
        ('history.png', b'PNG')
        """
        from vfl.plots import plot_history

        self._check_fitted()
        return plot_history(self.history_, path, title="hetero logistic regression")


def _apply(scaling: Scaling | None, matrix: FloatArray) -> FloatArray:
    return matrix if scaling is None else scaling.transform(matrix)


def _validation_metrics(labels: FloatArray, probabilities: FloatArray) -> dict[str, float]:
    return {
        "auc": metrics.roc_auc(labels, probabilities),
        "ks": metrics.ks_statistic(labels, probabilities),
    }

"""Hetero logistic regression as a scikit-learn estimator, every party in one process.

:class:`HeteroLogisticRegression` runs the real guest, host and arbiter roles of
:mod:`protocols.hetero_lr` in one process, every message through the wire codec (the
``paillier`` backend), on rows that are already aligned (see :func:`vfl.intersect`).
It is the simulation and evaluation API; deployments run a job file with ``vfl run``
per party.

The data come in one of two forms:

* **one table** split by columns: ``HeteroLogisticRegression(parties={"guest": [...],
  "hosts": [[...], ...]})`` then ``fit(X, y)``, ``predict(X)``.  This is the form
  scikit-learn's tools use (``cross_val_score``, ``GridSearchCV``, ``Pipeline``);
* **one table per party**: ``fit(X_guest, y, hosts=[X_host, ...])``,
  ``predict(X_guest, hosts=[X_host, ...])``.

Either way, DataFrame columns are matched by name at every call (:mod:`vfl.columns`).

Examples
--------
>>> import numpy as np
>>> from sklearn.model_selection import cross_val_score
>>> from vfl import HeteroLogisticRegression
>>> from vfl.datasets import load_builtin
>>> guest, host = load_builtin("breast")  # both files list the ids in the same order
>>> X = np.hstack([guest.features, host.features[:, :5]])  # columns 10-14: the host's
>>> model = HeteroLogisticRegression(  # shared mode, the logistic loss (the defaults)
...     parties={"guest": "rest", "hosts": [[10, 11, 12, 13, 14]]},
...     backend="plaintext",  # the protocol without encryption: a quick example
...     batch_size=100, learning_rate=0.3, max_iter=5, random_state=0)
>>> scores = cross_val_score(model, X, guest.labels, cv=3, scoring="roc_auc")
>>> bool(scores.min() > 0.97)
True
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn import exceptions as sklearn_exceptions  # type: ignore[import-untyped]
from sklearn.base import BaseEstimator, ClassifierMixin  # type: ignore[import-untyped]

from crypto.parallel import parallel_config
from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrPartyResult, LrSettings, ScoreGuest, ScoreHost, get_backend
from protocols.hetero_lr.settings import FLAT_KEYWORDS
from protocols.roles import Role
from vfl.evaluation import metrics
from vfl.exceptions import DataError
from vfl.runtime.local import run_locally
from vfl.steps.hetero_lr import (
    DEFAULTS,
    LrParties,
    build_lr_role,
    class_row_weights,
    lr_party_model,
    shared_mode_refusal,
)
from vfl.tables.columns import as_matrix, column_positions, feature_names, match_columns
from vfl.tables.models import PartyModel, Scaling, merge_to_sklearn

__all__ = ["REST", "HeteroLogisticRegression", "NotFittedError", "class_row_weights"]

FloatArray = npt.NDArray[np.float64]
GUEST, ARBITER = "guest", "arbiter"
REST = "rest"
"""In ``parties``: the party that takes every column no other party lists."""


class NotFittedError(DataError, sklearn_exceptions.NotFittedError):  # type: ignore[misc]
    """The estimator is used before :meth:`HeteroLogisticRegression.fit`.

    Both a :class:`~vfl.exceptions.DataError` and scikit-learn's ``NotFittedError``
    (so ``check_is_fitted`` and scikit-learn's tools recognise it).
    """


def host_names(count: int) -> list[str]:
    """The simulated hosts' party names: ``host`` alone, else ``host-1``, ``host-2``..."""
    return ["host"] if count == 1 else [f"host-{i}" for i in range(1, count + 1)]


def _binary_labels(values: object, rows: int) -> FloatArray:
    """0/1, -1/+1 or bool labels as 0/1 floats (the rule of job files and models)."""
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


def _label_column(y: object, rows: int) -> npt.NDArray[Any]:
    """``y`` as a 1-D array of ``rows`` labels (a column is flattened, with a warning)."""
    from sklearn.utils.validation import column_or_1d  # type: ignore[import-untyped]

    if y is None:
        raise DataError(
            "HeteroLogisticRegression requires y to be passed, but the target y is None"
        )
    try:
        labels: npt.NDArray[Any] = column_or_1d(y, warn=True)
    except (TypeError, ValueError) as error:
        raise DataError(f"y must hold one label per row: {error}") from error
    if labels.shape != (rows,):
        raise DataError(f"y has {labels.size} labels for {rows} rows")
    return labels


def _encode_labels(y: object, rows: int) -> tuple[npt.NDArray[Any], FloatArray]:
    """The two classes (sorted) and 1.0 where a row is of the second (positive) class."""
    from sklearn.utils.multiclass import type_of_target  # type: ignore[import-untyped]

    labels = _label_column(y, rows)
    try:
        kind = type_of_target(labels, input_name="y", raise_unknown=True)
    except ValueError as error:
        raise DataError(str(error)) from error
    if kind == "continuous":
        raise DataError(
            "Unknown label type: continuous. A classifier needs two classes (0/1, -1/+1, "
            "bool, or any two labels), not a regression target"
        )
    if kind != "binary":
        raise DataError(
            "Only binary classification is supported. The type of the target is "
            f"{kind}: hetero logistic regression separates two classes"
        )
    classes = np.unique(labels)
    if len(classes) != 2:
        raise DataError(
            f"y holds one class only ({classes[0]!r}); a classifier needs rows of both classes"
        )
    return classes, (labels == classes[1]).astype(np.float64)


def _checked_sample_weight(sample_weight: object, rows: int) -> FloatArray | None:
    if sample_weight is None:
        return None
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"sample_weight must be numbers: {error}") from error
    if weights.shape != (rows,):
        raise DataError(
            f"sample_weight must hold one weight per row: {rows} rows, shape {weights.shape}"
        )
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise DataError("sample_weight must be finite and not negative")
    if not weights.any():
        raise DataError("sample_weight is zero for every row: at least one weight must be non-zero")
    return weights


def _class_weight_by_position(
    class_weight: object, classes: npt.NDArray[Any]
) -> str | dict[int, float] | None:
    """``class_weight`` with dict keys turned into 0 (``classes[0]``) and 1 (``classes[1]``).

    Keys are the class labels (scikit-learn's rule) or, as before, 0 and 1 for the
    negative and the positive class.
    """
    if not isinstance(class_weight, Mapping):
        return class_weight  # type: ignore[return-value]  # class_row_weights checks it
    labels = classes.tolist()
    keys = list(class_weight)
    if all(key in labels for key in keys):
        return {labels.index(key): float(value) for key, value in class_weight.items()}
    if all(key in (0, 1) for key in keys):
        return {int(key): float(value) for key, value in class_weight.items()}
    raise DataError(
        f"class_weight's keys {keys} must be the classes {labels} (or 0 and 1 for the "
        "negative and the positive class)"
    )


def _resolve_parties(spec: object, names: list[str] | None, width: int) -> list[list[int]]:
    """Each party's column positions in the table (guest first) from a ``parties`` spec.

    Every column goes to exactly one party; a host needs at least one column, the
    guest may be given none (``[]``: it holds only the labels and the intercept).
    """
    form = '{"guest": columns, "hosts": [columns, ...]}'
    if not isinstance(spec, Mapping) or set(spec) != {"guest", "hosts"}:
        raise DataError(f"parties must be a dict {form}, not {spec!r}")
    hosts = spec["hosts"]
    if isinstance(hosts, str | bytes) or not isinstance(hosts, Sequence) or not hosts:
        raise DataError(f"parties['hosts'] must be a non-empty list, one entry per host: {form}")
    entries = [("the guest", spec["guest"])]
    entries += [(f"host {j}", columns) for j, columns in enumerate(hosts, start=1)]
    rest = [who for who, columns in entries if isinstance(columns, str) and columns == REST]
    if len(rest) > 1:
        raise DataError(f'parties: only one party can take "{REST}", not {" and ".join(rest)}')
    resolved: dict[str, list[int]] = {}
    for who, columns in entries:
        if not (isinstance(columns, str) and columns == REST):
            resolved[who] = column_positions(
                columns, names, width, what=f"parties: {who}'s columns"
            )

    def label(positions: list[int]) -> list[Any]:
        return [names[p] for p in positions] if names is not None else positions

    taken = Counter(p for positions in resolved.values() for p in positions)
    shared = sorted(p for p, count in taken.items() if count > 1)
    if shared:
        raise DataError(f"parties: the column(s) {label(shared)} are given to several parties")
    left = [p for p in range(width) if p not in taken]
    if rest:
        if not left:
            raise DataError(
                f'parties: "{REST}" leaves no column for {rest[0]}: X has {width} '
                "feature(s) and the other parties take them all"
            )
        resolved[rest[0]] = left
    elif left:
        raise DataError(
            f"parties: the column(s) {label(left)} belong to no party; give them to one, "
            f'drop them from X, or give one party "{REST}"'
        )
    for who, positions in resolved.items():
        if who != "the guest" and not positions:
            raise DataError(f"parties: {who} has no column")
    return [resolved[who] for who, _ in entries]


@dataclass(frozen=True)
class _PartyData:
    """Training data split into parties (guest first), with what fit records about it."""

    matrices: list[FloatArray]
    names: list[list[str]]  # each party's feature names, as its model stores them
    known: list[bool]  # whether each party's names came from the data (matched later)
    table_names: list[str] | None  # feature_names_in_
    width: int  # n_features_in_
    layout: list[list[int]] | None  # the single-table form: each party's table positions


class HeteroLogisticRegression(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Vertical federated logistic regression (guest with labels, one or more hosts).

    A scikit-learn classifier (``BaseEstimator``, ``ClassifierMixin``): ``clone``,
    ``get_params``/``set_params``, ``check_is_fitted``, tags and the HTML ``repr``
    work, and in the single-table form (``parties=...``) so do ``cross_val_score``,
    ``GridSearchCV`` and ``Pipeline``.  Every fit runs the federated protocol (all
    parties in this process, messages through the wire codec).

    Parameters
    ----------
    parties : dict or None, default None
        The single-table form: ``{"guest": columns, "hosts": [columns, ...]}`` says
        which columns of the one table ``X`` each party holds (names for a DataFrame,
        0-based positions for an array or a DataFrame).  One party may be given
        ``"rest"``: every column no other party lists (``{"guest": "rest", "hosts":
        [["income", "debt"]]}``).  Every column must go to exactly one party; each host
        needs one at least, the guest may be given ``[]`` (labels and intercept only).
        ``None``: pass each host's table as ``hosts=[...]`` instead.
    mode : {"shared", "two-party", "arbiter"}, default "shared"
        Shared: weights, scores, residuals and gradients exist only as additive
        shares, so no party learns a gradient (one or more hosts; the guest and the
        first host each hold a Paillier key); it runs the sgd, momentum and nesterov
        optimisers, the L2 penalty, ``convergence`` "loss" or "max_iter", and no label
        privacy or L1 penalty.  Two-party: each party holds its own
        Paillier key (one host).  Arbiter: a third party holds the key and decrypts
        only masked values (one or more hosts).  In these two modes every party learns
        its exact gradient per batch (SECURITY.md §11).
    loss : {"logistic", "taylor"} or None, default None
        ``"logistic"``: the logistic loss, its sigmoid evaluated on shares by a
        polynomial (shared mode only).  ``"taylor"``: its second-order Taylor
        approximation (the only loss of the two-party and arbiter modes).  ``None``:
        ``"logistic"`` in shared mode, ``"taylor"`` otherwise.
    key_length : int, default 2048
    allow_weak_key : bool, default False
        Allow keys under 2048 bits (tests only).
    batch_size : int, default 1024
        Minimum rows per mini-batch.  Every batch needs more rows than the guest's
        features; in the two-party and arbiter modes the protocol also refuses
        batches that could reveal labels (SECURITY.md §11): enough label information
        for each host's gradient width.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    learning_rate : float, default 0.1
    penalty : {"l2", "l1", "none"}, default "l2"
    alpha : float, default 0.0
        Penalty strength (the guest's intercept is not penalised).
    decay : float, default 0.0
        Learning-rate decay per epoch; ``decay_sqrt`` picks ``1/sqrt`` decay.
    decay_sqrt : bool, default False
    max_iter : int or None, default None
        Maximum epochs; ``None``: 20 in shared mode (the polynomial sigmoid at
        learning rate 0.1 needs about 20 epochs to come within 0.005 AUC of
        scikit-learn), 10 in the other modes.
    tol : float, default 1e-4
    convergence : {"loss", "weights", "max_iter"}, default "loss"
    early_stopping : {"auc", "ks"} or None
        Stop when the validation metric (``eval_set``) stops improving and keep the
        best epoch.
    patience : int, default 3
    class_weight : "balanced", dict or None
        Row weights per class (rare fraud labels); multiplied with ``sample_weight``.
        Dict keys are the class labels (or 0 and 1 for the negative and the positive
        class).
    fit_intercept : bool, default True
    standardize : bool, default True
        Each party standardises its own features on its training rows.
    backend : {"paillier", "phe", "plaintext"}, default "paillier"
    n_jobs : int or None
        Workers for the cryptography (``-1``: every core).
    random_state : int or None
        Fixes the batch plan and (two-party and arbiter modes) the guest's secret
        initial weights (reproducible experiments); keys, obfuscators, masks and
        shares always come from the CSPRNG.
    warm_start : bool, default False
        Start from the previous fit's weights.
    verbose : bool, default False
        Show a progress bar.
    label_privacy_epsilon : float or None, default None
        Label differential privacy: the guest adds Gaussian noise to the residual it
        sends each host, so each host's gradients over the run are
        ``(epsilon, label_privacy_delta)``-DP per label
        (:mod:`protocols.hetero_lr.privacy`).  Needs no class or sample weights;
        two-party and arbiter modes only (shared mode reveals no gradient).
    label_privacy_delta : float, default 1e-5
    executor : concurrent.futures.Executor or None, default None
        Run every cryptographic kernel (of every simulated party) on this executor,
        e.g. a Dask cluster's: ``vfl.runtime.compute.ClusterExecutor(client)``
        (``docs/dask.md``), which cuts each operation into as many pieces as the
        cluster has threads.  ``None``: this machine's pools (``n_jobs``).

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
        The two labels seen in ``fit``, sorted; ``classes_[1]`` is the positive class
        (``[0, 1]`` for 0/1 labels and for :meth:`from_party_models`).
    n_features_in_ : int
        Columns of ``X`` at fit: the whole table (single-table form) or the guest's.
    feature_names_in_ : numpy.ndarray
        Their names, when ``X`` was a DataFrame with string column names.  Each
        party's own names are in its model (``party_models_[name].feature_names``).
    party_models_ : dict of str to PartyModel
        Every party's model as it would save it.

    Examples
    --------
    A guest with two features and the labels, one host with one feature, in one
    table (the single-table form):

    >>> import numpy as np
    >>> import pandas as pd
    >>> x = np.linspace(-1.0, 1.0, 200)
    >>> X = pd.DataFrame({"x": x, "wave": np.cos(5 * x), "host_score": np.sin(3 * x)})
    >>> y = (x + np.sin(3 * x) > 0).astype(int)
    >>> model = HeteroLogisticRegression(
    ...     parties={"guest": ["x", "wave"], "hosts": [["host_score"]]},
    ...     key_length=1024, allow_weak_key=True, batch_size=100, learning_rate=1.0,
    ...     max_iter=3, convergence="max_iter", random_state=0)
    >>> model = model.fit(X, y)
    >>> model.n_iter_, model.stop_reason_, len(model.coef_guest_), len(model.coef_hosts_[0])
    (3, 'max_iter', 2, 1)
    >>> model.party_models_["guest"].mode, model.party_models_["guest"].loss
    ('shared', 'logistic')
    >>> model.predict(X.iloc[[0, -1]]).tolist()
    [0, 1]
    >>> reordered = X[["host_score", "x", "wave"]]  # matched by name
    >>> bool(np.array_equal(model.predict_proba(reordered), model.predict_proba(X)))
    True

    The same parties, one table each (rows already aligned, see :func:`vfl.intersect`):

    >>> X_guest, X_host = X[["x", "wave"]], X[["host_score"]]
    >>> again = HeteroLogisticRegression(key_length=1024, allow_weak_key=True,
    ...                                  batch_size=100, learning_rate=1.0, max_iter=3,
    ...                                  convergence="max_iter", random_state=0)
    >>> again = again.fit(X_guest, y, hosts=[X_host])
    >>> again.evaluate(X_guest, y, hosts=[X_host])["auc"]
    1.0
    """

    def __init__(
        self,
        *,
        parties: Mapping[str, Any] | None = None,
        mode: str = DEFAULTS["mode"],
        loss: str | None = DEFAULTS["loss"],
        key_length: int = DEFAULTS["key_length"],
        allow_weak_key: bool = DEFAULTS["allow_weak_key"],
        batch_size: int = DEFAULTS["batch_size"],
        optimizer: str = DEFAULTS["optimizer"],
        learning_rate: float = DEFAULTS["learning_rate"],
        penalty: str = DEFAULTS["penalty"],
        alpha: float = DEFAULTS["alpha"],
        decay: float = DEFAULTS["decay"],
        decay_sqrt: bool = DEFAULTS["decay_sqrt"],
        max_iter: int | None = DEFAULTS["max_iter"],
        tol: float = DEFAULTS["tol"],
        convergence: str = DEFAULTS["convergence"],
        early_stopping: str | None = DEFAULTS["early_stopping"],
        patience: int = DEFAULTS["patience"],
        class_weight: str | dict[Any, float] | None = DEFAULTS["class_weight"],
        fit_intercept: bool = DEFAULTS["fit_intercept"],
        standardize: bool = DEFAULTS["standardize"],
        backend: str = DEFAULTS["backend"],
        n_jobs: int | None = DEFAULTS["n_jobs"],
        random_state: int | None = None,
        warm_start: bool = False,
        verbose: bool = False,
        label_privacy_epsilon: float | None = DEFAULTS["label_privacy_epsilon"],
        label_privacy_delta: float = DEFAULTS["label_privacy_delta"],
        executor: Executor | None = None,
    ) -> None:
        self.parties = parties
        self.mode = mode
        self.loss = loss
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
        self.executor = executor

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
        params: dict[str, Any] = super().get_params(deep=deep)
        return params

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
        HeteroLogisticRegression(alpha=0.01, penalty='l1')
        """
        valid = self.get_params(deep=False)
        unknown = sorted(name for name in params if name not in valid)
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; valid: {sorted(valid)}")
        result: HeteroLogisticRegression = super().set_params(**params)
        return result

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a binary classifier of dense, finite tables."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` (or :meth:`from_party_models`) has run."""
        return hasattr(self, "party_models_")

    def settings(self) -> LrSettings:
        """The protocol settings these parameters describe.

        Returns
        -------
        LrSettings
            What every party's role is given.

        Raises
        ------
        ProtocolError
            If a parameter is invalid, or ``mode="shared"`` cannot train with it (an
            adaptive optimiser, an L1 penalty, ``convergence="weights"``,
            label privacy).

        Examples
        --------
        >>> settings = HeteroLogisticRegression().settings()
        >>> settings.mode, settings.loss_name, settings.max_iter
        ('shared', 'logistic', 20)
        >>> HeteroLogisticRegression(mode="two-party", optimizer="adam").settings().max_iter
        10
        >>> HeteroLogisticRegression(optimizer="adam").settings()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        protocols.exceptions.ProtocolError: shared mode cannot run the "adam" optimizer ...
        """
        params = self.get_params()
        settings = LrSettings.from_flat(**{key: params[key] for key in FLAT_KEYWORDS})
        refusal = shared_mode_refusal(settings, job_file=False)
        if refusal is not None:
            raise ProtocolError(refusal[1])
        return settings

    # training ---------------------------------------------------------------------------
    def fit(
        self,
        X_guest: object,
        y: object,
        hosts: Sequence[object] | None = None,
        *,
        sample_weight: npt.ArrayLike | None = None,
        eval_set: tuple[object, ...] | None = None,
    ) -> HeteroLogisticRegression:
        """Train: on one table split by ``parties``, or on each party's aligned table.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The single-table form (``parties`` set, no ``hosts``): the whole table.
            Otherwise: the guest's rows.  DataFrame column names (strings) become the
            feature names, and are matched by name at every later call.
        y : array_like
            Two classes: 0/1, -1/+1, bool or any two labels; the larger one (sorted)
            is the positive class, ``classes_[1]``.
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``; leave out in the single-table
            form.
        sample_weight : array_like, optional
            A non-negative weight per row.
        eval_set : tuple, optional
            Validation rows for early stopping: ``(X_val, y_val)`` in the
            single-table form, ``(X_guest_val, y_val, [X_host_val, ...])`` otherwise.

        Returns
        -------
        HeteroLogisticRegression
            ``self``.

        Raises
        ------
        DataError
            If the data are malformed or not aligned, ``parties`` does not fit the
            table, ``y`` does not hold exactly two classes, the number of hosts does
            not fit the mode, or training fails (the protocol's refusal is chained).
        ProtocolError
            If a parameter is invalid.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> model = HeteroLogisticRegression(batch_size=50, backend="plaintext")
        >>> model = model.fit(X_guest, y, hosts=[X_host])
        >>> model.n_iter_ <= 20, model.classes_.tolist(), model.n_features_in_
        (True, [0, 1], 2)

        The single-table form, with the arrays' columns by position (the host holds
        column 2) and any two labels:

        >>> X = np.hstack([X_guest, X_host])
        >>> labels = np.where(y == 1, "yes", "no")
        >>> model = HeteroLogisticRegression(parties={"guest": [0, 1], "hosts": [[2]]},
        ...                                  batch_size=50, backend="plaintext")
        >>> model = model.fit(X, labels)
        >>> model.classes_.tolist(), model.predict(X[[0, -1]]).tolist()
        (['no', 'yes'], ['no', 'yes'])
        """
        data = self._split_for_fit(X_guest, hosts)
        rows = len(data.matrices[0])
        classes, labels = _encode_labels(y, rows)
        sample_weights = _checked_sample_weight(sample_weight, rows)
        if sample_weights is not None:
            for index, label in enumerate(classes.tolist()):
                if not sample_weights[labels == index].any():
                    raise DataError(
                        f"sample_weight is zero on every row of class {label!r}: a "
                        "classifier needs weight on both classes"
                    )
        weights = class_row_weights(
            labels, _class_weight_by_position(self.class_weight, classes), sample_weights
        )
        settings = self.settings()
        host_count = len(data.matrices) - 1
        if self.mode == "two-party" and host_count != 1:
            raise DataError(
                f"two-party mode trains with exactly one host, got {host_count}; "
                "use mode='shared' (the default) or mode='arbiter' for several hosts"
            )
        backend = get_backend(self.backend)
        warm = self.warm_start and hasattr(self, "party_models_")
        if warm:
            previous = [len(self.coef_guest_), *(len(c) for c in self.coef_hosts_)]
            if previous != [m.shape[1] for m in data.matrices]:
                raise DataError(
                    "warm_start continues the previous fit, which had "
                    f"{previous} features per party (guest first); got "
                    f"{[m.shape[1] for m in data.matrices]}"
                )
            scalings = self._scalings
        else:
            scalings = [Scaling.fit(m) if self.standardize else None for m in data.matrices]
        scaled = [_apply(s, m) for s, m in zip(scalings, data.matrices, strict=True)]
        validation = self._validation(eval_set, data, scalings, classes)
        names = host_names(host_count)
        lr_parties = LrParties(GUEST, tuple(names), ARBITER if self.mode == "arbiter" else None)
        job_id = "simulated-hetero-lr"
        guest_start = None
        if warm:
            guest_start = np.append(self.coef_guest_, self.intercept_ if self.fit_intercept else [])
        roles: dict[str, Role] = {
            GUEST: build_lr_role(
                "guest",
                GUEST,
                job_id,
                lr_parties,
                settings,
                self.backend,
                features=scaled[0],
                labels=labels,
                sample_weight=weights,
                validation=None if validation is None else validation[0][0],
                validation_labels=None if validation is None else validation[1],
                evaluate=_validation_metrics,
                initial_weights=guest_start,
                initial_weights_seed=self._initial_weights_seed(),
                plan_seed=self._plan_seed(),
            )
        }
        for index, name in enumerate(names):
            roles[name] = build_lr_role(
                "host",
                name,
                job_id,
                lr_parties,
                settings,
                self.backend,
                features=scaled[index + 1],
                validation=None if validation is None else validation[0][index + 1],
                initial_weights=self.coef_hosts_[index] if warm else None,
            )
        if lr_parties.arbiter is not None:
            roles[ARBITER] = build_lr_role(
                "arbiter", ARBITER, job_id, lr_parties, settings, self.backend
            )
        self._run(roles, backend.wire)
        results: list[LrPartyResult] = [roles[name].result for name in [GUEST, *names]]
        self._learn(results, scalings, data, lr_parties, settings, classes)
        return self

    def _split_for_fit(self, X: object, hosts: Sequence[object] | None) -> _PartyData:
        if hosts is None:
            if self.parties is None:
                raise DataError(
                    "pass each host's aligned rows as hosts=[X_host, ...], or split one "
                    'table with parties={"guest": columns, "hosts": [columns, ...]}'
                )
            table = as_matrix(X, "X")
            table_names = feature_names(X)
            width = table.shape[1]
            layout = _resolve_parties(self.parties, table_names, width)
            return _PartyData(
                matrices=[table[:, positions] for positions in layout],
                names=[
                    [table_names[p] if table_names is not None else f"x{p}" for p in positions]
                    for positions in layout
                ],
                known=[table_names is not None] * len(layout),
                table_names=table_names,
                width=width,
                layout=layout,
            )
        if self.parties is not None:
            raise DataError(
                "this estimator splits one table (parties is set): call fit(X, y) without "
                "hosts, or set parties=None to pass each host's rows"
            )
        guest = as_matrix(X, "X_guest", min_features=0)
        matrices = [guest, *self._host_matrices(hosts, len(guest))]
        given = [feature_names(data) for data in [X, *hosts]]
        prefixes = ["x", *(f"{name}_x" for name in host_names(len(hosts)))]
        return _PartyData(
            matrices=matrices,
            names=[
                names if names is not None else [f"{prefix}{i}" for i in range(m.shape[1])]
                for names, prefix, m in zip(given, prefixes, matrices, strict=True)
            ],
            known=[names is not None for names in given],
            table_names=given[0],
            width=guest.shape[1],
            layout=None,
        )

    def _host_matrices(self, hosts: Sequence[object], rows: int) -> list[FloatArray]:
        if not isinstance(hosts, list | tuple) or not hosts:
            raise DataError("hosts must be a non-empty list of each host's feature matrix")
        matrices = [as_matrix(h, f"hosts[{i}]") for i, h in enumerate(hosts)]
        for index, matrix in enumerate(matrices):
            if len(matrix) != rows:
                raise DataError(
                    f"hosts[{index}] has {len(matrix)} rows, X_guest {rows}; the rows must "
                    "be aligned (use vfl.intersect)"
                )
        return matrices

    def _validation(
        self,
        eval_set: tuple[object, ...] | None,
        data: _PartyData,
        scalings: list[Scaling | None],
        classes: npt.NDArray[Any],
    ) -> tuple[list[FloatArray], FloatArray] | None:
        if eval_set is None:
            return None
        owner = type(self).__name__
        if data.layout is not None:
            if not isinstance(eval_set, tuple | list) or len(eval_set) != 2:
                raise DataError("eval_set must be (X_val, y_val) in the single-table form")
            X_val, y_val = eval_set
            table = match_columns(
                X_val, data.table_names, data.width, what="eval_set's X", owner=owner
            )
            matrices = [table[:, positions] for positions in data.layout]
        else:
            if not isinstance(eval_set, tuple | list) or len(eval_set) != 3:
                raise DataError("eval_set must be (X_guest_val, y_val, [X_host_val, ...])")
            X_val, y_val, hosts_val = eval_set
            if not isinstance(hosts_val, list | tuple) or len(hosts_val) != len(data.names) - 1:
                raise DataError(
                    f"eval_set needs {len(data.names) - 1} host table(s), like training"
                )
            matrices = [
                match_columns(
                    value,
                    names if known else None,
                    len(names),
                    what="eval_set's X_guest" if index == 0 else f"eval_set's hosts[{index - 1}]",
                    owner=owner,
                    min_features=0,
                )
                for index, (value, names, known) in enumerate(
                    zip([X_val, *hosts_val], data.names, data.known, strict=True)
                )
            ]
            for index, matrix in enumerate(matrices[1:]):
                if len(matrix) != len(matrices[0]):
                    raise DataError(
                        f"eval_set's hosts[{index}] has {len(matrix)} rows, its X_guest "
                        f"{len(matrices[0])}; the rows must be aligned"
                    )
        labels = _label_column(y_val, len(matrices[0]))
        unknown = [value for value in np.unique(labels).tolist() if value not in classes.tolist()]
        if unknown:
            raise DataError(
                f"eval_set's y holds {unknown[:5]}, which are not the classes "
                f"{classes.tolist()} of the training labels"
            )
        scaled = [_apply(s, m) for s, m in zip(scalings, matrices, strict=True)]
        return scaled, (labels == classes[1]).astype(np.float64)

    def _plan_seed(self) -> bytes | None:
        if self.random_state is None:
            return None
        return hashlib.sha256(f"vfl-batch-plan:{self.random_state}".encode()).digest()

    def _initial_weights_seed(self) -> bytes | None:
        if self.random_state is None:
            return None  # fresh from the CSPRNG: nobody can predict the guest's start
        return hashlib.sha256(f"vfl-initial-weights:{self.random_state}".encode()).digest()

    def _compute(self) -> contextlib.AbstractContextManager[Any]:
        """Where the kernels run: ``executor`` if set, else the crypto defaults."""
        if self.executor is None:
            return contextlib.nullcontext()
        return parallel_config(n_jobs=self.n_jobs, executor=self.executor)

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
            with self._compute():
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
        data: _PartyData,
        parties: LrParties,
        settings: LrSettings,
        classes: npt.NDArray[Any],
    ) -> None:
        models: dict[str, PartyModel] = {}
        names = [parties.guest, *parties.hosts]
        for index, (name, result) in enumerate(zip(names, results, strict=True)):
            models[name] = lr_party_model(
                name,
                "guest" if index == 0 else "host",
                data.names[index],
                result,
                scalings[index],
                parties=parties,
                settings=settings,
                backend=self.backend,
            )
        self._adopt(models)
        self.classes_ = classes
        self.n_features_in_ = data.width
        if data.table_names is not None:
            self.feature_names_in_ = np.asarray(data.table_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._layout = data.layout
        self._names_known = data.known

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
        self._scalings = [model.scaling for model in (guest, *hosts)]
        self.party_models_ = models

    @classmethod
    def from_party_models(
        cls, guest: PartyModel, hosts: Sequence[PartyModel], **params: Any
    ) -> HeteroLogisticRegression:
        """A fitted estimator from saved party models (to score, or to warm-start).

        It scores in the form with one table per party (``hosts=[...]``); a
        DataFrame's columns are matched by name with each model's ``feature_names``.

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
            A fitted estimator, with ``classes_`` ``[0, 1]``.

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
        estimator.classes_ = np.array([0, 1])
        estimator.n_features_in_ = len(guest.weights)
        estimator.feature_names_in_ = np.asarray(guest.feature_names, dtype=object)
        estimator._layout = None
        estimator._names_known = [True] * (len(hosts) + 1)
        return estimator

    # prediction -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "party_models_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def _split_for_scoring(self, X: object, hosts: Sequence[object] | None) -> list[FloatArray]:
        """Each party's rows to score (guest first), columns matched to the fitted ones."""
        self._check_fitted()
        owner = type(self).__name__
        if hosts is None:
            layout = getattr(self, "_layout", None)
            if layout is None:
                raise DataError(
                    "this model scores one table per party: pass hosts=[X_host, ...] "
                    "(fit with parties=... to score a single table)"
                )
            names = getattr(self, "feature_names_in_", None)
            table = match_columns(
                X,
                None if names is None else names.tolist(),
                self.n_features_in_,
                what="X",
                owner=owner,
            )
            return [table[:, positions] for positions in layout]
        if not isinstance(hosts, list | tuple) or not hosts:
            raise DataError("hosts must be a non-empty list of each host's feature matrix")
        if len(hosts) != len(self.coef_hosts_):
            raise DataError(
                f"the model was trained with {len(self.coef_hosts_)} hosts, got {len(hosts)}"
            )
        models = [self.party_models_[name] for name in [GUEST, *host_names(len(self.coef_hosts_))]]
        known = getattr(self, "_names_known", [True] * len(models))
        matrices = [
            match_columns(
                data,
                model.feature_names if known[index] else None,
                len(model.weights),
                what="X_guest" if index == 0 else f"hosts[{index - 1}]",
                owner=f"{owner} ({model.party}'s model)",
                min_features=0,
            )
            for index, (data, model) in enumerate(zip([X, *hosts], models, strict=True))
        ]
        for index, matrix in enumerate(matrices[1:]):
            if len(matrix) != len(matrices[0]):
                raise DataError(
                    f"hosts[{index}] has {len(matrix)} rows, X_guest {len(matrices[0])}; the "
                    "rows must be aligned (use vfl.intersect)"
                )
        return matrices

    def _positives(self, y: object, rows: int) -> FloatArray:
        """1.0 where a label is the positive class ``classes_[1]``."""
        labels = _label_column(y, rows)
        classes = self.classes_.tolist()
        seen = np.unique(labels).tolist()
        if all(value in classes for value in seen):
            positives: FloatArray = (labels == self.classes_[1]).astype(np.float64)
            return positives
        if classes == [0, 1]:
            return _binary_labels(labels, rows)  # -1/+1 for a model loaded from files
        raise DataError(f"y holds {seen[:5]}, but the model's classes are {classes}")

    def decision_function(
        self, X_guest: object, hosts: Sequence[object] | None = None
    ) -> FloatArray:
        """``z = X_g w_g + b + sum_h X_h w_h`` per row, through the scoring protocol.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The whole table (single-table form, ``hosts`` left out), or the guest's
            rows.  A DataFrame's columns are matched by name (any order); an array's
            by position.
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``.

        Returns
        -------
        numpy.ndarray
            The log-odds of the positive class ``classes_[1]``, one per row.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        DataError
            If the data are malformed or do not match the model: a DataFrame lacking
            a fitted column or holding another one, or an array of another width.

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
        matrices = self._split_for_scoring(X_guest, hosts)
        names = host_names(len(matrices) - 1)
        guest_model = self.party_models_[GUEST]
        roles: dict[str, Role] = {
            GUEST: ScoreGuest(
                GUEST,
                "simulated-scoring",
                hosts=names,
                features=_apply(guest_model.scaling, matrices[0]),
                weights=guest_model.weights,
                intercept=guest_model.intercept,
            )
        }
        for name, matrix in zip(names, matrices[1:], strict=True):
            model = self.party_models_[name]
            roles[name] = ScoreHost(
                name,
                "simulated-scoring",
                guest=GUEST,
                features=_apply(model.scaling, matrix),
                weights=model.weights,
            )
        with self._compute():
            run_locally(roles)
        probabilities: FloatArray = roles[GUEST].result
        with np.errstate(divide="ignore"):
            z: FloatArray = np.log(probabilities) - np.log1p(-probabilities)
        return z

    def predict_proba(self, X_guest: object, hosts: Sequence[object] | None = None) -> FloatArray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, shape ``(rows, 2)``.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The whole table (single-table form), or the guest's rows; see
            :meth:`decision_function`.
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``.

        Returns
        -------
        numpy.ndarray
            Column 1 is the probability of the positive class, column 0 its complement.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        DataError
            If the data are malformed or do not match the model.

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
        self, X_guest: object, hosts: Sequence[object] | None = None, *, threshold: float = 0.5
    ) -> npt.NDArray[Any]:
        """The class per row: ``classes_[1]`` when its probability is at least ``threshold``.

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The whole table (single-table form), or the guest's rows; see
            :meth:`decision_function`.
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``.
        threshold : float, default 0.5
            Probability from which a row is predicted positive.

        Returns
        -------
        numpy.ndarray
            Labels from ``classes_`` (int64 0/1 for 0/1 labels).

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        DataError
            If the data are malformed or do not match the model.

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
        positive = self.predict_proba(X_guest, hosts)[:, 1] >= threshold
        predicted: npt.NDArray[Any] = self.classes_[positive.astype(np.int64)]
        return predicted

    def score(
        self,
        X_guest: object,
        y: object,
        hosts: Sequence[object] | None = None,
        *,
        sample_weight: npt.ArrayLike | None = None,
    ) -> float:
        """Accuracy at threshold 0.5 (scikit-learn's classifier contract).

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The whole table (single-table form), or the guest's rows.
        y : array_like
            Their labels (the model's classes; 0/1, -1/+1 or bool for models loaded
            with :meth:`from_party_models`).
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``.
        sample_weight : array_like, optional
            A weight per row.

        Returns
        -------
        float
            The (weighted) share of rows predicted right.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        DataError
            If the data are malformed or do not match the model.

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
        probabilities = self.predict_proba(X_guest, hosts)[:, 1]
        positives = self._positives(y, len(probabilities))
        right = (probabilities >= 0.5) == (positives > 0)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        return float(np.average(right, weights=weights))

    def evaluate(
        self,
        X_guest: object,
        y: object,
        hosts: Sequence[object] | None = None,
        *,
        threshold: float = 0.5,
    ) -> dict[str, float]:
        """AUC, KS, precision, recall, F1 and lift on held-out rows (see :mod:`vfl.metrics`).

        Parameters
        ----------
        X_guest : array_like or DataFrame
            The whole table (single-table form), or the guest's rows.
        y : array_like
            Their labels (see :meth:`score`).
        hosts : sequence of array_like or DataFrame, optional
            Each host's rows, aligned with ``X_guest``.
        threshold : float, default 0.5
            Threshold of precision, recall and F1.

        Returns
        -------
        dict of str to float
            See :func:`vfl.metrics.evaluate`.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        DataError
            If the data are malformed or do not match the model.
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
        probabilities = self.predict_proba(X_guest, hosts)[:, 1]
        labels = self._positives(y, len(probabilities))
        return metrics.evaluate(labels, probabilities, threshold=threshold)

    # export ----------------------------------------------------------------------------------
    def to_sklearn(self) -> Any:
        """A scikit-learn ``LogisticRegression`` on the raw columns.

        The columns are the table's, in its order, in the single-table form; else the
        guest's, then each host's.  Every party's scaling is folded in.

        Returns
        -------
        sklearn.linear_model.LogisticRegression
            See :func:`vfl.models.merge_to_sklearn`; with this model's ``classes_``
            (and ``feature_names_in_`` when fitted on a DataFrame in the single-table
            form).

        Raises
        ------
        NotFittedError
            If the model is not fitted.

        Examples
        --------
        >>> import numpy as np
        >>> from vfl.datasets import make_toy_hetero
        >>> X_guest, y, X_host = make_toy_hetero()
        >>> X = np.hstack([X_host, X_guest])  # the host's column first
        >>> model = HeteroLogisticRegression(parties={"guest": "rest", "hosts": [[0]]},
        ...                                  batch_size=50, backend="plaintext").fit(X, y)
        >>> exported = model.to_sklearn()
        >>> bool(np.allclose(exported.predict_proba(X), model.predict_proba(X)))
        True
        """
        self._check_fitted()
        models = [self.party_models_[name] for name in host_names(len(self.coef_hosts_))]
        merged = merge_to_sklearn(self.party_models_[GUEST], models)
        merged.classes_ = self.classes_.copy()
        layout = getattr(self, "_layout", None)
        if layout is not None:
            order = np.concatenate([np.asarray(p, dtype=np.int64) for p in layout])
            coefficients = np.zeros((1, self.n_features_in_))
            coefficients[0, order] = merged.coef_[0]
            merged.coef_ = coefficients
            merged.n_features_in_ = self.n_features_in_
            if hasattr(self, "feature_names_in_"):
                merged.feature_names_in_ = self.feature_names_in_.copy()
        return merged

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
        NotFittedError
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
        from vfl.evaluation.plots import plot_history

        self._check_fitted()
        return plot_history(self.history_, path, title="hetero logistic regression")


def _apply(scaling: Scaling | None, matrix: FloatArray) -> FloatArray:
    return matrix if scaling is None else scaling.transform(matrix)


def _validation_metrics(labels: FloatArray, probabilities: FloatArray) -> dict[str, float]:
    return {
        "auc": metrics.roc_auc(labels, probabilities),
        "ks": metrics.ks_statistic(labels, probabilities),
    }

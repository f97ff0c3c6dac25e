"""Per-party model files: each party keeps only its own weights.

A :class:`PartyModel` holds one party's share of a hetero logistic regression: its
feature names, its coefficients, its own scaling, the intercept (guest only), the
training history and the parameters that produced it; after a ``binning`` step also
the party's binning (its bins, WOE values, IVs and selection:
:class:`~vfl.tables.binning_model.PartyBinning`), whose WOE columns the weights apply
to, and after a ``scorecard`` step its points table
(:class:`~vfl.tables.scorecard_model.PartyPoints`).  It is saved as JSON, never
pickled, and loaded with validation.  :func:`merge_to_sklearn` builds a single
scikit-learn ``LogisticRegression`` from every party's file: it needs all of them,
so it happens only when every party agrees to hand its file over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from vfl.exceptions import DataError
from vfl.runtime.files import write_json_atomically
from vfl.tables.mapped import column_moments, folder_of, map_rows

if TYPE_CHECKING:
    from vfl.tables.binning_model import PartyBinning
    from vfl.tables.scorecard_model import PartyPoints

__all__ = ["MODEL_FORMAT_VERSION", "PartyModel", "Scaling", "merge_to_sklearn", "signed_log"]

MODEL_FORMAT_VERSION = 4
"""Written into every model file.  Version 2 added the scaling's ``log`` flags, version 3
the ``loss`` trained, version 4 the party's ``binning`` and scorecard ``points`` (each
``null`` when the model has none)."""
READABLE_MODEL_VERSIONS = (1, 2, 3, 4)
"""Model file versions this engine reads (version 1 files have no log transform; versions
1 and 2 no ``loss``: they were trained with the Taylor loss, the only one then; versions
1 to 3 no ``binning`` or ``points``: they were trained on the raw columns)."""
LOSSES = ("logistic", "taylor")
"""The losses a model may have been trained with (``protocols.hetero_lr.settings.LOSSES``)."""
_LOSS_SINCE = 3
"""The first model file version that records the loss."""
_BINNING_SINCE = 4
"""The first model file version that records the binning and the points."""
BINNED_ONLY = "binned"
"""The ``mode`` of a model that holds a binning but no trained weights yet: what a
``binning`` step hands the next steps (:meth:`PartyModel.binned`); never saved."""
FloatArray = npt.NDArray[np.float64]


def signed_log(values: npt.ArrayLike) -> FloatArray:
    """``sign(x) * log(1 + |x|)``: tames heavy-tailed amounts, keeps sign and zero.

    Examples
    --------
    >>> signed_log([0.0, -1.0, 99.0]).round(4).tolist()
    [0.0, -0.6931, 4.6052]
    """
    array = np.asarray(values, dtype=np.float64)
    result: FloatArray = np.sign(array) * np.log1p(np.abs(array))
    return result


@dataclass(frozen=True)
class Scaling:
    """A party's own feature transform: optional signed log, then ``(x - mean) / scale``.

    Attributes
    ----------
    mean, scale : tuple of float
        Per feature, after the log transform (``0`` and ``1`` when not standardising).
    log : tuple of bool
        Per feature, whether :func:`signed_log` is applied first (empty: none).

    Examples
    --------
    >>> import numpy as np
    >>> scaling = Scaling.fit(np.array([[1.0, 0.0], [3.0, 99.0]]), log=[False, True])
    >>> scaling.transform(np.array([[2.0, 99.0]])).round(4).tolist()
    [[0.0, 1.0]]
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    log: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.mean) or len(self.log) not in (0, len(self.mean)):
            raise DataError(
                f"a scaling needs as many scales ({len(self.scale)}) and log flags "
                f"({len(self.log)}) as means ({len(self.mean)})"
            )
        if not all(math.isfinite(v) for v in self.mean) or not all(
            math.isfinite(v) and v > 0 for v in self.scale
        ):
            raise DataError("a scaling needs finite means and positive finite scales")

    @classmethod
    def fit(
        cls,
        features: FloatArray,
        *,
        log: npt.ArrayLike | None = None,
        standardize: bool = True,
    ) -> Scaling:
        """Fit on the training rows.

        Parameters
        ----------
        features : numpy.ndarray
            The training rows, one column per feature.
        log : sequence of bool, optional
            Per column, whether to apply :func:`signed_log` first.
        standardize : bool, default True
            Subtract the mean and divide by the standard deviation (1 where constant);
            with ``False`` only the log transform is applied.

        Returns
        -------
        Scaling
        """
        flags = () if log is None else tuple(bool(flag) for flag in np.asarray(log).tolist())
        if flags and len(flags) != features.shape[1]:
            raise DataError(f"{len(flags)} log flags for {features.shape[1]} columns")
        if not any(flags):
            flags = ()
        transformed = cls((0.0,) * features.shape[1], (1.0,) * features.shape[1], flags)
        if not standardize:
            return transformed
        if folder_of(features) is not None:  # on disk: a block of rows at a time
            mean, scale = column_moments(features, transformed.transform)
        else:
            values = transformed.transform(features)
            mean = values.mean(axis=0)
            scale = values.std(axis=0)
        scale[~(scale > 0)] = 1.0
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in scale), flags)

    def transform(self, features: FloatArray) -> FloatArray:
        """Transform ``features`` (same columns as at fit time).

        A memory-mapped matrix (:mod:`vfl.tables.mapped`) is transformed a block of rows
        at a time into a new file of its folder.
        """
        if features.ndim != 2 or features.shape[1:] != (len(self.mean),):
            raise DataError(
                f"the model was scaled on {len(self.mean)} columns, the data has "
                f"{features.shape[1] if features.ndim == 2 else 'no'} columns"
            )
        folder = folder_of(features)
        if folder is not None:
            return map_rows(features, self.transform, folder, "scaled")
        if self.log:
            features = np.where(np.array(self.log), signed_log(features), features)
        result: FloatArray = (features - np.array(self.mean)) / np.array(self.scale)
        return result


@dataclass
class PartyModel:
    """One party's share of a trained hetero logistic regression.

    Attributes
    ----------
    party : str
        The party's name.
    role : {"guest", "host"}
    feature_names : list of str
    weights : list of float
        This party's coefficients on its scaled features.
    intercept : float
        The model's intercept (guest; 0.0 on a host).
    scaling : Scaling or None
        This party's standardisation, applied before the weights.
    mode, backend : str
        The training mode (``"shared"``, ``"two-party"`` or ``"arbiter"``) and the
        arithmetic.
    key_length : int
    peers : list of str
        The other parties of the job (names only).
    history : list of dict
        Per-epoch history as this party knows it.
    epochs : int
    stop_reason : str
    loss : {"logistic", "taylor"}, default "taylor"
        The loss trained (``"logistic"``: shared mode's polynomial sigmoid).  Files of
        versions 1 and 2 do not record it: they were all trained with the Taylor loss.
    binning : PartyBinning or None
        The party's binning of its own raw columns (a ``binning`` step before training):
        ``feature_names`` are then its selected WOE columns, and the raw columns are
        transformed with it before the scaling and the weights
        (:meth:`features_from`).  ``None``: trained on the raw columns.
    points : PartyPoints or None
        The party's scorecard points table (a ``scorecard`` step), built from its
        binning and weights.
    version : int
        :data:`MODEL_FORMAT_VERSION`.

    Examples
    --------
    >>> model = PartyModel("bank-b", "host", ["x"], [0.5], 0.0, None, "shared", "paillier",
    ...                    2048, ["bank-a"])
    >>> model.decision_part([[2.0], [4.0]]).tolist(), model.trained
    ([1.0, 2.0], True)
    >>> PartyModel.from_dict(model.to_dict()) == model
    True
    """

    party: str
    role: str
    feature_names: list[str]
    weights: list[float]
    intercept: float
    scaling: Scaling | None
    mode: str
    backend: str
    key_length: int
    peers: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs: int = 0
    stop_reason: str = ""
    loss: str = "taylor"
    binning: PartyBinning | None = None
    points: PartyPoints | None = None
    version: int = MODEL_FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.role not in ("guest", "host"):
            raise DataError(f"a model's role is 'guest' or 'host', not {self.role!r}")
        if self.loss not in LOSSES:
            raise DataError(f"a model's loss is 'logistic' or 'taylor', not {self.loss!r}")
        if len(self.feature_names) != len(self.weights):
            raise DataError(
                f"{self.party}: {len(self.weights)} weights for {len(self.feature_names)} features"
            )
        if not all(math.isfinite(w) for w in [*self.weights, self.intercept]):
            raise DataError(f"{self.party}: the model holds a non-finite weight")
        if self.scaling is not None and len(self.scaling.mean) != len(self.weights):
            raise DataError(f"{self.party}: the scaling does not match the features")
        if self.binning is not None and list(self.binning.selected) != self.feature_names:
            raise DataError(
                f"{self.party}: the model's features {self.feature_names} are not its "
                f"binning's selected WOE columns {list(self.binning.selected)}"
            )
        if self.points is not None and self.binning is None:
            raise DataError(f"{self.party}: a scorecard's points need the model's binning")
        if self.version < _BINNING_SINCE and (self.binning or self.points) is not None:
            raise DataError(
                f"{self.party}: a version {self.version} model cannot hold a binning or points"
            )

    @classmethod
    def binned(cls, party: str, role: str, binning: PartyBinning, peers: list[str]) -> PartyModel:
        """A party's binning before any training: what a ``binning`` step hands on.

        Its weights are zero and its ``mode`` is :data:`BINNED_ONLY` (:attr:`trained`
        is false): a later ``hetero_lr`` step trains on its WOE columns and keeps the
        binning in its model; nothing scores with it.

        Parameters
        ----------
        party, role : str
        binning : PartyBinning
        peers : list of str

        Returns
        -------
        PartyModel
        """
        selected = list(binning.selected)
        return cls(
            party=party,
            role=role,
            feature_names=selected,
            weights=[0.0] * len(selected),
            intercept=0.0,
            scaling=None,
            mode=BINNED_ONLY,
            backend="none",
            key_length=0,
            peers=list(peers),
            stop_reason="binned, not trained",
            binning=binning,
        )

    @property
    def trained(self) -> bool:
        """Whether the model holds trained weights (not only a binning)."""
        return self.mode != BINNED_ONLY

    def features_from(self, columns: Mapping[str, npt.ArrayLike]) -> FloatArray:
        """The matrix the weights apply to (before the scaling), from raw columns.

        With a binning, the WOE values of its selected columns
        (:meth:`PartyBinning.transform <vfl.tables.binning_model.PartyBinning.transform>`:
        missing cells and unseen categories fall in their bins); without, the columns
        :attr:`feature_names` in order.

        Parameters
        ----------
        columns : mapping of str to array_like
            The party's raw columns by name (numeric, with NaN for a missing cell, or
            text for a categorical column).

        Returns
        -------
        numpy.ndarray
            Rows x ``len(feature_names)``.

        Raises
        ------
        DataError
            If a column the model needs is missing.
        """
        needed = self.feature_names  # with a binning: its selected columns
        missing = [name for name in needed if name not in columns]
        if missing:
            raise DataError(
                f"{self.party}: the model needs the column(s) {missing}, which the data lacks"
            )
        if self.binning is not None:
            woe: FloatArray = np.asarray(self.binning.transform(columns), dtype=np.float64)
            return woe
        if not self.feature_names:
            rows = len(np.asarray(next(iter(columns.values())))) if columns else 0
            return np.zeros((rows, 0))
        return np.column_stack(
            [np.asarray(columns[name], dtype=np.float64) for name in self.feature_names]
        )

    def decision_part(self, features: npt.ArrayLike) -> FloatArray:
        """The party's share ``scaled(X) @ w`` (plus the intercept on the guest)."""
        array = np.asarray(features, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != len(self.weights):
            raise DataError(
                f"{self.party}: the model has {len(self.weights)} features, the data shape "
                f"is {array.shape}"
            )
        if self.scaling is not None:
            array = self.scaling.transform(array)
        result: FloatArray = array @ np.array(self.weights) + self.intercept
        return result

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        nested = ("scaling", "binning", "points")
        document = {
            item.name: json.loads(json.dumps(getattr(self, item.name)))  # a deep copy
            for item in fields(self)
            if item.name not in nested
        }
        document["scaling"] = None if self.scaling is None else asdict(self.scaling)
        document["binning"] = None if self.binning is None else self.binning.to_dict()
        document["points"] = None if self.points is None else self.points.to_dict()
        if self.version < _LOSS_SINCE:
            del document["loss"]  # an older file loaded and saved again keeps its format
        if self.version < _BINNING_SINCE:
            del document["binning"], document["points"]
        return document

    @classmethod
    def from_dict(cls, document: object) -> PartyModel:
        """Validate and build a model from :meth:`to_dict`'s output."""
        if not isinstance(document, dict):
            raise DataError("a model file must hold a JSON object")
        version = document.get("version")
        if version not in READABLE_MODEL_VERSIONS or isinstance(version, bool):
            raise DataError(
                f"unsupported model format version {version!r}; this engine reads versions "
                f"{', '.join(map(str, READABLE_MODEL_VERSIONS))} (a newer engine wrote it?)"
            )
        scaling = document.get("scaling")
        if version == 1 and isinstance(scaling, dict) and scaling.get("log"):
            raise DataError("a version 1 model file cannot hold log flags; it is corrupt")
        expected = set(cls.__dataclass_fields__)
        if version < _LOSS_SINCE:
            expected.discard("loss")  # trained before shared mode: the Taylor loss
        if version < _BINNING_SINCE:
            expected -= {"binning", "points"}  # trained on the raw columns
        if set(document) != expected:
            raise DataError(
                f"model file fields differ: missing {sorted(expected - set(document))}, "
                f"unknown {sorted(set(document) - expected)}"
            )
        if document.get("mode") == BINNED_ONLY:
            raise DataError(
                "this model file holds a binning but no trained weights; train a hetero_lr "
                "step after the binning step and use its model file"
            )
        try:
            return cls(
                **{
                    **document,
                    **_binning_and_points(document),
                    "feature_names": [str(n) for n in document["feature_names"]],
                    "weights": [float(w) for w in document["weights"]],
                    "intercept": float(document["intercept"]),
                    "peers": [str(p) for p in document["peers"]],
                    "scaling": None
                    if scaling is None
                    else Scaling(
                        tuple(float(v) for v in scaling["mean"]),
                        tuple(float(v) for v in scaling["scale"]),
                        tuple(_flag(v) for v in scaling.get("log", ())),
                    ),
                }
            )
        except (TypeError, ValueError, KeyError, ProtocolError) as error:
            raise DataError(f"malformed model file ({error})") from error

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (atomically: temporary file, then rename)."""
        target = Path(path)
        write_json_atomically(target, self.to_dict())
        return target

    @classmethod
    def load(cls, path: str | Path) -> PartyModel:
        """Read and validate a model file written by :meth:`save`."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read the model file {path}: {error}") from error
        except RecursionError:
            raise DataError(f"cannot read the model file {path}: nested too deeply") from None
        return cls.from_dict(document)


def _binning_and_points(document: dict[str, Any]) -> dict[str, Any]:
    """A version 4 file's ``binning`` and ``points``, validated (nothing before)."""
    if document["version"] < _BINNING_SINCE:
        return {}
    found: dict[str, Any] = {"binning": None, "points": None}
    if document["binning"] is not None:
        from vfl.tables.binning_model import PartyBinning

        found["binning"] = PartyBinning.from_dict(document["binning"])
    if document["points"] is not None:
        from vfl.tables.scorecard_model import PartyPoints

        found["points"] = PartyPoints.from_dict(document["points"])
    return found


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"a scaling's log flags are true/false, not {value!r}")
    return value


def merge_to_sklearn(guest: PartyModel, hosts: list[PartyModel]) -> Any:
    """One scikit-learn ``LogisticRegression`` on the raw columns of every party.

    Columns are the guest's features, then each host's, in order; every party's
    scaling is folded into the coefficients and the intercept.  This needs every
    party's model file, so do it only when every party agrees.

    Returns
    -------
    sklearn.linear_model.LogisticRegression
        With ``coef_``, ``intercept_``, ``classes_`` and ``n_features_in_`` set.
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    if guest.role != "guest" or any(host.role != "host" for host in hosts):
        raise DataError("merge_to_sklearn needs the guest's model and the hosts' models")
    coefficients: list[float] = []
    intercept = guest.intercept
    for model in (guest, *hosts):
        if model.binning is not None:
            raise DataError(
                f"{model.party}'s model works on the WOE values of its binned columns, which "
                "a linear model on the raw columns cannot express; score with the party "
                "models instead"
            )
        if model.scaling is not None and model.scaling.log:
            raise DataError(
                f"{model.party}'s model log-transforms some columns, which a linear model "
                "on the raw columns cannot express; score with the party models instead"
            )
        weights = np.array(model.weights)
        if model.scaling is not None:
            scale = np.array(model.scaling.scale)
            weights = weights / scale
            intercept -= float(np.dot(weights, np.array(model.scaling.mean)))
        coefficients.extend(weights.tolist())
    merged = LogisticRegression()
    merged.coef_ = np.array([coefficients])
    merged.intercept_ = np.array([intercept])
    merged.classes_ = np.array([0, 1])
    merged.n_features_in_ = len(coefficients)
    return merged

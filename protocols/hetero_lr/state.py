"""Training checkpoints of hetero LR: what a party needs to go on after an epoch.

After every epoch that training goes on from, each party takes an
:class:`LrCheckpoint` (:meth:`~protocols.hetero_lr.LrGuest.take_checkpoint`): its own
weights, its optimiser's state, its weights after every epoch so far (the epoch that
early stopping keeps may be any of them), its history, the public plan seed and, on
the guest, the early-stopping state.  The arbiter's holds only the epoch and the seed.

A checkpoint holds no key (every resumed run draws fresh keys, masks and
obfuscators), no data and nothing a peer sent: only this party's own state and a
SHA-256 digest of its training inputs (:func:`inputs_digest`: features, labels, row
weights and settings), so that a run cannot resume on other data or settings.
Training from a checkpoint is bit for bit the training it interrupted: the batch plan
comes from the seed, every update from the weights and the optimiser's state, and
encrypted arithmetic equals the plaintext fixed-point arithmetic.

The resume agreement (see :class:`~protocols.messages.LrResume`): a resuming host
announces the epochs it holds checkpoints for in its
:class:`~protocols.messages.LrHostSetup`, and the guest picks the latest epoch that
it and every host hold, or starts afresh.  Nothing here reads or writes files; the
caller stores :meth:`LrCheckpoint.to_dict` (``vfl.checkpoint``: JSON).

Examples
--------
>>> checkpoint = LrCheckpoint(role="arbiter", epoch=2, plan_seed=bytes(32),
...                           inputs_digest="0" * 64)
>>> LrCheckpoint.from_dict(checkpoint.to_dict()) == checkpoint
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.optimizers import Optimizer
from protocols.hetero_lr.settings import LrSettings

__all__ = [
    "CHECKPOINT_STATE_VERSION",
    "KEPT_CHECKPOINTS",
    "LrCheckpoint",
    "inputs_digest",
    "settings_description",
]

CHECKPOINT_STATE_VERSION = 1
"""Version of :meth:`LrCheckpoint.to_dict`'s layout."""
KEPT_CHECKPOINTS = 2
"""Checkpoints a party keeps and offers: its last two epochs.

A party may be killed after its own checkpoint of an epoch and before a peer's, so
the parties' latest checkpoints may differ by one epoch; the last two always share
one once every party has checkpointed twice.
"""
ROLES = ("guest", "host", "arbiter")
_KEYS = frozenset(
    {
        "version",
        "role",
        "epoch",
        "plan_seed",
        "inputs_digest",
        "weights",
        "optimizer",
        "snapshots",
        "history",
        "best_epoch",
        "best_value",
        "stale_epochs",
    }
)
_OPTIONAL_KEYS = frozenset({"shares"})
"""Keys a checkpoint may omit (written by later versions of this module)."""
_HEX = frozenset("0123456789abcdef")


def settings_description(settings: LrSettings) -> dict[str, object]:
    """The settings that decide a training's result, as JSON-serialisable values.

    Everything but ``n_jobs`` (parallelism changes no value).

    Parameters
    ----------
    settings : LrSettings

    Returns
    -------
    dict

    Examples
    --------
    >>> description = settings_description(LrSettings(max_iter=3, n_jobs=2))
    >>> description["max_iter"], "n_jobs" in description, description["optimizer"]["name"]
    (3, False, 'sgd')
    """
    values = {
        item.name: getattr(settings, item.name)
        for item in dataclasses.fields(settings)
        if item.name not in ("optimizer", "n_jobs")
    }
    values["optimizer"] = settings.optimizer.to_dict()
    return values


def inputs_digest(
    description: Mapping[str, object], arrays: Mapping[str, npt.ArrayLike | None]
) -> str:
    """SHA-256 (hex) of a party's training inputs: a description and float arrays.

    Parameters
    ----------
    description : mapping
        JSON-serialisable values (role, names, settings...).
    arrays : mapping of str to array_like or None
        Features, labels, row weights...; each is hashed with its shape, as
        little-endian float64.

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> a = inputs_digest({"role": "host"}, {"features": [[1.0, 2.0]]})
    >>> a == inputs_digest({"role": "host"}, {"features": [[1.0, 2.0]]}), len(a)
    (True, 64)
    >>> a == inputs_digest({"role": "host"}, {"features": [[1.0], [2.0]]})
    False
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(description, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        values = arrays[name]
        if values is None:
            digest.update(f"|{name}:none".encode())
            continue
        array = np.ascontiguousarray(np.asarray(values, dtype=np.float64), dtype="<f8")
        digest.update(f"|{name}:{array.shape}".encode())
        digest.update(array.data)  # the buffer itself: no copy of a large matrix
    return digest.hexdigest()


@dataclass(frozen=True)
class LrCheckpoint:
    """One party's state after epoch ``epoch`` (counted from 0) of a training run.

    Attributes
    ----------
    role : {"guest", "host", "arbiter"}
    epoch : int
        The last completed epoch; training goes on with ``epoch + 1``.
    plan_seed : bytes
        The public batch-plan seed of the run (32 bytes).
    inputs_digest : str
        :func:`inputs_digest` of the party's training inputs and settings.
    weights : tuple of float
        The party's coefficients (the guest's intercept last); empty for the arbiter.
    optimizer : dict or None
        :meth:`~protocols.hetero_lr.Optimizer.state`; None for the arbiter.
    snapshots : tuple of tuple of float
        The weights after each epoch ``0 .. epoch``.
    history : tuple of dict
        The party's history entries of epochs ``0 .. epoch``.
    best_epoch, best_value, stale_epochs
        The guest's early-stopping state: the best epoch so far (-1: none), its
        validation metric and the epochs since it.

    Examples
    --------
    >>> from protocols.hetero_lr import OptimizerSettings
    >>> checkpoint = LrCheckpoint(
    ...     role="host", epoch=0, plan_seed=bytes(32), inputs_digest="ab" * 32,
    ...     weights=(0.5,), optimizer=Optimizer(OptimizerSettings(), 1).state(),
    ...     snapshots=((0.5,),), history=({"epoch": 0, "weight_change": 0.25},))
    >>> LrCheckpoint.from_dict(checkpoint.to_dict()).weights
    (0.5,)
    >>> LrCheckpoint.from_dict({**checkpoint.to_dict(), "epoch": 1})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: checkpoint: snapshots must hold 2 weight vectors ...
    """

    role: str
    epoch: int
    plan_seed: bytes
    inputs_digest: str
    weights: tuple[float, ...] = ()
    optimizer: dict[str, Any] | None = None
    snapshots: tuple[tuple[float, ...], ...] = ()
    history: tuple[dict[str, Any], ...] = field(default=())
    best_epoch: int = -1
    best_value: float | None = None
    stale_epochs: int = 0
    shares: dict[str, Any] | None = None
    """Shared mode: this party's integer shares of weights and optimiser state (its
    ``weights`` and ``snapshots`` are then zeros: no party knows a weight vector
    during training)."""

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint as JSON-serialisable values (floats survive JSON exactly).

        Returns
        -------
        dict
            ``version``, every attribute; the seed as hexadecimal text.
        """
        document: dict[str, Any] = {
            "version": CHECKPOINT_STATE_VERSION,
            "role": self.role,
            "epoch": self.epoch,
            "plan_seed": self.plan_seed.hex(),
            "inputs_digest": self.inputs_digest,
            "weights": list(self.weights),
            "optimizer": self.optimizer,
            "snapshots": [list(snapshot) for snapshot in self.snapshots],
            "history": [dict(entry) for entry in self.history],
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "stale_epochs": self.stale_epochs,
        }
        if self.shares is not None:  # shared mode only: the other modes' format is unchanged
            document["shares"] = self.shares
        return document

    @classmethod
    def from_dict(cls, values: object) -> LrCheckpoint:
        """Rebuild a checkpoint from :meth:`to_dict`, validating every field.

        Parameters
        ----------
        values : dict
            What :meth:`to_dict` returned, possibly through JSON.

        Returns
        -------
        LrCheckpoint

        Raises
        ------
        ProtocolError
            ``"checkpoint: ..."``, naming what is missing, unknown, of the wrong type,
            out of range or inconsistent.
        """
        if not isinstance(values, dict):
            raise _invalid(f"expected an object, got {type(values).__name__}")
        missing, unknown = _KEYS - values.keys(), values.keys() - _KEYS - _OPTIONAL_KEYS
        if missing:
            raise _invalid(f"missing keys {', '.join(sorted(missing))}")
        if unknown:
            raise _invalid(f"unknown keys {', '.join(sorted(map(str, unknown)))}")
        version = values["version"]
        if type(version) is not int or version != CHECKPOINT_STATE_VERSION:
            raise _invalid(
                f"state version {version!r} is not supported (expected {CHECKPOINT_STATE_VERSION})"
            )
        role = values["role"]
        if role not in ROLES:
            raise _invalid(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        epoch = _count(values["epoch"], "epoch")
        seed = _hex(values["plan_seed"], 32, "plan_seed")
        digest = values["inputs_digest"]
        _hex(digest, 32, "inputs_digest")
        weights: tuple[float, ...] = ()
        optimizer: dict[str, Any] | None = None
        snapshots: tuple[tuple[float, ...], ...] = ()
        history: tuple[dict[str, Any], ...] = ()
        if role == "arbiter":
            empty: dict[str, object] = {
                "weights": [],
                "optimizer": None,
                "snapshots": [],
                "history": [],
            }
            for key, value in empty.items():
                if values[key] != value:
                    raise _invalid(f"an arbiter's checkpoint holds no {key}")
        else:
            weights = _floats(values["weights"], None, "weights")
            optimizer = _optimizer(values["optimizer"], len(weights))
            raw_snapshots = values["snapshots"]
            if not isinstance(raw_snapshots, list) or len(raw_snapshots) != epoch + 1:
                raise _invalid(
                    f"snapshots must hold {epoch + 1} weight vectors (epochs 0 to {epoch})"
                )
            snapshots = tuple(
                _floats(snapshot, len(weights), f"snapshots[{index}]")
                for index, snapshot in enumerate(raw_snapshots)
            )
            history = _history(values["history"], epoch)
        best_epoch, best_value, stale = _early_stopping(values, role, epoch)
        return cls(
            role=role,
            epoch=epoch,
            plan_seed=seed,
            inputs_digest=digest,
            weights=weights,
            optimizer=optimizer,
            snapshots=snapshots,
            history=history,
            best_epoch=best_epoch,
            best_value=best_value,
            stale_epochs=stale,
            shares=_shares(values.get("shares")),
        )


def _shares(value: object) -> dict[str, Any] | None:
    """A shared-mode checkpoint's shares: nested objects whose leaves are integer lists."""
    if value is None:
        return None

    def check(node: object, where: str, depth: int) -> None:
        if isinstance(node, list):
            if not all(type(item) is int for item in node):
                raise _invalid(f"shares{where} must hold integers only")
            return
        if type(node) is int:
            return
        if not isinstance(node, dict) or depth > 4 or not all(isinstance(k, str) for k in node):
            raise _invalid(f"shares{where} must be objects of integer lists")
        for key, child in node.items():
            check(child, f"{where}.{key}", depth + 1)

    check(value, "", 0)
    assert isinstance(value, dict)
    return value


def _invalid(problem: str) -> ProtocolError:
    return ProtocolError(f"checkpoint: {problem}")


def _count(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _invalid(f"{what} must be an integer >= 0, got {value!r}")
    return value


def _hex(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not set(value) <= _HEX:
        raise _invalid(f"{what} must be {2 * size} lowercase hexadecimal digits")
    return bytes.fromhex(value)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _floats(values: object, size: int | None, what: str) -> tuple[float, ...]:
    if (
        not isinstance(values, list)
        or not all(_number(item) for item in values)
        or (size is None and not values)
        or (size is not None and len(values) != size)
    ):
        count = "a non-empty list" if size is None else f"a list of {size}"
        raise _invalid(f"{what} must be {count} numbers")
    try:
        result = tuple(float(item) for item in values)
    except OverflowError:
        result = (math.inf,)
    if not all(math.isfinite(item) for item in result):
        raise _invalid(f"{what} must be finite")
    return result


def _optimizer(state: object, size: int) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise _invalid("optimizer must be an optimiser state (an object)")
    try:
        optimizer = Optimizer.from_state(state)
    except ProtocolError as error:
        raise _invalid(str(error)) from None
    if optimizer.size != size:
        raise _invalid(f"the optimiser has {optimizer.size} coefficients, the weights {size}")
    return optimizer.state()


def _history(values: object, epoch: int) -> tuple[dict[str, Any], ...]:
    if not isinstance(values, list) or len(values) != epoch + 1:
        raise _invalid(f"history must hold {epoch + 1} entries (epochs 0 to {epoch})")
    entries = []
    for index, entry in enumerate(values):
        if (
            not isinstance(entry, dict)
            or entry.get("epoch") != index
            or type(entry.get("epoch")) is not int
            or not all(isinstance(key, str) for key in entry)
            or not all(
                value is None or (_number(value) and math.isfinite(value))
                for value in entry.values()
            )
        ):
            raise _invalid(
                f"history[{index}] must map names to finite numbers or null, with epoch {index}"
            )
        entries.append(dict(entry))
    return tuple(entries)


def _early_stopping(values: dict[str, Any], role: str, epoch: int) -> tuple[int, float | None, int]:
    best_epoch, best_value = values["best_epoch"], values["best_value"]
    stale = values["stale_epochs"]
    if role != "guest":
        if (best_epoch, best_value, stale) != (-1, None, 0):
            raise _invalid("only the guest's checkpoint holds early-stopping state")
        return -1, None, 0
    if type(best_epoch) is not int or not -1 <= best_epoch <= epoch:
        raise _invalid(f"best_epoch must be an integer from -1 to {epoch}, got {best_epoch!r}")
    if (best_epoch == -1) != (best_value is None):
        raise _invalid("best_value must be null exactly when best_epoch is -1")
    if best_value is not None and not (_number(best_value) and math.isfinite(best_value)):
        raise _invalid("best_value must be a finite number")
    if type(stale) is not int or not 0 <= stale <= epoch + 1:
        raise _invalid(f"stale_epochs must be an integer from 0 to {epoch + 1}, got {stale!r}")
    return best_epoch, None if best_value is None else float(best_value), stale

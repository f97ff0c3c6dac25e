"""The registry of step types: which ``type = "..."`` of ``[[steps]]`` a job may use.

:mod:`vfl.steps` registers the built-in types (``psi``, ``secure_sum``,
``hetero_lr``, ``score``) when it is imported; :func:`register` adds another one,
from any module, before the job file is loaded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vfl.exceptions import JobFileError

if TYPE_CHECKING:
    from vfl.steps.base import StepConfig, StepType

__all__ = ["register", "step_type", "step_types", "unregister"]

_TYPES: dict[str, StepType[Any]] = {}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def register(kind: StepType[Any], *, replace: bool = False) -> StepType[Any]:
    """Make a step type available to job files (``type = kind.name``).

    Parameters
    ----------
    kind : StepType
        An instance of the step type's plug-in.
    replace : bool, default False
        Replace a type registered under the same name (tests).

    Returns
    -------
    StepType
        ``kind``.

    Raises
    ------
    ValueError
        If the name is not lowercase letters, digits and ``_``, or is taken.
    """
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"a step type needs a name of lowercase letters, digits and '_', not {name!r}"
        )
    if name in _TYPES and not replace:
        raise ValueError(f"a step type {name!r} is already registered")
    _TYPES[name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove the step type ``name`` (a no-op if there is none).

    Parameters
    ----------
    name : str
    """
    _TYPES.pop(name, None)


def step_types() -> tuple[str, ...]:
    """The registered step types' names, in registration order.

    Returns
    -------
    tuple of str
    """
    return tuple(_TYPES)


def step_type(step: StepConfig | str) -> StepType[Any]:
    """The plug-in of a step (or of a step type's name).

    Parameters
    ----------
    step : StepConfig or str

    Returns
    -------
    StepType

    Raises
    ------
    JobFileError
        If no step type of that name is registered.
    """
    name = step if isinstance(step, str) else step.type
    try:
        return _TYPES[name]
    except KeyError:
        available = ", ".join(map(repr, _TYPES))
        raise JobFileError(f"unknown step type {name!r} (available: {available})") from None

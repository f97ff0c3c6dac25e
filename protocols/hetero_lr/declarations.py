"""Settings declared once: the name, default, type, check and meaning of each.

A setting of :class:`~protocols.hetero_lr.settings.LrSettings` or
:class:`~protocols.hetero_lr.optimizers.OptimizerSettings` is a dataclass field made
with :func:`setting`: its default, its :class:`Rule` (the types it accepts and the
values it allows) and its documentation.  Everything else reads these declarations:

- the classes' own checks (:func:`validate`, from ``__post_init__``);
- the flat keywords of :meth:`~protocols.hetero_lr.settings.LrSettings.from_flat`
  (the estimator's and the job files' spelling);
- the job files' ``hetero_lr`` parser and the table of ``docs/job-file.md``
  (``vfl.steps.hetero_lr``, which a test keeps equal to the declarations).

A rule words its refusal twice from one check: :meth:`Rule.problem` for a job file
(after ``steps[i].<key>:``), :meth:`Rule.refusal` for a Python caller (a whole
sentence naming the setting).

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Plan:
...     rows: int = setting(10, Count(), doc="Rows per batch.")
...     def __post_init__(self):
...         validate(self)
>>> [(d.name, d.default, d.rule.toml) for d in declarations(Plan)]
[('rows', 10, 'integer ≥ 1')]
>>> Plan(rows=0)
Traceback (most recent call last):
...
protocols.exceptions.ProtocolError: rows must be a positive integer, not 0
>>> declarations(Plan)[0].rule.problem(0, Context())
'must be >= 1'
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real as RealNumber
from typing import Any, TypeVar

import numpy as np

from crypto.paillier.keys import key_length_problem
from protocols.exceptions import ProtocolError

__all__ = [
    "Choice",
    "Context",
    "Count",
    "Declaration",
    "Flag",
    "KeyLength",
    "Real",
    "Rule",
    "Workers",
    "declarations",
    "setting",
    "shown_default",
    "validate",
]

T = TypeVar("T")
_METADATA_KEY = "protocols.hetero_lr.setting"


@dataclass(frozen=True)
class Context:
    """What a rule may depend on besides the value: the caller's weak-key opt-in.

    Attributes
    ----------
    allow_weak_key : bool
        Whether keys under 2048 bits are allowed.
    flag : str
        How the caller's user spells that opt-in (named in refusals).
    """

    allow_weak_key: bool = False
    flag: str = "allow_weak_key"


class Rule(abc.ABC):
    """The values a setting allows, and how a refusal is worded.

    Attributes
    ----------
    toml : str
        The type as the job-file reference shows it (``"integer ≥ 1"``).
    kinds : tuple of type
        The TOML value types a job file may give (``bool`` is never a number).
    """

    toml: str
    kinds: tuple[type, ...]

    @abc.abstractmethod
    def problem(self, value: Any, context: Context) -> str | None:
        """``None`` if ``value`` (one of :attr:`kinds`) is allowed, else the job-file phrase.

        Parameters
        ----------
        value : object
            A value of one of :attr:`kinds`, as read from a job file.
        context : Context

        Returns
        -------
        str or None
        """

    @abc.abstractmethod
    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """``None`` if ``value`` (any Python value) is allowed, else a sentence naming ``name``.

        Parameters
        ----------
        name : str
            The setting's keyword.
        value : object
        context : Context

        Returns
        -------
        str or None
        """

    def convert(self, value: Any) -> Any:
        """The value as the settings keep it (e.g. a float for a number)."""
        return value


@dataclass(frozen=True)
class Choice(Rule):
    """One of a few strings (or ``None`` when ``optional``).

    Parameters
    ----------
    options : tuple of str
    what : str
        What the value names, in refusals (``"optimizer"``: "unknown optimizer 'x'").
    optional : bool, default False
        ``None`` is allowed too.
    """

    options: tuple[str, ...]
    what: str
    optional: bool = False
    toml = "string"
    kinds = (str,)

    def _allowed(self, value: Any) -> bool:
        if value is None:
            return self.optional
        return isinstance(value, str) and value in self.options

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`."""
        return None if self._allowed(value) else f"{value!r} is not one of {self.options}"

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if self._allowed(value):
            return None
        none = " or None" if self.optional else ""
        return f"unknown {self.what} {value!r}; expected one of {', '.join(self.options)}{none}"


@dataclass(frozen=True)
class Flag(Rule):
    """``True`` or ``False`` (numpy booleans are turned into ``bool``)."""

    toml = "boolean"
    kinds = (bool,)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem` (any TOML boolean is allowed)."""
        return None

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if isinstance(value, bool | np.bool_):
            return None
        return f"{name} must be true or false, got {value!r}"

    def convert(self, value: Any) -> Any:
        """``bool(value)``."""
        return bool(value)


@dataclass(frozen=True)
class Count(Rule):
    """An integer of at least ``low`` (a Python ``int``, never a ``bool``).

    Parameters
    ----------
    low : int, default 1
    """

    low: int = 1
    kinds = (int,)

    @property
    def toml(self) -> str:  # type: ignore[override]  # derived from low
        """``"integer ≥ <low>"``."""
        return f"integer ≥ {self.low}"

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`."""
        return None if value >= self.low else f"must be >= {self.low}"

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if not isinstance(value, bool) and isinstance(value, int) and value >= self.low:
            return None
        wanted = "a positive integer" if self.low == 1 else f"an integer >= {self.low}"
        return f"{name} must be {wanted}, not {value!r}"


@dataclass(frozen=True)
class Real(Rule):
    """A finite number in an interval (kept as a float); ``None`` too when ``optional``.

    Parameters
    ----------
    low : float, default 0.0
    low_open : bool, default False
        ``low`` itself is excluded.
    high : float or None, default None
        No upper bound when ``None``.
    high_open : bool, default True
        ``high`` itself is excluded.
    optional : bool, default False
    """

    low: float = 0.0
    low_open: bool = False
    high: float | None = None
    high_open: bool = True
    optional: bool = False
    kinds = (int, float)

    @property
    def toml(self) -> str:  # type: ignore[override]  # derived from the interval
        """``"number > 0"``, ``"number ≥ 0"``, ``"number in (0, 1)"``..."""
        if self.high is None:
            return f"number {'>' if self.low_open else '≥'} {self.low:g}"
        return f"number in {self._interval()}"

    def _interval(self) -> str:
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{left}{self.low:g}, {self.high:g}{right}"

    def _inside(self, number: float) -> bool:
        if not math.isfinite(number):
            return False
        above = number > self.low if self.low_open else number >= self.low
        if self.high is None:
            return above
        return above and (number < self.high if self.high_open else number <= self.high)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`."""
        if self._inside(float(value)):
            return None
        if self.high is not None:
            if self.low_open and self.high_open:
                return f"must be between {self.low:g} and {self.high:g} (exclusive)"
            return f"must be in {self._interval()}"
        if self.low == 0 and self.low_open:
            return "must be a positive number"
        return f"must be {'>' if self.low_open else '>='} {self.low:g}"

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if value is None and self.optional:
            return None
        none = " or None" if self.optional else ""
        if isinstance(value, bool) or not isinstance(value, RealNumber):
            return f"{name} must be a number{none}, got {value!r}"
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            return f"{name} must be finite, got {value!r}"
        if self._inside(number):
            return None
        if self.high is not None:
            wanted = f"in {self._interval()}"
        elif self.optional and self.low == 0 and self.low_open:
            wanted = "a positive number"
        else:
            wanted = f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{name} must be {wanted}{none}, got {value!r}"

    def convert(self, value: Any) -> Any:
        """``float(value)`` (``None`` stays ``None``)."""
        return None if value is None else float(value)


@dataclass(frozen=True)
class Workers(Rule):
    """Cores for the cryptography: a non-zero integer (``-1``: all) or ``None`` (one)."""

    toml = "integer ≠ 0"
    kinds = (int,)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`."""
        return None if value != 0 else "must not be 0 (-1: all cores)"

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        if value is None or (not isinstance(value, bool) and isinstance(value, int) and value):
            return None
        return f"{name} must be a non-zero integer (-1: all cores) or None, not {value!r}"


@dataclass(frozen=True)
class KeyLength(Rule):
    """A Paillier key length under the key policy (:func:`crypto.paillier.key_length_problem`)."""

    toml = "integer"
    kinds = (int,)

    def problem(self, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.problem`."""
        return key_length_problem(value, allow_weak_key=context.allow_weak_key, flag=context.flag)

    def refusal(self, name: str, value: Any, context: Context) -> str | None:
        """See :meth:`Rule.refusal`."""
        problem = self.problem(value, context)
        if problem is None or not problem.startswith("must"):
            return problem
        return f"{name} {problem}"


@dataclass(frozen=True)
class _Spec:
    rule: Rule
    doc: str
    name: str | None
    keyword: bool
    job_file: bool
    shown: str | None


@dataclass(frozen=True)
class Declaration:
    """One declared setting.

    Attributes
    ----------
    name : str
        Its keyword: in job files, :meth:`LrSettings.from_flat` and the estimator.
    field : str
        The dataclass field that holds it (``"name"`` for the keyword ``optimizer``).
    default : object
    rule : Rule
    doc : str
        Its meaning, as the job-file reference shows it (Markdown).
    keyword : bool
        Whether it is a flat keyword (the estimator's and :meth:`LrSettings.from_flat`'s).
    job_file : bool
        Whether a job file's ``hetero_lr`` step accepts it.
    shown : str or None
        The default as the reference shows it, when not the default's literal.
    """

    name: str
    field: str
    default: Any
    rule: Rule
    doc: str
    keyword: bool
    job_file: bool
    shown: str | None


def setting(
    default: T,
    rule: Rule,
    *,
    doc: str = "",
    name: str | None = None,
    keyword: bool = True,
    job_file: bool = True,
    shown: str | None = None,
) -> T:
    """Declare a dataclass field as a setting (use as the field's default).

    Parameters
    ----------
    default : object
        An immutable default.
    rule : Rule
    doc : str, default ""
        Its meaning for the job-file reference.
    name : str, optional
        Its keyword, when not the field's name.
    keyword : bool, default True
        A flat keyword of the estimator and :meth:`LrSettings.from_flat`.
    job_file : bool, default True
        Accepted in a job file's ``hetero_lr`` step.
    shown : str, optional
        The default as the reference shows it (``"none (one core)"``).

    Returns
    -------
    object
        A :func:`dataclasses.field` carrying the declaration.
    """
    spec = _Spec(rule, doc, name, keyword, job_file, shown)
    return dataclasses.field(default=default, metadata={_METADATA_KEY: spec})


def declarations(cls: Any) -> tuple[Declaration, ...]:
    """The declared settings of a dataclass (or of an instance's class), in field order.

    Parameters
    ----------
    cls : dataclass type or instance

    Returns
    -------
    tuple of Declaration
    """
    found = []
    for item in dataclasses.fields(cls):
        spec = item.metadata.get(_METADATA_KEY)
        if isinstance(spec, _Spec):
            found.append(
                Declaration(
                    name=spec.name or item.name,
                    field=item.name,
                    default=item.default,
                    rule=spec.rule,
                    doc=spec.doc,
                    keyword=spec.keyword,
                    job_file=spec.job_file,
                    shown=spec.shown,
                )
            )
    return tuple(found)


def validate(instance: Any, context: Context | None = None) -> None:
    """Check every declared setting of a frozen dataclass instance; convert the values.

    Parameters
    ----------
    instance : dataclass instance
    context : Context, optional
        Defaults to one built from the instance's ``allow_weak_key``, if it has one.

    Raises
    ------
    ProtocolError
        The first refused setting, in field order.
    """
    if context is None:
        context = Context(allow_weak_key=bool(getattr(instance, "allow_weak_key", False)))
    for declaration in declarations(instance):
        value = getattr(instance, declaration.field)
        message = declaration.rule.refusal(declaration.name, value, context)
        if message is not None:
            raise ProtocolError(message)
        object.__setattr__(instance, declaration.field, declaration.rule.convert(value))


def shown_default(declaration: Declaration) -> str:
    """The default as the job-file reference shows it (Markdown).

    Parameters
    ----------
    declaration : Declaration

    Returns
    -------
    str
        ``declaration.shown``, or the default as a TOML literal in backticks
        (``none`` for ``None``).

    Examples
    --------
    >>> def shown(value):
    ...     return shown_default(Declaration("x", "x", value, Flag(), "", True, True, None))
    >>> [shown(v) for v in ("sgd", 1024, 0.1, 0.0, 1e-4, True, None)]
    ['`"sgd"`', '`1024`', '`0.1`', '`0.0`', '`1e-4`', '`true`', 'none']
    """
    if declaration.shown is not None:
        return declaration.shown
    value = declaration.default
    if value is None:
        return "none"
    return f"`{_literal(value)}`"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        if value != 0 and not 1e-3 <= abs(value) < 1e6:
            mantissa, exponent = f"{value:.15e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_literal(v)}" for k, v in value.items()) + " }"
    return str(value)

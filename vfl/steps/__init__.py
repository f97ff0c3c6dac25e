"""Step types of job files, as plug-ins: ``psi``, ``binning``, ``hetero_lr``, ``score`` ...

The built-in types are ``psi``, ``secure_sum``, ``hetero_lr``, ``score``, ``binning``,
``scorecard``, ``split`` and ``evaluate``.

Each ``type = "..."`` of ``[[steps]]`` is a :class:`StepType` registered here; the
job loader (:mod:`vfl.jobs.jobfile`) and the runner (:mod:`vfl.jobs`) look a step's type
up with :func:`step_type` and call its methods, and know no step by name.

To add a step type, write its configuration (a frozen dataclass with a class
attribute ``type``), a :class:`StepType` subclass (``parse`` and ``build_role``,
``output``; optionally ``check``, ``reload``, ``missing_files``, ``digest``,
``uses_arbiter``, ``dedupe`` and the class attributes ``checkpoints`` and
``output_files``) and call :func:`register` with an instance before the job file is
loaded.  :mod:`vfl.steps.base` documents each method; the built-in types are
complete examples.

Examples
--------
>>> from vfl.steps import step_type, step_types
>>> step_types()
('psi', 'secure_sum', 'hetero_lr', 'score', 'binning', 'scorecard', 'split', 'evaluate')
>>> step_type("hetero_lr").checkpoints
True
"""

from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepConfig,
    StepContext,
    StepOutcome,
    StepType,
)
from vfl.steps.binning import BinningStep, BinningType
from vfl.steps.hetero_lr import HeteroLrStep, HeteroLrType
from vfl.steps.psi import PsiStep, PsiType
from vfl.steps.registry import register, step_type, step_types, unregister
from vfl.steps.score import ScoreStep, ScoreType
from vfl.steps.scorecard import ScorecardStep, ScorecardType
from vfl.steps.secure_sum import SecureSumStep, SecureSumType

__all__ = [
    "BinningStep",
    "HeteroLrStep",
    "JobCheck",
    "LoadContext",
    "PsiStep",
    "ScoreStep",
    "ScorecardStep",
    "Section",
    "SecureSumStep",
    "StepConfig",
    "StepContext",
    "StepOutcome",
    "StepType",
    "register",
    "step_type",
    "step_types",
    "unregister",
]

for _builtin in (
    PsiType(),
    SecureSumType(),
    HeteroLrType(),
    ScoreType(),
    BinningType(),
    ScorecardType(),
):
    register(_builtin)

from vfl.steps.evaluate import EvaluateStep, EvaluateType  # noqa: E402
from vfl.steps.split import SplitStep, SplitType  # noqa: E402

__all__ += ["EvaluateStep", "SplitStep"]
register(SplitType())
register(EvaluateType())

"""Hetero logistic regression: guest, host and arbiter role state machines.

The guest holds labels and some features, each host more features of the same
aligned rows.  Training uses the Taylor approximation of the logistic loss
(Hardy et al. 2017): with ``z = u_g + sum_h u_h`` and ``y`` in {-1, +1},
``loss ~ log 2 - y z / 2 + z**2 / 8`` and the residual ``d = z / 4 - y / 2``; each
party's gradient is ``X_p^T d / batch``.  Nobody's features, labels or weights leave
its side; what each message reveals is listed in SECURITY.md.

Modes: ``"two-party"`` (each party holds its own Paillier key; one host) and
``"arbiter"`` (a third party holds the key and decrypts only masked values; one or
more hosts).  Backends: ``"paillier"``, ``"phe"`` and ``"plaintext"``
(see :mod:`.backends`).

Where things are: the model's maths (loss, residual, the public bounds they imply)
in :mod:`.objective`, the one place a new model is added; the roles' phases and the
only transitions between them in :mod:`.phases`; the roles in :mod:`.guest`,
:mod:`.host` and :mod:`.arbiter`, which compute on the backend protocols of
:mod:`crypto.vector_api`.
"""

from protocols.hetero_lr.arbiter import LrArbiter
from protocols.hetero_lr.backends import BACKENDS, Backend, get_backend
from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.guest import Evaluator, LrGuest
from protocols.hetero_lr.host import LrHost
from protocols.hetero_lr.objective import OBJECTIVES, QuadraticObjective, TaylorLogistic
from protocols.hetero_lr.optimizers import OPTIMIZERS, PENALTIES, Optimizer, OptimizerSettings
from protocols.hetero_lr.party import LrPartyResult
from protocols.hetero_lr.phases import ArbiterPhase, GuestPhase, HostPhase
from protocols.hetero_lr.scoring import ScoreGuest, ScoreHost, sigmoid
from protocols.hetero_lr.settings import CONVERGENCE, EARLY_STOPPING, MODES, LrSettings

__all__ = [
    "BACKENDS",
    "CONVERGENCE",
    "EARLY_STOPPING",
    "MODES",
    "OBJECTIVES",
    "OPTIMIZERS",
    "PENALTIES",
    "ArbiterPhase",
    "Backend",
    "BatchPlan",
    "Evaluator",
    "GuestPhase",
    "HostPhase",
    "LrArbiter",
    "LrGuest",
    "LrHost",
    "LrPartyResult",
    "LrSettings",
    "Optimizer",
    "OptimizerSettings",
    "QuadraticObjective",
    "ScoreGuest",
    "ScoreHost",
    "TaylorLogistic",
    "get_backend",
    "sigmoid",
]

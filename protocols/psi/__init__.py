"""Private set intersection: ECDH (default), RSA blind signatures, KKRT and VOLE; one or more hosts.

The guest runs the protocol with every host: :class:`PsiGuest` and :class:`PsiHost`
for ECDH and RSA (ids travel in shuffled chunks, blinded under secrets the receiver
does not know), :class:`KkrtGuest` and :class:`KkrtHost` for KKRT (an oblivious PRF
from OT extension), :class:`VoleGuest` and :class:`VoleHost` for VOLE-PSI (a silent
VOLE and an oblivious key-value store).  :func:`psi_guest` and :func:`psi_host` pick the role for a
method.  Outputs: ``"both"`` (every party learns the common ids in one agreed
order, so row ``k`` is the same customer everywhere), ``"guest"`` or
``"cardinality"`` (ECDH only).
"""

from protocols.psi.guest import PsiGuest
from protocols.psi.host import PsiHost
from protocols.psi.inputs import CanonicalIds, DuplicateIdError, canonical_ids, encode_id
from protocols.psi.kkrt_guest import KkrtGuest
from protocols.psi.kkrt_host import KkrtHost
from protocols.psi.outcome import PsiOutcome
from protocols.psi.parties import psi_guest, psi_host
from protocols.psi.settings import METHODS, OUTPUTS, PsiSettings
from protocols.psi.vole_guest import VoleGuest
from protocols.psi.vole_host import VoleHost

__all__ = [
    "METHODS",
    "OUTPUTS",
    "CanonicalIds",
    "DuplicateIdError",
    "KkrtGuest",
    "KkrtHost",
    "PsiGuest",
    "PsiHost",
    "PsiOutcome",
    "PsiSettings",
    "VoleGuest",
    "VoleHost",
    "canonical_ids",
    "encode_id",
    "psi_guest",
    "psi_host",
]

"""Private set intersection: ECDH (default) and RSA blind signatures, one or more hosts.

The guest (:class:`PsiGuest`) runs the protocol with every host (:class:`PsiHost`);
ids travel in shuffled chunks, blinded under secrets the receiver does not know.
Outputs: ``"both"`` (every party learns the common ids in one agreed order, so row
``k`` is the same customer everywhere), ``"guest"`` or ``"cardinality"``.
"""

from protocols.psi.guest import PsiGuest
from protocols.psi.host import PsiHost
from protocols.psi.inputs import CanonicalIds, DuplicateIdError, canonical_ids, encode_id
from protocols.psi.outcome import PsiOutcome
from protocols.psi.settings import METHODS, OUTPUTS, PsiSettings

__all__ = [
    "METHODS",
    "OUTPUTS",
    "CanonicalIds",
    "DuplicateIdError",
    "PsiGuest",
    "PsiHost",
    "PsiOutcome",
    "PsiSettings",
    "canonical_ids",
    "encode_id",
]

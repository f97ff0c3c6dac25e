"""``vfl.models``, a documented path: the code lives in :mod:`vfl.tables.models`."""

from vfl.tables.models import (
    MODEL_FORMAT_VERSION,
    PartyModel,
    Scaling,
    merge_to_sklearn,
    signed_log,
)

__all__ = [
    "MODEL_FORMAT_VERSION",
    "PartyModel",
    "Scaling",
    "merge_to_sklearn",
    "signed_log",
]

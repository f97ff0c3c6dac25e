"""``vfl.codec``, a documented path: the code lives in :mod:`vfl.runtime.codec`."""

from vfl.runtime.codec import (
    CODEC_VERSION,
    MAGIC,
    MAX_ARRAY_DIM,
    MAX_ARRAY_NDIM,
    MAX_INT_BYTES,
    MAX_JOB_ID_LENGTH,
    MAX_SEQUENCE_ITEMS,
    MAX_STR_BYTES,
    FieldTag,
    Keyring,
    decode,
    encode,
    field_tags,
)

__all__ = [
    "CODEC_VERSION",
    "MAGIC",
    "MAX_ARRAY_DIM",
    "MAX_ARRAY_NDIM",
    "MAX_INT_BYTES",
    "MAX_JOB_ID_LENGTH",
    "MAX_SEQUENCE_ITEMS",
    "MAX_STR_BYTES",
    "FieldTag",
    "Keyring",
    "decode",
    "encode",
    "field_tags",
]

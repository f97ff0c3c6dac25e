"""The binary wire format of protocol messages: explicit, bounded and validated.

A frame is one :class:`~protocols.messages.Message`.  Nothing on the wire names a
Python type: the ``kind`` number selects a class from
:data:`~protocols.messages.MESSAGE_TYPES`, and that class's annotations decide how
each payload field is read.  No pickle, no eval, no imports by name.

Frame (every integer big-endian, ``str`` = u16 byte length + UTF-8 bytes)::

    magic             4s   b"VFLM"
    codec version     u8   CODEC_VERSION (1)
    protocol version  u16  PROTOCOL_VERSION of the sender (checked before the rest)
    kind              u16  a MessageKind registered in MESSAGE_TYPES
    job_id            str  1..128 printable ASCII characters (0x20..0x7E)
    sender            str  party name matching ^[a-z][a-z0-9-]{0,62}$
    receiver          str  party name matching ^[a-z][a-z0-9-]{0,62}$
    round             u32
    batch             u32
    field count       u16  exactly the number of payload fields of the class
    fields            for each payload field, in declaration order:
                          tag u8 | length u32 | `length` bytes of value

Field values, by tag (the tag must be the one the field's annotation requires):

==  ===========================  ====================================================
 1  ``bool``                     1 byte, 0 or 1
 2  ``int``                      signed big-endian two's complement, 1..8192 bytes
 3  ``float``                    IEEE 754 binary64, 8 bytes (NaN and inf allowed)
 4  ``str``                      UTF-8, at most 65536 bytes
 5  ``bytes``                    raw
 6  ``np.ndarray``               dtype code u8 (1 float64, 2 int64, 3 uint8, 4 bool),
                                 ndim u8 (0..3), ndim x u64 shape (each < 2**32),
                                 then exactly prod(shape) * itemsize bytes,
                                 big-endian (bool bytes are 0 or 1); decoded to a
                                 native-endian, C-contiguous, writable array
 7  ``PaillierPublicKey``        :func:`~crypto.paillier.serialization.public_key_to_bytes`
 8  ``EncryptedVector``          :func:`~crypto.paillier.serialization.vector_to_bytes`
 9  ``PackedEncryptedVector``    same format, packed kind
10  ``MaskedVector``             same format, masked kind
11  ``tuple[int, ...]``          count u32 | width u16 (1..8192) | count x width bytes,
                                 each an unsigned big-endian integer (>= 0)
12  ``tuple[str, ...]``          count u32 | count x (u16 length + UTF-8 bytes)
==  ===========================  ====================================================

Tuples hold at most :data:`MAX_SEQUENCE_ITEMS` items.  A frame must end exactly
after its last field.

Decoding checks the size limit first, then every byte: the header (magic, codec and
protocol version, kind, names, counters), each field's tag and length against the
bytes left and the type's limit, and each value: keys through the key-size policy,
vectors through the crypto validators under the key their bytes name (found in the
receiver's :class:`Keyring`, or carried by an earlier field of the same message).  Every
problem raises :class:`~vfl.exceptions.CodecError` naming the field and what was
wrong, never echoing payload content.  Encoding refuses any message its peers would
refuse to decode.
"""

from __future__ import annotations

import enum
import math
import re
import struct
import typing
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PackedEncryptedVector,
    PaillierPublicKey,
)
from crypto.paillier.serialization import (
    public_key_from_bytes,
    public_key_to_bytes,
    vector_from_bytes,
    vector_to_bytes,
)
from protocols.messages import (
    MESSAGE_TYPES,
    PARTY_NAME_PATTERN,
    PROTOCOL_VERSION,
    Message,
    payload_fields,
)
from vfl.exceptions import CodecError
from vfl.runtime.transport.base import DEFAULT_MAX_MESSAGE_BYTES

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

MAGIC = b"VFLM"
"""First four bytes of every frame."""
CODEC_VERSION = 1
"""Version of this byte format (independent of the protocol version)."""
MAX_INT_BYTES = 8192
"""Longest encoding of one integer (65536 bits: a 16384-bit key's ``n**2`` and more)."""
MAX_STR_BYTES = 65536
"""Longest ``str`` payload field, in UTF-8 bytes."""
MAX_SEQUENCE_ITEMS = 1 << 22
"""Most items in a ``tuple[int, ...]`` or ``tuple[str, ...]`` field."""
MAX_ARRAY_NDIM = 3
"""Most dimensions of an array field."""
MAX_ARRAY_DIM = (1 << 32) - 1
"""Largest extent of one array dimension."""
MAX_JOB_ID_LENGTH = 128
"""Longest job id, in characters."""

_PARTY_NAME = PARTY_NAME_PATTERN
_JOB_ID = re.compile(rf"[\x20-\x7e]{{1,{MAX_JOB_ID_LENGTH}}}", re.ASCII)
_U16, _U32 = (1 << 16) - 1, (1 << 32) - 1
_PREAMBLE = struct.Struct(">4sBHH")  # magic, codec version, protocol version, kind
_COUNTERS = struct.Struct(">IIH")  # round, batch, field count
_FIELD = struct.Struct(">BI")  # tag, length
_LENGTH16 = struct.Struct(">H")  # length of a short string
_SEQUENCE = struct.Struct(">I")  # item count
_INT_TUPLE = struct.Struct(">IH")  # item count, width
_ARRAY = struct.Struct(">BB")  # dtype code, ndim
_DIM = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_VECTOR_FINGERPRINT = slice(8, 24)
"""Where :func:`vector_to_bytes` puts the key fingerprint (after magic, version, kind)."""

_ARRAY_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype(">f8"),
    2: np.dtype(">i8"),
    3: np.dtype("u1"),
    4: np.dtype("?"),
}
_DTYPE_NAMES = {1: "float64", 2: "int64", 3: "uint8", 4: "bool"}


class FieldTag(enum.IntEnum):
    """Wire tag of each payload type (wire constants: never reuse a value).

    Examples
    --------
    >>> FieldTag(8).name, int(FieldTag.STR_TUPLE)
    ('ENCRYPTED_VECTOR', 12)
    """

    BOOL = 1
    INT = 2
    FLOAT = 3
    STR = 4
    BYTES = 5
    ARRAY = 6
    PUBLIC_KEY = 7
    ENCRYPTED_VECTOR = 8
    PACKED_VECTOR = 9
    MASKED_VECTOR = 10
    INT_TUPLE = 11
    STR_TUPLE = 12


_SIMPLE_TAGS: dict[object, FieldTag] = {
    bool: FieldTag.BOOL,
    int: FieldTag.INT,
    float: FieldTag.FLOAT,
    str: FieldTag.STR,
    bytes: FieldTag.BYTES,
    np.ndarray: FieldTag.ARRAY,
    PaillierPublicKey: FieldTag.PUBLIC_KEY,
    EncryptedVector: FieldTag.ENCRYPTED_VECTOR,
    PackedEncryptedVector: FieldTag.PACKED_VECTOR,
    MaskedVector: FieldTag.MASKED_VECTOR,
}
_VECTOR_TYPES: dict[FieldTag, type[EncryptedVector | PackedEncryptedVector | MaskedVector]] = {
    FieldTag.ENCRYPTED_VECTOR: EncryptedVector,
    FieldTag.PACKED_VECTOR: PackedEncryptedVector,
    FieldTag.MASKED_VECTOR: MaskedVector,
}


def _tag_name(tag: int) -> str:
    try:
        return FieldTag(tag).name
    except ValueError:
        return "unknown"


# keyring ------------------------------------------------------------------------------


class Keyring:
    """The Paillier public keys a party knows, by their 16-byte fingerprint.

    :func:`decode` looks up the key of every received vector here; a key arrives in
    a message of its own and the runner adds it once it has accepted it
    (:meth:`remember`).

    Parameters
    ----------
    keys : iterable of PaillierPublicKey, optional
        Keys known from the start (e.g. the party's own).

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> keyring = Keyring()
    >>> keyring.add(public_key)
    >>> keyring.add(public_key)  # known already: nothing changes
    >>> len(keyring), public_key in keyring, public_key.fingerprint_bytes in keyring
    (1, True, True)
    >>> keyring.get(public_key.fingerprint_bytes) is public_key
    True
    >>> keyring.get(bytes(16))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CodecError: vector under unknown key 0000...; the key must be sent first
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[PaillierPublicKey] = ()) -> None:
        self._keys: dict[bytes, PaillierPublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, public_key: PaillierPublicKey) -> None:
        """Remember ``public_key`` (adding a known key again does nothing).

        Parameters
        ----------
        public_key : PaillierPublicKey
            A key this party has accepted.

        Raises
        ------
        TypeError
            If ``public_key`` is not a :class:`PaillierPublicKey`.
        """
        if not isinstance(public_key, PaillierPublicKey):
            raise TypeError(f"a keyring holds PaillierPublicKey, not {type(public_key).__name__}")
        self._keys.setdefault(public_key.fingerprint_bytes, public_key)

    def remember(self, message: Message) -> None:
        """Add every public key ``message`` carries (the one place that does).

        The runner calls it for each message it sends and each it hands to its role,
        :func:`vfl.runtime.local.run_locally` for each message on both sides of the codec;
        later vectors under those keys then decode.

        Parameters
        ----------
        message : Message
            A message this party sent or accepted.

        Examples
        --------
        >>> from crypto.paillier import generate_paillier_keypair
        >>> from protocols.messages import SumPublicKey
        >>> public_key, _ = generate_paillier_keypair(1024, allow_weak_key=True)
        >>> keyring = Keyring()
        >>> keyring.remember(SumPublicKey(job_id="job-1", sender="guest", receiver="host",
        ...                               public_key=public_key, length=3))
        >>> public_key in keyring
        True
        """
        for field in payload_fields(type(message)):
            value = getattr(message, field.name)
            if isinstance(value, PaillierPublicKey):
                self.add(value)

    def get(self, fingerprint: bytes) -> PaillierPublicKey:
        """The key with this fingerprint.

        Parameters
        ----------
        fingerprint : bytes
            :attr:`PaillierPublicKey.fingerprint_bytes` (16 bytes).

        Returns
        -------
        PaillierPublicKey

        Raises
        ------
        CodecError
            If no such key is known.
        """
        key = self._keys.get(bytes(fingerprint))
        if key is None:
            raise CodecError(
                f"vector under unknown key {bytes(fingerprint).hex()}; the key must be sent first"
            )
        return key

    def __contains__(self, item: object) -> bool:
        """Whether a fingerprint (bytes) or a key is known."""
        if isinstance(item, PaillierPublicKey):
            return self._keys.get(item.fingerprint_bytes) == item
        return isinstance(item, bytes) and item in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[PaillierPublicKey]:
        return iter(list(self._keys.values()))

    def __repr__(self) -> str:
        return f"<Keyring keys={len(self)}>"


# schema -------------------------------------------------------------------------------


def _annotation_tag(annotation: object) -> FieldTag | None:
    if isinstance(annotation, type) and annotation in _SIMPLE_TAGS:
        return _SIMPLE_TAGS[annotation]
    origin = typing.get_origin(annotation)
    if origin is np.ndarray:  # np.ndarray[...] and npt.NDArray[...]
        return FieldTag.ARRAY
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is int:
                return FieldTag.INT_TUPLE
            if args[0] is str:
                return FieldTag.STR_TUPLE
    return None


_SCHEMAS: dict[type[Message], tuple[tuple[str, FieldTag], ...]] = {}


def field_tags(cls: type[Message]) -> tuple[tuple[str, FieldTag], ...]:
    """The wire schema of a message class: ``(name, tag)`` of each payload field.

    Parameters
    ----------
    cls : type of Message
        A message class (registered or not).

    Returns
    -------
    tuple of (str, FieldTag)
        In declaration order, which is the order of the fields on the wire.

    Raises
    ------
    TypeError
        If an annotation cannot be resolved or is not one of the payload types.

    Examples
    --------
    >>> from protocols.messages import PsiHostSetup, SumPartial
    >>> field_tags(PsiHostSetup)
    (('size', <FieldTag.INT: 2>), ('rsa_public_key', <FieldTag.INT_TUPLE: 11>))
    >>> [tag.name for _, tag in field_tags(SumPartial)]
    ['PUBLIC_KEY', 'ENCRYPTED_VECTOR', 'INT']
    """
    if cls in _SCHEMAS:
        return _SCHEMAS[cls]
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError) as error:
        raise TypeError(f"cannot resolve the annotations of {cls.__name__}: {error}") from error
    schema = []
    for field in payload_fields(cls):
        tag = _annotation_tag(hints.get(field.name))
        if tag is None:
            raise TypeError(
                f"{cls.__name__}.{field.name} has annotation {hints.get(field.name)!r}, "
                "which is not a payload type"
            )
        schema.append((field.name, tag))
    if len(schema) > _U16:
        raise TypeError(f"{cls.__name__} has too many payload fields")
    _SCHEMAS[cls] = tuple(schema)
    return _SCHEMAS[cls]


def _check_header(
    job_id: object, sender: object, receiver: object, round_: object, batch: object
) -> str | None:
    """What is wrong with a header, or None (shared by encode and decode)."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        return f"job_id must be 1 to {MAX_JOB_ID_LENGTH} printable ASCII characters"
    for name, value in (("sender", sender), ("receiver", receiver)):
        if not isinstance(value, str) or not _PARTY_NAME.fullmatch(value):
            return (
                f"{name} must be a party name (a lowercase letter, then up to 62 "
                "lowercase letters, digits or hyphens)"
            )
    for name, value in (("round", round_), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32:
            return f"{name} must be an int in [0, 2**32)"
    return None


# encoding -----------------------------------------------------------------------------


def _short_str(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > _U16:
        raise CodecError(f"{what} is longer than {_U16} UTF-8 bytes")
    return len(raw).to_bytes(2, "big") + raw


def _utf8(value: str, where: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CodecError(f"{where}: string is not encodable as UTF-8") from error


def _encode_int(value: int, where: str) -> bytes:
    size = (value if value >= 0 else ~value).bit_length() // 8 + 1  # room for the sign bit
    if size > MAX_INT_BYTES:
        raise CodecError(f"{where}: integer exceeds {MAX_INT_BYTES} bytes")
    return value.to_bytes(size, "big", signed=True)


def _encode_array(value: npt.NDArray[Any], where: str) -> bytes:
    if type(value) is not np.ndarray:
        raise TypeError(f"{where}: expected a numpy.ndarray, got {type(value).__name__}")
    code = next(
        (
            c
            for c, wire in _ARRAY_DTYPES.items()
            if value.dtype.kind == wire.kind
            and value.dtype.itemsize == wire.itemsize
            and value.dtype.fields is None
            and value.dtype.subdtype is None
        ),
        None,
    )
    if code is None:
        raise TypeError(
            f"{where}: arrays of dtype {value.dtype} cannot be sent "
            f"(allowed: {', '.join(_DTYPE_NAMES.values())})"
        )
    if value.ndim > MAX_ARRAY_NDIM:
        raise CodecError(f"{where}: arrays have at most {MAX_ARRAY_NDIM} dimensions")
    if any(dim > MAX_ARRAY_DIM for dim in value.shape):
        raise CodecError(f"{where}: an array dimension exceeds {MAX_ARRAY_DIM}")
    data = np.ascontiguousarray(value, dtype=_ARRAY_DTYPES[code]).tobytes()
    shape = b"".join(_DIM.pack(dim) for dim in value.shape)
    return _ARRAY.pack(code, value.ndim) + shape + data


def _check_sequence(value: object, item_type: type, where: str) -> tuple[Any, ...]:
    if not isinstance(value, tuple):
        raise TypeError(f"{where}: expected a tuple, got {type(value).__name__}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, item_type):
            raise TypeError(
                f"{where}: expected a tuple of {item_type.__name__}, found a {type(item).__name__}"
            )
    if len(value) > MAX_SEQUENCE_ITEMS:
        raise CodecError(f"{where}: a tuple holds at most {MAX_SEQUENCE_ITEMS} items")
    return value


def _encode_int_tuple(value: object, where: str) -> bytes:
    items: tuple[int, ...] = _check_sequence(value, int, where)
    if any(item < 0 for item in items):
        raise CodecError(f"{where}: integer tuples hold non-negative integers only")
    width = max((max(1, (item.bit_length() + 7) // 8) for item in items), default=1)
    if width > MAX_INT_BYTES:
        raise CodecError(f"{where}: an integer exceeds {MAX_INT_BYTES} bytes")
    return _INT_TUPLE.pack(len(items), width) + b"".join(
        item.to_bytes(width, "big") for item in items
    )


def _encode_str_tuple(value: object, where: str) -> bytes:
    items: tuple[str, ...] = _check_sequence(value, str, where)
    parts = [_SEQUENCE.pack(len(items))]
    for index, item in enumerate(items):
        raw = _utf8(item, f"{where}[{index}]")
        if len(raw) > _U16:
            raise CodecError(f"{where}[{index}]: string is longer than {_U16} UTF-8 bytes")
        parts.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(parts)


def _encode_value(tag: FieldTag, value: object, where: str) -> bytes:
    if tag is FieldTag.BOOL:
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected a bool, got {type(value).__name__}")
        return b"\x01" if value else b"\x00"
    if tag is FieldTag.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: expected an int, got {type(value).__name__}")
        return _encode_int(value, where)
    if tag is FieldTag.FLOAT:
        if isinstance(value, bool) or not isinstance(value, float | int):
            raise TypeError(f"{where}: expected a float, got {type(value).__name__}")
        try:
            return _F64.pack(float(value))
        except OverflowError as error:
            raise CodecError(f"{where}: integer too large for a float") from error
    if tag is FieldTag.STR:
        if not isinstance(value, str):
            raise TypeError(f"{where}: expected a str, got {type(value).__name__}")
        raw = _utf8(value, where)
        if len(raw) > MAX_STR_BYTES:
            raise CodecError(f"{where}: string is longer than {MAX_STR_BYTES} UTF-8 bytes")
        return raw
    if tag is FieldTag.BYTES:
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"{where}: expected bytes, got {type(value).__name__}")
        return bytes(value)
    if tag is FieldTag.ARRAY:
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{where}: expected a numpy.ndarray, got {type(value).__name__}")
        return _encode_array(value, where)
    if tag is FieldTag.PUBLIC_KEY:
        if not isinstance(value, PaillierPublicKey):
            raise TypeError(f"{where}: expected a PaillierPublicKey, got {type(value).__name__}")
        return public_key_to_bytes(value)
    if tag in _VECTOR_TYPES:
        expected = _VECTOR_TYPES[tag]
        if not isinstance(value, expected):
            raise TypeError(f"{where}: expected a {expected.__name__}, got {type(value).__name__}")
        try:
            return vector_to_bytes(value)
        except struct.error as error:
            raise CodecError(f"{where}: the vector does not fit its byte format") from error
    if tag is FieldTag.INT_TUPLE:
        return _encode_int_tuple(value, where)
    if tag is FieldTag.STR_TUPLE:
        return _encode_str_tuple(value, where)
    raise AssertionError(f"unhandled tag {tag!r}")  # pragma: no cover


def encode(message: Message) -> bytes:
    """Encode a message into one frame.

    Parameters
    ----------
    message : Message
        An instance of a class registered in :data:`~protocols.messages.MESSAGE_TYPES`.

    Returns
    -------
    bytes
        The frame (see the module docstring for the format).

    Raises
    ------
    TypeError
        If ``message`` is not a registered message, or a field's value does not
        have the type its annotation declares.
    CodecError
        If a value has the right type but peers would refuse it: an invalid header
        (party name, job id, counters, protocol version) or a value over its
        type's limit (long string, huge integer, unsupported array shape...).

    Examples
    --------
    >>> from protocols.messages import Abort
    >>> frame = encode(Abort(job_id="job-1", sender="guest", receiver="host", reason="stop"))
    >>> frame[:4], len(frame)
    (b'VFLM', 48)
    >>> encode(Abort(job_id="job-1", sender="Guest", receiver="host", reason="stop"))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CodecError: cannot encode ABORT: ...
    """
    if not isinstance(message, Message):
        raise TypeError(f"expected a Message, got {type(message).__name__}")
    cls = type(message)
    kind = getattr(cls, "KIND", None)
    if kind is None or MESSAGE_TYPES.get(kind) is not cls:
        raise TypeError(f"{cls.__name__} is not a registered message class")
    name = getattr(kind, "name", str(kind))
    problem = _check_header(
        message.job_id, message.sender, message.receiver, message.round, message.batch
    )
    if problem is not None:
        raise CodecError(f"cannot encode {name}: {problem}")
    if isinstance(message.version, bool) or message.version != PROTOCOL_VERSION:
        raise CodecError(
            f"cannot encode {name}: version is {message.version!r}, this party speaks "
            f"protocol version {PROTOCOL_VERSION}"
        )
    schema = field_tags(cls)
    parts = [
        _PREAMBLE.pack(MAGIC, CODEC_VERSION, PROTOCOL_VERSION, int(kind)),
        _short_str(message.job_id, "job_id"),
        _short_str(message.sender, "sender"),
        _short_str(message.receiver, "receiver"),
        _COUNTERS.pack(message.round, message.batch, len(schema)),
    ]
    for field_name, tag in schema:
        value = _encode_value(tag, getattr(message, field_name), f"{name}.{field_name}")
        if len(value) > _U32:
            raise CodecError(f"{name}.{field_name}: value exceeds {_U32} bytes")
        parts.append(_FIELD.pack(tag, len(value)))
        parts.append(value)
    return b"".join(parts)


# decoding -----------------------------------------------------------------------------


class _Reader:
    """Reads a frame front to back, never past its end."""

    __slots__ = ("_data", "_offset")

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._offset = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, size: int, what: str) -> memoryview:
        if size > self.remaining:
            raise CodecError(f"truncated: {what} needs {size} bytes, {self.remaining} are left")
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def unpack(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        return layout.unpack(self.take(layout.size, what))

    def short_str(self, what: str) -> str:
        (size,) = self.unpack(_LENGTH16, f"length of {what}")
        raw = self.take(size, what)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as error:
            raise CodecError(f"{what} is not valid UTF-8") from error


def _decode_int(raw: memoryview, where: str) -> int:
    if not 1 <= len(raw) <= MAX_INT_BYTES:
        raise CodecError(f"{where}: an integer takes 1 to {MAX_INT_BYTES} bytes, not {len(raw)}")
    return int.from_bytes(raw, "big", signed=True)


def _decode_str(raw: memoryview, where: str) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as error:
        raise CodecError(f"{where}: string is not valid UTF-8") from error


def _decode_array(raw: memoryview, where: str) -> npt.NDArray[Any]:
    reader = _Reader(raw)
    code, ndim = reader.unpack(_ARRAY, f"{where} array header")
    wire = _ARRAY_DTYPES.get(code)
    if wire is None:
        raise CodecError(f"{where}: unknown array dtype code {code}")
    if ndim > MAX_ARRAY_NDIM:
        raise CodecError(f"{where}: {ndim} dimensions exceed the limit of {MAX_ARRAY_NDIM}")
    shape = tuple(reader.unpack(_DIM, f"{where} array shape")[0] for _ in range(ndim))
    if any(dim > MAX_ARRAY_DIM for dim in shape):
        raise CodecError(f"{where}: an array dimension exceeds {MAX_ARRAY_DIM}")
    size = math.prod(shape) * wire.itemsize
    if size != reader.remaining:
        raise CodecError(
            f"{where}: a {_DTYPE_NAMES[code]} array of {ndim} dimensions needs {size} "
            f"data bytes, the field has {reader.remaining}"
        )
    data = reader.take(size, f"{where} array data")
    if wire.kind == "b" and np.any(np.frombuffer(data, dtype=np.uint8) > 1):
        raise CodecError(f"{where}: a bool array holds a byte other than 0 or 1")
    try:
        array = np.frombuffer(data, dtype=wire).reshape(shape)
    except ValueError as error:  # e.g. a shape numpy cannot represent
        raise CodecError(f"{where}: invalid array shape") from error
    return array.astype(wire.newbyteorder("="), order="C", copy=True)


def _decode_int_tuple(raw: memoryview, where: str) -> tuple[int, ...]:
    reader = _Reader(raw)
    count, width = reader.unpack(_INT_TUPLE, f"{where} tuple header")
    if count > MAX_SEQUENCE_ITEMS:
        raise CodecError(f"{where}: {count} items exceed the limit of {MAX_SEQUENCE_ITEMS}")
    if not 1 <= width <= MAX_INT_BYTES:
        raise CodecError(f"{where}: integer width {width} is not in [1, {MAX_INT_BYTES}]")
    if count * width != reader.remaining:
        raise CodecError(
            f"{where}: {count} integers of {width} bytes do not fill the "
            f"{reader.remaining} bytes of the field"
        )
    data = reader.take(count * width, f"{where} integers")
    return tuple(int.from_bytes(data[i * width : (i + 1) * width], "big") for i in range(count))


def _decode_str_tuple(raw: memoryview, where: str) -> tuple[str, ...]:
    reader = _Reader(raw)
    (count,) = reader.unpack(_SEQUENCE, f"{where} tuple header")
    if count > MAX_SEQUENCE_ITEMS:
        raise CodecError(f"{where}: {count} items exceed the limit of {MAX_SEQUENCE_ITEMS}")
    if 2 * count > reader.remaining:
        raise CodecError(f"{where}: {reader.remaining} bytes cannot hold {count} strings")
    items = tuple(reader.short_str(f"{where}[{index}]") for index in range(count))
    if reader.remaining:
        raise CodecError(f"{where}: {reader.remaining} bytes after the last string")
    return items


def _decode_key(raw: memoryview, where: str, allow_weak_keys: bool) -> PaillierPublicKey:
    try:
        return public_key_from_bytes(bytes(raw), allow_weak_key=allow_weak_keys)
    except CryptoError as error:
        raise CodecError(f"{where}: invalid public key ({error})") from error


def _decode_vector(
    raw: memoryview,
    tag: FieldTag,
    where: str,
    keyring: Keyring,
    carried: dict[bytes, PaillierPublicKey],
) -> EncryptedVector | PackedEncryptedVector | MaskedVector:
    expected = _VECTOR_TYPES[tag]
    data = bytes(raw)
    if len(data) < _VECTOR_FINGERPRINT.stop:
        raise CodecError(f"{where}: {len(data)} bytes is too short for a ciphertext vector")
    fingerprint = data[_VECTOR_FINGERPRINT]
    public_key = carried.get(fingerprint)
    if public_key is None:
        try:
            public_key = keyring.get(fingerprint)
        except CodecError as error:
            raise CodecError(f"{where}: {error}") from error
    try:
        vector = vector_from_bytes(data, public_key, max_bytes=len(data))
    except CryptoError as error:
        raise CodecError(f"{where}: {error}") from error
    if not isinstance(vector, expected):
        raise CodecError(
            f"{where}: expected a {expected.__name__}, the bytes hold a {type(vector).__name__}"
        )
    return vector


def _decode_value(
    tag: FieldTag,
    raw: memoryview,
    where: str,
    keyring: Keyring,
    carried: dict[bytes, PaillierPublicKey],
    allow_weak_keys: bool,
) -> object:
    if tag is FieldTag.BOOL:
        if len(raw) != 1 or raw[0] > 1:
            raise CodecError(f"{where}: a bool is one byte, 0 or 1")
        return raw[0] == 1
    if tag is FieldTag.INT:
        return _decode_int(raw, where)
    if tag is FieldTag.FLOAT:
        if len(raw) != _F64.size:
            raise CodecError(f"{where}: a float is {_F64.size} bytes, not {len(raw)}")
        return _F64.unpack(raw)[0]
    if tag is FieldTag.STR:
        if len(raw) > MAX_STR_BYTES:
            raise CodecError(f"{where}: string is longer than {MAX_STR_BYTES} bytes")
        return _decode_str(raw, where)
    if tag is FieldTag.BYTES:
        return bytes(raw)
    if tag is FieldTag.ARRAY:
        return _decode_array(raw, where)
    if tag is FieldTag.PUBLIC_KEY:
        public_key = _decode_key(raw, where, allow_weak_keys)
        carried.setdefault(public_key.fingerprint_bytes, public_key)
        return public_key
    if tag in _VECTOR_TYPES:
        return _decode_vector(raw, tag, where, keyring, carried)
    if tag is FieldTag.INT_TUPLE:
        return _decode_int_tuple(raw, where)
    if tag is FieldTag.STR_TUPLE:
        return _decode_str_tuple(raw, where)
    raise AssertionError(f"unhandled tag {tag!r}")  # pragma: no cover


def _message_class(kind: int) -> type[Message] | None:
    for registered, cls in MESSAGE_TYPES.items():
        if int(registered) == kind:
            return cls
    return None


def decode(
    data: bytes,
    keyring: Keyring,
    *,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    allow_weak_keys: bool = False,
) -> Message:
    """Decode and validate one frame.

    A vector field is decoded under the key with the fingerprint its bytes name:
    a key of ``keyring``, or a key carried by an earlier field of the same message
    (so a message that carries its own key decodes on its own).  Public keys found
    in the message pass the key-size policy but are not added to ``keyring``: the
    caller decides whether to trust them.

    Parameters
    ----------
    data : bytes
        The frame (``bytes``, ``bytearray`` or ``memoryview``).
    keyring : Keyring
        The known keys, for vectors whose key the message does not carry.
    max_bytes : int, default DEFAULT_MAX_MESSAGE_BYTES
        Refuse longer frames before reading anything.
    allow_weak_keys : bool, default False
        Accept public keys below the key-size policy (tests and benchmarks only).

    Returns
    -------
    Message
        An instance of the class registered for the frame's kind.

    Raises
    ------
    CodecError
        On any problem (and nothing else), saying which part of the frame is wrong.

    Examples
    --------
    A vector decodes under a key the receiver knows:

    >>> from protocols.messages import LrCross
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> cross = public_key.encrypt_vector([0.5, -1.0])
    >>> frame = encode(LrCross(job_id="job-1", sender="host", receiver="guest", cross=cross))
    >>> message = decode(frame, Keyring([public_key]), allow_weak_keys=True)
    >>> message.describe(), private_key.decrypt_vector(message.cross).tolist()
    ('LR_CROSS host->guest round=0 batch=0', [0.5, -1.0])
    >>> decode(frame, Keyring())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CodecError: LR_CROSS.cross: vector under unknown key ...; the key must be ...
    >>> decode(frame[:-1], Keyring([public_key]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CodecError: ...
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    view = memoryview(data)
    if view.nbytes > max_bytes:
        raise CodecError(f"frame of {view.nbytes} bytes exceeds the limit of {max_bytes}")
    if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
        view = memoryview(view.tobytes())
    reader = _Reader(view)
    magic, codec_version, protocol_version, kind = reader.unpack(_PREAMBLE, "frame header")
    if magic != MAGIC:
        raise CodecError("not a message frame (wrong magic bytes)")
    if codec_version != CODEC_VERSION:
        raise CodecError(
            f"frame uses codec version {codec_version}, this party reads {CODEC_VERSION}"
        )
    if protocol_version != PROTOCOL_VERSION:
        raise CodecError(
            f"peer speaks protocol version {protocol_version}, this party speaks {PROTOCOL_VERSION}"
        )
    cls = _message_class(kind)
    if cls is None:
        raise CodecError(f"unknown message kind {kind}")
    name = getattr(cls.KIND, "name", str(kind))
    try:
        schema = field_tags(cls)
    except TypeError as error:
        raise CodecError(f"{name} messages cannot be decoded: {error}") from error

    header: dict[str, Any] = {"version": protocol_version}
    for field_name in ("job_id", "sender", "receiver"):
        header[field_name] = reader.short_str(f"{name} {field_name}")
    header["round"], header["batch"], count = reader.unpack(_COUNTERS, f"{name} header")
    problem = _check_header(
        header["job_id"], header["sender"], header["receiver"], header["round"], header["batch"]
    )
    if problem is not None:
        raise CodecError(f"invalid {name} header: {problem}")
    if count != len(schema):
        raise CodecError(f"{name} has {len(schema)} payload fields, the frame declares {count}")

    values: dict[str, Any] = {}
    carried: dict[bytes, PaillierPublicKey] = {}  # keys of earlier fields of this message
    for index, (field_name, expected) in enumerate(schema):
        where = f"{name}.{field_name}"
        tag, size = reader.unpack(_FIELD, f"{where} field header")
        if tag != expected:
            raise CodecError(
                f"{where} (field {index}): expected tag {int(expected)} ({expected.name}), "
                f"got tag {tag} ({_tag_name(tag)})"
            )
        values[field_name] = _decode_value(
            expected, reader.take(size, where), where, keyring, carried, allow_weak_keys
        )
    if reader.remaining:
        raise CodecError(f"{reader.remaining} trailing bytes after the last field of {name}")
    try:
        return cls(**header, **values)
    except (TypeError, ValueError) as error:
        raise CodecError(f"{name} refused its decoded fields: {error}") from error

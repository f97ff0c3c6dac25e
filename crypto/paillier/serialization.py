"""Keys and ciphertext vectors to bytes and JSON, validated on load; never pickle.

Vector format (big-endian)::

    magic    4s  b"VFLP"
    version  B   1
    kind     B   1 = EncryptedVector, 2 = PackedEncryptedVector, 3 = MaskedVector
    reserved H   0
    key      16s first 16 bytes of SHA-256 over n (the key's fingerprint)
    exponent i
    count    Q   number of ciphertexts
    length   Q   number of values
    boundlen H   then `boundlen` bytes: the mantissa bound
    slotbits I   packing slot width (0 unless packed)
    slots    I   values per ciphertext (0 unless packed)
    then `count` ciphertexts of exactly ceil(bits(n**2) / 8) bytes each

Loading checks every field against the receiver's key, the exact total size, an
optional size limit, and every ciphertext (in ``(0, n**2)``, coprime to ``n``).

Key JSON: ``{"type": "paillier-public-key", "version": 1, "n": "<hex>"}`` and
``{"type": "paillier-private-key", "version": 1, "n": ..., "p": ..., "q": ...}``.
Key bytes: ``b"VFLK"``, version, kind (1 public, 2 private), then each integer as a
2-byte length and big-endian bytes.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from gmpy2 import mpz

from crypto.encoding import max_int
from crypto.exceptions import DeserializationError, KeyMismatchError
from crypto.paillier.keys import MAX_KEY_BITS, PaillierPrivateKey, PaillierPublicKey
from crypto.paillier.masking import MaskedVector
from crypto.paillier.packing import PackedEncryptedVector, PackingLayout
from crypto.paillier.validation import validate_ciphertexts
from crypto.paillier.vector import EncryptedVector

__all__ = [
    "DEFAULT_MAX_VECTOR_BYTES",
    "private_key_from_bytes",
    "private_key_from_json",
    "private_key_to_bytes",
    "private_key_to_json",
    "public_key_from_bytes",
    "public_key_from_json",
    "public_key_to_bytes",
    "public_key_to_json",
    "vector_from_bytes",
    "vector_to_bytes",
]

VECTOR_MAGIC = b"VFLP"
KEY_MAGIC = b"VFLK"
FORMAT_VERSION = 1
DEFAULT_MAX_VECTOR_BYTES = 1 << 30
"""Refuse serialised vectors larger than this (1 GiB) unless told otherwise."""
MAX_ABS_EXPONENT = 4096

_KIND_VECTOR, _KIND_PACKED, _KIND_MASKED = 1, 2, 3
_KEY_PUBLIC, _KEY_PRIVATE = 1, 2
_HEADER = struct.Struct(">4sBBH16siQQH")
_PACKING = struct.Struct(">II")
_MAX_INT_HEX = MAX_KEY_BITS // 4 + 1
_HEX = re.compile(r"[0-9a-fA-F]+", re.ASCII)

AnyVector = EncryptedVector | PackedEncryptedVector | MaskedVector


def ciphertext_width(public_key: PaillierPublicKey) -> int:
    """Bytes per serialised ciphertext: ``ceil(bits(n**2) / 8)``.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key.

    Returns
    -------
    int
        The width, e.g. 256 for a 1024-bit key.
    """
    return (public_key.nsquare.bit_length() + 7) // 8


def vector_to_bytes(vector: AnyVector) -> bytes:
    """Serialise an encrypted, packed or masked vector.

    Parameters
    ----------
    vector : EncryptedVector, PackedEncryptedVector or MaskedVector
        The vector.

    Returns
    -------
    bytes
        The format of the module documentation (header, then fixed-width
        ciphertexts).

    Raises
    ------
    TypeError
        If ``vector`` is of another type.
    ValueError
        If its exponent is outside the serialisable range.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = vector_to_bytes(public_key.encrypt_vector([1.5, -2.0]))
    >>> data[:4], ciphertext_width(public_key)
    (b'VFLP', 256)
    >>> EncryptedVector.from_bytes(data, public_key).exponent
    -8
    """
    public_key = vector.public_key
    width = ciphertext_width(public_key)
    if isinstance(vector, EncryptedVector):
        kind, exponent, length, bound, slot_bits, slots = (
            _KIND_VECTOR,
            vector.exponent,
            len(vector),
            vector.bound,
            0,
            0,
        )
    elif isinstance(vector, PackedEncryptedVector):
        layout = vector.layout
        kind, exponent, length, bound, slot_bits, slots = (
            _KIND_PACKED,
            vector.exponent,
            layout.length,
            layout.bound,
            layout.slot_bits,
            layout.slots,
        )
    elif isinstance(vector, MaskedVector):
        kind, exponent, length, bound, slot_bits, slots = _KIND_MASKED, 0, len(vector), 0, 0, 0
    else:
        raise TypeError(f"cannot serialise a {type(vector).__name__}")
    if abs(exponent) > MAX_ABS_EXPONENT:
        raise ValueError(
            f"exponent {exponent} is outside the serialisable range ±{MAX_ABS_EXPONENT}"
        )
    bound_bytes = bound.to_bytes(max(1, (bound.bit_length() + 7) // 8), "big")
    parts = [
        _HEADER.pack(
            VECTOR_MAGIC,
            FORMAT_VERSION,
            kind,
            0,
            public_key.fingerprint_bytes,
            exponent,
            len(vector._ciphertexts),
            length,
            len(bound_bytes),
        ),
        bound_bytes,
        _PACKING.pack(slot_bits, slots),
    ]
    parts.extend(c.to_bytes(width, "big") for c in vector._ciphertexts)
    return b"".join(parts)


def _fail(message: str) -> DeserializationError:
    return DeserializationError(f"invalid ciphertext vector: {message}")


def vector_from_bytes(
    data: bytes, public_key: PaillierPublicKey, *, max_bytes: int | None = None
) -> AnyVector:
    """Deserialise a vector and validate it against ``public_key``.

    Parameters
    ----------
    data : bytes
        Output of :func:`vector_to_bytes`.
    public_key : PaillierPublicKey
        The key the vector must be encrypted under.
    max_bytes : int, optional
        Refuse larger inputs (default :data:`DEFAULT_MAX_VECTOR_BYTES`).

    Returns
    -------
    EncryptedVector, PackedEncryptedVector or MaskedVector
        The vector, of the kind its header names.

    Raises
    ------
    DeserializationError
        On any malformed field, size or ciphertext.
    KeyMismatchError
        If the vector is under another key.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = vector_to_bytes(public_key.encrypt_vector([1.5, -2.0]))
    >>> private_key.decrypt_vector(vector_from_bytes(data, public_key)).tolist()
    [1.5, -2.0]
    >>> vector_from_bytes(data[:-1], public_key)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.DeserializationError: invalid ciphertext vector: ... bytes of ciphertexts ...
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise _fail(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    limit = DEFAULT_MAX_VECTOR_BYTES if max_bytes is None else max_bytes
    if len(data) > limit:
        raise _fail(f"{len(data)} bytes exceed the limit of {limit}")
    if len(data) < _HEADER.size:
        raise _fail(f"{len(data)} bytes is shorter than the {_HEADER.size}-byte header")
    magic, version, kind, reserved, fingerprint, exponent, count, length, bound_len = (
        _HEADER.unpack_from(data)
    )
    if magic != VECTOR_MAGIC:
        raise _fail("wrong magic bytes (not a serialised vector)")
    if version != FORMAT_VERSION:
        raise _fail(f"format version {version} is not supported (expected {FORMAT_VERSION})")
    if kind not in (_KIND_VECTOR, _KIND_PACKED, _KIND_MASKED) or reserved != 0:
        raise _fail(f"unknown kind {kind} or non-zero reserved field")
    if fingerprint != public_key.fingerprint_bytes:
        raise KeyMismatchError(
            f"vector is encrypted under key {fingerprint.hex()}, expected {public_key.fingerprint}"
        )
    if abs(exponent) > MAX_ABS_EXPONENT:
        raise _fail(f"exponent {exponent} is out of range")
    width = ciphertext_width(public_key)
    if bound_len < 1 or bound_len > width:
        raise _fail(f"bound length {bound_len} is out of range")
    offset = _HEADER.size
    bound_end = offset + bound_len
    if len(data) < bound_end + _PACKING.size:
        raise _fail("truncated header")
    bound = int.from_bytes(data[offset:bound_end], "big")
    slot_bits, slots = _PACKING.unpack_from(data, bound_end)
    body = bound_end + _PACKING.size
    if count > (len(data) - body) // width or body + count * width != len(data):
        raise _fail(
            f"{len(data) - body} bytes of ciphertexts do not hold exactly {count} "
            f"ciphertexts of {width} bytes"
        )
    if bound > max_int(public_key.n):
        raise _fail("bound exceeds the plaintext space")
    ciphertexts = validate_ciphertexts(
        (
            mpz.from_bytes(data[body + i * width : body + (i + 1) * width], "big")
            for i in range(count)
        ),
        public_key._n,
        public_key._n2,
    )
    if kind == _KIND_VECTOR:
        if slot_bits or slots or count != length:
            raise _fail("a plain vector has one ciphertext per value and no packing")
        return EncryptedVector._trusted(public_key, ciphertexts, exponent, bound)
    if kind == _KIND_MASKED:
        if slot_bits or slots or exponent or bound or count != length:
            raise _fail("a masked vector carries only ciphertexts")
        return MaskedVector(public_key, ciphertexts)
    layout = PackingLayout(length=length, slot_bits=slot_bits, slots=slots, bound=bound)
    try:
        layout.validate(public_key.bits)
    except ValueError as error:
        raise _fail(str(error)) from error
    if count != layout.ciphertexts:
        raise _fail(f"layout needs {layout.ciphertexts} ciphertexts, got {count}")
    return PackedEncryptedVector(public_key, ciphertexts, exponent, layout)


# keys ---------------------------------------------------------------------------------


def _hex(value: int) -> str:
    return format(value, "x")


def _parse_hex(document: dict[str, Any], field: str) -> int:
    text = document.get(field)
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_INT_HEX:
        raise DeserializationError(f"key field {field!r} must be a hex string")
    if not _HEX.fullmatch(text):  # int(text, 16) would also take "0x", "_", spaces, signs
        raise DeserializationError(f"key field {field!r} is not valid hex")
    return int(text, 16)


def _load_document(text: object, kind: str, fields: set[str]) -> dict[str, Any]:
    if isinstance(text, str | bytes | bytearray):
        if len(text) > 16 * _MAX_INT_HEX:
            raise DeserializationError("key JSON is too large")
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise DeserializationError(f"key is not valid JSON: {error}") from error
        except RecursionError:  # "[[[[...": nested deeper than the parser's stack
            raise DeserializationError("key is not valid JSON: nested too deeply") from None
    else:
        document = text
    if not isinstance(document, dict):
        raise DeserializationError("key JSON must be an object")
    if document.get("type") != kind:
        raise DeserializationError(f"expected a {kind!r}, got type {document.get('type')!r}")
    version = document.get("version")
    if type(version) is not int or version != FORMAT_VERSION:  # not 1.0, not true
        raise DeserializationError(f"unsupported key version {version!r}")
    unknown = set(document) - fields - {"type", "version"}
    if unknown:
        raise DeserializationError(f"unknown key fields: {sorted(unknown, key=str)}")
    return document


def public_key_to_json(public_key: PaillierPublicKey) -> str:
    """Serialise a public key to JSON.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key.

    Returns
    -------
    str
        ``{"type": "paillier-public-key", "version": 1, "n": "<hex>"}``.

    Examples
    --------
    >>> import json
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> document = json.loads(public_key_to_json(public_key))
    >>> document["type"], int(document["n"], 16) == public_key.n
    ('paillier-public-key', True)
    """
    return json.dumps(
        {"type": "paillier-public-key", "version": FORMAT_VERSION, "n": _hex(public_key.n)}
    )


def public_key_from_json(
    text: str | bytes | dict[str, Any], *, allow_weak_key: bool = False
) -> PaillierPublicKey:
    """Load and validate a public key from JSON (the key-size policy applies).

    Parameters
    ----------
    text : str, bytes or dict
        The JSON document (or its parsed object).
    allow_weak_key : bool, default False
        Accept a modulus shorter than 2048 bits (tests and benchmarks).

    Returns
    -------
    PaillierPublicKey
        The key.

    Raises
    ------
    DeserializationError
        If the document is not valid JSON of a version-1 public key.
    WeakKeyError
        If the key is too short and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``n`` is not a valid modulus.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> text = public_key_to_json(public_key)
    >>> public_key_from_json(text, allow_weak_key=True) == public_key
    True
    >>> public_key_from_json(text)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.WeakKeyError: a 1024-bit Paillier key is below the 2048-bit minimum ...
    """
    document = _load_document(text, "paillier-public-key", {"n"})
    return PaillierPublicKey(_parse_hex(document, "n"), allow_weak_key=allow_weak_key)


def private_key_to_json(private_key: PaillierPrivateKey) -> str:
    """Serialise a private key to JSON (keep the result secret).

    Parameters
    ----------
    private_key : PaillierPrivateKey
        The key.

    Returns
    -------
    str
        ``{"type": "paillier-private-key", "version": 1, "n": ..., "p": ..., "q": ...}``
        with hex integers.

    Examples
    --------
    >>> import json
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> sorted(json.loads(private_key_to_json(private_key)))
    ['n', 'p', 'q', 'type', 'version']
    """
    return json.dumps(
        {
            "type": "paillier-private-key",
            "version": FORMAT_VERSION,
            "n": _hex(private_key.public_key.n),
            "p": _hex(private_key.p),
            "q": _hex(private_key.q),
        }
    )


def private_key_from_json(
    text: str | bytes | dict[str, Any], *, allow_weak_key: bool = False
) -> PaillierPrivateKey:
    """Load and validate a private key from JSON (``p * q == n``, both prime).

    Parameters
    ----------
    text : str, bytes or dict
        The JSON document (or its parsed object).
    allow_weak_key : bool, default False
        Accept a modulus shorter than 2048 bits (tests and benchmarks).

    Returns
    -------
    PaillierPrivateKey
        The key, with its public key.

    Raises
    ------
    DeserializationError
        If the document is not valid JSON of a version-1 private key.
    WeakKeyError
        If the key is too short and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``p * q != n`` or a factor is not prime.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> text = private_key_to_json(private_key)
    >>> private_key_from_json(text, allow_weak_key=True) == private_key
    True
    """
    document = _load_document(text, "paillier-private-key", {"n", "p", "q"})
    public_key = PaillierPublicKey(_parse_hex(document, "n"), allow_weak_key=allow_weak_key)
    return PaillierPrivateKey(public_key, _parse_hex(document, "p"), _parse_hex(document, "q"))


def _pack_ints(kind: int, values: list[int]) -> bytes:
    parts = [KEY_MAGIC, bytes([FORMAT_VERSION, kind])]
    for value in values:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        parts.append(len(raw).to_bytes(2, "big") + raw)
    return b"".join(parts)


def _unpack_ints(data: bytes, kind: int, count: int) -> list[int]:
    if not isinstance(data, bytes | bytearray) or len(data) < 6:
        raise DeserializationError("serialised key is too short")
    if data[:4] != KEY_MAGIC or data[4] != FORMAT_VERSION or data[5] != kind:
        raise DeserializationError("not a serialised key of the expected kind and version")
    values, offset = [], 6
    for _ in range(count):
        if offset + 2 > len(data):
            raise DeserializationError("serialised key is truncated")
        size = int.from_bytes(data[offset : offset + 2], "big")
        if size == 0 or size > MAX_KEY_BITS // 8 or offset + 2 + size > len(data):
            raise DeserializationError("serialised key has a bad field length")
        if data[offset + 2] == 0:
            raise DeserializationError("serialised key has a non-canonical integer (leading zero)")
        values.append(int.from_bytes(data[offset + 2 : offset + 2 + size], "big"))
        offset += 2 + size
    if offset != len(data):
        raise DeserializationError("serialised key has trailing bytes")
    return values


def public_key_to_bytes(public_key: PaillierPublicKey) -> bytes:
    """Serialise a public key to bytes.

    Parameters
    ----------
    public_key : PaillierPublicKey
        The key.

    Returns
    -------
    bytes
        ``b"VFLK"``, version 1, kind 1, then ``n`` (2-byte length, big-endian bytes).

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = public_key_to_bytes(public_key)
    >>> data[:4], data[4], data[5], len(data)  # magic, version, kind 1
    (b'VFLK', 1, 1, 136)
    """
    return _pack_ints(_KEY_PUBLIC, [public_key.n])


def public_key_from_bytes(data: bytes, *, allow_weak_key: bool = False) -> PaillierPublicKey:
    """Load and validate a public key from bytes.

    Parameters
    ----------
    data : bytes
        Output of :func:`public_key_to_bytes`.
    allow_weak_key : bool, default False
        Accept a modulus shorter than 2048 bits (tests and benchmarks).

    Returns
    -------
    PaillierPublicKey
        The key.

    Raises
    ------
    DeserializationError
        If ``data`` is truncated, has trailing bytes or is not a public key.
    WeakKeyError
        If the key is too short and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``n`` is not a valid modulus.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = public_key_to_bytes(public_key)
    >>> public_key_from_bytes(data, allow_weak_key=True) == public_key
    True
    """
    (n,) = _unpack_ints(data, _KEY_PUBLIC, 1)
    return PaillierPublicKey(n, allow_weak_key=allow_weak_key)


def private_key_to_bytes(private_key: PaillierPrivateKey) -> bytes:
    """Serialise a private key to bytes (keep the result secret).

    Parameters
    ----------
    private_key : PaillierPrivateKey
        The key.

    Returns
    -------
    bytes
        ``b"VFLK"``, version 1, kind 2, then ``n``, ``p`` and ``q``.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = private_key_to_bytes(private_key)
    >>> data[:4], data[4], data[5]  # magic, version, kind 2
    (b'VFLK', 1, 2)
    """
    return _pack_ints(_KEY_PRIVATE, [private_key.public_key.n, private_key.p, private_key.q])


def private_key_from_bytes(data: bytes, *, allow_weak_key: bool = False) -> PaillierPrivateKey:
    """Load and validate a private key from bytes.

    Parameters
    ----------
    data : bytes
        Output of :func:`private_key_to_bytes`.
    allow_weak_key : bool, default False
        Accept a modulus shorter than 2048 bits (tests and benchmarks).

    Returns
    -------
    PaillierPrivateKey
        The key, with its public key.

    Raises
    ------
    DeserializationError
        If ``data`` is truncated, has trailing bytes or is not a private key.
    WeakKeyError
        If the key is too short and ``allow_weak_key`` is false.
    InvalidKeyError
        If ``p * q != n`` or a factor is not prime.

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> data = private_key_to_bytes(private_key)
    >>> restored = private_key_from_bytes(data, allow_weak_key=True)
    >>> restored.decrypt(public_key.encrypt(7))
    7
    """
    n, p, q = _unpack_ints(data, _KEY_PRIVATE, 3)
    return PaillierPrivateKey(PaillierPublicKey(n, allow_weak_key=allow_weak_key), p, q)

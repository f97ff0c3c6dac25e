"""The wire codec: round trips of every message and payload type, and hostile frames.

Every payload type is exercised through ``AllTypes``, a message class that exists
only in this module.  Defining a ``Message`` subclass with ``KIND`` in its body would
register it in ``MESSAGE_TYPES`` for the whole test session, so ``AllTypes`` gets its
kind (250, outside ``MessageKind``) after the class body and is registered only while
a test that needs it runs (the ``all_types`` fixture, through ``monkeypatch``).
"""

from __future__ import annotations

import dataclasses
import enum
import struct
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.exceptions import DeserializationError, WeakKeyError
from crypto.paillier import (
    EncryptedVector,
    MaskedVector,
    PackedEncryptedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
)
from crypto.paillier.serialization import public_key_to_bytes, vector_to_bytes
from protocols.messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Abort,
    Message,
    SumPartial,
    SumPublicKey,
    SumResult,
)
from vfl.exceptions import CodecError
from vfl.runtime.codec import (
    MAGIC,
    MAX_INT_BYTES,
    MAX_SEQUENCE_ITEMS,
    MAX_STR_BYTES,
    FieldTag,
    Keyring,
    decode,
    encode,
    field_tags,
)

HYPOTHESIS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HEADER = {"job_id": "job-7", "sender": "alice", "receiver": "bob"}
KIND_OFFSET, VERSION_OFFSET = 7, 5  # after magic (4), codec version (1), protocol version (2)


class _TestKind(enum.IntEnum):
    ALL_TYPES = 250


@dataclasses.dataclass(frozen=True, kw_only=True)
class AllTypes(Message):
    """One field of every payload type; the key comes last, after the vectors."""

    flag: bool
    number: int
    real: float
    text: str
    blob: bytes
    array: np.ndarray
    vector: EncryptedVector
    packed: PackedEncryptedVector
    masked: MaskedVector
    plaintexts: tuple[int, ...]
    names: tuple[str, ...]
    key: PaillierPublicKey


AllTypes.KIND = _TestKind.ALL_TYPES  # after the class body: not registered on import


@pytest.fixture
def all_types(monkeypatch: pytest.MonkeyPatch) -> type[AllTypes]:
    monkeypatch.setitem(MESSAGE_TYPES, _TestKind.ALL_TYPES, AllTypes)
    return AllTypes


@pytest.fixture(scope="module")
def vectors(
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> tuple[EncryptedVector, PackedEncryptedVector, MaskedVector, Any]:
    public_key, _ = keypair
    vector = public_key.encrypt_vector(np.array([1.5, -2.25, 0.0, 1e6]))
    masked, mask = vector.mask()
    return vector, vector.pack(), masked, mask


def _sample(public_key: PaillierPublicKey, vectors: Any, **overrides: Any) -> AllTypes:
    vector, packed, masked, _ = vectors
    values: dict[str, Any] = {
        "flag": True,
        "number": -(2**1000),
        "real": -0.1,
        "text": "naïve ☃ 日本 \U0001f600",
        "blob": bytes(range(256)),
        "array": np.arange(12, dtype=np.float64).reshape(3, 4) / 7,
        "vector": vector,
        "packed": packed,
        "masked": masked,
        "plaintexts": (0, 1, public_key.n - 1, 2**200),
        "names": ("alice", "", "bøb"),
        "key": public_key,
    }
    values.update(overrides)
    return AllTypes(**HEADER, **values)


def _same_value(left: object, right: object) -> bool:
    if isinstance(left, np.ndarray):
        return (
            isinstance(right, np.ndarray)
            and left.dtype == right.dtype
            and left.shape == right.shape
            and left.tobytes() == right.tobytes()
        )
    if isinstance(left, EncryptedVector | PackedEncryptedVector | MaskedVector):
        return type(left) is type(right) and vector_to_bytes(left) == vector_to_bytes(right)
    if isinstance(left, float):
        return isinstance(right, float) and struct.pack(">d", left) == struct.pack(">d", right)
    return type(left) is type(right) and left == right


def _assert_same(original: Message, decoded: Message) -> None:
    assert type(decoded) is type(original)
    for field in dataclasses.fields(original):
        left, right = getattr(original, field.name), getattr(decoded, field.name)
        assert _same_value(left, right), field.name


def _field_frame(
    kind: int,
    fields: list[tuple[int, bytes]],
    *,
    job_id: bytes = b"job-7",
    sender: bytes = b"alice",
    receiver: bytes = b"bob",
    version: int = PROTOCOL_VERSION,
    count: int | None = None,
) -> bytes:
    """A frame built by hand (independently of ``encode``)."""
    parts = [MAGIC, bytes([1]), struct.pack(">HH", version, kind)]
    for text in (job_id, sender, receiver):
        parts.append(struct.pack(">H", len(text)) + text)
    parts.append(struct.pack(">IIH", 0, 0, len(fields) if count is None else count))
    for tag, value in fields:
        parts.append(struct.pack(">BI", tag, len(value)) + value)
    return b"".join(parts)


def _int_field(value: int) -> tuple[int, bytes]:
    return FieldTag.INT, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


# round trips ---------------------------------------------------------------------------


def _example(tag: FieldTag, public_key: PaillierPublicKey, vectors: Any) -> object:
    vector, packed, masked, _ = vectors
    return {
        FieldTag.BOOL: False,
        FieldTag.INT: 12345,
        FieldTag.FLOAT: 2.5,
        FieldTag.STR: "a reason",
        FieldTag.BYTES: b"\x00\x01",
        FieldTag.ARRAY: np.array([1.0, -2.0]),
        FieldTag.PUBLIC_KEY: public_key,
        FieldTag.ENCRYPTED_VECTOR: vector,
        FieldTag.PACKED_VECTOR: packed,
        FieldTag.MASKED_VECTOR: masked,
        FieldTag.INT_TUPLE: (3, 2**64),
        FieldTag.STR_TUPLE: ("x", "y"),
    }[tag]


def test_every_registered_message_type_round_trips(
    public_key: PaillierPublicKey, vectors: Any
) -> None:
    assert {Abort, SumPublicKey, SumPartial, SumResult} <= set(MESSAGE_TYPES.values())
    for cls in MESSAGE_TYPES.values():
        payload = {name: _example(tag, public_key, vectors) for name, tag in field_tags(cls)}
        message = cls(**HEADER, round=3, batch=2**32 - 1, **payload)
        keyring = Keyring([public_key])
        _assert_same(message, decode(encode(message), keyring, allow_weak_keys=True))


def test_existing_messages_round_trip(
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> None:
    public_key, private_key = keypair
    abort = Abort(job_id="j " * 64, sender="a", receiver="b" * 63, reason="")
    _assert_same(abort, decode(encode(abort), Keyring()))
    key_message = SumPublicKey(**HEADER, public_key=public_key, length=0)
    _assert_same(key_message, decode(encode(key_message), Keyring(), allow_weak_keys=True))
    totals = np.array([[1.0, np.inf], [np.nan, -0.0]])
    result = SumResult(**HEADER, totals=totals, contributors=2)
    _assert_same(result, decode(encode(result), Keyring()))
    partial = SumPartial(
        **HEADER,
        public_key=public_key,
        partial=public_key.encrypt_vector(np.array([0.5, -3.0])),
        contributors=1,
    )
    keyring = Keyring()
    decoded = decode(encode(partial), keyring, allow_weak_keys=True)
    assert isinstance(decoded, SumPartial)
    # The vector decodes under the key carried by the same message; the keyring is untouched.
    assert len(keyring) == 0
    assert private_key.decrypt_vector(decoded.partial).tolist() == [0.5, -3.0]


def test_every_payload_type_round_trips(
    all_types: type[AllTypes],
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
    vectors: Any,
) -> None:
    public_key, private_key = keypair
    message = _sample(public_key, vectors)
    frame = encode(message)
    assert frame.startswith(MAGIC)
    decoded = decode(frame, Keyring([public_key]), allow_weak_keys=True)
    _assert_same(message, decoded)
    assert isinstance(decoded, AllTypes)
    expected = [1.5, -2.25, 0.0, 1e6]
    assert private_key.decrypt_vector(decoded.vector).tolist() == expected
    assert private_key.decrypt_vector(decoded.packed).tolist() == expected
    assert vectors[3].unmask(private_key.decrypt_raw(decoded.masked)).tolist() == expected
    assert decoded.key == public_key and decoded.key.allow_weak_key
    # bytearray and memoryview frames decode the same
    _assert_same(message, decode(bytearray(frame), Keyring([public_key]), allow_weak_keys=True))
    _assert_same(message, decode(memoryview(frame), Keyring([public_key]), allow_weak_keys=True))


ARRAYS = [
    np.array([], dtype=np.float64),
    np.zeros((0, 3), dtype=np.int64),
    np.zeros((2, 0, 5), dtype=np.uint8),
    np.array(3.5),  # 0-d
    np.array([True, False, True]),
    np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 12,
    np.array([0, 255], dtype=np.uint8),
    np.array([-0.0, np.inf, -np.inf, 5e-324, np.finfo(np.float64).max]),
    np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
    np.arange(20, dtype=">f8").reshape(4, 5)[:, ::2],  # big-endian, non-contiguous
    np.asfortranarray(np.arange(6, dtype="<i8").reshape(2, 3)),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_arrays_round_trip(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any, array: Any
) -> None:
    decoded = decode(
        encode(_sample(public_key, vectors, array=array)),
        Keyring([public_key]),
        allow_weak_keys=True,
    )
    assert isinstance(decoded, AllTypes)
    result = decoded.array
    assert result.dtype == array.dtype.newbyteorder("=") and result.dtype.isnative
    assert result.shape == array.shape and result.flags.c_contiguous and result.flags.writeable
    np.testing.assert_array_equal(result, array)


BIG = 8 * MAX_INT_BYTES - 1  # bits of the largest magnitude an int field holds


@pytest.mark.parametrize(
    "number",
    [0, 1, -1, 127, 128, -128, -129, 2**63, -(2**63) - 1, 2**BIG - 1, -(2**BIG)],
    ids=lambda number: f"{number.bit_length()}-bit{'-negative' if number < 0 else ''}",
)
def test_big_ints_round_trip(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any, number: int
) -> None:
    message = _sample(public_key, vectors, number=number)
    decoded = decode(encode(message), Keyring([public_key]), allow_weak_keys=True)
    assert isinstance(decoded, AllTypes) and decoded.number == number


@given(
    reason=st.text(max_size=50),
    job_id=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=128),
    sender=st.from_regex(r"\A[a-z][a-z0-9-]{0,62}\Z"),
    round_=st.integers(0, 2**32 - 1),
)
@HYPOTHESIS
def test_headers_and_unicode_round_trip(reason: str, job_id: str, sender: str, round_: int) -> None:
    message = Abort(job_id=job_id, sender=sender, receiver="b", round=round_, reason=reason)
    _assert_same(message, decode(encode(message), Keyring()))


# keyring -------------------------------------------------------------------------------


def test_keyring(public_key: PaillierPublicKey, other_keypair: Any) -> None:
    keyring = Keyring()
    assert len(keyring) == 0 and public_key not in keyring
    keyring.add(public_key)
    keyring.add(public_key)
    assert len(keyring) == 1
    assert public_key in keyring and public_key.fingerprint_bytes in keyring
    assert other_keypair[0] not in keyring and b"x" not in keyring
    assert keyring.get(public_key.fingerprint_bytes) is public_key
    with pytest.raises(CodecError, match=f"unknown key {other_keypair[0].fingerprint}; the key"):
        keyring.get(other_keypair[0].fingerprint_bytes)
    with pytest.raises(TypeError):
        keyring.add("not a key")


def test_vector_under_an_unknown_key_is_refused(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any, other_keypair: Any
) -> None:
    frame = encode(_sample(public_key, vectors))
    # The key field comes after the vectors: it does not help, the keyring must know it.
    with pytest.raises(CodecError, match=r"ALL_TYPES\.vector") as info:
        decode(frame, Keyring([other_keypair[0]]), allow_weak_keys=True)
    assert "unknown key" in str(info.value) and "vector" in str(info.value)
    # A SumPartial carries its key, but a vector under yet another key is refused.
    partial = SumPartial(**HEADER, public_key=public_key, partial=vectors[0], contributors=1)
    other_vector = other_keypair[0].encrypt_vector(np.array([1.0]))
    stray = dataclasses.replace(partial, partial=other_vector)
    with pytest.raises(CodecError, match="unknown key"):
        decode(encode(stray), Keyring(), allow_weak_keys=True)
    decoded = decode(encode(stray), Keyring([other_keypair[0]]), allow_weak_keys=True)
    assert isinstance(decoded, SumPartial) and decoded.partial.public_key == other_keypair[0]


def test_weak_public_key_refused_unless_allowed(public_key: PaillierPublicKey) -> None:
    frame = encode(SumPublicKey(**HEADER, public_key=public_key, length=3))
    keyring = Keyring()
    with pytest.raises(CodecError, match="public_key") as info:
        decode(frame, keyring)
    assert isinstance(info.value.__cause__, WeakKeyError)
    decoded = decode(frame, keyring, allow_weak_keys=True)
    assert isinstance(decoded, SumPublicKey) and decoded.public_key == public_key
    assert len(keyring) == 0  # decode never adds keys


def test_default_size_key_needs_no_opt_in(keypair_2048: Any) -> None:
    public_key = keypair_2048[0]
    decoded = decode(encode(SumPublicKey(**HEADER, public_key=public_key, length=1)), Keyring())
    assert isinstance(decoded, SumPublicKey) and decoded.public_key == public_key


# malformed frames ----------------------------------------------------------------------


def _abort_frame() -> bytes:
    return encode(Abort(**HEADER, reason="stop"))


def test_header_problems() -> None:
    frame = _abort_frame()
    with pytest.raises(CodecError, match="magic"):
        decode(b"XXXX" + frame[4:], Keyring())
    with pytest.raises(CodecError, match="codec version 2"):
        decode(frame[:4] + b"\x02" + frame[5:], Keyring())
    wrong = frame[:VERSION_OFFSET] + struct.pack(">H", 7) + frame[VERSION_OFFSET + 2 :]
    with pytest.raises(
        CodecError,
        match=f"peer speaks protocol version 7, this party speaks {PROTOCOL_VERSION}",
    ):
        decode(wrong, Keyring())
    for kind in (0, 2, 249, 65535):
        unknown = frame[:KIND_OFFSET] + struct.pack(">H", kind) + frame[KIND_OFFSET + 2 :]
        with pytest.raises(CodecError, match=f"unknown message kind {kind}"):
            decode(unknown, Keyring())
    with pytest.raises(CodecError, match="trailing"):
        decode(frame + b"\x00", Keyring())
    with pytest.raises(CodecError, match="expected bytes"):
        decode("text", Keyring())


def test_kind_250_is_unknown_unless_registered(
    public_key: PaillierPublicKey, vectors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(MESSAGE_TYPES, _TestKind.ALL_TYPES, AllTypes)
    frame = encode(_sample(public_key, vectors))
    monkeypatch.delitem(MESSAGE_TYPES, _TestKind.ALL_TYPES)
    with pytest.raises(CodecError, match="unknown message kind 250"):
        decode(frame, Keyring([public_key]), allow_weak_keys=True)
    with pytest.raises(TypeError, match="not a registered message class"):
        encode(_sample(public_key, vectors))


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("job_id", b"", "job_id"),
        ("job_id", b"x" * 129, "job_id"),
        ("job_id", b"tab\there", "job_id"),
        ("job_id", "caf\u00e9".encode(), "job_id"),
        ("sender", b"Alice", "sender"),
        ("sender", b"1alice", "sender"),
        ("sender", b"alice\n", "sender"),
        ("sender", b"a" * 64, "sender"),
        ("receiver", b"", "receiver"),
        ("receiver", b"bob_", "receiver"),
        ("receiver", b"\xff\xfe", "UTF-8"),
    ],
)
def test_invalid_header_strings(field: str, value: bytes, problem: str) -> None:
    fields = [(FieldTag.STR, b"stop")]
    with pytest.raises(CodecError, match=problem) as info:
        decode(_field_frame(1, fields, **{field: value}), Keyring())
    assert "Alice" not in str(info.value) and "caf" not in str(info.value)


def test_every_truncation_is_refused(public_key: PaillierPublicKey) -> None:
    vector = public_key.encrypt_vector(np.array([1.0]))
    frame = encode(SumPartial(**HEADER, public_key=public_key, partial=vector, contributors=1))
    keyring = Keyring([public_key])
    assert isinstance(decode(frame, keyring, allow_weak_keys=True), SumPartial)
    for end in range(len(frame)):
        with pytest.raises(CodecError):
            decode(frame[:end], keyring, allow_weak_keys=True)


def test_oversized_input_refused_before_parsing() -> None:
    frame = _abort_frame()
    assert isinstance(decode(frame, Keyring(), max_bytes=len(frame)), Abort)
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode(frame, Keyring(), max_bytes=len(frame) - 1)
    # Garbage over the limit is refused for its size, not for its content.
    with pytest.raises(CodecError, match="exceeds the limit of 1024"):
        decode(b"\xff" * 1025, Keyring(), max_bytes=1024)


def test_wrong_field_count_and_tags() -> None:
    with pytest.raises(CodecError, match="1 payload fields, the frame declares 2"):
        decode(_field_frame(1, [(FieldTag.STR, b"a"), (FieldTag.STR, b"b")]), Keyring())
    with pytest.raises(CodecError, match="declares 0"):
        decode(_field_frame(1, [], count=0), Keyring())
    with pytest.raises(CodecError, match=r"ABORT.reason .*expected tag 4 \(STR\), got tag 5"):
        decode(_field_frame(1, [(FieldTag.BYTES, b"stop")]), Keyring())
    with pytest.raises(CodecError, match=r"got tag 99 \(unknown\)"):
        decode(_field_frame(1, [(99, b"stop")]), Keyring())


def test_vector_swapped_for_a_packed_vector(public_key: PaillierPublicKey, vectors: Any) -> None:
    _, packed, masked, _ = vectors
    key_field = (FieldTag.PUBLIC_KEY, public_key_to_bytes(public_key))
    for wrong in (packed, masked):
        frame = _field_frame(
            11, [key_field, (FieldTag.ENCRYPTED_VECTOR, vector_to_bytes(wrong)), _int_field(1)]
        )
        with pytest.raises(CodecError, match="expected a EncryptedVector"):
            decode(frame, Keyring(), allow_weak_keys=True)
    # The right tag with the wrong kind of vector is refused too.
    frame = _field_frame(
        11, [key_field, (FieldTag.PACKED_VECTOR, vector_to_bytes(packed)), _int_field(1)]
    )
    with pytest.raises(CodecError, match=r"expected tag 8 \(ENCRYPTED_VECTOR\), got tag 9"):
        decode(frame, Keyring(), allow_weak_keys=True)


def test_malformed_vectors_and_keys(public_key: PaillierPublicKey) -> None:
    key_field = (FieldTag.PUBLIC_KEY, public_key_to_bytes(public_key))
    good = vector_to_bytes(public_key.encrypt_vector(np.array([1.0, 2.0])))

    def partial(vector_bytes: bytes, key: tuple[int, bytes] = key_field) -> bytes:
        return _field_frame(11, [key, (FieldTag.ENCRYPTED_VECTOR, vector_bytes), _int_field(1)])

    assert isinstance(decode(partial(good), Keyring(), allow_weak_keys=True), SumPartial)
    with pytest.raises(CodecError, match="too short for a ciphertext vector"):
        decode(partial(good[:20]), Keyring(), allow_weak_keys=True)
    with pytest.raises(CodecError, match="partial: invalid ciphertext vector"):
        decode(partial(good[:-1]), Keyring(), allow_weak_keys=True)
    zero = good[: -2 * 256] + bytes(2 * 256)  # ciphertexts of 0 are invalid
    with pytest.raises(CodecError, match=r"partial: .*outside"):
        decode(partial(zero), Keyring(), allow_weak_keys=True)
    with pytest.raises(CodecError, match="partial: invalid ciphertext vector") as info:
        decode(partial(b"XXXX" + good[4:]), Keyring(), allow_weak_keys=True)
    assert isinstance(info.value.__cause__, DeserializationError)
    for bad_key in (b"", b"VFLK\x01\x01\x00\x01\x04", b"VFLK\x01\x02", b"junk"):
        with pytest.raises(CodecError, match="public_key: invalid public key"):
            decode(partial(good, (FieldTag.PUBLIC_KEY, bad_key)), Keyring(), allow_weak_keys=True)


def _array_field(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    return (
        struct.pack(">BB", code, len(shape)) + b"".join(struct.pack(">Q", d) for d in shape) + data
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_array_field(9, (1,), bytes(8)), "unknown array dtype code 9"),
        (_array_field(1, (1, 1, 1, 1), bytes(8)), "4 dimensions exceed"),
        (_array_field(1, (2,), bytes(8)), "needs 16 data bytes, the field has 8"),
        (_array_field(1, (2**63, 2**63, 0), b""), "dimension exceeds"),
        (_array_field(1, (2**32 - 1, 2**32 - 1), b""), "needs"),
        (_array_field(4, (2,), b"\x00\x02"), "bool array"),
        (_array_field(1, (3,), b""), "needs 24"),
        (b"\x01", "truncated"),
        (_array_field(1, (2,), b"")[:-3], "truncated"),
    ],
)
def test_malformed_arrays(value: bytes, problem: str) -> None:
    frame = _field_frame(12, [(FieldTag.ARRAY, value), _int_field(1)])
    with pytest.raises(CodecError, match=problem) as info:
        decode(frame, Keyring())
    assert "SUM_RESULT.totals" in str(info.value)


def test_empty_array_with_huge_dimension_decodes() -> None:
    frame = _field_frame(
        12, [(FieldTag.ARRAY, _array_field(3, (2**32 - 1, 0), b"")), _int_field(2)]
    )
    decoded = decode(frame, Keyring())
    assert isinstance(decoded, SumResult) and decoded.totals.shape == (2**32 - 1, 0)


@pytest.mark.parametrize(
    ("tag", "value", "problem"),
    [
        (FieldTag.BOOL, b"\x02", "bool is one byte, 0 or 1"),
        (FieldTag.BOOL, b"", "bool"),
        (FieldTag.BOOL, b"\x00\x00", "bool"),
        (FieldTag.INT, b"", "integer takes 1 to 8192 bytes"),
        (FieldTag.INT, b"\x01" * (MAX_INT_BYTES + 1), "integer takes 1 to 8192 bytes"),
        (FieldTag.FLOAT, bytes(7), "float is 8 bytes"),
        (FieldTag.STR, b"\xc3\x28 secret", "not valid UTF-8"),
        (FieldTag.STR, b"a" * (MAX_STR_BYTES + 1), "longer than"),
        (FieldTag.INT_TUPLE, struct.pack(">IH", 2, 0), "width 0"),
        (FieldTag.INT_TUPLE, struct.pack(">IH", 2**32 - 1, 1), "exceed the limit"),
        (FieldTag.INT_TUPLE, struct.pack(">IH", 2, 2) + bytes(3), "do not fill"),
        (FieldTag.INT_TUPLE, struct.pack(">IH", 1, MAX_INT_BYTES + 1), "width"),
        (FieldTag.INT_TUPLE, b"\x00", "truncated"),
        (FieldTag.STR_TUPLE, struct.pack(">I", MAX_SEQUENCE_ITEMS + 1), "exceed the limit"),
        (FieldTag.STR_TUPLE, struct.pack(">I", 1000) + bytes(10), "cannot hold 1000"),
        (FieldTag.STR_TUPLE, struct.pack(">IH", 1, 3) + b"ab", "truncated"),
        (FieldTag.STR_TUPLE, struct.pack(">IH", 1, 1) + b"ab", "after the last string"),
        (FieldTag.STR_TUPLE, struct.pack(">IH", 1, 2) + b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_scalars_and_tuples(
    all_types: type[AllTypes],
    public_key: PaillierPublicKey,
    vectors: Any,
    tag: FieldTag,
    value: bytes,
    problem: str,
) -> None:
    """Each bad value replaces the field of its type in a valid AllTypes frame."""
    message = _sample(public_key, vectors)
    fields = []
    for name, field_tag in field_tags(AllTypes):
        if field_tag is tag:
            fields.append((tag, value))
            where = f"ALL_TYPES.{name}"
        else:
            fields.append((field_tag, _encoded_field(message, name)))
    with pytest.raises(CodecError, match=problem) as info:
        decode(_field_frame(250, fields), Keyring([public_key]), allow_weak_keys=True)
    assert where in str(info.value) and "secret" not in str(info.value)


def _encoded_field(message: Message, name: str) -> bytes:
    """The bytes of one field of ``message``, cut out of its encoding."""
    frame = encode(message)
    header = _field_frame(int(message.KIND), [])
    offset = len(header)
    for field_name, _ in field_tags(type(message)):
        _, size = struct.unpack_from(">BI", frame, offset)
        if field_name == name:
            return frame[offset + 5 : offset + 5 + size]
        offset += 5 + size
    raise KeyError(name)


# encoding refuses what peers would refuse ------------------------------------------------


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ({"sender": "Alice"}, "sender"),
        ({"receiver": "b" * 64}, "receiver"),
        ({"job_id": ""}, "job_id"),
        ({"job_id": "\u00e9"}, "job_id"),
        ({"round": -1}, "round"),
        ({"batch": 2**32}, "batch"),
        ({"round": True}, "round"),
        ({"version": PROTOCOL_VERSION + 1}, "protocol version"),
    ],
)
def test_encode_refuses_invalid_headers(header: dict[str, Any], problem: str) -> None:
    fields = {**HEADER, **header}
    with pytest.raises(CodecError, match=problem):
        encode(Abort(**fields, reason="x"))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"flag": 1}, TypeError),
        ({"number": True}, TypeError),
        ({"number": 1.0}, TypeError),
        ({"number": np.int64(3)}, TypeError),
        ({"number": 2 ** (8 * MAX_INT_BYTES)}, CodecError),
        ({"real": "1"}, TypeError),
        ({"real": 10**400}, CodecError),
        ({"text": b"bytes"}, TypeError),
        ({"text": "x" * (MAX_STR_BYTES + 1)}, CodecError),
        ({"text": "\ud800"}, CodecError),
        ({"blob": "str"}, TypeError),
        ({"array": [1.0]}, TypeError),
        ({"array": np.zeros(2, dtype=np.float32)}, TypeError),
        ({"array": np.zeros(2, dtype=np.int32)}, TypeError),
        ({"array": np.array([object()])}, TypeError),
        ({"array": np.array(["a"])}, TypeError),
        ({"array": np.zeros(2, dtype=[("a", "f8")])}, TypeError),
        ({"array": np.ma.masked_array([1.0])}, TypeError),
        ({"array": np.zeros((1, 1, 1, 1))}, CodecError),
        ({"plaintexts": [1, 2]}, TypeError),
        ({"plaintexts": (1, -2)}, CodecError),
        ({"plaintexts": (1, True)}, TypeError),
        ({"names": ("a", 1)}, TypeError),
        ({"names": ("x" * 65536,)}, CodecError),
        ({"key": "key"}, TypeError),
    ],
)
def test_encode_refuses_values_that_do_not_match_annotations(
    all_types: type[AllTypes],
    public_key: PaillierPublicKey,
    vectors: Any,
    overrides: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error, match="ALL_TYPES"):
        encode(_sample(public_key, vectors, **overrides))


def test_encode_refuses_the_wrong_vector_types(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any
) -> None:
    vector, packed, masked, _ = vectors
    for field, value in (("vector", packed), ("vector", masked), ("packed", vector)):
        with pytest.raises(TypeError, match=f"ALL_TYPES.{field}"):
            encode(_sample(public_key, vectors, **{field: value}))
    with pytest.raises(TypeError, match="expected a Message"):
        encode("message")


def test_float_fields_accept_ints(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any
) -> None:
    decoded = decode(
        encode(_sample(public_key, vectors, real=3)), Keyring([public_key]), allow_weak_keys=True
    )
    assert isinstance(decoded, AllTypes) and decoded.real == 3.0 and type(decoded.real) is float


def test_unsupported_annotations_are_refused() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Loose(Message):
        items: list[int]

    with pytest.raises(TypeError, match="not a payload type"):
        field_tags(Loose)


# fuzzing -------------------------------------------------------------------------------


def _decode_or_refuse(frame: bytes, keyring: Keyring) -> None:
    start = time.perf_counter()
    try:
        result = decode(frame, keyring, allow_weak_keys=True, max_bytes=1 << 16)
    except CodecError:
        pass
    else:
        assert isinstance(result, Message)
        assert type(result) in MESSAGE_TYPES.values()
        assert MESSAGE_TYPES[result.KIND] is type(result)
    assert time.perf_counter() - start < 5.0


@given(st.binary(max_size=300))
@HYPOTHESIS
def test_random_bytes_are_refused(data: bytes) -> None:
    _decode_or_refuse(data, Keyring())


@given(kind=st.sampled_from([1, 10, 11, 12, 250, 3]), rest=st.binary(max_size=300))
@HYPOTHESIS
def test_random_bodies_after_a_valid_preamble_are_refused(kind: int, rest: bytes) -> None:
    _decode_or_refuse(
        MAGIC + b"\x01" + struct.pack(">HH", PROTOCOL_VERSION, kind) + rest, Keyring()
    )


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("u16"), st.integers(0, 10**6), st.integers(0, 2**16 - 1)),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.integers(0, 2**32 - 1)),
)


def _mutate(frame: bytes, mutations: list[tuple[str, int, Any]]) -> bytes:
    data = bytearray(frame)
    for operation, position, argument in mutations:
        at = position % (len(data) + 1)
        if operation == "flip" and at < len(data):
            data[at] ^= 1 << argument
        elif operation == "insert":
            data[at:at] = argument
        elif operation == "delete":
            del data[at : at + argument]
        elif operation == "truncate":
            del data[at:]
        elif operation in ("u16", "u32"):
            width = 2 if operation == "u16" else 4
            data[at : at + width] = argument.to_bytes(width, "big")
    return bytes(data)


@pytest.fixture(scope="module")
def small_frames(public_key: PaillierPublicKey) -> list[bytes]:
    vector = public_key.encrypt_vector(np.array([1.0, -1.0]))
    return [
        encode(Abort(**HEADER, reason="stop")),
        encode(SumResult(**HEADER, totals=np.arange(4.0).reshape(2, 2), contributors=2)),
        encode(SumPartial(**HEADER, public_key=public_key, partial=vector, contributors=1)),
    ]


@given(which=st.integers(0, 2), mutations=st.lists(MUTATION, min_size=1, max_size=4))
@HYPOTHESIS
def test_mutated_frames_are_refused_or_valid(
    small_frames: list[bytes], public_key: PaillierPublicKey, which: int, mutations: Any
) -> None:
    _decode_or_refuse(_mutate(small_frames[which], mutations), Keyring([public_key]))


@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
@HYPOTHESIS
def test_mutated_all_types_frames_are_refused_or_valid(
    all_types: type[AllTypes], public_key: PaillierPublicKey, vectors: Any, mutations: Any
) -> None:
    frame = encode(_sample(public_key, vectors, array=np.array([[True]]), blob=b"b"))
    _decode_or_refuse(_mutate(frame, mutations), Keyring([public_key]))


def test_every_byte_of_a_frame_can_be_corrupted(small_frames: list[bytes]) -> None:
    frame = small_frames[1]
    for index in range(len(frame)):
        for mask in (0x01, 0x80, 0xFF):
            corrupted = bytearray(frame)
            corrupted[index] ^= mask
            _decode_or_refuse(bytes(corrupted), Keyring())

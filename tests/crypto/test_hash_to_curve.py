"""RFC 9380 hashing to curve25519: official vectors, an independent reference, edge cases.

Vectors: RFC 9380 appendix K.3 (expand_message_xmd with SHA-512) and appendix J.4.1
(suite curve25519_XMD:SHA-512_ELL2_RO_).  The reference implementation below is
written from the RFC's generic pseudo-code (section 6.7.1 Elligator 2, not the
straight-line appendix G.2.1 the module uses) and adds points on the birationally
equivalent twisted Edwards curve instead of with the Montgomery chord formula.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import crypto.hash_to_curve as h2c
from crypto.exceptions import CryptoError, HashToCurveError
from crypto.hash_to_curve import (
    MONTGOMERY_A,
    ORDER,
    P,
    expand_message_xmd,
    hash_to_curve25519,
    hash_to_field,
    hash_to_x25519,
    hash_to_x25519_many,
    is_on_curve25519,
    map_to_curve_elligator2_curve25519,
)

Q128 = b"q128_" + b"q" * 128
A512 = b"a512_" + b"a" * 512

# --- RFC 9380 appendix K.3: expand_message_xmd(SHA-512) ---------------------------------------
XMD_DST = b"QUUX-V01-CS02-with-expander-SHA512-256"
XMD_VECTORS = [
    (b"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"),
    (b"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"),
    (
        b"abcdef0123456789",
        0x20,
        "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58",
    ),
    (Q128, 0x20, "7336234ee9983902440f6bc35b348352013becd88938d2afec44311caf8356b3"),
    (A512, 0x20, "57b5f7e766d5be68a6bfe1768e3c2b7f1228b3e4b3134956dd73a59b954c66f4"),
    (
        b"",
        0x80,
        "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2e"
        "f4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d"
        "9d18f5d5842cf5d13d7eb00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961",
    ),
    (
        b"abc",
        0x80,
        "7f1dddd13c08b543f2e2037b14cefb255b44c83cc397c1786d975653e36a6b11bdd7732d8b38adb4a0edc2"
        "6a0cef4bb45217135456e58fbca1703cd6032cb1347ee720b87972d63fbf232587043ed2901bce7f22610c"
        "0419751c065922b488431851041310ad659e4b23520e1772ab29dcdeb2002222a363f0c2b1c972b3efe1",
    ),
    (
        b"abcdef0123456789",
        0x80,
        "3f721f208e6199fe903545abc26c837ce59ac6fa45733f1baaf0222f8b7acb0424814fcb5eecf6c1d38f06"
        "e9d0a6ccfbf85ae612ab8735dfdf9ce84c372a77c8f9e1c1e952c3a61b7567dd0693016af51d2745822663"
        "d0c2367e3f4f0bed827feecc2aaf98c949b5ed0d35c3f1023d64ad1407924288d366ea159f46287e61ac",
    ),
    (
        Q128,
        0x80,
        "b799b045a58c8d2b4334cf54b78260b45eec544f9f2fb5bd12fb603eaee70db7317bf807c406e26373922b"
        "7b8920fa29142703dd52bdf280084fb7ef69da78afdf80b3586395b433dc66cde048a258e476a561e9deba"
        "7060af40adf30c64249ca7ddea79806ee5beb9a1422949471d267b21bc88e688e4014087a0b592b695ed",
    ),
    (
        A512,
        0x80,
        "05b0bfef265dcee87654372777b7c44177e2ae4c13a27f103340d9cd11c86cb2426ffcad5bd964080c2aee"
        "97f03be1ca18e30a1f14e27bc11ebbd650f305269cc9fb1db08bf90bfc79b42a952b46daf810359e7bc364"
        "52684784a64952c343c52e5124cd1f71d474d5197fefc571a92929c9084ffe1112cf5eea5192ebff330b",
    ),
]

# --- RFC 9380 appendix J.4.1: curve25519_XMD:SHA-512_ELL2_RO_ -----------------------------------
SUITE_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"
# msg: (P.x, P.y, u[0], u[1], Q0.x, Q0.y, Q1.x, Q1.y)
SUITE_VECTORS = {
    b"": (
        "2de3780abb67e861289f5749d16d3e217ffa722192d16bbd9d1bfb9d112b98c0",
        "3b5dc2a498941a1033d176567d457845637554a2fe7a3507d21abd1c1bd6e878",
        "005fe8a7b8fef0a16c105e6cadf5a6740b3365e18692a9c05bfbb4d97f645a6a",
        "1347edbec6a2b5d8c02e058819819bee177077c9d10a4ce165aab0fd0252261a",
        "36b4df0c864c64707cbf6cf36e9ee2c09a6cb93b28313c169be29561bb904f98",
        "6cd59d664fb58c66c892883cd0eb792e52055284dac3907dd756b45d15c3983d",
        "3fa114783a505c0b2b2fbeef0102853c0b494e7757f2a089d0daae7ed9a0db2b",
        "76c0fe7fec932aaafb8eefb42d9cbb32eb931158f469ff3050af15cfdbbeff94",
    ),
    b"abc": (
        "2b4419f1f2d48f5872de692b0aca72cc7b0a60915dd70bde432e826b6abc526d",
        "1b8235f255a268f0a6fa8763e97eb3d22d149343d495da1160eff9703f2d07dd",
        "49bed021c7a3748f09fa8cdfcac044089f7829d3531066ac9e74e0994e05bc7d",
        "5c36525b663e63389d886105cee7ed712325d5a97e60e140aba7e2ce5ae851b6",
        "16b3d86e056b7970fa00165f6f48d90b619ad618791661b7b5e1ec78be10eac1",
        "4ab256422d84c5120b278cbdfc4e1facc5baadffeccecf8ee9bf3946106d50ca",
        "7ec29ddbf34539c40adfa98fcb39ec36368f47f30e8f888cc7e86f4d46e0c264",
        "10d1abc1cae2d34c06e247f2141ba897657fb39f1080d54f09ce0af128067c74",
    ),
    b"abcdef0123456789": (
        "68ca1ea5a6acf4e9956daa101709b1eee6c1bb0df1de3b90d4602382a104c036",
        "2a375b656207123d10766e68b938b1812a4a6625ff83cb8d5e86f58a4be08353",
        "6412b7485ba26d3d1b6c290a8e1435b2959f03721874939b21782df17323d160",
        "24c7b46c1c6d9a21d32f5707be1380ab82db1054fde82865d5c9e3d968f287b2",
        "71de3dadfe268872326c35ac512164850860567aea0e7325e6b91a98f86533ad",
        "26a08b6e9a18084c56f2147bf515414b9b63f1522e1b6c5649f7d4b0324296ec",
        "5704069021f61e41779e2ba6b932268316d6d2a6f064f997a22fef16d1eaeaca",
        "50483c7540f64fb4497619c050f2c7fe55454ec0f0e79870bb44302e34232210",
    ),
    Q128: (
        "096e9c8bae6c06b554c1ee69383bb0e82267e064236b3a30608d4ed20b73ac5a",
        "1eb5a62612cafb32b16c3329794645b5b948d9f8ffe501d4e26b073fef6de355",
        "5e123990f11bbb5586613ffabdb58d47f64bb5f2fa115f8ea8df0188e0c9e1b5",
        "5e8553eb00438a0bb1e7faa59dec6d8087f9c8011e5fb8ed9df31cb6c0d4ac19",
        "7a94d45a198fb5daa381f45f2619ab279744efdd8bd8ed587fc5b65d6cea1df0",
        "67d44f85d376e64bb7d713585230cdbfafc8e2676f7568e0b6ee59361116a6e1",
        "30506fb7a32136694abd61b6113770270debe593027a968a01f271e146e60c18",
        "7eeee0e706b40c6b5174e551426a67f975ad5a977ee2f01e8e20a6d612458c3b",
    ),
    A512: (
        "1bc61845a138e912f047b5e70ba9606ba2a447a4dade024c8ef3dd42b7bbc5fe",
        "623d05e47b70e25f7f1d51dda6d7c23c9a18ce015fe3548df596ea9e38c69bf1",
        "20f481e85da7a3bf60ac0fb11ed1d0558fc6f941b3ac5469aa8b56ec883d6d7d",
        "017d57fd257e9a78913999a23b52ca988157a81b09c5442501d07fed20869465",
        "02d606e2699b918ee36f2818f2bc5013e437e673c9f9b9cdc15fd0c5ee913970",
        "29e9dc92297231ef211245db9e31767996c5625dfbf92e1c8107ef887365de1e",
        "38920e9b988d1ab7449c0fa9a6058192c0c797bb3d42ac345724341a1aa98745",
        "24dcc1be7c4d591d307e89049fd2ed30aae8911245a9d8554bf6032e5aa40d3d",
    ),
}


# --- an independent reference implementation ---------------------------------------------------
J = MONTGOMERY_A
ED_A = (J + 2) % P  # twisted Edwards a x^2 + y^2 = 1 + d x^2 y^2, birational to curve25519
ED_D = (J - 2) % P


def ref_expand(msg: bytes, dst: bytes, length: int) -> bytes:
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + length.to_bytes(2, "big") + b"\0" + dst_prime).digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    while len(blocks) * 64 < length:
        prev = bytes(a ^ b for a, b in zip(b0, blocks[-1], strict=True))
        blocks.append(hashlib.sha512(prev + bytes([len(blocks) + 1]) + dst_prime).digest())
    return b"".join(blocks)[:length]


def ref_is_square(x: int) -> bool:
    return pow(x, (P - 1) // 2, P) in (0, 1)


def ref_sqrt(x: int) -> int:
    root = pow(x, (P + 3) // 8, P)
    if root * root % P != x % P:
        root = root * pow(2, (P - 1) // 4, P) % P
    assert root * root % P == x % P
    return root


def ref_map(u: int) -> tuple[int, int]:
    """RFC 9380 section 6.7.1, Elligator 2 with Z = 2, K = 1, written plainly."""
    z = 2
    tv = z * u * u % P
    x1 = -J * pow(1 + tv, -1, P) % P if (1 + tv) % P else 0
    if x1 == 0:
        x1 = -J % P
    gx1 = (x1**3 + J * x1**2 + x1) % P
    x2 = (-x1 - J) % P
    gx2 = (x2**3 + J * x2**2 + x2) % P
    if ref_is_square(gx1):
        x, y = x1, ref_sqrt(gx1)
        if y % 2 != 1:
            y = -y % P
    else:
        x, y = x2, ref_sqrt(gx2)
        if y % 2 != 0:
            y = -y % P
    return x, y


EdPoint = tuple[int, int]
ED_IDENTITY = (0, 1)


def to_edwards(point: tuple[int, int]) -> EdPoint:
    u, v = point
    if v == 0:  # (0, 0), the point of order 2
        assert u == 0
        return 0, P - 1
    x, y = u * pow(v, -1, P) % P, (u - 1) * pow(u + 1, -1, P) % P
    assert (ED_A * x * x + y * y - 1 - ED_D * x * x * y * y) % P == 0
    return x, y


def to_montgomery(point: EdPoint) -> tuple[int, int] | None:
    x, y = point
    if point == ED_IDENTITY:
        return None
    if x == 0:
        return 0, 0
    u = (1 + y) * pow(1 - y, -1, P) % P
    return u, u * pow(x, -1, P) % P


def ed_add(p1: EdPoint, p2: EdPoint) -> EdPoint:
    (x1, y1), (x2, y2) = p1, p2
    t = ED_D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P,
        (y1 * y2 - ED_A * x1 * x2) * pow(1 - t, -1, P) % P,
    )


def ed_mul(k: int, point: EdPoint) -> EdPoint:
    result = ED_IDENTITY
    for bit in bin(k)[2:]:
        result = ed_add(result, result)
        if bit == "1":
            result = ed_add(result, point)
    return result


def ref_hash_to_curve(msg: bytes, dst: bytes) -> tuple[int, int]:
    uniform = ref_expand(msg, dst, 96)
    u0, u1 = (int.from_bytes(uniform[i * 48 : (i + 1) * 48], "big") % P for i in range(2))
    r = ed_add(to_edwards(ref_map(u0)), to_edwards(ref_map(u1)))
    point = to_montgomery(ed_mul(8, r))
    assert point is not None
    return point


def in_prime_order_subgroup(point: tuple[int, int]) -> bool:
    return ed_mul(ORDER, to_edwards(point)) == ED_IDENTITY


# --- expand_message_xmd and hash_to_field -------------------------------------------------------
@pytest.mark.parametrize(("msg", "length", "expected"), XMD_VECTORS)
def test_expand_message_xmd_rfc9380_vectors(msg: bytes, length: int, expected: str) -> None:
    assert expand_message_xmd(msg, XMD_DST, length).hex() == expected


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=255), st.integers(1, 255 * 64))
def test_expand_message_xmd_matches_reference(msg: bytes, dst: bytes, length: int) -> None:
    out = expand_message_xmd(msg, dst, length)
    assert len(out) == length
    assert out == ref_expand(msg, dst, length)


def test_expand_message_xmd_bounds() -> None:
    assert len(expand_message_xmd(b"m", b"D" * 255, 255 * 64)) == 255 * 64
    with pytest.raises(HashToCurveError, match="empty"):
        expand_message_xmd(b"m", b"", 32)
    with pytest.raises(HashToCurveError, match="256 bytes long"):
        expand_message_xmd(b"m", b"D" * 256, 32)
    for bad_length in (0, -1, 255 * 64 + 1):
        with pytest.raises(HashToCurveError, match="were requested"):
            expand_message_xmd(b"m", b"DST", bad_length)
    with pytest.raises(TypeError):
        expand_message_xmd("text", b"DST", 32)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        expand_message_xmd(b"m", b"DST", 32.0)  # type: ignore[arg-type]
    assert issubclass(HashToCurveError, CryptoError) and issubclass(HashToCurveError, ValueError)


def test_hash_to_field_vectors_and_count() -> None:
    for msg, vector in SUITE_VECTORS.items():
        assert hash_to_field(msg, SUITE_DST, 2) == [int(vector[2], 16), int(vector[3], 16)]
    assert hash_to_field(b"abc", SUITE_DST, 1) != hash_to_field(b"abc", SUITE_DST, 2)[:1]
    for bad in (0, -1, True):
        with pytest.raises(HashToCurveError):
            hash_to_field(b"abc", SUITE_DST, bad)


# --- the map --------------------------------------------------------------------------------------
@pytest.mark.parametrize("msg", list(SUITE_VECTORS))
def test_map_to_curve_rfc9380_vectors(msg: bytes) -> None:
    _, _, u0, u1, q0x, q0y, q1x, q1y = (int(v, 16) for v in SUITE_VECTORS[msg])
    assert map_to_curve_elligator2_curve25519(u0) == (q0x, q0y)
    assert map_to_curve_elligator2_curve25519(u1) == (q1x, q1y)
    assert ref_map(u0) == (q0x, q0y)


@pytest.mark.parametrize("msg", list(SUITE_VECTORS))
def test_fast_map_matches_rfc9380_vectors(msg: bytes) -> None:
    """The fast path's internal map outputs (projective x, affine y) are Q0 and Q1."""
    _, _, _, _, q0x, q0y, q1x, q1y = (int(v, 16) for v in SUITE_VECTORS[msg])
    start = h2c._start(msg, h2c._expander(SUITE_DST))
    u0, tv0, xd0, gxd0, gx0, w0, den0, u1, tv1, xd1, gxd1, gx1, w1, den1 = start
    root0 = pow(int(w0), 2**252, P) * pow(int(den0), -1, P) % P
    root1 = pow(int(w1), 2**252, P) * pow(int(den1), -1, P) % P
    xn0, y0 = h2c._finish_map(u0, tv0, gxd0, gx0, h2c.mpz(root0))
    xn1, y1 = h2c._finish_map(u1, tv1, gxd1, gx1, h2c.mpz(root1))
    assert (xn0 * pow(int(xd0), -1, P) % P, y0) == (q0x, q0y)
    assert (xn1 * pow(int(xd1), -1, P) % P, y1) == (q1x, q1y)


@given(st.integers(0, P - 1))
def test_map_matches_generic_reference(u: int) -> None:
    point = map_to_curve_elligator2_curve25519(u)
    assert point == ref_map(u)
    assert is_on_curve25519(*point)


@pytest.mark.parametrize("u", [0, 1, 2, P - 1, P - 2, (P - 1) // 2, 2**254])
def test_map_edge_inputs(u: int) -> None:
    point = map_to_curve_elligator2_curve25519(u)
    assert point == ref_map(u)
    assert is_on_curve25519(*point)


def test_map_rejects_out_of_range_inputs() -> None:
    for bad in (-1, P, 2**256):
        with pytest.raises(HashToCurveError, match="field element"):
            map_to_curve_elligator2_curve25519(bad)
    with pytest.raises(TypeError):
        map_to_curve_elligator2_curve25519(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        map_to_curve_elligator2_curve25519(True)


# --- the whole suite ------------------------------------------------------------------------------
@pytest.mark.parametrize("msg", list(SUITE_VECTORS))
def test_hash_to_curve_rfc9380_vectors(msg: bytes) -> None:
    px, py = int(SUITE_VECTORS[msg][0], 16), int(SUITE_VECTORS[msg][1], 16)
    assert hash_to_curve25519(msg, SUITE_DST) == (px, py)
    assert hash_to_x25519(msg, SUITE_DST) == px.to_bytes(32, "little")
    assert ref_hash_to_curve(msg, SUITE_DST) == (px, py)


def test_hash_to_x25519_many_rfc9380_vectors() -> None:
    msgs = list(SUITE_VECTORS)
    expected = b"".join(int(v[0], 16).to_bytes(32, "little") for v in SUITE_VECTORS.values())
    assert hash_to_x25519_many(msgs, SUITE_DST) == expected
    assert hash_to_x25519_many([], SUITE_DST) == b""


@given(st.binary(max_size=80), st.binary(min_size=1, max_size=255))
def test_fast_path_equals_full_path_and_reference(msg: bytes, dst: bytes) -> None:
    x, y = hash_to_curve25519(msg, dst)
    assert is_on_curve25519(x, y)
    assert (x, y) == ref_hash_to_curve(msg, dst)
    encoded = hash_to_x25519(msg, dst)
    assert encoded == x.to_bytes(32, "little")
    assert encoded[31] & 0x80 == 0


@given(st.lists(st.binary(max_size=40), max_size=12), st.binary(min_size=1, max_size=64))
def test_many_equals_single(msgs: list[bytes], dst: bytes) -> None:
    assert hash_to_x25519_many(msgs, dst) == b"".join(hash_to_x25519(m, dst) for m in msgs)


def test_many_crosses_run_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2c, "_RUN", 3)
    msgs = [b"id-%d" % i for i in range(8)]
    assert hash_to_x25519_many(msgs, SUITE_DST) == b"".join(
        hash_to_x25519(m, SUITE_DST) for m in msgs
    )


@pytest.mark.parametrize("msg", [b"", b"abc", b"user-0001"])
def test_outputs_lie_in_the_prime_order_subgroup(msg: bytes) -> None:
    point = hash_to_curve25519(msg, SUITE_DST)
    assert in_prime_order_subgroup(point)
    # ...while the map's own outputs generally do not (the cofactor matters)
    u0, _ = hash_to_field(msg, SUITE_DST, 2)
    assert not in_prime_order_subgroup(map_to_curve_elligator2_curve25519(u0))


def test_domain_separation() -> None:
    assert hash_to_x25519(b"id", b"DST-1") != hash_to_x25519(b"id", b"DST-2")
    assert hash_to_x25519(b"id-1", b"DST") != hash_to_x25519(b"id-2", b"DST")


def test_bytes_like_inputs() -> None:
    expected = hash_to_x25519(b"abc", SUITE_DST)
    assert hash_to_x25519(bytearray(b"abc"), bytearray(SUITE_DST)) == expected
    assert hash_to_x25519(memoryview(b"abc"), SUITE_DST) == expected
    assert hash_to_x25519_many([bytearray(b"abc")], memoryview(SUITE_DST)) == expected


def test_fast_path_rejects_bad_arguments() -> None:
    with pytest.raises(HashToCurveError, match="empty"):
        hash_to_x25519(b"m", b"")
    with pytest.raises(HashToCurveError, match="at most 255"):
        hash_to_x25519_many([b"m"], b"x" * 256)
    with pytest.raises(TypeError, match="msg must be bytes"):
        hash_to_x25519("m", SUITE_DST)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="message 1 must be bytes"):
        hash_to_x25519_many([b"a", "b"], SUITE_DST)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="dst must be bytes"):
        hash_to_curve25519(b"m", "dst")  # type: ignore[arg-type]


def test_fallback_when_the_chord_formula_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """If both maps give the same u-coordinate the fast path defers to the full path."""
    expected = [hash_to_x25519(m, SUITE_DST) for m in (b"a", b"b")]
    monkeypatch.setattr(h2c, "_finish", lambda *args: None)
    assert hash_to_x25519(b"a", SUITE_DST) == expected[0]
    assert hash_to_x25519_many([b"a", b"b"], SUITE_DST) == b"".join(expected)


def test_identity_has_no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h2c, "_add", lambda p1, p2: None)
    with pytest.raises(HashToCurveError, match="identity"):
        hash_to_curve25519(b"a", SUITE_DST)
    monkeypatch.setattr(h2c, "_finish", lambda *args: (h2c.mpz(1), h2c.mpz(0)))
    with pytest.raises(HashToCurveError, match="identity"):
        hash_to_x25519(b"a", SUITE_DST)

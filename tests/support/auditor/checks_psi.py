"""PSI checks: the forms of ids a receiver could test; KKRT- and VOLE-PSI, what each party
can compute."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from crypto.ecdh import POINT_BYTES, EcdhKey, ecdh_dst, validate_points
from crypto.exceptions import CryptoError
from crypto.gf128 import ConstantMultiplier
from crypto.hash_to_curve import hash_to_field, hash_to_x25519_many
from crypto.okvs import DENSE_COLUMNS, GarbledCuckooTable, okvs_size
from crypto.ot import BASE_POINT
from crypto.ot_extension import (
    BIN_ALIGN,
    CODE_BITS,
    CODE_BYTES,
    HASH_FUNCTIONS,
    OUTPUT_BYTES,
    OprfReceiver,
    item_hashes,
)
from protocols.messages import (
    Message,
    PsiHostItems,
    PsiOkvsCells,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiSetup,
    PsiVoleCorrections,
)
from protocols.psi.cuckoo import bin_count
from protocols.psi.kkrt_guest import output_key
from protocols.psi.settings import PsiSettings
from protocols.psi.vole_guest import ot_block, ot_layout
from protocols.psi.vole_items import TAG_BYTES, item_digests, output_tags, tag_key, vole_key
from tests.support.auditor.context import AuditContext
from tests.support.auditor.pairing import Wire
from tests.support.auditor.secret_log import SecretLog
from tests.support.auditor.truth import Truth
from tests.support.auditor.values import Needles
from vfl.jobs.jobfile import JobConfig, PsiStep


def oprf_hash(key: bytes, bins: Iterable[int], rows: np.ndarray) -> list[bytes]:
    """``H(j, row)`` for each bin ``j`` and 64-byte row (the job's output hash, keyed
    with ``output_key(salt)``), through :meth:`OprfReceiver.outputs`, which computes
    nothing else (a host value that matches a guest value checks it)."""
    hasher = OprfReceiver([(bytes(32), bytes(32))] * CODE_BITS, key)
    rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
    out = hasher.outputs(rows, np.fromiter(bins, dtype=np.int64, count=len(rows)))
    return [out[i : i + OUTPUT_BYTES] for i in range(0, len(out), OUTPUT_BYTES)]


def codes_per_function(codes: np.ndarray) -> np.ndarray:
    """``C(id, h)`` as ``(ids, HASH_FUNCTIONS, CODE_BYTES)``, whether ``item_hashes``
    gives one code word per id or one per id and hash function."""
    if codes.ndim == 2:
        return np.repeat(codes[:, None, :], HASH_FUNCTIONS, axis=1)
    return codes


@dataclasses.dataclass
class KkrtView:
    """A KKRT step's public parameters and what each party can compute."""

    step: int
    salt: bytes
    bins: int
    block: int
    ids: list[bytes]  # every id of every party
    codes: np.ndarray  # C(id, h), (len(ids), 3, 64)
    positions: np.ndarray  # candidate bins, (len(ids), 3)
    bin_bytes: list[bytes]  # the 24 SHAKE bytes each id's bins come from
    guest_values: dict[str, set[bytes]]  # guest -> H(j, t[j]) for every bin of every link
    guest_rows: set[bytes]  # the guest's t rows
    host_values: dict[str, dict[bytes, bytes]]  # host -> {F(j, y): y} for every id, bin
    host_rows: dict[str, dict[bytes, bytes]]  # host -> {its 48-byte row of y: y}


def kkrt_view(
    job: JobConfig, step: int, wire: Sequence[Wire], truth: Truth, secrets: SecretLog
) -> KkrtView:
    """:class:`KkrtView` of step ``step`` from the transcript and the recorded states."""
    config = job.steps[step]
    assert isinstance(config, PsiStep) and config.method == "kkrt"
    (salt,) = {w.message.salt for w in wire if w.step == step and isinstance(w.message, PsiSetup)}
    key = output_key(salt)
    guest = job.guest.name
    bins = bin_count(len(truth.parties[guest].ids))
    block = -(-config.chunk_size // BIN_ALIGN) * BIN_ALIGN
    ids = sorted({i for p in truth.parties.values() for i in p.ids})
    raw_codes, positions = item_hashes(ids, salt, bins)
    prefix = hashlib.shake_256(b"VFL-OTPSI-V01 item" + len(salt).to_bytes(2, "little") + salt)
    code_bytes = raw_codes[0].size if len(ids) else 0
    bin_bytes = []
    for index, value in enumerate(ids):
        state = prefix.copy()
        state.update(value)
        digest = state.digest(code_bytes + 8 * HASH_FUNCTIONS)  # code words, then bins
        assert digest[:code_bytes] == raw_codes[index].tobytes(), "C(x) is SHAKE-256"
        bin_bytes.append(digest[code_bytes:])
    codes = codes_per_function(raw_codes)
    guest_values: dict[str, set[bytes]] = defaultdict(set)
    guest_rows: set[bytes] = set()
    host_values: dict[str, dict[bytes, bytes]] = {}
    host_rows: dict[str, dict[bytes, bytes]] = {}
    for party, blocks in secrets.oprf.items():
        if party == guest:
            for b in blocks:
                rows = np.frombuffer(b.rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
                guest_values[party].update(
                    oprf_hash(key, range(b.start, b.start + len(rows)), rows)
                )
                guest_rows.update(row.tobytes() for row in rows)
            continue
        (choices,) = {b.choices for b in blocks}
        s = np.frombuffer(choices, dtype=np.uint8)
        q = np.zeros((bins, CODE_BYTES), dtype=np.uint8)
        for b in blocks:
            rows = np.frombuffer(b.rows, dtype=np.uint8).reshape(-1, CODE_BYTES)
            q[b.start : b.start + len(rows)] = rows
        flat = positions.reshape(-1)  # item-major: (id k, function h) at 3 k + h
        owners = np.repeat(np.arange(len(ids)), HASH_FUNCTIONS)
        values = oprf_hash(key, flat, q[flat] ^ (codes.reshape(-1, CODE_BYTES) & s))
        host_values[party] = {v: ids[o] for v, o in zip(values, owners.tolist(), strict=True)}
        own = set(truth.parties[party].ids)
        host_rows[party] = {
            b"".join(values[HASH_FUNCTIONS * k : HASH_FUNCTIONS * (k + 1)]): value
            for k, value in enumerate(ids)
            if value in own
        }
    return KkrtView(
        step,
        salt,
        bins,
        block,
        ids,
        codes,
        positions,
        bin_bytes,
        dict(guest_values),
        guest_rows,
        host_values,
        host_rows,
    )


@dataclasses.dataclass
class VoleLink:
    """One host's VOLE with the guest, from the recorded secrets (``(n, 2)`` uint64)."""

    a: np.ndarray  # the guest's A over every segment
    c: np.ndarray  # the guest's C
    b: np.ndarray  # the host's B
    delta: int  # the host's Delta (0: not recorded)


@dataclasses.dataclass
class VoleView:
    """A VOLE-PSI step's public parameters and what each party can compute."""

    step: int
    salt: bytes
    cells: int  # m = okvs_size(guest's set size) + DENSE_COLUMNS
    sizes: list[tuple[int, int, int]]  # each segment's correction_bytes
    total: int  # random-OT instances
    block: int  # instances per PsiOtColumns block
    values: dict[bytes, bytes]  # id -> H(id), 16 bytes
    digests: dict[bytes, bytes]  # id -> its OKVS digest, 16 bytes
    table: np.ndarray | None  # the guest's OKVS P, (m, 2) (None: not recorded)
    links: dict[str, VoleLink]  # host -> its VOLE, when both sides were recorded


def _elements(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").reshape(-1, 2)


def vole_view(
    job: JobConfig, step: int, wire: Sequence[Wire], truth: Truth, secrets: SecretLog
) -> VoleView:
    """:class:`VoleView` of step ``step`` from the transcript and the recorded VOLEs."""
    config = job.steps[step]
    assert isinstance(config, PsiStep) and config.method == "vole"
    (salt,) = {w.message.salt for w in wire if w.step == step and isinstance(w.message, PsiSetup)}
    guest = job.guest.name
    cells = okvs_size(len(truth.parties[guest].ids)) + DENSE_COLUMNS
    params, _, total = ot_layout(cells)
    ids = sorted({i for p in truth.parties.values() for i in p.ids})
    values, digests = item_digests(ids, salt)
    tables = secrets.okvs.get(guest, [])
    links: dict[str, VoleLink] = {}
    for host in job.hosts:
        keys = [vole_key(salt, host.name, s) for s in range(len(params))]
        mine = {r.key: r for r in secrets.vole.get(guest, [])}
        theirs = {r.key: r for r in secrets.vole.get(host.name, [])}
        if not all(k in mine and k in theirs for k in keys):
            continue
        (delta,) = {theirs[k].delta for k in keys}
        links[host.name] = VoleLink(
            np.concatenate([_elements(mine[k].a) for k in keys]),
            np.concatenate([_elements(mine[k].c) for k in keys]),
            np.concatenate([_elements(theirs[k].c) for k in keys]),
            delta,
        )
    return VoleView(
        step,
        salt,
        cells,
        [p.correction_bytes for p in params],
        total,
        ot_block(PsiSettings(method="vole", chunk_size=config.chunk_size)),
        {i: values[k].tobytes() for k, i in enumerate(ids)},
        {i: digests[k].tobytes() for k, i in enumerate(ids)},
        _elements(tables[-1]) if tables else None,
        links,
    )


def _vole_payload(message: Message) -> tuple[int, ...] | int | None:
    """Sizes of a VOLE-PSI message's payload fields (one int for a one-field payload)."""
    if isinstance(message, PsiVoleCorrections):
        return (len(message.level_sums), len(message.base_corrections), len(message.tree_sums))
    if isinstance(message, PsiOkvsCells):
        return (len(message.key), len(message.cells))
    return _payload_size(message)


def _tag_bytes(tags: np.ndarray) -> list[bytes]:
    """Each tag's :data:`TAG_BYTES` bytes (an ``S12`` item would drop trailing zeros)."""
    rows = np.ascontiguousarray(tags).view(np.uint8).reshape(-1, TAG_BYTES)
    return [row.tobytes() for row in rows]


def _distinct_enough(value: bytes) -> bool:
    """A needle worth searching: at least 6 nonzero bytes (not padding or a small int)."""
    return sum(b != 0 for b in value) >= 6


def _payload_size(message: Message) -> int | None:
    """Bytes of a KKRT message's payload (point, points, columns or items), else None."""
    for name in ("point", "points", "columns", "items"):
        value = getattr(message, name, None)
        if isinstance(value, bytes):
            return len(value)
    return None


@functools.lru_cache(maxsize=8)
def _hashed_points(ids: tuple[bytes, ...], dst: bytes) -> bytes:
    """``H(id)`` for every id (RFC 9380 hash to curve25519, the job's DST), cached."""
    return hash_to_x25519_many(ids, dst)


class PsiChecks(AuditContext):
    """PSI and KKRT-PSI checks, mixed into :class:`Audit`."""

    # 3. (PSI) every form of an id a receiver could test; KKRT's values --------------
    @functools.cached_property
    def _id_forms(self) -> tuple[Needles, dict[str, set[bytes]]]:
        return self.id_needles()

    def id_needles(self) -> tuple[Needles, dict[str, set[bytes]]]:
        """Every form of every id a receiver could test (the worst case: exact guesses).

        Returns the needles (for frame bytes) and, per receiver, the 32-byte forms
        that no PSI item it gets may equal.
        """
        needles = Needles()
        ids = sorted({i for p in self.truth.parties.values() for i in p.ids})
        salts = {w.message.salt for w in self.wire if isinstance(w.message, PsiSetup)}
        assert len(salts) == 1, "one salt per job"
        (salt,) = salts
        dst = ecdh_dst(salt)
        forms: set[bytes] = set()
        for value in ids:
            assert len(value) >= 8, "audit with ids of at least 8 bytes"
            needles.add(value, f"raw id {value!r}")
            digests = {
                "sha256": hashlib.sha256(value).digest(),
                "sha512": hashlib.sha512(value).digest(),
                "sha1": hashlib.sha1(value).digest(),
                "md5": hashlib.md5(value).digest(),
                "sha3-256": hashlib.sha3_256(value).digest(),
                "blake2b": hashlib.blake2b(value).digest(),
                "blake2b-256": hashlib.blake2b(value, digest_size=32).digest(),
                "blake2s": hashlib.blake2s(value).digest(),
                "salted sha256": hashlib.sha256(salt + value).digest(),
                "sha256 salted after": hashlib.sha256(value + salt).digest(),
                "hmac-sha256": hmac.new(salt, value, "sha256").digest(),
                "keyed blake2b": hashlib.blake2b(value, key=salt, digest_size=32).digest(),
            }
            for index, u in enumerate(hash_to_field(value, dst, 2)):
                digests[f"hash_to_field[{index}]"] = u.to_bytes(32, "little")
                digests[f"hash_to_field[{index}] big-endian"] = u.to_bytes(32, "big")
            for name, digest in digests.items():
                needles.add(digest, f"{name}({value!r})")
                for offset in range(0, len(digest) - 31, 32):
                    forms.add(digest[offset : offset + 32])
                if len(digest) >= 32:
                    forms.add(digest[:32])
        points = _hashed_points(tuple(ids), dst)
        for index, value in enumerate(ids):
            point = points[index * POINT_BYTES : (index + 1) * POINT_BYTES]
            needles.add(point, f"H({value!r})")
            forms.add(point)
        testable: dict[str, set[bytes]] = {name: set(forms) for name in self.roles}
        for party, scalars in self.secrets.ecdh.items():
            for scalar in scalars:
                raised = EcdhKey(scalar).exponentiate(points)
                for index, value in enumerate(ids):
                    point = raised[index * POINT_BYTES : (index + 1) * POINT_BYTES]
                    needles.add(point, f"H({value!r})^(own secret of {party})", [party])
                    testable[party].add(point)
        self._kkrt_needles(needles)
        self._vole_needles(needles)
        self.stats["id forms"] = len(needles)
        return needles, testable

    def _kkrt_needles(self, needles: Needles) -> None:
        """KKRT: every id's code word ``C(id)`` (whole and in 16-byte pieces) and raw
        bin bytes, anywhere; the guest's ``t`` rows and PRF values ``H(j, t[j])``, and
        every ``F(j, id)`` a host could evaluate itself, in nothing a host receives."""
        kkrt = self.kkrt
        if kkrt is None:
            return
        hosts = [h.name for h in self.job.hosts]
        for index, value in enumerate(kkrt.ids):
            for h in range(HASH_FUNCTIONS):
                code = kkrt.codes[index, h].tobytes()
                needles.add(code, f"the code word C({value!r}, {h})")
                for offset in range(0, CODE_BYTES, 16):
                    piece = code[offset : offset + 16]
                    needles.add(piece, f"C({value!r}, {h})[{offset}:{offset + 16}]")
            needles.add(kkrt.bin_bytes[index], f"the raw cuckoo bins of {value!r}")
        for guest, values in kkrt.guest_values.items():
            for value in values:
                needles.add(value, f"a PRF value H(j, t[j]) of {guest}", hosts)
        for row in kkrt.guest_rows:
            needles.add(row, "a t row of the guest's OT extension", hosts)
        for host, table in kkrt.host_values.items():
            for value, item in table.items():
                needles.add(value, f"F(j, {item!r}), which {host} can evaluate", [host])

    def _vole_needles(self, needles: Needles) -> None:
        """VOLE: every id's ``H(id)`` and OKVS digest anywhere; the host's ``Delta``
        anywhere; in anything a host receives: the guest's OKVS cells ``P``, its
        ``Decode(C, x)`` and tags of its ids; in anything the guest receives: the
        host's untagged values ``Decode(K, y) + Delta H(y)``."""
        vole = self.vole
        if vole is None:
            return
        guest = self.job.guest.name
        hosts = [h.name for h in self.job.hosts]
        for value in vole.values:
            needles.add(vole.values[value], f"H({value!r}) (VOLE)")
            needles.add(vole.digests[value], f"the OKVS digest of {value!r}")
        if vole.table is not None:
            for index, cell in enumerate(vole.table):
                if _distinct_enough(cell.tobytes()):
                    needles.add(cell.tobytes(), f"the guest's OKVS cell P[{index}]", hosts)
        for host, link in vole.links.items():
            needles.add(link.delta.to_bytes(16, "little"), f"{host}'s Delta")
            if vole.table is None:
                continue
            for value, tag, untagged in self._vole_guest_values(host):
                needles.add(untagged, f"Decode(C, {value!r}) of {host}'s VOLE", hosts)
                needles.add(tag, f"the guest's tag of {value!r} with {host}", hosts)
            for value, (_, untagged) in self._vole_host_values(host).items():
                needles.add(untagged, f"{host}'s untagged value of {value!r}", [guest])

    def _vole_guest_values(self, host: str) -> list[tuple[bytes, bytes, bytes]]:
        """``(x, T(Decode(C, x)), Decode(C, x))`` for every guest id ``x`` (its VOLE
        with ``host``)."""
        vole = self.vole
        assert vole is not None and vole.table is not None
        link = vole.links[host]
        ids = self.truth.parties[self.job.guest.name].ids
        decoded = self._vole_decode(link.c, ids)
        tags = _tag_bytes(output_tags(decoded, tag_key(vole.salt)))
        return [(value, tags[k], decoded[k].tobytes()) for k, value in enumerate(ids)]

    def _vole_host_values(self, host: str) -> dict[bytes, tuple[bytes, bytes]]:
        """``{y: (tag, Decode(K, y) + Delta H(y))}`` for every id ``y`` of ``host``, with
        ``K = B + (A + P) Delta`` from the cells on the wire."""
        vole = self.vole
        assert vole is not None
        link = vole.links[host]
        cells = self._vole_cells(host)
        times = ConstantMultiplier(link.delta)
        k = link.b ^ times(cells)
        ids = self.truth.parties[host].ids
        values = np.array([_elements(vole.values[y])[0] for y in ids], dtype=np.uint64)
        decoded = self._vole_decode(k, ids) ^ times(values.reshape(-1, 2))
        tags = _tag_bytes(output_tags(decoded, tag_key(vole.salt)))
        return {y: (tags[i], decoded[i].tobytes()) for i, y in enumerate(ids)}

    def _vole_decode(self, table: np.ndarray, ids: Sequence[bytes]) -> np.ndarray:
        """``Decode(table, x)`` at the OKVS positions of ``ids`` (the key on the wire)."""
        vole = self.vole
        assert vole is not None
        keys = Counter(
            w.message.key
            for w in self.wire
            if w.step == vole.step and isinstance(w.message, PsiOkvsCells)
        )
        ((key, _),) = keys.most_common(1)  # one key (check_vole_sizes checks it)
        digests = np.array([_elements(vole.digests[x])[0] for x in ids], dtype=np.uint64)
        okvs = GarbledCuckooTable(vole.cells - DENSE_COLUMNS, key)
        decoded: np.ndarray = okvs.decode(table, digests.reshape(-1, 2))
        return decoded

    def _vole_cells(self, host: str) -> np.ndarray:
        """The cells ``A + P`` the guest sent ``host``, in order."""
        vole = self.vole
        assert vole is not None
        guest = self.job.guest.name
        chunks = sorted(
            (w.message.batch, w.message.cells)
            for w in self.wire
            if w.step == vole.step
            and isinstance(w.message, PsiOkvsCells)
            and (w.sender, w.receiver) == (guest, host)
        )
        return _elements(b"".join(c for _, c in chunks))

    @functools.cached_property
    def vole(self) -> VoleView | None:
        """The VOLE-PSI step's public parameters and what its parties can compute (from
        the recorded VOLEs and OKVS), or None if no step runs VOLE-PSI."""
        steps = [i for i, s in self.steps.items() if isinstance(s, PsiStep) and s.method == "vole"]
        if not steps:
            return None
        (index,) = steps
        return vole_view(self.job, index, self.wire, self.truth, self.secrets)

    def check_vole(self) -> list[str]:
        """VOLE: exact message sequences and sizes, valid distinct base-OT points,
        uniform OT columns, uniform never-repeating corrections and cells, and the
        values every party computes from the recorded VOLEs."""
        if self.vole is None:
            return ["no VOLE step"]
        return (
            self.check_vole_sizes()
            + self.check_kkrt_points()
            + self.check_kkrt_columns()
            + self.check_vole_uniform()
            + self.check_vole_values()
        )

    def check_vole_sizes(self) -> list[str]:
        """Every message of the step, link by link, is exactly the protocol's: its kind,
        batch and payload sizes follow from the set sizes and the chunk size alone."""
        vole = self.vole
        assert vole is not None
        guest = self.job.guest.name
        step = self.steps[vole.step]
        assert isinstance(step, PsiStep)
        links: dict[tuple[str, str], list[Wire]] = defaultdict(list)
        for w in self.wire:
            if w.step == vole.step:
                links[(w.sender, w.receiver)].append(w)
        chunk = step.chunk_size
        blocks = -(-vole.total // vole.block)
        columns = [
            ("PSI_OT_COLUMNS", b, CODE_BITS * min(vole.block, vole.total - b * vole.block) // 8)
            for b in range(blocks)
        ]
        okvs = [
            ("PSI_OKVS_CELLS", c, (16, 16 * min(chunk, vole.cells - c * chunk)))
            for c in range(-(-vole.cells // chunk))
        ]
        corrections = [("PSI_VOLE_CORRECTIONS", s, size) for s, size in enumerate(vole.sizes)]
        final = "PSI_POSITIONS" if step.output == "both" else "PSI_DONE"
        problems: list[str] = []
        for host in self.job.hosts:
            size = len(self.truth.parties[host.name].ids)
            items = [
                ("PSI_HOST_ITEMS", c, TAG_BYTES * min(chunk, size - c * chunk))
                for c in range(-(-size // chunk))
            ]
            expected: dict[tuple[str, str], list[tuple[str, int, object]]] = {
                (guest, host.name): [
                    ("PSI_SETUP", 0, None),
                    ("PSI_OT_SENDER", 0, 32),
                    *columns,
                    *okvs,
                    (final, 0, None),
                ],
                (host.name, guest): [
                    ("PSI_HOST_SETUP", 0, None),
                    ("PSI_OT_RECEIVER", 0, 2 * CODE_BITS * POINT_BYTES),
                    *corrections,
                    *items,
                ],
            }
            for link, wanted in expected.items():
                seen = [
                    (w.message.kind.name, w.message.batch, _vole_payload(w.message))
                    for w in links.get(link, [])
                ]
                if seen != wanted:
                    problems.append(
                        f"{link[0]} → {link[1]}: (kind, batch, bytes) {seen} differ from the "
                        f"protocol's {wanted}"
                    )
                if any(w.message.round != 0 for w in links.get(link, [])):
                    problems.append(f"{link[0]} → {link[1]}: a message of round > 0")
            keys = {
                w.message.key
                for w in links.get((guest, host.name), [])
                if isinstance(w.message, PsiOkvsCells)
            }
            if len(keys) > 1:
                problems.append(f"{guest} → {host.name}: {len(keys)} different OKVS keys")
        self.stats["vole messages checked"] = sum(len(v) for v in links.values())
        return problems

    def check_vole_uniform(self) -> list[str]:
        """Corrections and OKVS cells look uniform: half their bits set (within 6
        sigma) and no 16-byte value repeats (in a message, across messages or links)."""
        problems: list[str] = []
        seen: dict[bytes, str] = {}
        bits = ones = 0
        for w in self.wire:
            m = w.message
            if isinstance(m, PsiVoleCorrections):
                blobs = [m.level_sums, m.base_corrections, m.tree_sums]
            elif isinstance(m, PsiOkvsCells):
                blobs = [m.cells]
            else:
                continue
            for blob in blobs:
                array = np.frombuffer(blob, dtype=np.uint8)
                ones += int(np.unpackbits(array).sum())
                bits += 8 * len(array)
                for offset in range(0, len(blob) - 15, 16):
                    value = blob[offset : offset + 16]
                    if value in seen:
                        problems.append(
                            f"{m.describe()}: the value at offset {offset} repeats one of "
                            f"{seen[value]}"
                        )
                    seen[value] = m.describe()
        if not bits:
            return ["no VOLE corrections or OKVS cells"]
        if abs(ones - bits / 2) > 6 * (bits / 4) ** 0.5:
            problems.append(f"VOLE corrections and OKVS cells: {ones} of {bits} bits set")
        self.stats["vole values checked"] = len(seen)
        return problems

    def check_vole_values(self) -> list[str]:
        """From the recorded secrets: every host's ``B = C + A Delta``; the cells the
        guest sent are exactly ``A + P`` and none equals its ``P`` cell; each host's
        items are exactly the tags of its own ids, and equal a tag the guest computes
        (``T(Decode(C, x))``) only for the ids the guest holds."""
        vole = self.vole
        assert vole is not None
        guest = self.job.guest.name
        if vole.table is None:
            return [f"no recorded OKVS table of {guest}"]
        problems: list[str] = []
        guest_ids = set(self.truth.parties[guest].ids)
        self.stats["vole host tags checked"] = 0
        for host in self.job.hosts:
            link = vole.links.get(host.name)
            if link is None:
                problems.append(f"no recorded VOLE of {guest} and {host.name}")
                continue
            if not np.array_equal(link.b, link.c ^ ConstantMultiplier(link.delta)(link.a)):
                problems.append(f"{host.name}: B is not C + A Delta")
            cells = self._vole_cells(host.name)
            if cells.shape != vole.table.shape or not np.array_equal(cells, link.a ^ vole.table):
                problems.append(f"{guest} → {host.name}: the OKVS cells are not A + P")
            elif (same := int((cells == vole.table).all(axis=1).sum())) > 0:
                problems.append(f"{guest} → {host.name}: {same} cells equal the OKVS's P")
            blob = b"".join(
                w.message.items
                for w in self.wire
                if w.step == vole.step
                and isinstance(w.message, PsiHostItems)
                and (w.sender, w.receiver) == (host.name, guest)
            )
            rows = [blob[i : i + TAG_BYTES] for i in range(0, len(blob), TAG_BYTES)]
            own = self._vole_host_values(host.name)
            owner = {tag: y for y, (tag, _) in own.items()}
            if sorted(rows) != sorted(owner):
                problems.append(f"{host.name}'s PsiHostItems are not exactly the tags of its ids")
            computable = {tag: x for x, tag, _ in self._vole_guest_values(host.name)}
            common = guest_ids & set(self.truth.parties[host.name].ids)
            matching = 0
            for row in rows:
                if row in computable:
                    matching += 1
                    item = owner.get(row)
                    if item is not None and item not in guest_ids:
                        problems.append(
                            f"{host.name}: the tag of {item!r}, which the guest does not hold, "
                            "equals a tag the guest can compute"
                        )
                    elif item is not None and computable[row] != item:
                        problems.append(f"{host.name}: the tag of {item!r} matches another id")
            if matching != len(common):
                problems.append(
                    f"{host.name}: {matching} tags match one the guest can compute, for "
                    f"{len(common)} common ids"
                )
            self.stats["vole host tags checked"] += len(rows)
        return problems

    @functools.cached_property
    def kkrt(self) -> KkrtView | None:
        """The KKRT step's public parameters and the PRF values its parties can compute
        (from the recorded OPRF states), or None if no step runs KKRT."""
        steps = [i for i, s in self.steps.items() if isinstance(s, PsiStep) and s.method == "kkrt"]
        if not steps:
            return None
        (index,) = steps
        return kkrt_view(self.job, index, self.wire, self.truth, self.secrets)

    def check_kkrt(self) -> list[str]:
        """KKRT: exact message sequences and sizes, valid distinct base-OT points,
        balanced and distinct OT columns, host values exactly ``F`` of the host's ids
        and matching a guest value only for the common ids."""
        if self.kkrt is None:
            return ["no KKRT step"]
        return (
            self.check_kkrt_sizes()
            + self.check_kkrt_points()
            + self.check_kkrt_columns()
            + self.check_kkrt_values()
        )

    def _kkrt_links(self) -> dict[tuple[str, str], list[Wire]]:
        kkrt = self.kkrt
        assert kkrt is not None
        links: dict[tuple[str, str], list[Wire]] = defaultdict(list)
        for w in self.wire:
            if w.step == kkrt.step:
                links[(w.sender, w.receiver)].append(w)
        return links

    def check_kkrt_sizes(self) -> list[str]:
        """Every message of the step, link by link, is exactly the protocol's: its kind,
        batch and payload size follow from the set sizes and the chunk size alone."""
        kkrt = self.kkrt
        assert kkrt is not None
        guest = self.job.guest.name
        step = self.steps[kkrt.step]
        assert isinstance(step, PsiStep)
        links = self._kkrt_links()
        problems: list[str] = []
        blocks = -(-kkrt.bins // kkrt.block)
        columns = [
            ("PSI_OT_COLUMNS", b, CODE_BITS * min(kkrt.block, kkrt.bins - b * kkrt.block) // 8)
            for b in range(blocks)
        ]
        final = "PSI_POSITIONS" if step.output == "both" else "PSI_DONE"
        for host in self.job.hosts:
            size = len(self.truth.parties[host.name].ids)
            chunks = -(-size // step.chunk_size)
            items = [
                (
                    "PSI_HOST_ITEMS",
                    c,
                    3 * OUTPUT_BYTES * min(step.chunk_size, size - c * step.chunk_size),
                )
                for c in range(chunks)
            ]
            expected = {
                (guest, host.name): [
                    ("PSI_SETUP", 0, None),
                    ("PSI_OT_SENDER", 0, 32),
                    *columns,
                    (final, 0, None),
                ],
                (host.name, guest): [
                    ("PSI_HOST_SETUP", 0, None),
                    ("PSI_OT_RECEIVER", 0, 2 * CODE_BITS * POINT_BYTES),
                    *items,
                ],
            }
            for link, wanted in expected.items():
                seen = [
                    (w.message.kind.name, w.message.batch, _payload_size(w.message))
                    for w in links.get(link, [])
                ]
                if seen != wanted:
                    problems.append(
                        f"{link[0]} → {link[1]}: (kind, batch, bytes) {seen} differ from the "
                        f"protocol's {wanted}"
                    )
                if any(w.message.round != 0 for w in links.get(link, [])):
                    problems.append(f"{link[0]} → {link[1]}: a message of round > 0")
        self.stats["kkrt messages checked"] = sum(len(v) for v in links.values())
        return problems

    def check_kkrt_points(self) -> list[str]:
        """Base-OT points: valid (canonical, on the curve, not low-order), not the base
        point, and all distinct: within a message, across links and between sides."""
        problems: list[str] = []
        seen: dict[bytes, str] = {}
        for w in self.wire:
            m = w.message
            if isinstance(m, PsiOtSenderPoint):
                blob = m.point
            elif isinstance(m, PsiOtReceiverPoints):
                blob = m.points
            else:
                continue
            try:
                validate_points(blob)
            except CryptoError as error:
                problems.append(f"{m.describe()}: {error}")
            for offset in range(0, len(blob) - POINT_BYTES + 1, POINT_BYTES):
                point = blob[offset : offset + POINT_BYTES]
                if point == BASE_POINT:
                    problems.append(f"{m.describe()}: the base point at offset {offset}")
                if point in seen:
                    problems.append(
                        f"{m.describe()}: the point at offset {offset} was already sent in "
                        f"{seen[point]}"
                    )
                seen[point] = m.describe()
        self.stats["base-OT points checked"] = len(seen)
        return problems

    def check_kkrt_columns(self) -> list[str]:
        """OT-extension columns look uniform: half their bits set (within 6 sigma), and
        no column repeats (in a block, across blocks or across hosts)."""
        problems: list[str] = []
        seen: dict[bytes, str] = {}
        bits = ones = 0
        for w in self.wire:
            m = w.message
            if not isinstance(m, PsiOtColumns) or len(m.columns) % CODE_BITS:
                continue
            width = len(m.columns) // CODE_BITS
            array = np.frombuffer(m.columns, dtype=np.uint8)
            ones += int(np.unpackbits(array).sum())
            bits += 8 * len(array)
            for i in range(CODE_BITS):
                column = m.columns[i * width : (i + 1) * width]
                if column in seen:
                    problems.append(f"{m.describe()}: column {i} repeats one of {seen[column]}")
                seen[column] = m.describe()
        if not bits:
            return ["no OT-extension columns"]
        if abs(ones - bits / 2) > 6 * (bits / 4) ** 0.5:
            problems.append(f"OT-extension columns: {ones} of {bits} bits set")
        self.stats["OT-extension columns checked"] = len(seen)
        return problems

    def check_kkrt_values(self) -> list[str]:
        """Each host's items are exactly the PRF values of its own ids in their three
        candidate bins (as its recorded OPRF state gives them), and a value equals one
        the guest can compute (``H(j, t[j])``, any bin) only for an id the guest holds."""
        kkrt = self.kkrt
        assert kkrt is not None
        guest = self.job.guest.name
        guest_ids = set(self.truth.parties[guest].ids)
        computable = set().union(*kkrt.guest_values.values()) if kkrt.guest_values else set()
        if not computable:
            return [f"no recorded OPRF state of {guest}"]
        problems: list[str] = []
        width = 3 * OUTPUT_BYTES
        for host in self.job.hosts:
            blob = b"".join(
                w.message.items
                for w in self._kkrt_links().get((host.name, guest), [])
                if isinstance(w.message, PsiHostItems)
            )
            rows = [blob[i : i + width] for i in range(0, len(blob), width)]
            own = kkrt.host_rows.get(host.name)
            if own is None:
                problems.append(f"no recorded OPRF state of {host.name}")
                own = {}
            elif sorted(rows) != sorted(own):
                problems.append(
                    f"{host.name}'s PsiHostItems are not exactly F(h_i(y), y) of its ids y"
                )
            common = guest_ids & set(self.truth.parties[host.name].ids)
            evaluable = kkrt.host_values.get(host.name, {})
            matching = 0
            for row in rows:
                values = [row[i : i + OUTPUT_BYTES] for i in range(0, width, OUTPUT_BYTES)]
                if set(values) & computable:
                    matching += 1
                    # whose row it is: the id most of its values are F(j, id) of
                    owners = Counter(evaluable[v] for v in values if v in evaluable)
                    item = owners.most_common(1)[0][0] if owners else None
                    if item is not None and item not in guest_ids:
                        problems.append(
                            f"{host.name}: the value of {item!r}, which the guest does not "
                            "hold, equals a PRF value the guest can compute"
                        )
            if matching != len(common):
                problems.append(
                    f"{host.name}: {matching} rows match a PRF value the guest can compute, "
                    f"for {len(common)} common ids"
                )
            self.stats["kkrt host values checked"] += 3 * len(rows)
        return problems

    def check_psi_items(self) -> list[str]:
        """No PSI item a receiver gets equals a form of an id it could compute itself."""
        problems: list[str] = []
        _, testable = self._id_forms
        self.stats["psi items checked"] = 0
        for w in self.wire:
            items = getattr(w.message, "items", None)
            if not isinstance(items, bytes):
                continue
            width = POINT_BYTES
            chunks = {items[i : i + width] for i in range(0, len(items), width)}
            self.stats["psi items checked"] += len(chunks)
            if chunks & testable[w.receiver]:
                problems.append(
                    f"{w.message.describe()}: {len(chunks & testable[w.receiver])} testable items"
                )
        return problems

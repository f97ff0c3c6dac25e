"""Recording the secrets (wrapping the real functions that make them)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from crypto.ecdh import EcdhKey
from crypto.okvs import GarbledCuckooTable
from crypto.ot_extension import OprfReceiver, OprfSender
from crypto.paillier import (
    MaskedVector,
    PackingLayout,
    PaillierPrivateKey,
    PaillierPublicKey,
    VectorMask,
)


@dataclasses.dataclass(frozen=True)
class OprfBlock:
    """One block of a KKRT OT extension as one party computed it (secret).

    The guest (OPRF receiver) keeps ``t[j]`` for every bin ``j`` of the block: its
    own PRF value of the id in bin ``j`` is ``H(j, t[j])``.  A host (OPRF sender)
    keeps ``q[j] = t[j] ^ (s & r[j])`` and its secret ``s`` (``choices``): it can
    evaluate ``F(j, y) = H(j, q[j] ^ (s & C(y)))`` for any guess ``y``.
    """

    start: int
    rows: bytes  # t rows (guest) or q rows (host), 64 bytes per bin
    choices: bytes = b""  # the host's secret s (64 bytes); empty for the guest


@dataclasses.dataclass(frozen=True)
class VoleRecord:
    """One VOLE of VOLE-PSI as one party finished it (secret).

    ``key`` is the VOLE's public key (``vole_key(salt, host, segment)``: it names the
    link and the segment).  The guest (receiver) keeps ``a`` and ``c``; a host (sender)
    keeps ``delta`` and ``B`` (in ``c``, ``a`` empty), with ``B = C + A * Delta``.
    Elements are 16 bytes each, little-endian.
    """

    key: bytes
    a: bytes
    c: bytes
    delta: int = 0


@dataclasses.dataclass(frozen=True)
class Seal:
    """One re-sharing (shared mode, :func:`crypto.shares.reshare`) as its sender made it.

    ``masks`` are the ``R`` the key owner's decryptions are masked with (the sender
    keeps ``-R``), ``bits`` the public bound the sender passed to ``reshare`` and
    ``drawn_bits`` the one it passed to ``random_shares`` (masks uniform in
    ``[0, 2**(drawn_bits + 40))``); ``from_draw`` whether ``-kept`` are exactly the
    masks ``random_shares`` drew.
    """

    party: str
    bits: int
    drawn_bits: int
    masks: tuple[int, ...]
    from_draw: bool


@dataclasses.dataclass(frozen=True)
class InitialShare:
    """A party's initial split of its own weights (shared mode): ``masks`` go to the
    other holder, ``own`` is what it keeps (``round(w0 * 2**24) - masks``)."""

    party: str
    masks: tuple[int, ...]
    own: tuple[int, ...]


class SecretLog:
    """Paillier private keys, PSI scalars, masks, KKRT OPRF states, VOLE-PSI's VOLEs and
    OKVS tables, and the guest's initial-weights seeds as made.

    With ``path``, every record is also appended to that JSON-lines file (for
    parties in separate processes); :meth:`load` reads such files back.  The keys
    of KKRT's base OTs are not PSI scalars and are not recorded (there are 513 per
    link, and no id is ever raised to them).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.private_keys: dict[int, PaillierPrivateKey] = {}
        self.key_party: dict[int, str] = {}
        self.ecdh: dict[str, list[bytes]] = defaultdict(list)
        self.masks: dict[int, VectorMask] = {}  # first masked ciphertext -> its mask
        self.oprf: dict[str, list[OprfBlock]] = defaultdict(list)
        self.vole: dict[str, list[VoleRecord]] = defaultdict(list)
        self.okvs: dict[str, list[bytes]] = defaultdict(list)  # the guest's tables P
        self.initial_weights_seeds: dict[str, list[bytes]] = defaultdict(list)
        self.seals: dict[int, Seal] = {}  # first sealed ciphertext -> its masks
        self.initial_shares: dict[str, list[InitialShare]] = defaultdict(list)
        self._lock = threading.Lock()
        self._path = path

    def _write(self, record: dict[str, Any]) -> None:
        if self._path is not None:
            with self._path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(record) + "\n")

    def add_private_key(self, party: str, private_key: PaillierPrivateKey) -> None:
        with self._lock:
            n = private_key.public_key.n
            self.private_keys[n] = private_key
            self.key_party[n] = party
            self._write(
                {
                    "type": "paillier",
                    "party": party,
                    "p": hex(private_key.p),
                    "q": hex(private_key.q),
                }
            )

    def add_ecdh(self, party: str, scalar: bytes) -> None:
        with self._lock:
            self.ecdh[party].append(scalar)
            self._write({"type": "ecdh", "party": party, "scalar": scalar.hex()})

    def add_oprf(self, party: str, block: OprfBlock) -> None:
        with self._lock:
            self.oprf[party].append(block)
            self._write(
                {
                    "type": "oprf",
                    "party": party,
                    "start": block.start,
                    "rows": block.rows.hex(),
                    "choices": block.choices.hex(),
                }
            )

    def add_vole(self, party: str, record: VoleRecord) -> None:
        with self._lock:
            self.vole[party].append(record)
            self._write(
                {
                    "type": "vole",
                    "party": party,
                    "key": record.key.hex(),
                    "a": record.a.hex(),
                    "c": record.c.hex(),
                    "delta": hex(record.delta),
                }
            )

    def add_okvs(self, party: str, table: bytes) -> None:
        with self._lock:
            self.okvs[party].append(table)
            self._write({"type": "okvs", "party": party, "table": table.hex()})

    def add_initial_weights_seed(self, party: str, seed: bytes) -> None:
        with self._lock:
            self.initial_weights_seeds[party].append(seed)
            self._write({"type": "initial_weights", "party": party, "seed": seed.hex()})

    def add_seal(self, first: int, seal: Seal) -> None:
        with self._lock:
            self.seals[first] = seal
            record = dataclasses.asdict(seal) | {"masks": [hex(m) for m in seal.masks]}
            self._write({"type": "seal", "first": hex(first), **record})

    def add_initial_share(self, share: InitialShare) -> None:
        with self._lock:
            self.initial_shares[share.party].append(share)
            self._write(
                {
                    "type": "initial_share",
                    "party": share.party,
                    "masks": [hex(m) for m in share.masks],
                    "own": [str(v) for v in share.own],
                }
            )

    def add_mask(self, masked: MaskedVector, mask: VectorMask) -> None:
        if not len(masked):
            return
        with self._lock:
            self.masks[masked.ciphertexts[0]] = mask
            layout = mask.layout
            self._write(
                {
                    "type": "mask",
                    "n": hex(mask.public_key.n),
                    "first": hex(masked.ciphertexts[0]),
                    "masks": [hex(m) for m in mask._masks],
                    "exponent": mask.exponent,
                    "length": mask.length,
                    "layout": None if layout is None else dataclasses.astuple(layout),
                }
            )

    @classmethod
    def load(cls, paths: Iterable[Path]) -> SecretLog:
        log = cls()
        for path in paths:
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record["type"] == "paillier":
                    p, q = int(record["p"], 16), int(record["q"], 16)
                    public = PaillierPublicKey(p * q, allow_weak_key=True)
                    log.add_private_key(record["party"], PaillierPrivateKey(public, p, q))
                elif record["type"] == "ecdh":
                    log.add_ecdh(record["party"], bytes.fromhex(record["scalar"]))
                elif record["type"] == "oprf":
                    block = OprfBlock(
                        record["start"],
                        bytes.fromhex(record["rows"]),
                        bytes.fromhex(record["choices"]),
                    )
                    log.add_oprf(record["party"], block)
                elif record["type"] == "vole":
                    vole = VoleRecord(
                        bytes.fromhex(record["key"]),
                        bytes.fromhex(record["a"]),
                        bytes.fromhex(record["c"]),
                        int(record["delta"], 16),
                    )
                    log.add_vole(record["party"], vole)
                elif record["type"] == "okvs":
                    log.add_okvs(record["party"], bytes.fromhex(record["table"]))
                elif record["type"] == "seal":
                    seal = Seal(
                        record["party"],
                        record["bits"],
                        record["drawn_bits"],
                        tuple(int(m, 16) for m in record["masks"]),
                        record["from_draw"],
                    )
                    log.add_seal(int(record["first"], 16), seal)
                elif record["type"] == "initial_share":
                    log.add_initial_share(
                        InitialShare(
                            record["party"],
                            tuple(int(m, 16) for m in record["masks"]),
                            tuple(int(v) for v in record["own"]),
                        )
                    )
                elif record["type"] == "initial_weights":
                    log.add_initial_weights_seed(record["party"], bytes.fromhex(record["seed"]))
                else:
                    public = PaillierPublicKey(int(record["n"], 16), allow_weak_key=True)
                    layout = record["layout"]
                    log.masks[int(record["first"], 16)] = VectorMask(
                        public,
                        [int(m, 16) for m in record["masks"]],
                        record["exponent"],
                        record["length"],
                        None if layout is None else PackingLayout(*layout),
                    )
        return log


@contextlib.contextmanager
def record_secrets(log: SecretLog, party: str | None = None) -> Iterator[SecretLog]:
    """Record every key pair, PSI scalar, mask, OPRF state and initial-weights seed the
    engine makes (the real code runs).

    Wraps the Paillier key generation the hetero LR backend, the secure sum's key
    owner and the binning guest call, ``mask_vector`` (both places that call it), ``EcdhKey.generate``
    (except in :mod:`crypto.ot`: base-OT keys are not PSI scalars), KKRT's
    ``OprfReceiver.columns`` and ``OprfSender.rows`` (each block's ``t`` or ``q``
    rows), VOLE-PSI's ``VoleReceiver.finish`` and ``VoleSender.corrections`` (each
    VOLE's ``A, C`` or ``Delta, B``, :class:`VoleRecord`) and ``GarbledCuckooTable.encode``
    (the guest's OKVS ``P``), and ``secret_initial_weights`` as the hetero LR guest calls it (its secret
    seed: the plaintext replay needs the same starting point).  In shared mode it wraps
    ``reshare`` as :mod:`protocols.hetero_lr.shared_party` calls it and
    ``crypto.shares.random_shares`` (each seal's masks and bounds, :class:`Seal`), and
    ``_start_own_share`` (each party's initial split, :class:`InitialShare`).  The party
    is ``party`` or, in ``simulate_job``, taken from the thread name (``party-<name>``).
    """
    shares = importlib.import_module("crypto.shares")
    shared_party = importlib.import_module("protocols.hetero_lr.shared_party")
    real_random_shares = shares.random_shares
    real_reshare = shared_party.reshare
    real_start_own_share = shared_party._SharedParty._start_own_share
    draws = threading.local()
    backends = importlib.import_module("protocols.hetero_lr.backends")
    lr_guest = importlib.import_module("protocols.hetero_lr.guest")
    secure_sum = importlib.import_module("protocols.secure_sum")
    binning = importlib.import_module("protocols.binning.exchange")
    masking = importlib.import_module("crypto.paillier.masking")
    vector = importlib.import_module("crypto.paillier.vector")
    ot = importlib.import_module("crypto.ot")
    real_keygen = backends.generate_paillier_keypair
    real_sum_keygen = secure_sum.generate_paillier_keypair
    real_initial_weights = lr_guest.secret_initial_weights
    real_mask = masking.mask_vector
    real_generate = EcdhKey.generate
    real_columns = OprfReceiver.columns
    real_rows = OprfSender.rows
    vole = importlib.import_module("crypto.vole")
    real_finish = vole.VoleReceiver.finish
    real_corrections = vole.VoleSender.corrections
    real_encode = GarbledCuckooTable.encode

    class OtKeys:
        """What :mod:`crypto.ot` sees as ``EcdhKey``: keys made without recording."""

        generate = staticmethod(real_generate)

    def who() -> str:
        return party or threading.current_thread().name.removeprefix("party-")

    def keygen(*args: Any, **kwargs: Any) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        public_key, private_key = real_keygen(*args, **kwargs)
        log.add_private_key(who(), private_key)
        return public_key, private_key

    def sum_keygen(*args: Any, **kwargs: Any) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        public_key, private_key = real_sum_keygen(*args, **kwargs)
        log.add_private_key(who(), private_key)
        return public_key, private_key

    def initial_weights(features: Any, seed: bytes) -> np.ndarray:
        log.add_initial_weights_seed(who(), bytes(seed))
        weights: np.ndarray = real_initial_weights(features, seed)
        return weights

    def mask(*args: Any, **kwargs: Any) -> tuple[MaskedVector, VectorMask]:
        masked, vector_mask = real_mask(*args, **kwargs)
        log.add_mask(masked, vector_mask)
        return masked, vector_mask

    def random_shares(count: int, bits: int) -> list[int]:
        masks: list[int] = real_random_shares(count, bits)
        draws.last = (bits, list(masks))
        return masks

    def reshare(vector: Any, bits: int, **kwargs: Any) -> tuple[Any, list[int]]:
        draws.last = None
        sealed, kept = real_reshare(vector, bits, **kwargs)
        drawn_bits, drawn = getattr(draws, "last", None) or (-1, [])
        masks = tuple(-int(k) for k in kept)
        if len(sealed):
            seal = Seal(who(), bits, drawn_bits, masks, list(masks) == drawn)
            log.add_seal(int(sealed.ciphertexts[0]), seal)
        return sealed, kept

    def start_own_share(self: Any) -> list[int]:
        masks: list[int] = real_start_own_share(self)
        own = tuple(int(v) for v in self.mine.weights)
        log.add_initial_share(InitialShare(who(), tuple(int(m) for m in masks), own))
        return masks

    def generate(cls: type[EcdhKey]) -> EcdhKey:
        key = real_generate()
        log.add_ecdh(who(), key.to_bytes())
        return key

    def columns(self: OprfReceiver, start_bin: int, rows: Any) -> tuple[bytes, Any]:
        u, t_rows = real_columns(self, start_bin, rows)
        log.add_oprf(who(), OprfBlock(start_bin, np.ascontiguousarray(t_rows).tobytes()))
        return u, t_rows

    def rows(self: OprfSender, start_bin: int, u: bytes) -> Any:
        q_rows = real_rows(self, start_bin, u)
        choices = np.asarray(self._choices, dtype=np.uint8).tobytes()
        log.add_oprf(who(), OprfBlock(start_bin, np.ascontiguousarray(q_rows).tobytes(), choices))
        return q_rows

    def finish(self: Any, chosen: Any, corrections: Any) -> tuple[Any, Any]:
        a, c = real_finish(self, chosen, corrections)
        record = VoleRecord(self._key, np.ascontiguousarray(a).tobytes(), c.tobytes())
        log.add_vole(who(), record)
        return a, c

    def vole_corrections(self: Any, pad0: Any, pad1: Any) -> Any:
        out = real_corrections(self, pad0, pad1)
        b = np.ascontiguousarray(self.b).tobytes()
        log.add_vole(who(), VoleRecord(self._key, b"", b, self.delta))
        return out

    def encode(self: GarbledCuckooTable, keys: Any, values: Any) -> Any:
        table = real_encode(self, keys, values)
        log.add_okvs(who(), np.ascontiguousarray(table).tobytes())
        return table

    with (
        mock.patch.object(backends, "generate_paillier_keypair", keygen),
        mock.patch.object(secure_sum, "generate_paillier_keypair", sum_keygen),
        mock.patch.object(binning, "generate_paillier_keypair", sum_keygen),
        mock.patch.object(lr_guest, "secret_initial_weights", initial_weights),
        mock.patch.object(masking, "mask_vector", mask),
        mock.patch.object(vector, "mask_vector", mask),
        mock.patch.object(EcdhKey, "generate", classmethod(generate)),
        mock.patch.object(ot, "EcdhKey", OtKeys),
        mock.patch.object(OprfReceiver, "columns", columns),
        mock.patch.object(OprfSender, "rows", rows),
        mock.patch.object(vole.VoleReceiver, "finish", finish),
        mock.patch.object(vole.VoleSender, "corrections", vole_corrections),
        mock.patch.object(GarbledCuckooTable, "encode", encode),
        mock.patch.object(shares, "random_shares", random_shares),
        mock.patch.object(shared_party, "reshare", reshare),
        mock.patch.object(shared_party._SharedParty, "_start_own_share", start_own_share),
    ):
        yield log


def main(argv: Sequence[str] | None = None) -> int:
    """``python -c 'from tests.support.auditor import main; main()' SECRETS run --party P ...``.

    Runs ``vfl`` (``vfl.cli.main``) with the remaining arguments, recording this
    party's secrets to SECRETS: a real ``vfl run`` process whose keys and masks the
    audit can read afterwards.
    """
    from vfl.cli import main as vfl_main

    args = list(sys.argv[1:] if argv is None else argv)
    path, rest = Path(args[0]), args[1:]
    party = rest[rest.index("--party") + 1]
    with record_secrets(SecretLog(path), party):
        return vfl_main(rest)

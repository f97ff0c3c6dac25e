"""Paillier benchmark: this project's :mod:`crypto.paillier` against ``phe``, same run.

For each key length: key generation, encryption (public key, key owner with CRT,
one core and every core, precomputed obfuscators), decryption (plain and packed),
addition, scalar multiplication and ``X.T @ ev``.  phe is timed with its natural
one-number-at-a-time loops.  Every result is decrypted and compared with numpy
before its timing is kept (see :mod:`benchmarks.verify`).  Row names and
descriptions live in :mod:`benchmarks.paillier_rows`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import phe

from benchmarks import paillier_pypaillier as pypaillier_baseline
from benchmarks import report
from benchmarks.paillier_rows import PYPAILLIER_OPERATIONS, our_key, rate_result, seconds_result
from benchmarks.report import Result
from benchmarks.timing import Timing, measure, measure_each, median_seconds, time_once
from benchmarks.verify import VerificationError, check_close
from crypto.paillier import EncryptedVector, generate_paillier_keypair
from crypto.parallel import parallel_config, resolve_n_jobs

__all__ = ["DESCRIPTION", "KeyLengthBench", "Settings", "add_arguments", "main", "run"]

DESCRIPTION = "crypto.paillier vs phe: keygen, encrypt, decrypt, add, multiply, X.T @ ev"

Array = npt.NDArray[np.float64]
Log = Callable[[str], None]

SCALAR = 0.731
"""The float factor of the scalar-multiply rows (ours encodes it at 2**-16)."""
INT53 = np.int64((1 << 52) + 2_718_281_828_459)
"""A 53-bit integer factor: our like-for-like row against phe's 53-bit float encoding."""
VALUE_SCALE = 2.0**32
"""``1 / precision`` of ``encrypt_vector``'s default encoding (exponent -8)."""

_SMALL = 16
"""Length of the vector whose first encryption times the one-time table build."""
_SAMPLE = 64
"""Elements decrypted to check a large encrypted result (full decryption is slow)."""
_DEFAULTS: dict[str, Any] = {
    "key_lengths": [1024, 2048, 3072],
    "values": 2000,
    "rows": 10_000,
    "features": 10,
    "phe_rows": 500,
    "budget": 1.5,
}
_QUICK: dict[str, Any] = {
    "key_lengths": [1024],
    "values": 64,
    "rows": 512,
    "features": 4,
    "phe_rows": 32,
    "budget": 0.2,
}


@dataclass(frozen=True)
class Settings:
    """Resolved options of one benchmark run."""

    key_lengths: tuple[int, ...]
    values: int
    rows: int
    features: int
    phe_rows: int
    jobs: int
    budget: float
    keygen_runs: int | None
    seed: int
    out_dir: Path
    quick: bool
    pypaillier: bool = True

    def keygen_runs_for(self, bits: int) -> int:
        """Key pairs generated per library for the keygen median."""
        if self.keygen_runs is not None:
            return self.keygen_runs
        if self.quick:
            return 3
        return 3 if bits >= 3072 else 5

    @property
    def workers(self) -> int:
        """Worker count that ``jobs`` resolves to on this machine."""
        return resolve_n_jobs(self.jobs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``paillier`` suite's options to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The suite's sub-parser.
    """
    option = parser.add_argument
    option("--key-lengths", type=int, nargs="+", metavar="BITS", help="default 1024 2048 3072")
    option("--values", type=int, help="vector length of encrypt/decrypt/add/multiply (2000)")
    option("--rows", type=int, help="rows of X in X.T @ ev (10000)")
    option("--features", type=int, help="columns of X in X.T @ ev (10)")
    option("--phe-rows", type=int, help="row sample of phe's X.T @ ev loop (500)")
    option("--jobs", type=int, default=-1, help="n_jobs of the 'all cores' rows (-1)")
    option("--budget", type=float, help="seconds spent per measurement (1.5)")
    option("--keygen-runs", type=int, help="key pairs per library and length (5; 3 at 3072)")
    option("--seed", type=int, default=0, help="seed of the plaintext data (0)")
    option("--out-dir", type=Path, help="default benchmarks/results (--quick: .../quick)")
    option("--quick", action="store_true", help="smoke test: tiny sizes, 1024 bits, < 1 min")
    option(
        "--no-pypaillier",
        dest="pypaillier",
        action="store_false",
        help="skip the pypaillier baseline rows (1 and all rayon threads, child processes)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    base = _QUICK if args.quick else _DEFAULTS

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return base[name] if value is None else value

    default_dir = Path("benchmarks/results/quick" if args.quick else "benchmarks/results")
    settings = Settings(
        key_lengths=tuple(pick("key_lengths")),
        values=int(pick("values")),
        rows=int(pick("rows")),
        features=int(pick("features")),
        phe_rows=min(int(pick("phe_rows")), int(pick("rows"))),
        jobs=int(args.jobs),
        budget=float(pick("budget")),
        keygen_runs=args.keygen_runs,
        seed=int(args.seed),
        out_dir=args.out_dir or default_dir,
        quick=bool(args.quick),
        pypaillier=bool(getattr(args, "pypaillier", True)),
    )
    if settings.values < _SMALL:
        raise SystemExit(f"--values must be at least {_SMALL}")
    if min(settings.rows, settings.features, settings.phe_rows) < 1 or settings.budget <= 0:
        raise SystemExit("--rows, --features, --phe-rows and --budget must be positive")
    return settings


def _make_log(start: float) -> Log:
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def _head(vector: EncryptedVector, count: int) -> EncryptedVector:
    head = vector[:count]
    if not isinstance(head, EncryptedVector):
        raise TypeError("slicing an EncryptedVector should return an EncryptedVector")
    return head


def bench_keygen(bits: int, runs: int, log: Log) -> Result:
    """Median seconds per key pair, ours and phe.

    Parameters
    ----------
    bits : int
        Modulus length.
    runs : int
        Key pairs generated by each library.
    log : callable
        Progress reporter.

    Returns
    -------
    Result
        Unit ``"s"``.
    """

    def ours() -> None:
        public_key, _ = generate_paillier_keypair(bits, allow_weak_key=True)
        if public_key.bits != bits:
            raise VerificationError(f"keygen: got a {public_key.bits}-bit key, wanted {bits}")

    def theirs() -> None:
        public_key, _ = phe.generate_paillier_keypair(n_length=bits)
        if public_key.n.bit_length() != bits:
            raise VerificationError(f"phe keygen: got {public_key.n.bit_length()} bits")

    log(f"{bits} bits: keygen, ours x{runs}")
    ours_median, ours_total = median_seconds(ours, runs)
    log(f"{bits} bits: keygen, phe x{runs}")
    phe_median, phe_total = median_seconds(theirs, runs)
    return seconds_result(
        "keygen",
        ours_median,
        phe_median,
        n=runs,
        seconds=ours_total,
        phe_n=runs,
        phe_seconds=phe_total,
        context={"runs": runs},
    )


class KeyLengthBench:
    """Every measurement at one key length, under one fresh key pair per library.

    Parameters
    ----------
    bits : int
        Modulus length.
    settings : Settings
        Sizes, budget and worker count.
    log : callable
        Progress reporter.
    """

    def __init__(self, bits: int, settings: Settings, log: Log) -> None:
        self.bits = bits
        self.settings = settings
        self.budget = settings.budget
        self.jobs = settings.jobs
        self.log = log
        rng = np.random.default_rng([settings.seed, bits])
        self.values: Array = rng.standard_normal(settings.values)
        self.others: Array = rng.standard_normal(settings.values)
        self.matrix: Array = rng.standard_normal((settings.rows, settings.features))
        self.column: Array = rng.standard_normal(settings.rows)
        sample = min(_SAMPLE, settings.values)
        self.sample_index = np.sort(rng.choice(settings.values, size=sample, replace=False))
        log(f"{bits} bits: generating the benchmark key pairs")
        self.public_key, self.private_key = generate_paillier_keypair(bits, allow_weak_key=True)
        self.phe_public_key, self.phe_private_key = phe.generate_paillier_keypair(n_length=bits)
        self.context: dict[str, object] = {
            "workers": settings.workers,
            "jobs": settings.jobs,
            "small": _SMALL,
            "rows": settings.rows,
            "features": settings.features,
            "phe_rows": settings.phe_rows,
            "factor": int(INT53),
        }
        self.phe_numbers: list[Any] = []
        self._ev: EncryptedVector | None = None

    @property
    def encrypted(self) -> EncryptedVector:
        """The public-key encryption of ``values`` made by :meth:`encrypt`."""
        if self._ev is None:
            raise RuntimeError("encrypt() must run before the other measurements")
        return self._ev

    # helpers ------------------------------------------------------------------------
    def _step(self, what: str) -> None:
        self.log(f"{self.bits} bits: {what}")

    def _check_encrypted(
        self,
        what: str,
        vector: EncryptedVector,
        want: Array,
        *,
        rtol: float = 0.0,
        atol: float = 1e-9,
    ) -> None:
        """Compare sampled elements of an encrypted result with the numpy reference."""
        if len(vector) != len(want):
            raise VerificationError(f"{what}: {len(vector)} ciphertexts for {len(want)} values")
        part = vector[self.sample_index]
        got = self.private_key.decrypt_vector(part, n_jobs=self.jobs)
        check_close(what, got, want[self.sample_index], rtol=rtol, atol=atol)

    def _phe_decrypt(self, numbers: Sequence[Any]) -> Array:
        return np.array([self.phe_private_key.decrypt(c) for c in numbers], dtype=np.float64)

    def _phe_loop(
        self, what: str, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> tuple[Timing, list[Any]]:
        self._step(f"{what}, phe loop")
        return measure_each(fn, items, budget=self.budget, min_items=min(8, len(items)))

    # encryption -----------------------------------------------------------------------
    def encrypt(self) -> list[Result]:
        """Encryption rows and the one-time table builds; keeps phe's ciphertexts."""
        pk, sk, values, jobs = self.public_key, self.private_key, self.values, self.jobs
        count, small = len(values), values[:_SMALL]

        self._step("one-time fixed-base table build (first encryption under the new key)")
        first_public, _ = time_once(lambda: pk.encrypt_vector(small, n_jobs=1))
        first_owner, _ = time_once(lambda: sk.encrypt_vector(small, n_jobs=1))

        self._step(f"encrypt, ours public key, 1 core ({count} values)")
        public_1, ev = measure(
            lambda: pk.encrypt_vector(values, n_jobs=1), count, budget=self.budget
        )
        self._check_encrypted("encrypt (public key, 1 core)", ev, values)
        self._ev = ev

        self._step(f"encrypt, ours key owner (CRT), 1 core ({count} values)")
        owner_1, ev = measure(
            lambda: sk.encrypt_vector(values, n_jobs=1), count, budget=self.budget
        )
        self._check_encrypted("encrypt (key owner, 1 core)", ev, values)

        self._step(f"warming the process pool ({jobs=}): start and per-worker tables")
        for warm in (values[: 8 * _SMALL], values):
            pk.encrypt_vector(warm, n_jobs=jobs)
            sk.encrypt_vector(warm, n_jobs=jobs)

        self._step(f"encrypt, ours public key, {jobs=} ({count} values)")
        public_all, ev = measure(
            lambda: pk.encrypt_vector(values, n_jobs=jobs), count, budget=self.budget
        )
        self._check_encrypted("encrypt (public key, all cores)", ev, values)

        self._step(f"encrypt, ours key owner, {jobs=} ({count} values)")
        owner_all, ev = measure(
            lambda: sk.encrypt_vector(values, n_jobs=jobs), count, budget=self.budget
        )
        self._check_encrypted("encrypt (key owner, all cores)", ev, values)

        precompute, online = self._encrypt_online(public_1.rate)

        items = [float(x) for x in values]
        self._step("encrypt, phe loop")
        theirs, self.phe_numbers = measure_each(
            self.phe_public_key.encrypt, items, budget=self.budget, min_items=8, max_items=count
        )
        done = len(self.phe_numbers)
        check_close("phe encrypt", self._phe_decrypt(self.phe_numbers), values[:done], atol=1e-12)

        ctx = {**self.context, "count": precompute.ops}
        build_public = max(0.0, first_public - _SMALL / public_1.rate)
        build_owner = max(0.0, first_owner - _SMALL / owner_1.rate)
        return [
            seconds_result(
                "table_build_public", build_public, None, n=1, seconds=first_public, context=ctx
            ),
            seconds_result(
                "table_build_owner", build_owner, None, n=1, seconds=first_owner, context=ctx
            ),
            rate_result("encrypt_public_1core", public_1, theirs, ctx),
            rate_result("encrypt_owner_1core", owner_1, theirs, ctx),
            rate_result("encrypt_public_all", public_all, theirs, ctx),
            rate_result("encrypt_owner_all", owner_all, theirs, ctx),
            rate_result("precompute_obfuscators_1core", precompute, theirs, ctx),
            rate_result("encrypt_online_precomputed", online, theirs, ctx),
        ]

    def _encrypt_online(self, steady_rate: float) -> tuple[Timing, Timing]:
        """Time the offline precompute, then the online encryptions that consume it."""
        pk, values = self.public_key, self.values
        count = len(values)
        calls = max(2, min(10, round(self.budget * steady_rate / count)))
        self._step(f"precompute {calls * count} obfuscators, ours public key, 1 core")
        seconds, _ = time_once(lambda: pk.precompute_obfuscators(calls * count, n_jobs=1))
        precompute = Timing(ops=calls * count, seconds=seconds, calls=1)

        def online() -> EncryptedVector:
            before = pk.precomputed_obfuscators
            if before < count:
                raise VerificationError("online encryption: the obfuscator pool ran dry")
            vector = pk.encrypt_vector(values)
            if pk.precomputed_obfuscators != before - count:
                raise VerificationError("online encryption did not draw on the precomputed pool")
            return vector

        self._step(f"encrypt, ours online phase only ({calls} x {count} values)")
        timing, vector = measure(online, count, budget=0.0, min_calls=calls, max_calls=calls)
        self._check_encrypted("encrypt (online, precomputed)", vector, values)
        return precompute, timing

    # decryption -----------------------------------------------------------------------
    def decrypt(self) -> list[Result]:
        """Decryption rows: plain (1 core, all cores), packed, pack cost, end to end."""
        sk, ev, values, jobs = self.private_key, self.encrypted, self.values, self.jobs
        count = len(values)

        self._step(f"decrypt, ours 1 core ({count} values)")
        one, plain = measure(lambda: sk.decrypt_vector(ev, n_jobs=1), count, budget=self.budget)
        check_close("decrypt (1 core)", plain, values, atol=1e-9)

        sk.decrypt_vector(_head(ev, 8 * _SMALL), n_jobs=jobs)  # start the thread pool
        self._step(f"decrypt, ours {jobs=} (thread pool, {count} values)")
        every, plain = measure(
            lambda: sk.decrypt_vector(ev, n_jobs=jobs), count, budget=self.budget
        )
        check_close("decrypt (all cores)", plain, values, atol=1e-9)

        self._step(f"pack, ours 1 core ({count} values)")
        pack, packed = measure(lambda: ev.pack(n_jobs=1), count, budget=self.budget)
        layout = packed.layout
        packing = (
            f"{layout.slots} slots of {layout.slot_bits} bits per ciphertext, "
            f"{layout.ciphertexts} ciphertexts for {count} values"
        )
        self._step(f"decrypt packed, ours 1 core ({packing})")
        unpack, plain = measure(
            lambda: sk.decrypt_vector(packed, n_jobs=1), count, budget=self.budget
        )
        check_close("decrypt packed", plain, values, atol=1e-9)
        both = Timing(ops=count, seconds=pack.seconds_per_call + unpack.seconds_per_call, calls=1)

        theirs, numbers = self._phe_loop("decrypt", self.phe_private_key.decrypt, self.phe_numbers)
        check_close("phe decrypt", numbers, values[: len(numbers)], atol=1e-12)

        ctx = {**self.context, "packing": packing}
        return [
            rate_result("decrypt_1core", one, theirs, ctx),
            rate_result("decrypt_all", every, theirs, ctx),
            rate_result("decrypt_packed_1core", unpack, theirs, ctx),
            rate_result("pack_1core", pack, None, ctx),
            rate_result("pack_and_decrypt_1core", both, theirs, ctx),
        ]

    # addition -------------------------------------------------------------------------
    def add(self) -> list[Result]:
        """Ciphertext + ciphertext, elementwise."""
        ev, count = self.encrypted, len(self.values)
        other = self.public_key.encrypt_vector(self.others, n_jobs=self.jobs)
        self._step(f"add, ours ({count} values)")
        ours, total = measure(lambda: ev + other, count, budget=self.budget)
        self._check_encrypted("add", total, self.values + self.others)

        numbers = self.phe_numbers
        pairs = list(zip(numbers, [*numbers[1:], numbers[0]], strict=True))
        theirs, sums = self._phe_loop("add", lambda pair: pair[0] + pair[1], pairs)
        plain = self.values[: len(numbers)]
        check_close("phe add", self._phe_decrypt(sums), plain + np.roll(plain, -1), atol=1e-12)
        realigned = sum(a.exponent != b.exponent for a, b in pairs) / len(pairs)
        with parallel_config(n_jobs=self.jobs):
            ev + other  # start the thread pool
            self._step(f"add, ours jobs={self.jobs} ({count} values)")
            every, parallel_total = measure(lambda: ev + other, count, budget=self.budget)
        if parallel_total.ciphertexts != total.ciphertexts:
            raise VerificationError("add: the parallel sums differ from the inline ones")
        ctx = {**self.context, "realigned": realigned}
        return [rate_result("add", ours, theirs, ctx), rate_result("add_all", every, theirs, ctx)]

    # scalar multiplication -----------------------------------------------------------------
    def multiply(self) -> list[Result]:
        """Ciphertext times a plaintext scalar: 16-bit fixed point and 53-bit integer."""
        ev, values, count = self.encrypted, self.values, len(self.values)
        with parallel_config(n_jobs=1):
            self._step(f"scalar multiply by {SCALAR} (16-bit fixed point), ours 1 core")
            short, product = measure(lambda: ev * SCALAR, count, budget=self.budget)
            self._check_encrypted("ev * 0.731", product, values * SCALAR, atol=1e-4)
            self._step(f"scalar multiply by a 53-bit int64 ({int(INT53)}), ours 1 core")
            long, product = measure(lambda: ev * INT53, count, budget=self.budget)
        short_all, long_all = self._multiply_all(product)
        # the reference multiplies the *encoded* values (a factor of 2**52 would amplify
        # the encoding error of the values themselves)
        encoded = np.round(values * VALUE_SCALE) / VALUE_SCALE
        self._check_encrypted("ev * int53", product, encoded * float(INT53), rtol=1e-12, atol=0.0)

        theirs, products = self._phe_loop(
            f"scalar multiply by {SCALAR}", lambda c: c * SCALAR, self.phe_numbers
        )
        want = values[: len(products)] * SCALAR
        check_close("phe c * 0.731", self._phe_decrypt(products), want, rtol=1e-12, atol=1e-15)
        phe_bits = phe.EncodedNumber.encode(self.phe_public_key, SCALAR).encoding.bit_length()
        ctx = {**self.context, "phe_bits": phe_bits}
        return [
            rate_result("mul_scalar_16bit", short, theirs, ctx),
            rate_result("mul_scalar_53bit", long, theirs, ctx),
            rate_result("mul_scalar_16bit_all", short_all, theirs, ctx),
            rate_result("mul_scalar_53bit_all", long_all, theirs, ctx),
        ]

    def _multiply_all(self, long_product: EncryptedVector) -> tuple[Timing, Timing]:
        """The scalar products with ``n_jobs=jobs``; bit-identical to the 1-core ones."""
        ev, count, jobs = self.encrypted, len(self.values), self.jobs
        short_product = ev * SCALAR
        with parallel_config(n_jobs=jobs):
            ev * SCALAR  # start the thread pool
            self._step(f"scalar multiply by {SCALAR}, ours {jobs=}")
            short, short_all = measure(lambda: ev * SCALAR, count, budget=self.budget)
            self._step(f"scalar multiply by a 53-bit int64, ours {jobs=}")
            long, long_all = measure(lambda: ev * INT53, count, budget=self.budget)
        if short_all.ciphertexts != short_product.ciphertexts:
            raise VerificationError("ev * 0.731: the parallel products differ")
        if long_all.ciphertexts != long_product.ciphertexts:
            raise VerificationError("ev * int53: the parallel products differ")
        return short, long

    # X.T @ ev -----------------------------------------------------------------------------
    def matmul(self) -> list[Result]:
        """``X.T @ ev``: our bucket method (1 core, all cores) and phe's natural loop."""
        rows, features = self.matrix.shape
        transposed, jobs = self.matrix.T, self.jobs
        want = transposed @ self.column
        atol = 1e-3 * float(np.max(np.abs(want)))
        self._step(f"encrypting the {rows}-value vector of X.T @ ev (untimed)")
        ev = self.private_key.encrypt_vector(self.column, n_jobs=jobs)

        self._step(f"X.T @ ev, ours 1 core ({rows} x {features})")
        one, result = measure(
            lambda: ev.matmul(transposed, n_jobs=1), rows * features, budget=self.budget
        )
        got = self.private_key.decrypt_vector(result, n_jobs=jobs)
        check_close("X.T @ ev (1 core)", got, want, rtol=1e-3, atol=atol)

        warm = min(rows, 1024)
        _head(ev, warm).matmul(transposed[:, :warm], n_jobs=jobs)  # start the process pool
        self._step(f"X.T @ ev, ours {jobs=} ({rows} x {features})")
        every, result = measure(
            lambda: ev.matmul(transposed, n_jobs=jobs), rows * features, budget=self.budget
        )
        got = self.private_key.decrypt_vector(result, n_jobs=jobs)
        check_close("X.T @ ev (all cores)", got, want, rtol=1e-3, atol=atol)

        theirs = self._phe_matmul()
        return [
            rate_result("matmul_xt_ev_1core", one, theirs, self.context),
            rate_result("matmul_xt_ev_all", every, theirs, self.context),
        ]

    def _phe_matmul(self) -> Timing:
        """phe's natural ``X.T @ ev`` loop on the first ``phe_rows`` rows."""
        sample, features = self.settings.phe_rows, self.matrix.shape[1]
        self._step(f"phe-encrypting a {sample}-row sample of X.T @ ev (untimed)")
        encrypted = [self.phe_public_key.encrypt(float(x)) for x in self.column[:sample]]
        matrix = self.matrix[:sample]

        def loop() -> list[Any]:
            return [
                sum(encrypted[i] * float(matrix[i, j]) for i in range(sample))
                for j in range(features)
            ]

        self._step(f"X.T @ ev, phe loop ({sample} x {features} sample)")
        timing, columns = measure(loop, sample * features, budget=self.budget)
        want = matrix.T @ self.column[:sample]
        atol = 1e-9 * float(np.max(np.abs(want)))
        check_close("phe X.T @ ev", self._phe_decrypt(columns), want, rtol=1e-9, atol=atol)
        return timing

    def pypaillier(self, ours: Sequence[Result]) -> list[Result]:
        """pypaillier with 1 and ``workers`` rayon threads against our rows of this run."""
        if not self.settings.pypaillier:
            return []
        if not pypaillier_baseline.available():
            self._step("pypaillier is not installed (import name 'paillier'): rows skipped")
            return []
        if self.bits < pypaillier_baseline.MIN_BITS:
            self._step(f"pypaillier refuses {self.bits}-bit keys: rows skipped")
            return []
        spec = {
            "bits": self.bits,
            "values": self.settings.values,
            "rows": self.settings.phe_rows,
            "features": self.settings.features,
            "budget": self.budget,
            "seed": self.settings.seed,
        }
        by_key = {result.key: result for result in ours}
        rows = []
        for suffix, threads in (("1core", 1), ("all", self.settings.workers)):
            self._step(f"pypaillier, {threads} rayon thread(s), in a child process")
            rates = pypaillier_baseline.measure(spec, threads) or {}
            for operation in PYPAILLIER_OPERATIONS:
                mine = by_key[our_key(operation, suffix == "all")]
                rows.append(
                    seconds_result(
                        f"pypaillier_{operation}_{suffix}",
                        mine.ours,
                        rates[operation],
                        n=mine.n,
                        seconds=mine.seconds,
                        context=self.context,
                        unit="ops/s",
                    )
                )
        return rows

    def run(self) -> list[Result]:
        """Every measurement at this key length, in table order."""
        ours = self.encrypt() + self.decrypt() + self.add() + self.multiply() + self.matmul()
        return ours + self.pypaillier(ours)


def run(settings: Settings, log: Log) -> dict[int, list[Result]]:
    """Run the whole suite.

    Parameters
    ----------
    settings : Settings
        Resolved options.
    log : callable
        Progress reporter (one line as each measurement starts).

    Returns
    -------
    dict
        Key length to its results (keygen first).
    """
    results: dict[int, list[Result]] = {}
    for bits in settings.key_lengths:
        keygen = bench_keygen(bits, settings.keygen_runs_for(bits), log)
        results[bits] = [keygen, *KeyLengthBench(bits, settings, log).run()]
    return results


def main(args: argparse.Namespace) -> int:
    """Entry point of ``python -m benchmarks paillier``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options (see :func:`add_arguments`) and ``argv``.

    Returns
    -------
    int
        Exit status.
    """
    settings = _settings(args)
    start = time.perf_counter()
    log = _make_log(start)
    log(f"paillier benchmark, {settings.workers} workers for n_jobs={settings.jobs}: {settings}")
    results = run(settings, log)
    total = time.perf_counter() - start

    recorded = {**asdict(settings), "out_dir": str(settings.out_dir), "workers": settings.workers}
    meta = {**report.build_meta(args.argv, recorded), "total_seconds": round(total, 1)}
    json_path = settings.out_dir / "paillier.json"
    png_path = settings.out_dir / "paillier.png"
    report.write_json(json_path, meta, results)
    report.plot_results(results, png_path)
    print(report.markdown_tables(results), end="")
    log(f"measured in {total:.0f} s; wrote {json_path} and {png_path}")
    return 0

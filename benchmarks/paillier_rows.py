"""What each row of the Paillier benchmark is called and what exactly it times.

Labels and descriptions are templates filled with run details (worker count,
matrix shape, packing layout, ...) by :func:`rate_result` and
:func:`seconds_result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.report import Result
from benchmarks.timing import Timing

__all__ = [
    "PYPAILLIER_OPERATIONS",
    "ROWS",
    "RowSpec",
    "our_key",
    "rate_result",
    "seconds_result",
]

_PHE_ENCRYPT = "phe encrypt (1 core)"
_PHE_DECRYPT = "phe decrypt (1 core)"
_PHE_MUL = "phe c * 0.731 (53-bit float encoding)"
_PHE_MATMUL = "phe loop sum(enc[i] * X[i, j])"


@dataclass(frozen=True)
class RowSpec:
    """Presentation of one measurement.

    Attributes
    ----------
    label : str
        Table and legend text (a :meth:`str.format` template).
    panel : str
        Plot panel, see :data:`benchmarks.report.PANELS`.
    phe_label : str
        What the phe figure of this row measures ("" if none).
    description : str
        What exactly is timed (a :meth:`str.format` template).
    """

    label: str
    panel: str
    phe_label: str
    description: str


ROWS: dict[str, RowSpec] = {
    "keygen": RowSpec(
        "keygen (time per key pair, median)",
        "keygen / one-time setup",
        "phe keygen",
        "generate_paillier_keypair(bits, allow_weak_key=True) vs "
        "phe.generate_paillier_keypair(n_length=bits); median wall time of {runs} runs each",
    ),
    "table_build_public": RowSpec(
        "one-time table build, public key (time)",
        "keygen / one-time setup",
        "",
        "first pk.encrypt_vector of {small} values under a fresh key minus {small} values "
        "at the steady rate: derives hs and builds the DJN fixed-base table, once per key "
        "and per worker process",
    ),
    "table_build_owner": RowSpec(
        "one-time table build, key owner (time)",
        "keygen / one-time setup",
        "",
        "first sk.encrypt_vector of {small} values minus the steady rate: the CRT tables "
        "mod p**2 and q**2 (hs already derived by the row above)",
    ),
    "encrypt_public_1core": RowSpec(
        "encrypt, public key, 1 core",
        "encrypt",
        _PHE_ENCRYPT,
        "pk.encrypt_vector(values, n_jobs=1), float64 N(0, 1) at 2**-32; "
        "phe: phe_pk.encrypt(float(x)) loop",
    ),
    "encrypt_owner_1core": RowSpec(
        "encrypt, key owner (CRT), 1 core",
        "encrypt",
        _PHE_ENCRYPT,
        "sk.encrypt_vector(values, n_jobs=1)",
    ),
    "encrypt_public_all": RowSpec(
        "encrypt, public key, all cores ({workers} workers)",
        "encrypt",
        _PHE_ENCRYPT,
        "pk.encrypt_vector(values, n_jobs={jobs}) on a warmed process pool",
    ),
    "encrypt_owner_all": RowSpec(
        "encrypt, key owner, all cores ({workers} workers)",
        "encrypt",
        _PHE_ENCRYPT,
        "sk.encrypt_vector(values, n_jobs={jobs}) on a warmed process pool",
    ),
    "precompute_obfuscators_1core": RowSpec(
        "precompute obfuscators (offline phase), 1 core",
        "encrypt",
        _PHE_ENCRYPT,
        "pk.precompute_obfuscators({count}, n_jobs=1): the offline half of a public-key "
        "encryption (phe has no split; its figure is a whole encryption)",
    ),
    "encrypt_online_precomputed": RowSpec(
        "encrypt, ONLINE phase only (obfuscators precomputed)",
        "encrypt",
        _PHE_ENCRYPT,
        "pk.encrypt_vector(values) drawing on an untimed pk.precompute_obfuscators; "
        "excludes the offline precompute (row above); phe: a whole encryption",
    ),
    "decrypt_1core": RowSpec(
        "decrypt, 1 core",
        "decrypt",
        _PHE_DECRYPT,
        "sk.decrypt_vector(ev, n_jobs=1); phe: phe_sk.decrypt(c) loop",
    ),
    "decrypt_all": RowSpec(
        "decrypt, all cores ({workers} workers)",
        "decrypt",
        _PHE_DECRYPT,
        "sk.decrypt_vector(ev, n_jobs={jobs}) (thread pool)",
    ),
    "decrypt_packed_1core": RowSpec(
        "decrypt packed (decrypt only), 1 core",
        "decrypt",
        _PHE_DECRYPT,
        "sk.decrypt_vector(packed, n_jobs=1) with packed = ev.pack(n_jobs=1) untimed; "
        "values per second; {packing}",
    ),
    "pack_1core": RowSpec(
        "pack (paid by the packing party), 1 core",
        "decrypt",
        "",
        "ev.pack(n_jobs=1), values per second; {packing}; phe cannot pack",
    ),
    "pack_and_decrypt_1core": RowSpec(
        "pack + decrypt packed, end to end, 1 core",
        "decrypt",
        _PHE_DECRYPT,
        "one ev.pack(n_jobs=1) plus one sk.decrypt_vector(packed, n_jobs=1) (mean call "
        "times of the two rows above), values per second",
    ),
    "add": RowSpec(
        "add, ciphertext + ciphertext",
        "add",
        "phe c1 + c2",
        "ev + ev2 (one shared exponent); phe: c1 + c2 over phe-encrypted floats, "
        "{realigned:.0%} of the pairs had different exponents and were aligned first "
        "(phe's natural cost with floats)",
    ),
    "add_all": RowSpec(
        "add, ciphertext + ciphertext, all cores ({workers} workers)",
        "add",
        "phe c1 + c2",
        "ev + ev2 inside parallel_config(n_jobs={jobs}) (chunks on the thread pool, "
        "gmpy2 allow_release_gil); phe as above",
    ),
    "mul_scalar_16bit": RowSpec(
        "scalar multiply, ev * 0.731 (16-bit fixed point), 1 core",
        "scalar multiply",
        _PHE_MUL,
        "ev * 0.731 at our default plaintext precision 2**-16: a ~16-bit exponent, vs "
        "phe's {phe_bits}-bit mantissa for 0.731 (not like for like, see the next row)",
    ),
    "mul_scalar_53bit": RowSpec(
        "scalar multiply, ev * 53-bit int64 (like for like), 1 core",
        "scalar multiply",
        _PHE_MUL,
        "ev * np.int64({factor}): a 53-bit exponent, vs phe's c * 0.731 whose mantissa "
        "has {phe_bits} bits",
    ),
    "mul_scalar_16bit_all": RowSpec(
        "scalar multiply, ev * 0.731 (16-bit fixed point), all cores ({workers} workers)",
        "scalar multiply",
        _PHE_MUL,
        "ev * 0.731 inside parallel_config(n_jobs={jobs}) (one powmod_base_list per "
        "chunk on the thread pool)",
    ),
    "mul_scalar_53bit_all": RowSpec(
        "scalar multiply, ev * 53-bit int64, all cores ({workers} workers)",
        "scalar multiply",
        _PHE_MUL,
        "ev * np.int64({factor}) inside parallel_config(n_jobs={jobs})",
    ),
    "matmul_xt_ev_1core": RowSpec(
        "X.T @ ev ({rows} x {features}), multiply-adds, 1 core",
        "X.T @ ev",
        _PHE_MATMUL,
        "ev.matmul(X.T, n_jobs=1) (Pippenger buckets, X at 2**-16), rows * features per "
        "second; phe: the natural loop on a {phe_rows}-row sample (its cost is linear in "
        "rows)",
    ),
    "matmul_xt_ev_all": RowSpec(
        "X.T @ ev ({rows} x {features}), multiply-adds, all cores ({workers} workers)",
        "X.T @ ev",
        _PHE_MATMUL,
        "ev.matmul(X.T, n_jobs={jobs}) on a warmed process pool; phe as above",
    ),
}
"""Every measurement of the suite, in table order."""

PYPAILLIER_OPERATIONS: dict[str, tuple[str, str, str, str]] = {
    "encrypt": (
        "encrypt, public key",
        "encrypt_public",
        "encrypt_many",
        "pk.encrypt_vector (2**-32) vs paillier.encrypt_many (scale 1e8)",
    ),
    "add": (
        "add, ciphertext + ciphertext",
        "add",
        "add_blocks",
        "ev + ev2 vs add_blocks over blocks [i, n + i]",
    ),
    "mul_scalar_16bit": (
        "scalar multiply by 0.731",
        "mul_scalar_16bit",
        "multiply_many_public",
        "ev * 0.731 (16-bit) vs multiply_many_public by 0.731 (scale 1e8, ~27 bits)",
    ),
    "mul_scalar_53bit": (
        "scalar multiply by a 53-bit int",
        "mul_scalar_53bit",
        "multiply_integers_public",
        "ev * np.int64({factor}) vs multiply_integers_public by the same integer",
    ),
    "matmul_xt_ev": (
        "X.T @ ev, multiply-adds",
        "matmul_xt_ev",
        "multiply_many_public + add_blocks",
        "ev.matmul(X.T) ({rows} x {features}) vs multiply_many_public of the repeated "
        "vector by X.T flattened plus add_blocks per feature, on a {phe_rows}-row sample",
    ),
}
"""pypaillier comparison rows: operation to (label, our row stem, its API, description)."""


def our_key(operation: str, all_cores: bool) -> str:
    """The key of our row that a pypaillier comparison row repeats."""
    stem = PYPAILLIER_OPERATIONS[operation][1]
    if stem in ("add", "mul_scalar_16bit", "mul_scalar_53bit"):
        return f"{stem}_all" if all_cores else stem
    return f"{stem}_{'all' if all_cores else '1core'}"


for _operation, (_label, _stem, _api, _what) in PYPAILLIER_OPERATIONS.items():
    ROWS[f"pypaillier_{_operation}_1core"] = RowSpec(
        f"vs pypaillier: {_label}, 1 core / 1 thread",
        "",
        f"pypaillier {_api} (RAYON_NUM_THREADS=1)",
        f"ours (row {our_key(_operation, False)}) against pypaillier: {_what}",
    )
    ROWS[f"pypaillier_{_operation}_all"] = RowSpec(
        f"vs pypaillier: {_label}, {{workers}} cores / {{workers}} threads",
        "",
        f"pypaillier {_api} (RAYON_NUM_THREADS={{workers}})",
        f"ours (row {our_key(_operation, True)}) against pypaillier in a child process "
        f"of the same run: {_what}",
    )


def rate_result(
    key: str, ours: Timing, phe: Timing | None, context: Mapping[str, object]
) -> Result:
    """A throughput (``ops/s``) row from our timing and phe's.

    Parameters
    ----------
    key : str
        A key of :data:`ROWS`.
    ours, phe : Timing
        The measurements (``phe`` may be ``None``).
    context : mapping
        Values for the label and description templates.

    Returns
    -------
    Result
    """
    return seconds_result(
        key,
        ours.rate,
        None if phe is None else phe.rate,
        n=ours.ops,
        seconds=ours.seconds,
        phe_n=None if phe is None else phe.ops,
        phe_seconds=None if phe is None else phe.seconds,
        context=context,
        unit="ops/s",
    )


def seconds_result(
    key: str,
    ours: float,
    phe: float | None,
    *,
    n: int,
    seconds: float,
    phe_n: int | None = None,
    phe_seconds: float | None = None,
    context: Mapping[str, object],
    unit: str = "s",
) -> Result:
    """A row: a duration (``s``, lower is better) unless ``unit`` says otherwise.

    Parameters
    ----------
    key : str
        A key of :data:`ROWS`.
    ours, phe : float
        The figures (``phe`` may be ``None``).
    n, seconds, phe_n, phe_seconds
        Runs and total wall time behind each figure.
    context : mapping
        Values for the label and description templates.
    unit : str, default "s"
        ``"s"`` for durations, ``"ops/s"`` for rates.

    Returns
    -------
    Result
    """
    spec = ROWS[key]
    return Result(
        key=key,
        label=spec.label.format(**context),
        panel=spec.panel,
        unit=unit,
        ours=ours,
        phe=phe,
        n=n,
        seconds=seconds,
        phe_n=phe_n,
        phe_seconds=phe_seconds,
        phe_label=spec.phe_label if phe is not None else "",
        description=spec.description.format(**context),
    )

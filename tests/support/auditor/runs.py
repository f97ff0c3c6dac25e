"""The example jobs, ready to audit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tests.support.auditor.security_md import ROOT


def audit_id(value: str) -> str:
    """A long, realistic id for an example's short one (same mapping in every file).

    The examples number their customers 0..568; ids that short occur by chance in any
    frame, so the audit renames them (the PSI and everything after it are unchanged).
    """
    return "cust-" + hashlib.sha256(b"audit-id:" + value.encode()).hexdigest()[:16]


def prepare_example(
    name: str,
    folder: Path,
    *,
    max_iter: int,
    ports: Sequence[int] | None = None,
    mode: str | None = None,
) -> Path:
    """Copy ``examples/<name>`` to ``folder`` for an audit; return its job file.

    Ids are renamed (:func:`audit_id`), keys are 1024 bits (weak keys allowed),
    ``max_iter`` is set, and with ``ports`` every party gets a free loopback port.
    With ``mode`` the training step's ``mode = "..."`` line says that mode (the job
    files' default is ``"shared"``: an audit of another mode names it).
    """
    source = ROOT / "examples" / name
    folder.mkdir(parents=True, exist_ok=True)
    for csv_file in sorted(source.glob("*.csv")):
        lines = csv_file.read_text().splitlines()
        header = lines[0].split(",")
        column = header.index("id")
        rows = [line.split(",") for line in lines[1:]]
        for row in rows:
            row[column] = audit_id(row[column])
        (folder / csv_file.name).write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    text = (source / "job.toml").read_text()
    edits = [
        (r"key_length = 2048", "key_length = 1024"),
        (r"\[job\]\n", "[job]\nallow_weak_keys = true\n"),
        (r"max_iter = \d+", f"max_iter = {max_iter}"),
    ]
    if mode is not None:
        edits.append((r'(?m)^mode = "[\w-]+"', f'mode = "{mode}"'))
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text)
        assert count >= 1, pattern
    if ports is not None:
        addresses = iter(ports)
        text = re.sub(
            r'address = "127\.0\.0\.1:\d+"',
            lambda _: f'address = "127.0.0.1:{next(addresses)}"',
            text,
        )
    path = folder / "job.toml"
    path.write_text(text)
    return path


SHARED_EXAMPLES = {1: "hetero-lr", 2: "hetero-lr-arbiter"}
"""Shared-mode audit jobs by host count: the two-party example's bank-a and bank-b; the
arbiter example's banks without the arbiter (bank-b is the partner host, bank-c the
other host)."""


def prepare_shared_job(
    folder: Path,
    *,
    hosts: int,
    max_iter: int,
    ports: Sequence[int] | None = None,
    class_weight: str | None = None,
) -> Path:
    """A shared-mode job of a guest and ``hosts`` hosts (1 or 2, :data:`SHARED_EXAMPLES`;
    ``ports``: one per party):
    PSI, training with ``mode = "shared"`` and ``convergence = "loss"`` (so the loss
    shares are sent), scoring.  The arbiter example loses its arbiter.  ``class_weight``
    (e.g. ``"balanced"``): the rows carry weights, so the weighted polynomial, the
    weights column of the powers and the weighted residuals are audited too."""
    if ports is not None and hosts == 2:
        ports = [0, *ports]  # the arbiter example's first party, removed below
    path = prepare_example(
        SHARED_EXAMPLES[hosts], folder, max_iter=max_iter, ports=ports, mode="shared"
    )
    text = path.read_text()
    if '\nname = "arbiter"' in text:
        start = text.index('[[parties]]\nname = "arbiter"')
        text = text[:start] + text[text.index("[[parties]]", start + 1) :]
    if "convergence = " not in text:
        text = text.replace('mode = "shared"', 'mode = "shared"\nconvergence = "loss"\ntol = 1e-6')
    if class_weight is not None:
        text = text.replace('mode = "shared"', f'mode = "shared"\nclass_weight = "{class_weight}"')
    path.write_text(text)
    return path


def prepare_psi_job(
    folder: Path,
    *,
    method: str,
    output: str = "both",
    chunk_size: int = 16384,
    ports: Sequence[int] | None = None,
    hosts: int = 1,
) -> Path:
    """The ``hetero-lr`` example's parties and data (:func:`prepare_example`) with a
    PSI step only: ``method``, ``output`` and ``chunk_size`` as given.

    ``hosts`` 2: the arbiter example's three banks without the arbiter (bank-a the
    guest, bank-b and bank-c hosts; ``ports``: one per bank)."""
    if ports is not None and hosts == 2:
        ports = [0, *ports]  # the arbiter example's arbiter, removed below
    path = prepare_example(SHARED_EXAMPLES[hosts], folder, max_iter=1, ports=ports)
    text = path.read_text()
    if '\nname = "arbiter"' in text:
        start = text.index('[[parties]]\nname = "arbiter"')
        text = text[:start] + text[text.index("[[parties]]", start + 1) :]
    first = text.index("[[steps]]")
    second = text.index("[[steps]]", first + 1)
    psi = text[first:second]
    psi, count = re.subn(
        r'method = "ecdh"',
        f'method = "{method}"\noutput = "{output}"\nchunk_size = {chunk_size}',
        psi,
    )
    assert count == 1, psi
    path.write_text(text[:first] + psi)
    return path


def prepare_secure_sum_job(
    folder: Path, *, hosts: int = 3, ports: Sequence[int] | None = None
) -> Path:
    """A job of a guest and ``hosts`` hosts: PSI (ECDH, output ``both``), then a secure
    sum of two columns over the common rows.

    Three or more hosts give the ring ``c_1 .. c_k`` a hop *between* contributors
    after an addition (``c_2 → c_3``), the one a contributor's two neighbours could
    exploit if it were not re-randomised.  Data are drawn with a fixed seed: 300 of
    600 long ids per party, balances and limits with cents (distinctive floats).
    """
    rng = np.random.default_rng(2026)
    names = ["bank-a", *(f"bank-{chr(ord('b') + i)}" for i in range(hosts))]
    everyone = [audit_id(f"sum-{i}") for i in range(600)]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        chosen = rng.choice(len(everyone), size=300, replace=False)
        balance = np.round(rng.lognormal(9.0, 1.0, size=300), 2)
        limit = np.round(rng.lognormal(10.0, 0.5, size=300), 2)
        header = ["id", *(["y"] if name == "bank-a" else []), "balance", "credit_limit"]
        lines = [",".join(header)]
        for row, index in enumerate(chosen.tolist()):
            label = [str(int(rng.integers(0, 2)))] if name == "bank-a" else []
            values = [f"{balance[row]:.2f}", f"{limit[row]:.2f}"]
            lines.append(",".join([everyone[index], *label, *values]))
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    addresses = iter(ports) if ports is not None else None
    text = [
        "[job]",
        'id = "secure-sum-audit"',
        "timeout = 60",
        "connect_timeout = 30",
        "allow_weak_keys = true",
        'output_dir = "output"',
        "",
        "[tls]",
        'ca = "certs/ca.crt"',
    ]
    for number, name in enumerate(names):
        port = next(addresses) if addresses is not None else 9170 + number
        labelled = ', label_column = "y"' if name == "bank-a" else ""
        text += [
            "",
            "[[parties]]",
            f'name = "{name}"',
            f'role = "{"guest" if name == "bank-a" else "host"}"',
            f'address = "127.0.0.1:{port}"',
            f'certificate = "certs/{name}.crt"',
            f'private_key = "certs/{name}.key"',
            f'data = {{ file = "{name}.csv", id_column = "id"{labelled} }}',
        ]
    text += [
        "",
        "[[steps]]",
        'type = "psi"',
        'method = "ecdh"',
        "",
        "[[steps]]",
        'type = "secure_sum"',
        'columns = ["balance", "credit_limit"]',
        "max_abs = 1e12",
        "key_length = 1024",
    ]
    path = folder / "job.toml"
    path.write_text("\n".join(text) + "\n")
    return path


def prepare_binning_job(
    folder: Path, *, hosts: int = 1, ports: Sequence[int] | None = None
) -> Path:
    """A binning job on the examples' data: PSI (ECDH, output ``both``), then binning.

    ``hosts`` 1: the two-party example's bank-a (guest) and bank-b; 2: the arbiter
    example's three banks without the arbiter (bank-b and bank-c hosts), so the guest's
    label ciphertexts go to two hosts.  Quantile bins (5 per column, at least 20 rows
    each: the exchange sums real bins), 1024-bit keys.
    """
    if ports is not None and hosts == 2:
        ports = [0, *ports]  # the arbiter example's arbiter, removed below
    path = prepare_example(SHARED_EXAMPLES[hosts], folder, max_iter=1, ports=ports)
    text = path.read_text()
    if '\nname = "arbiter"' in text:
        start = text.index('[[parties]]\nname = "arbiter"')
        text = text[:start] + text[text.index("[[parties]]", start + 1) :]
    first = text.index("[[steps]]")
    second = text.index("[[steps]]", first + 1)
    binning = [
        "[[steps]]",
        'type = "binning"',
        'method = "quantile"',
        "n_bins = 5",
        "min_bin_rows = 20",
        "key_length = 1024",
    ]
    path.write_text(text[:second] + "\n".join(binning) + "\n")
    return path

"""Atheris harness: a party's CSV file (``vfl.datasets.read_party_csv``) from any bytes.

Only :class:`~vfl.exceptions.DataError` may come out, and a table that loads holds
unique ids and finite features.  See ``fuzz/README.md``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["crypto", "protocols", "vfl"]):
    from common import fuzzer_arguments

    from vfl.exceptions import DataError
    from vfl.tables.datasets import read_party_csv

_FOLDER = tempfile.mkdtemp(prefix="vfl-fuzz-csv-")
_PATH = Path(_FOLDER) / "party.csv"


def fuzz_one_input(data: bytes) -> None:
    """Read ``data`` as a party's CSV file."""
    label = "y" if data[:1] == b"y" else None
    _PATH.write_bytes(data)
    try:
        table = read_party_csv(_PATH, label_column=label, dedupe=data[-1:] == b"d")
    except DataError:
        return
    assert len(set(table.ids)) == len(table.ids)
    assert all(math.isfinite(v) for v in table.features.ravel().tolist())


def main() -> None:
    """Seed the corpus, then fuzz (libFuzzer options on the command line)."""
    seeds = {
        "guest": b"id,y,x1,x2\nc1,0,1.5,2\nc2,1,-3e2,0\n",
        "host": b"id,z\nc1,0.25\nc3,7\n",
        "quoted": b'id,x\n"c,1","1e300"\n',
    }
    try:
        atheris.Setup(fuzzer_arguments(sys.argv, "csv", seeds), fuzz_one_input)
        atheris.Fuzz()
    finally:
        _PATH.unlink(missing_ok=True)
        os.rmdir(_FOLDER)


if __name__ == "__main__":
    main()

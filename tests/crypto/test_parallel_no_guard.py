"""A script without ``if __name__ == "__main__":`` can use the process pools.

The process-pool workers must never re-import the caller's ``__main__`` (issue 21):
if they did, this script would run again in every worker and die with
``BrokenProcessPool``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import multiprocessing
    import numpy as np
    from crypto.paillier import generate_paillier_keypair

    print("top level ran in", multiprocessing.current_process().name, flush=True)
    public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    values = np.arange(-40, 40, dtype=np.float64)
    ev = public_key.encrypt_vector(values, n_jobs=2)
    matrix = np.arange(80 * 3, dtype=np.float64).reshape(3, 80) % 7 - 3
    product = ev.matmul(matrix, n_jobs=2)
    again = private_key.encrypt_vector(values, n_jobs=2)  # the pool is reused
    total = private_key.decrypt_vector(product).tolist()
    check = private_key.decrypt_vector(again).tolist() == values.tolist()
    print("result", [int(x) for x in total], check, flush=True)
    """
)


@pytest.mark.parametrize("as_module", [False, True], ids=["script", "python -m"])
def test_script_without_main_guard_runs_process_pool(tmp_path: Path, as_module: bool) -> None:
    """``python script.py`` (init_main_from_path) and ``python -m mod`` (init_main_from_name)."""
    script = tmp_path / "no_guard_script.py"
    script.write_text(SCRIPT)
    command = ["-m", "no_guard_script"] if as_module else [str(script)]
    values = list(range(-40, 40))
    rows = [[(80 * j + k) % 7 - 3 for k in range(80)] for j in range(3)]
    want = [sum(a * x for a, x in zip(row, values, strict=True)) for row in rows]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines == ["top level ran in MainProcess", f"result {want} True"], completed.stdout

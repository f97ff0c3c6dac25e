"""Features kept in memory-mapped files (``memory_map = true``): the same tables, scaling
and training inputs as in memory, anonymous memory of a block, and files gone after a job."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests.support.job_files import with_test_keys
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import HeteroLrStep, load_job
from vfl.jobs.run import MAPPED_FOLDER_NAME
from vfl.steps.hetero_lr import training_inputs
from vfl.tables import datasets, mapped
from vfl.tables.datasets import read_party_csv
from vfl.tables.models import PartyModel, Scaling

ROOT = Path(__file__).resolve().parents[2]


def _write_wide(path: Path, rows: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.round(rng.lognormal(size=(rows, width)) * 100.0, 3)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,y," + ",".join(f"x{k}" for k in range(width)) + "\n")
        for index in range(rows):
            cells = ",".join(map(repr, values[index].tolist()))
            handle.write(f"c{index},{index % 3 == 0:d},{cells}\n")
    return values


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapped, "BLOCK_CELLS", 700)  # many blocks, uneven last one


def test_a_mapped_table_equals_the_table_in_memory(tmp_path: Path) -> None:
    values = _write_wide(tmp_path / "t.csv", 500, 7)
    in_memory = read_party_csv(tmp_path / "t.csv", label_column="y")
    on_disk = read_party_csv(tmp_path / "t.csv", label_column="y", features_folder=tmp_path / "m")
    assert isinstance(on_disk.features, np.memmap) and mapped.folder_of(on_disk.features) == (
        tmp_path / "m"
    )
    assert np.array_equal(on_disk.features, values) and on_disk.ids == in_memory.ids
    rows = np.random.default_rng(1).permutation(500)[:321]
    taken = on_disk.take(rows)
    assert isinstance(taken.features, np.memmap)
    assert np.array_equal(taken.features, in_memory.take(rows).features)
    assert taken.ids == in_memory.take(rows).ids
    names = ["x5", "x0", "x3"]
    subset = taken.numeric(names, purpose="a test")
    assert isinstance(subset, np.memmap)
    assert np.array_equal(subset, in_memory.take(rows).numeric(names, purpose="a test"))


@pytest.mark.parametrize("log", [None, [True, False, True, False, False, True, False]])
def test_scaling_a_mapped_matrix_matches_scaling_in_memory(tmp_path: Path, log) -> None:
    values = _write_wide(tmp_path / "t.csv", 400, 7)
    table = read_party_csv(tmp_path / "t.csv", label_column="y", features_folder=tmp_path / "m")
    scaling = Scaling.fit(table.features, log=log)
    expected = Scaling.fit(values, log=log)
    assert np.allclose(scaling.mean, expected.mean, rtol=1e-12)
    assert np.allclose(scaling.scale, expected.scale, rtol=1e-12)
    scaled = scaling.transform(table.features)
    assert isinstance(scaled, np.memmap)
    assert np.allclose(scaled, expected.transform(values), rtol=1e-12, atol=1e-12)


def test_training_inputs_from_a_mapped_table_stay_on_disk(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mapped, "BLOCK_CELLS", 1 << 14)
    monkeypatch.setattr(datasets, "_FEATURE_CELLS", 20_000)  # the CSV typed 100 rows at a time
    _write_wide(tmp_path / "t.csv", 4_000, 200)
    job_text = (ROOT / "examples" / "hetero-lr" / "job.toml").read_text()
    (tmp_path / "job.toml").write_text(job_text)
    job = load_job(tmp_path / "job.toml")
    party, step = job.parties[0], job.steps[1]
    assert isinstance(step, HeteroLrStep) and party.data is not None
    reverse = np.arange(4_000)[::-1].copy()
    in_memory = read_party_csv(tmp_path / "t.csv", label_column="y")
    tracemalloc.start()
    try:
        table = read_party_csv(tmp_path / "t.csv", label_column="y", features_folder=tmp_path / "m")
        table = table.take(reverse)
        names, scaled, _ = training_inputs(step, party, table, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected_names, expected, _ = training_inputs(step, party, in_memory.take(reverse), None)
    assert names == expected_names and isinstance(scaled, np.memmap)
    assert np.allclose(scaled, expected, rtol=1e-12, atol=1e-12)
    # the matrix is 6.4 MB; the rest is per row (ids, labels, line numbers: ~1 MB)
    assert peak < 0.5 * in_memory.features.nbytes, peak


def test_a_job_with_memory_mapped_features_trains_and_cleans_up(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    shutil.copytree(
        ROOT / "examples" / "hetero-lr", folder, ignore=shutil.ignore_patterns("output")
    )
    text = (folder / "job.toml").read_text()
    assert text.count('"y" }') == 1 and text.count('"bank-b.csv", id_column = "id" }') == 1
    text = text.replace('"y" }', '"y", memory_map = true }')
    text = text.replace('id_column = "id" }', 'id_column = "id", memory_map = true }')
    (folder / "job.toml").write_text(text)
    job = with_test_keys(load_job(folder / "job.toml"))
    assert all(party.data is None or party.data.memory_map for party in job.parties)
    simulate_job(job)
    for party in job.parties:
        assert not (job.party_output_dir(party.name) / MAPPED_FOLDER_NAME).exists()
    model = PartyModel.load(job.party_output_dir("bank-a") / "step-1-model.json")
    assert model.feature_names and all(np.isfinite(model.weights))

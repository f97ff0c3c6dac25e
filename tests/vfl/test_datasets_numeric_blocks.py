"""Numeric party files typed a run of rows at a time: the same table as Python's ``float``
cell by cell, the same errors, and memory bounded by the array, not by the cells."""

from __future__ import annotations

import csv
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl.exceptions import DataError
from vfl.tables import datasets
from vfl.tables.datasets import read_party_csv

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from([" 1.5", "2 ", "1e3", "-0", "1_000", "+3.", ".5", "4.9e-324", "0x10", "1,5"]),
    st.sampled_from(["", "NA", "nan", "inf", "-inf", "1e400", "abc"]),
)


def _write(path: Path, rows: list[list[str]], width: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "y", *(f"x{k}" for k in range(width))])
        for index, cells in enumerate(rows):
            writer.writerow([f"c{index}", index % 2, *cells])
    return path


def _expected(rows: list[list[str]], width: int) -> np.ndarray | str:
    """Python's ``float`` per cell, or the line of the first bad cell in column order
    within the first run holding one (what the reader reports)."""
    run = max(1, datasets._FEATURE_CELLS // width)
    for start in range(0, len(rows), run):
        block = rows[start : start + run]
        for column in range(width):
            for offset, cells in enumerate(block):
                try:
                    value = float(cells[column])
                except ValueError:
                    return f"csv:{start + offset + 2}: column 'x{column}'"
                if not math.isfinite(value):
                    return f"csv:{start + offset + 2}: column 'x{column}'"
    return np.array([[float(cell) for cell in cells] for cells in rows]).reshape(len(rows), width)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 3),
    run=st.integers(1, 5),
    data=st.data(),
)
def test_a_numeric_file_reads_as_float_cell_by_cell(tmp_path_factory, width, run, data):
    rows = data.draw(st.lists(st.lists(NUMBER_TEXT, min_size=width, max_size=width), max_size=12))
    path = _write(tmp_path_factory.mktemp("numeric") / "t.csv", rows, width)
    expected = _expected_with_run(rows, width, run)
    previous = datasets._FEATURE_CELLS
    datasets._FEATURE_CELLS = run * width
    try:
        if isinstance(expected, str):
            with pytest.raises(DataError, match=expected.replace("csv:", r"t\.csv:")):
                read_party_csv(path, label_column="y")
            return
        table = read_party_csv(path, label_column="y")
    finally:
        datasets._FEATURE_CELLS = previous
    assert table.features.shape == (len(rows), width)
    assert np.array_equal(table.features, expected)
    assert np.array_equal(np.signbit(table.features), np.signbit(expected))  # -0 stays -0
    assert table.labels is not None and table.labels.tolist() == [i % 2 for i in range(len(rows))]


def _expected_with_run(rows: list[list[str]], width: int, run: int) -> np.ndarray | str:
    previous = datasets._FEATURE_CELLS
    datasets._FEATURE_CELLS = run * width
    try:
        return _expected(rows, width)
    finally:
        datasets._FEATURE_CELLS = previous


def test_a_bad_cell_in_a_later_run_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_FEATURE_CELLS", 8)  # runs of 4 rows
    rows = [[str(i), str(-i)] for i in range(10)]
    rows[7][1] = "n/a"
    path = _write(tmp_path / "t.csv", rows, 2)
    with pytest.raises(DataError, match=r"t\.csv:9: column 'x1' holds 'n/a', not a number"):
        read_party_csv(path, label_column="y")
    table = read_party_csv(path, label_column="y", allow_missing=True)  # the binning path
    assert math.isnan(table.features[7, 1]) and table.features[9, 0] == 9.0


def test_dropped_repeats_and_quoted_line_breaks_keep_rows_and_values_aligned(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,a,b\nc1,1,2\n"c\n2",3,4\nc1,5,6\nc3,7,"8"\n', encoding="utf-8")
    table = read_party_csv(path, dedupe=True)
    assert table.ids == ["c1", "c\n2", "c3"] and table.duplicates_dropped == 1
    assert table.features.tolist() == [[1.0, 2.0], [3.0, 4.0], [7.0, 8.0]]


def test_memory_is_the_array_not_a_string_per_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_FEATURE_CELLS", 24_000)  # runs of 200 rows, as 2**19 cells
    rows, width = 6_000, 120  # are a small part of a file of millions of rows
    values = np.arange(rows * width, dtype=np.float64).reshape(rows, width) / 7.0
    path = tmp_path / "wide.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id," + ",".join(f"x{k}" for k in range(width)) + "\n")
        for index in range(rows):
            handle.write(f"c{index}," + ",".join(map(repr, values[index].tolist())) + "\n")
    tracemalloc.start()
    try:
        table = read_party_csv(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(table.features, values)
    # one string per cell would be ~60 bytes a cell (~43 MB here); the array is 5.8 MB
    assert peak < 1.5 * table.features.nbytes + 4_000_000, peak

"""Reading a party's CSV strictly, and the built-in data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfl.exceptions import DataError
from vfl.tables.datasets import load_builtin, read_party_csv


def test_builtin_breast_data() -> None:
    guest, host = load_builtin("breast")
    assert guest.features.shape == (569, 10) and host.features.shape == (569, 20)
    assert guest.labels is not None and set(np.unique(guest.labels)) == {0, 1}
    assert host.labels is None
    assert set(guest.ids) == set(host.ids) and len(set(guest.ids)) == 569
    assert guest.feature_names == [f"x{i}" for i in range(10)]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "party.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("id,x0\n1,2.0\n1,3.0\n", "appears twice"),
        ("id,x0\n1,abc\n", "not a number"),
        ("id,x0\n1,\n", "not a number"),
        ("id,x0\n1,nan\n", "non-finite"),
        ("id,x0\n1,2.0,3.0\n", "cells"),
        ("x0\n2.0\n", "no column 'id'"),
        ("id,y,x0\n1,2,3.0\n", "not 0 or 1"),
        ("id,x0\n,1.0\n", "empty id"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_party_csv(_write(tmp_path, text), label_column="y" if "y," in text else None)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_party_csv(tmp_path / "absent.csv")


def test_reads_ids_as_strings_and_keeps_order(tmp_path: Path) -> None:
    table = read_party_csv(
        _write(tmp_path, "phone,y,a,b\n+44 20,1,1.5,-2\n007,0,0,1e3\n"),
        id_column="phone",
        label_column="y",
    )
    assert table.ids == ["+44 20", "007"]
    assert table.features.tolist() == [[1.5, -2.0], [0.0, 1000.0]]
    assert table.labels is not None and table.labels.tolist() == [1, 0]
    assert table.take(np.array([1])).ids == ["007"]

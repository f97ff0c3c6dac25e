"""The data contract: missing cells, text columns and labels spelt 1.0 are read for binning;
everything that computes on numbers still refuses them, saying what to do."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl import HeteroLogisticRegression
from vfl.exceptions import DataError
from vfl.tables.columns import as_matrix, table_columns
from vfl.tables.datasets import PartyTable, read_party_csv, write_party_csv


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "party.csv"
    path.write_text(text)
    return path


RAW = "id,y,income,region,age\nc1,1.0,1200,north,30\nc2, 0 ,,south,NA\nc3,1e0,n/a,,41\n"


def test_missing_cells_and_text_columns_are_kept_when_allowed(tmp_path: Path) -> None:
    table = read_party_csv(
        _write(tmp_path, RAW), label_column="y", allow_missing=True, allow_text=True
    )
    assert table.labels is not None and table.labels.tolist() == [1, 0, 1]
    assert table.feature_names == ["income", "age"]
    assert np.array_equal(
        table.features, np.array([[1200.0, 30.0], [np.nan, np.nan], [np.nan, 41.0]]), equal_nan=True
    )
    assert list(table.text) == ["region"]
    assert table.text["region"].dtype == object
    assert table.text["region"].tolist() == ["north", "south", None]
    assert table.column_names == ["income", "age", "region"]
    part = table.take(np.array([2, 0]))
    assert part.text["region"].tolist() == [None, "north"]
    assert part.columns(["region", "age"])["age"].tolist() == [41.0, 30.0]


def test_categorical_columns_are_read_as_text_even_when_numeric(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,grade,x\na,1,0.5\nb,2,\nc,,1\n")
    table = read_party_csv(path, categorical=["grade"], allow_missing=True)
    assert table.text["grade"].tolist() == ["1", "2", None]
    assert table.feature_names == ["x"]
    with pytest.raises(DataError, match=r"categorical column\(s\) \['grade2'\] are not"):
        read_party_csv(path, categorical=["grade2"])
    with pytest.raises(DataError, match="column 'grade' holds '', a missing cell"):
        read_party_csv(path, categorical=["grade"])  # missing cells not allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,x\na,\n", r"column 'x' holds '', not a number; missing cells are allowed only"),
        ("id,x\na,NA\n", r"holds 'NA', not a number; missing cells are allowed only"),
        ("id,x\na,north\n", r"holds 'north', not a number; a text column is allowed only"),
        ("id,x\na,nan\n", "non-finite value 'nan'"),
    ],
)
def test_strict_reading_refuses_and_says_what_to_do(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        read_party_csv(_write(tmp_path, text))


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e309"])
def test_infinite_values_are_refused_even_for_binning(tmp_path: Path, cell: str) -> None:
    with pytest.raises(DataError, match="non-finite value"):
        read_party_csv(_write(tmp_path, f"id,x\na,{cell}\n"), allow_missing=True, allow_text=True)


@pytest.mark.parametrize("label", ["1", "1.0", " 0 ", "0.0", "1e0", "+1", "-0"])
def test_labels_in_any_integral_spelling(tmp_path: Path, label: str) -> None:
    table = read_party_csv(_write(tmp_path, f"id,y,x\na,{label},1\n"), label_column="y")
    assert table.labels is not None
    assert table.labels.tolist() == [int(float(label))]


@pytest.mark.parametrize("label", ["2", "0.5", "yes", "", "nan", "-1", "true"])
def test_other_labels_are_refused(tmp_path: Path, label: str) -> None:
    with pytest.raises(DataError, match=r"is not 0 or 1; recode the 'y' column"):
        read_party_csv(
            _write(tmp_path, f"id,y,x\na,{label},1\n"),
            label_column="y",
            allow_missing=True,
            allow_text=True,
        )


def test_numeric_refuses_text_and_missing_cells_naming_the_fix() -> None:
    table = PartyTable(
        ["a", "b", "c"],
        np.array([[1.0, 2.0], [np.nan, 3.0], [np.nan, 4.0]]),
        ["income", "age"],
        text={"region": np.array(["north", None, "south"], dtype=object)},
    )
    assert table.numeric(["age"], purpose="the hetero_lr step").tolist() == [[2.0], [3.0], [4.0]]
    with pytest.raises(DataError) as missing:
        table.numeric(purpose="the hetero_lr step")
    assert "column 'income' has 2 missing cell(s) (first: id 'b')" in str(missing.value)
    assert "add a binning step" in str(missing.value)
    with pytest.raises(DataError) as text:
        table.numeric(["age", "region"], purpose="the secure_sum step")
    assert "column 'region' holds text ('north', 'south'...)" in str(text.value)
    assert "the secure_sum step takes numbers only" in str(text.value)
    with pytest.raises(DataError, match=r"no column\(s\) \['debt'\]"):
        table.columns(["debt"])


def test_a_table_without_text_or_missing_cells_behaves_as_before() -> None:
    table = PartyTable(["a", "b"], np.array([[1.0], [2.0]]), ["x"], labels=np.array([0, 1]))
    assert table.text == {} and table.column_names == ["x"]
    assert np.array_equal(table.numeric(purpose="p"), table.features)


cells = st.one_of(st.none(), st.text(alphabet="abcxyz ,\"'|-", min_size=1, max_size=6))
numbers = st.one_of(st.just(math.nan), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(numbers, cells), min_size=1, max_size=12),
    labels=st.lists(st.integers(0, 1), min_size=12, max_size=12),
)
def test_writing_and_reading_back_keeps_missing_cells_and_text(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[float, str | None]],
    labels: list[int],
) -> None:
    values = [value for value, _ in rows]
    text = [None if cell is None or not cell.strip() else cell.strip() for _, cell in rows]
    if all(t is None for t in text):
        text[0] = "north"
    table = PartyTable(
        [f"c{i}" for i in range(len(rows))],
        np.array(values, dtype=np.float64).reshape(-1, 1),
        ["amount"],
        labels=np.array(labels[: len(rows)]),
        text={"region": np.array(text, dtype=object)},
    )
    path = tmp_path_factory.mktemp("csv") / "party.csv"
    write_party_csv(table, path, label_column="y")
    again = read_party_csv(path, label_column="y", categorical=["region"], allow_missing=True)
    assert np.array_equal(again.features, table.features, equal_nan=True)
    expected = [None if t is not None and t.lower() in {"na", "nan", "none"} else t for t in text]
    assert again.text["region"].tolist() == expected
    assert again.labels is not None and table.labels is not None
    assert again.labels.tolist() == table.labels.tolist()


# estimators: columns for binning, refusals elsewhere -------------------------------------------
def test_table_columns_keeps_missing_values_and_text() -> None:
    frame = pd.DataFrame(
        {
            "income": [1.0, None, 3.0],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "region": ["north", "", None],
            "code": ["1", "2.5", None],
        }
    )
    names, columns = table_columns(frame, "X")
    assert names == ["income", "count", "region", "code"]
    assert np.array_equal(columns[0], [1.0, np.nan, 3.0], equal_nan=True)
    assert np.array_equal(columns[1], [1.0, np.nan, 3.0], equal_nan=True)
    assert columns[2].tolist() == ["north", None, None]
    assert np.array_equal(columns[3], [1.0, 2.5, np.nan], equal_nan=True)  # numeric strings
    _, forced = table_columns(frame, "X", categorical=["code", "income"])
    assert forced[3].tolist() == ["1", "2.5", None]
    assert forced[0].tolist() == ["1", None, "3"]
    reordered = frame[["region", "code", "count", "income"]]
    again_names, again = table_columns(reordered, "X", names=names, width=4, owner="HeteroBinning")
    assert again_names == names and again[2].tolist() == ["north", None, None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.array([[1.0, np.inf]]), "infinite value"),
        (np.ones(3), "must be a 2-D table"),
        (np.ones((0, 2)), "has no rows or no columns"),
        (None, "is None"),
    ],
)
def test_table_columns_refusals(data: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        table_columns(data, "X")


def test_table_columns_checks_the_fitted_columns() -> None:
    frame = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(DataError, match=r"missing \['c'\], unexpected \['b'\]"):
        table_columns(frame, "X", names=["a", "c"], width=2, owner="HeteroBinning")
    with pytest.raises(DataError, match="HeteroBinning is expecting 3 features"):
        table_columns(np.ones((1, 2)), "X", names=None, width=3, owner="HeteroBinning")


def test_estimators_that_need_numbers_point_to_binning() -> None:
    with pytest.raises(DataError, match=r"transform the table with vfl\.HeteroBinning first"):
        as_matrix(np.array([[1.0, np.nan]]), "X")
    with pytest.raises(DataError, match=r"for text columns, transform the table with vfl\."):
        as_matrix(np.array([["north", "1"]], dtype=object), "X")
    rng = np.random.default_rng(0)
    guest = rng.normal(size=(40, 2))
    guest[3, 1] = np.nan
    with pytest.raises(DataError, match="HeteroBinning first"):
        HeteroLogisticRegression(backend="plaintext").fit(
            guest, (rng.random(40) < 0.5).astype(int), hosts=[rng.normal(size=(40, 1))]
        )

"""Id-only CSV files (what a PSI step reads and writes): the run-at-a-time paths equal csv's."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl.exceptions import DataError
from vfl.tables import datasets
from vfl.tables.datasets import PartyTable, read_party_csv, write_party_csv

ID_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
).filter(lambda text: text.strip() == text and text.strip() != "")


def _reference(ids: list[str]) -> bytes:
    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    writer.writerow(["id"])
    for customer in ids:
        writer.writerow([customer])
    return stream.getvalue().encode()


def _table(ids: list[str]) -> PartyTable:
    return PartyTable(ids, np.empty((len(ids), 0)), [])


@settings(max_examples=60, deadline=None)
@given(st.lists(ID_TEXT, unique=True, max_size=30))
def test_writing_ids_gives_the_bytes_csv_writes_and_reads_back(tmp_path_factory, ids):
    path = tmp_path_factory.mktemp("ids") / "ids.csv"
    write_party_csv(_table(ids), path)
    assert path.read_bytes() == _reference(ids)
    again = read_party_csv(path)
    assert again.ids == ids


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\r\n".join(["id", *lines]) + "\r\n", encoding="utf-8")
    return path


def test_a_repeat_in_a_later_run_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_ID_RUN", 4)
    lines = [f"c{i}" for i in range(10)] + ["c2"] + ["c99"]
    with pytest.raises(DataError, match=r"ids.csv:12: id 'c2' appears twice"):
        read_party_csv(_write(tmp_path / "ids.csv", lines))
    table = read_party_csv(tmp_path / "ids.csv", dedupe=True)
    assert table.ids == [f"c{i}" for i in range(10)] + ["c99"]
    assert table.duplicates_dropped == 1


@pytest.mark.parametrize("run", [1, 3, 65_536])
def test_every_run_size_reads_the_same_ids(tmp_path, monkeypatch, run):
    monkeypatch.setattr(datasets, "_ID_RUN", run)
    lines = [f" id-{i} " for i in range(11)]
    assert read_party_csv(_write(tmp_path / "ids.csv", lines)).ids == [f"id-{i}" for i in range(11)]


def test_an_empty_id_or_an_extra_cell_in_an_id_only_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "_ID_RUN", 2)
    with pytest.raises(DataError, match=r"ids.csv:5: empty id"):
        read_party_csv(_write(tmp_path / "ids.csv", ["a", "b", "c", " "]))
    with pytest.raises(DataError, match=r"ids.csv:3: 2 cells, expected 1"):
        read_party_csv(_write(tmp_path / "ids.csv", ["a", "b,c"]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id\r\na\r\nb\r\n", ["a", "b"]),
        ("id\na\nb", ["a", "b"]),
        ("id\ra\rb\r", ["a", "b"]),
        ('id\r\n"a,1"\r\nb\r\n', ["a,1", "b"]),
        ("\ufeffid\n a \nb\t\n", ["a", "b"]),
    ],
)
def test_plain_and_quoted_id_files_read_as_csv_does(tmp_path, text, expected):
    path = tmp_path / "ids.csv"
    path.write_bytes(text.encode("utf-8"))
    assert read_party_csv(path).ids == expected


def test_a_blank_line_gets_the_row_by_row_error(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id\na\n\nb\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ids.csv:3: 0 cells, expected 1"):
        read_party_csv(path)

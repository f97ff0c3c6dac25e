"""Party tables: reading a party's CSV file strictly, and the built-in data sets."""

from __future__ import annotations

import csv
import itertools
import math
import os
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from vfl.exceptions import DataError
from vfl.tables.mapped import folder_of, map_rows, new_matrix, take_rows

__all__ = [
    "MISSING_CELLS",
    "PartyTable",
    "load_builtin",
    "make_heavy_tail_credit",
    "make_rare_event_credit",
    "make_toy_hetero",
    "read_party_csv",
    "write_party_csv",
]


MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cells read as missing when a file is read with ``allow_missing=True`` (compared after
stripping spaces, in any case): empty, ``NA``, ``N/A``, ``NaN``, ``null``, ``None``."""

ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class PartyTable:
    """One party's rows: customer ids, numeric and text features and, for the guest, labels.

    Attributes
    ----------
    ids : list of str
        Customer ids, unique.
    features : numpy.ndarray
        Float64 matrix of the numeric columns, one row per id; ``NaN`` marks a
        missing cell (only in files read with ``allow_missing=True``).
    feature_names : list of str
        Column names of ``features``.
    labels : numpy.ndarray or None
        Labels in {0, 1} (the guest only).
    duplicates_dropped : int
        Rows dropped because their id repeated (``dedupe=True`` only).
    text : dict of str to numpy.ndarray
        The text columns, by name (file order): 1-D object arrays of ``str`` with
        ``None`` for a missing cell.  Empty unless the file was read with
        ``allow_text=True`` or ``categorical`` columns.

    Examples
    --------
    >>> import numpy as np
    >>> table = PartyTable(ids=["a", "b", "c"], features=np.array([[1.0], [2.0], [3.0]]),
    ...                    feature_names=["income"], labels=np.array([0, 1, 1]))
    >>> len(table)
    3
    >>> part = table.take(np.array([2, 0]))
    >>> part.ids, part.features.ravel().tolist(), part.labels.tolist()
    (['c', 'a'], [3.0, 1.0], [1, 0])

    A table with a missing cell and a text column:

    >>> table = PartyTable(["a", "b"], np.array([[1.0], [np.nan]]), ["income"],
    ...                    text={"region": np.array(["north", None], dtype=object)})
    >>> table.column_names
    ['income', 'region']
    >>> table.columns(["region"])["region"].tolist()
    ['north', None]
    >>> table.numeric(purpose="the hetero_lr step")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: column 'income' has 1 missing cell(s) (first: id 'b'); ...
    """

    ids: list[str]
    features: npt.NDArray[np.float64]
    feature_names: list[str]
    labels: npt.NDArray[np.int64] | None = None
    duplicates_dropped: int = 0
    text: dict[str, ObjectArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def column_names(self) -> list[str]:
        """Every feature column: the numeric ones, then the text ones."""
        return [*self.feature_names, *self.text]

    def columns(self, names: Sequence[str] | None = None) -> dict[str, npt.NDArray[np.generic]]:
        """Columns by name: float64 (``NaN`` if missing) or object (``None`` if missing).

        Parameters
        ----------
        names : sequence of str, optional
            The columns wanted, in that order (default :attr:`column_names`).

        Returns
        -------
        dict of str to numpy.ndarray
            One 1-D array per name (numeric columns are views of :attr:`features`).

        Raises
        ------
        DataError
            If a name is not a column of the table.
        """
        wanted = self.column_names if names is None else list(names)
        position = {name: index for index, name in enumerate(self.feature_names)}
        unknown = [name for name in wanted if name not in position and name not in self.text]
        if unknown:
            raise DataError(
                f"the table has no column(s) {unknown}; its columns are {self.column_names}"
            )
        return {
            name: self.features[:, position[name]] if name in position else self.text[name]
            for name in wanted
        }

    def numeric(
        self, names: Sequence[str] | None = None, *, purpose: str
    ) -> npt.NDArray[np.float64]:
        """The matrix of numeric columns ``names``, refusing text and missing cells.

        For the steps and models that compute on numbers (logistic regression,
        secure sums): only a binning step takes missing cells and text.

        Parameters
        ----------
        names : sequence of str, optional
            The columns, in that order (default :attr:`feature_names`).
        purpose : str
            How errors name the consumer, e.g. ``"the hetero_lr step"``.

        Returns
        -------
        numpy.ndarray
            ``(rows, len(names))`` float64 without ``NaN``: :attr:`features` itself
            (not a copy) when ``names`` are all its columns in order, so treat it as
            read-only.

        Raises
        ------
        DataError
            If a name is unknown, names a text column, or a column has a missing
            cell; the message says what to do.
        """
        wanted = self.feature_names if names is None else list(names)
        text = [name for name in wanted if name in self.text]
        if text:
            name = text[0]
            seen = [value for value in self.text[name][:50].tolist() if value is not None][:3]
            raise DataError(
                f"column {name!r} holds text ({', '.join(map(repr, seen))}...); {purpose} "
                "takes numbers only: bin the column in a binning step (declare it in the "
                "step's categorical list) and use the WOE columns, or leave it out"
            )
        if not wanted:
            return np.empty((len(self), 0), dtype=np.float64)
        folder = folder_of(self.features)
        if wanted == self.feature_names:
            matrix = self.features  # every numeric column in order: no copy (read-only use)
        elif folder is not None:  # a block of rows at a time, into another file
            positions = [self.feature_names.index(name) for name in wanted]
            matrix = map_rows(
                self.features, lambda block: block[:, positions], folder, "columns", len(positions)
            )
        else:
            matrix = np.column_stack(list(self.columns(wanted).values()))
        if folder is not None:
            return matrix  # typed without missing cells (read_party_csv's numeric path)
        holes = np.isnan(matrix)
        if holes.any():
            column = int(np.flatnonzero(holes.any(axis=0))[0])
            count = int(holes[:, column].sum())
            first = self.ids[int(np.flatnonzero(holes[:, column])[0])]
            raise DataError(
                f"column {wanted[column]!r} has {count} missing cell(s) (first: id {first!r}); "
                f"{purpose} cannot take missing values: add a binning step before it "
                "(missing values get their own bin), or fill the cells"
            )
        return matrix.astype(np.float64, copy=False)

    def take(self, rows: npt.NDArray[np.intp]) -> PartyTable:
        """The table restricted to ``rows`` (in that order).

        Parameters
        ----------
        rows : numpy.ndarray
            Integer row indices, e.g. an intersection's ``guest_index``.

        Returns
        -------
        PartyTable
            A new table (``duplicates_dropped`` is 0).
        """
        folder = folder_of(self.features)
        return PartyTable(
            ids=[self.ids[i] for i in rows.tolist()],
            features=self.features[rows]
            if folder is None
            else take_rows(self.features, rows, folder),
            feature_names=self.feature_names,
            labels=None if self.labels is None else self.labels[rows],
            text={name: values[rows] for name, values in self.text.items()},
        )


def read_party_csv(
    path: str | Path,
    *,
    id_column: str = "id",
    label_column: str | None = None,
    dedupe: bool = False,
    allow_missing: bool = False,
    allow_text: bool = False,
    categorical: Sequence[str] = (),
    features_folder: Path | None = None,
) -> PartyTable:
    """Read a party's CSV file: an id column, an optional label column, the features.

    By default every feature cell must be a finite number.  A file for a job that bins
    its columns may hold missing cells (``allow_missing``) and text columns
    (``allow_text``, ``categorical``): a binning step gives missing values their own
    bin and text values their categories; the steps that compute on numbers refuse
    them (:meth:`PartyTable.numeric`).

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, with a header line).
    id_column : str, default "id"
        The customer id column (compared as text, surrounding spaces removed).
    label_column : str, optional
        The 0/1 label column (the guest); any spelling of the numbers 0 and 1 is
        accepted (``1``, ``1.0``, `` 0 ``).
    dedupe : bool, default False
        Keep the first row of a repeated id (counted in ``duplicates_dropped``)
        instead of refusing the file.
    allow_missing : bool, default False
        Read the cells of :data:`MISSING_CELLS` (empty, ``NA``, ``NaN``...) as missing:
        ``NaN`` in a numeric column, ``None`` in a text one.
    allow_text : bool, default False
        Keep a column that holds a cell which is not a number as a text column
        (:attr:`PartyTable.text`) instead of refusing the file.
    categorical : sequence of str, default ()
        Columns always read as text (category codes such as ``1``, ``2`` too).
    features_folder : pathlib.Path, optional
        Keep the features in a memory-mapped ``.npy`` file of this folder instead of
        memory (:mod:`vfl.tables.mapped`), when every feature cell must be a number
        (no ``allow_missing``, ``allow_text`` or ``categorical``); the steps after it
        then work a block of rows at a time.

    Returns
    -------
    PartyTable
        The ids, the numeric columns as float64 features, the text columns and the
        labels if asked for.

    Raises
    ------
    DataError
        If the file is missing, a column is absent, an id repeats (unless
        ``dedupe``), a cell is missing or not a finite number (unless allowed), or a
        label is not 0/1; the message names the row and column.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "guest.csv"
    ...     _ = path.write_text('''id,y,age,income,region
    ... c1,0,35,1200.5,north
    ... c2,1.0,41,,south
    ... ''')
    ...     table = read_party_csv(path, label_column="y", allow_missing=True, allow_text=True)
    ...     read_party_csv(path, label_column="y")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.DataError: ...guest.csv:3: column 'income' holds '', not a number; ...
    >>> table.ids, table.feature_names, table.labels.tolist()
    (['c1', 'c2'], ['age', 'income'], [0, 1])
    >>> table.features.tolist()
    [[35.0, 1200.5], [41.0, nan]]
    >>> table.text["region"].tolist()
    ['north', 'south']
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    plain = _plain_ids(path, id_column) if label_column is None else None
    rules = _CellRules(path, allow_missing, allow_text)
    numeric_only = not (allow_missing or allow_text or categorical)
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a BOM is not a cell
        reader = csv.reader(handle)
        try:
            raw = plain or _read_rows(
                path,
                reader,
                id_column,
                label_column,
                dedupe,
                rules if numeric_only else None,
                features_folder,
            )
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: the file is not UTF-8 text (after line {reader.line_num}); "
                "save it as UTF-8 CSV"
            ) from None
        except csv.Error as error:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({error})") from None
    names = [raw.header[i] for i in raw.feature_indices]
    unknown = [name for name in categorical if name not in names]
    if unknown:
        raise DataError(
            f"{path}: categorical column(s) {unknown} are not feature columns of the file "
            f"(feature columns: {names})"
        )
    if raw.blocks is not None:  # every feature cell typed while reading
        return PartyTable(
            ids=raw.ids,
            features=raw.blocks.result(),
            feature_names=names,
            labels=np.array(raw.labels, dtype=np.int64) if raw.has_labels else None,
            duplicates_dropped=raw.dropped,
        )
    numeric: list[npt.NDArray[np.float64]] = []
    numeric_names: list[str] = []
    text: dict[str, ObjectArray] = {}
    for position, name in enumerate(names):
        cells = [row[position] for row in raw.cells]
        values = None if name in categorical else rules.numbers(name, cells, raw.lines)
        if values is None:
            text[name] = rules.text(name, cells, raw.lines)
        else:
            numeric.append(values)
            numeric_names.append(name)
    features = (
        np.column_stack(numeric) if numeric else np.empty((len(raw.ids), 0), dtype=np.float64)
    )
    return PartyTable(
        ids=raw.ids,
        features=features,
        feature_names=numeric_names,
        labels=np.array(raw.labels, dtype=np.int64) if raw.has_labels else None,
        duplicates_dropped=raw.dropped,
        text=text,
    )


_ID_RUN = 65_536
"""Rows of an id-only file checked at once."""


@dataclass
class _RawRows:
    """A party file's cells as read, before the columns are typed."""

    header: list[str]
    feature_indices: list[int]
    ids: list[str] = field(default_factory=list)
    lines: array[int] = field(default_factory=lambda: array("q"))  # 8 bytes a row
    cells: list[list[str]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    dropped: int = 0
    has_labels: bool = False
    blocks: _NumericBlocks | None = None  # the features, typed as read (then no ``cells``)


_FEATURE_CELLS = 1 << 19
"""Feature cells typed at once when every cell must be a number (a run of rows holds
about this many: ~30 MB of cell strings)."""


class _NumericBlocks:
    """Feature cells typed a run of rows at a time into one preallocated float64 array.

    Memory is the array (at most one row per line of the file) plus one run of cells,
    instead of a Python string per cell (about ten times the array).  A run that numpy
    cannot type as finite numbers is typed column by column by :class:`_CellRules`,
    which raises the error naming the row and column (numpy's text-to-float parsing is
    Python's ``float``, so both accept the same cells).
    """

    def __init__(
        self, rules: _CellRules, names: list[str], capacity: int, folder: Path | None = None
    ) -> None:
        self._rules = rules
        self._names = names
        shape = (capacity, len(names))
        self._values: npt.NDArray[np.float64] = (
            np.empty(shape, dtype=np.float64)
            if folder is None
            else new_matrix(folder, "features", shape)
        )
        self._rows = 0
        self._cells: list[list[str]] = []
        self._lines: list[int] = []
        self._run = max(1, _FEATURE_CELLS // max(len(names), 1))

    def add(self, cells: list[str], line: int) -> None:
        """Queue a row's feature cells (typed when the run is full)."""
        self._cells.append(cells)
        self._lines.append(line)
        if len(self._cells) >= self._run:
            self._flush()

    def _flush(self) -> None:
        if not self._cells:
            return
        try:
            block = np.array(self._cells, dtype=np.float64)
            typed = bool(np.isfinite(block).all())
        except ValueError:
            typed = False
        if not typed:
            columns = []
            for position, name in enumerate(self._names):
                cells = [row[position] for row in self._cells]
                values = self._rules.numbers(name, cells, self._lines)
                assert values is not None  # no text column without allow_text
                columns.append(values)
            block = np.column_stack(columns)
        end = self._rows + len(block)
        if end > len(self._values):  # more records than lines: cannot happen; never write past
            raise DataError(f"{self._rules.path}: more records than lines; the file changed")
        else:
            self._values[self._rows : end] = block
        self._rows = end
        self._cells, self._lines = [], []

    def result(self) -> npt.NDArray[np.float64]:
        """The typed features, one row per record kept."""
        self._flush()
        if isinstance(self._values, np.memmap):
            self._values.flush()
        return self._values[: self._rows]


def _line_count(path: Path) -> int:
    """Lines in a file (a last line without a newline counts), read 1 MiB at a time."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _read_rows(
    path: Path,
    reader: Iterator[list[str]],
    id_column: str,
    label_column: str | None,
    dedupe: bool,
    numeric: _CellRules | None = None,
    folder: Path | None = None,
) -> _RawRows:
    """The cells of a party's CSV file, ids and labels checked; see :func:`read_party_csv`.

    With ``numeric`` (the file may hold only finite numbers in its feature columns), the
    feature cells are typed a run of rows at a time (:class:`_NumericBlocks`) instead
    of kept as text.
    """
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: the file is empty")
    for required in filter(None, (id_column, label_column)):
        if required not in header:
            raise DataError(f"{path}: no column {required!r} (columns: {header})")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: column(s) {repeated} appear more than once in the header")
    id_index = header.index(id_column)
    label_index = header.index(label_column) if label_column else None
    feature_indices = [i for i in range(len(header)) if i not in (id_index, label_index)]
    raw = _RawRows(header, feature_indices, has_labels=label_index is not None)
    if numeric is not None and feature_indices:
        names = [header[i] for i in feature_indices]
        raw.blocks = _NumericBlocks(numeric, names, max(_line_count(path) - 1, 0), folder)
    seen: set[str] = set()
    for line, record in _checked_runs(reader, len(header), seen, raw):
        if len(record) != len(header):
            raise DataError(f"{path}:{line}: {len(record)} cells, expected {len(header)}")
        customer = record[id_index].strip()
        if not customer:
            raise DataError(f"{path}:{line}: empty id")
        if customer in seen:
            if dedupe:
                raw.dropped += 1
                continue
            raise DataError(
                f"{path}:{line}: id {customer!r} appears twice (de-duplicate the file, or "
                "set dedupe = true in the psi step to keep each id's first row)"
            )
        seen.add(customer)
        raw.ids.append(customer)
        raw.lines.append(line)
        if raw.blocks is not None:
            raw.blocks.add([record[i] for i in feature_indices], line)
        elif feature_indices:  # an id-only file keeps no empty list per row
            raw.cells.append([record[i] for i in feature_indices])
        if label_index is not None:
            raw.labels.append(_label(path, line, str(label_column), record[label_index]))
    return raw


def _plain_ids(path: Path, id_column: str) -> _RawRows | None:
    """An id-only file of plain lines, read a block at a time; ``None`` if it is not one.

    Plain: a header that is exactly ``id_column``, and lines without a quote or a comma
    holding distinct non-empty ids (what ``csv`` would read the same way).  Anything
    else (and any unreadable file) is left to the row-by-row reader, which gives the
    exact error or drops repeats.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            if handle.readline().rstrip("\r\n") != id_column:
                return None
            raw = _RawRows([id_column], [])
            seen: set[str] = set()
            while lines := handle.readlines(1 << 22):
                text = "".join(lines)
                if '"' in text or "," in text:
                    return None
                ids = [line.strip() for line in lines]
                if not all(ids):
                    return None
                fresh = set(ids)
                if len(fresh) != len(ids) or not seen.isdisjoint(fresh):
                    return None
                seen |= fresh
                raw.lines.extend(range(len(raw.ids) + 2, len(raw.ids) + 2 + len(ids)))
                raw.ids.extend(ids)
            return raw
    except (UnicodeDecodeError, OSError):
        return None


def _checked_runs(
    reader: Iterator[list[str]], width: int, seen: set[str], raw: _RawRows
) -> Iterator[tuple[int, list[str]]]:
    """The records the row-by-row checks must see, with their line numbers.

    An id-only file (what a PSI step reads) is taken a run of rows at a time: a run
    whose rows have one non-empty cell each and whose ids are new is added to ``raw``
    and ``seen`` at once; any other run is handed to the caller's row-by-row checks,
    which raise the exact error (or drop repeats).  Files with more columns are
    always checked row by row.
    """
    line = 2
    if width != 1:  # row by row, holding one record at a time
        yield from enumerate(reader, start=line)
        return
    while True:
        run = list(itertools.islice(reader, _ID_RUN))
        if not run:
            return
        ids = [record[0].strip() if len(record) == 1 else "" for record in run]
        fresh = set(ids)
        if all(ids) and len(fresh) == len(ids) and seen.isdisjoint(fresh):
            seen |= fresh
            raw.ids.extend(ids)
            raw.lines.extend(range(line, line + len(ids)))
            line += len(run)
            continue
        for record in run:
            yield line, record
            line += 1


def _label(path: Path, line: int, column: str, text: str) -> int:
    """A label cell as 0 or 1: any spelling of those numbers (``1``, ``1.0``, `` 0 ``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value not in (0.0, 1.0):
        raise DataError(
            f"{path}:{line}: label {text.strip()!r} is not 0 or 1; recode the "
            f"{column!r} column to 0/1 (1 = the event, e.g. fraud)"
        )
    return int(value)


@dataclass(frozen=True)
class _CellRules:
    """How :func:`read_party_csv` types a column's cells, and its refusals."""

    path: Path
    allow_missing: bool
    allow_text: bool

    def numbers(
        self, column: str, cells: list[str], lines: Sequence[int]
    ) -> npt.NDArray[np.float64] | None:
        """The column as float64 (``NaN`` if missing), or ``None`` if it is a text column."""
        try:  # the common case, fast: every cell a finite number
            fast = np.array([float(text) for text in cells], dtype=np.float64)
            if np.isfinite(fast).all():
                return fast
        except ValueError:
            pass
        values = np.empty(len(cells), dtype=np.float64)
        for row, text in enumerate(cells):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
                if text.strip().lower() not in MISSING_CELLS:
                    if self.allow_text:
                        return None
                    raise DataError(
                        f"{self.path}:{lines[row]}: column {column!r} holds {text!r}, not a "
                        "number; a text column is allowed only in a job that bins it as "
                        "categories (a binning step), otherwise recode it"
                    ) from None
                if not self.allow_missing:
                    raise DataError(
                        f"{self.path}:{lines[row]}: column {column!r} holds {text!r}, not a "
                        "number; missing cells are allowed only in a job that bins the "
                        "column (a binning step), otherwise fill them"
                    ) from None
            if not math.isfinite(value) and not (
                self.allow_missing and text.strip().lower() in MISSING_CELLS
            ):
                raise DataError(
                    f"{self.path}:{lines[row]}: column {column!r} holds a non-finite value {text!r}"
                )
            values[row] = value
        return values

    def text(self, column: str, cells: list[str], lines: Sequence[int]) -> ObjectArray:
        """The column as stripped text (``None`` if missing)."""
        values = np.empty(len(cells), dtype=object)
        for row, text in enumerate(cells):
            stripped = text.strip()
            if stripped.lower() in MISSING_CELLS:
                if not self.allow_missing:
                    raise DataError(
                        f"{self.path}:{lines[row]}: column {column!r} holds {text!r}, a "
                        "missing cell; missing cells are allowed only in a job that bins "
                        "the column (a binning step), otherwise fill them"
                    )
                values[row] = None
            else:
                values[row] = stripped
        return values


def write_party_csv(
    table: PartyTable, path: str | Path, *, id_column: str = "id", label_column: str | None = None
) -> None:
    """Write ``table`` as CSV (id, label if any, features, text columns), atomically.

    The file is written next to ``path`` under a temporary name and renamed into
    place, so a reader never sees half a file.  Numbers are written with Python's
    shortest exact representation, so :func:`read_party_csv` reads back the same
    values; a missing cell (``NaN``, ``None``) is written empty.

    Parameters
    ----------
    table : PartyTable
        The rows to write.
    path : str or Path
        The CSV file; its directory is created if needed.
    id_column : str, default "id"
        Name of the id column.
    label_column : str, optional
        Name of the label column, written second when the table has labels.

    Raises
    ------
    OSError
        If the file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> table = PartyTable(["c1", "c2"], np.array([[0.1, 2.0], [1 / 3, -4.0]]),
    ...                    ["x1", "x2"], labels=np.array([1, 0]))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "guest.csv"
    ...     write_party_csv(table, path, label_column="label")
    ...     header = path.read_text().splitlines()[0]
    ...     again = read_party_csv(path, label_column="label")
    >>> header, bool((again.features == table.features).all())
    ('id,label,x1,x2', True)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [id_column, *([label_column] if table.labels is not None and label_column else [])]
    header += table.column_names
    text = [values.tolist() for values in table.text.values()]
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            labels = table.labels.tolist() if table.labels is not None and label_column else None
            if len(header) == 1 and _write_plain_ids(stream, table.ids):
                stream.flush()
                os.fsync(stream.fileno())
                os.replace(temporary, path)
                return
            for row, (customer, values) in enumerate(
                zip(table.ids, _row_lists(table.features), strict=True)
            ):
                cells = [
                    customer,
                    *([labels[row]] if labels is not None else []),
                    *("" if math.isnan(value) else repr(value) for value in values),
                    *("" if column[row] is None else column[row] for column in text),
                ]
                writer.writerow(cells)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_plain_ids(stream: TextIO, ids: Sequence[str]) -> bool:
    """Write an id-only table's rows at once if no id needs CSV quoting; else write nothing.

    Returns whether the rows were written (the same bytes ``csv.writer`` would write).
    """
    body = "\n".join(ids)
    quoted = any(mark in body for mark in (",", '"', "\r"))
    if not ids or quoted or body.count("\n") != len(ids) - 1:
        return False
    stream.write(body.replace("\n", "\r\n") + "\r\n")
    return True


def _row_lists(matrix: npt.NDArray[np.float64], run: int = 4096) -> Iterator[list[float]]:
    """``matrix.tolist()`` row by row, converting ``run`` rows at a time (bounded memory)."""
    for first in range(0, len(matrix), run):
        yield from matrix[first : first + run].tolist()


BUILTIN_DATASETS = ("breast", "default_credit")
"""Names accepted by :func:`load_builtin`."""


def load_builtin(name: str = "breast") -> tuple[PartyTable, PartyTable]:
    """Load a built-in data set as ``(guest, host)`` tables (rows not aligned).

    ``"breast"``: 569 rows, 10 guest + 20 host features.  ``"default_credit"``:
    30,000 rows, 13 guest + 10 host features (22% defaults).  See
    ``vfl/data/README.md`` for provenance.

    Parameters
    ----------
    name : {"breast", "default_credit"}, default "breast"
        The data set.

    Returns
    -------
    tuple of PartyTable
        ``(guest, host)``; only the guest's table has labels.

    Raises
    ------
    DataError
        If ``name`` is not a built-in data set.

    Examples
    --------
    >>> guest, host = load_builtin("breast")
    >>> len(guest), guest.features.shape[1], host.features.shape[1]
    (569, 10, 20)
    """
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown built-in data set {name!r}; available: {BUILTIN_DATASETS}")
    folder = resources.files("vfl") / "data"
    with resources.as_file(folder / f"{name}_hetero_guest.csv") as guest_path:
        guest = read_party_csv(guest_path, label_column="y")
    with resources.as_file(folder / f"{name}_hetero_host.csv") as host_path:
        host = read_party_csv(host_path)
    return guest, host


def make_toy_hetero(
    rows: int = 200,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """A tiny aligned two-party data set for examples: guest features, labels, host features.

    ``x`` runs evenly over ``[-1, 1]``; the guest holds ``x`` and ``cos(5x)``, the host
    ``sin(3x)``, and the label is ``x + sin(3x) > 0``, so both parties' columns
    matter.  Deterministic.

    Parameters
    ----------
    rows : int, default 200

    Returns
    -------
    tuple of numpy.ndarray
        ``(X_guest, y, X_host)``, shapes ``(rows, 2)``, ``(rows,)``, ``(rows, 1)``.

    Examples
    --------
    >>> X_guest, y, X_host = make_toy_hetero()
    >>> X_guest.shape, X_host.shape, int(y.sum())
    ((200, 2), (200, 1), 100)
    """
    x = np.linspace(-1.0, 1.0, rows)
    guest = np.column_stack([x, np.cos(5 * x)])
    host = np.sin(3 * x)[:, None]
    labels = (x + np.sin(3 * x) > 0).astype(np.int64)
    return guest, labels, host


RARE_EVENT_GUEST_FEATURES = (
    "income",
    "credit_limit",
    "utilization",
    "months_on_book",
    "delinquencies_12m",
    "age",
)
RARE_EVENT_HOST_FEATURES = (
    "monthly_spend",
    "cash_advances",
    "transactions",
    "late_payments_telco",
    "balance_volatility",
    "days_since_payment",
)


def _check_generator_arguments(name: str, rows: int, event_rate: float) -> None:
    """Refuse what a synthetic credit generator cannot make."""
    if rows < 100 or not 0.0 < event_rate <= 0.5:
        raise DataError(
            f"{name} needs rows >= 100 and 0 < event_rate <= 0.5, got "
            f"rows={rows!r}, event_rate={event_rate!r}"
        )


def _labels_at_rate(
    risk: npt.NDArray[np.float64], event_rate: float, rng: np.random.Generator, *, bracket: float
) -> npt.NDArray[np.int64]:
    """0/1 labels drawn from ``sigmoid(risk + c)``, ``c`` solved (in ``±bracket``) for the rate."""
    low, high = -bracket, bracket
    for _ in range(100):
        middle = (low + high) / 2.0
        if float(np.mean(1.0 / (1.0 + np.exp(-(risk + middle))))) < event_rate:
            low = middle
        else:
            high = middle
    probabilities = 1.0 / (1.0 + np.exp(-(risk + (low + high) / 2.0)))
    return (rng.random(len(risk)) < probabilities).astype(np.int64)


def make_rare_event_credit(
    rows: int = 30_000, *, event_rate: float = 0.066, seed: int = 0
) -> tuple[PartyTable, PartyTable]:
    """A synthetic rare-event, heavy-tailed credit data set split between two parties.

    The kind of data banks have and near-linear sets (breast, default_credit) are
    not: few events, amounts with heavy tails (log-normal and Pareto), counts, and a
    default risk that depends on thresholds and logarithms of the amounts, not on
    the raw values linearly.  The guest (a bank) holds the label and
    :data:`RARE_EVENT_GUEST_FEATURES`, the host (a payment processor or telco)
    :data:`RARE_EVENT_HOST_FEATURES`; both parties' columns matter.  Rows are aligned
    (the same ids in the same order).  Deterministic for a seed (numpy's seeded
    generator: this is test data, not a secret).

    Parameters
    ----------
    rows : int, default 30000
    event_rate : float, default 0.066
        The share of defaults (the intercept is solved for it).
    seed : int, default 0

    Returns
    -------
    tuple of PartyTable
        ``(guest, host)``; the guest's table has the labels.

    Raises
    ------
    DataError
        If ``rows`` is below 100 or ``event_rate`` is not in (0, 0.5].

    Examples
    --------
    >>> guest, host = make_rare_event_credit(10_000)
    >>> len(guest), guest.features.shape[1], host.features.shape[1], guest.ids == host.ids
    (10000, 6, 6, True)
    >>> round(float(guest.labels.mean()), 2)
    0.07
    >>> bool(host.features[:, 0].max() > 50 * np.median(host.features[:, 0]))  # heavy tail
    True
    """
    _check_generator_arguments("make_rare_event_credit", rows, event_rate)
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.7, rows)
    limit = np.round(rng.lognormal(8.3, 0.9, rows), 0)
    utilization = np.clip(rng.beta(1.2, 3.0, rows) * 1.25, 0.0, None)
    months = rng.integers(1, 241, rows).astype(np.float64)
    delinquencies = rng.poisson(0.25, rows).astype(np.float64)
    age = np.clip(np.round(rng.normal(44.0, 13.0, rows)), 19.0, 90.0)
    spend = np.round((rng.pareto(1.6, rows) + 1.0) * 180.0, 2)
    cash = np.where(rng.random(rows) < 0.12, np.round(rng.lognormal(6.0, 1.2, rows), 2), 0.0)
    transactions = rng.negative_binomial(3, 0.08, rows).astype(np.float64)
    late = rng.poisson(0.15, rows).astype(np.float64)
    volatility = rng.lognormal(-1.0, 0.9, rows)
    days = np.round(rng.exponential(12.0, rows), 0)
    risk = (
        2.2 * (utilization > 0.85)
        + 1.1 * np.minimum(delinquencies, 3.0)
        - 0.55 * np.log(income / 36_000.0)
        - 0.5 * (months > 36)
        + 0.45 * np.log1p(cash) / 2.0
        + 0.9 * np.minimum(late, 3.0)
        + 1.3 * (days > 30)
        + 0.35 * np.log(volatility + 0.05)
        - 0.25 * np.log(spend / 180.0)
        + rng.normal(0.0, 0.5, rows)
    )
    labels = _labels_at_rate(risk, event_rate, rng, bracket=30.0)
    ids = [f"c{index:06d}" for index in range(rows)]
    guest = PartyTable(
        ids=ids,
        features=np.column_stack([income, limit, utilization, months, delinquencies, age]),
        feature_names=list(RARE_EVENT_GUEST_FEATURES),
        labels=labels,
    )
    host = PartyTable(
        ids=list(ids),
        features=np.column_stack([spend, cash, transactions, late, volatility, days]),
        feature_names=list(RARE_EVENT_HOST_FEATURES),
    )
    return guest, host


HEAVY_TAIL_GUEST_FEATURES = (
    "income",
    "credit_limit",
    "bureau_score",
    "utilization",
    "months_on_book",
    "age",
)
HEAVY_TAIL_HOST_FEATURES = (
    "monthly_spend",
    "cash_advances",
    "transactions",
    "on_time_share",
    "balance_volatility",
    "days_since_payment",
    "savings_balance",
)


def make_heavy_tail_credit(
    rows: int = 30_000, *, event_rate: float = 0.05, seed: int = 0
) -> tuple[PartyTable, PartyTable]:
    """A synthetic rare-event credit data set where least squares ranks badly.

    Like :func:`make_rare_event_credit` (few events, log-normal and Pareto amounts,
    counts), but the risk is mostly *linear* in the standardised features, with two
    heavy-tailed terms that put rows far from the boundary: for the 15 % of
    customers who take cash advances (log-normal amounts) the risk rises steeply
    with the log of the amount, and a log-normal savings balance lowers it linearly
    (big savers almost never default).  Logistic regression fits this well; least
    squares, pulled by those high-leverage rows, ranks the held-out rows at least
    0.03 AUC worse (seeds 0-2, 30,000 rows, 70/30 split, standardised features;
    with or without balanced class weights).  The guest (a bank) holds the label and
    :data:`HEAVY_TAIL_GUEST_FEATURES`, the host (a payment processor)
    :data:`HEAVY_TAIL_HOST_FEATURES`; both parties' columns matter.  Rows are
    aligned (the same ids in the same order).  Deterministic for a seed (numpy's
    seeded generator: this is test data, not a secret).

    Parameters
    ----------
    rows : int, default 30000
    event_rate : float, default 0.05
        The share of defaults (the intercept is solved for it).
    seed : int, default 0

    Returns
    -------
    tuple of PartyTable
        ``(guest, host)``; the guest's table has the labels.

    Raises
    ------
    DataError
        If ``rows`` is below 100 or ``event_rate`` is not in (0, 0.5].

    Examples
    --------
    >>> guest, host = make_heavy_tail_credit(10_000)
    >>> len(guest), guest.features.shape[1], host.features.shape[1], guest.ids == host.ids
    (10000, 6, 7, True)
    >>> round(float(guest.labels.mean()), 2)
    0.05
    >>> bool(host.features[:, 0].max() > 50 * np.median(host.features[:, 0]))  # heavy tail
    True
    """
    _check_generator_arguments("make_heavy_tail_credit", rows, event_rate)
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.7, rows)
    limit = np.round(rng.lognormal(8.3, 0.9, rows), 0)
    score = np.clip(np.round(rng.normal(680.0, 70.0, rows)), 300.0, 850.0)
    utilization = np.clip(rng.normal(0.35, 0.2, rows), 0.0, 1.2)
    months = rng.integers(1, 241, rows).astype(np.float64)
    age = np.clip(np.round(rng.normal(44.0, 13.0, rows)), 19.0, 90.0)
    spend = np.round((rng.pareto(1.6, rows) + 1.0) * 180.0, 2)
    revolver = rng.random(rows) < 0.15
    cash = np.where(revolver, np.round(rng.lognormal(6.0, 0.6, rows), 2), 0.0)
    transactions = rng.negative_binomial(3, 0.08, rows).astype(np.float64)
    on_time = np.clip(rng.normal(0.9, 0.08, rows), 0.0, 1.0)
    volatility = rng.lognormal(-1.0, 0.9, rows)
    days = np.round(rng.exponential(12.0, rows), 0)
    savings = np.round(rng.lognormal(8.5, 0.8, rows), 2)
    risk = (
        -1.2 * (score - 680.0) / 70.0
        + 0.9 * (utilization - 0.35) / 0.2
        - 0.9 * (on_time - 0.9) / 0.08
        - 0.3 * (age - 44.0) / 13.0
        - 0.5 * np.log(income / 36_000.0)
        - 0.25 * np.log(spend / 180.0)
        - 0.3 * (months > 36)
        + 0.2 * np.log(volatility + 0.05)
        + np.where(revolver, 0.5 + 6.0 * np.log(np.maximum(cash, 1.0) / math.exp(6.0)), 0.0)
        - 2.0 * (savings / math.exp(8.5) - 1.0)
        + rng.normal(0.0, 0.3, rows)
    )
    labels = _labels_at_rate(risk, event_rate, rng, bracket=60.0)
    ids = [f"c{index:06d}" for index in range(rows)]
    guest = PartyTable(
        ids=ids,
        features=np.column_stack([income, limit, score, utilization, months, age]),
        feature_names=list(HEAVY_TAIL_GUEST_FEATURES),
        labels=labels,
    )
    host = PartyTable(
        ids=list(ids),
        features=np.column_stack([spend, cash, transactions, on_time, volatility, days, savings]),
        feature_names=list(HEAVY_TAIL_HOST_FEATURES),
    )
    return guest, host

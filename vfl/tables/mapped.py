"""Feature matrices in memory-mapped ``.npy`` files, processed a block of rows at a time.

A party whose features do not fit comfortably in memory keeps them on disk: the CSV
file is typed into a ``.npy`` file once (:func:`vfl.tables.datasets.read_party_csv`
with ``features_file``), and every later whole-matrix step works a block of rows at a
time into another file of the same folder: the rows PSI keeps
(:func:`take_rows`), the scaled features (:func:`map_rows`), their statistics
(:func:`column_moments`) and checks (:func:`finite_and_max_abs`).  Anonymous memory
is then a block, not the matrix; training reads a batch's rows from the file.

The folder is the job's work folder; files are named ``<stem>-<random>.npy`` and can
be deleted after the job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLOCK_CELLS",
    "column_max_abs",
    "column_moments",
    "finite_and_max_abs",
    "folder_of",
    "map_rows",
    "new_matrix",
    "row_blocks",
    "take_rows",
]

FloatArray = npt.NDArray[np.float64]

BLOCK_CELLS = 1 << 21
"""Cells processed at once (16 MiB of float64)."""


def new_matrix(folder: Path, stem: str, shape: tuple[int, int]) -> np.memmap:
    """A new float64 ``.npy`` file of ``shape`` in ``folder``, mapped for writing.

    Parameters
    ----------
    folder : pathlib.Path
        Where the file goes (created if missing).
    stem : str
        The start of its name.
    shape : tuple of int
        ``(rows, columns)``.

    Returns
    -------
    numpy.memmap

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     matrix = new_matrix(Path(folder), "demo", (3, 2))
    ...     matrix[:] = 1.5
    ...     float(np.load(matrix.filename, mmap_mode="r").sum())
    9.0
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{secrets.token_hex(4)}.npy"
    matrix: np.memmap = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
    return matrix


def folder_of(matrix: npt.NDArray[np.float64]) -> Path | None:
    """The folder of a memory-mapped matrix's file, or ``None`` for one in memory."""
    filename = getattr(matrix, "filename", None)
    return Path(filename).parent if isinstance(matrix, np.memmap) and filename else None


def row_blocks(rows: int, columns: int) -> Iterator[slice]:
    """Consecutive row ranges of about :data:`BLOCK_CELLS` cells covering ``rows``.

    Examples
    --------
    >>> [(block.start, block.stop) for block in row_blocks(5, BLOCK_CELLS // 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    step = max(1, BLOCK_CELLS // max(columns, 1))
    for start in range(0, rows, step):
        yield slice(start, min(start + step, rows))


def take_rows(matrix: FloatArray, rows: npt.NDArray[np.intp], folder: Path) -> np.memmap:
    """``matrix[rows]`` written a block at a time into a new file of ``folder``."""
    width = matrix.shape[1]
    result = new_matrix(folder, "rows", (len(rows), width))
    for block in row_blocks(len(rows), width):
        result[block] = matrix[np.sort(rows[block])][np.argsort(np.argsort(rows[block]))]
    result.flush()
    return result


def map_rows(
    matrix: FloatArray,
    transform: Callable[[FloatArray], FloatArray],
    folder: Path,
    stem: str,
    width: int | None = None,
) -> np.memmap:
    """``transform`` applied to each block of rows, written into a new file of ``folder``.

    The result has ``width`` columns (the input's unless given).
    """
    columns = matrix.shape[1] if width is None else width
    result = new_matrix(folder, stem, (matrix.shape[0], columns))
    for block in row_blocks(*matrix.shape):
        result[block] = transform(np.asarray(matrix[block], dtype=np.float64))
    result.flush()
    return result


def column_moments(
    matrix: FloatArray, transform: Callable[[FloatArray], FloatArray] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Each column's mean and (population) standard deviation, a block at a time.

    Two passes (the mean, then the squared deviations from it), so the result matches
    ``np.mean`` / ``np.std`` to rounding, without their whole-matrix temporaries.

    Examples
    --------
    >>> values = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 7.0]])
    >>> mean, std = column_moments(values)
    >>> bool(np.allclose(mean, values.mean(axis=0)) and np.allclose(std, values.std(axis=0)))
    True
    """
    rows, width = matrix.shape
    if rows == 0:
        return np.full(width, np.nan), np.full(width, np.nan)

    def block_values(block: slice) -> FloatArray:
        values = np.asarray(matrix[block], dtype=np.float64)
        return values if transform is None else transform(values)

    total = np.zeros(width)
    for block in row_blocks(rows, width):
        total += block_values(block).sum(axis=0)
    mean = total / rows
    squares = np.zeros(width)
    for block in row_blocks(rows, width):
        squares += ((block_values(block) - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(squares / rows)


def column_max_abs(matrix: FloatArray) -> FloatArray:
    """Each column's largest absolute value (``NaN`` where a value is ``NaN``), by blocks.

    Examples
    --------
    >>> column_max_abs(np.array([[1.0, -5.0], [-3.0, 2.0]])).tolist()
    [3.0, 5.0]
    """
    largest = np.zeros(matrix.shape[1])
    for block in row_blocks(*matrix.shape):
        values = np.abs(np.asarray(matrix[block], dtype=np.float64))
        if len(values):
            largest = np.fmax(largest, values.max(axis=0))
            largest[np.isnan(values).any(axis=0)] = np.nan
    return largest


def finite_and_max_abs(matrix: FloatArray) -> tuple[bool, float]:
    """Whether every value is finite, and the largest absolute value (0 when empty)."""
    finite, largest = True, 0.0
    for block in row_blocks(*matrix.shape):
        values = np.asarray(matrix[block], dtype=np.float64)
        finite = finite and bool(np.isfinite(values).all())
        if values.size:
            largest = max(largest, float(np.abs(values).max()))
    return finite, largest

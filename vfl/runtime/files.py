"""Output files are written to a temporary file and renamed: never left half-written."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["write_csv_atomically", "write_json_atomically", "write_text_atomically"]


def _write_atomically(path: Path, fill: Callable[[TextIO], None], *, newline: str | None) -> Path:
    """Create ``path``'s folder, let ``fill`` write a temporary file, rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline=newline, encoding="utf-8") as stream:
            fill(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path: Path, document: dict[str, Any]) -> Path:
    """Write JSON to a temporary file next to ``path`` and rename it into place.

    Parameters
    ----------
    path : pathlib.Path
        The file; its folder is created if needed.
    document : dict
        A JSON-serialisable document (written indented, with a final newline).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        If the file cannot be written (no temporary file is left behind).
    TypeError
        If ``document`` is not JSON-serialisable.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_json_atomically(Path(folder) / "out" / "a.json", {"auc": 0.75})
    ...     json.loads(path.read_text())
    {'auc': 0.75}
    """

    def fill(stream: TextIO) -> None:
        json.dump(document, stream, indent=2)
        stream.write("\n")

    return _write_atomically(path, fill, newline=None)


def write_text_atomically(path: Path, text: str) -> Path:
    """Write UTF-8 text to a temporary file next to ``path`` and rename it into place.

    Parameters
    ----------
    path : pathlib.Path
        The file; its folder is created if needed.
    text : str
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        If the file cannot be written (no temporary file is left behind).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_text_atomically(Path(folder) / "report.md", "# Report")
    ...     path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('# Report', ['report.md'])
    """

    def fill(stream: TextIO) -> None:
        stream.write(text)

    return _write_atomically(path, fill, newline=None)


def write_csv_atomically(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Path:
    """Write a CSV file (UTF-8) to a temporary file next to ``path`` and rename it.

    Parameters
    ----------
    path : pathlib.Path
        The file; its folder is created if needed.
    header : sequence of str
        The column names.
    rows : iterable of sequence
        The rows, each with one value per column.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        If the file cannot be written (no temporary file is left behind).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "scores.csv"
    ...     _ = write_csv_atomically(path, ["id", "score"], [("c1", 0.25), ("c2", 0.75)])
    ...     path.read_text().splitlines()
    ['id,score', 'c1,0.25', 'c2,0.75']
    """

    def fill(stream: TextIO) -> None:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)

    return _write_atomically(path, fill, newline="")

"""Reading and writing CSV tables: the only module that touches pandas.

Cells come back as stripped text; parsing them into typed values is `parse`'s job.
Writes go to a temporary file in the same folder and are renamed into place, so a
crash never leaves half a file behind.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pts_optimiser.diagnostics import Code, InputError, error
from pts_optimiser.safe import from_cell, to_cell

FIRST_DATA_ROW = 2  # spreadsheet numbering: the header is row 1


@dataclass(frozen=True)
class Table:
    """A CSV file as text cells, with the spreadsheet row number of each record."""

    name: str  # as the user gave it, for messages
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]
    row_numbers: tuple[int, ...]  # spreadsheet row of each record, kept through `subset`

    def row_number(self, index: int) -> int:
        """Spreadsheet row of the record at `index`."""
        return self.row_numbers[index]

    def subset(self, keep: Sequence[int]) -> Table:
        """The records at `keep`, still numbered as in the spreadsheet."""
        return Table(self.name, self.columns, tuple(self.rows[i] for i in keep),
                     tuple(self.row_numbers[i] for i in keep))


def read_table(path: Path, allow_no_rows: bool = False) -> Table:
    """Read a CSV (Excel exports included: BOM, CRLF) into text cells.

    A header with no rows is an error for inputs, but a plan may have no rows (nobody
    unassigned): `allow_no_rows` accepts it.
    """
    name = str(path)
    if not path.is_file():
        raise InputError([error(Code.FILE_NOT_FOUND, name, "no such file",
                                "check the path; give the CSV file itself, not its folder")])
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError([error(Code.EMPTY_FILE, name, "the file is empty",
                                "export the sheet again with its header row and data")]) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError([error(Code.UNREADABLE_FILE, name, f"not a readable CSV ({reason})",
                                "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'")
                          ]) from None
    columns = tuple(str(column).strip() for column in frame.columns)
    frame.columns = pd.Index(columns)
    if frame.empty and not (allow_no_rows and len(columns)):
        raise InputError([error(Code.EMPTY_FILE, name, "the file has a header but no rows",
                                "add at least one row below the header")])
    records = frame.to_dict(orient="records")
    # from_cell: a text cell we wrote with a quote against spreadsheet formulas reads back
    # as the text it was (safe.to_cell); without it a label would gain a quote each re-plan.
    rows = tuple({str(key): from_cell(str(value).strip()) for key, value in record.items()}
                 for record in records)
    return Table(name, columns, rows, tuple(range(FIRST_DATA_ROW, FIRST_DATA_ROW + len(rows))))


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """Write rows as CSV under `path`, atomically.

    Text cells a spreadsheet would take for a formula are quoted (safe.to_cell), so a label
    such as `=HYPERLINK(...)` opens as text; `read_table` gives back the text written.
    """
    safe_rows = [{key: to_cell(value) if isinstance(value, str) else value
                  for key, value in row.items()} for row in rows]
    frame = pd.DataFrame(safe_rows, columns=list(columns))
    _atomic_write(path, frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL))


def write_text(path: Path, text: str) -> None:
    """Write text under `path`, atomically."""
    _atomic_write(path, text)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

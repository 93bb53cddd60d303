"""Reading and writing CSV tables: the only module that touches pandas.

Cells come back as stripped text; parsing them into typed values is `parse`'s job.
Writes go to a temporary file in the same folder and are renamed into place, so a
crash never leaves half a file behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pts_optimiser.domain.diagnostics import Code, Finding, InputError, error
from pts_optimiser.domain.safe import from_cell, to_cell


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


MAX_ROWS = 50_000  # a week of a large division's bookings is under 10,000 (README, Files)
MAX_COLUMNS = 200
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_CELL_CHARS = 10_000
_UNNAMED = "Unnamed: "  # pandas' name for a column without a header, kept


def _letter(position: int) -> str:
    """Spreadsheet column letters of a 1-based column position: 1 -> A, 28 -> AB."""
    letters = ""
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError([error(Code.UNREADABLE_FILE, name, "the file is UTF-16 text, not CSV",
                                "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError([error(Code.UNREADABLE_FILE, name,
                                f"line {line} is not UTF-8 text (byte {exc.start + 1})",
                                "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'",
                                line)]) from None


_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")


def rows_only(data: bytes, keep: Collection[int]) -> bytes:
    """A CSV file's bytes with its header and the spreadsheet rows `keep` only, as they were.

    A record is one line (a cell run over a line end is refused on reading), so the
    spreadsheet's row r is the file's line r: its BOM, quoting and line ends stay.
    """
    return b"".join(line for number, line in enumerate(_LINE.findall(data), start=1)
                    if number == 1 or number in keep)


def file_bytes(path: Path) -> bytes:
    """A CSV file's content, read once; `InputError` names what keeps it from being read."""
    name = str(path)
    if not path.is_file():
        if path.exists() and not path.is_dir():  # reading a pipe would wait for a writer
            raise InputError([error(Code.UNREADABLE_FILE, name, "is not a regular file (a "
                                    "pipe, socket or device)", "give the CSV file itself")])
        raise InputError([error(Code.FILE_NOT_FOUND, name, "no such file",
                                "check the path; give the CSV file itself, not its folder")])
    try:
        _size_limit(path.stat().st_size, name)
        data = path.read_bytes()
        _size_limit(len(data), name)  # a file growing as it is read
        return data
    except OSError as exc:
        raise InputError([error(Code.UNREADABLE_FILE, name,
                                f"cannot be read ({exc.strerror or type(exc).__name__})",
                                "check the file's permissions, or copy it somewhere readable")
                          ]) from None


def _size_limit(size: int, name: str) -> None:
    """A file of `size` bytes over `MAX_FILE_BYTES` is an error."""
    if size > MAX_FILE_BYTES:
        raise InputError([error(
            Code.TOO_LARGE, name,
            f"the file is {size / 2**20:.0f} MiB, more than {MAX_FILE_BYTES // 2**20} MiB",
            f"give one day's rows (at most {MAX_ROWS:,} rows), not a whole export")])


def read_table(path: Path, allow_no_rows: bool = False, data: bytes | None = None) -> Table:
    """Read a CSV (Excel exports included: BOM, CRLF) into text cells.

    A header with no rows is an error for inputs, but a plan may have no rows (nobody
    unassigned): `allow_no_rows` accepts it. Rows that are blank or hold only empty cells
    are skipped but still counted, so row numbers stay those a spreadsheet shows.
    Everything wrong with the file's shape is reported at once, located: duplicate
    headers, NUL bytes, rows with more cells than the header, a double quote not closed on
    its row (a cell over a line end), and the limits on rows, columns and size
    (`MAX_ROWS`, `MAX_COLUMNS`, `MAX_FILE_BYTES`). `data` is the file's content as already
    read (`file_bytes`): the file is not read again.
    """
    name = str(path)
    if data is None:
        data = file_bytes(path)  # size limit checked there
    else:
        _size_limit(len(data), name)
    text = _decode(data, name)
    if not text.strip():
        raise InputError([error(Code.EMPTY_FILE, name, "the file is empty",
                                "export the sheet again with its header row and data")])
    findings: list[Finding] = []
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    row = 1
    header: list[str] = []
    lines = 0  # the file's lines read before the record being read
    try:
        first = next(reader)
        header = [cell.strip() for cell in first]
        columns = _header(header, name, findings)
        # Named by letter: a header run over a line end holds the rows after it.
        quote = _over_line_end(first, (), name, 1, reader.line_num)
        findings += [quote] if quote else []
        width = len(header)
        records: list[dict[str, str]] = []
        numbers: list[int] = []
        lines = reader.line_num
        for record in reader:
            row += 1
            quote = _over_line_end(record, header, name, row, reader.line_num - lines)
            lines = reader.line_num
            if quote is not None:
                findings.append(quote)
                continue
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue
            if len(records) == MAX_ROWS:
                findings.append(error(
                    Code.TOO_LARGE, name, f"more than {MAX_ROWS:,} rows",
                    "give one day's bookings or fleet, or split the file by service_date",
                    row))
                break
            if len(cells) > width and any(cells[width:]):
                findings.append(error(
                    Code.EXTRA_CELLS, name,
                    f"has {len(cells)} cells where the header has {width}",
                    "a comma inside a cell needs the cell in double quotes: save the file "
                    "again from the spreadsheet as CSV, or quote the cell", row))
                continue
            for position, cell in enumerate(cells[:width]):
                if "\x00" in cell:
                    findings.append(error(Code.NUL_BYTE, name, "holds a NUL byte",
                                          "save the file again from the spreadsheet as "
                                          "'CSV UTF-8'; a NUL is never part of a cell", row,
                                          header[position] or _letter(position + 1)))
                    break
                if len(cell) > MAX_CELL_CHARS:
                    findings.append(error(Code.TOO_LARGE, name,
                                          f"a cell of {len(cell):,} characters, more than "
                                          f"{MAX_CELL_CHARS:,}", "shorten the cell", row,
                                          header[position] or _letter(position + 1)))
                    break
            cells += [""] * (width - len(cells))
            # from_cell: a text cell we wrote with a quote against spreadsheet formulas reads
            # back as the text it was (safe.to_cell); else a label gains a quote each re-plan.
            records.append({column: from_cell(cells[position]) for position, column in columns})
            numbers.append(row)
    except csv.Error as exc:
        # No header yet: the reader gave up on the header itself, row 1.
        findings.append(_not_csv(exc, text, header, name, row + 1 if header else 1, lines + 1))
    if findings:
        raise InputError(findings)
    # Spreadsheets export trailing columns with neither a header nor data: not columns.
    names = tuple(column for _, column in columns
                  if not column.startswith(_UNNAMED) or any(r[column] for r in records))
    records = [{column: record[column] for column in names} for record in records]
    if not records and not allow_no_rows:
        raise InputError([error(Code.EMPTY_FILE, name, "the file has a header but no rows",
                                "add at least one row below the header")])
    return Table(name, names, tuple(records), tuple(numbers))


QUOTE_HINT = ("close the double quote on this row, or remove it; a line break typed in a cell "
              "(Alt+Enter) does the same: replace it with a space")


def _column_name(header: Sequence[str], position: int) -> str:
    """The header of the 0-based column `position`, or its letter where it has none."""
    return header[position] if position < len(header) and header[position] \
        else _letter(position + 1)


def _over_line_end(record: Sequence[str], header: Sequence[str], name: str, row: int,
                   lines: int) -> Finding | None:
    """An error if a cell of the record at `row`, read from `lines` lines, holds a line end.

    No column holds a line break: a cell that does was opened by a double quote not closed
    on its row, and the rows after it (up to the next double quote, or the end of the file)
    were read into it as text. Once cleaned of control characters they passed as one cell
    of the row, and those rows' bookings were in neither the plan nor its errors.
    """
    position = next((i for i, cell in enumerate(record) if "\n" in cell or "\r" in cell), None)
    if position is None:
        return None
    taken = lines - 1  # lines wholly inside the cell (the last may hold the cells after it)
    if taken:
        rows = (f"row {row + 1} (1 row) was" if taken == 1
                else f"rows {row + 1}-{row + taken} ({taken} rows) were")
        message = (f"a double quote opens this cell and is not closed on its row: {rows} "
                   "read into the cell, not as rows of their own")
    else:
        message = "a double quote opens this cell and is never closed (the file ends in it)"
    return error(Code.UNCLOSED_QUOTE, name, message, QUOTE_HINT, row,
                 _column_name(header, position))


def _not_csv(exc: csv.Error, text: str, header: Sequence[str], name: str, row: int,
             line: int) -> Finding:
    """The error for text the CSV reader gave up on, at `row` (the file's `line`).

    It gives up on a cell longer than `csv.field_size_limit`: in a long file, that is a
    double quote never closed, its cell run on through the rows after it.
    """
    if "field larger than field limit" in str(exc):
        opened = io.StringIO(text, newline="")
        for _ in range(line - 1):
            opened.readline()
        start = opened.readline()
        with contextlib.suppress(csv.Error):  # a line longer than the limit on its own
            cells = next(csv.reader([start], skipinitialspace=True), [])
            if cells and ("\n" in cells[-1] or "\r" in cells[-1]):
                return error(Code.UNCLOSED_QUOTE, name,
                             f"a double quote opens this cell and is not closed on its row: "
                             f"rows {row + 1} on were read into the cell, past the "
                             f"{csv.field_size_limit():,} characters it can hold", QUOTE_HINT,
                             row, _column_name(header, len(cells) - 1))
    return error(Code.UNREADABLE_FILE, name, f"not a readable CSV ({exc})",
                 "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'", row)


def _header(header: list[str], name: str, findings: list[Finding]) -> list[tuple[int, str]]:
    """(position, name) of each column kept; duplicate, separator and size errors found."""
    if len(header) > MAX_COLUMNS:
        findings.append(error(Code.TOO_LARGE, name,
                              f"{len(header):,} columns, more than {MAX_COLUMNS}",
                              "remove the columns that are not bookings or fleet data", 1))
        return []
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        findings.append(error(Code.UNREADABLE_FILE, name,
                              f"the columns are separated by {separator}, not commas",
                              "save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'",
                              1))
        return []
    seen: dict[str, int] = {}
    kept: list[tuple[int, str]] = []
    for position, column in enumerate(header):
        column = from_cell(column)  # the header a quoted one was (write_table)
        if not column:
            column = f"{_UNNAMED}{position}"
        if "\x00" in column:
            findings.append(error(Code.NUL_BYTE, name,
                                  f"the header of column {_letter(position + 1)} holds a NUL byte",
                                  "save the file again from the spreadsheet as 'CSV UTF-8'", 1))
            continue
        if column in seen:
            first = seen[column]
            findings.append(error(
                Code.DUPLICATE_COLUMN, name,
                f"column {column!r} is both column {_letter(first + 1)} and column "
                f"{_letter(position + 1)}", "delete or rename one of them", 1, column))
            continue
        seen[column] = position
        kept.append((position, column))
    return kept


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> None:
    """Write rows as CSV under `path`, atomically.

    Text cells and column names a spreadsheet would take for a formula are quoted
    (safe.to_cell), so a label such as `=HYPERLINK(...)` opens as text; `read_table` gives
    back the text written.
    """
    safe_rows = [{key: to_cell(value) if isinstance(value, str) else value
                  for key, value in row.items()} for row in rows]
    frame = pd.DataFrame(safe_rows, columns=list(columns))
    # The header too: a booking's own column named like a formula was carried into
    # rosters.csv as one until the thirty-fifth stop.
    frame.columns = [to_cell(column) for column in columns]
    _atomic_write(path, frame.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL))


def write_text(path: Path, text: str) -> None:
    """Write text under `path`, atomically."""
    _atomic_write(path, text)


def staged_text(path: Path, text: str) -> Path:
    """`text` in a private temporary file beside `path`, on disk, to be renamed into place.

    Nothing is left behind if it cannot be written whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def _atomic_write(path: Path, text: str) -> None:
    temporary = staged_text(path, text)
    try:
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

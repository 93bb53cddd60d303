"""CSV tables: the rows of a file, as a spreadsheet numbers them."""

from __future__ import annotations

from pathlib import Path


def test_rows_only_keeps_the_header_and_the_rows_asked_as_they_were(tmp_path: Path) -> None:
    """BOM, CRLF, quoting, a blank line and a last line without its end: row r is line r."""
    from pts_optimiser.io.tables import read_table, rows_only

    data = ('\ufeffjourney_id,note\r\nJ1,"a, b"\r\n\r\nJ3,é\r\nJ4,last').encode()
    table = read_table(tmp_path / "t.csv", data=data)
    numbers = dict(zip((r["journey_id"] for r in table.rows), table.row_numbers, strict=True))
    assert numbers == {"J1": 2, "J3": 4, "J4": 5}
    assert rows_only(data, {2, 5}) == '\ufeffjourney_id,note\r\nJ1,"a, b"\r\nJ4,last'.encode()
    kept = read_table(tmp_path / "t.csv", data=rows_only(data, {numbers["J3"]}))
    assert [dict(r) for r in kept.rows] == [{"journey_id": "J3", "note": "é"}]

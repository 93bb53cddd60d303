"""Text from the day's files made safe for where it is written.

Labels, ids, vehicle types and a booking's extra columns are free text typed by people or
exported by other systems; whatever they hold must not run as script in a page, as a
formula in a spreadsheet, or break a file name. One function per context:

- `clean`: what people read; control and bidirectional-override characters removed.
- `html_text`: HTML element content and quoted attribute values.
- `script_json`: data embedded in a `<script>` element.
- `to_cell`, `from_cell`: spreadsheet formula neutralisation (OWASP "CSV injection"), done
  so that reading a cell back gives the text written, exactly.
- `unique_names`, `file_stems`, `sheet_names`: file and sheet names from ids: legal
  characters, bounded length, never a reserved name, never two ids on one name.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable

# Bidirectional embeddings, overrides and isolates, and the marks: they reorder what is
# shown (an id can be made to read as another), so text people read goes without them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_LIKE = frozenset("\t\n\r\u2028\u2029\x85")


def clean(text: object) -> str:
    """Text for people: control, bidi, non- and lone surrogate characters gone, lines spaced.

    Tabs, line breaks and the Unicode line/paragraph separators become a space; other
    control characters (which also make a workbook unwritable) are dropped.
    """
    out = []
    for char in str(text):
        if char in _LINE_LIKE:
            out.append(" ")
        elif (char in _BIDI or unicodedata.category(char) in ("Cc", "Cs")
              or _noncharacter(char)):
            continue
        else:
            out.append(char)
    return "".join(out)


def _noncharacter(char: str) -> bool:
    """U+FDD0-FDEF and U+xFFFE/xFFFF: not allowed in XML, so a workbook holding one breaks."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def html_text(text: object) -> str:
    """Cleaned text as HTML element content or a double- or single-quoted attribute value."""
    return html.escape(clean(text), quote=True)


_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "`": "\\u0060",
                   "$": "\\u0024", "'": "\\u0027", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_SPECIAL = re.compile("[<>&`$'\u2028\u2029]")


def script_json(value: object) -> str:
    """JSON for a `<script>` element: a JSON data block, or a JS expression.

    No `</script>` or `<!--` can close or comment the element (<, >, & escaped), no
    backtick or `${` can end or interpolate a template literal it may sit in, no quote
    can end a string, U+2028/2029 cannot end a line in older engines; JSON.parse and JS
    read the same value back.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return _SCRIPT_SPECIAL.sub(lambda m: _SCRIPT_ESCAPES[m.group(0)], text)


# A cell starting with one of these is read as a formula by Excel, LibreOffice or Sheets.
FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _formula_like(text: str) -> bool:
    body = text.lstrip("'")
    return bool(body) and body[0] in FORMULA_START and not _NUMBER.fullmatch(text)


def to_cell(text: str) -> str:
    """Text for a CSV cell a spreadsheet may open: a formula-like cell gets a leading '.

    Plain numbers (a negative longitude) stay numbers. Text that already starts with
    quotes before a formula character gets one more, so `from_cell` undoes exactly this.
    """
    return "'" + text if _formula_like(text) else text


def from_cell(text: str) -> str:
    """The text `to_cell` was given: one leading ' taken off a quoted formula-like cell."""
    if text.startswith("'") and _formula_like(text[1:]):
        return text[1:]
    return text


def formula_like(text: str) -> bool:
    """True when a spreadsheet would take this text as the start of a formula."""
    return _formula_like(text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def unique_names(ids: Iterable[str], allowed: Callable[[str], bool], max_len: int,
                 reserved: Collection[str] = ()) -> dict[str, str]:
    """A distinct, legal, bounded name for every id.

    An id is kept where it is already legal; otherwise characters not `allowed` become _.
    Where that name is empty, too long, reserved, or shared (ignoring case: Windows, macOS
    and Excel do) with another id's, it is shortened and given a short hash of the id, so
    the same set of ids always gets the same names whatever their order.
    """
    unique = list(dict.fromkeys(ids))
    taken = {name.casefold() for name in reserved}
    slugs = {}
    for ident in unique:
        slug = re.sub(r"_+", "_", "".join(c if allowed(c) else "_" for c in clean(ident)))
        slugs[ident] = slug.strip("_ .'") or "_"
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug.casefold()] = counts.get(slug.casefold(), 0) + 1
    names: dict[str, str] = {}
    for ident in unique:
        slug = slugs[ident]
        if (slug == ident and len(slug) <= max_len and counts[slug.casefold()] == 1
                and slug.casefold() not in taken):
            names[ident] = slug
    used = taken | {name.casefold() for name in names.values()}
    for ident in sorted(set(unique) - set(names)):
        digits = 8
        while True:
            tail = "~" + _digest(ident)[:digits] if allowed("~") else "_" + _digest(ident)[
                :digits]
            name = slugs[ident][:max_len - len(tail)].rstrip("_ .'") + tail
            if name.casefold() not in used:
                break
            digits += 4
        names[ident] = name
        used.add(name.casefold())
    return {ident: names[ident] for ident in unique}


# Names our own files take in a folder of run sheets or maps, and names Windows refuses.
RESERVED_FILES = ("overview", "all", "index", "summary", "unassigned", "leaflet", "report",
                  "plan", "rosters", "changes", "bookings", "con", "prn", "aux", "nul",
                  *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10)))
FILE_STEM_MAX = 64


def file_stems(ids: Iterable[str]) -> dict[str, str]:
    """File names (without .html) for vehicle ids: ASCII letters, digits, - and _ only."""
    return unique_names(ids, lambda c: c.isascii() and (c.isalnum() or c in "-_"),
                        FILE_STEM_MAX, RESERVED_FILES)


SUMMARY_SHEET = "Summary"
UNASSIGNED_SHEET = "Not planned"
# Excel refuses these in a sheet name, and a name of more than 31 characters.
_SHEET_FORBIDDEN = frozenset("[]:*?/\\")
SHEET_MAX = 31


def sheet_names(ids: Iterable[str]) -> dict[str, str]:
    """Workbook sheet names for vehicle ids, apart from each other and from our own sheets."""
    return unique_names(ids, lambda c: c not in _SHEET_FORBIDDEN and c.isprintable(),
                        SHEET_MAX, (SUMMARY_SHEET, UNASSIGNED_SHEET, "History"))

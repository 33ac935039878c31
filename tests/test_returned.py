"""The light reader on real issued workbooks, on what other programs write, and on hostile bytes."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from qi_excel import layout as L
from qi_excel.errors import QiError
from qi_excel.package import MAX_FILE_BYTES, ReadError
from qi_excel.returned import read_returned
from qi_excel.sheet_reader import shift_formula
from qi_excel.rubric import shipped_rubric
from xlsx_edit import SCORE_PART, edit_part, fill, full_scores, issued_bytes, read_part, rezip, set_cell

RUBRIC = shipped_rubric()
LAY = L.score_sheet_layout(RUBRIC)


def read_code(data: bytes) -> str:
    with pytest.raises(ReadError) as err:
        read_returned(data, "x.xlsx", rubric=RUBRIC)
    assert str(err.value)  # a Chinese sentence, never empty
    return err.value.code


def test_reads_identity_scores_remarks_suggestions(issued_folder: Path) -> None:
    scores = full_scores(RUBRIC) | {"1.1.2": 7}
    data = fill(issued_bytes(issued_folder, "E01"), RUBRIC, scores, remarks={"1.1.2": "+缺少会议记录"}, sign="周立新")
    data = edit_part(data, "xl/worksheets/sheet2.xml", lambda x: set_cell(
        set_cell(x, "B2", text="@建议建立服务台账"), "C2", text="2.4.1"))
    rw = read_returned(data, "01.xlsx", rubric=RUBRIC)
    assert (rw.kind, rw.expert_id, rw.expert_name) == ("expert", "E01", "周立新")
    assert set(rw.meta) == set(L.META_KEYS)
    assert rw.int_scores() == scores
    assert rw.remarks == {"1.1.2": "+缺少会议记录"}
    assert [(s.text, s.ref) for s in rw.suggestions] == [("@建议建立服务台账", "2.4.1")]
    assert rw.saved_at == "2025-06-18T10:00:00Z"
    assert rw.workbook_protected and rw.score_sheet_protected
    assert rw.sheet(L.META_SHEET).state == "veryHidden"
    assert rw.defined_names[L.score_name("1.1.1")] == "'评分表'!$G$5"
    total = rw.cell(LAY.total_row.score_ref)
    assert total.kind == "formula" and total.formula.startswith("SUM(") and total.number() == 997


def test_blank_issued_workbook_reads_blank_scores(issued_folder: Path) -> None:
    rw = read_returned(issued_bytes(issued_folder, "E02"), "02.xlsx", rubric=RUBRIC)
    assert len(rw.scores) == len(RUBRIC.score_cells) and all(c.is_blank for c in rw.scores.values())
    with pytest.raises(QiError):
        rw.int_scores()


def test_namespace_prefixes_and_missing_positions(issued_folder: Path) -> None:
    """A writer with other prefixes, no r= on rows or cells, inline strings: same content."""
    data = fill(issued_bytes(issued_folder, "E01"), RUBRIC, sign="周立新")
    expected = read_returned(data, "a", rubric=RUBRIC)

    def rewrite(xml: str) -> str:
        root = ET.fromstring(xml.encode("utf-8"))
        ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
        for row in root.iter(ns + "row"):
            row.attrib.pop("r", None)
            cells = list(row)
            # keep only cells up to the last non-empty one, give every position a cell
            by_col = {re.match(r"[A-Z]+", c.get("r")).group(0): c for c in cells}
            for c in cells:
                row.remove(c)
            last = max((i for i, col in enumerate("ABCDEFGH", 1) if col in by_col), default=0)
            for col in "ABCDEFGH"[:last]:
                c = by_col.get(col) or ET.Element(ns + "c")
                c.attrib.pop("r", None)
                row.append(c)
        ET.register_namespace("x", ns[1:-1])
        return ET.tostring(root, encoding="unicode")

    other = edit_part(data, SCORE_PART, rewrite)
    assert b"<x:c" in read_part(other, SCORE_PART) and b' r="G5"' not in read_part(other, SCORE_PART)
    got = read_returned(other, "b", rubric=RUBRIC)
    assert got.scores == expected.scores and got.grid == expected.grid
    assert got.sign_name == "周立新"


def test_shared_formula_followers_are_translated() -> None:
    assert shift_formula("SUM(G5:G7)+$G$2", 3, 0) == "SUM(G8:G10)+$G$2"
    assert shift_formula('IF(A1="B2",C3,D$4)', 1, 1) == 'IF(B2="B2",D4,E$4)'


def test_not_a_zip_or_empty() -> None:
    assert read_code(b"") == "NOT_WORKBOOK"
    assert read_code("专家,得分\n周立新,900\n".encode("gb18030")) == "NOT_WORKBOOK"
    assert read_code(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == "NOT_WORKBOOK"


def test_truncated_download_is_corrupt(issued_folder: Path) -> None:
    data = issued_bytes(issued_folder, "E01")
    assert read_code(data[: len(data) // 2]) == "CORRUPT"


def test_damaged_member_is_corrupt(issued_folder: Path) -> None:
    data = bytearray(issued_bytes(issued_folder, "E01"))
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo(SCORE_PART)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 100, start + 400):
        data[i] ^= 0x5A
    assert read_code(bytes(data)) == "CORRUPT"


def test_renamed_docx(tmp_path: Path) -> None:
    import docx

    doc = docx.Document()
    doc.add_paragraph("专家评分意见")
    buf = io.BytesIO()
    doc.save(buf)
    assert read_code(buf.getvalue()) == "WRONG_TYPE_DOCX"


def test_plain_zip_and_ods_like_zip() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("评分表.txt", "x")
    assert read_code(buf.getvalue()) == "NOT_WORKBOOK"


def test_zip_bomb_refused_before_decompressing(issued_folder: Path) -> None:
    bomb = rezip(issued_bytes(issued_folder, "E01"), add={"xl/media/image1.png": b"\0" * (60 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    assert read_code(bomb) == "ZIP_BOMB"


def test_too_large() -> None:
    assert read_code(b"PK" + b"\0" * MAX_FILE_BYTES) == "TOO_LARGE"


def test_entity_expansion_refused(issued_folder: Path) -> None:
    lol = ('<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&b;</t></si></sst>')
    data = rezip(issued_bytes(issued_folder, "E01"), {"xl/sharedStrings.xml": lol.encode()})
    assert read_code(data) == "CORRUPT"


def _compound_file(streams: list[str]) -> bytes:
    """A minimal OLE2 compound file whose directory names ``streams`` (what Office writes for
    an encrypted .xlsx: EncryptionInfo + EncryptedPackage, or a .xls: Workbook)."""
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIII", header, 44, 1, 1, 0, 0x1000)  # one FAT sector, directory at sector 1
    struct.pack_into("<III", header, 60, 0xFFFFFFFE, 0, 0xFFFFFFFE)
    header[76:80] = struct.pack("<I", 0)
    header[80:512] = b"\xff" * 432
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<III", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFE)
    directory = bytearray()
    for i, name in enumerate(["Root Entry", *streams]):
        entry = bytearray(128)
        raw = name.encode("utf-16-le") + b"\0\0"
        entry[0 : len(raw)] = raw
        struct.pack_into("<HBB", entry, 64, len(raw), 5 if i == 0 else 2, 1)
        struct.pack_into("<III", entry, 68, 0xFFFFFFFF, 0xFFFFFFFF, 1 if i == 0 else 0xFFFFFFFF)
        directory += entry
    directory += b"\0" * (512 - len(directory))
    return bytes(header + fat + directory)


def test_password_encrypted_and_legacy_compound_files() -> None:
    assert read_code(_compound_file(["EncryptionInfo", "EncryptedPackage"])) == "ENCRYPTED"
    assert read_code(_compound_file(["Workbook", "SummaryInformation"])) == "LEGACY_XLS"
    assert read_code(_compound_file(["WordDocument"])) == "WRONG_TYPE"


def test_odd_digits_in_row_and_cell_numbers_do_not_crash(issued_folder: Path) -> None:
    """Superscript digits pass str.isdigit() but not int(): the reader must not fall over."""
    data = fill(issued_bytes(issued_folder, "E01"), RUBRIC, scores=full_scores(RUBRIC), sign="周立新")
    odd = edit_part(data, SCORE_PART, lambda xml: xml.replace('<row r="6"', '<row r="\u00b2"', 1)
                    .replace('r="H40"', 'r="H4\u00b2"', 1))
    rw = read_returned(odd, "odd.xlsx", rubric=RUBRIC)
    assert rw.meta["expert_id"] == "E01"


# ───────────────────── adversarial review: what no spreadsheet program writes ─────────────────────


@pytest.mark.parametrize("literal", ["１０", "١٠", "1_0", "NaN", "Infinity", "1e999999999", "1" * 400, " "])
def test_numbers_no_program_writes_are_not_numbers(literal: str) -> None:
    """Decimal takes all of these; Excel shows none of them as a number (and int(1e999999999) never ends)."""
    from qi_excel.sheet_reader import RawCell

    assert RawCell("G5", "number", literal).number() is None


@pytest.mark.parametrize("literal, value", [("10", 10), ("1E1", 10), ("10.0", 10), ("+10", 10), (" 10 ", 10), ("1e30", 10**30)])
def test_numbers_programs_write_are_numbers(literal: str, value: int) -> None:
    from qi_excel.sheet_reader import RawCell

    assert RawCell("G5", "number", literal).number() == value
    assert RawCell("G5", "number", literal).text() == str(value)  # no quantize overflow for 1e30


def _with_duplicate(data: bytes, part: str, body: bytes, *, first: bool) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        if first:
            dst.writestr(part.upper() if part.startswith("xl/") else part, body)  # names are case-insensitive
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        if not first:
            dst.writestr(part, body)
    return out.getvalue()


@pytest.mark.parametrize("first", [True, False])
def test_duplicate_part_names_are_ambiguous_and_rejected(issued_folder: Path, first: bool) -> None:
    """Two copies of the score sheet: Excel and this reader could each read a different one."""
    good = fill(issued_bytes(issued_folder, "E01"), RUBRIC)
    ref = LAY.row_for(RUBRIC.score_cells[0].id).score_ref
    tampered = set_cell(read_part(good, SCORE_PART).decode(), ref, number=99).encode()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is told to write
        data = _with_duplicate(good, SCORE_PART, tampered, first=first)
    assert read_code(data) == "CORRUPT"


def test_cell_written_twice_is_rejected(issued_folder: Path) -> None:
    good = fill(issued_bytes(issued_folder, "E01"), RUBRIC)
    ref = LAY.row_for(RUBRIC.score_cells[0].id).score_ref
    data = edit_part(good, SCORE_PART, lambda x: x.replace(f'<c r="{ref}"', f'<c r="{ref}"><v>99</v></c><c r="{ref}"', 1))
    assert read_code(data) == "CORRUPT"


def test_two_sheets_with_one_name_are_rejected(issued_folder: Path) -> None:
    good = fill(issued_bytes(issued_folder, "E01"), RUBRIC)
    data = edit_part(good, "xl/workbook.xml", lambda x: x.replace('name="填写说明"', f'name="{L.SCORE_SHEET}"'))
    assert read_code(data) == "CORRUPT"


def test_numbers_too_long_to_convert_are_corrupt(issued_folder: Path) -> None:
    """A 5,000-digit row number makes int() raise ValueError; that is a damaged file, not a crash."""
    good = issued_bytes(issued_folder, "E01")
    assert read_code(edit_part(good, SCORE_PART, lambda x: x.replace('<row r="1"', f'<row r="{"9" * 5000}"', 1))) == "CORRUPT"
    assert read_code(edit_part(good, SCORE_PART, lambda x: x.replace('<c r="A1"', f'<c r="A{"9" * 5000}"', 1))) == "CORRUPT"


def test_free_text_longer_than_a_cell_is_clipped_and_formulas_kept_as_typed(issued_folder: Path) -> None:
    """Excel cells hold 32,767 characters; longer text is hand-made and would be cut by every writer."""
    from qi_excel.returned import EXCEL_CELL_CHARS

    ident = RUBRIC.score_cells[0].id
    data = fill(issued_bytes(issued_folder, "E01"), RUBRIC, remarks={ident: "长" * 40_000})
    first = f"{L.SUGGESTION_TEXT_COL}{L.SUGGESTION_FIRST_ROW}"
    data = edit_part(data, "xl/worksheets/sheet2.xml", lambda x: set_cell(x, first, formula="1+1", cached=2))
    rw = read_returned(data, "x.xlsx", rubric=RUBRIC)
    assert len(rw.remarks[LAY.row_for(ident).id]) == EXCEL_CELL_CHARS
    assert rw.suggestions[0].text == "=1+1"  # as typed, like a remark, not the cached 2

"""Where everything sits in an issued score workbook: the contract of writer and reader.

The writer lays the 评分表 out from these positions and the reader checks a returned file
against the very same positions, so a row inserted, deleted or moved by an expert is seen
as a difference from what this module computes for the rubric. Nothing here does I/O.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:  # types only: the rubric's limit check asks this module for names
    from .rubric import Item, Rubric, ScoreCell

LAYOUT_VERSION = "1"

SCORE_SHEET = "评分表"
SUGGESTION_SHEET = "改进建议"
GUIDE_SHEET = "填写说明"
META_SHEET = "_qi"  # veryHidden; identity cells (see META_KEYS)

# 评分表 columns
COL_LEVEL1 = "A"  # 一级指标, written in every item/part row (a merged label prints only once)
COL_LEVEL2 = "B"  # 二级指标, written in every item/part row
COL_REQUIREMENT = "C"  # 内容要求 (merged per second-level indicator and printed page)
COL_ID = "D"  # 编号: item id ("1.1.1") or part id ("2.4.1.1"); labels on subtotal rows
COL_CRITERION = "E"  # 评分标准 (items) / part name (parts)
COL_MAX = "F"  # 分值
COL_SCORE = "G"  # 得分: input on item/part rows, formula on item-with-parts and total rows
COL_NOTE = "H"  # 扣分说明/备注
COLUMNS = (COL_LEVEL1, COL_LEVEL2, COL_REQUIREMENT, COL_ID, COL_CRITERION, COL_MAX, COL_SCORE, COL_NOTE)
HEADERS = ("一级指标", "二级指标", "内容要求", "编号", "评分标准", "分值", "得分", "扣分说明/备注")

TITLE_ROW = 1  # A1:H1 title, and below it a one-line hint (填写说明, items placed unlike the print)
INFO_ROWS = (2, 3)  # 服务名称 / 评价专家 ; 申报单位 / 填写进度
EXPERT_NAME_CELL = "G2"  # defined name expert_name
PROGRESS_CELL = "G3"  # "已填 N/M" formula
HEADER_ROW = 4
FIRST_BODY_ROW = 5

# 改进建议 sheet: header in row 1, one suggestion per row in SUGGESTION_ROWS, column B text
SUGGESTION_COLUMNS = ("序号", "评价发现 / 改进建议", "相关指标")
SUGGESTION_FIRST_ROW = 2
SUGGESTION_ROW_COUNT = 30
SUGGESTION_TEXT_COL = "B"
SUGGESTION_REF_COL = "C"

# _qi sheet: key in column A, value in column B, row i+1 for META_KEYS[i]
META_KEYS = (
    "kind",  # "expert" or "self"
    "evaluation_id",
    "expert_id",  # "E01".. for experts, "SELF" for the self-evaluation
    "expert_name",
    "rubric_fingerprint",
    "issued_at",  # ISO 8601, seconds, with offset
    "layout_version",
    "signature",  # HMAC-SHA256 hex over identity.SIGNED_FIELDS and the rubric text
)

RowKind = Literal["item", "part", "level2_total", "level1_total", "total"]


# The records below are named tuples rather than frozen dataclasses (as immutable, compared
# field by field; a changed copy is ``x._replace(...)``): defining a frozen dataclass costs ~1 ms,
# and every fresh ``collect`` and ``status`` defines these.
class Row(NamedTuple):
    """One body row of the 评分表."""

    row: int
    kind: RowKind
    id: str  # item / part id; level id ("1.1", "1") for subtotals; "total" for the grand total
    label: str  # what column D/E shows on subtotal rows; part or item name otherwise
    max: int
    cell: ScoreCell | None  # the input on item-without-parts and part rows
    item: Item | None  # the item this row belongs to (item and part rows)
    sum_rows: tuple[int, ...]  # rows whose score cells this row's formula adds up

    @property
    def is_input(self) -> bool:
        return self.cell is not None

    @property
    def score_ref(self) -> str:
        return f"{COL_SCORE}{self.row}"

    @property
    def note_ref(self) -> str:
        return f"{COL_NOTE}{self.row}"


class SheetLayout(NamedTuple):
    """Where every row, the signature and the date sit in the 评分表 of one rubric."""

    rows: tuple[Row, ...]
    sign_row: int  # 专家签名 label in A, signature space B:D (merged); 日期 label in F, date in G:H (merged)
    signature_cell: str  # where the expert writes the name (print/sign); defined name expert_sign
    sign_date_cell: str  # defined name sign_date
    last_row: int

    @property
    def inputs(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.is_input)

    @property
    def total_row(self) -> Row:
        return self.rows[-1]

    def row_for(self, ident: str) -> Row:
        for r in self.rows:
            if r.id == ident:
                return r
        raise KeyError(ident)


# Workbook-scoped defined names besides score_<id> / note_<id>
NAME_EXPERT = "expert_name"  # EXPERT_NAME_CELL
NAME_SIGNATURE = "expert_sign"  # SheetLayout.signature_cell
NAME_SIGN_DATE = "sign_date"  # SheetLayout.sign_date_cell
NAME_TOTAL = "total"  # the total row's score cell
NAME_PROGRESS = "progress"  # PROGRESS_CELL


def score_name(ident: str) -> str:
    return "score_" + ident.replace(".", "_")


def note_name(ident: str) -> str:
    return "note_" + ident.replace(".", "_")


@lru_cache(maxsize=8)
def score_sheet_layout(rubric: Rubric) -> SheetLayout:
    """Rows of the 评分表 for ``rubric``: items (and their parts), then subtotals, then total."""
    rows: list[Row] = []
    n = FIRST_BODY_ROW
    level1_total_rows: list[int] = []
    for l1 in rubric.level1:
        level2_total_rows: list[int] = []
        for l2 in l1.level2:
            item_rows: list[int] = []
            for item in l2.items:
                if item.parts:
                    item_row = n
                    part_rows = tuple(range(n + 1, n + 1 + len(item.parts)))
                    rows.append(Row(n, "item", item.id, item.level2, item.max, None, item, part_rows))
                    n += 1
                    for cell in item.cells:
                        assert cell.part is not None
                        rows.append(Row(n, "part", cell.id, cell.part.name, cell.max, cell, item, ()))
                        n += 1
                else:
                    item_row = n
                    rows.append(Row(n, "item", item.id, item.level2, item.max, item.cells[0], item, ()))
                    n += 1
                item_rows.append(item_row)
            rows.append(Row(n, "level2_total", l2.id, f"{l2.name} 小计", l2.points, None, None, tuple(item_rows)))
            level2_total_rows.append(n)
            n += 1
        rows.append(Row(n, "level1_total", l1.id, f"{l1.name} 合计", l1.points, None, None, tuple(level2_total_rows)))
        level1_total_rows.append(n)
        n += 1
    rows.append(Row(n, "total", "total", "总分", rubric.total, None, None, tuple(level1_total_rows)))
    sign_row = n + 2
    return SheetLayout(
        rows=tuple(rows),
        sign_row=sign_row,
        signature_cell=f"B{sign_row}",
        sign_date_cell=f"G{sign_row}",
        last_row=sign_row,
    )


# ───────────────────────── experts' commitment (clauses 4.3, 8.1.1) ─────────────────────────
# Expert score workbooks only (never the self-evaluation). The block sits below the signature
# line of 评分表: the text merged over A:H, then a confirm row whose label spans A:F and whose
# input G:H (merged) carries the defined name ``commitment`` and accepts exactly 同意.

NAME_COMMITMENT = "commitment"
COMMITMENT_VALUE = "同意"
COMMITMENT_GAP = 2  # rows from the signature row to the commitment text row
COMMITMENT_COL = COL_SCORE  # the confirm cell's column (merged to COL_NOTE)


def commitment_rows(lay: SheetLayout) -> tuple[int, int]:
    """(text row, confirm row) of the commitment block under ``lay``'s signature line."""
    text_row = lay.sign_row + COMMITMENT_GAP
    return text_row, text_row + 1


def commitment_cell(lay: SheetLayout) -> str:
    """Where the expert confirms the commitment (the defined name ``commitment``)."""
    return f"{COMMITMENT_COL}{commitment_rows(lay)[1]}"

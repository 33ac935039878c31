"""检查报告.xlsx is forwarded to experts: Chinese names, the files as sent, paths that are right."""

from __future__ import annotations

import os
from pathlib import Path

from openpyxl import load_workbook

from qi_excel import evaluation as ev
from qi_excel.check_report import path_shortener
from qi_excel.findings import REGISTRY, finding_name
from qi_excel.collect import collect
from qi_excel.rubric import shipped_rubric
from xlsx_edit import full_scores, put, returned

RUBRIC = shipped_rubric()


def test_every_finding_code_has_a_chinese_name():
    assert all(not any("A" <= ch <= "Z" for ch in t.name.replace("ODS", "").replace("Word", ""))
               for t in REGISTRY.values())
    assert len({t.name for t in REGISTRY.values()}) == len(REGISTRY)  # one filter value per kind
    assert finding_name("SCORE_NOT_ALLOWED") == "分值不允许"
    assert finding_name("SOMETHING_NEW") == "其他问题"


def test_paths_are_shortened_only_where_the_folder_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x" / "评价").mkdir(parents=True)
    shown = path_shortener(Path("x/评价"))
    absolute = str(tmp_path / "x" / "评价" / "收件箱" / "a.xlsx")
    assert shown(f"见 {absolute}，保存于") == f"见 收件箱{os.sep}a.xlsx，保存于"
    assert shown("x/评价/收件箱/a.xlsx") == "收件箱/a.xlsx"
    # the same names inside another path are not the folder
    assert shown("/srv/x/评价/收件箱/a.xlsx") == "/srv/x/评价/收件箱/a.xlsx"


def _report_rows(path: Path) -> tuple[list[list], list[list]]:
    wb = load_workbook(path)
    rows = [[c.value for c in r] for r in wb["检查结果"].iter_rows(min_row=3)]
    people = [[c.value for c in r] for r in wb["专家进度"].iter_rows(min_row=3)]
    return rows, people


def test_relative_folder_from_another_directory(issued_folder: Path, tmp_path: Path, monkeypatch):
    """A superseded message used to cite the newer file with the folder's name cut from its middle."""
    inbox = issued_folder / ev.INBOX_DIR
    put(inbox / "第二版.xlsx", returned(issued_folder, "E01", "周立新", saved_at="2025-06-19T09:00:00Z",
                                     scores=full_scores(RUBRIC) | {"1.1.1": 9}, remarks={"1.1.1": "复核后扣 1 分"}))
    put(inbox / "第一版.xlsx", returned(issued_folder, "E01", "周立新", saved_at="2025-06-18T09:00:00Z"))
    elsewhere = tmp_path / "别处"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = Path(os.path.relpath(issued_folder, elsewhere))
    assert not relative.is_absolute() and ".." in relative.parts
    result = collect(relative)
    rows, people = _report_rows(issued_folder / ev.CHECK_REPORT_FILE)
    superseded = next(r for r in rows if r[6] == "已被新文件替代")
    assert f"（{ev.INBOX_DIR}{os.sep}第二版.xlsx，收到于 " in superseded[8], superseded[8]
    assert superseded[3] == f"{ev.INBOX_DIR}{os.sep}第一版.xlsx" or superseded[3].endswith("第一版.xlsx")
    assert not any(str(tmp_path) in str(v) for r in rows for v in r if v)
    e01 = next(p for p in people if p[0] == "E01")
    assert e01[6].endswith("第二版.xlsx")  # the file as the expert sent it, not the stored copy's hash name
    assert not any(len(part) >= 16 and all(ch in "0123456789abcdef" for ch in part)
                   for p in people for part in str(p[6] or "").replace(".", "-").split("-"))
    assert result.files


def test_long_names_get_the_rows_they_need(tmp_path: Path):
    from qi_excel.check_report import write_check_report
    from qi_excel.ledger import LedgerEntry

    name = "长沙县质量基础设施“一站式”服务中心"
    entry = LedgerEntry("0" * 64, expert_id="SELF", expert_name=name, label="收件箱/自评.xlsx")
    path = write_check_report(tmp_path / "检查报告.xlsx", [(entry, "accepted", ())], [])
    ws = load_workbook(path)["检查结果"]
    assert ws["C3"].value == name
    assert ws.row_dimensions[3].height >= 2 * 14  # the name wraps onto lines the row shows

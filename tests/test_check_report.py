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
    # arrival decides which version counts: the first version arrived a day before the second
    put(inbox / "第二版.xlsx", returned(issued_folder, "E01", "周立新", saved_at="2025-06-19T09:00:00Z",
                                     scores=full_scores(RUBRIC) | {"1.1.1": 9}, remarks={"1.1.1": "复核后扣 1 分"}),
        mtime=1_750_323_600)
    put(inbox / "第一版.xlsx", returned(issued_folder, "E01", "周立新", saved_at="2025-06-18T09:00:00Z"),
        mtime=1_750_237_200)
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


def _report_inputs(message: str):
    from qi_excel.collect import ExpertStatus
    from qi_excel.findings import Finding
    from qi_excel.ledger import LedgerEntry

    bad = Finding("SCORE_NOT_ALLOWED", "error", "评分表!G5", message)
    note = Finding("SUPERSEDED", "warning", None, "已被新文件替代")
    rejected = LedgerEntry("1" * 64, expert_id="E01", expert_name="周立新", label="收件箱/a.xlsx",
                           first_seen="2025-06-18T09:30:05+08:00")
    accepted = LedgerEntry("2" * 64, expert_id="E02", expert_name="陈晓岚", label="收件箱/b.xlsx",
                           first_seen="2025-06-17T08:00:00+08:00", stored="E02-2222.xlsx")
    rows = [(rejected, "rejected", (bad, note)), (accepted, "accepted", ())]
    people = [ExpertStatus("E01", "周立新", "a@example.com", True, None, 1, False, None, None, (bad,)),
              ExpertStatus("E02", "陈晓岚", "b@example.com", True, None, 1, True, "E02-2222.xlsx", None, ())]
    return rows, people


def test_report_keeps_its_look_and_expert_text_as_text(tmp_path: Path):
    """Colours say what to do; an expert's "=..." stays text; hostile characters cannot break it."""
    from qi_excel.check_report import write_check_report

    message = "=HYPERLINK(\"http://x\") 分值\x01不允许\ud800 _x0041_"
    path = write_check_report(tmp_path / "检查报告.xlsx", *_report_inputs(message))
    wb = load_workbook(path)
    ws = wb["检查结果"]
    assert [c.value for c in ws[3]][1:] == ["E01", "周立新", "收件箱/a.xlsx", "拒收", "拒收", "分值不允许", "评分表!G5",
                                            "=HYPERLINK(\"http://x\") 分值_x0001_不允许\ufffd _x0041_"]
    assert ws["I3"].data_type == "s" and ws["A3"].value == 1 and ws["A5"].value == 3
    assert ws["E3"].font.color.rgb == ws["F3"].font.color.rgb == "FFC00000" and ws["F3"].font.b
    assert ws["F4"].font.color.rgb == "FF9C5700" and ws["I5"].font.color.rgb == "FF006100"
    assert ws["I5"].value == "检查通过，已接收。"
    head = ws["A2"]
    assert (head.font.name, head.font.sz, head.font.b, head.fill.fgColor.rgb) == ("等线", 10, True, "FFDDEBF7")
    assert (ws["C3"].alignment.vertical, ws["C3"].alignment.wrap_text, ws["C3"].border.left.style) == ("top", True, "thin")
    assert (ws["A1"].font.sz, ws["A1"].font.b) == (14, True)
    assert ws.column_dimensions["I"].width == 62.7109375 and ws.freeze_panes == "A3" and ws.auto_filter.ref == "A2:I5"
    assert ws.print_title_rows == "$1:$2" and ws.page_setup.orientation == "landscape" and ws.page_setup.fitToHeight == 0
    assert ws.oddFooter.center.text == "第 &P 页，共 &N 页"
    st = wb["专家进度"]
    assert [c.value for c in st[3]][:6] == ["E01", "周立新", "a@example.com", "是", 1, "已交回但被拒收，需退回修改"]
    assert st["F3"].font.color.rgb == "FFC00000" and st["F4"].font.color.rgb == "FF006100"
    assert st["G4"].value == "收件箱/b.xlsx" and st["H3"].value.startswith("拒收：=HYPERLINK")
    assert st.auto_filter.ref == "A2:H4" and st.freeze_panes == "A3"
    assert wb.properties.title == "回收检查报告" and wb.properties.created.isoformat() == "2025-06-18T09:30:05"


def test_unchanged_report_is_left_untouched(tmp_path: Path):
    from qi_excel.check_report import write_check_report

    path = write_check_report(tmp_path / "检查报告.xlsx", *_report_inputs("分值不允许"))
    os.utime(path, (1_700_000_000, 1_700_000_000))
    data = path.read_bytes()
    write_check_report(path, *_report_inputs("分值不允许"))
    assert path.stat().st_mtime == 1_700_000_000 and path.read_bytes() == data
    write_check_report(path, *_report_inputs("分值不允许。"))
    assert path.stat().st_mtime != 1_700_000_000 and path.read_bytes() != data


def test_collect_does_not_import_xlsxwriter(issued_folder: Path):
    """Writing the report is the light writer's job: a fresh collect never loads XlsxWriter."""
    import subprocess
    import sys

    put(issued_folder / ev.INBOX_DIR / "a.xlsx", returned(issued_folder, "E01", "周立新"))
    probe = ("import sys; from qi_excel.cli import main\n"
             "try:\n    main(['collect', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
             "print('XLSXWRITER' if 'xlsxwriter' in sys.modules else 'LIGHT')")
    out = subprocess.run([sys.executable, "-c", probe, str(issued_folder)], capture_output=True, text=True,
                         env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])}, timeout=120)
    assert out.stdout.strip().endswith("LIGHT"), out.stdout + out.stderr
    assert (issued_folder / ev.CHECK_REPORT_FILE).is_file()

"""The evaluation folder, 评价项目.xlsx, panel rules (clause 7.2) and issuing into the folder."""

from __future__ import annotations

import datetime
import email
import email.header
import email.policy
import hashlib
import json
from pathlib import Path

import openpyxl
import pytest

from qi_excel.errors import QiError
from qi_excel.evaluation import (
    ISSUE_DIR, ISSUED_FILE, PANEL_SHEET, PROJECT_FILE, SECRET_FILE, Expert, cell_text, check_panel,
    is_senior_title, load_issued, load_project, load_secret, new_evaluation, sample_info, sample_panel,
)
from qi_excel.resources import template_path
from qi_excel.workbook import issue_workbooks


def _experts(n: int = 5) -> list[Expert]:
    return [Expert(i, f"专家{i}", "高级工程师", "单位", "计量", "", f"e{i}@example.com", "组长" if i == 1 else "成员")
            for i in range(1, n + 1)]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ───────────────────────────── pure panel rules ─────────────────────────────


def test_a_good_panel_has_no_problems():
    assert check_panel(_experts(5)) == []
    assert check_panel(list(sample_panel().experts)) == []


def test_panel_rules_each_named():
    four = _experts(4)
    assert [p.message for p in check_panel(four)] == ["专家组只有 4 名专家；规范 7.2 条要求不少于 5 人"]

    two_leaders = _experts(5)
    two_leaders[3] = Expert(4, "专家4", "教授", "", "", "", "", "组长")
    problems = check_panel(two_leaders, rows=[3, 4, 5, 6, 7])
    assert [p.text for p in problems] == ["专家组：有 2 位组长（第 3、6 行）：专家组只能有一位组长"]

    no_leader = [Expert(e.number, e.name, e.title, "", "", "", "", "成员") for e in _experts(5)]
    assert "没有组长" in check_panel(no_leader)[0].message

    dup = _experts(5)
    dup[4] = Expert(5, "专家2", "教授", "", "", "", "", "成员")
    (p,) = check_panel(dup, rows=[3, 4, 5, 6, 7])
    assert p.text == "专家组 第 7 行：姓名“专家2”重复（与第 4 行相同）"

    blank = _experts(5)
    blank[2] = Expert(3, "", "教授", "", "", "", "", "成员")
    assert check_panel(blank, rows=[3, 4, 5, 6, 7])[0].text == "专家组 第 5 行：姓名为空"

    bad_role = _experts(5)
    bad_role[1] = Expert(2, "专家2", "教授", "", "", "", "", "副组长")
    assert "角色“副组长”无效" in check_panel(bad_role)[0].message

    bad_mail = _experts(5)
    bad_mail[1] = Expert(2, "专家2", "教授", "", "", "", "not-an-address", "成员")
    assert "邮箱“not-an-address”格式不正确" in check_panel(bad_mail)[0].message


def test_titles_senior_or_warning():
    for title in ("正高级工程师", "高级工程师", "高级经济师", "教授", "副教授", "研究员", "副研究员",
                  "教授级高工", "主任医师", "副编审", "高级会计师"):
        assert is_senior_title(title), title
    for title in ("工程师", "助理研究员", "讲师", "经济师", "处长", "abc123", ""):
        assert not is_senior_title(title), title
    junk = _experts(5)
    junk[4] = Expert(5, "专家5", "abc123", "", "", "", "", "成员")
    (p,) = check_panel(junk)
    assert p.severity == "warning" and "abc123" in p.message and "--accept-titles" in p.message
    empty = _experts(5)
    empty[4] = Expert(5, "专家5", "", "", "", "", "", "成员")
    assert check_panel(empty)[0].severity == "error"


def test_cell_text_reads_what_the_organizer_typed():
    assert cell_text(None) == ""
    assert cell_text(13907310001) == "13907310001"
    assert cell_text(13907310001.0) == "13907310001"
    assert cell_text(datetime.datetime(2025, 6, 18)) == "2025-06-18"
    assert cell_text(datetime.datetime(2025, 6, 18, 9, 30)) == "2025-06-18 09:30"
    assert cell_text(datetime.date(2025, 6, 18)) == "2025-06-18"
    assert cell_text("  周\x07立新 \n ") == "周立新"
    assert cell_text("第一行\r\n 第二行 ", multiline=True) == "第一行\n第二行"


# ───────────────────────────── the folder ─────────────────────────────


def test_new_sample_folder_round_trips(tmp_path):
    folder = tmp_path / "评价"
    written = new_evaluation(folder, sample=True)
    assert {p.name for p in written} == {PROJECT_FILE, "secret.json", "rubric.toml", "保护密码.txt"}
    assert (folder / ISSUE_DIR).is_dir() and (folder / "收件箱").is_dir()
    info, panel = load_project(folder)
    assert info == sample_info()
    assert panel == sample_panel()
    assert panel.leader.name == "周立新" and len(panel.experts) == 7
    secret = load_secret(folder)
    assert secret.evaluation_id.startswith("QI-") and len(secret.hmac_key) == 32
    assert secret.password in (folder / "保护密码.txt").read_text(encoding="utf-8")


def test_new_blank_folder_is_the_template_and_refuses_to_overwrite(tmp_path):
    folder = tmp_path / "评价"
    new_evaluation(folder)
    assert (folder / PROJECT_FILE).read_bytes() == template_path("workbook_templates", PROJECT_FILE).read_bytes()
    wb = openpyxl.load_workbook(folder / PROJECT_FILE)
    assert wb.sheetnames == ["基本信息", PANEL_SHEET, "申请材料审查"]
    labels = [c.value for c in wb["基本信息"]["A"] if c.value]
    for label in ("服务名称", "申报单位", "地址", "负责人", "联系人", "总体目标和要求", "评价组织", "评价日期",
                  "首次会议", "现场考察", "末次会议"):
        assert label in labels
    header = [c.value for c in wb[PANEL_SHEET][2]]
    assert header == ["序号", "姓名", "职称", "工作单位", "专业领域", "电话", "邮箱", "角色", "未参加原因"]
    with pytest.raises(QiError, match="必填项为空：服务名称（B3）、申报单位（B4）"):
        load_project(folder)
    before = _snapshot(folder)
    with pytest.raises(QiError, match="已建立的评价目录"):
        new_evaluation(folder, sample=True)
    assert _snapshot(folder) == before


def test_template_regenerates_identically_from_the_field_lists():
    """The committed template is what make_templates.py writes (apart from the timestamp)."""
    import io
    import zipfile

    from qi_excel.workbook_project import render_project_template

    shipped = zipfile.ZipFile(template_path("workbook_templates", PROJECT_FILE))
    fresh = zipfile.ZipFile(io.BytesIO(render_project_template()))
    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/sharedStrings.xml"):
        assert shipped.read(name) == fresh.read(name), name


def _edit_roster(folder: Path, edit) -> None:
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(path)


def _bad(folder: Path, match: str, **kwargs) -> None:
    before = _snapshot(folder)
    with pytest.raises(QiError, match=match):
        issue_workbooks(folder, **kwargs)
    assert _snapshot(folder) == before  # nothing written
    assert not list((folder / ISSUE_DIR).iterdir())


def test_bad_roster_four_experts(sample_folder):
    def drop(wb):
        for col in range(2, 9):
            wb[PANEL_SHEET].cell(9, col).value = None
            wb[PANEL_SHEET].cell(8, col).value = None
            wb[PANEL_SHEET].cell(7, col).value = None
    _edit_roster(sample_folder, drop)
    _bad(sample_folder, "专家组只有 4 名专家")


def test_bad_roster_two_leaders(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["H5"], "value", "组长"))
    _bad(sample_folder, r"有 2 位组长（第 3、5 行）")


def test_bad_roster_blank_name_names_the_row(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["B6"], "value", None))
    _bad(sample_folder, "专家组 第 6 行：姓名为空")
    with pytest.raises(QiError, match="专家组 第 6 行：姓名为空"):
        load_project(sample_folder)


def test_bad_roster_junk_title_needs_confirmation(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["C7"], "value", "abc123"))
    load_project(sample_folder)  # a warning, not an error: later steps can read the panel
    _bad(sample_folder, r"专家组 第 7 行：李建国的职称“abc123”不是可识别的高级专业技术职称")
    result = issue_workbooks(sample_folder, accept_titles=True)
    assert len(result.records) == 7 and "abc123" in result.accepted_warnings[0]


def test_bad_roster_malformed_number_and_several_problems(sample_folder):
    def edit(wb):
        ws = wb[PANEL_SHEET]
        ws["A4"].value = "二"
        ws["B8"].value = "周立新"
    _edit_roster(sample_folder, edit)
    before = _snapshot(sample_folder)
    with pytest.raises(QiError) as err:
        issue_workbooks(sample_folder)
    message = str(err.value)
    assert "2 处问题" in message
    assert "专家组 第 4 行：序号“二”应为 1~99 的整数" in message
    assert "专家组 第 8 行：姓名“周立新”重复（与第 3 行相同）" in message
    assert _snapshot(sample_folder) == before


def test_bad_roster_missing_sheet(sample_folder):
    _edit_roster(sample_folder, lambda wb: wb.remove(wb[PANEL_SHEET]))
    _bad(sample_folder, "评价项目.xlsx 缺少工作表“专家组”")


def test_bad_roster_not_an_xlsx(sample_folder):
    (sample_folder / PROJECT_FILE).write_text("姓名,职称\n张三,教授\n", encoding="utf-8")
    _bad(sample_folder, "评价项目.xlsx 不是有效的 Excel 工作簿")


def test_missing_or_broken_secret(tmp_path, sample_folder):
    with pytest.raises(QiError, match="不是评价目录"):
        load_secret(tmp_path)
    (sample_folder / SECRET_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(QiError, match="已损坏"):
        load_secret(sample_folder)


def test_roster_columns_found_by_header_and_blank_rows_skipped(sample_folder):
    def edit(wb):
        ws = wb[PANEL_SHEET]
        ws.insert_rows(12, 3)  # gap rows between members
        ws["B13"].value = "钱进"
        ws["A13"].value = 8
        ws["C13"].value = "副研究员"
        ws["G13"].value = "qianjin@example.com"
    _edit_roster(sample_folder, edit)
    _, panel = load_project(sample_folder)
    assert [e.name for e in panel.experts][-1] == "钱进" and panel.experts[-1].role == "成员"
    assert panel.experts[-1].expert_id == "E08"


# ───────────────────────────── issuing ─────────────────────────────


def test_issue_writes_one_workbook_per_expert_and_records_it(issued_folder):
    records = load_issued(issued_folder)
    assert [r.expert_id for r in records] == ["E01", "E02", "E03", "E04", "E05", "E06", "E07", "SELF"]
    assert records[0].file == f"{ISSUE_DIR}/01-周立新-评分表.xlsx"
    assert records[-1].kind == "self" and records[-1].file.startswith(f"{ISSUE_DIR}/自我评价记录-")
    for r in records:
        assert hashlib.sha256((issued_folder / r.file).read_bytes()).hexdigest() == r.sha256
    data = json.loads((issued_folder / ISSUED_FILE).read_text(encoding="utf-8"))
    assert set(data[0]) == {"expert_id", "name", "file", "kind", "issued_at", "sha256"}
    # issuing again keeps the history; the latest record per expert comes last
    again = issue_workbooks(issued_folder, issued_at="2030-01-01T08:00:00+08:00")
    history = load_issued(issued_folder)
    assert len(history) == 15 and history[-1].issued_at == again.issued_at


def test_self_evaluation_needs_no_panel(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["H5"], "value", "组长"))
    result = issue_workbooks(sample_folder, self_eval=True)
    assert [r.expert_id for r in result.records] == ["SELF"]


def test_unsafe_names_make_safe_file_names(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["B4"], "value", "../../陈/晓岚"))
    result = issue_workbooks(sample_folder)
    files = [r.file for r in result.records]
    assert f"{ISSUE_DIR}/02-陈晓岚-评分表.xlsx" in files
    assert all((sample_folder / f).parent == sample_folder / ISSUE_DIR for f in files)


def test_eml_drafts_are_ready_to_send(sample_folder):
    result = issue_workbooks(sample_folder, eml=True)
    assert len(result.eml_files) == 7
    raw = (sample_folder / result.eml_files[1]).read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["To"]) == "陈晓岚 <chenxiaolan@example.com>"
    assert "陈晓岚" in str(msg["Subject"]) and sample_info().service_name in str(msg["Subject"])
    assert msg["X-Unsent"] == "1"
    body = msg.get_body(("plain",)).get_content()
    assert body.startswith("尊敬的陈晓岚专家") and "扣分说明" in body
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "02-陈晓岚-评分表.xlsx"
    assert attachment.get_content() == (sample_folder / result.records[1].file).read_bytes()
    # RFC 2231 filename* for standard clients, RFC 2047 name= for old Outlook/Foxmail; CRLF lines
    assert attachment["Content-Disposition"].params["filename"] == "02-陈晓岚-评分表.xlsx"
    assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert b'; name="=?utf-8?b?' in raw
    assert str(email.header.make_header(email.header.decode_header(attachment.get_param("name")))) == \
        "02-陈晓岚-评分表.xlsx"
    assert b"\n" not in raw.replace(b"\r\n", b"") and not msg.defects and not attachment.defects


def test_eml_needs_every_address(sample_folder):
    _edit_roster(sample_folder, lambda wb: setattr(wb[PANEL_SHEET]["G5"], "value", None))
    _bad(sample_folder, "第 5 行 刘卫东", eml=True)


def test_self_eml_with_a_malformed_address_is_a_clear_error(sample_folder):
    def edit(wb):
        ws = wb["基本信息"]
        for row in ws.iter_rows(min_col=1, max_col=2):
            if row[0].value == "联系人邮箱":
                row[1].value = "dengli at example.cn"
    _edit_roster(sample_folder, edit)
    _bad(sample_folder, "联系人邮箱“dengli at example.cn”格式不正确", self_eval=True, eml=True)


def test_roster_typed_the_chinese_way_is_read_as_meant(sample_folder):
    """Padded two-character names, a full-width ＠ from the IME, 组员 for 成员, a number as phone."""
    def edit(wb):
        ws = wb[PANEL_SHEET]
        ws["B6"].value = "王\u3000 芳"
        ws["G6"].value = " wangfang＠example．com "
        ws["H6"].value = "组员"
        ws["F6"].value = 13907310004
        ws["A7"].value = "５"
    _edit_roster(sample_folder, edit)
    _, panel = load_project(sample_folder)
    wang = panel.by_id("E04")
    assert (wang.name, wang.email, wang.role, wang.phone) == ("王芳", "wangfang@example.com", "成员", "13907310004")
    assert panel.by_id("E05").name == "李建国"


def test_a_file_in_the_way_stops_issuing_with_a_message_and_keeps_the_record(sample_folder):
    blocker = sample_folder / ISSUE_DIR / "03-刘卫东-评分表.xlsx"
    blocker.mkdir(parents=True)
    with pytest.raises(QiError, match="03-刘卫东-评分表.xlsx"):
        issue_workbooks(sample_folder)
    written = sorted(p.name for p in (sample_folder / ISSUE_DIR).iterdir() if p.is_file())
    assert [r.file.split("/")[-1] for r in load_issued(sample_folder)] == written


def test_panel_problem_never_names_the_sheet_twice():
    from qi_excel.evaluation import PanelProblem

    assert PanelProblem(None, "专家组只有 4 名专家；规范 7.2 条要求不少于 5 人").text.startswith("专家组只有")
    assert PanelProblem(None, "没有组长").text == "专家组：没有组长"
    assert PanelProblem(3, "姓名为空").text == "专家组 第 3 行：姓名为空"

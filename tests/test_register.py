"""``qi-excel register``: every evaluation under a root, broken ones listed, never a crash."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from evaluated import build_evaluated

from qi_excel.archive import write_archive
from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.documents import write_report
from qi_excel.evaluation import (
    CONSOLIDATION_FILE,
    INBOX_DIR,
    PROJECT_FILE,
    evaluation_rubric,
    load_issued,
    load_secret,
    new_evaluation,
)
from qi_excel.register import date_text
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("register") / "评价工作"
    done = build_evaluated(base / "2025" / "甲-已完成")
    write_report(done)
    write_archive(done)
    collecting = base / "2025" / "乙-回收中"
    new_evaluation(collecting, sample=True)
    issue_workbooks(collecting)
    rubric = evaluation_rubric(collecting)
    levels = platform_levels(rubric, 9)
    for i, rec in enumerate(load_issued(collecting)[:3]):
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 7, 1),
                              saved_at=datetime(2025, 7, 1, 10, i))
        (collecting / INBOX_DIR / Path(rec.file).name).write_bytes(
            fill_workbook((collecting / rec.file).read_bytes(), rubric, fill))
    collect(collecting)
    broken = base / "丙-损坏"
    broken.mkdir()
    (broken / PROJECT_FILE).write_bytes(b"this is not a workbook")
    (base / "无关文件夹").mkdir()
    (base / "无关文件夹" / "说明.txt").write_text("不是评价目录", encoding="utf-8")
    return base


def _rows(ws) -> list[dict[str, object]]:
    header = [c.value for c in ws[2]]
    return [dict(zip(header, (c.value for c in r))) for r in ws.iter_rows(min_row=3) if r[0].value is not None]


def test_register_lists_complete_collecting_and_broken(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "台账.xlsx"
    result = CliRunner().invoke(main, ["register", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "已扫描 3 个评价目录" in result.output and "丙-损坏" in result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["台账", "专家"]
    rows = {r["评价目录"]: r for r in _rows(book["台账"])}
    assert set(rows) == {"2025/甲-已完成", "2025/乙-回收中", "丙-损坏"}

    done = rows["2025/甲-已完成"]
    folder = root / "2025" / "甲-已完成"
    record = json.loads((folder / CONSOLIDATION_FILE).read_text(encoding="utf-8"))
    assert done["阶段"] == "已归档"
    assert done["评价编号"] == load_secret(folder).evaluation_id
    assert done["服务名称"] == "长沙县质量基础设施“一站式”服务"
    assert done["申报单位"] == "长沙县质量基础设施“一站式”服务中心"
    assert done["评价日期"] == "2025年6月18日"
    assert done["专家组人数"] == 7 and done["已接收评分表"] == 7
    assert done["汇总方法"] == "算术平均"
    assert Decimal(str(done["总分"])).quantize(Decimal("0.01")) == Decimal(record["total"])
    assert done["档案文件"] == next(folder.glob("评价档案-*.zip")).name
    assert done["报告日期"] and "年" in str(done["报告日期"])
    assert not done["问题"]

    collecting = rows["2025/乙-回收中"]
    assert collecting["阶段"] == "回收中" and collecting["已接收评分表"] == 3 and collecting["专家组人数"] == 7
    assert collecting["总分"] is None and collecting["档案文件"] is None

    broken = rows["丙-损坏"]
    assert broken["阶段"] == "有问题"
    assert "不是评价目录" in str(broken["问题"]) and "不是有效的 Excel 工作簿" in str(broken["问题"])

    experts = [dict(zip([c.value for c in book["专家"][2]], (c.value for c in r)))
               for r in book["专家"].iter_rows(min_row=3) if r[1].value]
    zhou = [e for e in experts if e["专家"] == "周立新"]
    assert len(zhou) == 2 and all(e["参评次数"] == 2 for e in zhou)
    assert zhou[0]["工作单位"] == "湘中计量检测研究院" and zhou[0]["职称"] == "正高级工程师" and zhou[0]["角色"] == "组长"
    assert all("2 次评价该单位" in str(e["与该申报单位"]) for e in zhou)  # same applicant twice
    assert len(experts) == 14


def test_default_output_is_in_the_root(root: Path) -> None:
    result = CliRunner().invoke(main, ["register", str(root)])
    assert result.exit_code == 0, result.output
    assert (root / "评价台账.xlsx").is_file()
    (root / "评价台账.xlsx").unlink()


def test_missing_root_is_a_chinese_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["register", str(tmp_path / "没有")])
    assert result.exit_code != 0 and "不存在" in result.output


def test_date_text() -> None:
    assert date_text("2025-06-18") == "2025年6月18日"
    assert date_text("2025-06-18 09:00 会议室") == "2025年6月18日"
    assert date_text("六月中旬") == "六月中旬"


def test_a_fresh_folder_is_at_the_first_stage_with_its_blanks_named(tmp_path: Path) -> None:
    from qi_excel.register import build_register

    new_evaluation(tmp_path / "新建", sample=False)
    (tmp_path / "半成品" / ".qi").mkdir(parents=True)  # a folder someone started by hand
    reg = build_register(tmp_path)
    entries = {e.folder: e for e in reg.entries}
    assert entries["新建"].stage == "建立" and entries["新建"].evaluation_id
    assert any("服务名称" in p for p in entries["新建"].problems)
    assert entries["半成品"].stage == "有问题"
    assert any("缺少 评价项目.xlsx" in p for p in entries["半成品"].problems)

"""``qi_excel.Evaluation``: one handle on a folder, each method the library call the CLI makes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from qi_excel import Evaluation
from qi_excel.collect import panel_status
from qi_excel.consolidate import load_consolidation
from qi_excel.errors import QiError
from qi_excel.evaluation import PROJECT_FILE, read_project, sample_info, sample_panel
from qi_excel.handle import STAGES, find_evaluations


def test_import_of_the_package_does_not_load_the_handle() -> None:
    code = ("import sys, qi_excel; print('qi_excel.handle' in sys.modules); "
            "from qi_excel import Evaluation; print(Evaluation.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "qi_excel.handle"]


def test_a_folder_that_is_not_an_evaluation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QiError, match="不存在"):
        Evaluation(tmp_path / "nowhere")
    with pytest.raises(QiError, match="不是评价目录"):
        Evaluation(tmp_path)


def test_new_with_typed_information_writes_a_project_the_reader_agrees_with(tmp_path: Path) -> None:
    e = Evaluation.new(tmp_path / "A", info=sample_info(), panel=sample_panel())
    project = read_project(e.path)
    assert project.info == sample_info()
    assert project.experts == sample_panel().experts
    assert e.stage == "建立"
    assert [p.name for p in find_evaluations(tmp_path)] == ["A"]


def test_new_refuses_a_roster_breaking_clause_7_2_and_writes_nothing(tmp_path: Path) -> None:
    four = sample_panel().__class__(sample_panel().experts[:4])
    with pytest.raises(QiError) as err:
        Evaluation.new(tmp_path / "A", info=sample_info(), panel=four)
    assert "专家组只有 4 名专家；规范 7.2 条要求不少于 5 人" in str(err.value)
    assert not (tmp_path / "A").exists()


def test_new_refuses_missing_required_information(tmp_path: Path) -> None:
    with pytest.raises(QiError, match="必填项为空：服务名称"):
        Evaluation.new(tmp_path / "A", info=replace(sample_info(), service_name=""), panel=sample_panel())
    assert not (tmp_path / "A").exists()


def test_new_from_an_uploaded_project_and_from_junk(tmp_path: Path, sample_folder: Path) -> None:
    data = (sample_folder / PROJECT_FILE).read_bytes()
    e = Evaluation.new(tmp_path / "B", project=data)
    assert e.info.service_name == sample_info().service_name
    with pytest.raises(QiError, match="不是有效的 Excel 工作簿"):
        Evaluation.new(tmp_path / "C", project=b"PK\x03\x04 not really a zip")
    assert not (tmp_path / "C").exists()


def test_stages_and_steps_follow_the_workflow(sample_folder: Path, simulated_returns) -> None:
    e = Evaluation(sample_folder)
    assert e.stage == "建立"
    assert [s.done for s in e.steps()][:2] == [True, False]
    e.issue(eml=True)
    assert e.stage == "已发放"
    assert len(e.latest_issued()) == 7
    good, bad, corrected, bad_ref = simulated_returns(sample_folder)
    inbox = sample_folder / "收件箱"
    for name, data in [*good, bad]:
        (inbox / name).write_bytes(data)
    first = e.collect()
    assert e.stage == "回收中"
    rejected = [f for f in first.files if f.status == "rejected"]
    assert [f.file for f in rejected] == [str(inbox / bad[0])]
    assert bad_ref in {x.cell for x in rejected[0].findings}
    assert len(e.accepted_ids()) == 6
    assert e.steps()[3].done is False and e.steps()[3].note == "已接收 6/7"
    (inbox / corrected[0]).write_bytes(corrected[1])
    e.collect()
    assert len(e.accepted_ids()) == 7 == sum(p.accepted for p in panel_status(sample_folder) if p.expert_id != "SELF")
    cons = e.consolidate(method="median")
    assert e.stage == "已汇总"
    assert e.consolidation == load_consolidation(sample_folder) and cons.method == "median"
    e.application()
    assert e.steps()[6].done and e.stage == "已汇总"
    e.report()
    assert e.stage == "已出报告"
    archive = e.archive()
    assert e.stage == "已归档" == STAGES[-1]
    assert e.verify_archive(archive) == []
    assert all(s.done for s in e.steps() if not s.optional)


def test_summary_reads_the_folder_and_follows_changes(issued_folder: Path, simulated_returns) -> None:
    e = Evaluation(issued_folder)
    before = e.summary()
    assert (before.stage, before.accepted, before.panel, before.total) == ("已发放", 0, 7, None)
    good, _bad, corrected, _ = simulated_returns(issued_folder)
    for name, data in [*good, corrected]:
        (issued_folder / "收件箱" / name).write_bytes(data)
    e.collect()
    cons = e.consolidate()
    after = Evaluation(issued_folder).summary()
    assert (after.stage, after.accepted, after.total, after.max_total) == ("已汇总", 7, cons.total, 1000)
    assert isinstance(after.total, Decimal)


def test_concurrent_collects_on_one_folder_keep_every_return(issued_folder: Path, simulated_returns) -> None:
    good, _bad, corrected, _ = simulated_returns(issued_folder)
    files = []
    for name, data in [*good, corrected]:
        path = issued_folder.parent / name
        path.write_bytes(data)
        files.append(path)
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            Evaluation(issued_folder).collect([path])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ledger = json.loads((issued_folder / "回收" / "ledger.json").read_text(encoding="utf-8"))
    assert len(ledger["entries"]) == 7
    assert len(Evaluation(issued_folder).accepted_ids()) == 7


def test_the_list_row_is_kept_on_disk_and_follows_changes_made_elsewhere(issued_folder: Path, monkeypatch) -> None:
    from qi_excel import handle

    first = Evaluation(issued_folder).summary()
    assert (issued_folder / handle.SUMMARY_CACHE_FILE).is_file()
    handle._summary_cache.clear()
    calls: list[str] = []
    monkeypatch.setattr(handle.ev, "read_project", lambda folder: calls.append(str(folder)))
    assert Evaluation(issued_folder).summary() == first  # from the stored row: no workbook opened
    assert calls == []
    monkeypatch.undo()
    from dataclasses import replace as dc_replace

    from qi_excel.workbook_project import fill_project_workbook, project_template_bytes

    edited = fill_project_workbook(project_template_bytes(), dc_replace(sample_info(), service_name="改过的服务名称"),
                                   sample_panel())
    (issued_folder / PROJECT_FILE).write_bytes(edited)  # 评价项目.xlsx edited in Excel, not through the handle
    handle._summary_cache.clear()
    second = Evaluation(issued_folder).summary()
    assert (second.service_name, second.stage, second.panel) == ("改过的服务名称", "已发放", 7)

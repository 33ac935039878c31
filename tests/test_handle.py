"""``qi_excel.Evaluation``: one handle on a folder, each method the library call the CLI makes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from qi_excel import Evaluation
from qi_excel.collect import panel_status
from qi_excel.consolidation_step import load_consolidation
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
        Evaluation.new(tmp_path / "A", info=sample_info()._replace(service_name=""), panel=sample_panel())
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
    steps = {s.command: s for s in e.steps()}
    assert steps["qi-excel new"].done and steps["qi-excel review"].done and not steps["qi-excel issue --eml"].done
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
    collect_step = next(s for s in e.steps() if s.command == "qi-excel collect")
    assert collect_step.done is False and collect_step.note == "已接收 6/7"
    (inbox / corrected[0]).write_bytes(corrected[1])
    e.collect()
    assert len(e.accepted_ids()) == 7 == sum(p.accepted for p in panel_status(sample_folder) if p.expert_id != "SELF")
    cons = e.consolidate(method="median")
    assert e.stage == "已汇总"
    assert e.consolidation == load_consolidation(sample_folder) and cons.method == "median"
    e.application()
    assert next(s for s in e.steps() if s.command == "qi-excel application").done and e.stage == "已汇总"
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

    from qi_excel.workbook_project import fill_project_workbook, project_template_bytes

    edited = fill_project_workbook(project_template_bytes(), sample_info()._replace(service_name="改过的服务名称"),
                                   sample_panel())
    (issued_folder / PROJECT_FILE).write_bytes(edited)  # 评价项目.xlsx edited in Excel, not through the handle
    handle._summary_cache.clear()
    second = Evaluation(issued_folder).summary()
    assert (second.service_name, second.stage, second.panel) == ("改过的服务名称", "已发放", 7)


# ─────────────── every folder command, each recorded once in the operation log ───────────────


def _logged_commands(folder: Path) -> list[str]:
    from qi_excel.audit import LOG_FILE

    path = folder / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line)["command"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_folder_command_is_a_method_and_each_action_is_logged_once(tmp_path: Path, simulated_returns) -> None:
    from qi_excel.audit import check_folder
    from qi_excel.excuse import Excusal
    from qi_excel.remind import RemindResult

    e = Evaluation.new(tmp_path / "评价", sample=True)
    assert any(p.name == PROJECT_FILE for p in e.created)
    assert _logged_commands(e.path) == ["new"]
    e.issue()
    reminded = e.remind(deadline="6月18日17:00前")
    assert isinstance(reminded, RemindResult) and len(reminded.reminders) == 7
    assert reminded.deadline == "6月18日17:00前"
    good, _bad, corrected, _ = simulated_returns(e.path)
    for name, data in [*good, corrected]:
        (e.path / "收件箱" / name).write_bytes(data)
    collected = e.collect()
    assert collected.exit_code == 0
    excused = e.excuse("E07", "因病未能参加")
    assert excused == Excusal("E07", excused.expert, "因病未能参加")
    assert e.undo_excuse("E07").reason == "因病未能参加"
    run = e.run_consolidation(method="median")
    assert run.result.method == "median" and run.panel.complete
    assert e.consolidate() == e.consolidation
    written = e.make_application()
    assert written.paths[0].name == "评价申请表.docx"
    assert e.report()[0].name == "评价报告.docx"
    assert [p.name for p in e.review()] == ["申请材料审查记录.docx"]
    assert [p.name for p in e.plan()] == ["评价计划.docx"]
    assert [p.name for p in e.signin(("first",))] == ["首次会议签到表.docx"]
    assert [p.name for p in e.pledge()] == ["持续改进承诺书.docx"]
    path, rows = e.export(fmt="csv")
    assert path.is_file() and rows == 7 * len(e.rubric.score_cells)
    e.archive()
    commands = _logged_commands(e.path)
    assert commands == ["new", "issue", "remind", "collect", "excuse", "excuse", "consolidate", "consolidate",
                        "application", "report", "review", "plan", "signin", "pledge", "export", "archive"]
    check = e.log()
    assert check == check_folder(e.path) and check.ok and check.records == len(commands)
    assert len(e.log_lines()) == len(commands)


def test_a_refused_action_leaves_no_record_and_an_inner_action_is_part_of_the_outer(issued_folder: Path) -> None:
    e = Evaluation(issued_folder)
    before = _logged_commands(issued_folder)
    with pytest.raises(QiError, match="请假后只剩|没有请假记录"):
        e.undo_excuse("E01")
    assert _logged_commands(issued_folder) == before
    with e.action("批量", {"who": "E01"}):
        e.excuse("E01", "出差")
        e.excuse("E02", "出差")
    assert _logged_commands(issued_folder) == [*before, "批量"]
    e.undo_excuse("E02")
    assert _logged_commands(issued_folder) == [*before, "批量", "excuse"]
    e.excuse("E03", "出差")
    with pytest.raises(QiError, match="请假后只剩 4 人"):
        e.excuse("E02", "出差")
    assert _logged_commands(issued_folder) == [*before, "批量", "excuse", "excuse"]


def test_an_action_waits_for_the_folder_lock(issued_folder: Path) -> None:
    holder = Evaluation(issued_folder)
    done: list[str] = []
    other = threading.Thread(target=lambda: done.append(Evaluation(issued_folder).excuse("E01", "出差").expert_id))
    with holder.locked():
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive() and done == []  # blocked while the lock is held
    other.join()
    assert done == ["E01"]


def test_new_from_another_rosters_folder_is_logged_with_what_it_read(tmp_path: Path, sample_folder: Path) -> None:
    from qi_excel.audit import LOG_FILE

    rubric = Path(__file__).parent / "small_rubric.toml"
    e = Evaluation.new(tmp_path / "复用", roster_from=sample_folder, rubric=rubric)
    assert e.rubric.total == 40  # the folder's own copy of the rubric it was given
    rec = json.loads((e.path / LOG_FILE).read_text(encoding="utf-8"))
    assert rec["command"] == "new" and rec["options"]["roster_from"] == str(sample_folder)
    assert str(rubric) in {r["path"] for r in rec["read"]}
    created = {p.relative_to(e.path).as_posix() for p in e.created}
    assert {PROJECT_FILE, ".qi/secret.json", ".qi/rubric.toml"} <= created <= {w["path"] for w in rec["written"]}


def test_the_handle_holds_the_folder_lock_file_against_other_processes(issued_folder: Path) -> None:
    import os

    from qi_excel.collect import collect
    from qi_excel.lock import LOCK_FILE

    e = Evaluation(issued_folder)
    env = {**os.environ, "QI_EXCEL_LOCK_WAIT": "0.2"}
    with e.action("excuse", {"expert": "E01"}):
        holder = json.loads((issued_folder / LOCK_FILE).read_text(encoding="utf-8"))
        assert holder["pid"] == os.getpid() and holder["command"] == "excuse"
        collect(issued_folder)  # a library function taking the lock itself: re-entrant, no deadlock
        other = subprocess.run([sys.executable, "-m", "qi_excel", "excuse", str(issued_folder), "E02", "--reason", "出差"],
                               capture_output=True, text=True, env=env, timeout=120)
        assert other.returncode == 3 and "正被" in other.stderr and "Traceback" not in other.stderr
        e.excuse("E01", "出差")  # the handle's own action inside: the same lock, one record
    assert not (issued_folder / LOCK_FILE).exists()
    assert Evaluation(issued_folder).excuse("E02", "出差").expert_id == "E02"
    assert _logged_commands(issued_folder)[-2:] == ["excuse", "excuse"]
    assert all(".qi/lock" not in line for line in (issued_folder / ".qi/audit.jsonl").read_text(encoding="utf-8").splitlines())

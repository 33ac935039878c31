"""One evaluation's scores never count in another: the folder's own state proves itself.

Each case starts from evaluation A taken through issue → returns → collect → consolidate and
ends with B (a copy, or a fresh folder fed A's files) refusing A's files and saying why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from qi_excel import evaluation as ev
from qi_excel.archive import write_archive
from qi_excel.cli import main
from qi_excel.collect import collect, load_accepted, panel_status
from qi_excel.consolidation_step import consolidate_folder, load_consolidation
from qi_excel.documents import write_report
from qi_excel.errors import QiError
from qi_excel.folder_state import BINDING_FILE, confine
from qi_excel.workbook import issue_workbooks
from evaluated import build_evaluated


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    folder = build_evaluated(tmp_path_factory.mktemp("A") / "评价A")
    write_report(folder)
    return folder


@pytest.fixture
def a(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价A"))


def set_info(folder: Path, **values: str) -> None:
    """Type new 基本信息 values (by label) into 评价项目.xlsx, as an organizer would."""
    labels = {"service_name": "服务名称", "applicant": "申报单位", "evaluation_date": "评价日期"}
    path = folder / ev.PROJECT_FILE
    wb = load_workbook(path)
    ws = wb[ev.INFO_SHEET]
    wanted = {labels[k]: v for k, v in values.items()}
    for row in ws.iter_rows(min_row=1, max_col=2):
        label = str(row[0].value or "").replace("*", "").strip()
        if label in wanted:
            row[1].value = wanted.pop(label)
    assert not wanted
    wb.save(path)


# ───────────────────────────── 1. a copied 回收/ ─────────────────────────────


def test_copied_accepted_folder_counts_nothing_in_another_evaluation(a: Path, tmp_path: Path) -> None:
    b = tmp_path / "评价B"
    ev.new_evaluation(b, sample=True)
    issue_workbooks(b)
    shutil.rmtree(b / ev.ACCEPTED_DIR, ignore_errors=True)
    shutil.copytree(a / ev.ACCEPTED_DIR, b / ev.ACCEPTED_DIR)  # ledger and files, as copied by hand

    assert load_accepted(b) == []
    people = panel_status(b)
    assert not any(p.accepted for p in people)
    assert all(any(f.code == "WRONG_EVALUATION" for f in p.findings) for p in people if p.returned)
    result = CliRunner().invoke(main, ["status", str(b)])
    assert "已接收 0/" in result.output and "另一次评价" in result.output
    with pytest.raises(QiError):
        consolidate_folder(b)


def test_ledger_that_reassigns_a_file_to_another_expert_counts_nothing(a: Path) -> None:
    ledger_path = a / ev.LEDGER_FILE
    ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
    e01 = next(e for e in ledger["entries"] if e.get("expert_id") == "E01" and e.get("status") == "accepted")
    e02 = next(e for e in ledger["entries"] if e.get("expert_id") == "E02" and e.get("status") == "accepted")
    ledger["entries"].remove(e02)
    e01["expert_id"] = "E02"  # E01's file now claims to be E02's in the ledger only
    ledger_path.write_text(json.dumps(ledger, ensure_ascii=False), encoding="utf-8")
    counted = {rw.expert_id for rw in load_accepted(a)}
    assert "E02" not in counted and "E01" not in counted
    e02_status = next(p for p in panel_status(a) if p.expert_id == "E02")
    assert not e02_status.accepted and "回收记录" in e02_status.findings[0].message


# ───────────────────────────── 2. a copied folder used as a template ─────────────────────────────


def test_copied_folder_for_another_applicant_is_refused_everywhere(a: Path, tmp_path: Path) -> None:
    b = Path(shutil.copytree(a, tmp_path / "评价B"))
    set_info(b, service_name="岳阳县质量基础设施“一站式”服务", applicant="岳阳县质量基础设施服务中心")
    for step in (lambda: issue_workbooks(b), lambda: issue_workbooks(b, self_eval=True), lambda: collect(b),
                 lambda: consolidate_folder(b), lambda: load_accepted(b), lambda: panel_status(b)):
        with pytest.raises(QiError) as err:
            step()
        message = str(err.value)
        assert "qi-excel new" in message and "--roster-from" in message
        assert "长沙县质量基础设施“一站式”服务中心" in message and "岳阳县质量基础设施服务中心" in message
    result = CliRunner().invoke(main, ["collect", str(b)])
    assert result.exit_code != 0 and "qi-excel new" in result.output
    assert not list((b / ev.ISSUE_DIR).glob("*岳阳*"))


def test_last_years_folder_reused_for_this_year_is_refused(a: Path, tmp_path: Path) -> None:
    b = Path(shutil.copytree(a, tmp_path / "评价B"))
    set_info(b, evaluation_date="2026-06-18")
    with pytest.raises(QiError, match="评价年份 2025"):
        issue_workbooks(b)


def test_basic_information_is_free_until_the_first_issue(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    ev.new_evaluation(folder, sample=True)
    set_info(folder, applicant="改过的申报单位")  # filled in after `new`: fine
    assert not (folder / BINDING_FILE).exists()
    issue_workbooks(folder)
    assert (folder / BINDING_FILE).is_file()
    issue_workbooks(folder, self_eval=True)  # same information: still fine
    set_info(folder, applicant="又改过的申报单位")
    with pytest.raises(QiError, match="首次发放"):
        collect(folder)
    set_info(folder, applicant="改过的申报单位")  # put back: works again
    collect(folder)


def test_tampered_binding_is_refused(a: Path) -> None:
    path = a / BINDING_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["subject"]["applicant"] = "别的单位"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(QiError, match="签名"):
        collect(a)


def test_roster_from_copies_the_panel_only_with_a_new_key(a: Path, tmp_path: Path) -> None:
    b = tmp_path / "评价B"
    result = CliRunner().invoke(main, ["new", str(b), "--roster-from", str(a)])
    assert result.exit_code == 0, result.output
    assert "专家组名单" in result.output
    wb = load_workbook(b / ev.PROJECT_FILE)
    names_b = [c.value for c in wb[ev.PANEL_SHEET]["B"] if c.value and c.value != "姓名"]
    _, panel_a = ev.load_project(a)
    assert names_b == [e.name for e in panel_a.experts]
    info_values = [row[1].value for row in wb[ev.INFO_SHEET].iter_rows(min_row=1, max_col=2)]
    assert "长沙县质量基础设施“一站式”服务中心" not in info_values
    assert ev.load_secret(b).evaluation_id != ev.load_secret(a).evaluation_id
    assert ev.load_secret(b).hmac_key != ev.load_secret(a).hmac_key
    # B, filled in for another applicant and issued, refuses A's returns as another evaluation's
    set_info(b, service_name="岳阳县质量基础设施“一站式”服务", applicant="岳阳县质量基础设施服务中心")
    wb = load_workbook(b / ev.PROJECT_FILE)
    from qi_excel.evaluation import sample_info

    ws = wb[ev.INFO_SHEET]
    fill = {label: getattr(sample_info(), attr) for label, attr, required, _ in ev.INFO_FIELDS if required}
    for row in ws.iter_rows(min_row=1, max_col=2):
        label = str(row[0].value or "").replace("*", "").strip()
        if label in fill and not row[1].value:
            row[1].value = fill[label]
    wb.save(b / ev.PROJECT_FILE)
    from qi_excel.review import sample_review
    from qi_excel.workbook_project import fill_review

    # the application passed its review (6.3) before workbooks go out
    (b / ev.PROJECT_FILE).write_bytes(fill_review((b / ev.PROJECT_FILE).read_bytes(), sample_review()))
    issue_workbooks(b)
    result = collect(b, sorted((a / ev.ACCEPTED_DIR).glob("*.xlsx")))
    assert len(result.files) == 8 and all(f.status == "rejected" for f in result.files)
    assert all([x.code for x in f.findings] == ["WRONG_EVALUATION"] for f in result.files)


# ───────────────────────────── 3. paths in state files ─────────────────────────────


@pytest.mark.parametrize("evil", ["../outside.xlsx", "/tmp/qi-outside.xlsx", "回收/../../outside.xlsx", "C:/x.xlsx"])
def test_ledger_path_outside_the_folder_is_never_read_or_archived(a: Path, evil: str) -> None:
    ledger_path = a / ev.LEDGER_FILE
    ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
    entry = next(e for e in ledger["entries"] if e.get("status") == "accepted")
    entry["stored"] = evil
    ledger_path.write_text(json.dumps(ledger, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(QiError, match="评价目录之外"):
        write_archive(a)
    with pytest.raises(QiError, match="评价目录之外"):
        load_accepted(a)
    assert not list(a.glob("评价档案-*.zip"))


def test_issued_record_outside_the_folder_is_refused(a: Path) -> None:
    path = a / ev.ISSUED_FILE
    records = json.loads(path.read_text(encoding="utf-8"))
    records[0]["file"] = "/etc/passwd"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(QiError, match="评价目录之外"):
        ev.load_issued(a)


def test_confine_accepts_the_folders_own_paths(tmp_path: Path) -> None:
    assert confine(tmp_path, "回收/E01-周立新-0123.xlsx", "x") == tmp_path / "回收" / "E01-周立新-0123.xlsx"
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(QiError):
        confine(tmp_path, "link/passwd", "x")


# ───────────────────────────── 4. hand-edited results ─────────────────────────────


def test_hand_edited_total_reaches_no_document(a: Path) -> None:
    path = a / ev.CONSOLIDATION_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["total"] = "999.9"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    for step in (lambda: load_consolidation(a), lambda: write_report(a), lambda: write_archive(a)):
        with pytest.raises(QiError, match="重新运行 qi-excel consolidate"):
            step()
    consolidate_folder(a)  # re-running consolidate is the way out
    assert str(load_consolidation(a).total) != "999.9"


# ───────────────────────────── 5. weak keys ─────────────────────────────


@pytest.mark.parametrize("key", ["", "00" * 8])
def test_empty_or_short_key_is_refused(a: Path, key: str) -> None:
    path = a / ev.SECRET_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["hmac_key"] = key
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(QiError, match="密钥"):
        ev.load_secret(a)
    result = CliRunner().invoke(main, ["issue", str(a)])
    assert result.exit_code != 0 and "密钥" in result.output and "Traceback" not in result.output


# ───────────────────────────── 6. the organizer's rubric copy changed ─────────────────────────────


def test_changed_rubric_copy_is_the_organizers_problem_not_the_experts(a: Path) -> None:
    path = a / ev.RUBRIC_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("title = ", 'title = "改过的评价表" #', 1), encoding="utf-8")
    for step in (lambda: collect(a), lambda: panel_status(a), lambda: load_accepted(a), lambda: issue_workbooks(a)):
        with pytest.raises(QiError) as err:
            step()
        assert ".qi/rubric.toml" in str(err.value) and "无需退回" in str(err.value)
    # nothing was recorded against any expert
    ledger = json.loads((a / ev.LEDGER_FILE).read_text(encoding="utf-8"))
    assert not any(f.get("code") == "RUBRIC_CHANGED" for e in ledger["entries"] for f in e.get("findings", []))



def test_collect_records_a_copied_ledgers_files_as_rejected(a: Path, tmp_path: Path) -> None:
    b = tmp_path / "评价B"
    ev.new_evaluation(b, sample=True)
    issue_workbooks(b)
    shutil.rmtree(b / ev.ACCEPTED_DIR, ignore_errors=True)
    shutil.copytree(a / ev.ACCEPTED_DIR, b / ev.ACCEPTED_DIR)
    collect(b)  # an empty inbox: only what the copied ledger claims
    ledger = json.loads((b / ev.LEDGER_FILE).read_text(encoding="utf-8"))
    assert ledger["entries"] and all(e["status"] == "rejected" for e in ledger["entries"])
    assert all(e["findings"][0]["code"] == "WRONG_EVALUATION" for e in ledger["entries"])


def test_evaluation_date_filled_after_the_self_evaluation_went_out(tmp_path: Path) -> None:
    folder = tmp_path / "评价"
    ev.new_evaluation(folder, sample=True)
    set_info(folder, evaluation_date="")
    issue_workbooks(folder, self_eval=True)  # 6.1: the date is not known yet
    set_info(folder, evaluation_date="2025-06-18")
    issue_workbooks(folder)  # fine, and the year is bound from now on
    assert json.loads((folder / BINDING_FILE).read_text(encoding="utf-8"))["subject"]["year"] == "2025"
    set_info(folder, evaluation_date="2026-06-18")
    with pytest.raises(QiError, match="评价年份 2025"):
        collect(folder)


def test_roster_from_a_project_file_and_not_with_sample(a: Path, tmp_path: Path) -> None:
    b = tmp_path / "评价B"
    ev.new_evaluation(b, roster_from=a / ev.PROJECT_FILE)
    wb = load_workbook(b / ev.PROJECT_FILE)
    assert "周立新" in [c.value for c in wb[ev.PANEL_SHEET]["B"]]
    with pytest.raises(QiError, match="--roster-from"):
        ev.new_evaluation(tmp_path / "评价C", sample=True, roster_from=a)
    with pytest.raises(QiError, match="--roster-from"):
        ev.new_evaluation(tmp_path / "评价D", roster_from=tmp_path / "没有这个目录")
    assert not (tmp_path / "评价C" / ev.PROJECT_FILE).exists()


def test_confine_judges_links_exactly_as_resolving_both_paths(tmp_path: Path) -> None:
    """confine's quick look (no link below the folder) and its full check agree with
    Path.resolve: links inside that stay inside pass, links out or in a loop do not."""
    folder = tmp_path / "评价"
    (folder / "回收").mkdir(parents=True)
    (folder / "回收" / "a.xlsx").write_bytes(b"x")
    (folder / "inside").symlink_to(folder / "回收")
    (folder / "outside").symlink_to(tmp_path)
    (folder / "loop1").symlink_to(folder / "loop2")
    (folder / "loop2").symlink_to(folder / "loop1")
    (tmp_path / "别名").symlink_to(folder)  # the folder itself reached through a link
    for root in (folder, tmp_path / "别名"):
        for rel in ("回收/a.xlsx", "回收/缺少.xlsx", "inside/a.xlsx", "outside/评价/回收/a.xlsx", "loop1", "loop1/x",
                    "回收/a.xlsx/x", "."):
            target = root.joinpath(*Path(rel).parts)
            try:
                expected = target.resolve().is_relative_to(root.resolve())
            except RuntimeError:
                expected = False
            if expected:
                assert confine(root, rel, "x") == target
            else:
                with pytest.raises(QiError, match="评价目录之外"):
                    confine(root, rel, "x")
    assert confine(folder, "inside/a.xlsx", "x") == folder / "inside" / "a.xlsx"


def test_resolved_paths_are_what_pathlib_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qi_excel.folder_state import relative_text, resolved, resolved_in

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "rel").symlink_to("f")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    monkeypatch.chdir(tmp_path / "a")
    folders: dict[str, str] = {}
    for p in ("f", "rel", "../link/f", "b/../f", "缺少", "../link/缺少/x", str(tmp_path / "link" / "rel"), ".", "/"):
        assert resolved(p) == str(Path(p).resolve()), p
        assert resolved_in(Path(p), folders) == str(Path(p).resolve()), p
    with pytest.raises(RuntimeError):
        resolved(tmp_path / "loop")
    root = str(tmp_path)
    assert relative_text(str(tmp_path / "a" / "f"), root) == "a/f"
    assert relative_text(root, root) == "."
    assert relative_text(root + "x/a", root) is None
    assert relative_text(root, "/") == Path(root).relative_to("/").as_posix()

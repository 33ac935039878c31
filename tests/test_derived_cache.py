"""The parsed rubric and roster kept in .qi/ (derived_cache.py): same objects, or not used at all."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from qi_excel import derived_cache as dc
from qi_excel import evaluation as ev
from qi_excel import rubric as rubric_module
from qi_excel.collect import collect, panel_status
from qi_excel.errors import QiError
from qi_excel.evaluation import (
    PANEL_SHEET, PROJECT_FILE, RUBRIC_FILE, evaluation_rubric, load_project, load_secret, new_evaluation,
    read_project,
)
from qi_excel.folder_state import sign_record
from qi_excel.rubric import parse_rubric, shipped_rubric
from qi_excel.workbook import issue_workbooks

SMALL = Path(__file__).with_name("small_rubric.toml")

# A custom rubric using what the shipped one does not: a standard name, explanations, banded
# allowed scores (0; 5~9; 10), an item whose allowed set is given and equals its parts' sums.
CUSTOM = SMALL.read_text(encoding="utf-8").replace(
    'title = "测试评价表"', 'title = "测试评价表"\nstandard = "DB43/T 0000—2026"'
).replace(
    'allowed = [[0, 10]]\ncriterion = "有机构的，10 分"',
    'allowed = [[0, 0], [5, 9], [10, 10]]\ncriterion = "有机构的，10 分"\nexplain = "查看任命文件"',
).replace(
    'criterion = "两项制度，各 10 分"', 'criterion = "两项制度，各 10 分"\nallowed = [[0, 20]]'
)


@pytest.fixture(autouse=True)
def _fresh_process_memory():
    """Each test starts as a fresh process would: nothing parsed in memory yet."""
    def clear() -> None:
        ev._rubric_cache.clear()
        ev._parsed.clear()
        ev._on_disk.clear()
    clear()
    yield
    clear()


def _round_trip_rubric(text: str):
    parsed = parse_rubric(text)
    data = json.loads(json.dumps(dc.rubric_to_json(parsed), ensure_ascii=False))
    return parsed, dc.rubric_from_json(data, text)


@pytest.mark.parametrize("text", [shipped_rubric().source_text, SMALL.read_text(encoding="utf-8"), CUSTOM],
                         ids=["shipped", "small", "custom"])
def test_rubric_rebuilt_from_json_equals_the_parsed_one(text):
    parsed, rebuilt = _round_trip_rubric(text)
    assert rebuilt == parsed
    assert rebuilt.score_cells == parsed.score_cells
    assert rebuilt.fingerprint == parsed.fingerprint
    assert rebuilt.to_json() == parsed.to_json()


def test_custom_rubric_really_uses_bands_and_explanations():
    parsed, rebuilt = _round_trip_rubric(CUSTOM)
    assert rebuilt.standard == "DB43/T 0000—2026"
    assert rebuilt.cell("1.1.1").allowed.ranges == ((0, 0), (5, 9), (10, 10))
    assert rebuilt.item("1.1.1").explain == "查看任命文件"
    assert [p.id for p in rebuilt.item("1.1.2").parts] == ["1.1.2.1", "1.1.2.2"]


def _edit_roster(folder: Path, edit) -> None:
    path = folder / PROJECT_FILE
    wb = openpyxl.load_workbook(path)
    edit(wb[PANEL_SHEET])
    wb.save(path)


def test_roster_with_problems_and_warnings_rebuilt_equal(sample_folder):
    def edit(ws):
        ws["C7"].value = "abc123"  # an unrecognised title: a warning
        ws["B6"].value = None  # a blank name: an error
        ws["A9"].value = "九"  # a malformed number: an error naming the row
        ws["B5"].value = "王  芳"  # spaces inside a Chinese name are dropped
    _edit_roster(sample_folder, edit)
    project = read_project(sample_folder, with_review=False)
    assert project.errors and project.warnings  # the test covers both kinds
    assert any(e.name == "王芳" for e in project.experts)
    rebuilt = dc.project_from_json(json.loads(json.dumps(dc.project_to_json(project), ensure_ascii=False)))
    assert rebuilt == project


def test_issue_keeps_both_and_a_fresh_process_rebuilds_them_without_parsing(sample_folder, monkeypatch):
    issue_workbooks(sample_folder)
    for name in dc.CACHE_FILES.values():
        assert (sample_folder / name).is_file()
    text = (sample_folder / RUBRIC_FILE).read_text(encoding="utf-8")
    expected_rubric = parse_rubric(text)
    expected_project = ev.load_project(sample_folder)
    ev._rubric_cache.clear()
    ev._parsed.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("parsed although a valid cache exists")
    monkeypatch.setattr(rubric_module, "parse_rubric", refuse)
    monkeypatch.setattr(ev, "read_project", refuse)
    assert evaluation_rubric(sample_folder) == expected_rubric
    assert load_project(sample_folder) == expected_project


def _resign(folder: Path, kind: str, change) -> None:
    """Rewrite a cache record, changed by ``change(record)``, signed again with the folder key."""
    path = folder / dc.CACHE_FILES[kind]
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    record.pop("signature")
    record = sign_record(load_secret(folder).hmac_key, record)
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def _forge_payload(record: dict) -> None:
    data = json.loads(record["payload"])
    if "title" in data:
        data["title"] = "伪造的评价表"
    else:
        data["experts"][0][1] = "伪造的专家"
    record["payload"] = json.dumps(data, ensure_ascii=False)


def _rewrite(folder: Path, kind: str, change) -> None:
    path = folder / dc.CACHE_FILES[kind]
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


SPOILERS = {
    # the payload changed, the signature kept: a forgery
    "forged": lambda folder, kind: _rewrite(folder, kind, _forge_payload),
    "unsigned": lambda folder, kind: _rewrite(folder, kind, lambda r: r.pop("signature")),
    "truncated": lambda folder, kind: (folder / dc.CACHE_FILES[kind]).write_bytes(
        (folder / dc.CACHE_FILES[kind]).read_bytes()[:1000]),
    # properly signed, but with another evaluation's key
    "other key": lambda folder, kind: (folder / dc.CACHE_FILES[kind]).write_text(json.dumps(sign_record(
        b"k" * 32, {k: v for k, v in json.loads((folder / dc.CACHE_FILES[kind]).read_text(encoding="utf-8")).items()
                    if k != "signature"} | {"payload": json.dumps({"title": "伪造的评价表"})}))),
    # signed with the right key, but written for other source bytes or by other code
    "other source": lambda folder, kind: _resign(folder, kind, lambda r: r.update(source_sha256="0" * 64)),
    "other version": lambda folder, kind: _resign(folder, kind, lambda r: r.update(code="0/0")),
    # signed, current, but a payload that does not rebuild (other dataclasses)
    "unbuildable": lambda folder, kind: _resign(folder, kind, lambda r: r.update(payload='{"level1": 3, "info": []}')),
}


@pytest.mark.parametrize("spoil", SPOILERS, ids=list(SPOILERS))
def test_a_cache_that_is_not_genuine_is_ignored_and_the_source_parsed(issued_folder, monkeypatch, spoil):
    text = (issued_folder / RUBRIC_FILE).read_text(encoding="utf-8")
    expected_rubric = parse_rubric(text)
    project = read_project(issued_folder, with_review=False)
    expected_project = (project.info, ev.Panel(project.experts))
    for kind in dc.CACHE_FILES:
        SPOILERS[spoil](issued_folder, kind)
    ev._rubric_cache.clear()
    ev._parsed.clear()
    calls = []
    real_parse, real_read = rubric_module.parse_rubric, ev.read_project
    monkeypatch.setattr(rubric_module, "parse_rubric", lambda *a, **k: calls.append("rubric") or real_parse(*a, **k))
    monkeypatch.setattr(ev, "read_project", lambda *a, **k: calls.append("project") or real_read(*a, **k))
    assert evaluation_rubric(issued_folder) == expected_rubric
    assert load_project(issued_folder) == expected_project
    assert calls == ["rubric", "project"]


def test_an_edited_source_is_parsed_again_not_taken_from_the_cache(issued_folder):
    path = issued_folder / RUBRIC_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("title = ", "# 注释\ntitle = ", 1), encoding="utf-8")
    _edit_roster(issued_folder, lambda ws: setattr(ws["B3"], "value", "周  新"))
    ev._rubric_cache.clear()
    ev._parsed.clear()
    assert evaluation_rubric(issued_folder).source_text.count("# 注释") == 1
    _info, panel = load_project(issued_folder)
    assert panel.experts[0].name == "周新"


def test_a_bad_roster_still_fails_when_cached(issued_folder, monkeypatch):
    """Roster errors are part of what is cached: load_project raises them exactly as a parse does."""
    _edit_roster(issued_folder, lambda ws: setattr(ws["B6"], "value", None))
    with pytest.raises(QiError) as parsed_error:
        load_project(issued_folder)
    project = read_project(issued_folder, with_review=False)
    sha = dc.sha256_hex((issued_folder / PROJECT_FILE).read_bytes())
    dc.write_cache(issued_folder, "project", sha, load_secret(issued_folder).hmac_key, dc.project_to_json(project))
    ev._parsed.clear()
    monkeypatch.setattr(ev, "read_project", lambda *a, **k: pytest.fail("parsed although cached"))
    with pytest.raises(QiError) as cached_error:
        load_project(issued_folder)
    assert str(cached_error.value) == str(parsed_error.value)
    assert "专家组 第 6 行：姓名为空" in str(cached_error.value)


def test_collect_keeps_the_cache_status_only_reads_it(issued_folder):
    for name in dc.CACHE_FILES.values():
        (issued_folder / name).unlink()
    panel_status(issued_folder)
    assert not any((issued_folder / name).exists() for name in dc.CACHE_FILES.values())
    ev._parsed.clear()
    collect(issued_folder)
    assert all((issued_folder / name).is_file() for name in dc.CACHE_FILES.values())


def test_a_rubric_that_fails_validation_is_never_cached(tmp_path):
    folder = tmp_path / "评价"
    new_evaluation(folder, sample=True)
    (folder / RUBRIC_FILE).write_text(SMALL.read_text(encoding="utf-8").replace("total = 40", "total = 41"),
                                      encoding="utf-8")
    with pytest.raises(QiError, match="与总分 41 分不符"):
        issue_workbooks(folder)
    assert not any((folder / name).exists() for name in dc.CACHE_FILES.values())

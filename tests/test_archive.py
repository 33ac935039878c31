"""Clause 9's archive: complete, UTF-8 named, and verifiable after the fact."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from qi_excel.archive import MANIFEST, archive_key, verify_archive, write_archive
from qi_excel.collect import load_accepted
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.documents import write_application, write_report
from qi_excel.errors import QiError
from qi_excel.evaluation import (
    APPLICATION_FILE,
    CHECK_REPORT_FILE,
    CONSOLIDATION_FILE,
    LEDGER_FILE,
    PROJECT_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    load_secret,
)
from evaluated import build_evaluated


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> Path:
    folder = build_evaluated(tmp_path_factory.mktemp("arch") / "评价")
    write_application(folder)
    write_report(folder)
    return folder


@pytest.fixture
def folder(reported: Path, tmp_path: Path) -> Path:
    copy = Path(shutil.copytree(reported, tmp_path / "评价"))
    # copytree keeps mtimes, so the report stays newer than the consolidation
    return copy


def _rewrite(zip_path: Path, change) -> None:
    """Rebuild the zip with ``change(name, data) -> data | None`` (None drops the member)."""
    with zipfile.ZipFile(zip_path) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            new = change(info.filename, data)
            if new is not None:
                zf.writestr(info, new)


def test_archive_holds_every_record_with_manifest(folder: Path) -> None:
    path = write_archive(folder)
    assert path.parent == folder and path.name.startswith("评价档案-") and path.suffix == ".zip"
    with zipfile.ZipFile(path) as zf:
        names = [i.filename for i in zf.infolist()]
        for info in zf.infolist():
            if not info.filename.isascii():
                assert info.flag_bits & 0x800, info.filename
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        contents = {n: zf.read(n) for n in names}
    accepted = sorted(p.relative_to(folder).as_posix() for p in (folder / "回收").glob("*.xlsx"))
    assert len(accepted) == 8  # 7 experts + the self-evaluation, nothing superseded here
    assert len(load_accepted(folder)) == 8
    for expected in [PROJECT_FILE, LEDGER_FILE, CHECK_REPORT_FILE, SUMMARY_FILE, REPORT_FILE, APPLICATION_FILE, *accepted]:
        assert expected in names, expected
    assert manifest["evaluation_id"] == load_secret(folder).evaluation_id
    assert manifest["created_at"]
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(names) - {MANIFEST}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(contents[name]).hexdigest()
        if name == LEDGER_FILE:  # archived without this computer's absolute paths
            continue
        assert entry["size"] == len(contents[name]) == (folder / name).stat().st_size
        assert contents[name] == (folder / name).read_bytes()
    ledger_text = contents[LEDGER_FILE].decode("utf-8")
    # (this copy's ledger names the original folder: outside the folder only the file name stays)
    original = json.loads((folder / LEDGER_FILE).read_text(encoding="utf-8"))
    assert all(s.startswith("/") for e in original["entries"] for s in e["sources"])
    assert '"/' not in ledger_text
    archived = json.loads(ledger_text)
    assert [[s.rsplit("/", 1)[-1] for s in e["sources"]] for e in original["entries"]] \
        == [e["sources"] for e in archived["entries"]]
    assert "专家组意见.docx" in names and "excused" not in manifest
    assert verify_archive(path) == []


def test_tampered_archive_names_each_file(folder: Path) -> None:
    path = write_archive(folder)

    def change(name: str, data: bytes) -> bytes | None:
        if name == REPORT_FILE:
            return data + b"\0"
        if name == SUMMARY_FILE:
            return None
        return data

    _rewrite(path, change)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("补充说明.txt", "后来加的")
    problems = verify_archive(path)
    assert len(problems) == 3
    assert any("改动" in p and REPORT_FILE in p for p in problems)
    assert any("缺少" in p and SUMMARY_FILE in p for p in problems)
    assert any("多出" in p and "补充说明.txt" in p for p in problems)


def test_zip_we_did_not_write_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "别人的.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(QiError, match="不是 qi-excel 生成的评价档案"):
        verify_archive(other)
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr(MANIFEST, json.dumps({"files": []}))
    with pytest.raises(QiError, match="不是 qi-excel 生成的评价档案"):
        verify_archive(other)
    junk = tmp_path / "坏.zip"
    junk.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(QiError, match="不是有效的 zip 文件"):
        verify_archive(junk)


def test_incomplete_folder_is_refused_listing_what_is_missing(folder: Path) -> None:
    (folder / REPORT_FILE).unlink()
    (folder / SUMMARY_FILE).unlink()
    with pytest.raises(QiError) as err:
        write_archive(folder)
    assert REPORT_FILE in str(err.value) and SUMMARY_FILE in str(err.value)
    assert not list(folder.glob("评价档案-*.zip"))


def test_report_older_than_consolidation_is_refused(folder: Path) -> None:
    report = folder / REPORT_FILE
    stamp = (folder / CONSOLIDATION_FILE).stat().st_mtime
    os.utime(report, (stamp - 60, stamp - 60))
    with pytest.raises(QiError, match="qi-excel report"):
        write_archive(folder)


def test_draft_consolidation_is_not_archived(folder: Path) -> None:
    consolidate_folder(folder, draft=True)
    write_report(folder, draft=True)
    stamp = (folder / CONSOLIDATION_FILE).stat().st_mtime
    os.utime(folder / REPORT_FILE, (stamp + 60, stamp + 60))
    with pytest.raises(QiError, match="草稿"):
        write_archive(folder)


def test_renamed_file_is_named_as_renamed(folder: Path) -> None:
    path = write_archive(folder)
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr("评价报告-修改.docx" if name == REPORT_FILE else name, data)
    assert verify_archive(path) == [f"文件被改名：{REPORT_FILE} → 评价报告-修改.docx"]


@pytest.mark.parametrize("evil", ["../x", "/tmp/x", "a/../../x", "C:/x", "..\\x"])
def test_path_traversal_member_is_refused_not_extracted(folder: Path, tmp_path: Path, evil: str) -> None:
    path = write_archive(folder)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(evil, "evil")
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    problems = verify_archive(path)
    assert any("不安全的文件名" in p and evil in p for p in problems), problems
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before  # nothing written outside


def test_duplicate_member_names_are_reported(folder: Path) -> None:
    import warnings

    path = write_archive(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we add on purpose
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr(REPORT_FILE, "另一份")
    problems = verify_archive(path)
    assert any("同名文件" in p and REPORT_FILE in p for p in problems), problems


def test_manifest_rewritten_with_the_file_is_caught_with_the_key(folder: Path) -> None:
    path = write_archive(folder)
    key = archive_key(path)
    assert key is not None
    assert verify_archive(path, key=key) == []

    def forge(name: str, data: bytes) -> bytes | None:
        if name == REPORT_FILE:
            return data + b"\0"
        if name == MANIFEST:
            manifest = json.loads(data)
            for f in manifest["files"]:
                if f["path"] == REPORT_FILE:
                    f["size"] += 1
                    f["sha256"] = hashlib.sha256(report + b"\0").hexdigest()
            return json.dumps(manifest, ensure_ascii=False).encode()
        return data

    report = (folder / REPORT_FILE).read_bytes()
    _rewrite(path, forge)
    assert verify_archive(path) == []  # the hashes alone are fooled
    problems = verify_archive(path, key=key)
    assert len(problems) == 1 and "签名" in problems[0] and MANIFEST in problems[0]


def test_key_is_found_only_beside_its_own_evaluation(folder: Path, tmp_path: Path) -> None:
    path = write_archive(folder)
    moved = tmp_path / "别处" / path.name
    moved.parent.mkdir()
    shutil.copyfile(path, moved)
    assert archive_key(moved) is None
    assert verify_archive(moved) == []


def test_ledger_sources_lose_this_computers_folders() -> None:
    from qi_excel.archive import ledger_for_archive, local_path_free

    roots = ("/home/王芳/评价", "C:\\Users\\wf\\评价")
    assert local_path_free("/home/王芳/评价/收件箱/张三.xlsx", roots) == "收件箱/张三.xlsx"
    assert local_path_free("/home/王芳/评价/收件箱/回复.eml[1:张三.xlsx]", roots) == "收件箱/回复.eml[1:张三.xlsx]"
    assert local_path_free("link:/home/王芳/评价/收件箱/x.xlsx", roots) == "收件箱/x.xlsx"
    assert local_path_free("C:\\Users\\wf\\评价\\收件箱\\张三.xlsx", roots) == "收件箱/张三.xlsx"
    assert local_path_free("/home/王芳/评价2/张三.xlsx", roots) == "张三.xlsx"  # a sibling folder is outside
    assert local_path_free("D:\\邮件\\张三.xlsx", roots) == "张三.xlsx"
    assert local_path_free("收件箱/张三.xlsx", roots) == "收件箱/张三.xlsx"  # already relative
    ledger = {"version": 1, "entries": [{"sources": ["/home/王芳/评价/收件箱/a.xlsx", "/tmp/b.xlsx"],
                                         "label": "/tmp/b.xlsx", "sha256": "x"}]}
    out = json.loads(ledger_for_archive(json.dumps(ledger).encode(), roots))
    assert out["entries"][0]["sources"] == ["收件箱/a.xlsx", "b.xlsx"] and out["entries"][0]["label"] == "b.xlsx"
    assert ledger_for_archive(b"{broken", roots) == b"{broken"  # not ours to repair; archived as it is

"""``archive --verify`` stays bounded on hostile zips: linear name matching, no bomb passes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qi_excel import archive
from qi_excel.archive import FORMAT, FORMAT_VERSION, MANIFEST, verify_archive


def _manifest(files: list[dict]) -> str:
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "evaluation_id": "", "files": files})


def _entry(path: str, data: bytes) -> dict:
    return {"path": path, "role": "测试", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_many_missing_and_extra_members_are_matched_in_linear_time(tmp_path: Path) -> None:
    """30,000 listed-but-missing files and 30,000 extra members (quadratic before: ~60 s)."""
    path = tmp_path / "many.zip"
    n = 30_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        listed = [{"path": f"m/{i}", "size": 1, "sha256": hashlib.sha256(f"m{i}".encode()).hexdigest()} for i in range(n)]
        zf.writestr(MANIFEST, _manifest(listed))
        for i in range(n):
            zf.writestr(f"x/{i}", "e")
    # the member cap is lifted so that the matching itself is what runs; the timeout is only a
    # safety net against the quadratic comparison, not a timing assertion
    code = (
        "import sys, qi_excel.archive as a; a.MAX_MEMBERS = 10**6; a.MAX_SECONDS = 10**6;"
        "p = a.verify_archive(sys.argv[1]);"
        "print(sum('缺少' in x for x in p), sum('多出' in x for x in p))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          timeout=20, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(n), str(n)]


def test_renamed_member_is_still_found_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "renamed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(MANIFEST, _manifest([_entry("a.txt", b"alpha"), _entry("b.txt", b"beta")]))
        zf.writestr("a.txt", b"alpha")
        zf.writestr("c.txt", b"beta")
        zf.writestr("d.txt", b"delta")
    problems = verify_archive(path)
    assert "文件被改名：b.txt → c.txt" in problems
    assert "清单之外多出的文件：d.txt" in problems
    assert len(problems) == 2


def test_too_many_members_is_refused_not_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 10)
    path = tmp_path / "crowd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        data = [(f"{i}.txt", f"{i}".encode()) for i in range(20)]
        zf.writestr(MANIFEST, _manifest([_entry(n, d) for n, d in data]))
        for n, d in data:
            zf.writestr(n, d)
    problems = verify_archive(path)
    assert problems and "上限" in problems[0]


def _count_inflated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes handed out by every member stream opened during the test."""
    read = zipfile.ZipExtFile.read
    seen = [0]

    def counting(self, n=-1):  # noqa: ANN001
        out = read(self, n)
        seen[0] += len(out)
        return out

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    return seen


def test_member_bigger_than_its_manifest_size_is_not_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bomb listed with a small size: reading stops just past that size; never 校验通过."""
    path = tmp_path / "bomb.zip"
    listed = b"\0" * 1000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _manifest([_entry("评价报告.docx", listed)]))
        zf.writestr("评价报告.docx", b"\0" * (64 << 20))  # 64 MiB of zeros deflate to ~64 KB
    seen = _count_inflated(monkeypatch)
    problems = verify_archive(path)
    assert problems and any("评价报告.docx" in p for p in problems)
    assert seen[0] < (4 << 20)


def test_extra_bomb_member_is_not_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "extra-bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _manifest([_entry("a.txt", b"alpha"), _entry("gone.txt", b"gone")]))
        zf.writestr("a.txt", b"alpha")
        zf.writestr("bomb.bin", b"\0" * (64 << 20))
    seen = _count_inflated(monkeypatch)
    problems = verify_archive(path)
    assert any("缺少" in p and "gone.txt" in p for p in problems)
    assert any("多出" in p and "bomb.bin" in p for p in problems)
    assert seen[0] < (4 << 20)


def test_manifest_claiming_a_huge_size_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_INFLATED_BYTES", 1 << 20)
    path = tmp_path / "claims.zip"
    big = b"\0" * (2 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _manifest([_entry("big.bin", big)]))
        zf.writestr("big.bin", big)
    seen = _count_inflated(monkeypatch)
    problems = verify_archive(path)
    assert problems and any("上限" in p for p in problems)
    assert seen[0] < (1 << 20) + archive._CHUNK + 4096  # noqa: SLF001


def test_negative_size_in_the_manifest_does_not_unlock_the_whole_member(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "negative.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, _manifest([{"path": "x.bin", "size": -1, "sha256": "0" * 64}]))
        zf.writestr("x.bin", b"\0" * (64 << 20))
    seen = _count_inflated(monkeypatch)
    problems = verify_archive(path)
    assert problems and "x.bin" in problems[0]
    assert seen[0] < (4 << 20)

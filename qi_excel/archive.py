"""Clause 9's archive: the evaluation's records in one zip that can later prove it is intact.

After the evaluation the panel hands the scoring sheets and the report to the evaluation
organisation (clause 9). One zip carries them together with a ``manifest.json`` giving the
SHA-256 and size of every file, so whoever opens the archive years later can check that no
file was added, removed or altered since it was written (``verify_archive``). A hash list
alone cannot tell an honest manifest from one rewritten together with the file it lists, so
the manifest is also signed with the evaluation folder's key (HMAC-SHA256): with the folder
at hand, a rewritten manifest is caught too.
File names inside the zip are the folder's own relative names, stored as UTF-8 (flag bit
11), so Windows' Explorer, WPS and 7-Zip show 评价报告.docx rather than mojibake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__
from . import evaluation as ev
from .errors import QiError
from .lock import locked
from .fileio import atomic_path

MANIFEST = "manifest.json"
FORMAT = "qi-excel-archive"
FORMAT_VERSION = 1
ARCHIVE_PREFIX = "评价档案-"
_CHUNK = 1 << 20
_MAX_MANIFEST = 4 << 20

# Optional companions written by other commands; archived when present.
_OPTIONAL = ("评价申请表.pdf", "评价报告.pdf")


@dataclass(frozen=True)
class ArchiveEntry:
    path: str  # relative to the evaluation folder, "/" separated
    role: str  # what the file is, in Chinese, for the manifest reader


def _accepted_workbooks(folder: Path) -> list[str]:
    """Relative paths of the score workbooks in use (superseded and rejected ones left out)."""
    from . import collect

    ledger = collect._load_ledger(folder)  # noqa: SLF001 - see the report: a public helper is requested
    entries = ledger["entries"]
    statuses = collect._resolve_statuses(entries)  # noqa: SLF001
    out = []
    for e in entries:
        if statuses.get(e["sha256"]) == "accepted" and e.get("stored"):
            out.append(str(e["stored"]).replace("\\", "/"))
    return sorted(out)


def archive_entries(folder: str | Path) -> list[ArchiveEntry]:
    """What clause 9 asks for, checked to be complete and current before anything is written."""
    folder = Path(folder)
    missing: list[str] = []
    entries: list[ArchiveEntry] = []

    def need(name: str, role: str, how: str) -> None:
        if (folder / name).is_file():
            entries.append(ArchiveEntry(name, role))
        else:
            missing.append(f"{name}（{how}）")

    need(ev.PROJECT_FILE, "评价项目（基本信息、专家组）", "qi-excel new 建立")
    workbooks = _accepted_workbooks(folder) if (folder / ev.LEDGER_FILE).is_file() else []
    for rel in workbooks:
        if not (folder / rel).is_file():
            raise QiError(f"回收文件 {folder / rel} 丢失：请从收件箱重新运行 qi-excel collect 后再归档。")
        entries.append(ArchiveEntry(rel, "评分表（已回收）"))
    if not workbooks:
        missing.append(f"{ev.ACCEPTED_DIR}/ 中的专家评分表（qi-excel collect 回收）")
    else:
        entries.append(ArchiveEntry(ev.LEDGER_FILE, "回收记录"))
    need(ev.CHECK_REPORT_FILE, "回收检查报告", "qi-excel collect 生成")
    need(ev.SUMMARY_FILE, "评分汇总表", "qi-excel consolidate 生成")
    need(ev.REPORT_FILE, "评价报告", "qi-excel report 生成")
    if missing:
        raise QiError("归档材料不全，未生成档案。缺少：" + "；".join(missing) + "。")
    if (folder / ev.APPLICATION_FILE).is_file():
        entries.append(ArchiveEntry(ev.APPLICATION_FILE, "评价申请表"))
    for name in _OPTIONAL:
        if (folder / name).is_file():
            entries.append(ArchiveEntry(name, "PDF 版本"))

    consolidation = folder / ev.CONSOLIDATION_FILE
    if consolidation.is_file():
        from .consolidate import load_consolidation

        if load_consolidation(folder).draft:
            raise QiError("当前汇总结果是草稿，不能归档。请补齐专家评分后重新运行 qi-excel consolidate 和 qi-excel report。")
        report = folder / ev.REPORT_FILE
        if report.stat().st_mtime < consolidation.stat().st_mtime:
            raise QiError(
                f"{ev.REPORT_FILE} 生成于最近一次汇总之前，可能与汇总表不一致。请先运行 qi-excel report 重新生成评价报告。"
            )
    return entries


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _signature(key: bytes, manifest: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def _secret(folder: Path) -> ev.Secret | None:
    try:
        return ev.load_secret(folder)
    except QiError:
        return None


def archive_key(zip_path: str | Path) -> bytes | None:
    """The key of the evaluation folder an archive lies in, if it is that evaluation's archive."""
    path = Path(zip_path)
    secret = _secret(path.resolve().parent)
    if secret is None:
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _read_manifest(zf, path.name)
    except (QiError, zipfile.BadZipFile, OSError):
        return None
    return secret.hmac_key if manifest.get("evaluation_id") == secret.evaluation_id else None


@locked("archive")
def write_archive(folder: str | Path) -> Path:
    """Write ``评价档案-<时间>.zip`` into the folder and return its path."""
    folder = Path(folder)
    entries = archive_entries(folder)
    now = datetime.now().astimezone()
    target = folder / f"{ARCHIVE_PREFIX}{now:%Y%m%d-%H%M%S}.zip"
    files: list[dict[str, Any]] = []
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for entry in entries:
                source = folder / entry.path
                # Hash exactly the bytes that go into the zip (read once, never re-read).
                data = source.read_bytes()
                info = zipfile.ZipInfo(entry.path, date_time=_zip_time(source))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.flag_bits |= 0x800  # names are UTF-8
                zf.writestr(info, data)
                files.append({
                    "path": entry.path, "role": entry.role, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
            secret = _secret(folder)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "evaluation_id": secret.evaluation_id if secret else "",
                "created_at": now.isoformat(timespec="seconds"),
                "generator": f"qi-excel {__version__}",
                "standard": "《质量基础设施“一站式”服务评价规范》第 9 章 评价结果处置",
                "files": files,
            }
            if secret is not None:
                manifest["signature"] = _signature(secret.hmac_key, manifest)
            info = zipfile.ZipInfo(MANIFEST, date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return target


def _zip_time(path: Path) -> tuple[int, int, int, int, int, int]:
    t = datetime.fromtimestamp(path.stat().st_mtime)
    if t.year < 1980:  # zip cannot store earlier dates
        t = datetime(1980, 1, 1)
    return t.timetuple()[:6]


# ───────────────────────────── verification ─────────────────────────────


def _read_manifest(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    not_ours = f"{name} 不是 qi-excel 生成的评价档案（缺少有效的 {MANIFEST}），无法校验。"
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise QiError(not_ours) from None
    if info.file_size > _MAX_MANIFEST:
        raise QiError(not_ours)
    try:
        manifest = json.loads(zf.read(info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
        raise QiError(not_ours) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise QiError(not_ours)
    if manifest.get("version") != FORMAT_VERSION:
        raise QiError(f"{name} 的档案格式版本为 {manifest.get('version')}，本程序只能校验第 {FORMAT_VERSION} 版。")
    for f in manifest["files"]:
        if not (isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
                and isinstance(f.get("size"), int)):
            raise QiError(f"{name} 的 {MANIFEST} 内容不完整，无法校验。")
    return manifest


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _unsafe_name(name: str) -> bool:
    """A member name that would land outside the folder it is extracted into (or fool a reader)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("..", "") for part in name.rstrip("/").split("/"))


def verify_archive(zip_path: str | Path, *, key: bytes | None = None) -> list[str]:
    """Problems found (missing, altered, extra, renamed or unsafe files), each naming the file.

    With ``key`` (the evaluation's, see ``archive_key``) the manifest's signature is checked
    as well. Nothing is extracted: members are hashed as streams, so a tampered member named
    ``../x`` can do no harm here, and it is reported so nobody unpacks the archive blindly.
    """
    path = Path(zip_path)
    if not path.is_file():
        raise QiError(f"档案文件 {path} 不存在。")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise QiError(f"{path.name} 不是有效的 zip 文件，无法校验。") from None
    problems: list[str] = []
    with zf:
        manifest = _read_manifest(zf, path.name)
        if key is not None:
            signature = manifest.get("signature")
            if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(key, manifest)):
                problems.append(f"{MANIFEST} 的签名与本评价目录的密钥不符：清单在生成档案后被改动过，清单中的哈希值不可信。")
        infos = [i for i in zf.infolist() if not i.is_dir()]
        for name in sorted({i.filename for i in infos if _unsafe_name(i.filename)}):
            problems.append(f"不安全的文件名（解压时可能写到档案目录之外，请勿解压）：{name}")
        counts: dict[str, int] = {}
        for i in infos:
            counts[i.filename] = counts.get(i.filename, 0) + 1
        for name in sorted(n for n, k in counts.items() if k > 1):
            problems.append(f"档案中有 {counts[name]} 个同名文件（解压时会互相覆盖）：{name}")
        members = {i.filename: i for i in infos}
        listed = {f["path"] for f in manifest["files"]}
        extra = sorted(set(members) - listed - {MANIFEST})
        extra_hashes: dict[str, str] = {}
        for name in extra:
            try:
                extra_hashes[name] = _hash_member(zf, members[name])[0]
            except (zipfile.BadZipFile, OSError, EOFError, ValueError):
                pass
        renamed: set[str] = set()
        for f in manifest["files"]:
            name = f["path"]
            info = members.get(name)
            if info is None:
                target = next((n for n, h in extra_hashes.items() if h == f["sha256"] and n not in renamed), None)
                if target is not None:
                    renamed.add(target)
                    problems.append(f"文件被改名：{name} → {target}")
                else:
                    problems.append(f"缺少文件：{name}")
                continue
            try:
                digest, size = _hash_member(zf, info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError):
                problems.append(f"文件已损坏，无法读取：{name}")
                continue
            if digest != f["sha256"] or size != f["size"]:
                problems.append(f"文件已被改动（SHA-256 与清单不符）：{name}")
        for name in extra:
            if name not in renamed:
                problems.append(f"清单之外多出的文件：{name}")
    return problems

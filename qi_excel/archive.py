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
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from . import evaluation as ev
from .errors import QiError
from .lock import locked
from .fileio import atomic_path
from .folder_state import confine

if TYPE_CHECKING:
    from .consolidate import Consolidation

MANIFEST = "manifest.json"
FORMAT = "qi-excel-archive"
FORMAT_VERSION = 1
ARCHIVE_PREFIX = "评价档案-"
_CHUNK = 1 << 20
_MAX_MANIFEST = 4 << 20
# Bounds of one verification (an evaluation's archive holds a few dozen files, some MB each).
MAX_MEMBERS = 5000
MAX_INFLATED_BYTES = 2 << 30
MAX_SECONDS = 300

# Optional companions written by other commands; archived when present.
_OPTIONAL = ("评价申请表.pdf", "评价报告.pdf")
OPINION_ROLE = "专家组意见"


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
            confine(folder, e["stored"], ev.LEDGER_FILE)  # never pack a file from outside the folder
            out.append(str(e["stored"]).replace("\\", "/"))
    return sorted(out)


def _current_consolidation(folder: Path) -> "Consolidation | None":
    """The folder's signed consolidation, or None before the first one."""
    if not (folder / ev.CONSOLIDATION_FILE).is_file():
        return None
    from .consolidation_step import load_consolidation

    return load_consolidation(folder)


def archive_entries(folder: str | Path) -> list[ArchiveEntry]:
    """What clause 9 asks for, checked to be complete and current before anything is written."""
    return _checked_entries(Path(folder))[0]


def _checked_entries(folder: Path) -> tuple[list[ArchiveEntry], "Consolidation | None"]:
    """``archive_entries`` and the consolidation it checked, so the archive loads it only once."""
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
    from .opinion import OPINION_FILE

    if (folder / OPINION_FILE).is_file():
        entries.append(ArchiveEntry(OPINION_FILE, OPINION_ROLE))
    for name in _OPTIONAL:
        if (folder / name).is_file():
            entries.append(ArchiveEntry(name, "PDF 版本"))
    entries += _procedure_entries(folder)

    consolidation = folder / ev.CONSOLIDATION_FILE
    cons = _current_consolidation(folder)
    if cons is not None:
        if cons.draft:
            raise QiError("当前汇总结果是草稿，不能归档。请补齐专家评分后重新运行 qi-excel consolidate 和 qi-excel report。")
        report = folder / ev.REPORT_FILE
        if report.stat().st_mtime < consolidation.stat().st_mtime or _made_from_other_consolidation(folder, ev.REPORT_FILE):
            raise QiError(
                f"{ev.REPORT_FILE} 生成于最近一次汇总之前，可能与汇总表不一致。请先运行 qi-excel report 重新生成评价报告。"
            )
        opinion = folder / OPINION_FILE
        if opinion.is_file() and report.stat().st_mtime < opinion.stat().st_mtime:
            raise QiError(
                f"{OPINION_FILE} 在评价报告生成后又修改过，报告中的专家组意见可能不是定稿。"
                "请先运行 qi-excel report 重新生成评价报告。"
            )
    stale = [f"{name}（{why}）" for name in _OPTIONAL if (why := _stale_pdf(folder, name))]
    if stale:
        raise QiError(
            "以下文件早于它所依据的评价报告或汇总结果，归档会带上过时的内容，未生成档案：" + "；".join(stale)
            + "。请用 --pdf 重新生成（如 qi-excel report --pdf），或删除这些 PDF 后再归档。"
        )
    return entries, cons


def excused_entries(cons: "Consolidation | None") -> list[dict[str, str]]:
    """Each excused member and the reason, listed where their score sheet would be."""
    if cons is None:
        return []
    return [{**x.to_json(), "role": "评分表（未提交：专家请假）"} for x in cons.excused]


_ABSOLUTE = re.compile(r"^(?:link:)?(?:/|[A-Za-z]:[\\/]|\\\\)")


def local_path_free(text: str, roots: tuple[str, ...]) -> str:
    """A ledger source without the computer's own folders.

    Inside the evaluation folder it becomes the relative name (收件箱/张三.xlsx, with an
    e-mail attachment's ``[1:name]`` kept); anywhere else only the file name is kept, so
    the archive does not reveal a colleague's user name or directory layout.
    """
    if not _ABSOLUTE.match(text):
        return text
    body = text[5:] if text.startswith("link:") else text
    for root in roots:
        base = root.rstrip("/\\")
        if base and body.startswith(base) and body[len(base):len(base) + 1] in ("/", "\\"):
            return body[len(base) + 1:].replace("\\", "/")
    name = re.split(r"[\\/]", body)[-1]
    return name


def ledger_for_archive(data: bytes, roots: tuple[str, ...]) -> bytes:
    """回收/ledger.json as archived: every absolute path made relative (or reduced to a name)."""
    try:
        ledger = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return data
    if not isinstance(ledger, dict) or not isinstance(ledger.get("entries"), list):
        return data
    for entry in ledger["entries"]:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("sources"), list):
            entry["sources"] = [local_path_free(x, roots) if isinstance(x, str) else x for x in entry["sources"]]
        if isinstance(entry.get("label"), str):
            entry["label"] = local_path_free(entry["label"], roots)
    return (json.dumps(ledger, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _made_from_other_consolidation(folder: Path, name: str) -> bool:
    """The document's own record says it was rendered from a consolidation other than the current one."""
    from .docx_render import _file_sha, rendered_records

    record = rendered_records(folder).get(name)
    if record is None or "consolidation" not in record:
        return False
    consolidation = folder / ev.CONSOLIDATION_FILE
    current = _file_sha(consolidation) if consolidation.is_file() else ""
    return record["consolidation"] != current


def _stale_pdf(folder: Path, name: str) -> str | None:
    """Why the PDF ``name`` must not be archived, or None when it is current (or absent).

    A PDF is current when it was made from the .docx now beside it and, for the report, from
    the current consolidation. Folders from before these records fall back to file times.
    """
    from .docx_render import _file_sha, rendered_records

    pdf = folder / name
    docx = pdf.with_suffix(".docx")
    if not pdf.is_file():
        return None
    if not docx.is_file():
        return f"对应的 {docx.name} 不存在"
    record = rendered_records(folder).get(name)
    consolidation = folder / ev.CONSOLIDATION_FILE
    if record is not None and record.get("from"):
        if record["from"] != _file_sha(docx):
            return f"由较早的 {docx.name} 转换而来"
        if docx.name == ev.REPORT_FILE and _made_from_other_consolidation(folder, name):
            return "依据的是较早的汇总结果"
        return None
    if pdf.stat().st_mtime < docx.stat().st_mtime:
        return f"早于 {docx.name}"
    if docx.name == ev.REPORT_FILE and consolidation.is_file() and pdf.stat().st_mtime < consolidation.stat().st_mtime:
        return "早于最近一次汇总"
    return None


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
def write_archive(folder: str | Path, *, now: datetime | None = None) -> Path:
    """Write ``评价档案-<时间>.zip`` into the folder and return its path.

    ``now`` (the archive's name and the manifest's ``created_at``) defaults to the clock; the
    caller passes its own for a reproducible archive.
    """
    folder = Path(folder)
    entries, cons = _checked_entries(folder)
    if now is None or now.tzinfo is None:  # an aware time from the caller keeps its own zone
        now = (now or datetime.now()).astimezone()
    target = folder / f"{ARCHIVE_PREFIX}{now:%Y%m%d-%H%M%S}.zip"
    files: list[dict[str, Any]] = []
    roots = tuple(dict.fromkeys((str(folder.resolve()), str(folder.absolute()))))
    excused = excused_entries(cons)
    with atomic_path(target) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for entry in entries:
                source = folder / entry.path
                # Hash exactly the bytes that go into the zip (read once, never re-read).
                data = source.read_bytes()
                if entry.path == ev.LEDGER_FILE:
                    data = ledger_for_archive(data, roots)
                info = zipfile.ZipInfo(entry.path, date_time=_zip_time(source))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.flag_bits |= 0x800  # names are UTF-8
                zf.writestr(info, data)
                files.append({
                    "path": entry.path, "role": entry.role, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
            from .audit import archive_members  # issue 14: the operation log and its readable copy

            audit_files, audit_head = archive_members(folder)
            for name, data, role in audit_files:
                info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.flag_bits |= 0x800
                zf.writestr(info, data)
                files.append({"path": name, "role": role, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
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
            if audit_head is not None:
                manifest["audit"] = audit_head
            if excused:
                # In place of the missing score sheet: who did not take part, and why.
                manifest["excused"] = excused
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


class _Budget:
    """What one verification may inflate and how long it may take.

    An archive is untrusted once it has left the folder: a member that inflates to gigabytes
    or a zip of a million members must end in a refusal, never in 校验通过 after minutes.
    """

    def __init__(self) -> None:
        self.left = MAX_INFLATED_BYTES
        self.deadline = time.monotonic() + MAX_SECONDS

    def expired(self) -> bool:
        return time.monotonic() > self.deadline


class _TooBig(Exception):
    """A member inflated past what the manifest says it holds (or past the budget)."""


class _OutOfTime(Exception):
    pass


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, budget: _Budget) -> tuple[str, int]:
    """SHA-256 and size of a member, reading at most ``limit`` + 1 bytes of it."""
    h = hashlib.sha256()
    size = 0
    limit = max(limit, 0)  # read(-1) would mean "everything"
    with zf.open(info) as fh:
        while chunk := fh.read(max(1, min(_CHUNK, limit + 1 - size, budget.left + 1))):
            size += len(chunk)
            budget.left -= len(chunk)
            if size > limit or budget.left < 0:
                raise _TooBig
            h.update(chunk)
            if budget.expired():
                raise _OutOfTime
    return h.hexdigest(), size


def _unsafe_name(name: str) -> bool:
    """A member name that would land outside the folder it is extracted into (or fool a reader)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("..", "") for part in name.rstrip("/").split("/"))


def _name_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Member names that would escape the folder or overwrite each other when unpacked."""
    problems = [f"不安全的文件名（解压时可能写到档案目录之外，请勿解压）：{name}"
                for name in sorted({i.filename for i in infos if _unsafe_name(i.filename)})]
    counts: dict[str, int] = {}
    for i in infos:
        counts[i.filename] = counts.get(i.filename, 0) + 1
    for name in sorted(n for n, k in counts.items() if k > 1):
        problems.append(f"档案中有 {counts[name]} 个同名文件（解压时会互相覆盖）：{name}")
    return problems


def _rename_candidates(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], extra: list[str],
                       listed_files: list[dict[str, Any]], budget: "_Budget") -> dict[tuple[str, int], list[str]]:
    """Extra members by (hash, size), to recognise a listed file that was renamed.

    A missing file may have been renamed: only extras whose size matches a missing file's
    are worth hashing, and each is read no further than that size.
    """
    missing_sizes = {f["size"] for f in listed_files if f["path"] not in members}
    by_hash: dict[tuple[str, int], list[str]] = {}
    for name in extra:
        size = members[name].file_size
        if size not in missing_sizes:
            continue
        try:
            digest, got = _hash_member(zf, members[name], size, budget)
        except (_TooBig, zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
            continue
        if got == size:
            by_hash.setdefault((digest, size), []).append(name)
    return by_hash


def verify_archive(zip_path: str | Path, *, key: bytes | None = None) -> list[str]:
    """Problems found (missing, altered, extra, renamed or unsafe files), each naming the file.

    With ``key`` (the evaluation's, see ``archive_key``) the manifest's signature is checked
    as well. Nothing is extracted: members are hashed as streams, so a tampered member named
    ``../x`` can do no harm here, and it is reported so nobody unpacks the archive blindly.
    Work is bounded: names are matched through dictionaries, a member is never inflated past
    the size the manifest gives it, and members, total size and time have caps; going past
    one is a problem, so a zip bomb is never 校验通过.
    """
    path = Path(zip_path)
    if not path.is_file():
        raise QiError(f"档案文件 {path} 不存在。")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise QiError(f"{path.name} 不是有效的 zip 文件，无法校验。") from None
    problems: list[str] = []
    budget = _Budget()
    with zf:
        manifest = _read_manifest(zf, path.name)
        if key is not None:
            signature = manifest.get("signature")
            if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(key, manifest)):
                problems.append(f"{MANIFEST} 的签名与本评价目录的密钥不符：清单在生成档案后被改动过，清单中的哈希值不可信。")
        infos = [i for i in zf.infolist() if not i.is_dir()]
        listed_files = manifest["files"]
        if len(infos) > MAX_MEMBERS or len(listed_files) > MAX_MEMBERS:
            problems.insert(0, f"档案中有 {len(infos)} 个文件、清单列出 {len(listed_files)} 个，超过 {MAX_MEMBERS} 个的上限，"
                               "不像是评价档案，未逐个校验。")
            return problems
        claimed = sum(max(f["size"], 0) for f in listed_files)
        if claimed > MAX_INFLATED_BYTES:
            problems.insert(0, f"清单列出的文件共 {claimed / 1048576:.0f} MB，超过 {MAX_INFLATED_BYTES >> 20} MB 的上限，"
                               "不像是评价档案，未逐个校验。")
            return problems
        problems.extend(_name_problems(infos))
        members = {i.filename: i for i in infos}
        listed = {f["path"] for f in listed_files}
        extra = sorted(set(members) - listed - {MANIFEST})
        try:
            by_hash = _rename_candidates(zf, members, extra, listed_files, budget)
            renamed: set[str] = set()
            for f in listed_files:
                name = f["path"]
                info = members.get(name)
                if info is None:
                    candidates = by_hash.get((f["sha256"], f["size"]))
                    if candidates:
                        target = candidates.pop(0)
                        renamed.add(target)
                        problems.append(f"文件被改名：{name} → {target}")
                    else:
                        problems.append(f"缺少文件：{name}")
                    continue
                try:
                    digest, size = _hash_member(zf, info, f["size"], budget)
                except _TooBig:
                    problems.append(f"文件已被改动（解压后比清单所列的 {f['size']} 字节大）：{name}")
                    if budget.left < 0:
                        problems.append(f"档案解压后的总大小超过 {MAX_INFLATED_BYTES >> 20} MB 的上限，校验已停止。")
                        return problems
                    continue
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
                    problems.append(f"文件已损坏，无法读取：{name}")
                    continue
                if digest != f["sha256"] or size != f["size"]:
                    problems.append(f"文件已被改动（SHA-256 与清单不符）：{name}")
        except _OutOfTime:
            problems.append(f"校验超过 {MAX_SECONDS} 秒仍未完成，已停止：档案可能被构造成难以校验的样子，请勿使用。")
            return problems
        for name in extra:
            if name not in renamed:
                problems.append(f"清单之外多出的文件：{name}")
        from .audit import verify_archived_log

        problems.extend(verify_archived_log(zf, manifest))  # issue 14: the hash chain, record by record
    return problems


def _procedure_entries(folder: Path) -> list[ArchiveEntry]:
    """The procedure's papers (review record, plan, sign-in sheets, pledge) when written."""
    from .procedure import PROCEDURE_DOCUMENTS

    return [ArchiveEntry(name, role) for name, role in PROCEDURE_DOCUMENTS if (folder / name).is_file()]

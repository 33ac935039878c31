"""The evaluation folder's own state is checked, not trusted: paths, binding, signed records.

Offices copy last year's folder to start a new evaluation and mail folders around, so a
file is not genuine just because it sits in ``.qi`` or ``回收/``:

* every path read from a state file (ledger, issued.json) is confined to the folder
  (``confine``), so a hand-edited ``stored`` path cannot make ``archive`` pack /etc/passwd;
* at the first ``issue`` the evaluation key is bound to what the evaluation is about
  (服务名称, 申报单位, the evaluation's year) and to the rubric copy, in a record signed
  with the key (``.qi/binding.json``). A folder copied as a template and edited for another
  applicant no longer matches its binding and is refused before any workbook is issued,
  collected or counted, with a message that says to start with ``qi-excel new``; a rubric
  copy changed after issue is reported to the organizer as such, not blamed on the experts;
* records other commands read back (the consolidation) are signed with the same key
  (``sign_record`` / ``verify_record``).

Basic information stays freely editable until the first ``issue``: ``new`` only makes the
folder, and the organizer fills 评价项目.xlsx afterwards.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

from .errors import QiError

if TYPE_CHECKING:
    from .evaluation import EvaluationInfo, Secret
    from .rubric import Rubric

BINDING_FILE = ".qi/binding.json"
BINDING_VERSION = 1
SIGNATURE_KEY = "signature"


# ───────────────────────────── paths from state files ─────────────────────────────


def confine(folder: str | Path, relative: object, source: str) -> Path:
    """``folder / relative`` for a path read from a state file, refused if it leaves the folder.

    ``source`` names the state file in the message. Absolute paths, drive letters, ``..``
    and links that lead outside are all refused: such a path was never written by qi-excel.
    """
    root = Path(folder)
    text = str(relative or "").replace("\\", "/")
    parts = PurePosixPath(text).parts
    bad = (
        not text.strip()
        or text.startswith("/")
        or (text[1:2] == ":" and text[:1].isascii() and text[:1].isalpha())  # a drive letter, as ^[A-Za-z]:
        or any(p in ("..", "") for p in text.split("/"))
        or "\x00" in text
    )
    if not bad:
        target = root.joinpath(*parts)
        try:
            inside = _no_link_below(root, parts) or relative_text(resolved(target), resolved(root)) is not None
        except (OSError, RuntimeError, ValueError):
            inside = False
        if inside:
            return target
    raise QiError(
        f"{source} 中记录的文件路径“{text[:200]}”指向评价目录之外，不是 qi-excel 写入的内容（该文件可能被手工改动过）。"
        "请从备份恢复该文件；为安全起见，本次未使用该路径。"
    )


def _no_link_below(root: Path, parts: tuple[str, ...]) -> bool:
    """True when none of ``parts`` (plain names, no ``..``) below ``root`` is a link.

    Then ``root / parts`` resolves inside ``root`` wherever ``root`` itself leads:
    ``os.path.realpath`` only appends names that are not links. A few lstat calls instead of
    resolving both paths (each ``confine`` call would cost ~40 µs, and commands make dozens).
    False, for the full check, on Windows and whenever a name cannot be looked at for any
    reason but its absence (a link loop above, no permission...).
    """
    if os.name == "nt" or not parts:  # no name: whether the folder itself resolves is the question
        return False
    path = str(root)
    for name in parts:
        path = os.path.join(path, name)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return False
        except (FileNotFoundError, NotADirectoryError):
            continue  # realpath keeps a missing name as it is
        except (OSError, ValueError):
            return False
    return True


def resolved(path: str | os.PathLike[str]) -> str:
    """``str(Path(path).resolve())``, for about half its cost on POSIX (every command resolves a
    few dozen paths to keep them inside the folder): the same ``os.path.realpath``, and the same
    RuntimeError for a symlink loop, without building Path objects on the way."""
    if os.name == "nt":
        return str(Path(path).resolve())
    real = os.path.realpath(path)
    try:
        os.stat(real)
    except OSError as exc:  # as Path.resolve: a loop is an error, a missing file is not
        if exc.errno == errno.ELOOP:
            raise RuntimeError(f"Symlink loop from {exc.filename!r}") from None
    return real


def resolved_in(path: Path, folders: dict[str, str]) -> str:
    """``resolved(path)``, resolving each folder only once for many files in a few folders.

    ``os.path.realpath`` walks a path name by name, so the last name, unless it is a link, just
    adds itself to the folder's resolved path: ``folders`` (the caller's, for one call) keeps
    the folders resolved so far.
    """
    name = path.name
    if os.name == "nt" or name in ("", ".", "..") or os.path.islink(path):
        return resolved(path)
    parent = str(path.parent)
    base = folders.get(parent)
    if base is None:
        base = folders[parent] = resolved(parent)
    return os.path.join(base, name)


def relative_text(path: str, root: str) -> str | None:
    """``Path(path).relative_to(root).as_posix()`` for two ``resolved`` paths; None when ``path``
    is not inside ``root``."""
    if os.name == "nt" or root == "/" or not root.startswith("/") or root.startswith("//"):  # as pathlib says
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            return None
    if path == root:
        return "."
    prefix = root + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


# ───────────────────────────── signed records ─────────────────────────────


def _canonical(data: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k != SIGNATURE_KEY}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_record(key: bytes, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` plus an HMAC-SHA256 of its canonical JSON under the evaluation key."""
    out = dict(data)
    out[SIGNATURE_KEY] = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
    return out


def verify_record(key: bytes, data: Mapping[str, Any]) -> bool:
    signature = data.get(SIGNATURE_KEY)
    if not isinstance(signature, str):
        return False
    expected = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


# ───────────────────────────── binding the key to the evaluation ─────────────────────────────


def _year(text: str) -> str:
    found = re.search(r"(19|20)\d{2}", text or "")
    return found.group(0) if found else ""


def _norm(text: str) -> str:
    return "".join((text or "").split())


def subject(info: "EvaluationInfo") -> dict[str, str]:
    """What an evaluation is about: the service, the applicant and the year it is evaluated in.

    The year rather than the full date: a meeting moved by a week is the same evaluation,
    last year's folder reused for this year's is not.
    """
    return {"service_name": _norm(info.service_name), "applicant": _norm(info.applicant),
            "year": _year(info.evaluation_date)}


def _fingerprint(values: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(values), ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def _load_binding(folder: Path, secret: "Secret") -> dict[str, Any] | None:
    path = folder / BINDING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not verify_record(secret.hmac_key, data) \
            or data.get("evaluation_id") != secret.evaluation_id:
        raise QiError(
            f"{path} 已损坏或被改动（签名与本评价目录的密钥不符）：无法确认这个评价目录评价的是哪个项目。"
            "如这是从另一次评价复制来的目录，请用 qi-excel new 建立新的评价目录（可加 --roster-from 复用专家组名单）；"
            "否则请从备份恢复该文件。"
        )
    return data


def _describe(values: Mapping[str, Any]) -> str:
    year = values.get("year") or "未填写"
    return f"服务名称“{values.get('service_name', '')}”、申报单位“{values.get('applicant', '')}”、评价年份 {year}"


def check_binding(folder: str | Path, info: "EvaluationInfo", rubric_sha256: str, secret: "Secret") -> bool:
    """Refuse a folder whose basic information or rubric copy no longer match its key.

    ``rubric_sha256`` is the rubric copy's fingerprint (``evaluation.rubric_fingerprint``): status
    checks the binding without paying for parsing the rubric.

    Returns whether the folder is bound (False before its first issue: nothing to check yet).
    """
    root = Path(folder)
    data = _load_binding(root, secret)
    if data is None:
        return False
    raw = data.get("subject")
    bound: dict[str, Any] = raw if isinstance(raw, dict) else {}
    now = subject(info)
    if not bound.get("year") or not now["year"]:
        # 评价日期 is optional and often unknown when the self-evaluation goes out (6.1):
        # a year on one side only is no evidence of another evaluation
        bound = {**bound, "year": now["year"]}
    if _fingerprint(bound) != _fingerprint(now):
        raise QiError(
            f"评价目录 {root} 的基本信息与首次发放评分工作簿时不一致：首次发放时为{_describe(bound)}，"
            f"现在为{_describe(now)}。这个目录的密钥属于原来那次评价，用它发放、回收或汇总会把两次评价的评分混在一起，"
            "因此未做任何处理。新的评价请用 qi-excel new 建立新的评价目录（可加 --roster-from 复用这里的专家组名单）；"
            "如只是误改，请把评价项目.xlsx 的基本信息改回首次发放时的内容。"
        )
    if data.get("rubric_sha256") != rubric_sha256:
        raise QiError(
            f"评价目录 {root} 中的评价表副本 .qi/rubric.toml 在发放评分工作簿之后被改动过（与发放时的评价表不一致）。"
            "已发放的工作簿都按原评价表填写，请从备份恢复 .qi/rubric.toml；专家交回的工作簿并无问题，无需退回。"
            "如确需改用新的评价表，请用 qi-excel new --rubric 建立新的评价目录并重新发放。"
        )
    return True


def bind_evaluation(folder: str | Path, info: "EvaluationInfo", rubric: "Rubric", secret: "Secret") -> None:
    """At issue: check an existing binding, or write the first one (signed with the key)."""
    from .fileio import write_text_atomic

    root = Path(folder)
    if check_binding(root, info, rubric.fingerprint, secret):
        data = _load_binding(root, secret) or {}
        bound = data.get("subject") if isinstance(data.get("subject"), dict) else None
        if bound is None or bound.get("year") or not subject(info)["year"]:
            return
        # the year became known after the first issue: bind it from now on
    record = sign_record(secret.hmac_key, {
        "version": BINDING_VERSION,
        "evaluation_id": secret.evaluation_id,
        "subject": subject(info),
        "rubric_sha256": rubric.fingerprint,
    })
    write_text_atomic(root / BINDING_FILE, json.dumps(record, ensure_ascii=False, indent=2) + "\n")

"""Parsed forms of the rubric copy and 评价项目.xlsx kept in ``.qi/``, so a fresh process skips parsing.

``collect`` and ``status`` run in a fresh process each time and a person waits for them:
parsing ``.qi/rubric.toml`` (tomllib is pure Python, then every limit the score sheet
imposes) and reading 评价项目.xlsx cost more than a tenth of ``collect``. Both files rarely
change between runs, so ``issue`` and ``collect`` (which already write the folder, under its
lock) keep what they parsed here, and the next run rebuilds the same objects from JSON.

The cache can never change a result:

* it is keyed by the SHA-256 of the source bytes that were parsed (and by the format and
  qi-excel version): a rubric or roster edited since is simply parsed again;
* it is written only after the source parsed and validated in full, and it is signed with
  the evaluation's key like the other state files (``folder_state.sign_record``): an
  unsigned, forged, foreign or truncated cache is ignored, never an error;
* it is JSON, never pickle: evaluation folders travel between offices and are untrusted.

Pure conversions (``rubric_to_json`` / ``rubric_from_json``, ``project_to_json`` /
``project_from_json``) do no I/O and are tested without files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .project import Project
    from .rubric import Rubric

CACHE_FILES = {"rubric": ".qi/cache-rubric.json", "project": ".qi/cache-project.json"}
FORMAT = "qi-excel-derived"
# Bump when the parser or the JSON form below changes what a source parses to.
FORMAT_VERSION = 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The modules whose code decides what a source parses to (and what limits it must keep).
_PARSER_MODULES = ("derived_cache.py", "rubric.py", "textfit.py", "layout.py", "score_validation.py",
                   "evaluation.py", "project.py", "xlsx_read.py", "sheet_reader.py", "package.py")
_code: list[str] = []


def _code_version() -> str:
    """Which code wrote a cache: the format, qi-excel's version and the size and time of each
    parser module, so that changed code (an upgrade, a fix installed over the same version
    number) parses again instead of trusting what older code made of the same bytes."""
    if not _code:
        import os

        from . import __version__

        here = os.path.dirname(os.path.abspath(__file__))
        stamps = []
        for name in _PARSER_MODULES:
            try:
                st = os.stat(os.path.join(here, name))
                stamps.append(f"{st.st_size}.{st.st_mtime_ns}")
            except OSError:
                stamps.append("-")  # not a plain file (a zipped install): the version still counts
        _code.append(f"{FORMAT_VERSION}/{__version__}/{sha256_hex(' '.join(stamps).encode())[:16]}")
    return _code[0]


# ───────────────────────────── pure conversions ─────────────────────────────


def rubric_to_json(rubric: "Rubric") -> dict[str, Any]:
    """The parsed rubric as plain JSON values (the source text is not repeated: it is the key)."""

    def ranges(allowed: Any) -> list[list[int]]:
        return [[lo, hi] for lo, hi in allowed.ranges]

    return {
        "title": rubric.title, "standard": rubric.standard, "total": rubric.total,
        "level1": [
            [l1.id, l1.name, l1.points, [
                [l2.id, l2.name, l2.points, l2.requirement, [
                    [i.id, i.level1, i.level2, i.number, i.max, ranges(i.allowed), i.requirement, i.criterion,
                     i.explain, [[p.id, p.name, p.max, ranges(p.allowed)] for p in i.parts]]
                    for i in l2.items]]
                for l2 in l1.level2]]
            for l1 in rubric.level1],
    }


def rubric_from_json(data: dict[str, Any], source_text: str) -> "Rubric":
    """The exact ``Rubric`` that ``rubric_to_json`` was given (``source_text`` is its source)."""
    from .rubric import Allowed, Item, Level1, Level2, Part, Rubric

    def allowed(raw: list[list[int]]) -> Allowed:
        return Allowed(tuple((lo, hi) for lo, hi in raw))

    level1 = tuple(
        Level1(id1, name1, points1, tuple(
            Level2(id2, name2, points2, req2, tuple(
                Item(iid, il1, il2, number, maximum, allowed(ranges), req, criterion, explain,
                     tuple(Part(pid, pname, pmax, allowed(pranges)) for pid, pname, pmax, pranges in parts))
                for iid, il1, il2, number, maximum, ranges, req, criterion, explain, parts in items))
            for id2, name2, points2, req2, items in level2))
        for id1, name1, points1, level2 in data["level1"])
    return Rubric(data["title"], data["standard"], data["total"], level1, source_text)


def project_to_json(project: "Project") -> dict[str, Any]:
    """基本信息, the roster and its problems (not 申请材料审查: only ``load_project`` uses this)."""

    return {
        "info": list(project.info),
        "experts": [list(e) for e in project.experts],
        "rows": list(project.rows),
        "problems": [[p.row, p.message, p.severity] for p in project.problems],
    }


def project_from_json(data: dict[str, Any]) -> "Project":
    from .project import EvaluationInfo, Expert, PanelProblem, Project

    info = data["info"]
    # every field given (none left to a default): a record from other code is refused, not guessed
    if len(info) != len(EvaluationInfo._fields) or any(
            len(e) != len(Expert._fields) for e in data["experts"]):
        raise ValueError("record does not match the dataclasses")
    experts = tuple(Expert(*e) for e in data["experts"])
    return Project(EvaluationInfo(*info), experts, tuple(data["rows"]),
                   tuple(PanelProblem(row, message, severity) for row, message, severity in data["problems"]))


# ───────────────────────────── the files ─────────────────────────────


def read_cache(folder: str | Path, kind: str, source_sha256: str, key: bytes) -> dict[str, Any] | None:
    """The cached JSON form for exactly these source bytes, or None (absent, stale, unsigned,
    forged, truncated or from another qi-excel version: the caller parses the source)."""
    from .folder_state import verify_record

    try:
        record = json.loads((Path(folder) / CACHE_FILES[kind]).read_bytes())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("format") != FORMAT or record.get("kind") != kind
            or record.get("code") != _code_version() or record.get("source_sha256") != source_sha256
            or not isinstance(record.get("payload"), str) or not verify_record(key, record)):
        return None
    try:
        data = json.loads(record["payload"])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def write_cache(folder: str | Path, kind: str, source_sha256: str, key: bytes, data: dict[str, Any]) -> None:
    """Keep a parsed form; the caller holds the folder lock (``issue``, ``collect``).

    A folder that cannot be written (read-only copy, full disk) just stays uncached.
    """
    from .errors import QiError
    from .fileio import write_bytes_if_changed
    from .folder_state import sign_record

    # the parsed form travels as one JSON string: checking the signature then hashes that string
    # instead of re-serialising thousands of values (this is read on every collect and status)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    record = sign_record(key, {"format": FORMAT, "kind": kind, "code": _code_version(),
                               "source_sha256": source_sha256, "payload": payload})
    try:
        # a folder whose cache already says this (another folder with the same rubric text was
        # read first in this process) keeps its file untouched
        write_bytes_if_changed(Path(folder) / CACHE_FILES[kind], (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    except (QiError, OSError, ValueError):  # write_text_atomic reports an OS error as a QiError
        pass

"""The findings registry: every code the package can produce is registered, with a name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import qi_excel
from qi_excel.findings import (
    CODES,
    REGISTRY,
    UNATTRIBUTED_CODES,
    Finding,
    codes_where,
    finding,
    finding_name,
)

PACKAGE = Path(qi_excel.__file__).parent
CODE_SHAPE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
# calls whose first argument is a finding code: a finding made directly, a read error that
# collect turns into the finding of the same code, and checks' ``add`` (per-cell findings,
# capped per kind); a new helper that takes a code belongs in this set
CODE_TAKERS = {"finding", "Finding", "ReadError", "add"}


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _first_str(elts: list[ast.expr]) -> str | None:
    if elts and isinstance(elts[0], ast.Constant) and isinstance(elts[0].value, str):
        return elts[0].value
    return None


def produced_codes() -> dict[str, str]:
    """code → first place it is produced, from the source of every module of the package.

    Counted: the first argument of finding(...), Finding(...) and ReadError(...), and a
    (code, sentence) pair returned or used as a default (how the format sniffer names a file).
    """
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "findings.py":
            continue  # the registry itself
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            code = None
            if isinstance(node, ast.Call) and _call_name(node) in CODE_TAKERS:
                code = _first_str(node.args)
            elif isinstance(node, (ast.Return, ast.BoolOp)):
                for pair in [node.value] if isinstance(node, ast.Return) else node.values:
                    if isinstance(pair, ast.Tuple) and len(pair.elts) == 2 and isinstance(pair.elts[1], (ast.Constant, ast.JoinedStr)):
                        code = _first_str(pair.elts)
            if code is not None and CODE_SHAPE.match(code):
                found.setdefault(code, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_every_produced_code_is_registered() -> None:
    produced = produced_codes()
    assert {"CORRUPT", "ZIP_BOMB", "WRONG_TYPE_ODS", "LEGACY_XLS", "SCORE_TEXT", "DUPLICATE", "READ_FAILED"} <= set(produced)
    missing = {code: where for code, where in produced.items() if code not in REGISTRY}
    assert missing == {}


def test_every_registered_code_is_produced_somewhere() -> None:
    """A registered code nothing produces is a stale row of 检查报告's filter list."""
    assert set(REGISTRY) - set(produced_codes()) == set()


def test_registry_entries_are_complete() -> None:
    for code, t in REGISTRY.items():
        assert t.code == code and CODE_SHAPE.match(code)
        assert t.severity in ("error", "warning") and CODES[code] == t.severity
        assert t.category in ("file", "identity", "content", "between")
        assert t.name and finding_name(code) == t.name
    assert finding_name("SOMETHING_NEW") == "其他问题"


def test_unattributed_codes_are_file_problems_and_identity_errors() -> None:
    assert UNATTRIBUTED_CODES == codes_where(categories=("file",)) | codes_where(categories=("identity",), severity="error")
    assert {"CORRUPT", "MACRO_ENABLED", "TOO_COMPLEX", "BAD_SIGNATURE", "SENDER_MISMATCH"} <= UNATTRIBUTED_CODES
    # a warning about who saved it, or any content or between-files finding, leaves the file attributed
    assert not {"EXPERT_RENAMED", "SENDER_UNKNOWN", "LAST_SAVED_BY_OTHER", "SCORE_BLANK", "DUPLICATE"} & UNATTRIBUTED_CODES
    assert all(CODES[c] == "error" for c in UNATTRIBUTED_CODES)


def test_finding_takes_severity_from_registry_and_round_trips() -> None:
    f = finding("REMARK_MISSING", "第 12 行扣分未写说明。", "评分表!H12")
    assert f.severity == "warning"
    assert Finding.from_json(f.to_json()) == f
    with pytest.raises(KeyError):
        finding("NOT_A_CODE", "x")

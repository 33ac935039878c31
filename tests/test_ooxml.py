"""Every .xlsx and .docx qi-excel writes passes an OOXML schema check (openxml-audit).

Excel and Word "repair" (or refuse) a file whose XML breaks the schema, and an organizer then
sends a repaired copy around. Each output is produced here by the project's own code and
validated; the validator's known false positives are listed one by one with the schema's
reason, never skipped wholesale.

To cover a new output, add one line to ``PRODUCERS``: a label and a function that takes the
demo evaluation folder (a full run: issue, returns, collect, consolidate, documents) and a
scratch folder, and returns the file(s) to check.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pytest

openxml_audit = pytest.importorskip("openxml_audit")

from qi_excel.consolidation_step import consolidate_folder  # noqa: E402
from qi_excel.demo import run_demo  # noqa: E402
from qi_excel.documents import export_templates, write_report  # noqa: E402
from qi_excel.evaluation import new_evaluation  # noqa: E402
from qi_excel.resources import template_path  # noqa: E402


@dataclass(frozen=True)
class FalsePositive:
    """A finding the validator reports although the schema allows what the file does."""

    part: str  # regex on the part URI
    description: str  # regex on the finding's text
    path: str  # regex on the element path ("" matches any)
    reason: str  # why the schema allows it (ECMA-376 reference)


KNOWN_FALSE_POSITIVES: tuple[FalsePositive, ...] = (
    FalsePositive(
        part=r"^/xl/styles\.xml$",
        description=r"^Unexpected element '(b|i|strike|condense|extend|outline|shadow|u|vertAlign|sz|color|name|family|charset|scheme)' found",
        path=r"/fonts\[1\]/font\[\d+\]$",
        reason="CT_Font (ECMA-376 Part 1, 18.8.22) is an xsd:choice with maxOccurs=unbounded: its "
               "children may come in any order (openpyxl writes name/sz/color first); the validator "
               "checks them as a sequence.",
    ),
)


def _producers() -> list[tuple[str, Callable[[Path, Path], Iterable[Path]]]]:
    def one(rel: str) -> Callable[[Path, Path], Iterable[Path]]:
        return lambda demo, _tmp: [demo / rel]

    def issued(kind: str) -> Callable[[Path, Path], Iterable[Path]]:
        def pick(demo: Path, _tmp: Path) -> list[Path]:
            files = sorted((demo / "发放").glob("*.xlsx"))
            chosen = [f for f in files if ("自我评价" in f.name) == (kind == "self")]
            assert chosen, f"no {kind} workbook in 发放/"
            return chosen[:1]
        return pick

    def blank_project(_demo: Path, tmp: Path) -> list[Path]:
        new_evaluation(tmp / "空白")
        return [tmp / "空白" / "评价项目.xlsx"]

    def draft(demo: Path, tmp: Path) -> Path:
        folder = Path(shutil.copytree(demo, tmp / "草稿"))
        consolidate_folder(folder, draft=True)
        return folder

    def draft_report(demo: Path, tmp: Path) -> list[Path]:
        return write_report(draft(demo, tmp), draft=True)[:1]

    def draft_summary(demo: Path, tmp: Path) -> list[Path]:
        return [draft(demo, tmp) / "汇总表.xlsx"]

    return [
        ("评价项目.xlsx（示例）", one("评价项目.xlsx")),
        ("评价项目.xlsx（空白）", blank_project),
        ("评价项目.xlsx（内置模板）", lambda _d, _t: [template_path("workbook_templates", "评价项目.xlsx")]),
        ("专家评分表（发放）", issued("expert")),
        ("自我评价记录（发放）", issued("self")),
        ("专家交回的评分表（模拟填写）", lambda demo, _t: sorted((demo / "收件箱").glob("01-*.xlsx"))[:1]),
        ("检查报告.xlsx", one("检查报告.xlsx")),
        ("汇总表.xlsx", one("汇总表.xlsx")),
        ("评价申请表.docx", one("评价申请表.docx")),
        ("评价报告.docx", one("评价报告.docx")),
        ("评价报告（草稿）.docx", draft_report),
        ("汇总表.xlsx（草稿）", draft_summary),
        ("导出的 Word 模板", lambda _d, tmp: export_templates(tmp / "模板")),
    ]


PRODUCERS = _producers()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ooxml") / "演示评价"
    run_demo(folder, echo=lambda _: None, seed=2026)
    return folder


@pytest.fixture(scope="module")
def validator():
    return openxml_audit.OpenXmlValidator()


def _known(error) -> FalsePositive | None:
    for fp in KNOWN_FALSE_POSITIVES:
        if (re.search(fp.part, error.part_uri or "") and re.search(fp.description, error.description or "")
                and re.search(fp.path, error.path or "")):
            return fp
    return None


def real_errors(validator, path: Path) -> list[str]:
    result = validator.validate(path)
    out = []
    for error in result.errors:
        if error.severity != openxml_audit.ValidationSeverity.ERROR or _known(error) is not None:
            continue
        out.append(f"{path.name}: {error.part_uri} {error.path} {error.description[:200]}")
    return out


@pytest.mark.parametrize(("label", "produce"), PRODUCERS, ids=[label for label, _ in PRODUCERS])
def test_output_passes_openxml_audit(demo: Path, tmp_path: Path, validator, label: str, produce) -> None:
    paths = list(produce(demo, tmp_path))
    assert paths and all(p.is_file() for p in paths), label
    problems = [e for p in paths for e in real_errors(validator, p)]
    assert not problems, "\n".join(problems[:20])


def test_the_validator_sees_a_real_schema_error(demo: Path, tmp_path: Path, validator) -> None:
    """The check can fail: a tcPr with vMerge after vAlign (docxtpl's order) is reported."""
    import zipfile

    source = demo / "评价报告.docx"
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                text, n = re.subn(r'(<w:vMerge(?: w:val="\w+")?/>)(.*?)(<w:vAlign w:val="\w+"/>)',
                                  r"\2\3\1", text, count=1)
                assert n == 1
                data = text.encode("utf-8")
            zout.writestr(info, data)
    assert any("vMerge" in e for e in real_errors(validator, broken))


def test_false_positive_list_is_narrow() -> None:
    """Each entry names one part and specific elements, never a whole part or file."""
    for fp in KNOWN_FALSE_POSITIVES:
        assert fp.part.startswith("^") and fp.description not in ("", ".*") and fp.reason

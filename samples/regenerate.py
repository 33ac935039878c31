"""Regenerate samples/ from the demo run: `python samples/regenerate.py`.

The samples are what a reader opens without running anything: the organizer's 评价项目.xlsx,
one blank issued workbook, the returns as experts sent them (one re-saved by LibreOffice
Calc, one by email, one rejected then corrected, one sent twice) and everything the tool
made from them. tests/test_samples.py rebuilds them and compares contents, so they stay
current with the code. Needs LibreOffice (soffice) for the Calc-saved return.
"""

from __future__ import annotations

import email
import re
import shutil
import sys
import tempfile
from email import policy
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from qi_excel.demo import run_demo, sample_clock  # noqa: E402
from qi_excel.office import convert  # noqa: E402

SEED = 2026
# The one clock of the samples: the end of the sample project's site visit. Everything dated in
# them (mail drafts, signatures, save times, the summary) follows from it, never from today.
CLOCK = sample_clock()
CALC_SAVED = "04-王芳-评分表.xlsx"  # this expert uses LibreOffice Calc

# sample path → path inside the demo folder
FILES = {
    "评价项目.xlsx": "评价项目.xlsx",
    "发放/01-周立新-评分表.xlsx": "发放/01-周立新-评分表.xlsx",
    "发放/01-周立新-评分表.eml": "发放/01-周立新-评分表.eml",
    "交回/01-周立新-评分表.xlsx": "收件箱/01-周立新-评分表.xlsx",
    "交回/02-陈晓岚-回复邮件.eml": "收件箱/02-陈晓岚-回复邮件.eml",
    "交回/03-刘卫东-评分表.xlsx": "收件箱/03-刘卫东-评分表.xlsx",
    "交回/03-刘卫东-评分表-更正.xlsx": "收件箱/03-刘卫东-评分表-更正.xlsx",
    f"交回/{CALC_SAVED}": f"收件箱/{CALC_SAVED}",
    "交回/05-李建国-评分表-初稿.xlsx": "收件箱/05-李建国-评分表-初稿.xlsx",
    "交回/05-李建国-评分表.xlsx": "收件箱/05-李建国-评分表.xlsx",
    "交回/06-赵敏-评分表.xlsx": "收件箱/06-赵敏-评分表.xlsx",
    "交回/07-孙浩然-评分表.xlsx": "收件箱/07-孙浩然-评分表.xlsx",
    "交回/自我评价记录-长沙县质量基础设施一站式服务中心.xlsx": "收件箱/自我评价记录-长沙县质量基础设施一站式服务中心.xlsx",
    "输出/检查报告.xlsx": "检查报告.xlsx",
    "输出/汇总表.xlsx": "汇总表.xlsx",
    "输出/评价申请表.docx": "评价申请表.docx",
    "输出/评价报告.docx": "评价报告.docx",
    "输出/申请材料审查记录.docx": "申请材料审查记录.docx",
    "输出/评价计划.docx": "评价计划.docx",
    "输出/首次会议签到表.docx": "首次会议签到表.docx",
    "输出/末次会议签到表.docx": "末次会议签到表.docx",
    "输出/持续改进承诺书.docx": "持续改进承诺书.docx",
}


def _resave_with_calc(folder: Path) -> None:
    source = folder / "收件箱" / CALC_SAVED
    with tempfile.TemporaryDirectory() as tmp:
        saved = convert(source, "xlsx:Calc MS Excel 2007 XML", tmp)
        shutil.copyfile(saved, source)


def build(dest: Path) -> list[Path]:
    """Run the demo and copy the sample files into ``dest``; returns the files written."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "演示评价"
        run_demo(folder, echo=lambda _: None, seed=SEED, now=CLOCK, after_returns=_resave_with_calc)
        written = []
        for target, source in FILES.items():
            path = dest / target
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / source, path)
            written.append(path)
    return written


# ───────────────────────────── what "current" means ─────────────────────────────

_VOLATILE = [
    (re.compile(r"\S*演示评价/"), ""),  # where the demo folder was: a new temp folder each run
    (re.compile(r"QI-\d{8}-[0-9A-F]{8}"), "QI-<编号>"),  # evaluation id: new per run
    (re.compile(r"[0-9a-f]{16,}"), "<hash>"),  # content hashes of signed (per-run keyed) files
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<时间>"),
]


def _norm(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def fingerprint(path: Path) -> list[str]:
    """The visible content of a sample file, with what changes on every run masked.

    Bytes differ on every run (a new evaluation key signs every workbook), so samples are
    compared by what a reader sees: cell values of the visible sheets, document text, mail.
    """
    suffix = path.suffix.lower()
    out: list[str] = []
    if suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                continue
            out.append(f"## {ws.title}")
            for row in ws.iter_rows(values_only=True):
                cells = ["" if v is None else str(v) for v in row]
                if any(cells):
                    out.append(_norm("\t".join(cells).rstrip()))
        wb.close()
    elif suffix == ".docx":
        import docx

        doc = docx.Document(str(path))
        out.extend(_norm(p.text) for p in doc.paragraphs if p.text.strip())
        for table in doc.tables:
            for row in table.rows:
                out.append(_norm("\t".join(c.text for c in row.cells)))
    elif suffix == ".eml":
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        out.extend(_norm(f"{k}: {msg[k]}") for k in ("From", "To", "Subject"))
        body = msg.get_body(preferencelist=("plain",))
        out.append(_norm(body.get_content() if body else ""))
        out.extend(f"附件: {part.get_filename()}" for part in msg.iter_attachments())
    else:
        raise ValueError(f"no fingerprint for {path}")
    return out


SCREENSHOTS = {  # picture for the README → (sample file, page)
    "screenshots/专家评分表.png": ("交回/01-周立新-评分表.xlsx", 1),
    "screenshots/评价报告-封面.png": ("输出/评价报告.docx", 1),
    "screenshots/评价报告-评分结果.png": ("输出/评价报告.docx", 4),
}


def screenshots(dest: Path) -> list[Path]:
    """PNG pages for the README, rendered the way a reader's office suite prints them."""
    import subprocess

    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for target, (source, page) in SCREENSHOTS.items():
            pdf = convert(dest / source, "pdf", Path(tmp) / Path(source).stem)
            out = dest / target
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page), "-singlefile",
                 str(pdf), str(out.with_suffix(""))],
                check=True, timeout=120,
            )
            written.append(out)
    return written


def main() -> None:
    for old in HERE.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
    for path in build(HERE) + screenshots(HERE):
        print(path.relative_to(HERE))


if __name__ == "__main__":
    main()

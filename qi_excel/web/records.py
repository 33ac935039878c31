"""What the page writes into the folder that a CLI user types in Excel or Word themselves.

On the command line the organizer records the material review (clause 6.3) in 评价项目.xlsx
with Excel, and the panel leader's edited 专家组意见.docx is saved over the draft in Word. The
page offers both without leaving the browser; each writes exactly what the library would
read back (``workbook_project.fill_review``; ``opinion.read_opinion`` must accept the file
before it is stored), under the folder's lock, and leaves a record in the folder's log like
every command (``Evaluation.action``).
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from .. import evaluation as ev
from ..errors import QiError
from ..fileio import write_bytes_atomic
from ..handle import Evaluation
from ..review import REVIEW_SHEET, MaterialReview

AUDIT_COMMAND = "ui"  # the log says which records came from the page
MAX_DOCX_BYTES = 10 * 1024 * 1024
MAX_DOCX_UNPACKED = 100 * 1024 * 1024  # a .docx of text; more than this is not a document


def record_review(evaluation: Evaluation, review: MaterialReview) -> MaterialReview:
    """Type ``review`` into 申请材料审查 of the folder's 评价项目.xlsx; returns what it now reads."""
    from ..workbook_project import fill_review

    path = evaluation.path / ev.PROJECT_FILE
    options = {"操作": "记录申请材料审查", "审查结论": review.conclusion}
    with evaluation.action(AUDIT_COMMAND, options, read=[path]):
        if evaluation.project.review is None:
            raise QiError(f"{ev.PROJECT_FILE} 中没有“{REVIEW_SHEET}”工作表，无法记录审查结果。"
                          f"请用“新建评价”下载空白 {ev.PROJECT_FILE}，把其中的“{REVIEW_SHEET}”工作表复制到本评价的文件中。")
        write_bytes_atomic(path, fill_review(path.read_bytes(), review))
    recorded = evaluation.project.review
    if recorded is None:  # written but not read back: say so rather than pretend
        raise QiError(f"审查结果已写入 {ev.PROJECT_FILE}，但读回时找不到“{REVIEW_SHEET}”工作表，请用 Excel/WPS 打开检查。")
    return recorded


def _check_docx_container(data: bytes, shown: str) -> None:
    """A zip that would unpack to far more than a document holds is refused before Word parsing."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_DOCX_UNPACKED:
                raise QiError(f"{shown} 解压后超过 {MAX_DOCX_UNPACKED // 1048576} MB，不像是专家组意见文档。")
    except zipfile.BadZipFile:
        raise QiError(f"{shown} 无法打开，不是有效的 Word 文档（.docx）。请在 Word/WPS 中“另存为”Word 文档（*.docx）。") from None


def store_opinion(evaluation: Evaluation, data: bytes, shown: str) -> None:
    """Keep the leader's edited opinion as the folder's 专家组意见.docx, only if the report can use it.

    The file is read with the same reader ``report`` uses (its four headings in order, a
    conclusion); a file it refuses never replaces the one in the folder.
    """
    from ..opinion import OPINION_FILE, read_opinion

    try:
        if len(data) > MAX_DOCX_BYTES:
            raise QiError(f"{shown} 超过 {MAX_DOCX_BYTES // 1048576} MB。")
        _check_docx_container(data, shown)
        with tempfile.TemporaryDirectory(prefix="qi-opinion-") as tmp:
            probe = Path(tmp) / OPINION_FILE
            probe.write_bytes(data)
            read_opinion(probe)
    except QiError as err:
        raise QiError(str(err).replace(OPINION_FILE, shown)
                      + f"\n上传的文件未保存，评价文件夹中原有的 {OPINION_FILE} 保持不变。") from None
    with evaluation.action(AUDIT_COMMAND, {"操作": "上传专家组意见", "文件": shown}):
        write_bytes_atomic(evaluation.path / OPINION_FILE, data)

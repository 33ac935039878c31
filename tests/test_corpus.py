"""988 workbooks saved by Microsoft Excel that qi-excel never issued: all rejected, none crash."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from qi_excel import evaluation as ev
from qi_excel.collect import collect

from shared_corpus import CORPUS


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Excel 语料库 {CORPUS} 不存在")
def test_every_corpus_file_rejected_with_a_clear_finding(issued_folder: Path) -> None:
    result = collect(issued_folder, [CORPUS])
    assert len(result.files) == len(list(CORPUS.glob("*.xlsx"))) >= 900
    assert all(f.status == "rejected" for f in result.files)
    first = Counter(f.findings[0].code for f in result.files)
    assert set(first) <= {"NOT_ISSUED", "CORRUPT", "ZIP_BOMB", "TOO_LARGE"}, first
    assert first["NOT_ISSUED"] >= 900
    assert all(f.findings[0].message and f.findings[0].severity == "error" for f in result.files)
    assert "READ_FAILED" not in first
    assert not list((issued_folder / ev.ACCEPTED_DIR).glob("*.xlsx"))

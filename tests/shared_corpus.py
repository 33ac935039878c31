"""Where the shared corpus of Excel-made workbooks is: beside the repository (CI's clone has
``../shared``), at QI_EXCEL_CORPUS, or in the developers' workplace."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_CANDIDATES = [
    *([Path(os.environ["QI_EXCEL_CORPUS"])] if os.environ.get("QI_EXCEL_CORPUS") else []),
    _REPO.parent / "shared" / "corpus" / "excel-made",
    Path("/work/shared/corpus/excel-made"),
]
CORPUS = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])

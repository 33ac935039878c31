"""Regenerate the shipped 评价项目.xlsx from the field lists in qi_excel/project.py.

Run from the repository root after changing INFO_FIELDS or PANEL_COLUMNS:
    python3 workbook_templates/make_templates.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from qi_excel.project import PROJECT_FILE  # noqa: E402
from qi_excel.fileio import write_bytes_atomic  # noqa: E402
from qi_excel.workbook_project import render_project_template  # noqa: E402

if __name__ == "__main__":
    target = write_bytes_atomic(HERE / PROJECT_FILE, render_project_template())
    print(f"已生成 {target}")

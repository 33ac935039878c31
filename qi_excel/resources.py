"""Find the shipped templates both in an installed wheel and in a source checkout.

The wheel carries ``workbook_templates/`` and ``docx_templates/`` inside the package
(``qi_excel/workbook_templates``); a checkout keeps them at the repository root. Code asks
here instead of guessing paths.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def template_dir(kind: str) -> Path:
    """``kind`` is ``"workbook_templates"`` or ``"docx_templates"``."""
    for candidate in (_PACKAGE_DIR / kind, _PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"template folder {kind} is missing from this installation")


def template_path(kind: str, name: str) -> Path:
    path = template_dir(kind) / name
    if not path.is_file():
        raise FileNotFoundError(f"template {kind}/{name} is missing from this installation")
    return path

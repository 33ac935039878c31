"""Running LibreOffice headless: PDF previews, recalculation, and re-saving in tests.

Each call gets its own user profile (parallel ``soffice`` runs otherwise collide on the
shared one) and a timeout (a stuck office process must not hang the organizer's command).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import QiError

DEFAULT_TIMEOUT = 180


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(source: str | Path, fmt: str, outdir: str | Path, *, timeout: int = DEFAULT_TIMEOUT) -> Path:
    """Convert ``source`` with ``soffice --convert-to fmt`` into ``outdir``; return the new file.

    ``fmt`` is what LibreOffice takes after ``--convert-to`` (``pdf``, ``xlsx``,
    ``xlsx:Calc MS Excel 2007 XML`` (no shell quoting), ``docx``); the output keeps the source's stem.
    Recalculation on load is forced so formulas written with cached zeros show real values.
    """
    exe = soffice_path()
    if exe is None:
        raise QiError("未找到 LibreOffice（soffice），无法转换文件。请安装 LibreOffice 后重试。")
    source = Path(source).resolve()
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    ext = fmt.split(":", 1)[0]
    with tempfile.TemporaryDirectory(prefix="qi-soffice-") as profile:
        _force_recalculation(Path(profile))
        cmd = [
            exe,
            f"-env:UserInstallation=file://{profile}",
            "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            "--convert-to", fmt, "--outdir", str(outdir), str(source),
        ]
        env = dict(os.environ, HOME=profile)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise QiError(f"LibreOffice 转换 {source.name} 超时（{timeout} 秒）。") from None
    target = outdir / f"{source.stem}.{ext}"
    if proc.returncode != 0 or not target.exists():
        detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[-300:]
        raise QiError(f"LibreOffice 未能把 {source.name} 转换为 {ext}：{detail or '无输出'}")
    return target


_RECALC_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def _force_recalculation(profile: Path) -> None:
    """Pre-seed the fresh profile so Calc always recalculates on load (0 = always)."""
    user = profile / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(_RECALC_XCU, encoding="utf-8")

"""samples/ is current: rebuilding it from the code gives the same visible contents."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from qi_excel.office import soffice_path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("regenerate", SAMPLES / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


regenerate = _regenerate_module()


def test_every_sample_is_committed_and_opens():
    for name in regenerate.FILES:
        path = SAMPLES / name
        assert path.is_file(), f"samples/{name} 缺失，请运行 python samples/regenerate.py"
        assert regenerate.fingerprint(path), name


def test_calc_saved_return_really_comes_from_libreoffice():
    import zipfile

    app = zipfile.ZipFile(SAMPLES / "交回" / regenerate.CALC_SAVED).read("docProps/app.xml").decode()
    assert "LibreOffice" in app


@pytest.mark.office
@pytest.mark.skipif(soffice_path() is None, reason="LibreOffice (soffice) 未安装：无法重建 Calc 保存的示例")
def test_samples_are_current(tmp_path: Path):
    rebuilt = regenerate.build(tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in rebuilt) == sorted(Path(n) for n in regenerate.FILES)
    stale = [
        name for name in regenerate.FILES
        if regenerate.fingerprint(tmp_path / name) != regenerate.fingerprint(SAMPLES / name)
    ]
    assert not stale, f"samples/ 已过期（{', '.join(stale)}），请运行 python samples/regenerate.py"

"""samples/ is current: rebuilding it from the code gives the same visible contents."""

from __future__ import annotations

import datetime
import importlib.util
import sys
import types
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


class _RealInstances(type):
    """isinstance() against a shifted class still accepts the real dates and datetimes."""

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls.__mro__[1])


def _shifted_clock(monkeypatch: pytest.MonkeyPatch, shift: datetime.timedelta) -> None:
    """Every qi_excel module sees today as ``shift`` later (no faketime needed)."""

    class Later(datetime.datetime, metaclass=_RealInstances):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.datetime.now(tz) + shift

        @classmethod
        def today(cls):  # type: ignore[override]
            return datetime.datetime.today() + shift

    class LaterDate(datetime.date, metaclass=_RealInstances):
        @classmethod
        def today(cls):  # type: ignore[override]
            return datetime.date.today() + shift

    module = types.SimpleNamespace(**{k: getattr(datetime, k) for k in dir(datetime) if not k.startswith("__")})
    module.datetime, module.date = Later, LaterDate
    for name, mod in list(sys.modules.items()):
        if not name.startswith("qi_excel") or mod is None:
            continue
        for attr, real, fake in (("datetime", datetime, module), ("datetime", datetime.datetime, Later),
                                 ("date", datetime.date, LaterDate)):
            if getattr(mod, attr, None) is real:
                monkeypatch.setattr(mod, attr, fake)


@pytest.mark.office
@pytest.mark.skipif(soffice_path() is None, reason="LibreOffice (soffice) 未安装：无法重建 Calc 保存的示例")
def test_samples_do_not_depend_on_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Built today and as if it were five years and a day later, the samples read the same."""
    import importlib

    today = regenerate.build(tmp_path / "今天")
    for name in ("archive", "collect", "consolidate", "demo", "eml", "evaluation", "workbook"):
        importlib.import_module(f"qi_excel.{name}")  # loaded before their clocks are shifted
    _shifted_clock(monkeypatch, datetime.timedelta(days=5 * 365 + 1, hours=7))
    eml = sys.modules["qi_excel.eml"]

    assert eml.datetime.date.today() > datetime.date.today() + datetime.timedelta(days=1000)
    later = regenerate.build(tmp_path / "五年后")
    assert len(today) == len(later) == len(regenerate.FILES)
    changed = [
        name for name in regenerate.FILES
        if regenerate.fingerprint(tmp_path / "今天" / name) != regenerate.fingerprint(tmp_path / "五年后" / name)
    ]
    assert not changed, f"示例内容随日期变化：{', '.join(changed)}"


def test_mail_drafts_are_dated_by_the_issue_day_not_today(sample_folder: Path):
    """The .eml sample used to carry the day it was generated, so the samples aged daily."""
    import email
    from email import policy

    from qi_excel.workbook import issue_workbooks

    result = issue_workbooks(sample_folder, eml=True, issued_at="2025-06-06T09:00:00+08:00")
    msg = email.message_from_bytes((sample_folder / result.eml_files[0]).read_bytes(), policy=policy.default)
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert body.rstrip().endswith("2025年6月6日")  # no zero padding (GB/T 9704), the issue day

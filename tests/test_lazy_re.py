"""Patterns compiled on first use behave as the compiled pattern does."""

from __future__ import annotations

import re

from qi_excel.lazy_re import lazy_re


def test_a_lazy_pattern_is_compiled_only_when_used() -> None:
    pattern = lazy_re(r"(\d+)-(\d+)")
    assert "_compiled" not in vars(pattern)
    assert pattern.fullmatch("12-34").groups() == ("12", "34")  # type: ignore[union-attr]
    assert "_compiled" in vars(pattern)


def test_a_lazy_pattern_gives_what_re_compile_gives() -> None:
    source, flags = rb"<(?:[A-Za-z_][\w.\-]*:)?xf\b", 0
    lazy, eager = lazy_re(source, flags), re.compile(source, flags)
    data = b'<cellXfs><xf numFmtId="0"/><x:xf numFmtId="14"/><xfs/></cellXfs>'
    assert [m.span() for m in lazy.finditer(data)] == [m.span() for m in eager.finditer(data)]
    assert lazy.search(data, 20).span() == eager.search(data, 20).span()  # type: ignore[union-attr]
    assert lazy.pattern == source and lazy.flags == eager.flags
    assert lazy_re(r"a", re.IGNORECASE).match("A") is not None

"""Regular expressions compiled the first time they are used.

Every CLI command runs in a fresh process, and compiling a pattern runs Python's regex
compiler (a tenth of a millisecond to half a millisecond each). The reader and the checks
define a few dozen patterns, most of which a given command never runs (``status`` reads no
returned workbook while every file carries a valid verification mark; a run without e-mail
never parses mail headers): compiled at import, each one would make every command wait.
"""

from __future__ import annotations

import re
from typing import Any, AnyStr, cast


class _LazyPattern:
    """Stands in for a compiled pattern; the first attribute used compiles it.

    Each method is looked up once and then kept on this object, so later calls cost what
    the compiled pattern's own method costs.
    """

    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:  # only called for attributes not yet kept
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = self.__dict__["_compiled"] = re.compile(*self._source)
        value = getattr(compiled, name)
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        return f"lazy_re({self._source[0]!r})"


def lazy_re(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, compiled on first use."""
    return cast("re.Pattern[AnyStr]", _LazyPattern(pattern, flags))

"""One exception type for everything a user can get wrong.

The CLI turns a ``QiError`` into its message and an exit code, never a traceback, so
every layer raises this with a Chinese sentence that names the file, sheet or cell.
"""

from __future__ import annotations


class QiError(Exception):
    """A problem the user can fix; ``str(err)`` is the Chinese message shown to them."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)

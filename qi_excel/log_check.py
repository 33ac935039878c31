"""The result of checking an operation log's hash chain (``audit.verify_log``).

Apart from ``audit`` because every command that changes a folder imports ``audit`` to append
one record, and defining a frozen dataclass costs ~0.7 ms; ``qi_excel.audit`` still exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogCheck:
    records: int
    head: str
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

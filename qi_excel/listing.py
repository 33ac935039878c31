"""What the local web page shows for an evaluation: its row in the list, its checklist.

Apart from ``handle`` because only the web page needs them: defining frozen dataclasses
costs ~0.7 ms each, which every command line run would pay for on import otherwise.
``qi_excel.handle`` still exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Step:
    """One line of the README's workflow table, as a checklist entry."""

    number: int
    title: str
    command: str
    done: bool
    optional: bool = False
    note: str = ""


@dataclass(frozen=True)
class Summary:
    """What the list page shows for one evaluation; cheap to build (no workbook opened
    once cached)."""

    name: str  # the folder name: the evaluation's id in the workspace
    evaluation_id: str
    service_name: str
    applicant: str
    stage: str
    accepted: int
    panel: int
    total: Decimal | None
    max_total: int | None
    draft: bool
    problem: str = ""  # why the folder could not be read, if so

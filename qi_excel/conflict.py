"""Conflict of interest at issue (clause 4.3 客观公正): who may not score this applicant.

An expert employed by the applicant (or by the service platform under evaluation) would be
scoring their own work; two experts from one unit weigh that unit twice. Rosters are typed
by hand, so unit names are compared normalised: NFKC (full-width letters, digits and
brackets become half-width), whitespace and punctuation removed, and the legal-form
suffixes 股份有限公司 / 有限责任公司 / 有限公司 / 中心 ignored.

Containment decision: one normalised name containing the other (both at least
``MIN_CONTAINED`` characters) counts as the same unit, because a department
(“…服务中心综合科”) or a longer registered name (“湖南…有限公司”) of the applicant is
still the applicant. Same-unit warnings among experts use equality only: two different
departments of one large university are common and legitimate.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .project import Expert

SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "中心")
MIN_CONTAINED = 4  # characters; shorter names (“长沙”) match far too much
_DROP = re.compile(r"[\s\"'“”‘’「」『』()（）\[\]【】<>《》〈〉·・.,，、;；:：\-—_/]+")


@dataclass(frozen=True)
class ConflictProblem:
    severity: Literal["error", "warning"]
    message: str
    expert_ids: tuple[str, ...]


def normalise_unit(name: str) -> str:
    """A unit name reduced to what distinguishes it."""
    text = _DROP.sub("", unicodedata.normalize("NFKC", name or ""))
    changed = True
    while changed and text:
        changed = False
        for suffix in SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                changed = True
    return text


def same_unit(a: str, b: str) -> bool:
    """Whether two unit names denote the same unit (equal, or one contains the other)."""
    x, y = normalise_unit(a), normalise_unit(b)
    if not x or not y:
        return False
    if x == y:
        return True
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    return len(short) >= MIN_CONTAINED and short in long


def conflicts(applicant: str, service_name: str, experts: Sequence[Expert]) -> list[ConflictProblem]:
    """Errors for experts working at the applicant or the platform; warnings for shared units."""
    out: list[ConflictProblem] = []
    parties = [(label, name) for label, name in (("申报单位", applicant), ("被评价的服务平台", service_name)) if name]
    for e in experts:
        for label, name in parties:
            if e.employer and same_unit(e.employer, name):
                out.append(ConflictProblem(
                    "error",
                    f"专家 {e.name}（序号 {e.number}）的工作单位“{e.employer}”与{label}“{name}”是同一单位，"
                    "存在利益冲突，不能担任本次评价的专家（规范 4.3 条 客观公正）。请更换专家或更正工作单位",
                    (e.expert_id,),
                ))
                break
    groups: dict[str, list[Expert]] = {}
    for e in experts:
        key = normalise_unit(e.employer)
        if key:
            groups.setdefault(key, []).append(e)
    for members in groups.values():
        if len(members) >= 2:
            names = "、".join(f"{e.name}（序号 {e.number}）" for e in members)
            out.append(ConflictProblem(
                "warning",
                f"{names} 来自同一单位“{members[0].employer}”；专家组宜由不同单位的专家组成（规范 7.2 条），请确认",
                tuple(e.expert_id for e in members),
            ))
    return out

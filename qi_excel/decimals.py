"""Exact rounding and how a score is written: the one place a Decimal becomes text.

Pure and at the bottom, so the consolidation maths, the agreement figures, the workbooks and
the Word documents all round (half up, on the exact fraction) and print numbers alike.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def round_half_up(value: Fraction | int | Decimal, places: int) -> Decimal:
    """Round an exact value half away from zero (what ROUND_HALF_UP means for Decimal).

    Works on the exact fraction with integers, so 2.675 becomes 2.68 and 1/3 becomes 0.33
    without any binary or 28-digit intermediate that could tip a tie the wrong way.
    """
    frac = Fraction(value)
    scale = 10**places
    num = abs(frac.numerator) * scale
    den = frac.denominator
    q = (2 * num + den) // (2 * den)
    if frac < 0:
        q = -q
    return Decimal(q).scaleb(-places) if places else Decimal(q)


def plain_number(value: Decimal) -> str:
    """A Decimal for prose: '50' rather than '50.00' when it is a whole number."""
    value = Decimal(value)
    return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)


def percent_text(share: Decimal) -> str:
    """0.30 → '30%'."""
    return plain_number(share * 100) + "%"


def fmt_decimal(value: Decimal, places: int) -> str:
    """Print a score with exactly ``places`` decimals, rounding half up (never via float)."""
    quantum = Decimal(1).scaleb(-places) if places else Decimal(1)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def fmt_points(value: Decimal) -> str:
    """A total as the person wrote it: ``856`` rather than ``856.00`` when it is whole."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.normalize())

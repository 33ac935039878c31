"""qi-excel: expert-panel evaluation of a quality-infrastructure one-stop service in Excel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Evaluation", "__version__"]

if TYPE_CHECKING:
    from .handle import Evaluation


def __getattr__(name: str) -> Any:
    # Lazy export: ``qi-excel --help`` imports this package and must not pay for the handle's
    # imports (openpyxl and friends load inside its methods, but keep the door shut anyway).
    if name == "Evaluation":
        from .handle import Evaluation

        return Evaluation
    raise AttributeError(f"module 'qi_excel' has no attribute {name!r}")

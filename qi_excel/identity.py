"""Keyed signatures that tie a workbook to its evaluation, expert and rubric.

A returned workbook is untrusted: anyone can type an evaluation id into a hidden sheet.
Only the organizer's folder holds the key, so only workbooks it issued carry a signature
that verifies, and the rubric text is part of what is signed, so a workbook issued under
another rubric fails too.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping, Sequence

# Fields signed, in this order; the signature itself is stored beside them.
SIGNED_FIELDS: tuple[str, ...] = (
    "kind",
    "evaluation_id",
    "expert_id",
    "expert_name",
    "rubric_fingerprint",
    "issued_at",
    "layout_version",
)


def payload(meta: Mapping[str, str], rubric_text: str, fields: Sequence[str] = SIGNED_FIELDS) -> bytes:
    parts = [f"{name}={meta.get(name, '')}" for name in fields]
    parts.append("rubric_sha256=" + _rubric_sha256(rubric_text))
    return "\n".join(parts).encode("utf-8")


_RUBRIC_SHA256: dict[str, str] = {}


def _rubric_sha256(rubric_text: str) -> str:
    """The rubric text's hash, worked out once per rubric: every workbook of an evaluation is
    signed over the same text, and hashing it again costs each returned file ~0.05 ms."""
    got = _RUBRIC_SHA256.get(rubric_text)
    if got is None:
        got = hashlib.sha256(rubric_text.encode("utf-8")).hexdigest()
        if len(_RUBRIC_SHA256) < 16:
            _RUBRIC_SHA256[rubric_text] = got
    return got


def sign(key: bytes, meta: Mapping[str, str], rubric_text: str) -> str:
    return hmac.new(key, payload(meta, rubric_text), hashlib.sha256).hexdigest()


def verify(key: bytes, meta: Mapping[str, str], rubric_text: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, meta, rubric_text), (signature or "").strip().lower())

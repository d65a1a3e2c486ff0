"""Text normalisation and content ids shared by dedup and the accepted-record builder."""

from __future__ import annotations

import re
import unicodedata

import xxhash

_PUNCT = re.compile(r"[^\w\s/=+*\-]", re.UNICODE)  # keep the maths operators: 3/4 and 3 4 differ
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation dropped (operators and digits kept), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def content_id(*parts: str) -> str:
    """Stable id of normalised content: a replay of the same record gets the same id."""
    return xxhash.xxh3_128_hexdigest("\x1f".join(normalize(p) for p in parts).encode())

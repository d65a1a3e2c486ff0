"""Text normalisation before dedup compares or hashes anything."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s/=+*\-]", re.UNICODE)  # keep the maths operators: 3/4 and 3 4 differ
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation dropped (operators and digits kept), whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


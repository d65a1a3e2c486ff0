"""A third dedup corpus: man-page prose, with short texts and short key-word look-alikes.

Neither the template generator (dedup_corpus.py, where the dedup defaults were first tuned)
nor the held-out corpus (dedup_heldout.py: docstrings and /usr/share/doc, kept for the
out-of-sample check): its paragraphs are the manual pages under /usr/share/man (sections 2, 5,
7 and 8 whole, every eighth page of section 1 by sorted name), rendered as text by ``groff
-man -Tutf8`` with one paragraph to a line, whitespace collapsed, prose only (letters, digits,
common punctuation, a full stop), **80**-450 characters: shorter than the held-out corpus's
150, so that a fifth of the texts are under 25 words, where the dedup's word rule did not
apply and the character rules alone decided. Offline and reproducible for one machine; the
rendered paragraphs are cached in the temporary directory (a few minutes to render).

The stream is the held-out corpus's (same heavy-edit copies, same ``swap``, ``swap-half`` and
``mix`` hard negatives, the same filter that keeps only mutually distinct paragraphs) plus one
more hard-negative kind, only for paragraphs under 25 words:

``key``: one or two of the paragraph's longest content words replaced, at every occurrence,
by another content word of the corpus (the "capital of Peru? Lima" / "capital of Spain?
Madrid" look-alike: the same frame, another subject). A copy edited at 15 % changes as many
words of a 20-word text, so this kind measures what a rule for short texts gives away.

    .venv/bin/python benchmarks/bench_dedup.py --corpus third --sizes 15000 --skip-contenders
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import subprocess
import tempfile

from dedup_heldout import _EDGES, HeldoutCorpus, _content

_PROSE = re.compile(r"[A-Za-z0-9 ,.;:'\"()!?/-]+")
SHORT = 25  # words: the look-alike kind ``key`` is drawn only for paragraphs shorter than this


def man_pages(root: str = "/usr/share/man") -> list[str]:
    pages = []
    for section in ("man1", "man2", "man5", "man7", "man8"):
        files = sorted(glob.glob(os.path.join(root, section, "*")))
        pages += files[::8] if section == "man1" else files
    return [p for p in pages if os.path.isfile(p)]


def render(path: str) -> str:
    """A manual page as text, one paragraph to a line (groff with a very long line length)."""
    cat = ["zcat", path] if path.endswith(".gz") else ["cat", path]
    try:
        source = subprocess.run(cat, capture_output=True, timeout=30).stdout
        out = subprocess.run(["groff", "-man", "-Tutf8", "-rLL=5000n", "-P-c", "-P-b", "-P-u"], input=source,
                             capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.decode("utf-8", "replace")


def man_paragraphs(root: str = "/usr/share/man") -> list[str]:
    """Prose paragraphs of 80-450 characters of the manual pages, de-duplicated and sorted
    (cached by the list of pages and their sizes)."""
    pages = man_pages(root)
    stamp = hashlib.sha256(json.dumps([(p, os.path.getsize(p)) for p in pages]).encode()).hexdigest()[:16]
    cache = os.path.join(tempfile.gettempdir(), f"synthstream-dedup-thirdcorpus-{stamp}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            return json.load(f)
    found: set[str] = set()
    for page in pages:
        for line in render(page).splitlines():
            para = " ".join(line.split())
            if 80 <= len(para) <= 450 and para.endswith(".") and _PROSE.fullmatch(para) and " " in para:
                found.add(para)
    result = sorted(found)
    with open(cache, "w") as f:
        json.dump(result, f)
    return result


class ThirdCorpus(HeldoutCorpus):
    """``labelled(n)``: originals, heavy-edit copies and hard negatives of man-page paragraphs."""

    @staticmethod
    def _paragraphs(root: str | None) -> list[str]:
        return man_paragraphs(root or "/usr/share/man")

    def _negative_kinds(self, text: str) -> tuple[str, ...]:
        return ("swap", "swap-half", "mix") + (("key", "key") if len(text.split()) < SHORT else ())

    def _negative(self, text: str, kind: str) -> str:
        return self._key(text) if kind == "key" else super()._negative(text, kind)

    def _key(self, text: str) -> str:
        """One or two of the longest content words replaced by other content words, everywhere."""
        rng = self.rng
        cores = sorted({w.strip(_EDGES) for w in text.split() if _content(w)}, key=lambda w: (-len(w), w))
        chosen = cores[:rng.choice((1, 2))]
        swap = {w: rng.choice(self.content) for w in chosen}
        out = []
        for word in text.split(" "):
            core = word.strip(_EDGES)
            out.append(word.replace(core, swap[core], 1) if core in swap else word)
        return " ".join(out)

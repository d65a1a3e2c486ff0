"""Cost of the bias monitor's core per accepted record (goal: <= 150 us).

    .venv/bin/python benchmarks/bench_bias.py [--records 50000]

Feeds BiasWindow (shares, PSI/JSD per dimension, length PSI, distinct-1/2/3, compression,
openings, detectors, and the positions a restart resumes from) with responses of realistic length (the dedup corpus' texts, about 300
characters, and every fifth one three times as long), windows of 200 records, one core.
Last line: ``bias: N us/record (windows W)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_corpus import Corpus  # noqa: E402

from synthstream.agents.bias.core import BiasWindow  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args(argv)
    texts = [t * (3 if i % 5 == 0 else 1) for i, (t, _) in enumerate(Corpus(seed=3).records(args.records))]
    targets = {"task": {"math.linear": 0.5, "dialogue.chat": 0.5}, "difficulty": {"easy": 0.3, "hard": 0.7}}
    window = BiasWindow("bench", targets, max_records=200, window_ms=10**12)
    dims = [{"task": "math.linear" if i % 3 else "dialogue.chat", "difficulty": "easy" if i % 4 else "hard"}
            for i in range(len(texts))]
    reports = 0
    started = time.perf_counter()
    for i, (text, d) in enumerate(zip(texts, dims)):
        if window.covered(i % 4, i):  # the redelivery check the agent makes first
            continue
        reports += len(window.add(d, i, text, position=(i % 4, i)))
    seconds = time.perf_counter() - started
    print(f"bias: {seconds / len(texts) * 1e6:.1f} us/record (windows {reports}, mean response "
          f"{sum(map(len, texts)) / len(texts):.0f} chars)")


if __name__ == "__main__":
    main()

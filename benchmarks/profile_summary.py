"""Where a process's time goes, from py-spy's collapsed stacks (``py-spy record --format raw``).

    py-spy record --pid PID --duration 30 --rate 200 --format raw -o worker.txt
    .venv/bin/python benchmarks/profile_summary.py worker.txt [--top 25] [--match synthstream]

Prints the share of samples each frame is on the stack for (inclusive) and at the top of
(self), so "35 % in Faust's stream iteration, 12 % in Avro encoding" can be read off; idle
samples (the event loop waiting in select/epoll) are counted apart.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

IDLE = ("select (selectors.py", "poll (selectors.py", "_worker (concurrent/futures/thread.py", "wait (threading.py",
        "Condition.wait", "Event.wait", "EpollSelector.select", "_PollLikeSelector.select")


def frames_of(stack: str) -> list[str]:
    return [f.strip() for f in stack.split(";") if f.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only frames whose text contains this, for the inclusive table")
    args = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for path in args.files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            frames = frames_of(stack)
            if not frames:
                continue
            total += n
            if any(i in frames[-1] for i in IDLE):
                idle += n
                continue
            own[frames[-1]] += n
            for f in set(frames):
                inclusive[f] += n
    busy = total - idle
    print(f"{total} samples, {idle} idle ({100 * idle / max(total, 1):.0f} %), {busy} busy")
    print(f"\ninclusive (share of busy samples){' matching ' + args.match if args.match else ''}:")
    for frame, n in inclusive.most_common():
        if args.match in frame:
            print(f"  {100 * n / max(busy, 1):5.1f} %  {frame[:150]}")
            args.top -= 1
            if args.top <= 0:
                break
    print("\nself (top of stack):")
    for frame, n in own.most_common(25):
        print(f"  {100 * n / max(busy, 1):5.1f} %  {frame[:150]}")


if __name__ == "__main__":
    main()

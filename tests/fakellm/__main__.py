"""``python -m tests.fakellm [--port N] [--latency-ms MS]``: serve until killed; prints the URL."""

from __future__ import annotations

import argparse
import sys
import time

from tests.fakellm.server import FakeLLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeLLM(latency_s=args.latency_ms / 1000.0).start(args.port)
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()

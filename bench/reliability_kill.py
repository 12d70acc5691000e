"""kill -9 of the gunicorn workers and then of the whole app during a burst of webhooks; after the
restart, every acknowledged message must have exactly one reply (the long version of
tests/test_reliability_kill.py).

    python bench/reliability_kill.py [--messages 1000] [--model-delay 0.05] [--rounds 1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_common as rc  # noqa: E402
from tests.support.crash_burst import kill_during_burst  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--model-delay", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    failed = 0
    for round_no in range(1, args.rounds + 1):
        with rc.servers() as (work, model, platform):
            model.delay = args.model_delay
            with rc.gunicorn(rc.config(work, platform, model), work) as app:
                report = kill_during_burst(app, platform, args.messages, timeout=300)
        r = report.result
        print(f"round {round_no}:")
        for line in report.lines():
            print("  " + line)
        print("  " + rc.verdict(len(r.unanswered), len(r.answered_twice)))
        failed += bool(r.unanswered or r.answered_twice or report.server_errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""What the guarded runner costs per command: `true` and `cat /proc/loadavg` run N times directly
with subprocess, and through CommandRunner (limits wrapper, new session, capture, group kill).

    python bench/executor.py [N]

Prints the median and 95th percentile wall time of each, and the runner's overhead per command.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartbot.executor.runner import CommandRunner, Limits  # noqa: E402


def _times(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def _report(label: str, ms: list[float]) -> float:
    median = statistics.median(ms)
    print(f"{label:<34} median {median:6.2f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:6.2f} ms")
    return median


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    runner = CommandRunner(Limits(), {}, max_concurrent=1)
    for argv in (["/usr/bin/true"], ["/usr/bin/cat", "/proc/loadavg"]):
        direct = _report(f"direct  {' '.join(argv)}",
                         _times(lambda: subprocess.run(argv, capture_output=True, check=False), n))
        guarded = _report(f"runner  {' '.join(argv)}", _times(lambda: runner.run(argv, 10, 8000), n))
        print(f"{'overhead per command':<34} {guarded - direct:6.2f} ms")


if __name__ == "__main__":
    main()

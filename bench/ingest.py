"""Generic webhook ingest: verified, deduplicated, durably stored, acknowledged -- vs plain Flask.

    python bench/ingest.py [--seconds 10]

Both apps run under gunicorn with SmartBot's shipped settings; wrk drives them from its own
process. SmartBot's workers answer every message meanwhile (a zero-latency fake model, replies to
a fake platform), as they would in production.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402


EXTRA = json.loads(os.environ.get("BENCH_EXTRA", "{}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    tmp = Path(tempfile.mkdtemp(prefix="smartbot-bench-"))
    rows = []
    for conns in args.connections:
        plain = common.start_gunicorn("baselines.plain_flask:app", tmp / f"plain-{conns}",
                                      env={"PYTHONPATH": str(Path(__file__).parent)}, config_python=False)
        reqfile = tmp / f"reqs-plain-{conns}.txt"
        common.write_signed_requests(reqfile, 20000, f"plain{conns}")
        base = common.run_wrk(plain.url + "/webhooks/generic", conns, args.seconds,
                              Path(__file__).parent / "signed_requests.lua", [str(reqfile), "2"])
        plain.stop()
        model, platform = FakeModel().start(), FakePlatform().start()
        work = tmp / f"smartbot-{conns}"
        cfg = common.smartbot_config(work, platform.hook_url, {**EXTRA, "providers": [
            {"name": "fake", "kind": "openai", "base_url": model.base_url, "model": "fake"}]})
        bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
        reqfile = tmp / f"reqs-bot-{conns}.txt"
        expected = int(base.rps * args.seconds * 1.5) + 5000
        common.write_signed_requests(reqfile, expected, f"bot{conns}")
        res = common.run_wrk(bot.url + "/webhooks/generic", conns, args.seconds,
                             Path(__file__).parent / "signed_requests.lua", [str(reqfile), "2"])
        drained_at = time.monotonic()
        deadline = drained_at + 120
        while time.monotonic() < deadline and len(platform.received) < min(res.requests, expected):
            time.sleep(0.2)
        drain = time.monotonic() - drained_at
        bot.stop()
        model.stop()
        platform.stop()
        rows.append((conns, base, res, len(platform.received), drain))
    print(f"\n{'conns':>6} {'plain rps':>10} {'smartbot rps':>13} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>7} {'replied':>8} {'drain s':>8}")
    for conns, base, res, replied, drain in rows:
        print(f"{conns:>6} {base.rps:>10.0f} {res.rps:>13.0f} {res.rps / base.rps:>6.2f} {res.p50_ms:>7.2f} "
              f"{res.p99_ms:>7.2f} {res.errors + res.non2xx:>7} {replied:>8} {drain:>8.1f}")


if __name__ == "__main__":
    main()

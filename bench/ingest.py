"""Webhook ingest: verified, deduplicated, durably stored, acknowledged -- beside the baselines.

    python bench/ingest.py [--seconds 10] [--connections 100 1000] [--slack]
    python bench/ingest.py --slack-rounds 3      # Slack vs Bolt only, alternating, a row per round

Generic channel vs a plain Flask JSON endpoint; with --slack also /webhooks/slack (real v0
signatures, every event new) vs a Slack Bolt app (bench/baselines/bolt_app.py, run from the peers'
venv). All under gunicorn with SmartBot's shipped settings; wrk drives them from its own process.
SmartBot's workers answer every message meanwhile (a zero-latency fake model, replies to a fake
platform), as they would in production; the drain time after the load is printed too.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from tests.support.fake_chat_apis import FakeChatApis, channel_config  # noqa: E402
from loopback_fakes import LoopbackFakes  # noqa: E402

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "signed_requests.lua"
DRAIN_LIMIT_S = float(os.environ.get("BENCH_DRAIN_LIMIT_S", "120"))   # 0: no wait (A/B runs of the ack path)
SLACK_ARGS = ["/webhooks/slack", "X-Slack-Request-Timestamp", "X-Slack-Signature"]


@dataclass
class Ingest:
    base: common.WrkResult          # the baseline app (plain Flask or Bolt)
    bot: common.WrkResult           # SmartBot
    replied: int                    # replies SmartBot delivered for the requests it acknowledged
    drain_s: float                  # seconds after the load until they were all delivered (or gave up)


def _baseline(app: str, tmp: Path, conns: int, seconds: int, reqfile: Path, args: list[str],
              bin_dir: Path = common.VENV_BIN, env: dict[str, str] | None = None) -> common.WrkResult:
    server = common.start_gunicorn(app, tmp / f"{app}-{conns}", env={"PYTHONPATH": str(BENCH), **(env or {})},
                                   config_python=False, bin_dir=bin_dir)
    try:
        return common.run_wrk(server.url + args[0], conns, seconds, LUA, [str(reqfile), "2", *args])
    finally:
        server.stop()


def _smartbot(tmp: Path, conns: int, seconds: int, reqfile: Path, args: list[str], callback: str, channels: dict,
              delivered: Callable[[], int], model_base_url: str,
              drain_limit: float = DRAIN_LIMIT_S) -> tuple[common.WrkResult, int, float]:
    """SmartBot under wrk, then the wait until `delivered()` replies match the acks (at most DRAIN_LIMIT_S)."""
    work = tmp / f"smartbot-{args[0].rsplit('/', 1)[1]}-{conns}"
    cfg = common.smartbot_config(work, callback, {**common.EXTRA, "channels": channels, "providers": [
        {"name": "fake", "kind": "openai", "base_url": model_base_url, "model": "fake"}]})
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
    try:
        res = common.run_wrk(bot.url + args[0], conns, seconds, LUA, [str(reqfile), "2", *args])
        ended = time.monotonic()
        while time.monotonic() < ended + drain_limit and delivered() < res.requests:
            time.sleep(0.2)
        return res, delivered(), time.monotonic() - ended
    finally:
        bot.stop()


def generic(tmp: Path, conns: int, seconds: int, drain_limit: float = DRAIN_LIMIT_S) -> Ingest:
    reqfile = tmp / f"generic-plain-{conns}.txt"
    common.write_signed_requests(reqfile, 20000, f"plain{conns}")
    base = _baseline("baselines.plain_flask:app", tmp, conns, seconds, reqfile, ["/webhooks/generic"])
    reqfile = tmp / f"generic-bot-{conns}.txt"
    common.write_signed_requests(reqfile, int(base.rps * seconds * 1.5) + 5000, f"bot{conns}")
    fakes = LoopbackFakes()         # model and platform in a process of their own
    try:
        res, replied, drain = _smartbot(tmp, conns, seconds, reqfile, ["/webhooks/generic"], fakes.hook_url, {},
                                        fakes.count, fakes.model_base_url, drain_limit)
    finally:
        fakes.stop()
    return Ingest(base, res, replied, drain)


def slack(tmp: Path, conns: int, seconds: int, peers_bin: Path) -> Ingest:
    tmp.mkdir(parents=True, exist_ok=True)
    reqfile = tmp / f"slack-bolt-{conns}.txt"
    common.write_slack_requests(reqfile, 20000, f"bolt{conns}")
    base = _baseline("baselines.bolt_app:app", tmp, conns, seconds, reqfile, SLACK_ARGS, bin_dir=peers_bin,
                     env={"BENCH_SLACK_SIGNING_SECRET": common.SLACK_SECRET})
    reqfile = tmp / f"slack-bot-{conns}.txt"
    common.write_slack_requests(reqfile, int(base.rps * seconds * 1.5) + 5000, f"bot{conns}")
    apis, model = FakeChatApis().start(), LoopbackFakes()
    try:
        slack_config = channel_config("slack", apis, signing_secret=common.SLACK_SECRET, bot_user_id="UBENCHBOT")
        res, replied, drain = _smartbot(tmp, conns, seconds, reqfile, SLACK_ARGS, apis.url + "/unused",
                                        {"slack": slack_config}, lambda: len(apis.delivered("slack")),
                                        model.model_base_url)
    finally:
        apis.stop()
        model.stop()
    return Ingest(base, res, replied, drain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--slack", action="store_true", help="also Slack vs Bolt (needs bench/.peers-venv)")
    parser.add_argument("--slack-rounds", type=int, default=0,
                        help="only Slack vs Bolt, this many alternating rounds (the ratio of each round counts)")
    args = parser.parse_args()
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    tmp = Path(tempfile.mkdtemp(prefix="smartbot-bench-"))
    if args.slack_rounds:
        import peers

        peers_bin = peers.ensure() / "bin"
        rows = [("slack", 100, slack(tmp / f"round{r}", 100, args.seconds, peers_bin)) for r in range(args.slack_rounds)]
    else:
        rows = [("generic", conns, generic(tmp, conns, args.seconds)) for conns in args.connections]
    if args.slack and not args.slack_rounds:
        import peers

        rows.append(("slack", 100, slack(tmp, 100, args.seconds, peers.ensure() / "bin")))
    print(f"\n{'what':>8} {'conns':>6} {'base rps':>9} {'smartbot rps':>13} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'errors':>7} {'replied':>8} {'drain s':>8}")
    for what, conns, r in rows:
        print(f"{what:>8} {conns:>6} {r.base.rps:>9.0f} {r.bot.rps:>13.0f} {r.bot.rps / r.base.rps:>6.2f} "
              f"{r.bot.p50_ms:>7.2f} {r.bot.p99_ms:>7.2f} {r.bot.errors + r.bot.non2xx:>7} {r.replied:>8} "
              f"{r.drain_s:>8.1f}")


if __name__ == "__main__":
    main()

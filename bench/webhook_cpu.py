"""CPU per webhook, and per answered message, in one process: where the time goes, without the
load's noise.

    python bench/webhook_cpu.py [--requests 5000] [--rounds 3] [--profile cprofile]
    python bench/webhook_cpu.py --turns 300

Calls the WSGI apps directly on one thread (no sockets, no gunicorn) with the same signed requests
the load benchmarks send: plain Flask's JSON endpoint (the stack's limit), SmartBot's generic
channel and its Slack channel. Prints the thread CPU time per request for each, measured in
alternating rounds so a busy neighbour shifts all of them alike. SmartBot's ingest leases nothing to
its own process (the accepted messages wait in the inbox, as when its backlog is full), since its
group commit would otherwise let the request thread commit the jobs' writes too; --with-workers
runs the default all-in-one process instead. With --profile, cProfile's top functions of SmartBot's
generic (or Slack) path, timed by the thread's CPU clock.

--turns N: the whole of each message instead (webhook, chat turn against a zero-latency fake model,
reply to a fake platform; the fakes answer from another process): the process's CPU, every thread,
per answered message, N messages a round sent at 50 a second (--turns-channel: generic or slack).
With --profile, one round instead, under cProfile in every thread (the request thread and the
job pool's), their statistics merged.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
from loopback_fakes import LoopbackFakes  # noqa: E402

Environ = dict


def _environs(path: Path, target: str, ts_header: str, sig_header: str) -> list[Environ]:
    out = []
    for line in path.read_text().splitlines():
        ts, sig, body = line.split("|", 2)
        out.append({"REQUEST_METHOD": "POST", "PATH_INFO": target, "SCRIPT_NAME": "", "QUERY_STRING": "",
                    "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
                    "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json",
                    "CONTENT_LENGTH": str(len(body.encode())), "wsgi.url_scheme": "http",
                    f"HTTP_{ts_header.upper().replace('-', '_')}": ts,
                    f"HTTP_{sig_header.upper().replace('-', '_')}": sig, "_body": body.encode()})
    return out


def _call(app: Callable, environ: Environ) -> int:
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(env.pop("_body"))
    env["wsgi.errors"] = sys.stderr
    status = []
    body = app(env, lambda s, h, exc_info=None: status.append(s))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(status[0].split()[0])


def _cpu_per_request_us(app: Callable, environs: list[Environ]) -> float:
    started = time.thread_time()
    for environ in environs:
        code = _call(app, environ)
        if code != 200:
            raise SystemExit(f"request answered {code}")
    return (time.thread_time() - started) / len(environs) * 1e6


def _cpu_per_turn_us(app: Callable, environs: list[Environ], delivered: Callable[[], int], rate: float) -> float:
    """Process CPU (every thread) per message answered: webhook, turn, reply. Sent at `rate` a
    second, below the burst rule's threshold, so workers start each message at once."""
    expected = delivered() + len(environs)
    started = time.process_time()
    for environ in environs:
        sent = time.monotonic()
        if _call(app, environ) != 200:
            raise SystemExit("a webhook was refused")
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - sent)))
    deadline = time.monotonic() + 60
    while delivered() < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    if delivered() < expected:
        raise SystemExit(f"only {delivered() - expected + len(environs)} of {len(environs)} answered")
    return (time.process_time() - started) / len(environs) * 1e6


class _EveryThread:
    """cProfile in every thread started while it is on (the job pool's), and in the calling one."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []

    def _start_in_thread(self, *_: object) -> None:
        prof = cProfile.Profile(time.thread_time)
        self.profiles.append(prof)
        prof.enable()           # replaces this hook in the new thread

    def __enter__(self) -> "_EveryThread":
        threading.setprofile(self._start_in_thread)
        self._start_in_thread()
        return self

    def __exit__(self, *_: object) -> None:
        threading.setprofile(None)
        self.profiles[0].disable()

    def print(self, sort: str, lines: int = 45, dump: str = "") -> None:
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=out)
        for prof in self.profiles[1:]:
            stats.add(prof)
        if dump:
            stats.dump_stats(dump)
        stats.sort_stats(sort).print_stats(lines)
        print(out.getvalue())


def _wait_for_threads_to_end(limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)


def _turn_environs(tmp: Path, channel: str, count: int) -> list[Environ]:
    """Messages from 50 chats, so each chat's turns follow one another with a history."""
    if channel == "slack":
        common.write_slack_requests(tmp / "turns.txt", count, "turn", chats=50)
        return _environs(tmp / "turns.txt", "/webhooks/slack", "X-Slack-Request-Timestamp", "X-Slack-Signature")
    common.write_signed_requests(tmp / "turns.txt", count, "turn", chats=50)
    return _environs(tmp / "turns.txt", "/webhooks/generic", "X-SmartBot-Timestamp", "X-SmartBot-Signature")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000, help="per app and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["cprofile", "none"], default="none")
    parser.add_argument("--profile-channel", choices=["generic", "slack"], default="generic")
    parser.add_argument("--profile-out", default="", help="also write the profile here (pstats)")
    parser.add_argument("--with-workers", action="store_true", help="start the job pool (answers every message)")
    parser.add_argument("--turns", type=int, default=0,
                        help="instead: process CPU per answered message, this many per round (starts the pool)")
    parser.add_argument("--turns-channel", choices=["generic", "slack"], default="generic")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smartbot-cpu-"))
    total = args.requests * (args.rounds + 1)
    common.write_signed_requests(tmp / "generic.txt", total, "cpu")
    common.write_slack_requests(tmp / "slack.txt", total, "cpu")
    generic = _environs(tmp / "generic.txt", "/webhooks/generic", "X-SmartBot-Timestamp", "X-SmartBot-Signature")
    slack = _environs(tmp / "slack.txt", "/webhooks/slack", "X-Slack-Request-Timestamp", "X-Slack-Signature")

    fakes = LoopbackFakes()
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    os.environ["SMARTBOT_CONFIG"] = str(common.smartbot_config(tmp, fakes.hook_url, {
        "channels": {"slack": {"signing_secret": common.SLACK_SECRET, "bot_token": "xoxb-bench",
                               "bot_user_id": "UBENCHBOT", "api_base": fakes.url + "/slack"}},
        "log_level": "WARNING",
        "providers": [{"name": "fake", "kind": "openai", "base_url": fakes.model_base_url, "model": "fake"}]}))
    from baselines.plain_flask import app as plain
    from smartbot import create_app

    with_workers = args.with_workers or args.turns > 0
    bot = create_app(start_workers=with_workers)
    if not with_workers:
        bot.extensions["smartbot"].ingest._owner = lambda: None    # as with a full backlog: nothing leased
    n = args.requests
    try:
        if args.turns:     # the job pool's writes share the webhooks' commits: webhook CPU not shown
            turns = _turn_environs(tmp, args.turns_channel, args.turns * args.rounds)
            if args.profile == "cprofile":      # one round; the job pool's threads start with its first job
                with _EveryThread() as profile_turns:
                    _cpu_per_turn_us(bot, turns[:args.turns], fakes.count, 50.0)
                bot.extensions["smartbot"].stop(timeout=5)    # threads end, so their profiles are whole
                _wait_for_threads_to_end()
                profile_turns.print(os.environ.get("BENCH_SORT", "tottime"), dump=args.profile_out)
                return
            per_turn = [_cpu_per_turn_us(bot, turns[r * args.turns:(r + 1) * args.turns], fakes.count, 50.0)
                        for r in range(args.rounds)]
            print(f"{'answered message':<18} {' / '.join(f'{v:.0f}' for v in per_turn):<36} "
                  f"{statistics.median(per_turn):>7.0f}   (process CPU: webhook + turn + reply, "
                  f"{args.turns_channel})")
        else:
            _cpu_per_request_us(bot, generic[:200])         # warm up: first connections, caches
            _cpu_per_request_us(plain, generic[:200])
            results: dict[str, list[float]] = {"plain Flask": [], "SmartBot generic": [], "SmartBot slack": []}
            for r in range(args.rounds):
                part = slice(200 + r * n, 200 + (r + 1) * n)
                results["plain Flask"].append(_cpu_per_request_us(plain, generic[part]))
                results["SmartBot generic"].append(_cpu_per_request_us(bot, generic[part]))
                results["SmartBot slack"].append(_cpu_per_request_us(bot, slack[part]))
            print(f"{'app':<18} {'us CPU per request (each round)':<36} {'median':>7}")
            for name, values in results.items():
                print(f"{name:<18} {' / '.join(f'{v:.0f}' for v in values):<36} {statistics.median(values):>7.0f}")
        if args.profile == "cprofile" and not args.turns:
            chosen = slack if args.profile_channel == "slack" else generic
            part = chosen[200 + args.rounds * n:200 + (args.rounds + 1) * n]
            prof = cProfile.Profile(time.thread_time)    # CPU of this thread: waits do not count
            prof.enable()
            _cpu_per_request_us(bot, part)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            if args.profile_out:
                stats.dump_stats(args.profile_out)
            stats.sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(45)
            print(out.getvalue())
    finally:
        bot.extensions["smartbot"].stop(timeout=5)
        fakes.stop()


if __name__ == "__main__":
    main()

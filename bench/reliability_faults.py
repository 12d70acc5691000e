"""The long versions of the fault tests: the same scenarios as tests/test_reliability_*.py, bigger.

    python bench/reliability_faults.py busy     [--messages 2000] [--writer-seconds 20] [--lease 30]
    python bench/reliability_faults.py platform [--messages 600] [--chats 30]
    python bench/reliability_faults.py provider [--messages 1000]
    python bench/reliability_faults.py config   [--messages 2000]
    python bench/reliability_faults.py all

busy: gunicorn with two workers, a burst of webhooks while another process holds SQLite's write lock
for up to 0.5 s at a time. platform: replies queue while the platform answers 503, then 429 with
Retry-After, then hangs past the timeout; then it recovers. provider: the main model provider goes
down mid-burst and comes back. config: the active provider is switched and a rule added through the
admin API mid-burst, under gunicorn with two workers. Each prints what it measured and LOST NOTHING, or what was lost.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_common as rc  # noqa: E402
from smartbot.storage.db import Database, sqlite_file  # noqa: E402
from tests.support.admin_api import AdminApi  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fault_scenarios import (Report, busy_writer_burst, config_change_burst,  # noqa: E402
                                           platform_api_outage, provider_outage_burst)


def busy(args: argparse.Namespace) -> Report:
    with rc.servers() as (work, model, platform):
        cfg = rc.config(work, platform, model)
        cfg["jobs"]["lease_seconds"] = args.lease
        with rc.gunicorn(cfg, work) as app:
            pace = args.writer_seconds * 8 / args.messages       # the burst lasts as long as the writer
            return busy_writer_burst(app, platform, sqlite_file(cfg["database_url"]), args.messages,
                                     args.writer_seconds, pace)


def platform_api(args: argparse.Namespace) -> Report:
    with rc.servers() as (work, model, platform):
        cfg = rc.config(work, platform, model, jobs={"outbox_backoff_max": 2.0, "outbox_max_attempts": 30,
                                                     "lease_seconds": 3.0, "sweep_seconds": 0.2})
        cfg["channels"]["generic"]["read_timeout"] = 0.3
        with rc.gunicorn(cfg, work) as app:
            return platform_api_outage(app, platform, args.messages // 3, args.chats, phase_seconds=3.0)


def provider(args: argparse.Namespace) -> Report:
    with rc.servers() as (work, model, platform):
        backup = FakeModel().start()
        try:
            cfg = rc.config(work, platform, model, models={"default": "main", "fallback": ["backup"],
                                                          "breaker_cooldown": 0.5},
                            alerts={"chats": ["generic:ops-room"], "check_seconds": 0.2, "probe_seconds": 0.2,
                                    "probe_timeout": 1.0, "raise_after": 0.5, "resolve_after": 0.5, "cpu": 0,
                                    "memory": 0, "disk": 0, "queue_age_seconds": 0, "error_rate": 0})
            cfg["providers"].append({**cfg["providers"][0], "name": "backup", "base_url": backup.base_url})
            with rc.gunicorn(cfg, work) as app:
                return provider_outage_burst(app, platform, model, backup, args.messages, pace=0.02,
                                             ops_chat="ops-room", threads=4, fallback_answers=args.messages // 5)
        finally:
            backup.stop()


def config(args: argparse.Namespace) -> Report:
    with rc.servers() as (work, model, platform):
        alt = FakeModel().start()
        cfg = rc.config(work, platform, model)
        db = Database(cfg["database_url"])
        try:
            with rc.gunicorn(cfg, work) as app:
                api = AdminApi(app, db=db)
                created = api.post("/providers", {"name": "alt", "kind": "openai", "base_url": alt.base_url,
                                                  "model": "alt-1"})
                assert created.status_code == 201, created.text
                return config_change_burst(app, platform, model, "alt", api, args.messages, pace=0.02)
        finally:
            db.dispose()
            alt.stop()


SCENARIOS = {"busy": busy, "platform": platform_api, "provider": provider, "config": config}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--messages", type=int, default=0, help="default: busy 2000, platform 600, provider 1000, config 2000")
    parser.add_argument("--writer-seconds", type=float, default=20)
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--lease", type=float, default=30.0,
                        help="busy: [jobs] lease_seconds (30 as shipped; a lock wait longer than the lease "
                             "lets another process take the work over and send it again)")
    args = parser.parse_args()
    failed = 0
    for name in SCENARIOS if args.scenario == "all" else [args.scenario]:
        run_args = argparse.Namespace(**vars(args))
        run_args.messages = args.messages or {"busy": 2000, "platform": 600, "provider": 1000, "config": 2000}[name]
        report = SCENARIOS[name](run_args)
        r = report.result
        print(f"{name}:")
        for line in report.lines():
            print("  " + line)
        print("  " + rc.verdict(len(r.unanswered), len(r.answered_twice)))
        failed += bool(r.unanswered or r.answered_twice)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

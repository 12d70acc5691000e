"""The default deployment at rest and under slow answers: idle memory (PSS over every process),
start-up time to a 200 /readyz, installed size of the runtime dependencies, and 1,000
conversations in flight against a slow model -- SmartBot beside nanobot's gateway where it has one.

    python bench/deployment.py [--skip-slow] [--skip-size]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import footprint  # noqa: E402
from sse_model import SseModel  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402
from tests.support.signing import generic_request  # noqa: E402

BENCH = Path(__file__).resolve().parent
SETTLE_S = 5.0          # after start-up, before idle memory is read


def smartbot_idle(tmp: Path, workers: int | None = None, inspect: Callable[[int], None] | None = None) -> dict:
    """gunicorn with the shipped settings (or `workers` workers) and SQLite, no load: start-up time
    and idle PSS. `inspect`, when given, is called with the master's pid while the app is idle."""
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    model, platform = FakeModel().start(), FakePlatform().start()
    work = tmp / f"idle-smartbot-{workers or 'shipped'}"
    cfg = common.smartbot_config(work, platform.hook_url, {"providers": [
        {"name": "fake", "kind": "openai", "base_url": model.base_url, "model": "fake"}],
        **({"server": {"workers": workers}} if workers else {})})
    started = time.monotonic()
    # the time to the first worker's answer, as before; the settle time lets every worker finish booting
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)}, all_workers=False)
    try:
        footprint.wait_status(bot.url + "/readyz")
        ready_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        pids = footprint.process_tree(bot.proc.pid)
        if inspect is not None:
            inspect(bot.proc.pid)
        return {"ready_s": ready_s, "idle_pss_mb": footprint.pss_mb(pids),
                "idle_pss_file_mb": footprint.pss_file_mb(pids), "processes": len(pids)}
    finally:
        bot.stop()
        model.stop()
        platform.stop()


def nanobot_idle(tmp: Path) -> dict:
    import peers

    peers.ensure()
    model = SseModel().start()
    bot = peers.Nanobot(tmp / "idle-nanobot", model.base_url)
    try:
        started = time.monotonic()
        pid = bot.start("gateway")
        ready_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        pids = footprint.process_tree(pid)
        return {"ready_s": ready_s, "idle_pss_mb": footprint.pss_mb(pids),
                "idle_pss_file_mb": footprint.pss_file_mb(pids), "processes": len(pids)}
    finally:
        bot.stop()
        model.stop()


def installed_sizes() -> dict:
    """site-packages of a fresh venv with requirements.txt, and of one with nanobot-ai alone
    (the version in the peers' venv). The venvs are kept in bench/.sizes/ for the next run."""
    import peers

    peers.ensure()
    version = subprocess.run([str(peers.BIN / "python"), "-c", "import importlib.metadata as m;"
                              "print(m.version('nanobot-ai'))"], capture_output=True, text=True).stdout.strip()
    ours = footprint.fresh_venv(BENCH / ".sizes" / "smartbot", "-r", str(common.ROOT / "requirements.txt"))
    theirs = footprint.fresh_venv(BENCH / ".sizes" / "nanobot", f"nanobot-ai=={version}")
    return {"smartbot_mb": footprint.site_packages_mb(ours), "nanobot_mb": footprint.site_packages_mb(theirs),
            "nanobot_version": version}


def slow_model(tmp: Path, conversations: int = 1000, delay: float = 2.0) -> dict:
    """`conversations` messages from as many users at once against a model answering after
    `delay` s: all answered? none lost? peak PSS of all the app's processes meanwhile."""
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    model, platform = FakeModel().start(), FakePlatform().start()
    model.delay = delay
    work = tmp / "slow-smartbot"
    cfg = common.smartbot_config(work, platform.hook_url, {
        "providers": [{"name": "slow", "kind": "openai", "base_url": model.base_url, "model": "fake-1",
                       "max_retries": 0, "read_timeout": delay + 60, "total_timeout": delay + 90}],
        # a process works the messages it accepted: threads for all of them (see docs/performance.md)
        "jobs": {"threads": conversations + 16}, "models": {"health_interval": 0}})
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
    peak = {"pss": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["pss"] = max(peak["pss"], footprint.tree_pss_mb(bot.proc.pid))
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def send(i: int) -> int:
        body, headers = generic_request(common.SECRET, {"event_id": f"slow-{i}", "chat_id": f"slow-chat-{i}",
                                                        "user_id": f"slow-user-{i}", "text": f"slow question {i}"})
        return session.post(bot.url + "/webhooks/generic", data=body, headers=headers, timeout=30).status_code

    try:
        sampler.start()
        started = time.monotonic()
        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(send, range(conversations)))
        try:
            platform.wait_for(conversations, timeout=delay + 120)
        except Exception:   # noqa: BLE001 -- a shortfall is reported below, not raised
            pass
        done = time.monotonic() - started
        replies = [r["json"]["reply_to"] for r in platform.received]
    finally:
        stop.set()
        sampler.join()
        bot.stop()
        model.stop()
        platform.stop()
        session.close()
    return {"conversations": conversations, "accepted": statuses.count(200), "answered": len(set(replies)),
            "duplicates": len(replies) - len(set(replies)), "seconds": done, "peak_pss_mb": peak["pss"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-slow", action="store_true")
    parser.add_argument("--skip-size", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smartbot-deploy-"))
    out = {"smartbot_idle": smartbot_idle(tmp), "smartbot_idle_1_worker": smartbot_idle(tmp, workers=1),
           "nanobot_idle": nanobot_idle(tmp)}
    if not args.skip_size:
        out["installed"] = installed_sizes()
    if not args.skip_slow:
        out["slow_model"] = slow_model(tmp)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

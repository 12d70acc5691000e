"""What the reliability benches share: the fake servers and the app under gunicorn, configured like
the tests' `make_config` (SQLite in a temporary folder, the generic channel at a fake platform)."""
from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))

from tests.support.apps import GunicornApp  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402

SECRET = "bench-reliability-secret-0123456789"


def config(workdir: Path, platform: FakePlatform, model: Any = None, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "database_url": f"sqlite:///{workdir / 'smartbot.db'}",
        "channels": {"generic": {"secret": SECRET, "callback_url": platform.hook_url}},
        "jobs": {"lease_seconds": 3.0, "sweep_seconds": 0.2},
        "quotas": {"messages_per_minute_per_role": {}},
    }
    if model is not None:
        cfg["providers"] = [{"name": "main", "kind": "openai", "base_url": model.base_url, "model": "fake-1",
                             "read_timeout": 5.0, "total_timeout": 8.0, "max_retries": 1}]
    cfg.update(extra)
    return cfg


@contextlib.contextmanager
def servers() -> Iterator[tuple[Path, FakeModel, FakePlatform]]:
    """A work folder, a fake model and a fake platform, all gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="smartbot-reliability-") as work:
        model, platform = FakeModel().start(), FakePlatform().start()
        try:
            yield Path(work), model, platform
        finally:
            model.stop()
            platform.stop()


@contextlib.contextmanager
def gunicorn(cfg: dict[str, Any], workdir: Path, workers: int = 2) -> Iterator[GunicornApp]:
    app = GunicornApp(cfg, workdir, workers=workers).start()
    try:
        yield app
    finally:
        app.stop()


def verdict(lost: int, doubled: int) -> str:
    return "LOST NOTHING" if lost == 0 and doubled == 0 else f"LOST {lost}, ANSWERED TWICE {doubled}"

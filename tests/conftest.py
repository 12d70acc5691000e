"""Fixtures that build real things: a fake model server, a fake platform, the app (in-process or
under gunicorn), each talking HTTP on loopback."""
from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.apps import GunicornApp, LiveApp, seed_database
from tests.support.fake_chat_apis import FakeChatApis, answered_whole
from tests.support.fake_model import FakeModel
from tests.support.fake_platform import FakePlatform
from tests.support.parallel import give_each_worker_its_redis_database, longest_modules_first, machine_lock

give_each_worker_its_redis_database()
os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
GENERIC_SECRET = "test-generic-secret-0123456789"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest_modules_first(items)


@pytest.fixture(autouse=True)
def _machine_shared_with_other_workers(request: pytest.FixtureRequest,
                                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under pytest-xdist, a test marked `alone` runs while no other worker runs one."""
    lock = machine_lock(tmp_path_factory.getbasetemp())
    if lock is None:
        yield
        return
    with lock.held(alone=request.node.get_closest_marker("alone") is not None):
        yield


@pytest.fixture(autouse=True)
def _audit_keys_of_the_test_process() -> None:
    """Tests that write audit rows straight to an app's database (creating an admin, say) sign them
    as the app would: with the audit key derived from the signing key every app here shares."""
    from smartbot.audit import keys

    keys.install(keys.load(os.environ["SMARTBOT_SECRET_KEY"], ""))


@pytest.fixture(autouse=True)
def _metrics_from_zero() -> None:
    """Metrics live in the test process, shared by every app built in it: each test counts from zero."""
    from smartbot.telemetry import metrics

    metrics.reset()


# The database tests: everything that reads or writes the database in its own way (queues, leases,
# audit chain, migrations, management, approvals, usage, alerts, workflows) and the message path end to end.
# They also run on PostgreSQL when SMARTBOT_TEST_DATABASE_URL points at one (scripts/test.sh finds
# the local one). Tests elsewhere (channels' protocols, the admin page in a browser, ...) use the
# database only as the message path does, so SQLite alone covers them and keeps the suite fast.
DATABASE_TEST_MODULES = {
    "test_queue", "test_group_commit", "test_audit", "test_migrations", "test_router", "test_message_path",
    "test_crash_recovery", "test_api_manage", "test_api_auth", "test_executor_approvals", "test_executor_api",
    "test_model_routing", "test_quotas", "test_models_api", "test_alerts", "test_webchat", "test_webchat_history",
    "test_generic_webhook", "test_provisioning", "test_workflows", "test_workflows_recovery", "test_attack_login",
    "test_queues", "test_usage_migration",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames:
        return
    kinds = ["sqlite"]
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if os.environ.get("SMARTBOT_TEST_DATABASE_URL") and (module in DATABASE_TEST_MODULES or "db" in metafunc.fixturenames):
        kinds.append("postgresql")
    metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: a SQLite file, or a fresh schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'smartbot.db'}"
        return
    from tests.support.postgres import fresh_schema

    with fresh_schema(os.environ["SMARTBOT_TEST_DATABASE_URL"]) as url:
        yield url


@pytest.fixture
def db(request: pytest.FixtureRequest, database_url: str) -> Iterator[Any]:
    """A migrated database of its own for the test (a copy of one migrated SQLite file, or a replay of
    the migrations' statements on PostgreSQL), except for the tests of the migrations themselves."""
    from smartbot.storage.db import Database

    if request.module.__name__.rsplit(".", 1)[-1] != "test_migrations":
        seed_database(database_url)
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    server = FakeModel().start()
    yield server
    server.stop()


@pytest.fixture
def fake_platform() -> Iterator[FakePlatform]:
    server = FakePlatform().start()
    yield server
    server.stop()


@pytest.fixture
def fake_chat_apis() -> Iterator[FakeChatApis]:
    """Telegram's, Slack's and Discord's send APIs on one loopback server."""
    server = FakeChatApis().start()
    yield server
    server.stop()


@pytest.fixture
def make_config(database_url: str, fake_platform: FakePlatform) -> Callable[..., dict[str, Any]]:
    """A config dict: SQLite in tmp_path, the generic channel pointing at the fake platform, quick
    recovery; `model=` adds a provider at that fake model."""
    def build(model: FakeModel | None = None, **overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "database_url": database_url,
            "channels": {"generic": {"secret": GENERIC_SECRET, "callback_url": fake_platform.hook_url}},
            "jobs": {"lease_seconds": 3.0, "sweep_seconds": 0.2, "threads": 16},
            "audit": {"refusal_audit_interval": 0.0},
            # Tests send bursts from one sender; the guest chat rate limit has tests of its own.
            "quotas": {"messages_per_minute_per_role": {}},
        }
        if model is not None:
            config["providers"] = [{"name": "main", "kind": "openai", "base_url": model.base_url,
                                    "model": "fake-1", "read_timeout": 5.0, "total_timeout": 8.0,
                                    "max_retries": 1}]
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        return answered_whole(config)
    return build


@pytest.fixture
def live_app(database_url: str) -> Iterator[Callable[[dict[str, Any]], LiveApp]]:
    """Apps served in this process. It asks for `database_url` so that pytest stops the apps before it
    drops the test's database: a worker still writing would deadlock the DROP SCHEMA on PostgreSQL."""
    started: list[LiveApp] = []

    def start(config: dict[str, Any]) -> LiveApp:
        app = LiveApp(config)
        started.append(app)
        return app
    yield start
    for app in started:
        app.stop()


@pytest.fixture
def gunicorn_app(tmp_path: Path, database_url: str) -> Iterator[Callable[..., GunicornApp]]:
    """Apps under gunicorn, stopped before the test's database is dropped (see `live_app`)."""
    started: list[GunicornApp] = []

    def start(config: dict[str, Any], workers: int = 2, **kw: Any) -> GunicornApp:
        app = GunicornApp(config, tmp_path, workers=workers, **kw).start()
        started.append(app)
        return app
    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="module")
def _module_browser() -> Iterator[Any]:
    from tests.support.browser import launched

    with launched() as instance:
        yield instance


@pytest.fixture
def browser(_module_browser: Any) -> Iterator[Any]:
    """Headless Chromium, started once for a module's tests (starting it is the slow part); the pages
    and contexts a test opened are closed after it, so each test begins with none."""
    yield _module_browser
    for context in _module_browser.contexts:
        context.close()


@pytest.fixture
def small_volume(tmp_path: Path):
    """A 16 MB tmpfs mounted for the test (needs root; skipped with the reason otherwise)."""
    mount = tmp_path / "vol"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)

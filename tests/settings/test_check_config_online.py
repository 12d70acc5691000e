"""`smartbot check-config --online` against real HTTP servers on loopback: only a 2xx list of
models passes; providers added in the admin page are checked too; a copied config whose database
does not exist yet gets no empty database file and no failure for it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import toml_writer
from tests.support.fake_model import FakeModel
from tests.support.httpserver import LoopbackServer, QuietHandler

SMARTBOT = str(Path(sys.executable).parent / "smartbot")


class _NotAModelApi(QuietHandler):
    """A web server that is up but is no model API: 404 everywhere, or a page where the list should be."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/html"):
            self.send(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
        elif self.path.startswith("/object"):
            self.send(200, json.dumps({"status": "ok"}).encode())
        else:
            self.send(404, json.dumps({"error": "not found"}).encode())


@pytest.fixture
def web_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(_NotAModelApi).start()
    yield server
    server.stop()


def _provider(name: str, base_url: str, model: str = "fake-1") -> dict:
    return {"name": name, "kind": "openai", "base_url": base_url, "model": model}


def _check(conf: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SMARTBOT, "check-config", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SMARTBOT_CONFIG": str(conf)})


def _conf(folder: Path, providers: list[dict]) -> Path:
    conf = folder / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": "sqlite:///var/bot.db", "providers": providers}))
    return conf


def test_a_provider_answering_404_is_a_failure_with_the_status(tmp_path, web_server, fake_model):
    conf = _conf(tmp_path, [_provider("good", fake_model.base_url), _provider("lost", web_server.url + "/v1")])
    res = _check(conf, "--online")
    assert res.returncode == 1, res.stdout
    assert f"[ok] provider good: {fake_model.base_url} answers with its list of models (1)" in res.stdout
    assert f"[FAIL] provider lost: {web_server.url}/v1: request refused (answered 404)" in res.stdout
    assert "reached" not in res.stdout


def test_a_2xx_that_is_not_a_model_list_is_a_failure(tmp_path, web_server):
    conf = _conf(tmp_path, [_provider("page", web_server.url + "/html"), _provider("obj", web_server.url + "/object")])
    res = _check(conf, "--online")
    assert res.returncode == 1
    assert f"[FAIL] provider page: {web_server.url}/html: answered 200 with something that is not JSON" in res.stdout
    assert f"[FAIL] provider obj: {web_server.url}/object: answered 200 with JSON that is not a list of models" \
        in res.stdout


def test_a_model_the_api_does_not_list_is_a_warning(tmp_path, fake_model):
    conf = _conf(tmp_path, [_provider("main", fake_model.base_url, model="gpt-nonexistent")])
    res = _check(conf, "--online")
    assert res.returncode == 0, res.stdout
    assert "[warn] provider main: model gpt-nonexistent is not among the models its API lists" in res.stdout


def test_providers_added_in_the_admin_page_are_checked_too(tmp_path, web_server, fake_model):
    conf = _conf(tmp_path, [_provider("file", fake_model.base_url)])
    env = {**os.environ, "SMARTBOT_CONFIG": str(conf)}
    assert subprocess.run([SMARTBOT, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    from smartbot.manage import providers
    from smartbot.manage.terminal import OPERATOR
    from smartbot.runtime import Runtime
    from smartbot.settings.loading import load

    runtime = Runtime(load(conf), role="web")
    try:
        providers.create(runtime, OPERATOR, {"name": "added", "kind": "openai", "base_url": web_server.url + "/v1",
                                             "model": "m-1"})
    finally:
        runtime.stop()
        runtime.db.dispose()
    res = _check(conf, "--online")
    assert res.returncode == 1
    assert "[ok] provider file:" in res.stdout
    assert f"[ok] provider added (added in the admin page): openai m-1 at {web_server.url}/v1" in res.stdout
    assert f"[FAIL] provider added (added in the admin page): {web_server.url}/v1: request refused (answered 404)" \
        in res.stdout


def test_a_copied_config_without_its_database_creates_none_and_fails_nothing(tmp_path, fake_model):
    conf = _conf(tmp_path, [_provider("main", fake_model.base_url)])
    res = _check(conf, "--online")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"[note] no database yet at {tmp_path / 'var' / 'bot.db'}" in res.stdout
    assert "only the file's providers were checked" in res.stdout
    assert "FAIL" not in res.stdout
    assert not (tmp_path / "var" / "bot.db").exists()
    assert not list((tmp_path / "var").glob("bot.db*"))

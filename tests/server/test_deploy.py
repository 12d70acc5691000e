"""The real deployment: deploy/install.sh into a temporary root, supervisord and nginx from the OS
packages on configs of their own, signed webhooks over HTTPS on loopback, replies at a fake
platform. Restart during a burst, install twice, upgrade."""
from __future__ import annotations

import collections
import http.client
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from smartbot.storage.db import head_revision
from tests.support.deploy import SOURCE, SERVICE_USER, Deployment, missing_requirements
from tests.support.fake_model import FakeModel
from tests.support.fake_platform import FakePlatform
from tests.support.waiting import wait_until as _wait

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing_requirements()), reason=missing_requirements())]
ADMIN_HOST = "127.0.0.2"          # the allowlisted address; the tests' usual 127.0.0.1 is not on the list
METRICS_HOST = "127.0.0.3"        # --metrics-allow: may read /metrics besides this host (127.0.0.1, ::1)
METRICS_TOKEN = "deploy-metrics-token-0d9c1e2b7a"


@pytest.fixture(scope="module")
def platform():
    server = FakePlatform().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model():
    server = FakeModel().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployed(platform, model):
    deployment = Deployment(platform.hook_url, admin_allow=f"{ADMIN_HOST}/32", metrics_allow=METRICS_HOST)
    try:
        deployment.install()
        config = deployment.etc / "smartbot.toml"           # what an operator adds after installing
        config.write_text(config.read_text() + (
            f'\n[[providers]]\nname = "main"\nkind = "openai"\nbase_url = "{model.base_url}"\n'
            f'model = "fake-1"\nread_timeout = 10.0\n'
            f'\n[jobs]\nlease_seconds = 5.0\nsweep_seconds = 0.5\n'
            f'\n[quotas]\nmessages_per_minute_per_role = {{}}\n'))     # the bursts come from one sender
        with open(deployment.etc / "env", "a") as env:           # a metrics token, kept with the secrets
            env.write(f"SMARTBOT_OPS__METRICS_TOKEN='{METRICS_TOKEN}'\n")
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


def test_secrets_are_only_in_the_service_users_env_file(deployed):
    env = deployed.env_file()
    secret, key = env["SMARTBOT_GENERIC_SECRET"], env["SMARTBOT_SECRET_KEY"]
    assert len(secret) >= 32 and len(key) >= 32
    env_path = deployed.etc / "env"
    assert oct(env_path.stat().st_mode & 0o777) == "0o600" and env_path.owner() == SERVICE_USER
    assert oct((deployed.etc / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    for path in deployed.prefix.rglob("*"):
        if path.is_file() and path != env_path and path.stat().st_mode & 0o004 and path.stat().st_size < 1_000_000:
            text = path.read_bytes()
            assert secret.encode() not in text and key.encode() not in text, f"a secret is in {path}"
    assert key not in deployed.logs() and secret not in deployed.logs()


def test_the_access_log_keeps_no_query_string(deployed):
    """A callback URL may carry a credential in its query (DingTalk card presses in HTTP mode)."""
    token = secrets.token_hex(16)
    deployed.get(f"/webhooks/dingtalk?card={token}")
    access = deployed.prefix / "var/log/smartbot/nginx-access.log"
    assert _wait(lambda: access.exists() and "/webhooks/dingtalk" in access.read_text(), 10)
    assert token not in access.read_text()


def test_nginx_accepts_the_installed_config(deployed):
    check = subprocess.run(["nginx", "-t", "-c", str(deployed.nginx_conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_log_rotation_is_configured(deployed):
    assert (deployed.prefix / "etc/supervisor/conf.d/smartbot.conf").read_text().count("stdout_logfile_backups") == 2
    rotate = deployed.prefix / "etc/logrotate.d/smartbot"
    assert f"{deployed.prefix}/var/log/smartbot/nginx-*.log" in rotate.read_text()
    if shutil.which("logrotate"):       # the package is optional; when present it must accept the file
        check = subprocess.run(["logrotate", "-d", str(rotate)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_signed_webhook_over_https_gets_a_reply(deployed, platform):
    resp = deployed.post_generic({"event_id": "tls-1", "chat_id": "c1", "user_id": "u1", "text": "hello"})
    assert resp.status_code == 200 and resp.json() == {"status": "accepted"}
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    request_id = resp.headers["X-Request-ID"]               # made by nginx, carried to the reply
    assert _wait(lambda: platform.replies_to("tls-1"), 30), deployed.logs()
    reply = platform.replies_to("tls-1")[0]
    assert reply["json"]["text"] == "echo: hello"
    assert reply["headers"]["X-Request-ID"] == request_id
    assert deployed.tls_version() in ("TLSv1.2", "TLSv1.3")


def test_forged_and_oversized_webhooks_are_refused(deployed):
    forged = requests.post(deployed.url + "/webhooks/generic", data=b'{"event_id": "x"}', verify=deployed.cert,
                           headers={"X-SmartBot-Timestamp": str(int(time.time())),
                                    "X-SmartBot-Signature": "sha256=00"}, timeout=10)
    assert forged.status_code == 401 and "signature" in forged.json()["error"]
    big = requests.post(deployed.url + "/webhooks/generic", data=b"x" * (2 * 1024 * 1024), verify=deployed.cert,
                        timeout=10)
    assert big.status_code == 413


def test_plain_http_redirects_to_https(deployed):
    resp = requests.get(f"http://127.0.0.1:{deployed.http_port}/webhooks/generic", allow_redirects=False, timeout=5)
    assert resp.status_code == 301
    assert resp.headers["Location"] == f"https://127.0.0.1:{deployed.https_port}/webhooks/generic"


def test_admin_page_only_from_the_admin_allowlist(deployed):
    assert deployed.get("/admin/login").status_code == 403
    status, _ = deployed.request_from(ADMIN_HOST, "GET", "/admin/login")
    assert status == 200


def test_metrics_only_from_this_host_and_the_metrics_allowlist(deployed):
    # a webhook first: a labelled counter is listed once it has counted something (not order-dependent)
    assert deployed.post_generic({"event_id": "metrics-1", "chat_id": "c1", "user_id": "u1", "text": "hi"}).ok
    for source in ("127.0.0.1", METRICS_HOST):
        status, text = deployed.request_from(source, "GET", "/metrics")
        assert status == 200, (source, text)
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"smartbot_webhook_requests", "smartbot_http_requests", "smartbot_inbox_depth",
                "smartbot_process_resident_memory_bytes"} <= names
    # on the admin list but not the metrics list; a forged X-Forwarded-For changes nothing
    for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}):
        status, text = deployed.request_from(ADMIN_HOST, "GET", "/metrics", headers=headers)
        assert status == 403 and "smartbot_" not in text


def test_readyz_details_only_for_this_host_and_the_metrics_allowlist(deployed):
    assert deployed.get("/readyz").json()["checks"]["database"]["ok"] is True
    status, text = deployed.request_from(METRICS_HOST, "GET", "/readyz")
    assert status == 200 and "checks" in json.loads(text)
    # elsewhere: ready or not, whatever it sends (nginx passes no credentials on, the app checks the address)
    for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}"}, {"X-Forwarded-For": "127.0.0.1"}):
        status, text = deployed.request_from(ADMIN_HOST, "GET", "/readyz", headers=headers)
        assert status == 200 and json.loads(text) == {"status": "ready"}, (headers, text)
    # the token itself is good: straight to the app's socket, as nginx would pass it for an outsider
    direct = _from_the_socket(deployed, "/readyz", {"X-Forwarded-For": "203.0.113.7",
                                                    "Authorization": f"Bearer {METRICS_TOKEN}"})
    assert "checks" in direct
    assert _from_the_socket(deployed, "/readyz", {"X-Forwarded-For": "203.0.113.7"}) == {"status": "ready"}


def _from_the_socket(deployed, path: str, headers: dict[str, str]) -> dict:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(deployed.prefix / "var/lib/smartbot/run/gunicorn.sock"))
    conn = http.client.HTTPConnection("localhost")
    conn.sock = sock
    try:
        conn.request("GET", path, headers=headers)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def test_cookies_are_secure_and_headers_arrive_once_behind_nginx(deployed):
    for path in ("/admin/login", "/admin/login?lang=zh-CN"):
        status, headers, _ = deployed.exchange_from(ADMIN_HOST, "GET", path)
        assert status == 200
        cookies = headers.get_all("Set-Cookie") or []
        assert cookies and all("; Secure" in c for c in cookies), cookies
        assert headers.get_all("X-Frame-Options") == ["DENY"]
        assert headers.get_all("X-Content-Type-Options") == ["nosniff"]
        assert headers.get_all("Referrer-Policy") == ["same-origin"]
        assert len(headers.get_all("Content-Security-Policy")) == 1
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    chat = deployed.get("/chat")
    assert chat.status_code == 200
    assert chat.raw.headers.getlist("Set-Cookie") and \
        all("; Secure" in c for c in chat.raw.headers.getlist("Set-Cookie"))


def test_login_is_rate_limited_per_address(deployed):
    body = b'{"name": "nobody", "password": "wrong-password"}'
    codes = [deployed.request_from(ADMIN_HOST, "POST", "/api/v1/auth/login", body,
                                   {"Content-Type": "application/json"})[0] for _ in range(12)]
    assert codes[0] == 401 and codes[-1] == 429, codes          # the app refuses, then nginx's limit does
    assert deployed.get("/admin/login").status_code == 403      # elsewhere the allowlist refuses first


def test_supervisorctl_restart_during_a_burst_loses_nothing(deployed, platform, model):
    model.delay = 0.2                                           # replies are still being made at the restart
    before = deployed.app_pid()
    events = [f"burst-{i}" for i in range(120)]
    refused = collections.Counter()
    errors: list[str] = []

    def send(batch: list[str]) -> None:
        for event in batch:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:                  # a platform retries until it gets a 2xx
                try:
                    resp = deployed.post_generic({"event_id": event, "chat_id": f"c{hash(event) % 9}",
                                                  "user_id": "u", "text": event})
                    if resp.status_code == 200:
                        break
                    refused[resp.status_code] += 1
                except requests.RequestException as exc:
                    refused[type(exc).__name__] += 1
                time.sleep(0.2)
            else:
                errors.append(event)
            time.sleep(0.15)                                    # a steady stream across the restart

    senders = [threading.Thread(target=send, args=(events[i::4],)) for i in range(4)]
    for th in senders:
        th.start()
    time.sleep(1.0)
    restart = deployed.supervisorctl("restart", "smartbot")
    for th in senders:
        th.join()
    model.delay = 0.0
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert errors == []
    assert deployed.app_pid() not in (0, before)
    answered = lambda: {r["json"]["reply_to"] for r in platform.wait_for(0, 0)}  # noqa: E731
    assert _wait(lambda: answered() >= set(events), 90), (sorted(set(events) - answered()), deployed.logs())
    time.sleep(1.0)
    for event in events:            # one reply each (a resend after a crash keeps its delivery id)
        assert {r["json"]["event_id"] for r in platform.replies_to(event)} != set()
        assert len({r["json"]["event_id"] for r in platform.replies_to(event)}) == 1, event
        assert platform.replies_to(event)[0]["json"]["text"] == f"echo: {event}"
    print(f"refused while restarting: {dict(refused)}")
    assert refused[503] > 0, f"no request met the restart: the burst did not overlap it ({dict(refused)})"
    assert set(refused) == {503}, "nginx must answer 503 (Retry-After) while the app restarts, nothing else"


def test_installing_again_changes_nothing(deployed):
    before = deployed.snapshot()
    pid = deployed.app_pid()
    output = deployed.install(services=True)
    assert deployed.snapshot() == before, output
    assert deployed.app_pid() == pid, "a second install restarted the app"
    assert "unpacking" not in output and "generating" not in output


def test_upgrade_unpacks_migrates_and_restarts(deployed, platform, tmp_path):
    source = tmp_path / "smartbot-next"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.pyc",
                                                                  ".pytest_cache", "var"))
    head = head_revision()
    (source / "migrations" / "versions" / "0999_upgrade_probe.py").write_text(
        '"""A migration that only the upgrade test ships."""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'revision = "0999"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        'def upgrade():\n    op.create_table("upgrade_probe", sa.Column("id", sa.Integer, primary_key=True))\n\n\n'
        'def downgrade():\n    op.drop_table("upgrade_probe")\n')
    old_release = (deployed.prefix / "opt/smartbot/current").readlink()
    pid = deployed.app_pid()
    output = deployed.install(source=source, services=True)
    new_release = (deployed.prefix / "opt/smartbot/current").readlink()
    assert new_release != old_release and (deployed.prefix / "opt/smartbot" / old_release).is_dir(), output
    assert "restarting smartbot" in output
    deployed.wait_ready()
    assert deployed.app_pid() not in (0, pid)
    ready = deployed.get("/readyz").json()
    assert ready["checks"]["database"]["revision"] == "0999"
    resp = deployed.post_generic({"event_id": "after-upgrade", "chat_id": "c1", "user_id": "u1", "text": "again"})
    assert resp.status_code == 200
    assert _wait(lambda: platform.replies_to("after-upgrade"), 30), deployed.logs()

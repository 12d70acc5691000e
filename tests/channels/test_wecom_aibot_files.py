"""Files the WeCom AI bot hands over: fetched from the URL in the message only on WeCom's file
hosts (here the configured api_base's fake), decrypted with the message's aeskey (AES-256-CBC,
IV = the key's first 16 bytes, PKCS#7 to 32-byte blocks), within the size cap."""
from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from smartbot.channels.support.files import FetchLimits
from smartbot.channels.wecom import WeComChannel, WeComConfig
from smartbot.errors import MediaRefused
from smartbot.settings.schema import build
from tests.pipeline.test_media import png
from tests.support.httpserver import LoopbackServer, QuietHandler

KEY = os.urandom(32)


def seal(data: bytes, key: bytes = KEY) -> bytes:
    padder = padding.PKCS7(256).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


class _Files(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        files: FileHost = self.server.owner  # type: ignore[attr-defined]
        files.hits.append(self.path)
        self.send(200, files.body, "application/octet-stream")


class FileHost(LoopbackServer):
    def __init__(self, body: bytes) -> None:
        super().__init__(_Files)
        self.body, self.hits = body, []


@pytest.fixture
def host():
    server = FileHost(seal(png())).start()
    yield server
    server.stop()


def _channel(api_base: str) -> WeComChannel:
    return WeComChannel(build(WeComConfig, {"mode": "connect", "bot_id": "aibot_id", "bot_secret": "s" * 20,
                                            "aibot_url": "ws://127.0.0.1:9/ws", "api_base": api_base},
                              "channels.wecom"))


def _message(channel: WeComChannel, url: str, aeskey: str):
    body = {"msgid": "m1", "aibotid": "aibot_id", "chattype": "single", "from": {"userid": "zhangsan"},
            "msgtype": "image", "image": {"url": url, "aeskey": aeskey}}
    [msg] = channel.parse_aibot(body, "req-1")
    return msg


def test_an_ai_bot_image_is_fetched_and_decrypted_with_its_aeskey(host):
    channel = _channel(host.url)
    msg = _message(channel, host.url + "/file/abc", base64.b64encode(KEY).decode().rstrip("="))
    assert channel.fetch(msg, msg.attachments[0], FetchLimits(1 << 20)) == png()
    assert host.hits == ["/file/abc"]


def test_a_wrong_key_a_foreign_host_or_an_oversized_file_is_refused(host):
    channel = _channel(host.url)
    wrong = _message(channel, host.url + "/file/abc", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(MediaRefused, match="does not decrypt"):
        channel.fetch(wrong, wrong.attachments[0], FetchLimits(1 << 20))
    foreign = _message(channel, "https://files.example.com/abc", base64.b64encode(KEY).decode())
    with pytest.raises(MediaRefused, match="not on WeCom's file hosts"):
        channel.fetch(foreign, foreign.attachments[0], FetchLimits(1 << 20))
    fine = _message(channel, host.url + "/file/abc", base64.b64encode(KEY).decode())
    with pytest.raises(MediaRefused) as refused:
        channel.fetch(fine, fine.attachments[0], FetchLimits(16))
    assert refused.value.code == "too_large"

"""The platforms' file APIs, faked beside their send APIs (FakeChatApis) on one loopback server,
and an OpenAI-compatible transcription endpoint.

`FakeFileApis.add(platform, key, data)` makes a file downloadable the way the platform serves it:
Telegram's getFile then `/file/bot<token>/<path>`, Slack's `url_private` (Bearer token required),
Discord's CDN (no token). `sized=False` leaves the size unsaid (no file_size, no Content-Length:
the body is sent chunked), so only the reader's own cap can stop it. Every download is recorded
in `downloads`.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from typing import Any

from .fake_chat_apis import PREFIXES, SLACK_TOKEN, TELEGRAM_TOKEN, FakeChatApis
from .httpserver import LoopbackServer, QuietHandler

CHUNK = 65536


class _FileHandler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        fake: FakeFileApis = self.server.owner  # type: ignore[attr-defined]
        found = fake.file_at(self.path, dict(self.headers))
        if found is None:
            self._json(*fake._handle("GET", self.path, dict(self.headers), b"")[:2])
            return
        status, data, sized = found
        if status != 200:
            self._json(status, {"ok": False, "error": "not_allowed"})
        elif sized:
            self.send(200, data, content_type="application/octet-stream")
        else:
            self._chunked(data)

    def do_POST(self) -> None:  # noqa: N802
        fake: FakeFileApis = self.server.owner  # type: ignore[attr-defined]
        body = self.read_body()
        answer = fake.get_file(self.path, body) or fake.upload(self.path, dict(self.headers), body)
        self._json(*(answer or fake._handle("POST", self.path, dict(self.headers), body)[:2]))

    def _json(self, status: int, data: Any) -> None:
        self.send(status, json.dumps(data).encode())

    def _chunked(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(data), CHUNK):
                piece = data[start:start + CHUNK]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True    # the reader stopped at its cap


class FakeFileApis(FakeChatApis):
    def __init__(self) -> None:
        super().__init__()
        self.httpd.RequestHandlerClass = _FileHandler
        self.files: dict[str, tuple[str, bytes, bool]] = {}      # key -> (platform, bytes, sized)
        self.downloads: list[str] = []
        self.uploads: list[dict[str, Any]] = []

    def add(self, platform: str, key: str, data: bytes, sized: bool = True) -> str:
        """Serve `data` as the file `key` of `platform`; returns the URL a message would name
        (Slack's url_private, Discord's CDN link), or the key itself for Telegram."""
        self.files[key] = (platform, data, sized)
        if platform == "slack":
            return f"{self.url}/slack/files/{key}"
        if platform == "discord":
            return f"{self.url}/discord/cdn/attachments/{key}?ex=1&is=2&hm=signed"
        return key

    def get_file(self, path: str, body: bytes) -> tuple[int, Any] | None:
        """Telegram's getFile; None for other requests."""
        if path != f"{PREFIXES['telegram']}/bot{TELEGRAM_TOKEN}/getFile":
            return None
        file_id = str((json.loads(body or b"{}") or {}).get("file_id") or "")
        if file_id not in self.files:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
        _, data, sized = self.files[file_id]
        result: dict[str, Any] = {"file_id": file_id, "file_path": f"documents/{file_id}"}
        if sized:
            result["file_size"] = len(data)
        return 200, {"ok": True, "result": result}

    def upload(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any] | None:
        """The upload APIs: Telegram sendPhoto/sendDocument, Slack files upload v2 (its three
        steps), Discord's multipart message; each recorded in `uploads`. None for other requests."""
        content_type = headers.get("Content-Type", "")
        if path.startswith(f"/telegram/bot{TELEGRAM_TOKEN}/send") and content_type.startswith("multipart/"):
            fields = multipart_fields(content_type, body)
            self._uploaded({"platform": "telegram", "method": path.rsplit("/", 1)[1], "fields": fields})
            return 200, {"ok": True, "result": {"message_id": 1}}
        if path.startswith("/slack/api/files.") or path.startswith("/slack/upload/"):
            return self._slack_upload(path, headers, body)
        if path.startswith("/discord/api/v10/") and content_type.startswith("multipart/"):
            fields = multipart_fields(content_type, body)
            self._uploaded({"platform": "discord", "path": path, "fields": fields})
            return 200, {"id": "1"}
        return None

    def _slack_upload(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if path == "/slack/api/files.getUploadURLExternal":
            if headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            form = dict(p.split("=", 1) for p in body.decode().split("&") if "=" in p)
            return 200, {"ok": True, "upload_url": f"{self.url}/slack/upload/F77", "file_id": "F77",
                         "requested": form}
        if path == "/slack/upload/F77":
            self._uploaded({"platform": "slack", "step": "upload", "bytes": body})
            return 200, {"ok": True}
        if path == "/slack/api/files.completeUploadExternal":
            self._uploaded({"platform": "slack", "step": "complete", "json": json.loads(body)})
            return 200, {"ok": True, "files": [{"id": "F77"}]}
        return 200, {"ok": False, "error": "unknown_method"}

    def _uploaded(self, record: dict[str, Any]) -> None:
        with self._cv:
            self.uploads.append(record)
            self._cv.notify_all()

    def file_at(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, bool] | None:
        """(status, bytes, sized) of a file download; None when `path` is not one."""
        path = path.split("?", 1)[0]
        for prefix, platform in ((f"/telegram/file/bot{TELEGRAM_TOKEN}/documents/", "telegram"),
                                 ("/slack/files/", "slack"), ("/discord/cdn/attachments/", "discord")):
            if path.startswith(prefix):
                key = path[len(prefix):]
                if key not in self.files or self.files[key][0] != platform:
                    return 404, b"", True
                if platform == "slack" and headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
                    return 403, b"", True
                if platform == "discord" and headers.get("Authorization"):
                    return 403, b"", True       # a token must never travel to the CDN
                with self._cv:
                    self.downloads.append(key)
                _, data, sized = self.files[key]
                return 200, data, sized
        return None


def multipart_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body's fields: text as str, files as (filename, bytes)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        fields[name] = (filename, payload) if filename else payload.decode()
    return fields


class _SpeechHandler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802
        fake: FakeTranscriber = self.server.owner  # type: ignore[attr-defined]
        body = self.read_body()
        if self.path != "/v1/audio/transcriptions":
            self.send(404, b'{"error": {"message": "not found"}}')
            return
        fields = multipart_fields(self.headers.get("Content-Type", ""), body)
        filename, data = fields.get("file") or (None, None)
        record = {"authorization": self.headers.get("Authorization"), "model": fields.get("model"),
                  "filename": filename, "file": data}
        with fake.lock:
            fake.calls.append(record)
        self.send(200, json.dumps({"text": fake.transcript}).encode())


class FakeTranscriber(LoopbackServer):
    """POST /v1/audio/transcriptions (multipart: model, file) -> {"text": transcript}; records each call."""

    def __init__(self, transcript: str = "what is the disk usage on web-1") -> None:
        super().__init__(_SpeechHandler)
        self.transcript = transcript
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

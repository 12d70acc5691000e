"""Pieces the chat-platform channels share: a pooled HTTP session, outbound timeouts, the group
trigger setting, signature headers and their timestamp window, and typed access to the fields of a
verified payload.

Payload helpers raise PayloadError (400) naming the missing field; they never guess a value. Nothing
here talks to a platform.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import PayloadError, SignatureError
from ...settings.schema import setting
from . import http, timestamps
from ..base import Channel, ModeConfig, WebRequest

GROUP_TRIGGERS = ("mention", "always")
MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 200


@dataclass
class PlatformConfig(ModeConfig):
    """Settings every platform channel has besides its own credentials."""

    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


class PlatformChannel(Channel):
    """A channel that calls its platform's API through one pooled HTTP session."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._http = http.pooled_session()

    def close(self) -> None:
        self._http.close()


def group_trigger_setting() -> Any:
    return setting("mention", choices=GROUP_TRIGGERS,
                   help='"mention": answer in groups only when addressed; "always": every group message')


def signed_headers(req: WebRequest, timestamp_header: str, signature_header: str) -> tuple[str, str]:
    """(timestamp text, signature) of a signed request; both headers required, the timestamp checked
    to be one (its window is the caller's: `timestamps.check_window`)."""
    timestamp = req.headers.get(timestamp_header, "")
    signature = req.headers.get(signature_header, "")
    if not timestamp or not signature:
        raise SignatureError(f"missing {timestamp_header} or {signature_header} header")
    timestamps.parse(timestamp, timestamp_header)
    return timestamp, signature.strip()


def json_object(req: WebRequest) -> dict[str, Any]:
    data = req.json()
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def need_object(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"missing field: {where}.{key} (an object)")
    return value


def optional_object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object the platform may leave out: {} when it is absent or not an object."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def need_id(data: dict[str, Any], key: str, where: str) -> str:
    """An id the platform sends as a number or a string, as text."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise PayloadError(f"missing field: {where}.{key}")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise PayloadError(f"{where}.{key} is longer than {MAX_ID_LENGTH} characters")
    return text


def text_field(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key} must be a string")
    return value


def optional_text(data: dict[str, Any], key: str, limit: int = MAX_NAME_LENGTH) -> str:
    """A string field the platform may leave out or (wrongly) send as something else: "" then."""
    value = data.get(key)
    return value[:limit] if isinstance(value, str) else ""


def display_name(*candidates: Any) -> str:
    """The first non-empty name, trimmed to a sane length."""
    for name in candidates:
        if isinstance(name, str) and name.strip():
            return name.strip()[:MAX_NAME_LENGTH]
    return ""


def attachment_kind(mimetype: str) -> str:
    major = (mimetype or "").split("/", 1)[0]
    return {"image": "image", "audio": "audio", "video": "video"}.get(major, "file")

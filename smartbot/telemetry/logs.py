"""Process logging: text or JSON lines; the audit logger also to its own file when configured.

Every line carries the request id of the webhook request or job being worked (request_ids), so one
message can be followed from the webhook to its reply with a grep.
"""
from __future__ import annotations

import json
import logging
import time

from . import request_ids
from .redact import redact


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record ("-" outside a request or job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_ids.current() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
                "msg": record.getMessage(), "pid": record.process}
        for key in ("event_id", "channel", "request_id"):
            if getattr(record, key, None) not in (None, "-"):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(redact(data), ensure_ascii=False)


class _AuditLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def configure(level: str, fmt: str = "text", audit_file: str = "") -> None:
    """Set up process logging: `level`, `fmt` ("text" or "json"), and the audit events also to
    `audit_file` when given."""
    root = logging.getLogger()
    if not getattr(root, "_smartbot_configured", False):
        handler = logging.StreamHandler()
        if fmt == "json":
            handler.setFormatter(JsonFormatter())
        else:
            formatter = logging.Formatter(
                "%(asctime)s %(levelname)s [%(process)d] %(name)s [%(request_id)s]: %(message)s")
            formatter.converter = time.gmtime
            handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        if not root.handlers:
            root.addHandler(handler)
        root._smartbot_configured = True  # type: ignore[attr-defined]
    root.setLevel(level)
    # urllib3 logs every request's full URL at DEBUG, and some platforms put credentials in the URL
    # (WeCom's access_token, Telegram's bot token): never let those lines out, whatever log_level says.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)
    audit_log = logging.getLogger("smartbot.audit")
    path = audit_file
    if path and not any(getattr(h, "baseFilename", None) == path for h in audit_log.handlers):
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(_AuditLineFormatter())
        audit_log.addHandler(file_handler)

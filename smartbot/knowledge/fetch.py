"""A document given by URL, fetched by the server with the guards of workflow http steps
(httputil.fetch_capped, url_refusal): http(s) to a host in `[knowledge] fetch_allow` only, no
userinfo, a body no larger than `max_document_bytes`. A redirect is followed (up to
MAX_REDIRECTS) only when its target passes the same check, so it can never lead elsewhere."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from ..httputil import fetch_capped, url_refusal
from ..i18n.reasons import reason
from .extract import Unreadable
from .settings import KnowledgeSettings

MAX_REDIRECTS = 3
_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "txt", "text/markdown": "md",
          "text/csv": "csv", "application/pdf": "pdf",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx"}


class FetchRefused(Unreadable):
    """A URL refused for where it points (audited as knowledge.fetch_refused)."""


@dataclass
class Download:
    url: str            # where the body finally came from
    body: bytes
    filename: str       # a name whose extension says the kind


def refusal(url: str, settings: KnowledgeSettings) -> FetchRefused | None:
    problem = url_refusal(url, settings.fetch_allow)
    if not problem:
        return None
    host = (urlsplit(url).hostname or "") if problem == "host" else ""
    return FetchRefused(reason(f"reason.knowledge.fetch_{problem}", host=repr(host)), 403 if host else 422)


def download(url: str, settings: KnowledgeSettings) -> Download:
    for _ in range(MAX_REDIRECTS + 1):
        refused = refusal(url, settings)
        if refused is not None:
            raise refused
        try:
            got = fetch_capped("GET", url, settings.max_document_bytes, settings.fetch_timeout)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreadable(reason("reason.knowledge.fetch_failed", problem=type(exc).__name__), 502) from None
        if got.status in (301, 302, 303, 307, 308) and got.location:
            url = urljoin(url, got.location)
            continue
        if got.status >= 300:
            raise Unreadable(reason("reason.knowledge.fetch_status", status=got.status), 502)
        if len(got.body) > settings.max_document_bytes:
            raise Unreadable(reason("reason.knowledge.too_large", n=settings.max_document_bytes), 413)
        return Download(url, got.body, _filename(url, got.content_type))
    raise Unreadable(reason("reason.knowledge.fetch_redirects", n=MAX_REDIRECTS), 502)


def _filename(url: str, content_type: str) -> str:
    kind = _TYPES.get(content_type.split(";")[0].strip().lower())
    path = urlsplit(url).path.rsplit("/", 1)[-1]
    if kind is not None:
        return f"{path or 'page'}.{kind}"
    return path if "." in path else f"{path or 'page'}.txt"

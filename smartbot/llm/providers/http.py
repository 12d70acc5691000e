"""HTTP plumbing shared by provider kinds: pooled sessions and error translation.

requests' own retries are off: the model service is the one retry layer.
"""
from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ...httputil import retry_after_seconds
from ...errors import ProviderError


def session(pool_size: int, headers: dict[str, str]) -> requests.Session:
    s = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 4), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers.update(headers)
    return s


def post_json(s: requests.Session, provider: str, url: str, payload: dict[str, Any],
              timeout: tuple[float, float]) -> Any:
    """POST JSON and return the decoded answer; every failure becomes a ProviderError."""
    try:
        resp = s.post(url, json=payload, timeout=timeout)
    except requests.Timeout:
        raise ProviderError("timed out", "timeout", retryable=True, provider=provider) from None
    except requests.RequestException as exc:
        raise ProviderError(f"could not connect ({type(exc).__name__})", "unavailable", retryable=True,
                            provider=provider) from None
    status = resp.status_code
    if status == 429:
        raise ProviderError("rate limited (429)", "rate_limited", retryable=True, provider=provider,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    if status >= 500:
        raise ProviderError(f"server error ({status})", "server", retryable=True, provider=provider,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    if status >= 400:
        raise ProviderError(f"request refused ({status}): {_error_text(resp)}", "client", retryable=False,
                            provider=provider)
    try:
        return resp.json()
    except ValueError:
        raise ProviderError("answer is not JSON", "malformed", retryable=False, provider=provider) from None


def _error_text(resp: requests.Response) -> str:
    try:
        data = resp.json()
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or "")[:200]
        return str(err or "")[:200]
    except ValueError:
        return resp.text[:200]

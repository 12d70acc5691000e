"""HTTP plumbing shared by provider kinds: pooled sessions, error translation, and `HttpProvider`,
the base of every JSON-over-HTTP API kind, whole or streamed (bodies are read within the answer's
caps by wire.py).

requests' own retries are off: the model service is the one retry layer. Every requests exception
and every bad status leaves here as a ProviderError; nothing above llm/ sees a requests exception.

Redirects are never followed (a 3xx is a provider error), so a key never travels to a host its
provider was not confirmed for. A ProviderError's reason is ours alone (a status code and a fixed
text), never the answer's body: reasons reach the admin API, the audit log and the circuit state,
and a base_url pointed at an internal service must not read that service's pages back. The
provider's own error text goes to the server log only.
"""
from __future__ import annotations

import json
import logging
import time
from abc import abstractmethod
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ...errors import ProviderError
from ...httputil import EnvironmentOnceSession, retry_after_seconds
from ..base import ModelRequest, ModelResponse, Provider, ProviderSpec, TextSink
from . import wire

log = logging.getLogger(__name__)

ERROR_TEXT_BYTES = 4096


def session(pool_size: int, headers: dict[str, str]) -> requests.Session:
    s = EnvironmentOnceSession()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 4), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers.update(headers)
    return s


def post(s: requests.Session, provider: str, url: str, payload: dict[str, Any],
         timeout: tuple[float, float]) -> requests.Response:
    """POST JSON and return the response with its status checked and its body unread: the caller
    reads it within the answer's caps (wire.py) and closes it. Every failure is a ProviderError."""
    resp = send_call(provider, lambda: s.post(url, json=payload, timeout=timeout, allow_redirects=False, stream=True))
    try:
        raise_for_status(resp, provider)
    except ProviderError:
        resp.close()
        raise
    return resp


def probe(s: requests.Session, provider: str, url: str, timeout: tuple[float, float]) -> None:
    """GET `url`: fine when the server answers and accepts the key. 404/405 are fine too: some
    compatible servers lack the listing endpoint, and the answer still proves they are up."""
    resp = send_call(provider, lambda: s.get(url, timeout=timeout, allow_redirects=False, stream=True))
    try:
        if resp.status_code not in (404, 405):
            raise_for_status(resp, provider)
    finally:
        resp.close()        # the body says nothing more: the status is the answer


def send_call(provider: str, call: Any) -> requests.Response:
    try:
        return call()
    except requests.Timeout:
        raise ProviderError("timed out", "timeout", retryable=True, provider=provider) from None
    except requests.RequestException as exc:
        raise ProviderError(f"could not connect ({type(exc).__name__})", "unavailable", retryable=True,
                            provider=provider) from None


def raise_for_status(resp: requests.Response, provider: str) -> None:
    status = resp.status_code
    if status < 300:
        return
    if status < 400:
        raise ProviderError(f"answered {status}, a redirect, which is never followed: check base_url", "client",
                            retryable=False, provider=provider)
    if status == 429:
        raise ProviderError("rate limited (429)", "rate_limited", retryable=True, provider=provider,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    if status >= 500:
        raise ProviderError(f"server error ({status})", "server", retryable=True, provider=provider,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    log.warning("provider %s answered %s: %r", provider, status, _error_text(resp))
    # A refused key is the provider's configuration, not this request: it counts against its health.
    if status in (401, 403):
        raise ProviderError(f"the key was refused (answered {status})", "auth", retryable=False, provider=provider)
    raise ProviderError(f"request refused (answered {status})", "client", retryable=False, provider=provider)


def _error_text(resp: requests.Response) -> str:
    """The provider's own words about a refusal, for the server log only (read within a few KB)."""
    try:
        raw = resp.raw.read(ERROR_TEXT_BYTES, decode_content=True)
    except Exception:       # noqa: BLE001 - only a log line is lost
        return ""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return raw[:200].decode("utf-8", "replace")
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or "")[:200]
    return str(err or "")[:200]


def as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def malformed(provider: str, what: str) -> ProviderError:
    return ProviderError(what, "malformed", retryable=False, provider=provider)


class HttpProvider(Provider):
    """A JSON API at `base_url`: subclasses name their paths and translate requests and answers.

    Header order: content type, the kind's fixed headers, the provider's extra headers, then the
    key, so extra headers can add or override anything but the credential.
    """

    path = ""           # the chat endpoint, appended to base_url
    probe_path = ""     # a GET that spends no tokens, for health checks

    def __init__(self, spec: ProviderSpec, api_key: str, pool_size: int) -> None:
        super().__init__(spec, api_key, pool_size)
        headers = {"Content-Type": "application/json", **self.fixed_headers(), **dict(spec.headers),
                   **(self.key_headers(api_key) if api_key else {})}
        self._session = session(pool_size, headers)
        base = spec.base_url.rstrip("/")
        self._url = base + self.path
        self._probe_url = base + self.probe_path

    def fixed_headers(self) -> dict[str, str]:
        return {}

    def key_headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"}

    @abstractmethod
    def payload(self, request: ModelRequest) -> dict[str, Any]:
        """The request body in this API's shape."""

    @abstractmethod
    def parse(self, data: dict[str, Any], latency: float) -> ModelResponse:
        """This API's answer -> a ModelResponse; ProviderError("malformed") when it does not fit."""

    def stream_payload(self, request: ModelRequest) -> dict[str, Any]:
        """The request body asking for a streamed answer."""
        return {**self.payload(request), "stream": True}

    @abstractmethod
    def stream_parser(self) -> wire.StreamParser:
        """A parser for one streamed answer of this API."""

    def complete(self, request: ModelRequest, timeout: tuple[float, float],
                 deadline: float | None = None) -> ModelResponse:
        started = time.monotonic()
        limit, deadline = self._caps(request, started, deadline)
        resp = self.send(self.payload(request), timeout)
        try:
            return self._whole(resp, limit, deadline, started)
        finally:
            resp.close()

    def stream(self, request: ModelRequest, timeout: tuple[float, float], on_text: TextSink,
               deadline: float | None = None) -> ModelResponse:
        started = time.monotonic()
        limit, deadline = self._caps(request, started, deadline)
        resp = self.open_stream(request, timeout)
        try:
            if wire.is_whole_json(resp):        # the server ignored "stream": one piece
                response = self._whole(resp, limit, deadline, started)
                if response.text:
                    on_text(response.text)
                return response
            parser = self.stream_parser()
            try:
                for piece in parser.pieces(wire.lines(resp, self.spec.name, limit, deadline)):
                    on_text(piece)
            except ProviderError:
                if not parser.finished:     # after the end marker only the connection's close failed
                    raise
            return parser.response(request, time.monotonic() - started)
        finally:
            resp.close()

    def open_stream(self, request: ModelRequest, timeout: tuple[float, float]) -> requests.Response:
        """The response to a streaming request, its body unread."""
        return self.send(self.stream_payload(request), timeout)

    def send(self, payload: dict[str, Any], timeout: tuple[float, float]) -> requests.Response:
        """POST `payload` to the chat endpoint: the response, its body unread."""
        return post(self._session, self.spec.name, self._url, payload, timeout)

    def _caps(self, request: ModelRequest, started: float, deadline: float | None) -> tuple[int, float]:
        """The most bytes this call's answer may take, and when it must have arrived."""
        return (wire.answer_limit(self.max_tokens(request)),
                deadline if deadline is not None else started + self.spec.total_timeout)

    def _whole(self, resp: requests.Response, limit: int, deadline: float, started: float) -> ModelResponse:
        data = wire.decode_json(wire.read_all(resp, self.spec.name, limit, deadline), self.spec.name)
        if not isinstance(data, dict):
            raise malformed(self.spec.name, "answer is not a JSON object")
        return self.parse(data, time.monotonic() - started)

    def probe(self, timeout: tuple[float, float]) -> None:
        probe(self._session, self.spec.name, self._probe_url, timeout)

    def max_tokens(self, request: ModelRequest) -> int:
        return request.max_tokens or self.spec.max_tokens

    def temperature(self, request: ModelRequest) -> float:
        return self.spec.temperature if request.temperature is None else request.temperature

    def close(self) -> None:
        self._session.close()

    def models(self, timeout: tuple[float, float]) -> list[str]:
        name = self.spec.name
        resp = send_call(name, lambda: self._session.get(self._probe_url, timeout=timeout, allow_redirects=False))
        raise_for_status(resp, name)
        try:
            data = resp.json()
        except ValueError:
            raise malformed(name, f"answered {resp.status_code} with something that is not JSON") from None
        # {"data": [{"id"}]} (OpenAI, Anthropic) or {"models": [{"name"}]} (Ollama)
        listed = data.get("data", data.get("models")) if isinstance(data, dict) else None
        if not isinstance(listed, list):
            raise malformed(name, f"answered {resp.status_code} with JSON that is not a list of models")
        names = (m.get("id") or m.get("name") for m in listed if isinstance(m, dict))
        return [str(n) for n in names if n]

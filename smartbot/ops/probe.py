"""Is each configured model provider reachable? A cached probe, never a model call.

A probe is one GET of the provider's base URL without its API key: any HTTP answer except 502, 503
and 504 means the server is there (401, 404 and 405 included). A connection error or a timeout
means it is not. Each provider is probed at most once per `interval` per process, so /readyz and
the monitors can ask as often as they like.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import requests
from requests.adapters import HTTPAdapter

from ..llm.base import ProviderSpec

log = logging.getLogger(__name__)

DOWN_STATUSES = (502, 503, 504)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    checked_at: float           # when the probe was sent (what it saw may have changed while it waited)


class ProviderProbe:
    def __init__(self, chain: Callable[[], Sequence[ProviderSpec]], interval: float, timeout: float) -> None:
        self._chain = chain
        self.interval = interval
        self.timeout = timeout
        self._results: dict[str, ProbeResult] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "SmartBot-probe"

    def status(self) -> dict[str, ProbeResult]:
        """The latest result for every provider in the chain, probing those not checked lately."""
        self.refresh()
        names = {spec.name for spec in self._chain()}
        with self._lock:
            return {name: result for name, result in self._results.items() if name in names}

    def refresh(self, force: bool = False) -> None:
        now = time.time()
        for spec in self._chain():
            last = self._results.get(spec.name)
            if force or last is None or now - last.checked_at >= self.interval:
                result = self._probe(spec)
                with self._lock:
                    self._results[spec.name] = result

    def _probe(self, spec: ProviderSpec) -> ProbeResult:
        sent = time.time()
        try:
            resp = self._session.get(spec.base_url, timeout=(self.timeout, self.timeout), allow_redirects=False)
            resp.close()
        except requests.Timeout:
            return ProbeResult(False, f"no answer within {self.timeout:g} s", sent)
        except requests.RequestException as exc:
            return ProbeResult(False, f"cannot connect ({type(exc).__name__})", sent)
        return ProbeResult(resp.status_code not in DOWN_STATUSES, f"answers {resp.status_code}", sent)

    def close(self) -> None:
        self._session.close()

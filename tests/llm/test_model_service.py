"""The model service against fake model servers over real HTTP (OpenAI and Anthropic shapes):
retries and their limit, Retry-After, fallback, circuit breakers, health checks, the cache, and
streaming (retries and failover only before the first piece of text has gone; a cached answer
comes back at once, whole)."""
from __future__ import annotations

import time

import pytest

from smartbot.llm.base import ModelRequest, ProviderSpec, ToolSpec
from smartbot.llm.breaker import BreakerPolicy
from smartbot.llm.health import HealthMonitor
from smartbot.llm.service import ChainFailed, ModelService, StreamBroken
from smartbot.telemetry import metrics
from tests.support.fake_anthropic import FakeAnthropic


@pytest.fixture
def backup():
    server = FakeAnthropic().start()
    yield server
    server.stop()


def _spec(server, name="main", kind="openai", **kw) -> ProviderSpec:
    kw = {"read_timeout": 2.0, "total_timeout": 5.0, "max_retries": 2, **kw}
    return ProviderSpec(name=name, kind=kind, base_url=server.base_url, model=f"{name}-model", **kw)


def _service(failures: int = 3, cooldown: float = 30.0, sleeps: list | None = None) -> ModelService:
    sleep = sleeps.append if sleeps is not None else time.sleep
    return ModelService({}, pool_size=8, sleep=sleep, breaker=BreakerPolicy(failures, 60.0, cooldown))


def _ask(text: str = "hello", user: str = "u1", history: list | None = None, tools=None) -> ModelRequest:
    messages = [{"role": "system", "content": "be nice"}, *(history or []), {"role": "user", "content": text}]
    return ModelRequest(messages, user=user, tools=tools or [])


def test_retries_stop_at_the_limit(fake_model):
    sleeps: list[float] = []
    service = _service(failures=10, sleeps=sleeps)
    fake_model.script(*[{"status": 500, "body": {"error": "boom"}}] * 5)
    with pytest.raises(ChainFailed) as err:
        service.complete(_ask(), [_spec(fake_model, max_retries=2)])
    assert fake_model.calls() == 3 and len(sleeps) == 2
    assert err.value.kind == "server" and not err.value.every_model_down


def test_retry_after_is_honoured_and_a_longer_one_than_the_deadline_is_not_waited_for(fake_model):
    sleeps: list[float] = []
    service = _service(sleeps=sleeps)
    fake_model.script({"status": 429, "body": {}, "headers": {"Retry-After": "2"}})
    assert service.complete(_ask(), [_spec(fake_model)]).text == "echo: hello"
    assert sleeps and sleeps[0] >= 2.0
    fake_model.script({"status": 429, "body": {}, "headers": {"Retry-After": "60"}})
    with pytest.raises(ChainFailed) as err:
        service.complete(_ask(), [_spec(fake_model, total_timeout=5.0)])
    assert err.value.kind == "rate_limited" and len(sleeps) == 1


def test_malformed_json_is_not_retried_but_falls_back(fake_model, backup):
    service = _service()
    fake_model.script({"body": b"{not json"})
    answer = service.complete(_ask(), [_spec(fake_model), _spec(backup, "claude", "anthropic")])
    assert answer.provider == "claude" and answer.text == "echo: hello"
    assert fake_model.calls() == 1 and backup.calls() == 1


def test_a_slow_primary_times_out_and_the_backup_answers(fake_model, backup):
    service = _service()
    fake_model.delay = 1.5
    started = time.monotonic()
    answer = service.complete(_ask(), [_spec(fake_model, read_timeout=0.3, total_timeout=0.5),
                                       _spec(backup, "claude", "anthropic")])
    assert answer.provider == "claude" and time.monotonic() - started < 1.5


def test_client_errors_are_not_retried_and_do_not_trip_the_breaker(fake_model):
    service = _service(failures=2)
    for _ in range(3):
        fake_model.script({"status": 400, "body": {"error": {"message": "context too long"}}})
        with pytest.raises(ChainFailed):
            service.complete(_ask(), [_spec(fake_model)])
    assert fake_model.calls() == 3 and service.states()["main"].state == "closed"


def test_circuit_opens_after_repeated_failures_and_closes_after_recovery(fake_model, backup):
    service = _service(failures=3, cooldown=0.5)
    downs, ups = [], []
    service.on_provider_down.connect(lambda name, reason: downs.append((name, reason)))
    service.on_provider_up.connect(ups.append)
    chain = [_spec(fake_model, max_retries=0), _spec(backup, "claude", "anthropic")]
    fake_model.down = True
    for _ in range(3):
        assert service.complete(_ask(), chain).provider == "claude"
    assert service.states()["main"].state == "open"
    assert downs == [("main", "server: server error (503)")]
    calls = fake_model.calls()
    assert service.complete(_ask(), chain).provider == "claude"
    assert fake_model.calls() == calls, "an open circuit is skipped without a call"
    fake_model.down = False
    time.sleep(0.6)
    answer = service.complete(_ask(), chain)
    assert answer.provider == "main" and fake_model.calls() == calls + 1
    assert service.states()["main"].state == "closed" and ups == ["main"]


def test_every_model_down_is_one_clear_failure(fake_model, backup):
    service = _service(failures=1, cooldown=60)
    fake_model.down = backup.down = True
    chain = [_spec(fake_model, max_retries=0), _spec(backup, "claude", "anthropic", max_retries=0)]
    with pytest.raises(ChainFailed) as first:
        service.complete(_ask(), chain)
    assert first.value.every_model_down and [f["provider"] for f in first.value.summary()] == ["main", "claude"]
    with pytest.raises(ChainFailed) as second:
        service.complete(_ask(), chain)
    assert second.value.kind == "circuit_open" and fake_model.calls() == 1 and backup.calls() == 1


def test_health_checks_open_a_dead_providers_circuit_and_close_it_when_it_is_back(fake_model):
    service = _service(failures=2, cooldown=0.2)
    spec = _spec(fake_model)
    monitor = HealthMonitor(service, lambda: [spec], interval=0.05)
    fake_model.down = True
    monitor.start()
    try:
        _wait(lambda: service.states().get("main") and service.states()["main"].state == "open")
        fake_model.down = False
        _wait(lambda: service.states()["main"].state == "closed")
    finally:
        monitor.stop()
    assert fake_model.calls() == 0 and fake_model.probes >= 3, "health checks spend no tokens"


def test_a_good_health_probe_does_not_hide_failing_completions(fake_model):
    service = _service(failures=3)
    spec = _spec(fake_model, max_retries=0)
    fake_model.script(*[{"status": 500, "body": {}}] * 3)
    for _ in range(2):
        with pytest.raises(ChainFailed):
            service.complete(_ask(), [spec])
    assert service.check_health(spec) == "closed" and fake_model.probes == 1
    with pytest.raises(ChainFailed):
        service.complete(_ask(), [spec])
    assert service.states()["main"].state == "open"


def test_the_cache_answers_a_repeated_question_without_a_call(fake_model):
    service = _service()
    metrics.reset()
    chain = [_spec(fake_model)]
    first = service.complete(_ask("What are your opening hours?", user="a"), chain, cache_ttl=60)
    again = service.complete(_ask("What are your  opening hours? ", user="b"), chain,
                             cache_ttl=60)
    assert fake_model.calls() == 1 and again.cached and not first.cached
    assert again.text == first.text and again.usage.total == 0
    assert metrics.value("model_cache_total", result="hit") == 1
    assert metrics.value("model_cache_total", result="miss") == 1
    service.complete(_ask("What are your opening hours?"), chain)      # a route without cache_ttl
    assert fake_model.calls() == 2


def test_the_cache_is_never_shared_across_users_when_the_request_has_history(fake_model):
    service = _service()
    chain = [_spec(fake_model)]
    history = [{"role": "user", "content": "my account is 42"}, {"role": "assistant", "content": "noted"}]
    service.complete(_ask("what is my balance?", "alice", history), chain, cache_ttl=60)
    assert not service.complete(_ask("what is my balance?", "bob", history), chain, cache_ttl=60).cached
    assert service.complete(_ask("what is my balance?", "alice", history), chain, cache_ttl=60).cached
    assert fake_model.calls() == 2


def test_answers_that_call_tools_are_not_cached_and_entries_expire(fake_model):
    service = _service()
    chain = [_spec(fake_model)]
    fake_model.script({"body": {"choices": [{"message": {"content": None, "tool_calls": [
        {"id": "c1", "function": {"name": "disk", "arguments": "{}"}}]}}]}})
    tools = [ToolSpec("disk", "disk usage")]
    service.complete(_ask("disk?", tools=tools), chain, cache_ttl=60)
    service.complete(_ask("disk?", tools=tools), chain, cache_ttl=60)
    assert fake_model.calls() == 2
    service.complete(_ask("hi"), chain, cache_ttl=0.2)
    time.sleep(0.3)
    assert not service.complete(_ask("hi"), chain, cache_ttl=0.2).cached


def test_the_answer_carries_its_usage_and_cost_and_calls_are_counted(fake_model, backup):
    service = _service()
    metrics.reset()
    fake_model.script({"status": 503, "body": {}})
    priced = _spec(backup, "claude", "anthropic", prompt_price_per_1k=1.0, completion_price_per_1k=2.0)
    answer = service.complete(_ask(user="carol"), [_spec(fake_model, max_retries=0), priced])
    assert (answer.provider, answer.usage.total, answer.cached) == ("claude", 18, False)
    assert answer.cost == pytest.approx((answer.usage.prompt_tokens + 2 * answer.usage.completion_tokens) / 1000)
    assert metrics.value("model_calls_total", provider="main", result="server") == 1
    assert metrics.value("model_calls_total", provider="claude", result="ok") == 1


def test_a_cached_answer_spent_nothing(fake_model):
    service = _service()
    chain = [_spec(fake_model, prompt_price_per_1k=1.0)]
    first = service.complete(_ask("opening hours?"), chain, cache_ttl=60)
    again = service.complete(_ask("opening hours?"), chain, cache_ttl=60)
    assert first.cost > 0 and not first.cached
    assert again.cached and (again.usage.total, again.cost) == (0, 0.0)


def _wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_a_key_is_sent_only_to_the_origin_it_was_confirmed_for(fake_model):
    from smartbot.llm.keys import KeyRules, origin

    service = ModelService({"MAIN_API_KEY": "sk-main-1", "SLACK_SIGNING_SECRET": "slack-1"}, pool_size=4,
                           key_rules=KeyRules(is_server_secret=lambda name: name.startswith("SLACK_")))
    confirmed = _spec(fake_model, api_key_env="MAIN_API_KEY", key_origin=origin(fake_model.base_url))
    assert service.complete(_ask(), [confirmed]).text == "echo: hello"
    assert fake_model.requests[-1]["headers"]["Authorization"] == "Bearer sk-main-1"
    elsewhere = _spec(fake_model, api_key_env="MAIN_API_KEY", key_origin="https://api.example.com:443")
    secret = _spec(fake_model, api_key_env="SLACK_SIGNING_SECRET", key_origin=origin(fake_model.base_url))
    for spec, words in ((elsewhere, "confirm"), (secret, "SmartBot")):
        with pytest.raises(ChainFailed) as err:
            service.complete(_ask(), [spec])
        assert err.value.kind == "key_withheld" and words in err.value.reason, err.value.reason
        assert service.check_health(spec) == "closed" and service.key_withheld(spec) == err.value.reason
    assert fake_model.calls() == 1 and fake_model.probes == 0
    from_file = _spec(fake_model, api_key_env="SLACK_SIGNING_SECRET", key_origin=origin(fake_model.base_url),
                      from_file=True)
    assert service.key_withheld(from_file) == "", "a [[providers]] entry of the file keeps its own variable"


# -- streaming ---------------------------------------------------------------------------------
def _stream(service: ModelService, chain: list[ProviderSpec], text: str = "hello", **kw):
    pieces: list[str] = []
    request = ModelRequest([{"role": "user", "content": text}], user="u1")
    return service.stream(request, chain, pieces.append, **kw), pieces


def test_a_failure_before_the_first_piece_fails_over_to_the_next_provider(fake_model, backup):
    fake_model.script({"status": 503, "body": {}}, {"status": 503, "body": {}})
    chain = [_spec(fake_model, max_retries=1), _spec(backup, "claude", "anthropic")]
    answer, pieces = _stream(_service(sleeps=[]), chain)
    assert (answer.provider, answer.text, "".join(pieces)) == ("claude", "echo: hello", "echo: hello")
    assert fake_model.calls() == 2 and backup.calls() == 1          # a retry on main, then the backup


def test_a_stream_that_breaks_before_any_text_is_retried(fake_model):
    fake_model.script({"tokens": [], "cut": True})
    answer, pieces = _stream(_service(sleeps=[]), [_spec(fake_model, max_retries=1)])
    assert answer.text == "echo: hello" and "".join(pieces) == "echo: hello" and fake_model.calls() == 2


def test_a_failure_after_text_has_gone_ends_the_answer_with_no_retry_and_no_other_provider(fake_model, backup):
    service = _service(failures=1, sleeps=[])
    metrics.reset()
    fake_model.script({"tokens": ["half ", "an "], "cut": True})
    with pytest.raises(StreamBroken) as err:
        _stream(service, [_spec(fake_model, max_retries=1), _spec(backup, "claude", "anthropic")])
    assert err.value.kind == "unavailable" and err.value.provider == "main"
    assert fake_model.calls() == 1 and backup.calls() == 0
    assert service.states()["main"].state == "open"          # the breaker saw the failure
    assert metrics.value("model_calls_total", provider="main", result="unavailable") == 1


def test_a_streamed_answer_is_counted_and_priced_like_any_answer(fake_model):
    metrics.reset()
    priced = _spec(fake_model, prompt_price_per_1k=1.0, completion_price_per_1k=2.0)
    answer, _ = _stream(_service(sleeps=[]), [priced])
    assert answer.usage.total == 15 and answer.cost == pytest.approx((10 + 2 * 5) / 1000)
    assert metrics.value("model_calls_total", provider="main", result="ok") == 1
    assert metrics.value("model_tokens_total", provider="main", kind="completion") == 5


def test_a_cached_answer_is_not_streamed_but_handed_back_at_once(fake_model):
    service = _service(sleeps=[])
    chain = [_spec(fake_model)]
    fake_model.pace = 0.1
    first, pieces = _stream(service, chain, "opening hours?", cache_ttl=60)
    assert len(pieces) == 3 and not first.cached
    started = time.monotonic()
    again, pieces = _stream(service, chain, "opening hours?", cache_ttl=60)
    assert again.cached and again.text == first.text and pieces == [] and time.monotonic() - started < 0.1
    assert fake_model.calls() == 1


def test_every_provider_failing_before_text_is_the_usual_chain_failure(fake_model, backup):
    fake_model.down = backup.down = True
    with pytest.raises(ChainFailed) as err:
        _stream(_service(sleeps=[]), [_spec(fake_model, max_retries=0),
                                      _spec(backup, "claude", "anthropic", max_retries=0)])
    assert err.value.every_model_down and not isinstance(err.value, StreamBroken)

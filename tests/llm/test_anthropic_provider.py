"""The Anthropic Messages provider against a strict fake Messages API over real HTTP: headers,
the system prompt apart, alternating turns, tool_use / tool_result both ways, errors."""
from __future__ import annotations

import pytest

from smartbot.errors import ProviderError
from smartbot.llm.base import ModelRequest, ProviderSpec, ToolCall, ToolSpec
from smartbot.llm.providers.anthropic import AnthropicProvider
from tests.support.fake_anthropic import FakeAnthropic

KEY = "sk-ant-test-0001"


@pytest.fixture
def fake() -> FakeAnthropic:
    server = FakeAnthropic(api_key=KEY).start()
    yield server
    server.stop()


def _provider(fake: FakeAnthropic, key: str = KEY, **spec) -> AnthropicProvider:
    return AnthropicProvider(ProviderSpec(name="claude", kind="anthropic", base_url=fake.base_url, model="claude-x",
                                          max_tokens=300, headers=(("anthropic-beta", "tools-1"),), **spec),
                             api_key=key, pool_size=4)


def test_answer_usage_and_request_shape(fake):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}, {"role": "user", "content": "how are you?"}]
    answer = _provider(fake).complete(ModelRequest(messages, temperature=0.2), (2, 5))
    assert answer.text == "echo: how are you?" and answer.provider == "claude" and answer.model == "claude-x"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 6)
    assert answer.finish_reason == "end_turn"
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == KEY and sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["headers"]["anthropic-beta"] == "tools-1" and "Authorization" not in sent["headers"]
    body = sent["json"]
    assert body["system"] == "Be brief." and body["max_tokens"] == 300 and body["temperature"] == 0.2
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    _provider(fake).complete(ModelRequest(messages, temperature=1.4), (2, 5))
    assert fake.requests[-1]["json"]["temperature"] == 1.0, "Anthropic's range is 0..1"


def test_a_wrong_key_is_an_auth_error_that_is_not_retried(fake):
    with pytest.raises(ProviderError) as err:
        _provider(fake, key="sk-wrong").complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "auth" and not err.value.retryable and "401" in err.value.reason
    assert "invalid x-api-key" not in err.value.reason, "a reason never carries the answer's body"


def test_tools_go_out_as_input_schema_and_tool_use_comes_back(fake):
    fake.script({"body": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
                          "stop_reason": "tool_use", "usage": {"input_tokens": 30, "output_tokens": 9},
                          "content": [{"type": "text", "text": "Checking."},
                                      {"type": "tool_use", "id": "toolu_1", "name": "disk",
                                       "input": {"path": "/"}}]}})
    tool = ToolSpec("disk", "disk usage", {"type": "object", "properties": {"path": {"type": "string"}}})
    answer = _provider(fake).complete(ModelRequest([{"role": "user", "content": "disk?"}], tools=[tool]), (2, 5))
    assert answer.text == "Checking." and answer.finish_reason == "tool_use"
    assert answer.tool_calls == [ToolCall("toolu_1", "disk", {"path": "/"}, '{"path": "/"}')]
    assert fake.requests[-1]["json"]["tools"] == [{"name": "disk", "description": "disk usage",
                                                   "input_schema": tool.parameters}]


def test_tool_results_become_one_user_turn_of_tool_result_blocks(fake):
    calls = [ToolCall("toolu_1", "disk", {"path": "/"}), ToolCall("toolu_2", "load", {})]
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "status?"},
                {"role": "assistant", "content": "", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "toolu_1", "name": "disk", "content": "42% used"},
                {"role": "tool", "tool_call_id": "toolu_2", "name": "load", "content": "0.3"}]
    answer = _provider(fake).complete(ModelRequest(messages), (2, 5))    # the strict fake accepted it
    assert "42% used" in answer.text
    wire = fake.requests[-1]["json"]["messages"]
    assert [m["role"] for m in wire] == ["user", "assistant", "user"]
    assert wire[1]["content"] == [{"type": "tool_use", "id": "toolu_1", "name": "disk", "input": {"path": "/"}},
                                  {"type": "tool_use", "id": "toolu_2", "name": "load", "input": {}}]
    assert wire[2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42% used"},
                                  {"type": "tool_result", "tool_use_id": "toolu_2", "content": "0.3"}]


@pytest.mark.parametrize("body", [b"<html>overloaded</html>", {"content": "not a list"},
                                  {"content": [{"type": "tool_use", "input": {}}]}])
def test_answers_that_do_not_fit_are_malformed(fake, body):
    fake.script({"body": body})
    with pytest.raises(ProviderError) as err:
        _provider(fake).complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "malformed" and not err.value.retryable


def test_overloaded_529_is_retryable_with_its_retry_after(fake):
    fake.script({"status": 529, "body": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
                 "headers": {"Retry-After": "3"}})
    with pytest.raises(ProviderError) as err:
        _provider(fake).complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "server" and err.value.retryable and err.value.retry_after == 3.0


def test_probe_lists_models_with_the_key_and_spends_nothing(fake):
    _provider(fake).probe((2, 5))
    assert fake.probes == 1 and fake.calls() == 0
    fake.down = True
    with pytest.raises(ProviderError) as err:
        _provider(fake).probe((2, 5))
    assert err.value.kind == "server"


def test_the_fake_refuses_what_the_real_api_refuses(fake):
    """So the tests above would fail if the provider sent the system prompt as a message, turns
    that do not alternate, or a tool_result without its tool_use."""
    import requests

    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    bad = [[{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
           [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
           [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}],
           [{"role": "user", "content": [{"type": "text", "text": ""}]}]]
    for messages in bad:
        resp = requests.post(fake.base_url + "/v1/messages", headers=headers, timeout=5,
                             json={"model": "m", "max_tokens": 5, "messages": messages})
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error", messages

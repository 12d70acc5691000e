"""The OpenAI-compatible provider against a real (fake) server: request shape, answers, tool calls."""
from __future__ import annotations

import pytest

from smartbot.errors import ProviderError
from smartbot.llm.base import ModelRequest, ProviderSpec, ToolCall, ToolSpec
from smartbot.llm.providers.openai import OpenAIProvider


def _provider(fake_model) -> OpenAIProvider:
    return OpenAIProvider(ProviderSpec(name="p", kind="openai", base_url=fake_model.base_url, model="m-1",
                                       headers=(("X-Extra", "1"),)), api_key="sk-x", pool_size=4)


def test_plain_answer_and_request_shape(fake_model):
    answer = _provider(fake_model).complete(ModelRequest([{"role": "user", "content": "hi"}]), (2, 5))
    assert answer.text == "echo: hi" and answer.usage.total == 15 and answer.tool_calls == []
    sent = fake_model.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["model"] == "m-1" and "tools" not in sent["json"]
    assert sent["headers"]["Authorization"] == "Bearer sk-x" and sent["headers"]["X-Extra"] == "1"


def test_tools_go_out_and_tool_calls_come_back(fake_model):
    fake_model.script({"body": {"model": "m-1", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "disk", "arguments": "{\"path\": \"/\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "load", "arguments": "not json"}}]}}]}})
    tool = ToolSpec("disk", "disk usage", {"type": "object", "properties": {"path": {"type": "string"}}})
    answer = _provider(fake_model).complete(ModelRequest([{"role": "user", "content": "disk?"}], tools=[tool]), (2, 5))
    assert answer.tool_calls == [ToolCall("call_1", "disk", {"path": "/"}, "{\"path\": \"/\"}"),
                                 ToolCall("call_2", "load", {}, "not json")]
    assert fake_model.requests[-1]["json"]["tools"][0]["function"]["name"] == "disk"


def test_tool_results_are_sent_in_openai_shape(fake_model):
    call = ToolCall("call_1", "disk", {"path": "/"})
    messages = [{"role": "user", "content": "disk?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "name": "disk", "content": "42% used"}]
    _provider(fake_model).complete(ModelRequest(messages), (2, 5))
    wire = fake_model.requests[-1]["json"]["messages"]
    assert wire[1]["tool_calls"][0]["function"] == {"name": "disk", "arguments": "{\"path\": \"/\"}"}
    assert wire[2] == {"role": "tool", "tool_call_id": "call_1", "content": "42% used"}


def test_malformed_tool_calls_are_a_provider_error(fake_model):
    fake_model.script({"body": {"choices": [{"message": {"content": "", "tool_calls": [{"function": {}}]}}]}})
    with pytest.raises(ProviderError) as err:
        _provider(fake_model).complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "malformed"

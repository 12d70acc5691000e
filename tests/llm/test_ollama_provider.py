"""The Ollama native provider against a fake /api/chat over real HTTP: stream off, options, tool
calls with object arguments and no ids, tool results by tool name."""
from __future__ import annotations

import pytest

from smartbot.errors import ProviderError
from smartbot.llm.base import ModelRequest, ProviderSpec, ToolCall, ToolSpec
from smartbot.llm.providers.ollama import OllamaProvider
from tests.support.fake_ollama import FakeOllama


@pytest.fixture
def fake() -> FakeOllama:
    server = FakeOllama().start()
    yield server
    server.stop()


def _provider(fake: FakeOllama, key: str = "") -> OllamaProvider:
    return OllamaProvider(ProviderSpec(name="local", kind="ollama", base_url=fake.base_url, model="llama-fake",
                                       max_tokens=200, temperature=0.1), api_key=key, pool_size=4)


def test_answer_usage_and_request_shape(fake):
    answer = _provider(fake).complete(ModelRequest([{"role": "system", "content": "sys"},
                                                    {"role": "user", "content": "hi"}]), (2, 5))
    assert answer.text == "echo: hi" and answer.finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (8, 4)
    body = fake.requests[-1]["json"]
    assert fake.requests[-1]["path"] == "/api/chat"
    assert body["stream"] is False and body["options"] == {"temperature": 0.1, "num_predict": 200}
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    assert "Authorization" not in fake.requests[-1]["headers"]


def test_a_key_goes_out_as_a_bearer_token(fake):
    _provider(fake, key="olk-123").complete(ModelRequest([{"role": "user", "content": "hi"}]), (2, 5))
    assert fake.requests[-1]["headers"]["Authorization"] == "Bearer olk-123"


def test_tool_calls_with_object_arguments_and_tool_results(fake):
    fake.script({"body": {"model": "llama-fake", "done": True, "done_reason": "stop", "message": {
        "role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "disk", "arguments": {"path": "/var"}}}]}}})
    tool = ToolSpec("disk", "disk usage")
    answer = _provider(fake).complete(ModelRequest([{"role": "user", "content": "disk?"}], tools=[tool]), (2, 5))
    assert answer.tool_calls == [ToolCall("call_0", "disk", {"path": "/var"}, '{"path": "/var"}')]
    assert fake.requests[-1]["json"]["tools"][0]["function"]["name"] == "disk"
    messages = [{"role": "user", "content": "disk?"},
                {"role": "assistant", "content": "", "tool_calls": answer.tool_calls},
                {"role": "tool", "tool_call_id": "call_0", "name": "disk", "content": "12% used"}]
    _provider(fake).complete(ModelRequest(messages), (2, 5))
    wire = fake.requests[-1]["json"]["messages"]
    assert wire[1]["tool_calls"] == [{"function": {"name": "disk", "arguments": {"path": "/var"}}}]
    assert wire[2] == {"role": "tool", "content": "12% used", "tool_name": "disk"}


def test_unknown_model_is_a_client_error_whose_words_go_to_the_log_only(fake, caplog):
    """A reason reaches the admin API and the audit log: the server's own text (which could be any
    service's page) stays in the server log."""
    fake.script({"status": 404, "body": {"error": "model 'llama-fake' not found"}})
    with pytest.raises(ProviderError) as err:
        _provider(fake).complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "client" and err.value.reason == "request refused (answered 404)"
    assert "model 'llama-fake' not found" in caplog.text


def test_a_redirect_is_an_error_and_is_not_followed(fake):
    fake.script({"status": 307, "body": {}, "headers": {"Location": fake.url + "/elsewhere"}})
    with pytest.raises(ProviderError) as err:
        _provider(fake, key="sk-local").complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "client" and "307" in err.value.reason and "redirect" in err.value.reason
    assert [r["path"] for r in fake.requests] == ["/api/chat"]


def test_answer_without_a_message_is_malformed(fake):
    fake.script({"body": {"done": True}})
    with pytest.raises(ProviderError) as err:
        _provider(fake).complete(ModelRequest([{"role": "user", "content": "x"}]), (2, 5))
    assert err.value.kind == "malformed"

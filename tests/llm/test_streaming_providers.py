"""Each provider kind streams against its (fake) API over real HTTP: the pieces arrive while the
model writes, and the answer returned is the one complete() would give: text, usage, tool calls.
A stream that is too large, endless, broken or not the API's is a ProviderError, never a hang."""
from __future__ import annotations

import itertools
import json
import time

import pytest

from smartbot.errors import ProviderError
from smartbot.llm.base import ModelRequest, ProviderSpec, ToolCall
from smartbot.llm.providers import KINDS
from smartbot.llm.providers.wire import answer_limit
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_model import FakeModel, sse
from tests.support.fake_ollama import FakeOllama

HELLO = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def api(request):
    server = {"openai": FakeModel, "anthropic": FakeAnthropic, "ollama": FakeOllama}[request.param]().start()
    yield request.param, server
    server.stop()


def _provider(kind: str, server, **spec):
    return KINDS[kind](ProviderSpec(name="p", kind=kind, base_url=server.base_url, model="m-1", **spec),
                       api_key="", pool_size=2)


def _stream(provider, messages=HELLO, timeout=(2, 5), deadline=None):
    pieces: list[tuple[float, str]] = []
    answer = provider.stream(ModelRequest(messages), timeout, lambda p: pieces.append((time.monotonic(), p)),
                             deadline)
    return answer, pieces, time.monotonic()


EXPECTED_USAGE = {"openai": (10, 5), "anthropic": (12, 6), "ollama": (8, 4)}


def test_each_kind_streams_the_text_with_the_apis_own_usage(api):
    kind, server = api
    server.pace = 0.1
    answer, pieces, done = _stream(_provider(kind, server))
    assert "".join(p for _, p in pieces) == answer.text == "echo: hello there"
    assert len(pieces) == 3, pieces                                  # "echo: ", "hello ", "there"
    assert done - pieces[0][0] >= 0.15, "the first piece came only at the end"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == EXPECTED_USAGE[kind]
    assert answer.provider == "p" and answer.finish_reason in ("stop", "end_turn")
    assert server.requests[-1]["json"]["stream"] is True


def test_openai_streams_ask_for_the_usage_and_a_server_refusing_that_is_asked_without_it(fake_model):
    provider = _provider("openai", fake_model)
    assert _stream(provider)[0].usage.total == 15
    assert fake_model.requests[-1]["json"]["stream_options"] == {"include_usage": True}
    fake_model.refuses_stream_options = True
    answer, pieces, _ = _stream(provider)
    assert answer.text == "echo: hello there" and answer.usage.completion_tokens > 0     # estimated
    assert [("stream_options" in r["json"]) for r in fake_model.requests[1:]] == [True, False]
    _stream(provider)                                   # remembered: no refused request any more
    assert "stream_options" not in fake_model.requests[-1]["json"] and fake_model.calls() == 4


def test_a_server_that_ignores_stream_answers_whole_and_the_text_is_handed_on_once(fake_model):
    fake_model.script({"body": FakeModel.answer({"messages": HELLO})})
    answer, pieces, _ = _stream(_provider("openai", fake_model))
    assert [p for _, p in pieces] == ["echo: hello there"] and answer.usage.total == 15


def test_openai_tool_call_deltas_are_assembled(fake_model):
    def chunk(delta, finish=None):
        return sse({"model": "m-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    fake_model.script({"chunks": [
        chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "disk", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"pa"}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "load", "arguments": "no"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "th\": \"/\"}"}}]}),
        chunk({}, "tool_calls"), sse("[DONE]")]})
    answer, pieces, _ = _stream(_provider("openai", fake_model))
    assert pieces == [] and answer.finish_reason == "tool_calls"
    assert answer.tool_calls == [ToolCall("call_1", "disk", {"path": "/"}, "{\"path\": \"/\"}"),
                                 ToolCall("call_2", "load", {}, "no")]


def test_anthropic_tool_use_blocks_are_assembled_from_their_json_pieces():
    server = FakeAnthropic().start()
    try:
        def event(kind, **data):
            return sse({"type": kind, **data}, kind)
        server.script({"chunks": [
            event("message_start", message={"model": "m-1", "usage": {"input_tokens": 30, "output_tokens": 1}}),
            event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": "Checking."}),
            event("content_block_start", index=1, content_block={"type": "tool_use", "id": "tu_1", "name": "disk",
                                                                 "input": {}}),
            event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": "{\"path\":"}),
            event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": " \"/\"}"}),
            event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 20}),
            event("message_stop")]})
        answer, pieces, _ = _stream(_provider("anthropic", server))
    finally:
        server.stop()
    assert [p for _, p in pieces] == ["Checking."] and answer.finish_reason == "tool_use"
    assert answer.tool_calls == [ToolCall("tu_1", "disk", {"path": "/"}, "{\"path\": \"/\"}")]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (30, 20)


def test_ollama_tool_calls_come_whole_in_their_line():
    server = FakeOllama().start()
    try:
        line = {"model": "m-1", "message": {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "disk", "arguments": {"path": "/"}}}]}, "done": False}
        done = {"model": "m-1", "message": {"role": "assistant", "content": ""}, "done": True,
                "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 2}
        server.script({"chunks": [json.dumps(line).encode() + b"\n", json.dumps(done).encode() + b"\n"]})
        answer, _, _ = _stream(_provider("ollama", server))
    finally:
        server.stop()
    assert [(c.name, c.arguments) for c in answer.tool_calls] == [("disk", {"path": "/"})]
    assert answer.usage.total == 5


def _openai_piece(text: str) -> bytes:
    return sse({"model": "m-1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def test_a_ten_megabyte_stream_stops_at_the_answers_size_cap(fake_model):
    piece = _openai_piece("x" * 1000)
    fake_model.script({"chunks": itertools.repeat(piece, 10_000_000 // len(piece))})
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        _stream(_provider("openai", fake_model))
    assert err.value.kind == "malformed" and "larger than" in err.value.reason
    assert str(answer_limit(1024)) in err.value.reason and time.monotonic() - started < 5


def test_a_whole_answer_past_the_size_cap_is_refused_the_same_way(fake_model):
    fake_model.script({"body": {"choices": [{"message": {"content": "x" * (answer_limit(8) + 10)}}]}})
    with pytest.raises(ProviderError) as err:
        _provider("openai", fake_model, max_tokens=8).complete(ModelRequest(HELLO), (2, 5))
    assert err.value.kind == "malformed" and "larger than" in err.value.reason


def test_an_endless_stream_ends_at_the_deadline(fake_model):
    fake_model.script({"chunks": itertools.repeat(_openai_piece("more ")), "pace": 0.02})
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        _stream(_provider("openai", fake_model), deadline=time.monotonic() + 1.0)
    assert err.value.kind == "timeout" and 0.9 < time.monotonic() - started < 3


def test_an_endless_stream_ends_at_the_providers_total_timeout_when_called_alone(fake_model):
    fake_model.script({"chunks": itertools.repeat(_openai_piece("more ")), "pace": 0.02})
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        _stream(_provider("openai", fake_model, total_timeout=1.0))
    assert err.value.kind == "timeout" and time.monotonic() - started < 3


@pytest.mark.parametrize("chunks, kind", [
    ([b"data: {not json\n\n"], "malformed"),
    ([b"data: [1, 2]\n\n"], "malformed"),
    ([b"data: " + b"[" * 100_000 + b"\n\n"], "malformed"),
    ([_openai_piece("ok"), b"data: {\"choices\": [{\"delta\": {\"content\": 42}}]}\n\n"], "malformed"),
    ([b"<html>oops</html>\n", b"nothing an event stream holds\n"], "unavailable"),     # ends with no [DONE]
    ([b"data: {\"error\": {\"message\": \"overloaded\"}}\n\n"], "server"),
    ([b"data: \xff\xfe\n\n"], "malformed"),
])
def test_a_stream_that_is_not_the_apis_is_a_provider_error(fake_model, chunks, kind):
    fake_model.script({"chunks": chunks})
    with pytest.raises(ProviderError) as err:
        _stream(_provider("openai", fake_model))
    assert err.value.kind == kind
    assert "overloaded" not in err.value.reason         # the server's words stay in the log


def test_a_connection_cut_mid_stream_is_a_retryable_failure_after_the_first_pieces(fake_model):
    fake_model.script({"tokens": ["one ", "two "], "cut": True})
    pieces: list[str] = []
    with pytest.raises(ProviderError) as err:
        _provider("openai", fake_model).stream(ModelRequest(HELLO), (2, 5), pieces.append)
    assert pieces == ["one ", "two "] and err.value.kind == "unavailable" and err.value.retryable


def test_anthropic_and_ollama_errors_in_the_stream_are_provider_errors():
    for server, body in ((FakeAnthropic(), sse({"type": "error", "error": {"type": "overloaded_error",
                                                                             "message": "Overloaded"}}, "error")),
                         (FakeOllama(), b"{\"error\": \"model not loaded\"}\n")):
        server.start()
        try:
            server.script({"chunks": [body]})
            with pytest.raises(ProviderError) as err:
                _stream(_provider("ollama" if isinstance(server, FakeOllama) else "anthropic", server))
            assert err.value.kind == "server"
        finally:
            server.stop()


def test_a_streamed_connection_is_used_again_once_the_answer_is_read(fake_model):
    provider = _provider("openai", fake_model)
    for _ in range(3):
        _stream(provider)
    provider.complete(ModelRequest(HELLO), (2, 5))
    assert fake_model.calls() == 4 and fake_model.connections == 1

"""A fake Anthropic Messages API (POST /v1/messages, GET /v1/models) that refuses, like the real
one, what a correct client never sends: a missing version header or key, a `system` role inside
`messages`, turns that do not alternate or do not start with the user, empty text blocks, and a
tool_result that answers no tool_use of the turn before. Its answers use Anthropic's shapes, as
one message or (`"stream": true`) as its named events."""
from __future__ import annotations

from typing import Any

from .fake_model import ScriptedModelServer, sse


class FakeAnthropic(ScriptedModelServer):
    chat_path = "/v1/messages"
    probe_path = "/v1/models"
    base_suffix = ""

    def __init__(self, api_key: str = "") -> None:
        super().__init__()
        self.api_key = api_key

    def error_body(self, message: str, kind: str = "api_error") -> dict[str, Any]:
        return {"type": "error", "error": {"type": kind, "message": message}}

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        if path != self.chat_path:
            return 404, self.error_body(f"no such endpoint {path}", "not_found_error")
        if self.api_key and headers.get("x-api-key") != self.api_key:
            return 401, self.error_body("invalid x-api-key", "authentication_error")
        if not headers.get("anthropic-version"):
            return 400, self.error_body("anthropic-version header is required", "invalid_request_error")
        problem = _problem(request)
        if problem:
            return 400, self.error_body(problem, "invalid_request_error")
        return None

    def answer_text(self, request: dict[str, Any]) -> str:
        last = request["messages"][-1]["content"]
        if isinstance(last, list):
            last = " ".join(b.get("text") or f"[result {b.get('content')}]" for b in last)
        return f"echo: {last}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"id": "msg_test", "type": "message", "role": "assistant", "model": request["model"],
                "content": [{"type": "text", "text": self.answer_text(request)}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 6}}

    def stream_body(self, request: dict[str, Any], pieces: list[str]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        def event(kind: str, **data: Any) -> bytes:
            return sse({"type": kind, **data}, kind)
        head = [event("message_start", message={"id": "msg_test", "type": "message", "role": "assistant",
                                                "model": request["model"], "content": [], "stop_reason": None,
                                                "usage": {"input_tokens": 12, "output_tokens": 1}}),
                event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
                event("ping")]
        return head, [event("content_block_delta", index=0, delta={"type": "text_delta", "text": p}) for p in pieces], \
            [event("content_block_stop", index=0),
             event("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None},
                   usage={"output_tokens": 6}),
             event("message_stop")]

    def models_list(self) -> dict[str, Any]:
        return {"data": [{"type": "model", "id": "claude-fake"}], "has_more": False}


def _problem(request: dict[str, Any]) -> str:
    if not isinstance(request.get("model"), str) or not isinstance(request.get("max_tokens"), int):
        return "model and max_tokens are required"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if "system" in request and not isinstance(request["system"], (str, list)):
        return "system: must be text"
    previous_tool_ids: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: must be user or assistant (the system prompt is a top-level field)"
        if (i == 0 and role != "user") or (i > 0 and role == messages[i - 1]["role"]):
            return f"messages.{i}: roles must alternate, starting with user"
        blocks = message["content"] if isinstance(message["content"], list) else \
            [{"type": "text", "text": message["content"]}]
        tool_ids = set()
        for block in blocks:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
            if block.get("type") == "tool_use":
                tool_ids.add(block.get("id"))
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in previous_tool_ids:
                return f"messages.{i}: tool_result answers no tool_use of the previous turn"
        previous_tool_ids = tool_ids
    return ""

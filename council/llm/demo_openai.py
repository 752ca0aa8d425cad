"""The demo server's OpenAI-compatible side: what vLLM answers on /v1, for tests and `--demo`.

`GET /v1/models`, `POST /v1/chat/completions` (server-sent events when streaming, with the
usage chunk that `stream_options.include_usage` asks for) and vLLM's runtime adapter endpoint
`POST /v1/load_lora_adapter`. Answers are the same canned text as the Ollama side; the faults
`refuse`, `http_500` and `reset_midstream` apply here too.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .demo_text import TOKENS_BEFORE_FAULT, compose_answer, tokenize


class OpenAIRoutes:
    """Mixed into the demo server's request handler, which provides the plumbing used here."""

    demo: Any
    _body: Any
    _json: Any
    _chunk: Any
    _end_stream: Any
    _drop_connection: Any
    _pause: Any
    send_response: Any
    send_header: Any
    end_headers: Any

    def _openai_error(self, status: int, message: str, kind: str) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "code": status}})

    def _openai_models(self) -> None:
        created = int(time.time())
        self._json(200, {"object": "list", "data": [
            {"id": name.removesuffix(":latest"), "object": "model", "created": created,
             "owned_by": "ai-council-demo"} for name in self.demo.models]})

    def _openai_load_lora(self) -> None:
        body = self._body()
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            self._openai_error(400, "lora_name and lora_path are required", "BadRequestError")
            return
        self.demo.add_model(str(name))
        self.demo.created[f"{name}:latest"] = {"lora_path": path}
        self._json(200, {"message": f"Success: LoRA adapter '{name}' added successfully."})

    def _openai_chat(self) -> None:
        body = self._body()
        with self.demo.lock:
            self.demo.requests.append(body)
        model = str(body.get("model") or "")
        if not self.demo.has_model(model):
            self._openai_error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        name = next(n for n in self.demo.models if n.removesuffix(":latest")
                    == model.removesuffix(":latest"))
        fault = self.demo.faults.get(name)
        if fault == "refuse":
            self._drop_connection()
            return
        if fault == "http_500":
            self._openai_error(500, "demo fault", "InternalServerError")
            return
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        tokens = tokenize(compose_answer(messages, name))
        finish = "stop"
        limit = body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        usage = {"prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in messages),
                 "completion_tokens": len(tokens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            self._json(200, {"id": "chatcmpl-demo", "object": "chat.completion",
                             "created": int(time.time()), "model": model, "usage": usage,
                             "choices": [{"index": 0, "finish_reason": finish, "message": {
                                 "role": "assistant", "content": "".join(tokens)}}]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._pause(self.demo.first_token_delay)
        for index, token in enumerate(tokens):
            if index == TOKENS_BEFORE_FAULT and fault == "reset_midstream":
                self._drop_connection()
                return
            if index:
                self._pause(self.demo.token_delay)
            self._event(model, {"role": "assistant", "content": token}, None)
        self._event(model, {}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(model, None, None, usage)
        self._chunk(b"data: [DONE]\n\n")
        self._end_stream()

    def _event(self, model: str, delta: dict[str, Any] | None, finish: str | None,
               usage: dict[str, int] | None = None) -> None:
        choices = [] if delta is None else [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]
        payload = {"id": "chatcmpl-demo", "object": "chat.completion.chunk",
                   "created": int(time.time()), "model": model, "choices": choices,
                   "usage": usage}
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

"""A server that speaks Ollama's HTTP API (and, under /v1, the OpenAI-compatible one) over a real
socket, with canned answers and faults.

Used by the tests, the benchmarks and `council demo`: the app talks to it through the
official `ollama` client exactly as it talks to Ollama. Faults are set per model name (in
process with `set_fault`, or `POST /demo/faults {"model": ..., "fault": ...}`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .demo_models import ModelRoutes
from .demo_openai import OpenAIRoutes
from .demo_text import ECHO_MODEL, TOKENS_BEFORE_FAULT, compose_answer, tokenize
from .served import full_name

# what /api/version answers: before v0.34.1 the demo creates models with adapters, as Ollama
# did; from it on, and as a build from source (0.0.0), it refuses them, as Ollama does
# (`version`, see ollama_versions.py)
VERSION = "0.12.6-demo"
DEFAULT_MODELS = ("qwen2.5:3b", "qwen2.5:7b", ECHO_MODEL)
FAULTS = ("refuse", "error_midstream", "reset_midstream", "hang", "slow_first_token",
          "http_500", "malformed", "ignore_format")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _model_entry(name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    size = "7.6B" if "7b" in name else "3.1B"
    return {"name": name, "model": name, "modified_at": _now(), "size": 1_900_000_000,
            "digest": digest,
            "details": {"parent_model": "", "format": "gguf", "family": "qwen2",
                        "families": ["qwen2"], "parameter_size": size,
                        "quantization_level": "Q4_K_M"}}


class DemoServer:
    """Owns the listening socket, the model list, faults and blobs; one thread per request."""

    def __init__(self, token_delay: float = 0.0, models: tuple[str, ...] = DEFAULT_MODELS,
                 host: str = "127.0.0.1", port: int = 0, first_token_delay: float = 0.0,
                 slow_first_token_delay: float = 2.0, version: str = VERSION) -> None:
        self.version = version
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.slow_first_token_delay = slow_first_token_delay
        self.models: dict[str, dict[str, Any]] = {full_name(m): _model_entry(full_name(m))
                                                  for m in models}
        self.faults: dict[str, str] = {}
        # like Ollama with OLLAMA_NUM_PARALLEL=1: answer one request at a time, queue the rest
        self.one_at_a_time = False
        self.model_busy = threading.Lock()
        self.blobs: dict[str, int] = {}  # digest -> size
        self.small_blobs: dict[str, bytes] = {}  # digest -> content, for config files
        self.created: dict[str, dict[str, Any]] = {}  # model -> its /api/create request
        self.requests: list[dict[str, Any]] = []
        # when a list: (system prompt, question, token index, time.perf_counter()) per token
        # sent, so bench/load.py can time each token from backend to browser
        self.token_log: list[tuple[str, str, int, float]] | None = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.httpd = _QuietServer((host, port), _Handler)
        self.httpd.demo = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "DemoServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-ollama",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    def set_fault(self, model: str, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self.lock:
            self.models.setdefault(full_name(model), _model_entry(full_name(model)))
            if fault is None:
                self.faults.pop(full_name(model), None)
            else:
                self.faults[full_name(model)] = fault

    def add_model(self, name: str) -> None:
        with self.lock:
            self.models.setdefault(full_name(name), _model_entry(full_name(name)))

    def has_model(self, name: str) -> bool:
        return full_name(name) in self.models


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request is normal here (timeouts, stop buttons)."""


class _Handler(ModelRoutes, OpenAIRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ollama-demo"

    @property
    def demo(self) -> DemoServer:
        return self.server.demo  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        return None

    # --- plumbing -------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self._json(400, {"error": "invalid request body"})
            raise _Handled
        return data

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _line(self, payload: dict[str, Any]) -> None:
        self._chunk(json.dumps(payload).encode() + b"\n")

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _client_gone(self) -> bool:
        ready, _, _ = select.select([self.connection], [], [], 0)
        try:
            return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        routes = {
            ("GET", "/api/version"): lambda: self._json(200, {"version": self.demo.version}),
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/chat"): lambda: self._generate(chat=True),
            ("POST", "/api/generate"): lambda: self._generate(chat=False),
            ("POST", "/api/pull"): self._pull,
            ("POST", "/api/create"): self._create,
            ("POST", "/demo/faults"): self._faults,
            ("GET", "/demo/token_log"): lambda: self._json(200, self.demo.token_log or []),
            ("GET", "/v1/models"): self._openai_models,
            ("POST", "/v1/chat/completions"): self._openai_chat,
            ("POST", "/v1/load_lora_adapter"): self._openai_load_lora,
        }
        try:
            if path.startswith("/api/blobs/") and method in ("HEAD", "POST"):
                self._blob(method, path.removeprefix("/api/blobs/"))
            elif (method, path) in routes:
                routes[(method, path)]()
            else:
                self._json(404, {"error": f"{method} {path} not found"})
        except _Handled:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    # --- endpoints ------------------------------------------------------------------------

    def _root(self) -> None:
        body = b"Ollama is running (AI Council demo server)"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _tags(self) -> None:
        self._json(200, {"models": list(self.demo.models.values())})

    def _ps(self) -> None:
        models = [{**entry, "expires_at": _now(), "size_vram": entry["size"]}
                  for entry in self.demo.models.values()]
        self._json(200, {"models": models})

    def _require_model(self, name: str) -> dict[str, Any]:
        entry = self.demo.models.get(full_name(name or ""))
        if entry is None:
            self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
            raise _Handled
        return entry

    def _show(self) -> None:
        entry = self._require_model(self._body().get("model", ""))
        self._json(200, {"modelfile": self.modelfile(entry["name"]), "parameters": "",
                         "template": "{{ .Prompt }}", "details": entry["details"],
                         "model_info": {"general.architecture": "qwen2"},
                         "capabilities": ["completion"], "modified_at": entry["modified_at"]})

    def _generate(self, chat: bool) -> None:
        body = self._body()
        with self.demo.lock:
            self.demo.requests.append(body)
        model = body.get("model", "")
        entry = self._require_model(model)
        fault = self.demo.faults.get(entry["name"])
        if fault == "refuse":
            self._drop_connection()
            return
        if fault == "http_500":
            self._json(500, {"error": "llama runner process has terminated: demo fault"})
            return
        if chat:
            messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        else:
            messages = [{"role": "system", "content": body.get("system") or ""},
                        {"role": "user", "content": body.get("prompt") or ""}]
        options = body.get("options") or {}
        answer = compose_answer(messages, entry["name"])
        if fault == "ignore_format":
            answer = "\n".join(line for line in answer.splitlines()
                                if "FINAL RANKING" not in line)
        tokens = tokenize(answer)
        limit = options.get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, done_reason = tokens[:limit], "length"
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        stream = body.get("stream", True)
        started = time.perf_counter_ns()
        if not stream:
            self._pause(self.demo.first_token_delay + self.demo.token_delay * len(tokens))
            self._json(200, self._final(entry["name"], chat, "".join(tokens), done_reason,
                                        prompt_tokens, len(tokens), started, started))
            return
        key = (next((str(m.get("content", "")) for m in messages if m.get("role") == "system"),
                    ""),
               next((str(m.get("content", "")) for m in reversed(messages)
                     if m.get("role") == "user"), ""))
        queue = self.demo.model_busy if self.demo.one_at_a_time else contextlib.nullcontext()
        with queue:
            self._stream_tokens(entry["name"], chat, tokens, fault, done_reason, prompt_tokens,
                                started, key)

    def _stream_tokens(self, model: str, chat: bool, tokens: list[str], fault: str | None,
                       done_reason: str, prompt_tokens: int, started: int,
                       key: tuple[str, str]) -> None:
        self._start_stream()
        if fault == "hang":
            while not self.demo.stopping.wait(0.05) and not self._client_gone():
                pass
            return
        delay = self.demo.first_token_delay
        if fault == "slow_first_token":
            delay += self.demo.slow_first_token_delay
        self._pause(delay)
        eval_started = time.perf_counter_ns()
        for index, token in enumerate(tokens):
            if index == TOKENS_BEFORE_FAULT and fault == "error_midstream":
                self._line({"error": "an error was encountered while running the model: "
                                     "demo fault"})
                self._end_stream()
                return
            if index == TOKENS_BEFORE_FAULT and fault == "reset_midstream":
                self._drop_connection()
                return
            if index == TOKENS_BEFORE_FAULT and fault == "malformed":
                self._chunk(b'{"model": "' + model.encode() + b'", "message": {\n')
                self._end_stream()
                return
            if index:
                self._pause(self.demo.token_delay)
            self._line(self._part(model, chat, token))
            if self.demo.token_log is not None:
                self.demo.token_log.append((*key, index, time.perf_counter()))
        self._pause(self.demo.token_delay)
        self._line(self._final(model, chat, "", done_reason, prompt_tokens, len(tokens),
                               started, eval_started))
        self._end_stream()

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.demo.stopping.wait(seconds)

    @staticmethod
    def _part(model: str, chat: bool, text: str) -> dict[str, Any]:
        part: dict[str, Any] = {"model": model, "created_at": _now(), "done": False}
        if chat:
            part["message"] = {"role": "assistant", "content": text}
        else:
            part["response"] = text
        return part

    def _final(self, model: str, chat: bool, text: str, done_reason: str, prompt_tokens: int,
               eval_count: int, started: int, eval_started: int) -> dict[str, Any]:
        now = time.perf_counter_ns()
        part = self._part(model, chat, text)
        part.update(done=True, done_reason=done_reason, total_duration=now - started,
                    load_duration=1_000_000, prompt_eval_count=prompt_tokens,
                    prompt_eval_duration=max(eval_started - started, 1),
                    eval_count=eval_count, eval_duration=max(now - eval_started, 1))
        return part

    def _faults(self) -> None:
        body = self._body()
        try:
            self.demo.set_fault(str(body.get("model", "")), body.get("fault"))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, {"faults": self.demo.faults})


class _Handled(Exception):
    """The handler already answered (e.g. with an error); stop processing this request."""


def main(argv: list[str] | None = None) -> int:
    """`python -m council.llm.demo_server [--port] [--token-delay] [--log-tokens]
    [--ollama-version V]`: a
    stand-alone demo server, e.g. in its own process for bench/load.py."""
    import argparse

    parser = argparse.ArgumentParser(description="The Ollama-compatible demo server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-delay", type=float, default=0.03)
    parser.add_argument("--log-tokens", action="store_true",
                        help="record each token's send time (GET /demo/token_log)")
    parser.add_argument("--ollama-version", default=VERSION,
                        help="the version it answers as: 0.34.1 or later refuses adapter models")
    args = parser.parse_args(argv)
    server = DemoServer(token_delay=args.token_delay, port=args.port,
                        version=args.ollama_version)
    if args.log_tokens:
        server.token_log = []
    print(f"demo server on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

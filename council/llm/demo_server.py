"""A server that speaks Ollama's HTTP API (and, under /v1, the OpenAI-compatible one) over a real
socket, with canned answers and faults.

Used by the tests, the benchmarks and `council demo`: the app talks to it through the
official `ollama` client exactly as it talks to Ollama. Faults are set per model name (in
process with `set_fault`, or `POST /demo/faults {"model": ..., "fault": ...}`).

It follows Ollama's source (ollama/ollama v0.33.0-rc2, and v0.24.0 for the older runner):
models have a family and shape (demo_catalog.py), create and delete answer as
server/create.go and server/routes.go do (demo_models.py), and loaded models are scheduled as
server/sched.go schedules them (demo_scheduler.py). A model with adapters on an Ollama-engine
family fails its first chat on releases before v0.30.0, as runner/ollamarunner did in v0.24.0:
its `load` answered `http.Error(w, "failed to initialize model: loras are not yet
implemented", 500)` (runner.go:1338, from allocModel at :1216), llm/server.go's initModel
(:1250) returned that body as the error, and routes.go's handleScheduleError (:2726) sent it
to the chat client as HTTP 500 `{"error": ...}` before any content.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from .demo_catalog import ModelSpec, pulled
from .demo_models import ADAPTER_REFUSALS, ModelRoutes
from .demo_openai import OpenAIRoutes
from .demo_scheduler import Scheduler
from .demo_text import ECHO_MODEL, TOKENS_BEFORE_FAULT, Answer, answer_part
from .ollama_versions import DEFAULT_MAX_LOADED_MODELS_PER_GPU, adapters_fail_to_load
from .served import full_name

# what /api/version answers. Every version creates models with adapters (the newest source
# does); on releases before v0.30.0 those of Ollama-engine families fail their first chat
# (ollama_versions.adapters_fail_to_load). `adapter_refusal` imitates the reported refusal.
VERSION = "0.12.6-demo"
LORAS_NOT_IMPLEMENTED = "failed to initialize model: loras are not yet implemented\n"
DEFAULT_MODELS = ("qwen2.5:3b", "qwen2.5:7b", ECHO_MODEL)
FAULTS = ("refuse", "error_midstream", "reset_midstream", "hang", "slow_first_token",
          "http_500", "malformed", "ignore_format")


class DemoServer:
    """Owns the listening socket, the models, faults, blobs and loaded runners; one thread per
    request.

    `max_loaded_models`, `num_parallel` (None: nothing waits; an int: requests per loaded
    model at once, as OLLAMA_NUM_PARALLEL) and `load_seconds` (how long a (re)load takes) drive
    the scheduler; `adapter_refusal` ("http_500", "stream_error" or None) makes creates with
    adapters fail as the reported 0.34.1 does. All may be changed while it runs.
    """

    def __init__(self, token_delay: float = 0.0, models: tuple[str, ...] = DEFAULT_MODELS,
                 host: str = "127.0.0.1", port: int = 0, first_token_delay: float = 0.0,
                 slow_first_token_delay: float = 2.0, version: str = VERSION,
                 max_loaded_models: int = DEFAULT_MAX_LOADED_MODELS_PER_GPU,
                 num_parallel: int | None = None, load_seconds: float = 0.0,
                 adapter_refusal: str | None = None) -> None:
        self.version = version
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.slow_first_token_delay = slow_first_token_delay
        self.max_loaded_models = max_loaded_models
        self.num_parallel = num_parallel
        self.load_seconds = load_seconds
        self.adapter_refusal = _checked_refusal(adapter_refusal)
        self.models: dict[str, ModelSpec] = {full_name(m): pulled(full_name(m)) for m in models}
        self.faults: dict[str, str] = {}
        self.scheduler = Scheduler(self)
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

    def start(self) -> Self:
        # a short poll interval: stop() (each test's own server) returns in 50 ms, not 500
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="demo-ollama",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def set_fault(self, model: str, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        self.add_model(model)
        with self.lock:
            if fault is None:
                self.faults.pop(full_name(model), None)
            else:
                self.faults[full_name(model)] = fault

    def add_model(self, name: str, family: str | None = None) -> None:
        """Install a model as `ollama pull` would (its family from the name unless given)."""
        with self.lock:
            self.models.setdefault(full_name(name), pulled(full_name(name), family))

    def install(self, spec: ModelSpec) -> None:
        """Install (or replace) a model a create made."""
        with self.lock:
            self.models[spec.name] = spec

    def delete_model(self, name: str) -> bool:
        """Remove a model; False if there was none (a loaded runner stays, as in Ollama)."""
        with self.lock:
            self.created.pop(full_name(name), None)
            return self.models.pop(full_name(name), None) is not None

    def has_model(self, name: str) -> bool:
        return full_name(name) in self.models


def _checked_refusal(mode: str | None) -> str | None:
    if mode is not None and mode not in ADAPTER_REFUSALS:
        raise ValueError(f"unknown adapter_refusal {mode!r}; choose from "
                         f"{', '.join(ADAPTER_REFUSALS)}")
    return mode


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
            ("DELETE", "/api/delete"): self._delete,
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

    def do_DELETE(self) -> None:
        self._route("DELETE")

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
        self._json(200, {"models": [spec.tags_entry() for spec in self.demo.models.values()]})

    def _ps(self) -> None:
        self._json(200, {"models": self.demo.scheduler.ps()})

    def _require_model(self, name: str) -> ModelSpec:
        spec = self.demo.models.get(full_name(name or ""))
        if spec is None:
            self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
            raise _Handled
        return spec

    def _show(self) -> None:
        spec = self._require_model(self._body().get("model", ""))
        self._json(200, {"modelfile": self.modelfile(spec), "parameters": "",
                         "template": "{{ .Prompt }}", "details": spec.details(),
                         "model_info": spec.model_info(),
                         "capabilities": ["completion"], "modified_at": spec.modified_at})

    def _generate(self, chat: bool) -> None:
        body = self._body()
        with self.demo.lock:
            self.demo.requests.append(body)
        spec = self._require_model(body.get("model", ""))
        fault = self.demo.faults.get(spec.name)
        if fault == "refuse":
            self._drop_connection()
            return
        if fault == "http_500":
            self._json(500, {"error": "llama runner process has terminated: demo fault"})
            return
        if spec.adapters and adapters_fail_to_load(self.demo.version, spec.family):
            self._json(500, {"error": LORAS_NOT_IMPLEMENTED})
            return
        answer = Answer.of(body, spec.name, chat, fault)
        with self.demo.scheduler.serve(spec, body.get("options") or {}) as load_ns:
            answer.load_ns = load_ns
            if body.get("stream", True):
                self._stream_tokens(answer)
            else:
                self._pause(self.demo.first_token_delay
                            + self.demo.token_delay * len(answer.tokens))
                self._json(200, self._final(answer, "".join(answer.tokens), time.perf_counter_ns()))

    def _stream_tokens(self, answer: Answer) -> None:
        self._start_stream()
        fault = answer.fault
        if fault == "hang":
            while not self.demo.stopping.wait(0.05) and not self._client_gone():
                pass
            return
        delay = self.demo.first_token_delay
        if fault == "slow_first_token":
            delay += self.demo.slow_first_token_delay
        self._pause(delay)
        eval_started = time.perf_counter_ns()
        for index, token in enumerate(answer.tokens):
            if index == TOKENS_BEFORE_FAULT and fault == "error_midstream":
                self._line({"error": "an error was encountered while running the model: "
                                     "demo fault"})
                self._end_stream()
                return
            if index == TOKENS_BEFORE_FAULT and fault == "reset_midstream":
                self._drop_connection()
                return
            if index == TOKENS_BEFORE_FAULT and fault == "malformed":
                self._chunk(b'{"model": "' + answer.model.encode() + b'", "message": {\n')
                self._end_stream()
                return
            if index:
                self._pause(self.demo.token_delay)
            self._line(answer_part(answer.model, answer.chat, token))
            if self.demo.token_log is not None:
                self.demo.token_log.append((*answer.key, index, time.perf_counter()))
        self._pause(self.demo.token_delay)
        self._line(self._final(answer, "", eval_started))
        self._end_stream()

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.demo.stopping.wait(seconds)

    @staticmethod
    def _final(answer: Answer, text: str, eval_started: int) -> dict[str, Any]:
        """The last part's stats; total and load durations count from the request's arrival,
        as routes.go's checkpointStart."""
        now = time.perf_counter_ns()
        eval_started = min(eval_started, now)
        part = answer_part(answer.model, answer.chat, text)
        part.update(done=True, done_reason=answer.done_reason,
                    total_duration=now - answer.started, load_duration=answer.load_ns,
                    prompt_eval_count=answer.prompt_tokens,
                    prompt_eval_duration=max(eval_started - answer.started - answer.load_ns, 1),
                    eval_count=len(answer.tokens), eval_duration=max(now - eval_started, 1))
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
    [--ollama-version V] [--adapter-refusal MODE] [--num-parallel N] [--max-loaded-models N]
    [--load-seconds S]`: a stand-alone demo server, e.g. in its own process for bench/load.py."""
    import argparse

    parser = argparse.ArgumentParser(description="The Ollama-compatible demo server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-delay", type=float, default=0.03)
    parser.add_argument("--log-tokens", action="store_true",
                        help="record each token's send time (GET /demo/token_log)")
    parser.add_argument("--ollama-version", default=VERSION,
                        help="the version it answers as: before 0.30.0, adapter models of "
                             "Ollama-engine families (qwen3, gemma3, ...) fail their first chat")
    parser.add_argument("--adapter-refusal", choices=ADAPTER_REFUSALS, default=None,
                        help="refuse creates with adapters, as 0.34.1 is reported to: before "
                             "any content (http_500) or after the progress lines (stream_error)")
    parser.add_argument("--num-parallel", type=int, default=None,
                        help="requests each loaded model answers at once (OLLAMA_NUM_PARALLEL); "
                             "the rest wait. Default: no waiting")
    parser.add_argument("--max-loaded-models", type=int,
                        default=DEFAULT_MAX_LOADED_MODELS_PER_GPU,
                        help="models loaded at once (OLLAMA_MAX_LOADED_MODELS)")
    parser.add_argument("--load-seconds", type=float, default=0.0,
                        help="how long loading (or reloading) a model takes")
    args = parser.parse_args(argv)
    server = DemoServer(token_delay=args.token_delay, port=args.port,
                        version=args.ollama_version, adapter_refusal=args.adapter_refusal,
                        num_parallel=args.num_parallel,
                        max_loaded_models=args.max_loaded_models,
                        load_seconds=args.load_seconds)
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

"""`council run`: serve the app (Flask and Socket.IO) on this machine.

It binds COUNCIL_HOST:COUNCIL_PORT (127.0.0.1:5000) and refuses any other address without
`--allow-remote`, since the app has no login. `--demo` (or `council demo`) starts the built-in
demo server and answers from it instead of a real engine. It serves with gunicorn's threaded
worker (council/server.py); `--dev` with Werkzeug's development server instead.
"""

from __future__ import annotations

import argparse
import sys
import threading

from flask import Flask

from .. import close_app, create_app, server
from ..config import Settings, SettingsError
from ..extensions import get_backends, get_router, get_settings, socketio
from ..llm.base import LLMError
from ..llm.demo_server import DemoServer
from ..llm.embedded import EmbeddedBackend
from ..redact import redact_credentials

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_parser(demo: bool = False) -> argparse.ArgumentParser:
    """`council run`'s flags; `council demo` has the same ones but `--demo`, which it implies."""
    parser = argparse.ArgumentParser(prog=f"council {'demo' if demo else 'run'}",
                                     description="AI Council: a local council of models.")
    parser.add_argument("--host", help="address to bind (default COUNCIL_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default COUNCIL_PORT or 5000)")
    if demo:
        parser.set_defaults(demo=True)
    else:
        parser.add_argument("--demo", action="store_true",
                            help="start the built-in demo server (speaks Ollama's API, and the "
                                 "OpenAI-compatible one under /v1, with canned answers and "
                                 "injectable faults; not a model) and use it instead of a real "
                                 "engine")
    parser.add_argument("--demo-token-delay", type=float, default=0.03,
                        help="seconds between demo tokens (default 0.03)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding an address other than localhost")
    parser.add_argument("--dev", action="store_true",
                        help="serve with Werkzeug's development server in one process (for "
                             "working on the app; the default is gunicorn's threaded worker)")
    return parser


def describe_backend(settings: Settings) -> str:
    """One line at start: which engine answers (which servers, for each role), and for the
    embedded one how to do better."""
    if settings.backend == "embedded":
        return (f"backend: embedded llama.cpp engine, worker model {settings.worker_model}, "
                f"synthesizer {settings.synth_model} (no Ollama answered at "
                f"{redact_credentials(settings.ollama_host)}; the Status page says how to get better answers)")
    openai = settings.backend == "openai"
    single = (settings.openai_base_url if openai else settings.ollama_host,)
    workers, synth = settings.worker_hosts or single, settings.synth_hosts or single
    name = "OpenAI-compatible server" if openai else "Ollama"
    if workers == synth:
        return f"backend: {name} at {_listed(workers)}"
    return f"backend: {name}, workers at {_listed(workers)}, synthesizer at {_listed(synth)}"


def _listed(urls: tuple[str, ...]) -> str:
    return ", ".join(redact_credentials(url) for url in urls)


def main(argv: list[str] | None = None) -> int:
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Check the environment and the flags, then serve the app until interrupted."""
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = Settings.from_env(**overrides)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.host not in LOCAL_HOSTS and not args.allow_remote:
        print(f"error: refusing to bind {settings.host}: anyone who can reach it could read your "
              f"conversations. Pass --allow-remote if you really mean it.", file=sys.stderr)
        return 2
    if settings.host not in LOCAL_HOSTS:
        print(f"warning: binding {settings.host}; AI Council has no login.", file=sys.stderr)
    start = AppStart(settings, args.demo_token_delay if args.demo else None)
    if args.dev:
        return start.serve_with_werkzeug()
    return server.serve(start.build, settings.host, settings.port, settings.server_threads,
                        start.close)


class AppStart:
    """Builds the app (in the server's worker process) and closes it; with `demo_token_delay`
    it first starts the demo server, which lives and dies with the app."""

    def __init__(self, settings: Settings, demo_token_delay: float | None) -> None:
        self.settings, self.demo_token_delay = settings, demo_token_delay
        self.demo: DemoServer | None = None

    def build(self) -> Flask:
        settings = self.settings
        if self.demo_token_delay is not None:
            self.demo = DemoServer(token_delay=self.demo_token_delay).start()
            settings = settings.with_changes(
                ollama_host=self.demo.url, openai_base_url=f"{self.demo.url}/v1", demo=True,
                worker_hosts=(), synth_hosts=(),
                backend="openai" if settings.backend == "openai" else "ollama")
            print(f"demo backend: {self.demo.url} (canned answers, not a real model)", flush=True)
        try:
            app = create_app(settings)
        except (SettingsError, LLMError) as exc:
            if self.demo is not None:
                self.demo.stop()
            raise server.StartError(str(exc)) from None
        # Load the router's sentence model (and the engine's model) now, so the first question
        # does not wait for them.
        threading.Thread(target=get_router(app).embed, args=("warm up",), daemon=True).start()
        print(describe_backend(get_settings(app)), flush=True)
        backend = get_backends(app).workers
        if isinstance(backend, EmbeddedBackend):
            threading.Thread(target=backend.warm_up, daemon=True).start()
        print(f"AI Council on http://{settings.host}:{settings.port}", flush=True)
        return app

    def close(self, app: Flask) -> None:
        close_app(app)
        if self.demo is not None:
            self.demo.stop()

    def serve_with_werkzeug(self) -> int:
        """`--dev`: Werkzeug's development server, in this process."""
        try:
            app = self.build()
        except server.StartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            socketio.run(app, host=self.settings.host, port=self.settings.port,
                         allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)
        finally:
            self.close(app)
        return 0

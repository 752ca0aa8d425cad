"""Shared fixtures: one demo Ollama server per session, a fresh app and database per test."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio as socketio_client
from flask import Flask
from werkzeug.serving import make_server

from council import close_app, create_app
from council.config import Settings
from council.llm.demo_server import DemoServer
from council.router.features import SentenceEmbedder
from council.router.int8_embedder import Int8Embedder
from tests.postgres import PostgresServer


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    with DemoServer(token_delay=0.0) as server:
        yield server


@pytest.fixture(autouse=True)
def reset_demo(demo_server: DemoServer) -> Iterator[None]:
    yield
    demo_server.token_delay = 0.0
    demo_server.one_at_a_time = False
    demo_server.faults.clear()
    demo_server.requests.clear()
    demo_server.created.clear()


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One derived-model folder for the session (the int8 MiniLM is built once, ~10 s), also
    seen by CLIs and job subprocesses through COUNCIL_MODEL_CACHE."""
    path = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COUNCIL_MODEL_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def int8_embedder(model_cache: Path) -> Int8Embedder:
    """Discovery's int8 ONNX MiniLM, built into the session's model cache once."""
    model = Int8Embedder(model_cache)
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 with random weights and a local tokenizer (tests/tiny_qwen.py)."""
    from tests.tiny_qwen import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    """The real all-MiniLM-L6-v2 from its package, loaded once for the whole session."""
    model = SentenceEmbedder()
    model.encode(["warm up"])
    return model


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests in modules marked `both_databases` run once on SQLite and once on PostgreSQL."""
    if (metafunc.definition.get_closest_marker("both_databases")
            and "settings" in metafunc.fixturenames):
        metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Hand back what it is given and close it after the test (backends hold socket pools)."""
    opened: list[Any] = []

    def keep(thing: Any) -> Any:
        opened.append(thing)
        return thing

    yield keep
    for thing in opened:
        thing.close()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL cluster for the session (tests/postgres.py)."""
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, demo_server: DemoServer, model_cache: Path, database: str,
             request: pytest.FixtureRequest) -> Settings:
    """All four shipped personas speak (top-k 4) unless a test narrows it."""
    url = ""
    if database == "postgresql":
        url = request.getfixturevalue("postgres_server").new_database()
    return Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, database_url=url,
                    ollama_host=demo_server.url, demo=True, backend="ollama",
                    worker_timeout=10.0, synth_timeout=10.0, router_top_k=4,
                    router_min_weight=0.0)


@pytest.fixture
def make_app(embedder: SentenceEmbedder) -> Iterator[Callable[[Settings], Flask]]:
    """Build apps that are closed (rounds stopped, connections released) after the test."""
    apps: list[Flask] = []

    def build(settings: Settings) -> Flask:
        apps.append(create_app(settings, embedder=embedder))
        return apps[-1]

    yield build
    for built in apps:
        close_app(built)


@pytest.fixture
def app(make_app: Callable[[Settings], Flask], settings: Settings) -> Flask:
    return make_app(settings)


class LiveServer:
    """The app on a real loopback socket (werkzeug, threaded), as `run.py` serves it."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CouncilClient:
    """A python-socketio client over a real websocket; every event lands in a thread-safe queue."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.client = socketio_client.Client(reconnection=False)
        self.client.on("*", lambda event, data: self.events.put((event, data)))
        self.client.connect(url, transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data: Any) -> dict[str, Any]:
        return self.client.call(event, data, timeout=30)

    def collect_until(self, done: str, round_id: int | None,
                      timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
        """Events until `done` arrives for this round; fails after `timeout` seconds."""
        collected: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                event, data = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no {done} within {timeout}s; got "
                                     f"{[e for e, _ in collected]}") from None
            collected.append((event, data))
            if event == done and data.get("round_id") == round_id:
                return collected

    def ask(self, text: str, conversation_id: int | None = None,
            timeout: float = 30.0) -> "RoundResult":
        ack = self.call("ask", {"conversation_id": conversation_id, "text": text})
        assert ack["ok"], ack
        return RoundResult(ack, self.collect_until("round_done", ack["round_id"], timeout))

    def close(self) -> None:
        # websocket-client waits up to 3 s for the server's close frame; don't.
        self.client.eio.ws.close(timeout=0.05)
        self.client.disconnect()


@pytest.fixture
def connect(app: Flask) -> Iterator[Callable[[Flask], CouncilClient]]:
    """Connect a Socket.IO client to an app served on a real socket (default: `app`)."""
    opened: list[tuple[LiveServer, CouncilClient]] = []

    def open_client(target: Flask = app) -> CouncilClient:
        server = LiveServer(target)
        client = CouncilClient(server.url)
        opened.append((server, client))
        return client

    yield open_client
    for server, client in opened:
        client.close()
        server.close()


@pytest.fixture
def sio(connect: Callable[[Flask], CouncilClient]) -> CouncilClient:
    return connect()


class RoundResult:
    """Every event of one round, in order, with a few lookups tests need."""

    def __init__(self, ack: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        self.ack, self.events = ack, events
        self.round_id = ack.get("round_id")

    def named(self, name: str) -> list[dict[str, Any]]:
        return [data for event, data in self.events if event == name]

    def one(self, name: str) -> dict[str, Any]:
        found = self.named(name)
        assert len(found) == 1, f"expected one {name}, got {len(found)}"
        return found[0]

    def done_by_answer(self) -> dict[int, dict[str, Any]]:
        return {d["answer_id"]: d for d in self.named("worker_done")}

"""Shared fixtures: one demo Ollama server per session, a fresh app and database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page

from council import close_app, create_app
from council.config import Settings
from council.embeddings.int8 import Int8Embedder
from council.embeddings.sentence import SentenceEmbedder
from council.llm.demo_server import VERSION, DemoServer
from tests.browser import chromium_page, running_app
from tests.postgres import PostgresServer
from tests.sockets import CouncilClient, LiveServer


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    with DemoServer(token_delay=0.0) as server:
        yield server


@pytest.fixture(autouse=True)
def reset_demo(demo_server: DemoServer) -> Iterator[None]:
    yield
    demo_server.token_delay = 0.0
    demo_server.num_parallel = None
    demo_server.adapter_refusal = None
    demo_server.faults.clear()
    demo_server.requests.clear()
    demo_server.created.clear()
    demo_server.version = VERSION


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


@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra environment for `app_url`'s run.py; a test sets its own (a fixture of the same
    name, or @pytest.mark.parametrize)."""
    return {}


@pytest.fixture
def app_args() -> list[str]:
    """`app_url`'s run.py arguments besides --port: the demo server unless a test says
    otherwise."""
    return ["--demo", "--demo-token-delay", "0.01"]


@pytest.fixture
def app_url(tmp_path: Path, app_env: dict[str, str], app_args: list[str]) -> Iterator[str]:
    """`run.py` as a subprocess on a free port with a fresh data dir; yields its URL."""
    with running_app(tmp_path / "data", tmp_path / "run.log", app_args, app_env) as url:
        yield url


@pytest.fixture
def council_page(app_url: str) -> Iterator[tuple[Page, list[str]]]:
    """Headless Chromium on `app_url`; the list collects console errors and uncaught exceptions."""
    with chromium_page(app_url) as opened:
        yield opened

"""Several model servers per role (COUNCIL_WORKER_HOSTS / COUNCIL_SYNTH_HOSTS, council/llm/pool.py):
a round's workers spread over the servers by load, each server held to its own request slots;
a server that cannot be reached takes no more requests until it answers again, and the Status
page says which one it is and how to fix it.

Two real engines (llama-cpp-python's own OpenAI-compatible server with the bundled SmolLM2,
one request at a time each) prove the spreading, a server killed mid-round and its return;
Ollama-kind pools run against demo servers, for the faults a real server cannot be made to
show on demand (a dropped connection before the first token, a stream broken after it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from council.commands.run import describe_backend
from council.config import Settings, SettingsError
from council.extensions import get_backends, get_settings
from council.llm import connect_backends
from council.llm.demo_server import DemoServer
from council.llm.pool import Server
from tests.llama_cpp_server import LlamaServer
from tests.sockets import RoundResult

QUESTION = "How do I test code that calls a flaky network service?"
WORKER_MODEL, SYNTH_MODEL = "qwen2.5:3b", "qwen2.5:7b"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.05)


def server_at(app: Flask, host: str) -> Server:
    return next(server for server, _ in get_backends(app).servers() if server.host == host)


def asked(server: DemoServer) -> list[str]:
    """The model of every chat request the demo server received, in order."""
    return [request["model"] for request in server.requests]


def entry(status: dict, host: str) -> dict:
    return next(server for server in status["servers"] if server["host"] == host)


# --- Ollama-kind pools on demo servers ---------------------------------------------------------

@pytest.fixture
def demo_pair() -> Iterator[list[DemoServer]]:
    """Two worker servers (the session's demo server stays the synthesizer's OLLAMA_HOST);
    a test that restarts one appends the new one, so every one is stopped."""
    servers = [DemoServer(token_delay=0.02).start(), DemoServer(token_delay=0.02).start()]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def pool_settings(settings: Settings, demo_pair: list[DemoServer]) -> Settings:
    return settings.with_changes(worker_hosts=(demo_pair[0].url, demo_pair[1].url),
                                 server_retry=0.2, num_predict=40)


def test_a_rounds_workers_spread_over_the_servers_and_the_synthesis_goes_to_its_own(
        make_app, pool_settings: Settings, connect, demo_pair, demo_server: DemoServer) -> None:
    a, b = demo_pair
    app = make_app(pool_settings)
    result = connect(app).ask(QUESTION)
    assert result.one("round_done")["status"] == "done"
    assert all(d["status"] == "done" for d in result.done_by_answer().values())
    assert asked(a) == asked(b) == [WORKER_MODEL] * 2, "two workers each, by load"
    assert asked(demo_server) == [SYNTH_MODEL], "the synthesizer's own server (OLLAMA_HOST)"
    assert describe_backend(get_settings(app)) == (
        f"backend: Ollama, workers at {a.url}, {b.url}, synthesizer at {demo_server.url}")


def test_each_server_runs_only_its_own_slots(make_app, pool_settings: Settings, connect,
                                             demo_pair) -> None:
    """Why per-server slots: with one slot each, a server that hangs holds only its own; the
    other server answers the rest, one after another, and the hung one gets no second."""
    a, b = demo_pair
    a.set_fault(WORKER_MODEL, "hang")
    app = make_app(pool_settings.with_changes(backend_parallel=1, worker_timeout=2.0))
    result = connect(app).ask(QUESTION, timeout=60)
    statuses = sorted(d["status"] for d in result.done_by_answer().values())
    assert statuses == ["done", "done", "done", "timeout"]
    assert len(asked(a)) == 1 and len(asked(b)) == 3
    assert result.one("round_done")["status"] == "done"


def test_a_server_that_went_away_is_skipped_named_on_the_status_page_and_taken_back(
        make_app, pool_settings: Settings, connect, demo_pair) -> None:
    a, b = demo_pair
    app = make_app(pool_settings)
    client = connect(app)
    port = b.httpd.server_address[1]
    b.stop()

    result = client.ask(QUESTION)
    assert all(d["status"] == "done" for d in result.done_by_answer().values())
    assert asked(a) == [WORKER_MODEL] * 4, "every worker moved to the server that answers"
    status = app.test_client().get("/api/status").get_json()
    assert status["backend"]["reachable"] and status["ready"]
    assert entry(status, a.url)["up"]
    gone = entry(status, b.url)
    assert not gone["up"] and "Cannot reach Ollama" in gone["error"]
    assert gone["fix"] == f"ollama serve   # on {b.url}, or take it out of COUNCIL_WORKER_HOSTS"
    assert gone["fix"] in status["fixes"]
    page = app.test_client().get("/status").get_data(as_text=True)
    assert "1 of 3 servers not answering" in page and f"<code>{b.url}</code>" in page

    back = DemoServer(token_delay=0.02, port=port).start()
    demo_pair.append(back)
    wait_for(lambda: server_at(app, b.url).up, "the server is asked again and rejoins")
    result = client.ask(QUESTION)
    assert all(d["status"] == "done" for d in result.done_by_answer().values())
    assert asked(back) == [WORKER_MODEL] * 2


def test_a_connection_dropped_before_the_first_token_moves_the_worker(
        make_app, pool_settings: Settings, connect, demo_pair) -> None:
    a, b = demo_pair
    b.set_fault(WORKER_MODEL, "refuse")  # reads the request, then hangs up without answering
    app = make_app(pool_settings.with_changes(server_retry=60.0))
    result = connect(app).ask(QUESTION)
    assert all(d["status"] == "done" for d in result.done_by_answer().values())
    assert asked(b), "the server received a request and dropped it"
    assert asked(a) == [WORKER_MODEL] * 4
    dropping = server_at(app, b.url)
    assert not dropping.up and "broke" in dropping.error, "until it is asked again"


def test_a_stream_broken_after_its_first_tokens_fails_only_that_worker(
        make_app, pool_settings: Settings, connect, demo_pair) -> None:
    a, b = demo_pair
    b.set_fault(WORKER_MODEL, "reset_midstream")
    result = connect(make_app(pool_settings)).ask(QUESTION)
    done = result.done_by_answer().values()
    assert sorted(d["status"] for d in done) == ["done", "done", "failed", "failed"]
    assert all("broke" in d["error"] and d["text"] for d in done if d["status"] == "failed")
    assert asked(a) == asked(b) == [WORKER_MODEL] * 2, "nothing was sent twice"
    assert result.one("round_done")["status"] == "done"


def test_a_server_that_answers_with_an_error_stays_in_the_pool(
        make_app, pool_settings: Settings, connect, demo_pair) -> None:
    a, b = demo_pair
    b.set_fault(WORKER_MODEL, "http_500")
    app = make_app(pool_settings)
    result = connect(app).ask(QUESTION)
    failed = [d for d in result.done_by_answer().values() if d["status"] == "failed"]
    assert len(failed) == 2 and all("HTTP 500" in d["error"] for d in failed)
    assert server_at(app, b.url).up, "it answered: the model failed, not the server"


def test_when_every_server_is_down_each_worker_names_them_all(make_app, pool_settings: Settings,
                                                              connect, demo_pair) -> None:
    a, b = demo_pair
    app = make_app(pool_settings)
    for server in demo_pair:
        server.stop()
    result = connect(app).ask(QUESTION)
    errors = [d["error"] for d in result.done_by_answer().values()]
    assert len(errors) == 4 and all(
        e.startswith("No server answered: ") and a.url in e and b.url in e for e in errors)
    assert result.one("round_done")["status"] == "failed"
    status = app.test_client().get("/api/status").get_json()
    assert not status["backend"]["reachable"] and not status["ready"]
    assert [fix.split("# on ")[1].split(",")[0] for fix in status["fixes"]] == [a.url, b.url]


def test_a_server_both_roles_list_is_one_server(make_app, settings: Settings, connect,
                                                demo_pair) -> None:
    a, b = demo_pair
    app = make_app(settings.with_changes(worker_hosts=(a.url, b.url), synth_hosts=(b.url,)))
    status = app.test_client().get("/api/status").get_json()
    assert [(s["host"], s["roles"]) for s in status["servers"]] == [
        (a.url, ["workers"]), (b.url, ["workers", "synthesizer"])]
    assert all(s["up"] and s["in_flight"] == 0 for s in status["servers"])
    backends = get_backends(app)
    assert backends.synthesizer.servers == [server_at(app, b.url)], "one object, one set of slots"
    result = connect(app).ask(QUESTION)
    assert result.one("round_done")["status"] == "done"
    assert asked(b).count(SYNTH_MODEL) == 1 and SYNTH_MODEL not in asked(a)


def test_the_host_lists_are_checked_passed_to_jobs_and_need_a_server_backend(
        settings: Settings) -> None:
    parsed = Settings.from_env({"COUNCIL_WORKER_HOSTS": " http://gpu1:11434/, http://gpu2:11434",
                                "COUNCIL_SYNTH_HOSTS": "https://big:8443"})
    assert parsed.worker_hosts == ("http://gpu1:11434", "http://gpu2:11434")
    environment = parsed.job_environment()
    assert Settings.from_env(environment).worker_hosts == parsed.worker_hosts
    assert environment["COUNCIL_SYNTH_HOSTS"] == "https://big:8443"
    for raw, reason in (("gpu1:11434", "not an http:// or https:// URL"),
                        ("http://gpu1:port", "port is not a number"),
                        ("http://a:1,http://a:1", "names a server twice"),
                        ("http://admin:hunter2@gpu1:x", "port is not a number")):
        with pytest.raises(SettingsError, match=reason) as raised:
            Settings.from_env({"COUNCIL_WORKER_HOSTS": raw})
        assert "hunter2" not in str(raised.value)
    with pytest.raises(SettingsError, match="COUNCIL_BACKEND=embedded runs the models in the app"):
        connect_backends(settings.with_changes(backend="embedded", synth_hosts=("http://a:1",)))
    backends, resolved = connect_backends(settings.with_changes(
        backend="auto", ollama_host="http://127.0.0.1:9", worker_hosts=("http://127.0.0.1:9",)))
    backends.close()
    assert resolved.backend == "ollama", "servers listed: auto does not fall back to the engine"


# --- two real engines --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llama_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LlamaServer]]:
    """Two llama-cpp-python servers, one CPU thread each (the machine has two cores)."""
    folder = tmp_path_factory.mktemp("llama-pair")
    servers = [LlamaServer(folder / f"server-{n}.log", threads=1).start() for n in (1, 2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def llama_settings(settings: Settings, llama_pair: list[LlamaServer], tmp_path: Path) -> Settings:
    """Workers on both servers, the synthesizer on the first (OPENAI_BASE_URL)."""
    a, b = llama_pair
    return settings.with_changes(backend="openai", openai_base_url=a.base_url, demo=False,
                                 worker_hosts=(a.base_url, b.base_url), server_retry=0.5,
                                 num_predict=12, worker_timeout=120.0, synth_timeout=120.0)


def test_a_round_is_spread_over_two_real_servers(make_app, llama_settings: Settings, connect,
                                                 llama_pair: list[LlamaServer]) -> None:
    a, b = llama_pair
    before = [a.chat_requests(), b.chat_requests()]
    app = make_app(llama_settings)
    result = connect(app).ask(QUESTION, timeout=240)
    assert result.one("round_done")["status"] == "done"
    assert all(d["status"] == "done" and d["text"].strip()
               for d in result.done_by_answer().values())
    served = [a.chat_requests() - before[0], b.chat_requests() - before[1]]
    assert sum(served) == 5 and min(served) >= 1, f"4 workers and the synthesis: {served}"
    status = app.test_client().get("/api/status").get_json()
    assert status["ready"]
    assert [(s["up"], s["parallel"]) for s in status["servers"]] == [(True, 1), (True, 1)]


def test_a_real_server_killed_mid_round_is_left_out_then_rejoins(
        make_app, llama_settings: Settings, connect, llama_pair: list[LlamaServer]) -> None:
    a, b = llama_pair
    app = make_app(llama_settings.with_changes(router_top_k=2))  # two workers: one each
    client = connect(app)
    started = b.chat_requests()
    ack = client.call("ask", {"conversation_id": None, "text": QUESTION})
    wait_for(lambda: b.chat_requests() > started, "the second server is answering a worker")
    b.kill()
    first = RoundResult(ack, client.collect_until("round_done", ack["round_id"], timeout=240))
    assert first.one("round_done")["status"] == "done", "the round goes on without it"
    failed = [d for d in first.done_by_answer().values() if d["status"] != "done"]
    assert len(failed) <= 1 and all("broke" in d["error"] for d in failed), \
        "at most the worker it was streaming fails; one it had not begun moves"

    before = a.chat_requests()
    result = client.ask(QUESTION, timeout=240)
    assert all(d["status"] == "done" and d["text"].strip()
               for d in result.done_by_answer().values())
    assert result.one("round_done")["status"] == "done"
    assert a.chat_requests() - before == 3, "both workers and the synthesis on the live server"
    status = app.test_client().get("/api/status").get_json()
    gone = entry(status, b.base_url)
    assert not gone["up"] and "Cannot reach the OpenAI-compatible server" in gone["error"]
    assert b.base_url in gone["fix"] and entry(status, a.base_url)["up"]

    b.start()
    wait_for(lambda: server_at(app, b.base_url).up, "the restarted server rejoins", timeout=60)
    before = b.chat_requests()
    result = client.ask(QUESTION, timeout=240)
    assert result.one("round_done")["status"] == "done"
    assert b.chat_requests() > before, "the restarted server answers workers again"

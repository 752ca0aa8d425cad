"""The scale-out topology, for real on 127.0.0.1: Redis, PostgreSQL, two app processes
(`run.py` under gunicorn, sharing one data dir) and two model servers (llama-cpp-python's own
OpenAI-compatible server with the bundled SmolLM2; it serves one request at a time and cuts
a running one off when the next arrives, so the checks never run rounds on both app processes
at once).

It shows what README *Scale-out* promises: a round asked through one process streams to a tab
on the other; a job runs exactly once however many processes could claim it; killing one app
process mid-round leaves the other serving and the round marked interrupted, as a restart marks
it on one process; killing one model server mid-round sends the next round's workers to the
other. The checks share one topology and run in file order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from council.llm.embedded import bundled_model_path
from tests.browser import PROJECT_ROOT, app_environment, chromium_page, wait_until_serving
from tests.jobs import job_processes
from tests.postgres import PostgresServer
from tests.services import NginxProxy, RedisServer, free_port
from tests.sockets import CouncilClient

START_TIMEOUT_S = 120.0
ROUND_TIMEOUT_S = 180.0
# the first check also starts the topology (six servers); the job check runs two jobs
pytestmark = pytest.mark.timeout(420)


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def kill(self) -> None:
        """SIGKILL to its process group: the gunicorn master and worker, a crash."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start(name: str, command: list[str], log: Path, url: str, ready: str,
          env: dict[str, str] | None = None) -> Process:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    started = Process(name, process, log, url)
    try:
        wait_until_serving(url + ready, process, log, timeout=START_TIMEOUT_S)
    except BaseException:
        started.kill()
        raise
    return started


def model_server(folder: Path, number: int) -> Process:
    port = free_port()
    return start(f"model server {number}", [
        sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1"],
        folder / f"model-{number}.log",
        f"http://127.0.0.1:{port}/v1", "/models")


def app_process(folder: Path, number: int, env: dict[str, str]) -> Process:
    port = free_port()
    return start(f"app {number}", [sys.executable, "run.py", "--port", str(port)],
                 folder / f"app-{number}.log", f"http://127.0.0.1:{port}", "/",
                 app_environment(folder / "data", **env))


@dataclass
class Topology:
    redis: RedisServer
    postgres: PostgresServer
    models: list[Process]
    apps: list[Process]
    folder: Path

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log.read_text(errors='replace')[-3000:]}"
                         for p in [*self.models, *self.apps])


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    folder = tmp_path_factory.mktemp("scale-out")
    redis, postgres = RedisServer(), PostgresServer()
    models: list[Process] = []
    apps: list[Process] = []
    try:
        models = [model_server(folder, 1), model_server(folder, 2)]
        env = {"DATABASE_URL": postgres.new_database(), "COUNCIL_REDIS_URL": redis.url,
               "COUNCIL_BACKEND": "openai", "COUNCIL_BACKEND_PARALLEL": "1",
               "COUNCIL_WORKER_HOSTS": ",".join(m.url for m in models),
               "COUNCIL_SYNTH_HOSTS": ",".join(m.url for m in models),
               "OPENAI_BASE_URL": models[0].url, "COUNCIL_NUM_PREDICT": "12",
               "COUNCIL_ROUTER_TOP_K": "2", "COUNCIL_WORKER_TIMEOUT": "120"}
        apps = [app_process(folder, 1, env), app_process(folder, 2, env)]
        yield Topology(redis, postgres, models, apps, folder)
    finally:
        for process in [*apps, *models]:
            process.kill()
        postgres.stop()
        redis.stop()


def conversation(app: Process, conversation_id: int) -> dict:
    answer = requests.get(f"{app.url}/api/conversations/{conversation_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_round_asked_through_one_process_streams_to_a_tab_on_the_other(
        topology: Topology) -> None:
    first, second = topology.apps
    shared = requests.get(f"{second.url}/api/status", timeout=10).json()["app_processes"]
    assert shared["message_queue"] == topology.redis.url
    assert len(shared["processes"]) == 2, shared
    asker = CouncilClient(first.url)
    try:
        opening = asker.ask("Say hello in three words.", timeout=ROUND_TIMEOUT_S)
        conversation_id = opening.ack["conversation_id"]
        with chromium_page(second.url) as (page, errors):
            page.goto(f"/c/{conversation_id}")
            drawn = page.locator("article.round")
            expect(drawn).to_have_count(1, timeout=30_000)
            watcher = CouncilClient(second.url)
            try:
                assert watcher.call("open_conversation",
                                    {"conversation_id": conversation_id})["ok"]
                result = asker.ask("Name one colour.", conversation_id, ROUND_TIMEOUT_S)
                seen = watcher.collect_until("round_done", result.round_id, ROUND_TIMEOUT_S)
            finally:
                watcher.close()
            expect(drawn).to_have_count(2, timeout=30_000)
            expect(drawn.last).to_have_attribute("data-status", "done", timeout=30_000)
            shown = drawn.last.inner_text()
            assert not errors, errors
    finally:
        asker.close()
    assert result.one("round_done")["status"] == "done", topology.logs()
    tokens = [data for event, data in seen if event == "worker_token"]
    assert tokens, "the tab on the other process saw no tokens"
    assert [e for e, _ in seen if e == "synth_done"], "nor the synthesis"
    words = re.findall(r"[A-Za-z]{3,}", result.one("synth_done")["text"])  # Markdown aside
    assert words and all(word in shown for word in words), "the other tab drew the synthesis"


def test_a_job_runs_exactly_once_whichever_process_claims_it(topology: Topology) -> None:
    first, second = topology.apps
    job_ids = []
    for _ in range(2):  # the second waits its turn: one job at a time per data dir
        answer = requests.post(f"{first.url}/api/training/architect/data",
                               json={"examples": 2}, timeout=10)
        assert answer.status_code == 202, answer.text
        job_ids.append(answer.json()["job_id"])
    started: dict[int, int] = {}  # job process pid -> app process that ran it
    deadline = time.monotonic() + 300
    while True:
        running = {pid: number for number, app in enumerate(topology.apps)
                   for pid in job_processes(app.process.pid)}
        assert len(running) <= 1, f"two jobs ran at once: {running}"
        started.update(running)
        states = [requests.get(f"{second.url}/api/jobs/{job_id}", timeout=10).json()["state"]
                  for job_id in job_ids]
        if all(state not in ("queued", "running") for state in states):
            break
        assert time.monotonic() < deadline, f"jobs still {states}\n{topology.logs()}"
        time.sleep(0.1)
    assert states == ["done", "done"], [requests.get(f"{first.url}/api/jobs/{j}").json()
                                        for j in job_ids]
    assert len(started) == 2, f"each job ran once, in one process: {started}"


def test_killing_one_app_process_mid_round_leaves_the_other_serving(topology: Topology) -> None:
    doomed, survivor = topology.apps
    asker = CouncilClient(doomed.url)
    try:
        ack = asker.call("ask", {"conversation_id": None, "text": "Count from one to twenty."})
        assert ack["ok"], ack
        asker.collect_until("worker_token", ack["round_id"], ROUND_TIMEOUT_S)
    finally:
        doomed.kill()
    deadline = time.monotonic() + 30
    while (status := conversation(survivor, ack["conversation_id"])["rounds"][0]["status"]) \
            == "running":
        assert time.monotonic() < deadline, "the killed process's round still shows running"
        time.sleep(0.2)
    assert status == "interrupted"
    shared = requests.get(f"{survivor.url}/api/status", timeout=10).json()["app_processes"]
    assert [p["pid"] for p in shared["processes"]] != [], shared
    assert all(p["this"] for p in shared["processes"]), "the killed process is no longer listed"
    client = CouncilClient(survivor.url)
    try:
        after = client.ask("Name one fruit.", timeout=ROUND_TIMEOUT_S)
    finally:
        client.close()
    assert after.one("round_done")["status"] == "done", topology.logs()


def test_killing_one_model_server_mid_round_moves_the_next_rounds_workers(
        topology: Topology) -> None:
    survivor = next(app for app in topology.apps if app.process.poll() is None)
    doomed_server = topology.models[0]
    client = CouncilClient(survivor.url)
    try:
        ack = client.call("ask", {"conversation_id": None, "text": "List five animals."})
        assert ack["ok"], ack
        client.collect_until("worker_token", ack["round_id"], ROUND_TIMEOUT_S)
        doomed_server.kill()
        client.collect_until("round_done", ack["round_id"], ROUND_TIMEOUT_S)
        after = client.ask("Name one planet.", ack["conversation_id"], ROUND_TIMEOUT_S)
    finally:
        client.close()
    done = after.done_by_answer()
    assert done and all(d["status"] == "done" for d in done.values()), done
    assert after.one("round_done")["status"] == "done"
    status = requests.get(f"{survivor.url}/api/status", timeout=10).json()
    down = {server["host"] for server in status["servers"] if not server["up"]}
    assert down == {doomed_server.url}, status["servers"]

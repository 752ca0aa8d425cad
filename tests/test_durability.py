"""Kill -9 the app mid-round and mid-job; after a restart nothing committed is lost.

`run.py --demo` runs in its own process group; SIGKILL to the group stands for a crash or a
power cut (no cleanup runs, children die too). Before the kill: one finished, voted round;
a second round where the `echo` persona has finished and the others are still streaming; a
data-preparation job running. After the restart: the vote and every finished answer are there,
the rest is marked interrupted, and SQLite's integrity check passes.

SIGKILL to the app alone (what the OOM killer does) must not leave its job running: the job
dies with it, leaves no half-written file, and the restart finds nothing left to end. Neither
run writes into the checkout: everything goes under COUNCIL_DATA_DIR.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from council.job_process import WriterLock
from council.llm.demo_server import DemoServer
from tests.browser import PROJECT_ROOT, app_environment, free_port, wait_until_serving
from tests.jobs import DEATH_WAIT_S, job_processes, process_gone
from tests.sockets import CouncilClient

# where the app would write if a default still pointed into the checkout
CHECKOUT_RUNTIME = (PROJECT_ROOT / "data", PROJECT_ROOT / "loras")


def checkout_runtime_files() -> set[Path]:
    return {path for folder in CHECKOUT_RUNTIME if folder.exists() for path in folder.rglob("*")}


class RunningApp:
    """`run.py` on its own demo model server, or on `ollama` (a server that outlives it)."""

    def __init__(self, data_dir: Path, log: Path, ollama: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = app_environment(data_dir, COUNCIL_ROUTER_TOP_K="5", COUNCIL_ROUTER_MIN_WEIGHT="0",
                              **({"OLLAMA_HOST": ollama, "COUNCIL_BACKEND": "ollama"}
                                 if ollama else {}))
        backend = [] if ollama else ["--demo", "--demo-token-delay", "0.05"]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "run.py", *backend, "--port", str(self.port)],
                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until_serving(self.url + "/", self.process, log)

    def kill(self) -> None:
        """The whole process group: the app and anything it started."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def job_process(self, timeout: float = 60.0) -> int:
        """The pid of the app's running job process, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid in job_processes(self.process.pid):
                return pid
            time.sleep(0.05)
        raise AssertionError("the app started no job process")


def test_sigkill_mid_round_and_mid_job_loses_nothing_committed(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "run.log"
    checkout_before = checkout_runtime_files()
    app = RunningApp(data_dir, log)
    try:
        created = requests.post(f"{app.url}/personas/new", allow_redirects=False, data={
            "name": "Echo", "system_prompt": "Repeat.", "model": "echo", "enabled": "on",
            "temperature": "0.7", "top_p": "0.9", "color": "#123456"})
        assert created.status_code == 302, created.text
        client = CouncilClient(app.url)
        first = client.ask("Ok?", timeout=120)
        assert first.one("round_done")["status"] == "done"
        echo_first = next(w for w in first.one("round_started")["workers"]
                          if w["name"] == "Echo")
        vote = requests.post(f"{app.url}/api/rounds/{first.round_id}/votes",
                             json={"kind": "best", "answer_id": echo_first["answer_id"]})
        assert vote.status_code == 200, vote.text

        job = requests.post(f"{app.url}/api/training/architect/data", json={"examples": 4})
        assert job.status_code == 202
        job_id = job.json()["job_id"]

        ack = client.call("ask", {"conversation_id": first.ack["conversation_id"],
                                  "text": "Why?"})
        assert ack["ok"]
        events = _until_echo_done(client, ack["round_id"])
        echo = next(d for e, d in events if e == "worker_done")
        assert requests.get(f"{app.url}/api/jobs/{job_id}").json()["state"] == "running"
        client.client.disconnect()
    finally:
        app.kill()

    database = data_dir / "council.db"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    restarted = RunningApp(data_dir, log)
    try:
        conversation = requests.get(
            f"{restarted.url}/api/conversations/{first.ack['conversation_id']}").json()
        done_round, killed_round = conversation["rounds"]
        assert done_round["status"] == "done" and done_round["synthesis"]["status"] == "done"
        assert [v["kind"] for v in done_round["votes"]] == ["best"]
        assert all(w["status"] == "done" and w["text"] for w in done_round["workers"])
        assert killed_round["status"] == "interrupted"
        by_id = {w["answer_id"]: w for w in killed_round["workers"]}
        assert by_id[echo["answer_id"]]["status"] == "done"
        assert by_id[echo["answer_id"]]["text"] == "Why?"
        others = [w for a, w in by_id.items() if a != echo["answer_id"]]
        assert others and all(w["status"] == "interrupted" for w in others)
        job = requests.get(f"{restarted.url}/api/jobs/{job_id}").json()
        assert job["state"] == "interrupted" and "run it again" in job["message"]
        again = CouncilClient(restarted.url)
        assert again.ask("Still there?", timeout=120).one("round_done")["status"] == "done"
        again.client.disconnect()
    finally:
        restarted.kill()
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM votes").fetchone() == (1,)
    assert checkout_runtime_files() == checkout_before, "the run wrote into the checkout"


def test_sigkill_of_the_app_alone_leaves_no_job_running(tmp_path: Path,
                                                        demo_server: DemoServer) -> None:
    """The model server outlives the app and is slow to answer, so the job sits waiting on it
    with nothing to write (no broken pipe to end it): only the parent-death signal (or its
    stdin pipe) can."""
    data_dir, log = tmp_path / "data", tmp_path / "run.log"
    checkout_before = checkout_runtime_files()
    app = RunningApp(data_dir, log, ollama=demo_server.url)
    demo_server.first_token_delay = 3 * DEATH_WAIT_S
    try:
        job = requests.post(f"{app.url}/api/training/architect/data", json={"examples": 4})
        assert job.status_code == 202, job.text
        job_id = job.json()["job_id"]
        job_pid = app.job_process()
        deadline = time.monotonic() + 60
        while requests.get(f"{app.url}/api/jobs/{job_id}").json()["progress"].get(
                "stage") != "generate":  # now waiting on the model, with nothing to print
            assert time.monotonic() < deadline, "the job never started generating"
            time.sleep(0.1)
        os.kill(app.process.pid, signal.SIGKILL)  # the app only, not its process group
        app.process.wait(timeout=10)
        assert process_gone(job_pid, DEATH_WAIT_S), f"job {job_pid} outlived the app"
    finally:
        demo_server.first_token_delay = 0.0
        app.kill()  # whatever is left in the group, if the assertion failed
    half_written = [p for p in data_dir.rglob(".*") if p.suffix == ".tmp"
                    or p.name.startswith(".upload-")]
    assert not half_written, half_written
    with sqlite3.connect(data_dir / "council.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert WriterLock(data_dir).holder() is None, "the job's writer lock went with it"

    restarted = RunningApp(data_dir, log, ollama=demo_server.url)
    try:
        row = requests.get(f"{restarted.url}/api/jobs/{job_id}").json()
        assert row["state"] == "interrupted" and "run it again" in row["message"]
        assert "was ended" not in row["message"], "nothing was left to end"
        assert not job_processes(restarted.process.pid)
    finally:
        restarted.kill()
    assert checkout_runtime_files() == checkout_before, "the run wrote into the checkout"


def _until_echo_done(client: CouncilClient, round_id: int,
                     timeout: float = 60.0) -> list[tuple[str, dict]]:
    """Events of the round until the first worker (the short echo answer) is done."""
    collected = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event, data = client.events.get(timeout=max(deadline - time.monotonic(), 0.01))
        if data.get("round_id") == round_id:
            collected.append((event, data))
            if event == "worker_done":
                assert data["status"] == "done", data
                return collected
    raise AssertionError("no worker finished in time")

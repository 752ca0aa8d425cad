"""Kill -9 the app mid-round and mid-job; after a restart nothing committed is lost.

`run.py --demo` runs in its own process group; SIGKILL to the group stands for a crash or a
power cut (no cleanup runs, children die too). Before the kill: one finished, voted round;
a second round where the `echo` persona has finished and the others are still streaming; a
data-preparation job running. After the restart: the vote and every finished answer are there,
the rest is marked interrupted, and SQLite's integrity check passes.
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

from tests.browser import PROJECT_ROOT, app_environment, free_port, wait_until_serving
from tests.sockets import CouncilClient


class RunningApp:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = app_environment(data_dir, COUNCIL_ROUTER_TOP_K="5", COUNCIL_ROUTER_MIN_WEIGHT="0")
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "run.py", "--demo", "--demo-token-delay", "0.05",
                 "--port", str(self.port)], cwd=PROJECT_ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_serving(self.url + "/", self.process, log)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def test_sigkill_mid_round_and_mid_job_loses_nothing_committed(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "run.log"
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

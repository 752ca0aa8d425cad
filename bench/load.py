"""Many browsers asking at once: rounds/s, token latency from backend to client, errors, RSS.

    .venv/bin/python bench/load.py [--clients 20] [--duration 30] [--token-delay 0.02]
                                   [--top-k 3]

Three processes, as in real use: the demo server (`python -m council.llm.demo_server`,
Ollama's API, `--token-delay` seconds per token, logging each token's send time), the app
(`run.py`, pointed at it), and this one, running `--clients` python-socketio clients over real
websockets in threads, each asking one new question after another (each in a new
conversation) until `--duration` seconds have passed; rounds still running then are waited for.

Numbers:
  rounds/s       rounds that ended `done`, divided by the wall time from the first ask to the
                 last round's end.
  token latency  for every worker token: the time the demo server wrote it to the socket
                 (time.perf_counter there; CLOCK_MONOTONIC, shared by all processes on Linux)
                 to the time a client received the `worker_token` event that carried it;
                 tokens are matched per answer by persona prompt, question and index (the app
                 emits one event per backend token). p50 / p95 / p99 in ms.
  errors         refused asks, round_error events, rounds not `done`, client exceptions.
  peak RSS       the app process's VmHWM (/proc/<pid>/status) at the end, in MB.
Target: 0 errors, p95 token latency <= 100 ms. The load average is printed: the machine may be
shared.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio

ROOT = Path(__file__).resolve().parent.parent

P95_TARGET_MS = 100.0
TOPICS = ("caching a slow database query", "naming a new library", "testing a flaky job",
          "choosing a message queue", "splitting a large module", "reviewing a design doc")


@dataclass
class ClientResult:
    events: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_client(url: str, number: int, stop_at: float, result: ClientResult) -> None:
    """Ask one question after another until `stop_at`; every event is kept with its time."""
    client = socketio.Client(reconnection=False)
    finished: set[int] = set()
    condition = threading.Condition()

    def on_event(event: str, data: dict[str, Any]) -> None:
        result.events.append((event, data, time.perf_counter()))
        if event == "round_done":
            with condition:
                finished.add(data["round_id"])
                condition.notify_all()

    client.on("*", on_event)
    try:
        client.connect(url, transports=["websocket"], wait_timeout=10)
        asked = 0
        while time.perf_counter() < stop_at:
            question = (f"Client {number}, question {asked}: what do you think about "
                        f"{TOPICS[(number + asked) % len(TOPICS)]}?")
            ack = client.call("ask", {"conversation_id": None, "text": question}, timeout=60)
            if not ack.get("ok"):
                result.errors.append(f"ask refused: {ack.get('error')}")
                break
            with condition:
                if not condition.wait_for(lambda: ack["round_id"] in finished, timeout=120):
                    result.errors.append(f"round {ack['round_id']} did not finish in 120 s")
                    break
            asked += 1
    except Exception as exc:  # noqa: BLE001  (a client failure is a counted error)
        result.errors.append(f"client {number}: {type(exc).__name__}: {exc}")
    finally:
        client.disconnect()


def token_arrivals(result: ClientResult) -> tuple[list[tuple[str, str, int, float]], int]:
    """(persona name, question, token index, receive time) per worker token; rounds done.

    Also moves round errors into `result.errors`. One websocket delivers events in order, so
    the n-th `worker_token` of an answer carries the backend's n-th token of that answer.
    """
    names: dict[int, tuple[str, str]] = {}
    counts: dict[int, int] = {}
    arrivals, done = [], 0
    for event, data, at in result.events:
        if event == "round_started":
            for worker in data["workers"]:
                names[worker["answer_id"]] = (worker["name"], data["user_message"])
        elif event == "worker_token":
            index = counts.get(data["answer_id"], 0)
            counts[data["answer_id"]] = index + 1
            name, question = names[data["answer_id"]]
            arrivals.append((name, question, index, at))
        elif event == "round_error":
            result.errors.append(f"round {data['round_id']}: {data.get('error')}")
        elif event == "round_done":
            if data.get("status") == "done":
                done += 1
            else:
                result.errors.append(f"round {data['round_id']} ended {data.get('status')}")
    return arrivals, done


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Process:
    """A child process that prints its URL on its first output line."""

    def __init__(self, command: list[str], env: dict[str, str], marker: str) -> None:
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if marker in line:
                self.url = line.strip().rsplit(" ", 1)[-1]
                break
        else:
            raise SystemExit(f"{command[1:3]} exited before serving")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # drain it

    def peak_rss_mb(self) -> float:
        """VmHWM: the process's peak resident set size so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCIL_", "OLLAMA_"))}
    env["PYTHONUNBUFFERED"] = "1"
    demo = Process([sys.executable, "-m", "council.llm.demo_server", "--token-delay",
                    str(args.token_delay), "--log-tokens"], env, "demo server on")
    with tempfile.TemporaryDirectory(prefix="council-load-") as folder:
        port = _free_port()
        app = Process([sys.executable, "run.py", "--port", str(port)],
                      {**env, "OLLAMA_HOST": demo.url, "COUNCIL_DATA_DIR": folder,
                       "COUNCIL_ROUTER_TOP_K": str(args.top_k),
                       "COUNCIL_MAX_ROUNDS_PER_CLIENT": "2"}, "AI Council on")
        try:
            wait_for(app.url + "/")
            prompts = {p["name"]: p["system_prompt"]
                       for p in requests.get(f"{app.url}/personas/api", timeout=10).json()}
            results = [ClientResult() for _ in range(args.clients)]
            started = time.perf_counter()
            stop_at = started + args.duration
            threads = [threading.Thread(target=run_client, args=(app.url, n, stop_at,
                                                                 results[n]))
                       for n in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            app_rss = app.peak_rss_mb()
            token_log = requests.get(f"{demo.url}/demo/token_log", timeout=30).json()
        finally:
            app.stop()
            demo.stop()

    sent = {(system, question, index): at for system, question, index, at in token_log}
    latencies, unmatched, done = [], 0, 0
    for result in results:
        arrivals, finished = token_arrivals(result)
        done += finished
        for name, question, index, at in arrivals:
            when = sent.get((prompts.get(name, ""), question, index))
            if when is None:
                unmatched += 1
                continue
            latencies.append((at - when) * 1000.0)
    errors = [e for r in results for e in r.errors]
    print(f"clients {args.clients}, duration {args.duration:.0f} s (wall {wall:.1f} s), "
          f"token delay {args.token_delay * 1000:.0f} ms, top-k {args.top_k}")
    print(f"rounds done {done}, rounds/s {done / wall:.2f}")
    if latencies:
        print(f"token latency ms: p50 {statistics.median(latencies):.1f}, "
              f"p95 {percentile(latencies, 0.95):.1f}, p99 {percentile(latencies, 0.99):.1f}, "
              f"max {max(latencies):.1f} ({len(latencies)} tokens, {unmatched} unmatched)")
    print(f"errors {len(errors)}" + (f": {errors[:5]}" if errors else ""))
    print(f"peak RSS of the app process {app_rss:.0f} MB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    verdict = "met" if not errors and p95 <= P95_TARGET_MS else "MISSED"
    print(f"target (0 errors, p95 <= {P95_TARGET_MS:.0f} ms): {verdict}")
    return 0 if verdict == "met" else 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())

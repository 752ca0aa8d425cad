"""Many browsers asking at once: rounds/s, token latency from backend to client, errors, RSS.

    .venv/bin/python -m bench.load [--clients 20] [--duration 30] [--token-delay 0.02]
                                   [--top-k 3]
    .venv/bin/python -m bench.load --compare [--clients 100] [--duration 30] ...

One app process (the default): three processes, as in real use: the demo server
(`python -m council.llm.demo_server`, Ollama's API, `--token-delay` seconds per token, logging
each token's send time), the app (`run.py`, i.e. `council run`, on SQLite, pointed at it), and
this one, running `--clients` python-socketio clients over real websockets in threads, each
asking one new question after another (each in a new conversation) until `--duration` seconds
have passed; rounds still running then are waited for.

`--compare`: the scale-out question, side by side in one run: the same clients (100 unless
`--clients` says otherwise) against (a) one app process and (b) two app processes sharing one
data dir, each deployment behind nginx (deploy/nginx.conf through tests/services.py: least_conn,
WebSocket only) on the same Redis (the Socket.IO message queue) and the same PostgreSQL server
(tests/postgres.py; a fresh database for each), so only the number of app processes differs.
Each deployment gets a fresh demo server. Target: (b) at least 1.6x the rounds/s of (a) at equal
p95 token latency (no more than 10% above (a)'s).

Numbers:
  rounds/s       rounds that ended `done`, divided by the wall time from the first ask to the
                 last round's end.
  token latency  for every worker token: the time the demo server wrote it to the socket
                 (time.perf_counter there; CLOCK_MONOTONIC, shared by all processes on Linux)
                 to the time a client received the `worker_token` event that carried it;
                 tokens are matched per answer by persona prompt, question and index (the app
                 emits one event per backend token, and each client handles its events in the
                 order they arrive). p50 / p95 / p99 in ms.
  errors         refused asks, round_error events, rounds not `done`, client exceptions.
  peak RSS       each app process's VmHWM (/proc/<pid>/status) at the end, in MB: the gunicorn
                 worker that holds the app.
  CPU            CPU seconds the app workers, this process (the clients) and the demo server
                 used while the clients ran, and the share of the whole machine's CPU time that
                 was busy then (everything here shares it).
Every app process accepts as many rounds at once as there are clients (COUNCIL_MAX_ROUNDS), so
the limit never refuses one. Single-process target: 0 errors, p95 token latency <= 100 ms. The
machine and its load average are printed: it may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.postgres import PostgresServer
from tests.services import NginxProxy, RedisServer, free_port
from tests.sockets import InOrderClient

ROOT = Path(__file__).resolve().parent.parent

P95_TARGET_MS = 100.0
SCALE_TARGET = 1.6  # rounds/s of two app processes over one
EQUAL_P95_SLACK = 1.1  # "equal p95": two processes' p95 at most 10% above one's
OUTPUT_LINES = 60  # of each app process's output, printed when a run had errors
TOPICS = ("caching a slow database query", "naming a new library", "testing a flaky job",
          "choosing a message queue", "splitting a large module", "reviewing a design doc")


@dataclass
class ClientResult:
    events: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_client(url: str, number: int, stop_at: float, result: ClientResult) -> None:
    """Ask one question after another until `stop_at`; every event is kept with its time."""
    client = InOrderClient(reconnection=False)
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
    if not values:
        return float("inf")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class Process:
    """A child process that prints its URL on its first output line; the rest of its output is
    kept (its last lines), to show why an error happened."""

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
        self.output: deque[str] = deque(maxlen=OUTPUT_LINES)
        threading.Thread(target=self.output.extend, args=(self.process.stdout,),
                         daemon=True).start()

    def app_pid(self) -> int:
        """The process that holds the app: `council run`'s gunicorn worker (its one child)."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:  # it ended while we looked
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    return int(entry.name)
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Run:
    """What the clients measured against one deployment."""

    label: str
    wall: float
    done: int
    latencies: list[float]
    unmatched: int
    errors: list[str]
    rss_mb: list[float]
    cpu_s: list[float]
    client_cpu_s: float
    demo_cpu_s: float
    machine_busy: float
    app_output: list[str]  # the app processes' last lines, when there were errors

    @property
    def rounds_per_s(self) -> float:
        return self.done / self.wall

    def report(self) -> None:
        print(f"[{self.label}] rounds done {self.done}, rounds/s {self.rounds_per_s:.2f} "
              f"(wall {self.wall:.1f} s)")
        if self.latencies:
            print(f"[{self.label}] token latency ms: p50 {statistics.median(self.latencies):.1f}, "
                  f"p95 {percentile(self.latencies, 0.95):.1f}, "
                  f"p99 {percentile(self.latencies, 0.99):.1f}, max {max(self.latencies):.1f} "
                  f"({len(self.latencies)} tokens, {self.unmatched} unmatched)")
        print(f"[{self.label}] errors {len(self.errors)}"
              + (f": {self.errors[:5]}" if self.errors else ""))
        if self.app_output:
            print(f"[{self.label}] the app processes' last lines:\n" + "".join(self.app_output))
        print(f"[{self.label}] peak RSS of the app process"
              f"{'es' if len(self.rss_mb) > 1 else ''} "
              f"{', '.join(f'{mb:.0f}' for mb in self.rss_mb)} MB; their CPU "
              f"{sum(self.cpu_s):.0f} s, the clients' {self.client_cpu_s:.0f} s, the demo "
              f"server's {self.demo_cpu_s:.0f} s; machine CPU busy {self.machine_busy:.0%}")


def measure(label: str, url: str, apps: list[Process], demo: Process, clients: int,
            duration: float) -> Run:
    """Run the clients against `url` (the app, or nginx in front of `apps`)."""
    prompts = {p["name"]: p["system_prompt"]
               for p in requests.get(f"{url}/personas/api", timeout=10).json()}
    pids = [app.app_pid() for app in apps]
    cpu_before, (busy_before, total_before) = [cpu_seconds(p) for p in pids], machine_cpu()
    client_before, demo_before = cpu_seconds(os.getpid()), cpu_seconds(demo.process.pid)
    results = [ClientResult() for _ in range(clients)]
    started = time.perf_counter()
    threads = [threading.Thread(target=run_client, args=(url, n, started + duration, results[n]))
               for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    busy_after, total_after = machine_cpu()
    cpu = [cpu_seconds(p) - before for p, before in zip(pids, cpu_before)]
    client_cpu = cpu_seconds(os.getpid()) - client_before
    demo_cpu = cpu_seconds(demo.process.pid) - demo_before
    token_log = requests.get(f"{demo.url}/demo/token_log", timeout=60).json()

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
    output = [f"  {n}| {line}" for n, app in enumerate(apps, 1) for line in app.output]
    return Run(label, wall, done, latencies, unmatched, errors, [peak_rss_mb(p) for p in pids],
               cpu, client_cpu, demo_cpu,
               (busy_after - busy_before) / max(total_after - total_before, 1),
               output if errors else [])


def base_environment() -> dict[str, str]:
    """This environment without its COUNCIL_/OLLAMA_ settings: the children see what we set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCIL_", "OLLAMA_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def demo_server(args: argparse.Namespace) -> Iterator[Process]:
    demo = Process([sys.executable, "-m", "council.llm.demo_server", "--token-delay",
                    str(args.token_delay), "--log-tokens"], base_environment(), "demo server on")
    try:
        yield demo
    finally:
        demo.stop()


def start_app(demo: Process, data_dir: str, args: argparse.Namespace,
              **settings: str) -> Process:
    """`run.py` (council run) on a free port, answering from `demo`."""
    env = {**base_environment(), "OLLAMA_HOST": demo.url, "COUNCIL_DATA_DIR": data_dir,
           "COUNCIL_ROUTER_TOP_K": str(args.top_k), "COUNCIL_MAX_ROUNDS_PER_CLIENT": "2",
           "COUNCIL_MAX_ROUNDS": str(args.clients), **settings}
    return Process([sys.executable, "run.py", "--port", str(free_port())], env, "AI Council on")


def single(args: argparse.Namespace) -> int:
    with demo_server(args) as demo, tempfile.TemporaryDirectory(prefix="council-load-") as folder:
        app = start_app(demo, folder, args)
        try:
            wait_for(app.url + "/")
            run = measure("1 process", app.url, [app], demo, args.clients, args.duration)
        finally:
            app.stop()
    print(f"clients {args.clients}, duration {args.duration:.0f} s, "
          f"token delay {args.token_delay * 1000:.0f} ms, top-k {args.top_k}")
    run.report()
    p95 = percentile(run.latencies, 0.95)
    verdict = "met" if not run.errors and p95 <= P95_TARGET_MS else "MISSED"
    print(f"target (0 errors, p95 <= {P95_TARGET_MS:.0f} ms): {verdict}")
    return 0 if verdict == "met" else 1


def behind_nginx(processes: int, args: argparse.Namespace, redis: RedisServer,
                 postgres: PostgresServer) -> Run:
    """`processes` app processes on one data dir, Redis and a fresh database, behind nginx."""
    label = f"{processes} process{'es' if processes > 1 else ''}"
    with demo_server(args) as demo, ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="council-load-"))
        database = postgres.new_database()
        apps = []
        for _ in range(processes):
            apps.append(start_app(demo, folder, args, DATABASE_URL=database,
                                  COUNCIL_REDIS_URL=redis.url))
            stack.callback(apps[-1].stop)
        for app in apps:
            wait_for(app.url + "/")
        proxy = NginxProxy([int(app.url.rsplit(":", 1)[1]) for app in apps])
        stack.callback(proxy.stop)
        wait_for(proxy.url + "/")
        return measure(label, proxy.url, apps, demo, args.clients, args.duration)


def compare(args: argparse.Namespace) -> int:
    print(f"clients {args.clients}, duration {args.duration:.0f} s each, "
          f"token delay {args.token_delay * 1000:.0f} ms, top-k {args.top_k}; Redis and "
          f"PostgreSQL shared, nginx in front of both")
    redis, postgres = RedisServer(), PostgresServer()
    try:
        one = behind_nginx(1, args, redis, postgres)
        one.report()
        two = behind_nginx(2, args, redis, postgres)
        two.report()
    finally:
        redis.stop()
        postgres.stop()
    rows = [("rounds/s", one.rounds_per_s, two.rounds_per_s, "{:.2f}")]
    rows += [(f"token latency {name} ms", percentile(one.latencies, share),
              percentile(two.latencies, share), "{:.1f}")
             for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))]
    rows += [("errors", len(one.errors), len(two.errors), "{}"),
             ("app CPU s", sum(one.cpu_s), sum(two.cpu_s), "{:.0f}"),
             ("clients' CPU s", one.client_cpu_s, two.client_cpu_s, "{:.0f}"),
             ("demo server's CPU s", one.demo_cpu_s, two.demo_cpu_s, "{:.0f}"),
             ("machine CPU busy", one.machine_busy, two.machine_busy, "{:.0%}")]
    print("\n| measure | 1 process | 2 processes behind nginx | 2 / 1 |\n| --- | --- | --- | --- |")
    for name, a, b, shape in rows:
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"| {name} | {shape.format(a)} | {shape.format(b)} | {ratio} |")
    scale = two.rounds_per_s / one.rounds_per_s if one.rounds_per_s else 0.0
    p95_one, p95_two = percentile(one.latencies, 0.95), percentile(two.latencies, 0.95)
    met = (not one.errors and not two.errors and scale >= SCALE_TARGET
           and p95_two <= p95_one * EQUAL_P95_SLACK)
    print(f"target (2 processes >= {SCALE_TARGET}x the rounds/s of 1, p95 at most "
          f"{EQUAL_P95_SLACK - 1:.0%} above, 0 errors): {scale:.2f}x, p95 {p95_two:.1f} vs "
          f"{p95_one:.1f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


def machine() -> str:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} CPUs, {model}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true",
                        help="1 app process vs 2 behind nginx, on Redis and PostgreSQL")
    parser.add_argument("--clients", type=int, help="20, or 100 with --compare")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    args.clients = args.clients or (100 if args.compare else 20)
    print(f"machine: {machine()}; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    status = compare(args) if args.compare else single(args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return status


if __name__ == "__main__":
    sys.exit(main())

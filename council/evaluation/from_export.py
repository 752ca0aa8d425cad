"""Questions from the user's own export (`council eval --from-export FILE`): what they really
ask, spread across the modes discovery found, never a message a persona was named or trained on.

Which messages can be asked:
- the user's messages in the export (ChatGPT, Claude or ShareGPT; `discovery.parse`), without
  filler ("thanks", "continue": `discovery.categorize.is_filler`), repeats, messages shorter
  than `MIN_CHARS` and ones longer than a question may be;
- only those in one of the discovered clusters (`clusters/persona_<slug>.jsonl`): the clusters
  are what the sample spreads across, so discovery must have run on this export first. A
  message of the export that no cluster holds (an export newer than the discovery) is left out;
- none shown to the model that named a cluster (its `representatives` in
  `cluster_analysis.json`, which also become an imported persona's example messages) and none
  used as a question for a persona's LoRA data (every `lora_training/persona_*.jsonl`: the
  train and eval splits and the generation log). Messages are compared as discovery spots
  repeats (`dedupe_key`), a used one on the part of it training keeps.

How they are sampled: each cluster's messages are shuffled with `seed`, the ones that open a
conversation first (a follow-up such as "now make it shorter" means little without the turns
before it), and the clusters, in an order shuffled with `seed`, take turns giving one message
until `count` are chosen or none are left. Any prefix of the list is therefore spread across
the clusters. The same export, discovery files and seed always give the same questions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..discovery.categorize import dedupe_key, is_filler
from ..discovery.json_stream import DEFAULT_LIMITS
from ..discovery.parse import ExportLimits, UserMessage, parse_export
from ..files import PersonaFiles, appended_jsonl_objects
from ..training.data import MAX_QUESTION_CHARS as TRAINING_QUESTION_CHARS
from .questions import MAX_QUESTION_CHARS, Question, QuestionSetError

MIN_CHARS = 15  # shorter messages are chatter ("why?", "and in Go?"), not a question to ask


def questions_from_export(export: Path, personas_dir: Path, count: int, seed: int,
                          limits: ExportLimits = DEFAULT_LIMITS) -> list[Question]:
    """Up to `count` of the user's own questions, spread across the discovered clusters; each
    Question's category is its cluster's name. Raises QuestionSetError when discovery has not
    run or did not run on this export, and the parser's ExportError for an unreadable export."""
    if count < 1:
        raise QuestionSetError(f"Asked for {count} questions from {export}: ask for at least 1.")
    files = PersonaFiles(personas_dir)
    clusters = _clusters(files)
    cluster_of = {dedupe_key(str(row.get("text") or "")): index
                  for index, cluster in enumerate(clusters)
                  for row in files.cluster_rows(cluster["slug"])}
    used = _used_keys(files, clusters)
    pools: list[list[UserMessage]] = [[] for _ in clusters]
    seen: set[str] = set()
    for message in parse_export(Path(export), limits).messages:
        text = message.text.strip()
        key = dedupe_key(text)
        if (key in seen or len(text) < MIN_CHARS or len(text) > MAX_QUESTION_CHARS
                or is_filler(text)):
            continue
        seen.add(key)
        if key in cluster_of and _used_key(text) not in used:
            pools[cluster_of[key]].append(message)
    if not any(key in cluster_of for key in seen):
        raise QuestionSetError(
            f"None of the messages in {export} is in the clusters discovery found in "
            f"{files.clusters}: run Discover on this export first (`council discover --input "
            f"{export}`).")
    rng = random.Random(seed)
    for pool in pools:
        rng.shuffle(pool)
        pool.sort(key=lambda message: bool(message.context))  # stable: openers first
    order = list(range(len(clusters)))
    rng.shuffle(order)
    return [Question(message.text.strip(), category=clusters[order[turn]]["name"])
            for turn, message in _take_turns([pools[i] for i in order], count)]


def _clusters(files: PersonaFiles) -> list[dict[str, Any]]:
    """The latest discovery's clusters (slug, name, representatives), or the error that says
    to run it."""
    analysis = (json.loads(files.cluster_analysis.read_text(encoding="utf-8"))
                if files.cluster_analysis.is_file() else {})
    clusters = [c for c in analysis.get("clusters", []) if c.get("slug")]
    if not clusters:
        raise QuestionSetError(
            f"No discovered clusters in {files.clusters}: questions from an export are "
            f"sampled across the clusters Discover finds, so run Discover on it first "
            f"(`council discover --input FILE`, or the Discover page).")
    return clusters


def _used_keys(files: PersonaFiles, clusters: list[dict[str, Any]]) -> set[str]:
    """The messages a persona was named from or trained on, as match keys."""
    used = {_used_key(text) for cluster in clusters
            for text in cluster.get("representatives", [])}
    for path in sorted(files.lora_training.glob("persona_*.jsonl")):
        for row in appended_jsonl_objects(path):
            used.update(_used_key(message.get("content") or "")
                        for message in row.get("messages", [])
                        if isinstance(message, dict) and message.get("role") == "user")
            if isinstance(row.get("question"), str):
                used.add(_used_key(row["question"]))
    return used


def _used_key(text: str) -> str:
    """A message was used when discovery would call it a repeat of a used one, compared on the
    part training keeps of a long message."""
    return dedupe_key(str(text).strip()[:TRAINING_QUESTION_CHARS])


def _take_turns(pools: list[list[UserMessage]], count: int) -> Iterator[tuple[int, UserMessage]]:
    """(pool index, message): one from each pool in turn, skipping empty ones, up to `count`."""
    taken = 0
    for depth in range(max(map(len, pools), default=0)):
        for index, pool in enumerate(pools):
            if depth < len(pool):
                yield index, pool[depth]
                taken += 1
                if taken == count:
                    return

"""Where discovery and training keep their files: the layout written down once.

    DATA_DIR/personas/raw_imports/conversations.json        the user's export (or .zip)
    DATA_DIR/personas/raw_imports/.upload-*                 an upload still being received
    DATA_DIR/personas/extracted/all_messages.jsonl          every user message with context
    DATA_DIR/personas/extracted/categorized_messages.jsonl  + traits, embedding text, set aside
    DATA_DIR/personas/clusters/persona_<slug>.jsonl         messages of one discovered persona
    DATA_DIR/personas/clusters/cluster_analysis.json        per cluster: name, traits, centroid
    DATA_DIR/personas/clusters/cluster_map.json             2-D map of the clustered messages
    DATA_DIR/personas/prompts/generated_prompts.json        per persona: name, system prompt
    DATA_DIR/personas/lora_training/persona_<slug>_{train,eval,pairs}.jsonl
    DATA_DIR/personas/cache/embeddings/<embedder>/           discovery's embedding cache
    LORAS_DIR/<slug>/adapter/, adapter.gguf, metadata.json  one persona's adapter
    LORAS_DIR/<slug>/merged/                      it merged into its base, for an Ollama
                                                  that refuses the adapter model

The pipeline, the importer, the trainers, the web pages and the CLIs all name paths through
these objects, so the layout cannot drift between writer and reader. `clean_uploads` keeps
raw_imports from growing: an upload half received when the app died is removed once nobody has
written to it for `STALE_UPLOAD_S`, and only the newest uploads are kept (never one in use).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from .atomic import write_json_atomic
from .errors import NotFound

EMPTY_MAP: dict[str, Any] = {"points": [], "total": 0, "explained_variance": []}
UPLOAD_PREFIX = ".upload-"
STALE_UPLOAD_S = 600.0


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSONL file; none when it does not exist."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def appended_jsonl_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file a run appends to as it goes (training data's log): a torn
    last line, left by a run killed mid-write, and anything but an object are skipped; none
    when the file does not exist."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


class MissingDiscovery(NotFound):
    """Discovery has not run (or its output is incomplete); the message says what to run."""


class PersonaFiles:
    """Discovery's and LoRA data preparation's files under one `personas` folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.raw_imports = self.root / "raw_imports"
        self.default_export = self.raw_imports / "conversations.json"
        self.all_messages = self.root / "extracted" / "all_messages.jsonl"
        self.categorized_messages = self.root / "extracted" / "categorized_messages.jsonl"
        self.clusters = self.root / "clusters"
        self.cluster_analysis = self.clusters / "cluster_analysis.json"
        self.cluster_map = self.clusters / "cluster_map.json"
        self.generated_prompts = self.root / "prompts" / "generated_prompts.json"
        self.embedding_caches = self.root / "cache" / "embeddings"
        self.lora_training = self.root / "lora_training"

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> PersonaFiles:
        return cls(Path(data_dir) / "personas")

    def cluster_messages(self, slug: str) -> Path:
        return self.clusters / f"persona_{slug}.jsonl"

    def training_pairs(self, slug: str) -> tuple[Path, Path, Path]:
        """(train, eval, generation log) of a persona's LoRA data."""
        train, evaluation, log = (self.lora_training / f"persona_{slug}_{part}.jsonl"
                                  for part in ("train", "eval", "pairs"))
        return train, evaluation, log

    def has_discovery(self) -> bool:
        return self.cluster_analysis.is_file() and self.generated_prompts.is_file()

    def read_discovery(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The latest run's generated prompts and its cluster analysis (k, silhouette, warning,
        clusters), each file read once."""
        for path in (self.generated_prompts, self.cluster_analysis):
            if not path.is_file():
                raise MissingDiscovery(f"{path} is missing: run `council discover` (or the "
                                       "Discover page) first.")
        return _read_json(self.generated_prompts)["personas"], _read_json(self.cluster_analysis)

    def read_map(self) -> dict[str, Any]:
        """The 2-D layout discovery wrote; an empty map for results from before it did."""
        return _read_json(self.cluster_map) if self.cluster_map.is_file() else dict(EMPTY_MAP)

    def clean_uploads(self, keep: int, in_use: Collection[str] = ()) -> list[str]:
        """Remove stale half uploads and all but the newest `keep` uploads (those named in
        `in_use` stay whatever their age); the names removed."""
        if not self.raw_imports.is_dir():
            return []
        now = time.time()
        entries = [(path, path.stat().st_mtime) for path in self.raw_imports.iterdir()
                   if path.is_file()]
        stale = [path for path, mtime in entries
                 if path.name.startswith(UPLOAD_PREFIX) and now - mtime > STALE_UPLOAD_S]
        uploads = sorted((entry for entry in entries if not entry[0].name.startswith(".")),
                         key=lambda entry: entry[1], reverse=True)
        old = [path for path, _ in uploads[keep:] if path.name not in in_use]
        for path in stale + old:
            path.unlink(missing_ok=True)
        return [path.name for path in stale + old]

    def cluster_rows(self, slug: str) -> Iterator[dict[str, Any]]:
        """The messages of one discovered persona (none if it has no cluster file)."""
        return _jsonl_rows(self.cluster_messages(slug))


class AdapterFiles:
    """One persona's trained adapter under LORAS_DIR/<slug>: the PEFT folder of the last
    finished training, the trainer's scratch folder, its llama.cpp GGUF (written by
    registration) and what training recorded (base model, losses, state)."""

    def __init__(self, loras_dir: Path, slug: str) -> None:
        self.folder = Path(loras_dir) / slug
        self.adapter = self.folder / "adapter"
        self.trainer_work = self.folder / "trainer"
        self.gguf = self.folder / "adapter.gguf"
        self.merged = self.folder / "merged"
        self.metadata = self.folder / "metadata.json"

    def checkpoint(self, step: int) -> Path:
        """Where a cancelled training keeps the adapter as it was at `step`."""
        return self.folder / f"checkpoint-{step}"

    def read_metadata(self) -> dict[str, Any] | None:
        """None before any training."""
        return _read_json(self.metadata) if self.metadata.is_file() else None

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        write_json_atomic(self.metadata, metadata)

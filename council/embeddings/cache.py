"""Embeddings kept by the sha256 of their text, so each text is embedded once.

Discovery keeps them on disk: an export can hold tens of thousands of messages and a re-import
usually adds only a few, so a re-run embeds only what is new. Analytics keeps answers in
memory, bounded: a finished answer never changes, so a page reload embeds only new answers.
One class does both; the cache stores hashes and vectors, never the texts themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import Embedder, unit_rows

CACHE_FILE = "embeddings.npz"


def text_key(text: str) -> str:
    """The cache key of a text: its sha256 (lone surrogates from broken exports included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Vectors of one embedder by text key: persisted in `directory` when given, else in memory,
    at most `max_entries` (the oldest dropped first). Safe to share between threads."""

    def __init__(self, directory: Path | None = None, max_entries: int | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.max_entries = max_entries
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._lock = threading.Lock()
        self._load()

    @property
    def path(self) -> Path | None:
        return self.directory / CACHE_FILE if self.directory is not None else None

    @property
    def size(self) -> int:
        """How many distinct texts have a stored embedding."""
        return len(self._keys)

    def _load(self) -> None:
        """Read the file if present; an unreadable one is treated as empty, not fatal."""
        if self.path is None or not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys = json.loads(str(data["keys"]))
                vectors = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError):
            return
        if len(keys) == len(vectors):
            self._replace(list(keys), vectors)

    def _replace(self, keys: list[str], vectors: np.ndarray) -> None:
        self._keys, self._vectors = keys, vectors
        self._index = {key: i for i, key in enumerate(keys)}

    def _save(self) -> None:
        """Write to a temp file in the same directory, then os.replace: never a half file."""
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".embeddings-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=np.array(json.dumps(self._keys)), vectors=self._vectors)
            os.replace(tmp, self.directory / CACHE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def embed(self, texts: list[str], embedder: Embedder, batch_size: int = 64,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """len(texts) x dim float32 unit rows in input order; only uncached texts are embedded.

        New texts are embedded shortest first so each batch pads to similar lengths (faster);
        `progress(done, total)` is called after each batch, counting new texts only.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        keys = [text_key(text) for text in texts]
        with self._lock:
            missing = {key: text for key, text in zip(keys, texts, strict=True)
                       if key not in self._index}
            if missing:
                self._add(missing, embedder, batch_size, progress)
            if not keys:
                dim = self._vectors.shape[1] if self._vectors.ndim == 2 else 0
                return np.zeros((0, dim), dtype=np.float32)
            rows = self._vectors[[self._index[key] for key in keys]].astype(np.float32,
                                                                            copy=True)
            self._evict()
        return rows

    def _add(self, missing: dict[str, str], embedder: Embedder, batch_size: int,
             progress: Callable[[int, int], None] | None) -> None:
        order = sorted(missing, key=lambda k: len(missing[k]))
        chunks: list[np.ndarray] = []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            chunks.append(unit_rows(embedder.encode([missing[k] for k in batch])))
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
        new = np.concatenate(chunks)
        if self._vectors.size and self._vectors.shape[1] != new.shape[1]:
            raise ValueError(
                f"The embedding cache in {self.directory} holds {self._vectors.shape[1]}-"
                f"dimensional vectors but the embedder gives {new.shape[1]}; delete the "
                "cache directory to rebuild it for the new model.")
        vectors = new if not self._vectors.size else np.vstack([self._vectors, new])
        self._replace(self._keys + order, vectors)
        if self.directory is not None:
            self._save()

    def _evict(self) -> None:
        if self.max_entries is not None and len(self._keys) > self.max_entries:
            self._replace(self._keys[-self.max_entries:], self._vectors[-self.max_entries:])


def embedder_cache(directory: Path, embedder: Embedder) -> EmbeddingCache:
    """The on-disk cache of this embedder's vectors under `directory`, one folder per embedder,
    so vectors from different models never mix."""
    return EmbeddingCache(directory / embedder.name)

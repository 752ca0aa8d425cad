"""The embeddings package: one normalisation, and one cache that discovery keeps on disk and
analytics keeps in memory (bounded). The real models are tested in test_discovery_model.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from council.embeddings import unit_rows
from council.embeddings.cache import EmbeddingCache, embedder_cache


class CountingEmbedder:
    """A vector per text from its characters; records every text it is asked to embed."""

    def __init__(self, name: str = "counting", dim: int = 3) -> None:
        self.name, self.dim, self.seen = name, dim, []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        return np.array([[len(t), t.count("a"), 1.0][:self.dim] for t in texts], dtype=float)


def test_unit_rows_normalises_and_leaves_zero_rows_alone() -> None:
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32 and np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
    assert unit_rows(np.array([0.0, 2.0])).tolist() == [0.0, 1.0], "one vector works too"


def test_a_memory_cache_embeds_each_text_once_and_keeps_the_newest() -> None:
    cache, embedder = EmbeddingCache(max_entries=3), CountingEmbedder()
    first = cache.embed(["a", "bb", "a"], embedder)
    assert embedder.seen == ["a", "bb"] and np.array_equal(first[0], first[2])
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0)
    cache.embed(["ccc", "dddd"], embedder)
    assert cache.size == 3, "bounded: the oldest text was dropped"
    embedder.seen.clear()
    cache.embed(["bb", "ccc", "dddd", "a"], embedder)
    assert embedder.seen == ["a"], "only the dropped text is embedded again"
    assert cache.path is None


def test_a_disk_cache_is_per_embedder_and_refuses_other_dimensions(tmp_path: Path) -> None:
    three, two = CountingEmbedder("three", 3), CountingEmbedder("three", 2)
    cache = embedder_cache(tmp_path, three)
    cache.embed(["a", "b"], three)
    assert cache.path == tmp_path / "three" / "embeddings.npz" and cache.path.is_file()
    assert embedder_cache(tmp_path, three).size == 2, "read back from disk"
    with pytest.raises(ValueError, match="delete the cache directory"):
        embedder_cache(tmp_path, two).embed(["new text"], two)
    assert embedder_cache(tmp_path, CountingEmbedder("other")).size == 0

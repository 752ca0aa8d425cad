"""Persona discovery's model: embedding cache, clustering, and naming clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from council.discovery.cluster import (
    Clustering,
    DiscoveryError,
    cluster_embeddings,
    project_map,
)
from council.discovery.naming import class_tfidf_keywords, describe_clusters
from council.discovery.pipeline import MODE_BATCH_SIZES
from council.embeddings.cache import EmbeddingCache
from council.embeddings.int8 import Int8Embedder
from council.embeddings.sentence import SentenceEmbedder
from council.features.traits import categorize

PYTHON = [
    "Why does my Python script raise KeyError when I read the config dict?",
    "Python error: TypeError unsupported operand type(s) for +: 'int' and 'str', how to fix?",
    "I get IndexError list index out of range in my Python loop, what am I doing wrong?",
    "My Python import fails with ModuleNotFoundError even though pip installed the package",
    "How do I fix AttributeError 'NoneType' object has no attribute 'split' in Python?",
    "Python raises RecursionError maximum recursion depth exceeded in my function",
    "Getting a ValueError invalid literal for int() with base 10 in Python, why?",
    "Python traceback shows ZeroDivisionError in my average function, how to handle it?",
    "Why does Python say UnboundLocalError local variable referenced before assignment?",
    "My Python asyncio code raises RuntimeError event loop is closed, how do I debug it?",
    "Python SyntaxError invalid syntax on a line that looks fine, what could cause it?",
    "How to catch a FileNotFoundError in Python when the file path is wrong?",
    "Python json.loads throws JSONDecodeError expecting value, how do I fix the error?",
    "Why do I get a Python NameError name is not defined inside my class method?",
    "My Python unit test fails with AssertionError but the values look equal",
    "Python pandas raises SettingWithCopyWarning and then a KeyError, what is wrong?",
    "How can I debug a Python segmentation fault in a C extension?",
    "Python UnicodeDecodeError utf-8 codec can't decode byte when reading a csv file",
    "Python error: IndentationError unexpected indent after I pasted my code",
    "Why does my Python requests call raise ConnectionError max retries exceeded?",
]
COOKING = [
    "What is a good recipe for a creamy mushroom risotto for four people?",
    "How long should I roast a whole chicken at 200 degrees, and what herbs go well?",
    "Can you give me a simple recipe for homemade pizza dough with yeast?",
    "What can I cook for dinner with chickpeas, spinach and coconut milk?",
    "How do I make fluffy pancakes from scratch for breakfast?",
    "Recipe idea for a vegetarian lasagna with lots of vegetables and ricotta",
    "What spices do I need for an authentic chicken tikka masala recipe?",
    "How do I bake sourdough bread with a crispy crust at home?",
    "Give me a quick weeknight pasta recipe with garlic, tomatoes and basil",
    "How long do I boil eggs to get soft yolks for ramen?",
    "What is the best way to sear a steak in a cast iron pan?",
    "Recipe for a chocolate cake that stays moist, with a simple frosting",
    "How do I make a thai green curry paste from fresh ingredients?",
    "Easy recipe for banana bread using overripe bananas and walnuts",
    "What side dishes go well with grilled salmon for a dinner party?",
    "How can I make a rich beef stew in a slow cooker?",
    "Recipe for homemade guacamole with lime, onion and cilantro",
    "How do I caramelize onions properly without burning them in the pan?",
    "What is a good marinade for grilled chicken thighs on the barbecue?",
    "How do I cook fluffy basmati rice on the stove without it getting sticky?",
]
MARKETING = [
    "Draft a marketing plan for launching our new SaaS product to small businesses",
    "What marketing channels should a B2B startup prioritise with a small budget?",
    "Help me plan a social media marketing campaign for our spring product launch",
    "How should we position our brand against bigger competitors in the marketing plan?",
    "Create a content marketing strategy with blog posts and newsletters for next quarter",
    "What KPIs should I track for our email marketing campaign?",
    "Outline a go-to-market plan for a mobile app targeting college students",
    "How do I set a marketing budget split between paid ads and SEO?",
    "Write a marketing plan section on customer segments and personas",
    "Which influencer marketing tactics work for a small ecommerce brand?",
    "Plan a product launch marketing timeline with press, ads and a webinar",
    "How can we improve conversion rates in our marketing funnel for the trial signup?",
    "Suggest a referral marketing program to grow our customer base",
    "What should a quarterly marketing plan for a local bakery include?",
    "Help me write the marketing strategy for our B2B sales pitch deck",
    "How do I measure return on investment for our LinkedIn ad marketing campaign?",
    "Create a marketing plan to re-engage churned customers with email offers",
    "What pricing and promotion strategy should we use in the launch marketing plan?",
    "How should a startup plan its marketing for a trade show booth?",
    "Draft a brand awareness marketing campaign plan for a new coffee shop",
]
TEXTS = PYTHON + COOKING + MARKETING
TRUTH = np.repeat([0, 1, 2], 20)


class CountingEmbedder:
    """Wraps an embedder and records every text it is asked to embed."""

    def __init__(self, inner: SentenceEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def vectors(embedder: SentenceEmbedder) -> np.ndarray:
    return embedder.encode(TEXTS)


def _groups_separated(labels: np.ndarray) -> bool:
    """Each true group has at least 80% of its messages in one cluster, distinct per group."""
    majors = []
    for group in range(3):
        counts = np.bincount(labels[TRUTH == group])
        if counts.max() < 0.8 * 20:
            return False
        majors.append(int(counts.argmax()))
    return len(set(majors)) == 3


def test_auto_k_is_in_range_and_separates_the_groups(vectors: np.ndarray) -> None:
    result = cluster_embeddings(vectors, k_range=(3, 6), seed=0)
    assert 3 <= result.k <= 6
    assert sorted(result.scores) == [3, 4, 5, 6]
    assert result.silhouette == result.scores[result.k]
    assert result.warning is None
    forced = cluster_embeddings(vectors, clusters=3, seed=0)
    assert forced.k == 3 and forced.scores == {}
    assert _groups_separated(forced.labels)
    if result.k == 3:
        assert _groups_separated(result.labels)
    assert result.centroids.shape == (result.k, vectors.shape[1])
    assert np.allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-5)


def test_clustering_is_deterministic_for_a_seed(vectors: np.ndarray) -> None:
    first, second = (cluster_embeddings(vectors, seed=7, sample_size=30) for _ in range(2))
    assert first.k == second.k and first.scores == second.scores
    assert np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.centroids, second.centroids)


def test_profiles_name_keywords_and_representatives(vectors: np.ndarray) -> None:
    clustering = cluster_embeddings(vectors, clusters=3, seed=0)
    categories = [categorize(text) for text in TEXTS]
    profiles = describe_clusters(TEXTS, categories, vectors, clustering)
    assert [p.index for p in profiles] == [0, 1, 2]
    assert sum(p.size for p in profiles) == len(TEXTS)
    python = profiles[int(np.bincount(clustering.labels[TRUTH == 0]).argmax())]
    assert {"python", "error"} & set(python.keywords)
    assert python.traits["topics"][0][0] == "programming"
    assert python.name.startswith("The Debugger (") and "Python" in python.name
    marketing = profiles[int(np.bincount(clustering.labels[TRUTH == 2]).argmax())]
    assert "marketing" in marketing.keywords
    assert len({p.slug for p in profiles}) == 3 and len({p.name for p in profiles}) == 3
    for profile in profiles:
        members = {TEXTS[i] for i in np.flatnonzero(clustering.labels == profile.index)}
        assert len(profile.representatives) == 5
        assert set(profile.representatives) <= members
        assert 1 <= len(profile.keywords) <= 10
        assert 3 <= len(profile.characteristics) <= 6
        assert len(profile.centroid) == vectors.shape[1]
        assert 0.0 <= profile.traits["code_share"] <= 1.0
    again = describe_clusters(TEXTS, categories, vectors, clustering)
    assert again == profiles


def test_names_stay_unique_when_clusters_look_alike() -> None:
    texts = ["python error in my loop", "python error in my class"] * 2
    categories = [categorize(text) for text in texts]
    x = np.eye(4, dtype=np.float32)
    clustering = Clustering(labels=np.array([0, 1, 2, 3]), centroids=x, k=4,
                            silhouette=float("nan"), scores={})
    profiles = describe_clusters(texts, categories, x, clustering)
    assert len({p.slug for p in profiles}) == 4
    assert len({p.name for p in profiles}) == 4


def test_class_tfidf_drops_terms_top_in_every_cluster() -> None:
    keywords = class_tfidf_keywords(["shared apple apple", "shared banana banana"], top=3)
    assert keywords[0][0] == "apple" and keywords[1][0] == "banana"
    assert all("shared" not in words for words in keywords)


def test_giant_cluster_guard() -> None:
    rng = np.random.default_rng(0)
    base = np.zeros(16, dtype=np.float32)
    base[0] = 1.0
    giant = base + rng.normal(0, 0.01, size=(90, 16)).astype(np.float32)
    spread = np.eye(16, dtype=np.float32)[1:11] + rng.normal(0, 0.01, size=(10, 16))
    x = np.vstack([giant, spread]).astype(np.float32)
    result = cluster_embeddings(x, k_range=(3, 4), seed=0, max_share=0.6)
    assert result.warning is not None and "60%" in result.warning
    assert result.k in (3, 4)
    allowed = cluster_embeddings(x, k_range=(3, 4), seed=0, max_share=0.95)
    assert allowed.warning is None


def test_guard_prefers_a_k_without_a_giant_cluster() -> None:
    # 70 messages in two close sub-groups plus three small far groups: k=4 scores best but
    # lumps the 70 together (70% > 60%), so the guard takes k=5, which splits them.
    rng = np.random.default_rng(2)
    e = np.eye(8, dtype=np.float32)
    x = np.vstack([e[0] + rng.normal(0, 0.03, (35, 8)),
                   e[0] + 0.15 * e[1] + rng.normal(0, 0.03, (35, 8)),
                   *(e[i] + rng.normal(0, 0.03, (10, 8)) for i in (2, 3, 4))]).astype(np.float32)
    result = cluster_embeddings(x, k_range=(4, 5), seed=0, max_share=0.6)
    assert result.scores[4] > result.scores[5]
    assert result.k == 5 and result.warning is None
    assert np.bincount(result.labels).max() / len(x) <= 0.6
    assert result.silhouette == result.scores[5]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"clusters": 8}, "You asked for 8 clusters but only 5 messages remain"),
    ({"clusters": 1}, "at least 2"),
    ({"k_range": (1, 3)}, "invalid"),
    ({"k_range": (5, 6)}, "needs at least 6 distinct messages"),
])
def test_errors_for_too_few_messages(kwargs: dict, message: str) -> None:
    x = np.eye(5, dtype=np.float32)
    with pytest.raises(DiscoveryError, match=message):
        cluster_embeddings(x, **kwargs)


def test_error_for_empty_input() -> None:
    with pytest.raises(DiscoveryError, match="no messages"):
        cluster_embeddings(np.zeros((0, 8), dtype=np.float32))


def test_embedding_cache_embeds_only_new_texts(tmp_path: Path,
                                               embedder: SentenceEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    cache = EmbeddingCache(tmp_path / "cache")
    calls: list[tuple[int, int]] = []
    texts = TEXTS[:10] + [TEXTS[0]]  # a duplicate is embedded once
    first = cache.embed(texts, counting, batch_size=4, progress=lambda d, t: calls.append((d, t)))
    assert first.shape == (11, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first[0], first[10])
    assert len(counting.seen) == 10 and cache.size == 10
    assert calls == [(4, 10), (8, 10), (10, 10)]
    assert [len(t) for t in counting.seen] == sorted(len(t) for t in counting.seen)
    # bf16 autocast makes batch composition matter a little: compare by cosine
    assert np.min(np.sum(first * embedder.encode(texts), axis=1)) > 0.999

    counting.seen.clear()
    assert np.array_equal(cache.embed(texts, counting), first)
    assert counting.seen == []

    reopened = EmbeddingCache(tmp_path / "cache")
    assert reopened.size == 10
    mixed = reopened.embed([TEXTS[20], TEXTS[3]], counting)
    assert counting.seen == [TEXTS[20]]
    assert np.array_equal(mixed[1], first[3])
    assert EmbeddingCache(tmp_path / "cache").size == 11
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["embeddings.npz"]
    assert reopened.embed([], counting).shape == (0, 384)


def test_mode_batch_sizes() -> None:
    assert MODE_BATCH_SIZES == {"8GB": 32, "16GB": 64, "32GB": 128}


def test_int8_embedder_matches_the_torch_model(int8_embedder: Int8Embedder,
                                               embedder: SentenceEmbedder,
                                               vectors: np.ndarray) -> None:
    """Discovery's int8 ONNX MiniLM stays close to the router's model on real sentences."""
    quantised = int8_embedder.encode(TEXTS)
    assert quantised.shape == vectors.shape and quantised.dtype == np.float32
    assert np.allclose(np.linalg.norm(quantised, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(quantised * vectors, axis=1)
    assert cosines.mean() > 0.98 and cosines.min() > 0.95
    # the nearest neighbour of each sentence is the same in both spaces for most sentences
    same = (np.argsort(-(quantised @ quantised.T), axis=1)[:, 1]
            == np.argsort(-(vectors @ vectors.T), axis=1)[:, 1])
    assert same.mean() > 0.8
    assert int8_embedder.encode([]).shape == (0, 384)
    assert int8_embedder.name != embedder.name


def test_int8_model_is_built_once_and_reused(int8_embedder: Int8Embedder) -> None:
    built = int8_embedder.model_file
    assert built.is_file() and built.parent == int8_embedder.cache_dir
    stamp = built.stat().st_mtime_ns
    again = Int8Embedder(int8_embedder.cache_dir)
    assert np.allclose(again.encode(TEXTS[:3]), int8_embedder.encode(TEXTS[:3]), atol=1e-6)
    assert built.stat().st_mtime_ns == stamp
    # no temp files left (the cache folder is shared: other models keep folders there)
    assert [p.name for p in built.parent.iterdir() if p.is_file()] == [built.name]


def test_project_map_samples_and_keeps_labels(vectors: np.ndarray) -> None:
    labels = [f"c{i % 3}" for i in range(len(vectors))]
    full = project_map(vectors, labels)
    assert full["total"] == len(vectors) == len(full["points"])
    assert [p["cluster"] for p in full["points"]] == labels
    assert len(full["explained_variance"]) == 2 and sum(full["explained_variance"]) < 1.0
    sampled = project_map(vectors, labels, max_points=10)
    assert sampled["total"] == len(vectors) and len(sampled["points"]) == 10
    assert project_map(vectors[:2], labels[:2])["explained_variance"] == []

"""Describing clusters as personas: keywords, traits, a name, and representative messages.

Keywords come from class-based TF-IDF (as BERTopic does): each cluster's messages form one
document, so a term ranks high when it is frequent in that cluster and rare in the others.
Names are built by rule (no model), so the same clusters always get the same names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from ..features.traits import MessageTraits
from ..slugs import slugify
from .cluster import Clustering

TOP_KEYWORDS = 10
REPRESENTATIVES = 5
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b"  # words of 3+ letters: no numbers, no "a"/"of"

# Role noun per dominant topic: what someone who mostly asks about that topic is doing.
ROLE_NOUNS = {
    "programming": "Programmer", "data_ml": "Data Scientist", "writing": "Writer",
    "business": "Strategist", "science_math": "Scientist", "learning": "Learner",
    "personal": "Enthusiast", "creative": "Storyteller", "other": "Thinker",
}
TOPIC_WORDS = {"data_ml": "data and machine learning", "science_math": "science and maths",
               "personal": "personal life", "other": "no single topic"}
# How each question type (categorize's names) reads in a characteristic line.
QUESTION_LINES = {"how": "Asks how-to questions", "why": "Asks why things happen",
                  "what": "Asks what/which questions", "what_if": "Asks what-if questions",
                  "should_i": "Asks for advice (should I ...?)",
                  "compare": "Asks for comparisons", "request": "Mostly direct requests"}
# Words the English stop list keeps but that say nothing about a persona.
EXTRA_STOP_WORDS = ("does", "doing", "make", "good", "want", "need", "like", "use", "using",
                    "way", "help", "know", "just", "best", "really", "thing", "things", "let",
                    "tell", "sure", "thanks", "thank", "please", "hey", "hello", "okay")
STOP_WORDS = sorted(ENGLISH_STOP_WORDS.union(EXTRA_STOP_WORDS))


@dataclass(frozen=True)
class ClusterProfile:
    index: int
    name: str
    slug: str
    size: int
    keywords: list[str]
    traits: dict[str, Any]
    characteristics: list[str]
    representatives: list[str]
    centroid: list[float]


def class_tfidf_keywords(documents: list[str], top: int = TOP_KEYWORDS) -> list[list[str]]:
    """Top c-TF-IDF terms per class document; terms top in every class are dropped."""
    if not any(doc.strip() for doc in documents):
        return [[] for _ in documents]
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), min_df=1,
                                 token_pattern=TOKEN_PATTERN)
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return [[] for _ in documents]
    terms = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(documents)
    frequency = counts.sum(axis=0)
    weights = tf * np.log1p(average_words / np.maximum(frequency, 1.0))
    # Stable order: weight desc, then term asc, so ties never depend on anything but the text.
    ranked = [[j for j in sorted(np.flatnonzero(row > 0), key=lambda j, r=row: (-r[j], terms[j]))]
              for row in weights]
    pool = 2 * top
    if len(documents) > 1:
        common = set.intersection(*(set(r[:pool]) for r in ranked))
    else:
        common = set()
    return [[str(terms[j]) for j in r if j not in common][:top] for r in ranked]


def _shares(values: list[str], limit: int = 3) -> list[list[Any]]:
    counts = Counter(values)
    total = max(len(values), 1)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [[value, round(count / total, 2)] for value, count in ordered]


def _traits(cats: list[MessageTraits]) -> dict[str, Any]:
    """Dominant labels with their shares of the cluster's messages."""
    size = max(len(cats), 1)
    question_counts = Counter(q for c in cats for q in set(c.question_types))
    questions = sorted(question_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return {
        "topics": _shares([c.topic for c in cats]),
        "tones": _shares([c.tone for c in cats]),
        "question_types": [[q, round(n / size, 2)] for q, n in questions],
        "length": _shares([c.length for c in cats]),
        "code_share": round(sum(c.has_code for c in cats) / size, 2),
    }


def _characteristics(traits: dict[str, Any], keywords: list[str]) -> list[str]:
    """3-6 readable lines summarising the traits."""
    lines = []
    if traits["topics"]:
        topic, share = traits["topics"][0]
        lines.append(f"Mostly about {TOPIC_WORDS.get(topic, topic)} ({share:.0%})")
    if traits["tones"]:
        tone, share = traits["tones"][0]
        code = traits["code_share"]
        extra = f", often includes code ({code:.0%})" if code >= 0.2 else ""
        lines.append(f"Tone is mostly {tone} ({share:.0%}){extra}")
    if traits["question_types"]:
        question, share = traits["question_types"][0]
        lines.append(f"{QUESTION_LINES.get(question, 'Asks ' + question)} ({share:.0%})")
    if traits["length"]:
        length, share = traits["length"][0]
        lines.append(f"Messages are mostly {length} ({share:.0%})")
    if keywords:
        lines.append("Often mentions " + ", ".join(keywords[:5]))
    while len(lines) < 3:
        lines.append("No strong pattern beyond the keywords")
    return lines[:6]


def _base_name(topic: str, keywords: list[str]) -> str:
    """"The <Keyword> <Role>": the top single-word keyword adjectivally before the role noun."""
    role = ROLE_NOUNS.get(topic, ROLE_NOUNS["other"])
    word = next((k for k in keywords if " " not in k and k.lower() not in role.lower()), "")
    return f"The {word.title()} {role}" if word else f"The {role}"


def _unique_names(bases: list[str], keywords: list[list[str]]) -> list[str]:
    """Disambiguate equal names with a further keyword, then with a number."""
    names = list(bases)
    for base in set(bases):
        clashing = [i for i, b in enumerate(bases) if b == base]
        if len(clashing) < 2:
            continue
        for i in clashing:
            extra = next((k for k in keywords[i] if k.lower() not in base.lower()
                          and " " not in k), "")
            names[i] = f"{base} ({extra.title()})" if extra else base
    result: list[str] = []
    used: set[str] = set()
    for name in names:  # then a number, until the slug (what must be unique) is free
        candidate, n = name, 2
        while slugify(candidate) in used:
            candidate, n = f"{name} {n}", n + 1
        used.add(slugify(candidate))
        result.append(candidate)
    return result


def describe_clusters(texts: list[str], categories: list[MessageTraits], embeddings: np.ndarray,
                      clustering: Clustering) -> list[ClusterProfile]:
    """One profile per cluster, in cluster index order."""
    if not len(texts) == len(categories) == len(embeddings) == len(clustering.labels):
        raise ValueError("texts, categories, embeddings and labels must have the same length")
    labels = np.asarray(clustering.labels)
    x = np.asarray(embeddings, dtype=np.float32)
    members = [np.flatnonzero(labels == c) for c in range(clustering.k)]
    keywords = class_tfidf_keywords(["\n".join(texts[i] for i in m) for m in members])
    traits = [_traits([categories[i] for i in m]) for m in members]
    bases = [_base_name(t["topics"][0][0] if t["topics"] else "other", kw)
             for t, kw in zip(traits, keywords, strict=True)]
    names = _unique_names(bases, keywords)
    profiles = []
    for c, idx in enumerate(members):
        centroid = clustering.centroids[c]
        nearest = idx[np.argsort(-(x[idx] @ centroid), kind="stable")[:REPRESENTATIVES]]
        profiles.append(ClusterProfile(
            index=c, name=names[c], slug=slugify(names[c]) or f"persona-{c + 1}",
            size=len(idx), keywords=keywords[c], traits=traits[c],
            characteristics=_characteristics(traits[c], keywords[c]),
            representatives=[texts[i] for i in nearest],
            centroid=[float(v) for v in centroid]))
    return profiles

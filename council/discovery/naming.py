"""Describing clusters as personas: keywords, traits, a name, and representative messages.

Keywords come from class-based TF-IDF (as BERTopic does) over the user's prose only
(`vocabulary.prose`: no code, markup or identifiers), without the stop words of any language the
export is written in (`languages`); a term is a word or two the user wrote side by side. Each
cluster's messages form one document, so a term ranks high when it is frequent in that cluster
and rare in the others. A name says the cluster's
mode and its domain, "The Debugger (pandas merge)": the role from the mode its messages show
most telling (`roles`; "Generalist" when none reaches a fifth of them), the domain from its top
keywords as the user spells them, more of them only where two names would clash. Names are
built by rule here, so the same clusters always get the same names; `writer` may replace them
with names the local model writes, checked by the same rules (`vocabulary.name_problems`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from ..features.traits import MessageTraits
from ..slugs import slugify
from .cluster import Clustering
from .languages import ENGLISH, Languages, detect_languages
from .roles import GENERAL, MIN_MODE_SHARE, MODE_BY_KEY, message_modes, mode_shares
from .traits_lines import characteristics
from .vocabulary import display_forms, is_content_word, prose

TOP_KEYWORDS = 10
BIGRAM_RANK = 6  # a bigram this high among the keywords may name the domain
REPRESENTATIVES = 5
# Words every stop list keeps but that say nothing about a persona (the politeness of the
# languages roles.yaml knows included: "bitte schreib" is no domain).
EXTRA_STOP_WORDS = frozenset(("does", "doing", "make", "good", "want", "need", "like", "use",
                              "using", "way", "help", "know", "just", "best", "really", "thing",
                              "things", "let", "lets", "tell", "sure", "thanks", "thank",
                              "please", "hey", "hello", "okay", "question", "questions",
                              "answer", "answers", "write", "give", "show", "explain",
                              "provide", "generate", "create", "add", "assume", "run", "rerun",
                              "following", "based", "incorrect", "correct", "able", "try",
                              "bitte", "danke", "alsjeblieft", "alstublieft", "graag", "bedankt",
                              "merci", "svp"))
ENGLISH_ONLY = Languages((ENGLISH,), ())
TOKEN_RE = re.compile(r"[^\W_]+")  # every run of letters or digits, short ones included
PHRASE_BREAK_RE = re.compile(r"[.,;:!?()\[\]{}\"“”«»…\n]+|\s[-–—]\s")
# The domain when no keyword is left: what the cluster's dominant topic is about.
TOPIC_DOMAINS = {"programming": "software", "data_ml": "data", "writing": "texts",
                 "business": "business", "science_math": "science", "learning": "studies",
                 "personal": "daily life", "creative": "stories", "other": "mixed topics"}


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
    mode: str = ""                     # roles.MODES key: the way of working the name says
    domain: str = ""                   # what the name says it is about
    name_source: str = "template"      # who wrote the name: "template" or "llm"
    traits_source: str = "template"    # who wrote the characteristics
    notes: list[str] = field(default_factory=list)  # why the template's were kept


def stop_words_for(languages: Languages) -> frozenset[str]:
    """What keywords and names leave out: the languages' stop lists and the words above."""
    return languages.stop_words | ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS


def terms_of(document: str, stop_words: frozenset[str]) -> list[str]:
    """A document's content words (casefolded) and the pairs of them the user wrote side by
    side: a pair never spans a stop word, a number, a full stop, a comma or two messages."""
    terms = []
    for phrase in PHRASE_BREAK_RE.split(document):
        tokens = [(t, is_content_word(t, stop_words))
                  for t in (m.casefold() for m in TOKEN_RE.findall(phrase))]
        terms += [t for t, content in tokens if content]
        terms += [f"{a} {b}" for (a, a_content), (b, b_content) in pairwise(tokens)
                  if a_content and b_content and a != b]
    return terms


def class_tfidf_keywords(documents: list[str], top: int = TOP_KEYWORDS,
                         stop_words: frozenset[str] | None = None) -> list[list[str]]:
    """Top c-TF-IDF terms per class document; terms top in every class are dropped."""
    stop = stop_words_for(ENGLISH_ONLY) if stop_words is None else stop_words
    vectorizer = CountVectorizer(analyzer=lambda document: terms_of(document, stop))
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


def _traits(cats: list[MessageTraits], modes: list[list[str]],
            languages: list[tuple[str, float]]) -> dict[str, Any]:
    """Dominant labels with their shares of the cluster's messages."""
    size = max(len(cats), 1)
    question_counts = Counter(q for c in cats for q in set(c.question_types))
    questions = sorted(question_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    reasoning_counts = Counter(r for c in cats for r in set(c.reasoning_markers))
    reasoning = sorted(reasoning_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return {
        "modes": [[key, round(share, 2)] for key, share in mode_shares(modes)[:3]],
        "topics": _shares([c.topic for c in cats]),
        "tones": _shares([c.tone for c in cats]),
        "question_types": [[q, round(n / size, 2)] for q, n in questions],
        "reasoning": [[r, round(n / size, 2)] for r, n in reasoning],
        "length": _shares([c.length for c in cats]),
        "code_share": round(sum(c.has_code for c in cats) / size, 2),
        "languages": [[code, round(share, 2)] for code, share in languages[:3]],
    }


def _modes(traits: dict[str, Any], overall: dict[str, float]) -> list[str]:
    """The modes at least MIN_MODE_SHARE of this cluster's messages show, most telling first:
    the share weighed by how much more often than in the whole export (so a mode every
    cluster shares does not name them all); the general mode when none does."""
    shown = [(key, share) for key, share in traits["modes"] if share >= MIN_MODE_SHARE]
    ranked = sorted(shown, key=lambda ks: -ks[1] * (ks[1] / max(overall[ks[0]], 1e-9)) ** 0.5)
    return [key for key, _ in ranked] or [GENERAL.key]


def _domain_words(keywords: list[str], mode: str, role: str, topic: str,
                  forms: dict[str, str]) -> list[str]:
    """Keywords as the user spells them, none saying the mode again ("The Debugger (error)"):
    the domain says what the mode is about. It leads with a name the user capitalises
    (Python, Django, a German noun) when one is among the top keywords, with the word it
    qualifies where a top pair has one ("Python scripts"); else with the top pair the user
    wrote ("pandas merge"), else the top word; the topic stands in when no keyword is left."""
    stems = {w.casefold()[:5] for w in role.split()}
    cues = MODE_BY_KEY[mode].cues

    def usable(term: str) -> bool:
        return not any(w.casefold()[:5] in stems or cues.fullmatch(w) for w in term.split())

    terms = [k for k in keywords if usable(k)]
    words = [k for k in terms if " " not in k]
    if not words:
        return [TOPIC_DOMAINS.get(topic, TOPIC_DOMAINS["other"])]
    top = terms[:BIGRAM_RANK]
    named = next((w for w in words if w in top and forms.get(w, w)[:1].isupper()), None)
    pairs = [k for k in top if " " in k and (named is None or k.startswith(named + " "))]
    first = pairs[0] if pairs else named or words[0]
    rest = [w for w in words if w not in first.split()]
    return [" ".join(forms.get(w, w) for w in term.split()) for term in [first, *rest]]


def _domain(words: list[str], count: int) -> str:
    return ", ".join(words[:count])


def unique_names(roles: list[list[str]], domains: list[list[str]]) -> list[tuple[str, str]]:
    """(name, domain) per cluster: its first role with one domain word; where names clash,
    more domain words, then the role of its next mode, and a number only as the last resort
    (two clusters with the same keywords and modes)."""
    choice = [(0, 1)] * len(roles)  # (which role, how many domain words)
    steps = [(0, n) for n in (2, 3)] + [(r, 1) for r in (1, 2)]

    def name(i: int) -> str:
        role, words = choice[i]
        return f"The {roles[i][min(role, len(roles[i]) - 1)]} ({_domain(domains[i], words)})"

    for step in steps:
        names = [name(i) for i in range(len(roles))]
        clashing = [i for i, n in enumerate(names) if names.count(n) > 1]
        if not clashing:
            break
        for i in clashing[1:]:  # the first of each clash keeps its name
            if names.index(names[i]) != i:
                choice[i] = step
    result: list[tuple[str, str]] = []
    used: set[str] = set()
    for i in range(len(roles)):
        candidate, number = name(i), 2
        while slugify(candidate) in used:  # the slug is what must be unique
            candidate, number = f"{name(i)} {number}", number + 1
        used.add(slugify(candidate))
        result.append((candidate, _domain(domains[i], choice[i][1])))
    return result


def describe_clusters(texts: list[str], categories: list[MessageTraits], embeddings: np.ndarray,
                      clustering: Clustering,
                      languages: Languages | None = None) -> list[ClusterProfile]:
    """One profile per cluster, in cluster index order (languages detected when not given)."""
    if not len(texts) == len(categories) == len(embeddings) == len(clustering.labels):
        raise ValueError("texts, categories, embeddings and labels must have the same length")
    languages = languages or detect_languages(texts)
    stop_words = stop_words_for(languages)
    labels = np.asarray(clustering.labels)
    x = np.asarray(embeddings, dtype=np.float32)
    proses = [prose(text) for text in texts]
    forms = display_forms(proses)
    modes = [message_modes(t, c) for t, c in zip(texts, categories, strict=True)]
    overall = dict(mode_shares(modes))
    members = [np.flatnonzero(labels == c) for c in range(clustering.k)]
    keywords = class_tfidf_keywords(["\n".join(proses[i] for i in m) for m in members],
                                    stop_words=stop_words)
    traits = [_traits([categories[i] for i in m], [modes[i] for i in m],
                      languages.shares(m) if languages.per_message else []) for m in members]
    mode_keys = [_modes(t, overall) for t in traits]
    topics = [t["topics"][0][0] if t["topics"] else "other" for t in traits]
    roles = [[MODE_BY_KEY[key].role_for(topic) for key in keys]
             for keys, topic in zip(mode_keys, topics, strict=True)]
    named = unique_names(roles, [
        _domain_words(kw, keys[0], role[0], topic, forms)
        for kw, keys, role, topic in zip(keywords, mode_keys, roles, topics, strict=True)])
    profiles = []
    for c, idx in enumerate(members):
        centroid = clustering.centroids[c]
        nearest = idx[np.argsort(-(x[idx] @ centroid), kind="stable")[:REPRESENTATIVES]]
        shown = [" ".join(forms.get(w, w) for w in k.split()) for k in keywords[c]]
        name, domain = named[c]
        profiles.append(ClusterProfile(
            index=c, name=name, slug=slugify(name) or f"persona-{c + 1}",
            size=len(idx), keywords=keywords[c], traits=traits[c],
            characteristics=characteristics(traits[c], shown, len(idx)),
            representatives=[texts[i] for i in nearest],
            centroid=[float(v) for v in centroid], mode=mode_keys[c][0], domain=domain))
    return profiles

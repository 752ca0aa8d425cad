"""`@mentions` read by the name the page shows, so that "@TheLearner(docker)", "@the learner"
or "@Learner" ask the persona the user sees (the page never shows slugs), and a mention that
names no one, several, or a disabled persona is said in the round instead of left silently to
the router.

A mention is compared with every persona ignoring case, spaces and punctuation; the first rule
that any enabled persona meets decides, and it must be met by exactly one:

1. `@everyone`: every enabled persona;
2. the whole name ("@TheLearner(docker)", "@the-learner docker");
3. the slug;
4. one word of the name other than "the", "a", "an", "of", "and" (the role "Learner", the
   domain "docker"), the role as a whole ("@DataAnalyst" for "The Data Analyst (pandas)") or
   the name without its "The" ("@Learner(docker)");
5. the start, three letters or more, of the name, the role or one of those words ("@Learn").

A name may hold spaces, so each rule is tried on the longest run of words after the `@` (on
its line, up to the next `@`) first. Mentions in code (between backticks) and e-mail addresses
are not mentions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..models import Persona

EVERYONE = "everyone"
ARTICLES = frozenset(("the", "a", "an", "of", "and"))
MIN_PREFIX = 3
MAX_WORDS = 6  # a mention's name spans at most this many words
MAX_LISTED = 5  # candidates a notice names before "or N more"
MENTION_START = re.compile(r"(?<![\w@.])@(?=[^\W_])")
CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
POSSESSIVE = re.compile(r"['’]s\W*$")
WORD = re.compile(r"[^\W_]+")


def normalized(text: str) -> str:
    """`text` as mentions compare it: case-folded letters and digits, accents dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", text).casefold() if c.isalnum())


@dataclass(frozen=True)
class Names:
    """What a mention of one persona may say, normalized."""

    persona: Persona
    name: str
    slug: str
    words: frozenset[str]  # each word but the articles, the role, the name after "The"

    @classmethod
    def of(cls, persona: Persona) -> Names:
        words = body_words(persona.name)
        role = body_words(re.sub(r"\(.*?\)", " ", persona.name))  # without "(domain)"
        keys = {normalized(w) for w in words} - ARTICLES
        keys |= {normalized("".join(words)), normalized("".join(role))}
        return cls(persona, normalized(persona.name), normalized(persona.slug),
                   frozenset(keys - {""}))


def body_words(name: str) -> list[str]:
    """The words of `name` after its leading articles ("The Learner" → ["Learner"])."""
    words = WORD.findall(name)
    while words and words[0].casefold() in ARTICLES:
        words.pop(0)
    return words


RULES: tuple[Callable[[Names, str], bool], ...] = (
    lambda n, key: key == n.name,
    lambda n, key: key == n.slug,
    lambda n, key: key in n.words,
    lambda n, key: len(key) >= MIN_PREFIX and any(k.startswith(key) for k in (n.name, *n.words)),
)


@dataclass(frozen=True)
class Mention:
    """One `@…` in a question: the words after the `@` that may be part of the name."""

    words: tuple[str, ...]

    def spans(self) -> list[tuple[str, str]]:
        """(as typed, normalized) for each run of the first words, longest first."""
        runs = [" ".join(self.words[:k]) for k in range(len(self.words), 0, -1)]
        return [(run, normalized(POSSESSIVE.sub("", run))) for run in runs]

    def shown(self, typed: str | None = None) -> str:
        """The mention as a notice quotes it, without the sentence's trailing punctuation."""
        return "@" + (typed or self.words[0]).rstrip(".,;:!?…'\"’")


def mentions_in(question: str) -> list[Mention]:
    """Every `@…` in `question` outside code."""
    text = CODE.sub(lambda m: " " * len(m.group()), question)
    found = []
    for start in MENTION_START.finditer(text):
        words = text[start.end():].split("\n", 1)[0].split()[:MAX_WORDS]
        cut = next((i for i, w in enumerate(words) if i and w.startswith("@")), len(words))
        found.append(Mention(tuple(words[:cut])))
    return found


@dataclass(frozen=True)
class Match:
    """Whom one mention names: `personas` (one when it is clear), `typed` the words it used."""

    typed: str
    personas: list[Persona]

    def names(self) -> list[str]:
        return [p.name for p in self.personas]


def match(mention: Mention, names: Sequence[Names]) -> Match | None:
    """The first rule that some of `names` meet, on the longest run of words first."""
    spans = mention.spans()
    for rule in RULES:
        for typed, key in spans:
            found = [n.persona for n in names if key and rule(n, key)]
            if found:
                return Match(typed, found)
    return None


@dataclass(frozen=True)
class Resolved:
    """What the mentions of a question ask: `chosen` persona ids, and what the page must say
    about the mentions that named no one clearly."""

    chosen: frozenset[int]
    problems: tuple[str, ...] = ()

    def notice(self) -> str | None:
        """One sentence per unclear mention, and what the round did instead."""
        if not self.problems:
            return None
        outcome = ("Only the personas you named clearly answer." if self.chosen else
                   "The router chose who answers; type @ to pick a name from the list.")
        return "; ".join(self.problems) + ". " + outcome


def resolve(question: str, personas: Sequence[Persona]) -> Resolved:
    """The personas `question`'s mentions name (only enabled ones answer), and the notice
    for each mention that named no one, several, or only a disabled persona."""
    enabled = [Names.of(p) for p in personas if p.enabled]
    disabled = [Names.of(p) for p in personas if not p.enabled]
    chosen: set[int] = set()
    problems: dict[str, str] = {}
    for mention in mentions_in(question):
        if normalized(mention.words[0]) == EVERYONE:
            chosen.update(n.persona.id for n in enabled)
            continue
        found = match(mention, enabled)
        if found and len(found.personas) == 1:
            chosen.add(found.personas[0].id)
            continue
        shown = mention.shown(found.typed if found else None)
        problems.setdefault(shown.casefold(), problem(shown, found, match(mention, disabled)))
    return Resolved(frozenset(chosen), tuple(problems.values()))


def problem(shown: str, found: Match | None, off: Match | None) -> str:
    """Why `shown` asked no one: several enabled personas, only disabled ones, or none."""
    if found:
        return f"{shown} could be {listed(found.names())}"
    if off:
        return f"{shown} names {listed(off.names())}, disabled on the Personas page"
    return f"{shown} names no persona"


def listed(names: list[str]) -> str:
    """'A, B or C', with at most MAX_LISTED names and how many more."""
    shown = names[:MAX_LISTED]
    if len(names) > MAX_LISTED:
        shown.append(f"{len(names) - MAX_LISTED} more")
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"

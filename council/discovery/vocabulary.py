"""Which words may describe a persona: the user's own prose, never markup or code.

Keywords and names are read from each message's prose only: pasted code and logs, HTML tags,
Markdown syntax, URLs, LaTeX commands and identifier-shaped tokens (`snake_case`, `lowerCamel`,
`KeyError`, `file.py`, anything with a digit) are removed before any word is counted. What is
left is checked once more against words that are only ever markup or code (`div`, `href`,
`self`, `elif`, …) and the stop words of the export's languages. `name_problems` is the one
check of a persona name, for the template's names and for the ones a model writes.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter, defaultdict

from ..features.code import without_code
from .roles import GENERAL, MODES

# HTML tags and attributes, CSS units, Markdown and URL parts that are not also everyday
# words ("table", "form", "data" and "video" are both, so the user's prose may use them): as
# a name they would say "this person pastes HTML", not what they think about.
MARKUP_WORDS = frozenset("""abbr bdi bdo blockquote br colgroup datalist dd dfn div dl dt em
fieldset figcaption hgroup hr iframe img kbd li nav noscript ol optgroup rp rt samp span tbody
td textarea tfoot th thead tr ul wbr svg tspan html xhtml href src alt rel lang charset onclick
onload onchange tabindex aria colspan rowspan nbsp quot amp px rem rgba rgb hsl vh vw webkit
moz css http https www xml json yaml png jpg jpeg gif utf""".split())
# Identifiers and keywords that are only ever code, across the languages people paste most
# (Python's own keywords included; its soft keywords "match", "case", "type" are everyday words).
CODE_WORDS = frozenset(set(keyword.kwlist) | set("""self cls init args kwargs def len str int
dict tuple bool isinstance enumerate repr iter func fn println printf sprintf cout cin endl std
namespace typeof instanceof struct enum impl pub mut usize malloc sizeof const var null nullptr
nil undefined void nan stdout stdin stderr argv argc params param sudo chmod grep awk sed npm
pip venv foo bar baz qux lorem ipsum todo fixme varchar nvarchar tostring getattr setattr
hasattr endif esac dtype ndarray iloc idx tmp df np plt pd tf""".split()))
SQL_KEYWORDS = frozenset("SELECT INSERT UPDATE DELETE FROM WHERE JOIN VALUES INTO CREATE ALTER "
                         "DROP TABLE GROUP ORDER HAVING LIMIT".split())  # in capitals only
# Words of 3+ letters; digits and underscores never belong to one.
WORD_RE = re.compile(r"(?u)\b[^\W\d_]{3,}\b")
TAG_RE = re.compile(r"<!--.*?-->|<[/!?]?[A-Za-z][^<>]*>", re.DOTALL)
_STRIP_RES = (
    re.compile(r"!\[[^\]]*\]\([^)]*\)"),                      # Markdown images
    re.compile(r"`[^`\n]*`"),                                  # inline code
    TAG_RE,                                                    # HTML/XML tags, comments
    re.compile(r"&(?:[a-zA-Z]+|#\d+);"),                       # HTML entities
    re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+"),        # URLs and e-mail addresses
    re.compile(r"\\[a-zA-Z]+"),                                # LaTeX commands
    re.compile(r"\[(?:code|log)[^\]]*\]"),                     # without_code's placeholders
)
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")  # [text](url) keeps its text
_EDGE_PUNCTUATION = "\"'()[]{}<>,;:!?*«»“”‘’"


def is_code_shaped(token: str) -> bool:
    """`snake_case`, `file.py`, `x2`, `a/b`, `lowerCamel`, `KeyError`-style class names."""
    if re.search(r"[{}\[\]$<>=;]|\w\(", token):
        return True
    core = token.strip(_EDGE_PUNCTUATION).rstrip(".")
    if not core:
        return False
    if re.search(r"[\d_=/\\#$%^|~+]|\w\.\w|\w::\w|\w->\w|\(\)", core):
        return True
    if core in SQL_KEYWORDS:
        return True
    if re.fullmatch(r"[a-z]+[A-Z][A-Za-z]*", core):  # lowerCamel (useState, getElementById)
        return True
    return bool(re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception|Warning)", core))


def prose(text: str) -> str:
    """The user's own words in a message: no code, logs, markup, URLs or identifiers (a line
    with two tags or more is pasted markup, its text included)."""
    text = "\n".join(line for line in without_code(text).splitlines()
                     if len(TAG_RE.findall(line)) < 2)
    text = _LINK_RE.sub(r"\1", _STRIP_RES[0].sub(" ", text))
    for pattern in _STRIP_RES[1:]:
        text = pattern.sub(" ", text)
    lines = (" ".join(t for t in line.split() if not is_code_shaped(t)) for line in
             text.splitlines())
    return "\n".join(line for line in lines if line)


def is_markup_or_code(word: str) -> bool:
    folded = word.casefold()
    return folded in MARKUP_WORDS or folded in CODE_WORDS or is_code_shaped(word)


def is_content_word(word: str, stop_words: frozenset[str]) -> bool:
    """A word that may describe a persona: 3+ letters, no stop word, markup or code."""
    return (bool(WORD_RE.fullmatch(word)) and word.casefold() not in stop_words
            and not is_markup_or_code(word))


def display_forms(texts: list[str]) -> dict[str, str]:
    """Each word's most frequent spelling inside a sentence ("python" -> "Python", but a
    "Missing" that only ever opens a sentence, or a "Title:" label, stays lower case)."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        for match in WORD_RE.finditer(text):
            word, start, end = match.group(0), match.start(), match.end()
            before = text[max(start - 3, 0):start]
            opens_sentence = start == 0 or "\n" in before or \
                before.rstrip()[-1:] in tuple(".!?:\"'") or text[end:end + 1] == ":"
            forms[word.casefold()][word.casefold() if opens_sentence else word] += 1
    return {folded: min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            for folded, counts in forms.items()}


# A persona name: "The <Role, 1-3 capitalised words> (<domain, 1-4 words>)".
NAME_RE = re.compile(r"The (?P<role>[A-Z][a-z]+(?:[- ][A-Z][a-z]+){0,2}) "
                     r"\((?P<domain>[^()]{2,40})\)")
NAME_WORD_RE = re.compile(r"[^\s,&/]+")
MAX_NAME_CHARS = 60
ROLE_NOUNS = frozenset(mode.role.split()[-1] for mode in (*MODES, GENERAL)) | frozenset(
    role.split()[-1] for mode in MODES for role in mode.topic_roles.values())
# Word endings of people who do something (Gardener, Mentor, Analyst, Architect, Musician)…
AGENT_RE = re.compile(r"(?:er|or|ist|yst|ian|ant|ent|ect|ee|eur|smith|wright|ic|ive)$")
# …and the common words with those endings that are things, not people.
THINGS = frozenset("""error color colour mirror floor door paper number order water power
computer server folder filter buffer layer other user letter matter chapter center centre
poster corner border cluster register parameter character pattern pointer monitor vector
sensor motor factor sector tensor content element event moment
document segment argument environment comment statement management development requirement
assignment experiment department payment plant variant constant topic logic music
traffic graphic public basic magic fabric metric""".split())


def name_words(name: str) -> list[str]:
    """The words a name is made of, without its leading article "The"."""
    match = NAME_RE.fullmatch(name)
    body = f"{match['role']} {match['domain']}" if match else name.removeprefix("The ")
    return [w for w in NAME_WORD_RE.findall(body.replace("-", " "))]


def is_role(role: str) -> bool:
    """A role names someone who works a certain way: one of the modes' roles, or a word for a
    person ("Gardener", "Mentor"), not a thing ("Error", "Marketing Plan")."""
    last = role.split()[-1] if role.split() else ""
    return last in ROLE_NOUNS or (bool(AGENT_RE.search(last)) and last.casefold() not in THINGS)


def name_problems(name: str, stop_words: frozenset[str]) -> list[str]:
    """Why `name` is not a good persona name (empty when it is): form, length and words."""
    problems = []
    if len(name) > MAX_NAME_CHARS:
        problems.append(f"longer than {MAX_NAME_CHARS} characters")
    match = NAME_RE.fullmatch(name)
    if not match:
        problems.append('not of the form "The Role (domain)"')
    elif not is_role(match["role"]):
        problems.append(f"{match['role']!r} does not name a role (someone who works a way)")
    for word in name_words(name):
        if not WORD_RE.fullmatch(word) and not re.fullmatch(r"[A-Z]{2}", word):
            problems.append(f"{word!r} is not a word")
        elif word.casefold() in stop_words:
            problems.append(f"{word!r} is a stop word")
        elif is_markup_or_code(word):
            problems.append(f"{word!r} is markup or code")
    return problems

"""The one taxonomy of what a message is like: topic, tone, reasoning, question types, length,
code.

The router's rules (`question:should_i`, `topic:programming`, …) and discovery's cluster traits
name the same labels, decided by the same rules here, so a routing rule can name a trait that
discovery found. No model runs: every rule is a keyword tuple or a compiled regex below, so a
label can be explained by pointing at the rule that fired. Labels read only the first
ANALYSIS_CHARS characters, which say what a message is about and keep a pasted megabyte fast.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import islice

from .code import has_code, without_code

ANALYSIS_CHARS = 20_000
TOPICS = ("programming", "data_ml", "writing", "business", "science_math", "learning",
          "personal", "creative", "other")
TONES = ("formal", "casual", "technical", "exploratory")
LENGTHS = ("short", "medium", "long")
SHORT_WORDS, MEDIUM_WORDS = 15, 80  # length: < 15 words short, < 80 medium, else long


def _words_re(*alternations: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """Match any "|"-separated fragment (a regex) as a whole word; lookarounds let "c++" count."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternations) + r")(?!\w)", flags)


# Topic keywords: "|"-separated regex fragments, matched case-insensitively as whole words.
# Score = hits, each distinct hit counted at most 3 times (code adds 2 to programming); the
# highest score wins, ties go to the earlier topic in TOPICS; no hit at all -> "other".
TOPIC_KEYWORDS: dict[str, tuple[str, ...]] = {
    "programming": (
        r"python|javascript|typescript|java|rust|golang|c\+\+|c#|code|coding|program(?:ming)?",
        r"function|method|variable|bugs?|debug\w*|errors?|exceptions?|compil\w+|apis?|regex",
        r"endpoints?|sql|database|git|github|docker|kubernetes|linux|bash|scripts?|library",
        r"framework|react|django|flask|node(?:\.js)?|npm|pip|refactor\w*|unit tests?|pytest",
        r"frontend|backend|server|http|json|css|html|async|threads?|segfault|stack trace",
        r"traceback|deploy\w*|repo|algorithm|recursion|array|string|integer|null|undefined",
        r"pointer|software|app|list comprehension|dict(?:ionary)?|loops?|postgres\w*|mongo\w*"),
    "data_ml": (
        r"machine learning|ml|deep learning|neural net(?:work)?s?|datasets?|data set|pandas",
        r"numpy|dataframes?|df|scikit-learn|sklearn|pytorch|torch|tensorflow|keras|regression",
        r"classifi\w+|cluster\w*|embeddings?|transformers?|llms?|gpt|fine-?tun\w+|overfit\w*",
        r"gradient|loss function|accuracy|precision|recall|features?|statistic\w*|data analysis",
        r"data science|visuali[sz]ation|plot\w*|matplotlib|csv|etl|data pipeline|xgboost",
        r"random forest|hyperparameters?|epochs?|batch size|inference|models?|rag|correlation",
        r"train(?:ing)? (?:a |the |my )?model|vector database|groupby|tabular"),
    "writing": (
        r"essay|emails?|letter|blog post|article|paragraphs?|sentences?|grammar|proofread\w*",
        r"rewrite|rephrase|edit|tone|draft|outline|headline|title|summari[sz]e|wording",
        r"word choice|punctuation|thesis|introduction|conclusion|paraphrase|copywriting",
        r"newsletter|linkedin post|tweet|caption|speech"),
    "business": (
        r"business|startup|company|customers?|clients?|marketing|market|sales|revenue|profit",
        r"pricing|budget|invest\w*|stocks?|financ\w+|accounting|tax(?:es)?|salary|negotiat\w+",
        r"job|career|resume|cv|interview|hiring|manager|management|meeting|strategy|product",
        r"roadmap|kpis?|okrs?|b2b|saas|pitch|funding|competitors?|brand\w*|seo|e-?commerce",
        r"supply chain|invoice|contract|stakeholders?|quarterly|q[1-4]|monetiz\w+"),
    "science_math": (
        r"math\w*|equations?|integral|derivative|calculus|algebra|matri(?:x|ces)|probability",
        r"proof|prove|theorem|physics|chemistry|biology|quantum|molecules?|atoms?|cells?|dna",
        r"genes?|evolution|gravity|energy|velocity|acceleration|relativity|photons?|light",
        r"wavelength|sky|planets?|mars|moon|universe|galaxy|climate|experiment|scientific",
        r"formula|geometry|triangle|prime numbers?|infinity|logarithm\w*|exponential|proteins?",
        r"enzymes?|periodic table|temperature|scattering|research|species|animals?|brain"),
    "learning": (
        r"learn|(?<!machine )(?<!deep )learning|study\w*|exams?|homework|course|tutorial",
        r"teach me|eli5|like i'?m (?:five|5)|beginner|understand|school|university|college",
        r"lecture|textbook|flashcards?|quiz|curriculum|syllabus|student|teacher|vocabulary",
        r"practice|resources"),
    "personal": (
        r"i feel|feelings?|anxious|anxiety|stress\w*|depressed|sad|lonely|relationship",
        r"girlfriend|boyfriend|wife|husband|partner|friends?|family|mom|dad|parents?|kids?",
        r"dating|breakup|health|sleep|diet|workout|exercise|gym|doctor|therap\w+|motivation",
        r"habits?|wedding|birthday|gift|vacation|travel|trip|recipe|cook\w*|dinner|apartment",
        r"rent|pet|dog|cat|my life|hobby|mental health|burnout|procrastinat\w+"),
    "creative": (
        r"story|stories|poem|poetry|lyrics|song|novel|characters?|plot|fiction|fantasy|sci-fi",
        r"world-?building|scene|dialogue|screenplay|haiku|rhyme\w*|fairy tale|fan ?fiction",
        r"d&d|dnd|dungeon|drawing|painting|artwork|illustration|music|melody|chords?|jokes?",
        r"puns?|riddle|comic|villain|hero|protagonist|narrative|creative|name ideas|dragons?"),
}
TOPIC_RES = {topic: _words_re(*words) for topic, words in TOPIC_KEYWORDS.items()}

# Technical terms for tone: jargon plus identifier shapes (snake_case, file.py, --flag, a.b()).
TECH_RE = _words_re(
    r"apis?|sdk|cli|https?|json|yaml|sql|regex|async|await|mutex|cache|latency|throughput",
    r"endpoints?|schema|query|kernel|compiler|runtime|heap|pointer|null|cpu|gpu|v?ram|docker",
    r"kubernetes|k8s|nginx|tcp|dns|tls|oauth|jwt|orm|repo|commit|rebase|deploy\w*|ci/cd",
    r"dependenc\w+|module|function|method|parameters?|exception|traceback|segfault|recursion",
    r"algorithm|gradient|tensors?|embeddings?|hyperparameters?|epochs?|inference|fine-?tun\w+",
    r"quantiz\w+|backprop\w*|dataframes?|numpy|pandas|pytorch|python|javascript|typescript",
    r"golang|c\+\+|bash|linux|postgres\w*|mysql|sqlite|mongo\w*|redis|react|django|flask",
    r"fastapi|npm|pip|venv|git|integer|float|array|boolean|struct|enum|lambda|callback",
    r"eigen\w+|derivative|integral|xgboost|random forest|classifi\w+|regression|database",
    r"[a-z]+_[a-z0-9_]+|\w+\.(?:py|js|ts|json|ya?ml|toml|csv|sql|sh|rs|go|cpp|md|log)",
    r"--[a-z][\w-]+|v?\d+\.\d+\.\d+|\w+\.\w+\(\)?")
CAMEL_RE = re.compile(r"(?<!\w)[a-z]+[A-Z][a-zA-Z]*(?!\w)")  # camelCase identifiers

# Tone cues. Precedence (first that applies wins): technical (code, or at least
# max(2, words // 25) technical terms) > exploratory > casual (slang/emoji) > formal
# (politeness) > formal (sentences averaging >= 15 words, not all lowercase) > casual
# (all lowercase or short) > formal.
EXPLORATORY_RE = re.compile(
    r"\b(?:what if|i wonder|wondering|curious|brainstorm\w*|imagine|hypothetical\w*|suppose|"
    r"explore|thought experiment|what would happen|is it possible|possibilit\w+|any ideas|"
    r"ideas for|out of curiosity|speculat\w+|random thought|how might|what might|"
    r"would it be possible)\b", re.IGNORECASE)
SLANG_RE = _words_re(
    r"lol|lmao|rofl|ha(?:ha)+|hehe|gonna|wanna|gotta|kinda|sorta|dunno|idk|tbh|imo|imho|btw",
    r"omg|wtf|pls|plz|thx|ty|u|ur|ya|yeah|yep|nope|dude|bro|yo|sup|lemme|gimme|y'all|ain't",
    r"nah|meh|ugh|hm+|xd")
EMOJI_RE = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]|[:;]-?[)(DP](?!\w)|!{2,}|\?{2,}")
POLITE_RE = re.compile(
    r"\b(?:please|could you|would you|kindly|i would (?:like|appreciate)|thank you|dear|"
    r"regards|sincerely|furthermore|moreover|consequently|in addition|with respect to|"
    r"i am writing|grateful)\b", re.IGNORECASE)

# Reasoning markers, reported in this order when present.
REASONING_RES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE | re.MULTILINE) for name, pattern in {
        "because": r"\b(?:because|since|due to|the reason)\b",
        "therefore": r"\b(?:therefore|thus|hence|consequently|which means|so that)\b",
        "step_by_step": r"\bstep[- ]by[- ]step\b|\bstep \d\b|^\s*(?:1[.)]|first(?:ly)?,)",
        "compare": r"\b(?:compare\w*|versus|vs\.?|better than|difference between|instead of)\b",
        "hypothesis": r"\b(?:hypothes\w+|i suspect|my guess|assum\w+|i think|in theory)\b",
        "trade_off": r"\b(?:trade-?offs?|at the cost of|downsides?|on the other hand|"
                     r"pros and cons)\b",
        "example": r"\b(?:for example|for instance|e\.g\.|such as|examples?)\b",
        "evidence": r"\b(?:according to|evidence|studies show|data shows|source)\b",
    }.items()}

# Question types. Specific forms are matched first and claim their span; the generic
# how/why/what only count in a sentence that ends with "?" or within its first three words.
SPECIFIC_QUESTION_RES: dict[str, re.Pattern[str]] = {
    "what_if": re.compile(r"\b(?:what if|what would happen|hypothetically|imagine (?:if|that)|"
                          r"suppose (?:that|we|i|you))\b", re.IGNORECASE),
    "should_i": re.compile(r"\b(?:should|shall) (?:i|we)\b|\bis it (?:worth|a good idea)\b|"
                           r"\b(?:do|would) you recommend\b", re.IGNORECASE),
    "compare": re.compile(r"\b(?:compare\w*|comparison|versus|vs\.?|difference between|"
                          r"better than|pros and cons|which (?:one )?is (?:better|faster|best))\b",
                          re.IGNORECASE),
    "request": re.compile(
        r"(?:^|(?<=[.?!:;\n])|\b(?:please|pls|can you|could you|would you|can u|i need you to|"
        r"i want you to|i'd like you to)\b)\s*(?:please\s+)?(?:write|make|give me|create|"
        r"generate|draft|list|explain|summari[sz]e|rewrite|translate|fix|build|design|show me|"
        r"tell me|help me|suggest|outline|plan|find|convert|refactor|implement|review|edit|"
        r"proofread|describe|compose|come up with)\b", re.IGNORECASE),
}
GENERIC_QUESTION_RES: dict[str, re.Pattern[str]] = {
    "how": re.compile(r"\bhow (?:do|does|did|can|could|should|would|will|to|is|are|was|much|"
                      r"many|long|often|come)\b", re.IGNORECASE),
    "why": re.compile(r"(?<!that's )(?<!that is )(?<!which is )\bwhy\b", re.IGNORECASE),
    "what": re.compile(r"\b(?:what(?:'s)?|which|who|where)\b|(?:^|(?<=[.?!\n]))\s*when\b",
                       re.IGNORECASE),
}
SENTENCE_RE = re.compile(r"[^.?!\n]+(?:[.?!]+|\n|$)")
REASONING_MARKERS = tuple(REASONING_RES)
QUESTION_TYPES = (*SPECIFIC_QUESTION_RES, *GENERIC_QUESTION_RES)


@dataclass(frozen=True)
class MessageTraits:
    """Cheap labels for one message; see the module's rules for how each is decided."""

    topic: str
    tone: str
    reasoning_markers: list[str]
    question_types: list[str]
    length: str
    has_code: bool


def _word_count(text: str, cap: int = MEDIUM_WORDS) -> int:
    """Words up to `cap`: enough to bucket the length without splitting a megabyte."""
    return sum(1 for _ in islice(re.finditer(r"\S+", text), cap))


def _topic(text: str, code: bool) -> str:
    """Highest keyword score wins (code adds 2 to programming); ties keep TOPICS order."""
    best, best_score = "other", 0
    for topic, pattern in TOPIC_RES.items():
        counts: dict[str, int] = {}
        for match in pattern.finditer(text):
            key = match.group(0).casefold()
            counts[key] = min(counts.get(key, 0) + 1, 3)
        score = sum(counts.values()) + (2 if code and topic == "programming" else 0)
        if score > best_score:
            best, best_score = topic, score
    return best


def _tone(sample: str, prose: str, code: bool, words: int) -> str:
    """Apply the documented precedence: technical, exploratory, casual, formal, fallbacks."""
    tech = len(TECH_RE.findall(sample)) + len(CAMEL_RE.findall(sample))
    if code or tech >= max(2, words // 25):
        return "technical"
    if EXPLORATORY_RE.search(prose):
        return "exploratory"
    if SLANG_RE.search(prose) or EMOJI_RE.search(prose):
        return "casual"
    if POLITE_RE.search(prose):
        return "formal"
    sentences = [s for s in SENTENCE_RE.findall(prose) if s.strip()]
    lowercase = prose == prose.lower()
    if sentences and words / len(sentences) >= 15 and not lowercase:
        return "formal"
    return "casual" if lowercase or words < SHORT_WORDS else "formal"


def _question_types(text: str) -> list[str]:
    """Question types in order of first appearance; specific forms claim their spans first."""
    found: list[tuple[int, str]] = []
    claimed: set[int] = set()
    for name, pattern in SPECIFIC_QUESTION_RES.items():
        for match in pattern.finditer(text):
            found.append((match.start(), name))
            claimed.update(range(*match.span()))
    sentences = [(m.start(), m.group(0)) for m in SENTENCE_RE.finditer(text)]
    starts = [start for start, _ in sentences]
    for name, pattern in GENERIC_QUESTION_RES.items():
        for match in pattern.finditer(text):
            pos = match.start()
            if pos in claimed:
                continue
            index = bisect_right(starts, pos) - 1
            if index < 0:
                continue
            start, sentence = sentences[index]
            if sentence.rstrip().endswith("?") or len(text[start:pos].split()) < 3:
                found.append((pos, name))
    ordered: list[str] = []
    for _, name in sorted(found):
        if name not in ordered:
            ordered.append(name)
    return ordered


def categorize(text: str) -> MessageTraits:
    """Label one message by the module's rules; never raises, fast on any size."""
    sample = text[:ANALYSIS_CHARS]
    prose = without_code(sample)  # phrasing cues come from the user's words, not pastes
    words = _word_count(text)
    code = has_code(sample)
    return MessageTraits(
        topic=_topic(sample, code),
        tone=_tone(sample, prose, code, _word_count(sample, cap=ANALYSIS_CHARS)),
        reasoning_markers=[name for name, rx in REASONING_RES.items() if rx.search(prose)],
        question_types=_question_types(prose),
        length="short" if words < SHORT_WORDS else "medium" if words < MEDIUM_WORDS else "long",
        has_code=code,
    )

"""Code and logs inside a message: telling them apart from the user's own words.

Pasted code and tracebacks say what a message is *about* only weakly and would dominate both
the labels and the embeddings, so every reader of a message (traits, discovery's embedding
text) looks at its prose through `without_code`.
"""

from __future__ import annotations

import re

FENCE_RE = re.compile(r"(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*(?:\n(.*?))?(?:\1|\Z)", re.DOTALL)
CODE_LINE_RE = re.compile(r"""^[ \t]*(?:
      (?:async\s+)?def\s+\w+\s*\(.*|class\s+\w+.*:\s*$|import\s+[\w.]+(?:\s+as\s+\w+)?\s*$
    | from\s+[\w.]+\s+import\s+\w+ | \#include\s*[<"] | (?:const|let|var)\s+\w+\s*=
    | function\s*\w*\s*\( | (?:public|private|protected|static)\s+[\w<>\[\]]+\s+\w+
    | (?:SELECT|INSERT|UPDATE|DELETE)\s.+\b(?:FROM|INTO|SET|WHERE)\b
    | [\w.\[\]'"]+\s*(?:=|\+=|-=)\s*[\w.]+\(.*\)\s*;?\s*$ | \w+(?:\.\w+)+\(.*\)\s*;?\s*$
    | .*[;{]\s*$ | \}\s*;?\s*$ | \$\ [a-z][\w-]*\s | (?:pip|npm|git|docker|kubectl|cargo|sudo)\s+\w+
    )""", re.MULTILINE | re.VERBOSE)
LOG_LINE_RE = re.compile(
    r"^(?:Traceback \(most recent call last\):?|\s+File \".*\", line \d+|\s+at \S+[\s(].*|"
    r"[\w.]*(?:Error|Exception|Warning)(?::.*)?|\s*\d{4}-\d\d-\d\d[ T]\d\d:\d\d.*|"
    r"\s*\[?(?:ERROR|WARN|WARNING|INFO|DEBUG|FATAL|CRITICAL)\]?[\s:].*|npm ERR!.*|"
    r"error(?:\[E\d+\])?:.*|.*panicked at.*|Segmentation fault.*|\s*\^+~*\s*)$")
CONTINUATION_RE = re.compile(r"^(?:\s{2,}\S.*|\s*\.\.\..*|\s*)$")  # indented lines inside a log
INDENTED_CODE_RE = re.compile(r"^(?: {4,}|\t+)\S.*[=(){}\[\];:<>]")


def has_code(text: str) -> bool:
    """Fences, tracebacks, an indented block, or one unmistakable code line."""
    if "```" in text or "~~~" in text or CODE_LINE_RE.search(text):
        return True
    lines = text.splitlines()
    if any(LOG_LINE_RE.match(line) and line.strip() for line in lines
           if "Error" in line or "Exception" in line or "Traceback" in line or "  at " in line):
        return True
    return sum(1 for line in lines if INDENTED_CODE_RE.match(line)) >= 2


def _replace_blocks(text: str) -> str:
    """Swap runs of log lines for "[log]" and indented code blocks for "[code]"."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if LOG_LINE_RE.match(lines[i]) and lines[i].strip():
            while i < len(lines) and (LOG_LINE_RE.match(lines[i])
                                      or (CONTINUATION_RE.match(lines[i]) and lines[i].strip())):
                i += 1
            out.append("[log]")
            continue
        j = i
        while j < len(lines) and (INDENTED_CODE_RE.match(lines[j])
                                  or (j > i and lines[j].startswith(("    ", "\t")))):
            j += 1
        if j - i >= 2:
            out.append("[code]")
            i = j
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _fence_tag(match: re.Match[str]) -> str:
    lang = match.group(2).casefold()
    return f"\n[code: {lang}]\n" if lang else "\n[code]\n"


def without_code(text: str) -> str:
    """Fenced blocks become "[code: lang]", pasted logs "[log]", indented code "[code]"."""
    return _replace_blocks(FENCE_RE.sub(_fence_tag, text))

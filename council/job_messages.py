"""What a job row says, bounded: the row is sent on every poll, so a flood of warnings or a
long error must never make it big. A message keeps what fits in `MAX_MESSAGE_CHARS` (each line
cut to `MAX_LINE_CHARS`) and says how many more there were and where the full text is (the
job's log); a progress figure that is text is cut to `MAX_FIGURE_CHARS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

MAX_MESSAGE_CHARS = 4000
MAX_LINE_CHARS = 500
MAX_FIGURE_CHARS = 200


def cut(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text`, or its first `limit` characters and how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def summarise(lines: Iterable[str], noun: str, where: str) -> str | None:
    """As many lines as fit in MAX_MESSAGE_CHARS, then `… and N more <noun>s (in <where>)`."""
    kept: list[str] = []
    size, more = 0, 0
    for line in lines:
        line = cut(line)
        if more or size + len(line) + 1 > MAX_MESSAGE_CHARS - 200:
            more += 1
            continue
        kept.append(line)
        size += len(line) + 1
    if more:
        kept.append(f"… and {more:,} more {noun}{'s' if more > 1 else ''} (in {where})")
    return "\n".join(kept) or None


def error_message(log_path: Path, returncode: int, script: str) -> str:
    """The script's last `error:` line, else its last stderr line, else the exit code; with how
    many other lines the log holds. The log is read line by line (it may be large)."""
    error, last, count = None, None, 0
    try:
        with log_path.open(encoding="utf-8", errors="replace") as log:
            for raw in log:
                line = raw.strip()
                if not line:
                    continue
                count += 1
                last = line[:MAX_MESSAGE_CHARS]
                if line.startswith("error:"):
                    error = last
    except OSError:
        pass
    others = f" ({count - 1:,} more lines in {log_path})" if count > 1 else ""
    if error is not None:
        return cut(error.removeprefix("error:").strip(), MAX_MESSAGE_CHARS - 200) + others
    detail = f": {cut(last)}" if last else ""
    return f"{script} stopped with exit code {returncode}{detail}{others}"


def bounded_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """Progress figures with text cut to MAX_FIGURE_CHARS."""
    return {key: cut(value, MAX_FIGURE_CHARS) if isinstance(value, str) else value
            for key, value in figures.items()}

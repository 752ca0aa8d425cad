"""Sizes as the pages and the CLI say them, in Ollama's powers of 1000."""

from __future__ import annotations


def human_size(size: float) -> str:
    """Bytes as Ollama says them: 542 MB, 7.8 GB."""
    for unit in ("bytes", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"

"""Training data small enough for a tiny model to learn in a few dozen CPU steps."""

from __future__ import annotations

import json
from pathlib import Path


def memorisable_set(folder: Path) -> Path:
    """Six chat rows over three code words, written as `folder/train.jsonl`."""
    rows = [{"messages": [{"role": "system", "content": "You are terse."},
                          {"role": "user", "content": f"Say the code word {n % 3}."},
                          {"role": "assistant", "content": f"The code word is council {n % 3}."}]}
            for n in range(6)]
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path

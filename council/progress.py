"""Progress of a long CLI run: tqdm bars on a terminal, or JSON lines for the job runner.

Every CLI that the browser can launch as a job reports through this, so the job runner reads
one format: `{"stage": ..., "done": ..., "total": ..., <extra figures>}` per line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tqdm import tqdm


class ProgressReporter:
    """Call with (stage, done, total, **figures); `style` is "bar" or "json"."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, stage: str, done: int, total: int, **figures: Any) -> None:
        if self.style == "json":
            print(json.dumps({"stage": stage, "done": done, "total": total, **figures}),
                  flush=True)
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=f"{stage:8}", unit="step", leave=True,
                            file=sys.stderr)
        assert self.bar is not None
        self.bar.total = total
        self.bar.n = done
        if figures:
            self.bar.set_postfix({k: v for k, v in figures.items() if v is not None},
                                 refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

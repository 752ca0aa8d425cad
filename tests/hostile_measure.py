"""Parse each export named on stdin, one JSON line per export: outcome, peak RSS and time.

Run as `python -m tests.hostile_measure` so the suite's process stays small. The peak is
the kernel's VmHWM, reset before each export through /proc/self/clear_refs (so it is the most
this process ever held while parsing that export, earlier exports' leftovers included).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from council.config import Settings
from council.discovery.parse import ExportError, ExportLimits, parse_export


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found, "the kernel reports VmHWM"
    return int(found.group(1)) / 1024


def measure(path: Path, env: dict[str, str]) -> dict[str, object]:
    limits = ExportLimits.from_settings(Settings.from_env({**os.environ, **env}))
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    answer: dict[str, object] = {"path": str(path)}
    try:
        result = parse_export(path, limits)
    except ExportError as exc:
        answer.update(outcome="refused", error=str(exc))
    except Exception as exc:  # noqa: BLE001  (what escapes is the finding)
        answer.update(outcome="crashed", error=f"{type(exc).__name__}: {exc}"[:2000])
    else:
        answer.update(outcome="parsed", messages=[m.text[:80] for m in result.messages[:3]],
                      warnings=result.warnings)
    answer.update(seconds=time.perf_counter() - started, peak_mb=peak_rss_mb())
    return answer


def main() -> None:
    for case in json.load(sys.stdin):
        print(json.dumps(measure(Path(case["path"]), case["env"])), flush=True)


if __name__ == "__main__":
    main()

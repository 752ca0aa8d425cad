"""`python -m tests.peak_of REPORT MODULE ARGS...`: run MODULE as `python -m` would,
then write this process's peak RSS in MB (the kernel's VmHWM) to REPORT, however it exits.

The child says it itself: the rusage a parent gets for a child also counts the parent's own
memory from before the exec.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path

from tests.hostile_measure import peak_rss_mb


def main() -> None:
    report, module, *args = sys.argv[1:]
    atexit.register(lambda: Path(report).write_text(f"{peak_rss_mb():.1f}", encoding="utf-8"))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

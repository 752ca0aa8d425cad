"""A short run of the load benchmark (bench/load.py, one app process): three clients for three
seconds, in its own processes, must finish every round with no error and report its figures."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.browser import PROJECT_ROOT


def test_load_benchmark_smoke_run() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.load", "--clients", "3",
                           "--duration", "3"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "errors 0" in done.stdout
    rounds = int(re.search(r"rounds done (\d+)", done.stdout).group(1))
    assert rounds >= 3
    tokens = re.search(r"\((\d+) tokens, (\d+) unmatched\)", done.stdout)
    assert int(tokens.group(1)) > 100 and tokens.group(2) == "0"

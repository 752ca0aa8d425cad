"""What every CLI the browser can launch as a job shares: `--data-dir` and `--progress`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .config import Settings


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data folder (default COUNCIL_DATA_DIR)")
    parser.add_argument("--progress", default="bar", choices=("bar", "json"),
                        help="a progress bar, or one JSON line per update (the job runner's)")


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings, with `--data-dir` when given."""
    return Settings.from_env(**({"data_dir": args.data_dir} if args.data_dir else {}))

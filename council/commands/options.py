"""What the commands share: `--data-dir`, and `--progress` for those the browser runs as jobs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import Settings


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data folder (default COUNCIL_DATA_DIR)")


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_dir(parser)
    parser.add_argument("--progress", default="bar", choices=("bar", "json"),
                        help="a progress bar, or one JSON line per update (the job runner's)")


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings, with `--data-dir` when given."""
    return Settings.from_env(**({"data_dir": args.data_dir} if args.data_dir else {}))

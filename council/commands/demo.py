"""`council demo`: `council run --demo`, for trying the app without any model.

The built-in demo server speaks Ollama's API (and the OpenAI-compatible one) with canned,
persona-flavoured answers; every page says "demo backend".
"""

from __future__ import annotations

import argparse

from . import run


def build_parser() -> argparse.ArgumentParser:
    return run.build_parser(demo=True)


def main(argv: list[str] | None = None) -> int:
    return run.serve(build_parser().parse_args(argv))

"""`council settings`: the settings as this environment sets them, or the README's table of them.

Both come from the one declaration in council/config.py; `--markdown` is what the README's
Configuration section pastes (tests/test_docs.py checks the README still matches it).
"""

from __future__ import annotations

import argparse
import sys

from ..config import VARIABLES, Settings, SettingsError, render


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="council settings",
                                     description="Print the settings read from the environment.")
    parser.add_argument("--markdown", action="store_true",
                        help="print the README's table of every variable, default and meaning")
    return parser


def markdown_table() -> str:
    rows = [f"| `{v.name}` | {v.documented_default} | {v.doc} |" for v in VARIABLES]
    return "\n".join(["| variable | default | what it sets |", "| --- | --- | --- |", *rows])


def current_values(settings: Settings) -> str:
    """`NAME=value` per variable; secrets say only whether they are set."""
    lines = []
    for variable in VARIABLES:
        value = render(getattr(settings, variable.attribute))
        lines.append(f"{variable.name}={'(set)' if variable.secret and value else value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.markdown:
        print(markdown_table())
        return 0
    try:
        print(current_values(Settings.from_env()))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

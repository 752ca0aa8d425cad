"""`council import`: add discovered personas to the council.

    council import [--data-dir DIR] (--all | --only NAME [NAME ...]) [--on-conflict skip|update]

Reads DATA_DIR/personas/prompts/generated_prompts.json and clusters/cluster_analysis.json,
written by `council discover`.
"""

from __future__ import annotations

import argparse
import sys

from .. import close_app, create_app
from ..db import session_scope
from ..discovery.importer import import_discovered, load_discovery
from ..extensions import get_router
from ..files import PersonaFiles
from ..personas import PersonaError
from .options import add_data_dir, settings_from


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="council import",
                                     description="Import discovered personas.")
    add_data_dir(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="import every discovered persona")
    which.add_argument("--only", nargs="+", metavar="NAME", help="names or slugs to import")
    parser.add_argument("--on-conflict", default="skip", choices=("skip", "update"),
                        help="what to do with a persona that already exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    data_dir = PersonaFiles.in_data_dir(settings.data_dir).root
    try:
        prompts, _ = load_discovery(data_dir)
        wanted = {name.casefold() for name in args.only or []}
        chosen = [p for p in prompts if args.all or p["name"].casefold() in wanted
                  or p["slug"] in wanted]
        missing = wanted - {p["name"].casefold() for p in chosen} - {p["slug"] for p in chosen}
        if missing:
            known = ", ".join(p["name"] for p in prompts)
            print(f"error: no discovered persona called {', '.join(sorted(missing))}; "
                  f"choose from: {known}", file=sys.stderr)
            return 2
        app = create_app(settings)
        try:
            with session_scope(app) as session:
                summary = import_discovered(session, get_router(app), data_dir, chosen,
                                            args.on_conflict)
        finally:
            close_app(app)
    except PersonaError as exc:
        print("error: " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()), file=sys.stderr)
        return 2
    print(f"imported: {len(summary.created)} new ({', '.join(summary.created) or '-'}), "
          f"{len(summary.updated)} updated, {len(summary.skipped)} skipped")
    return 0


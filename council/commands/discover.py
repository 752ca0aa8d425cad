"""`council discover`: find personas in your chat export.

    council discover [--input PATH] [--clusters N] [--balance 0..1] [--mode 8GB|16GB|32GB]
                     [--refresh] [--data-dir DIR] [--progress bar|json] [--no-llm]

Default input: DATA_DIR/personas/raw_imports/conversations.json (a ChatGPT export, its .zip, a
Claude.ai export or ShareGPT JSON). Outputs go under DATA_DIR/personas (see the README). The
Discover page runs this as a job.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..discovery.cluster import DiscoveryError
from ..discovery.modes import DEFAULT_BALANCE
from ..discovery.parse import ExportError, ExportLimits
from ..discovery.pipeline import DiscoveryOptions, DiscoveryResult, run_discovery
from ..embeddings.int8 import Int8Embedder
from ..files import PersonaFiles
from ..llm import connect_backends
from ..progress import ProgressReporter
from .options import add_job_arguments, settings_from


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="council discover",
                                     description="Discover personas in your chat export.")
    parser.add_argument("--input", type=Path, help="the export (.json or .zip)")
    parser.add_argument("--clusters", type=int, help="force this many personas (default: "
                                                     "choose 3-6 by silhouette)")
    parser.add_argument("--balance", type=float, default=DEFAULT_BALANCE,
                        help="what personas are told apart by, from 0 (topics: what you ask "
                             "about) to 1 (style: how you ask)")
    parser.add_argument("--mode", default="16GB", choices=("8GB", "16GB", "32GB"),
                        help="memory budget: sets the embedding batch size")
    parser.add_argument("--refresh", action="store_true", help="recompute cached embeddings")
    add_job_arguments(parser)
    parser.add_argument("--no-llm", action="store_true",
                        help="write prompts from the template, without asking the model")
    return parser


def summary_lines(result: DiscoveryResult) -> list[str]:
    lines = [(f"format {result.format}: {result.messages} user messages, {result.kept} kept "
              f"(set aside: {result.set_aside or 'none'})"),
             (f"{result.clustering.k} personas, silhouette {result.clustering.silhouette:.3f} "
              f"(topic/style balance {result.balance:g})"),
             f"{'persona':28} {'size':>5}  {'prompt':8}  keywords"]
    for profile, prompt in zip(result.clusters, result.prompts):
        lines.append(f"{profile.name[:28]:28} {profile.size:>5}  {prompt.source:8}  "
                     f"{', '.join(profile.keywords[:5])}")
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    files = PersonaFiles.in_data_dir(settings.data_dir)
    source = args.input or files.default_export
    if not source.is_file():
        print(f"error: {source} does not exist. Export your ChatGPT data (Settings → Data "
              f"controls → Export) and pass the file with --input.", file=sys.stderr)
        return 2
    backends = None
    if not args.no_llm:
        backends, settings = connect_backends(settings, timeout=120)
    reporter = ProgressReporter(args.progress)
    try:
        result = run_discovery(
            DiscoveryOptions(source, files.root, args.clusters, args.mode, args.refresh,
                             balance=args.balance, limits=ExportLimits.from_settings(settings)),
            Int8Embedder(settings.model_cache_dir, settings.embedding_model),
            backends.synthesizer if backends else None, settings.synth_model, reporter)
    except (ExportError, DiscoveryError) as exc:
        reporter.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if backends is not None:
            backends.close()
    reporter.close()
    if args.progress == "json":
        print(json.dumps({"stage": "done", "personas": [p.slug for p in result.clusters],
                          "warnings": result.warnings}), flush=True)
    else:
        print("\n".join(summary_lines(result)))
    return 0


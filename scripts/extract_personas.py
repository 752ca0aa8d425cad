"""Discover personas in your chat export.

    python scripts/extract_personas.py [--input PATH] [--clusters N] [--mode 8GB|16GB|32GB]
                                       [--refresh] [--data-dir DIR] [--progress bar|json]
                                       [--no-llm]

Default input: data/personas/raw_imports/conversations.json (a ChatGPT export, its .zip, a
Claude.ai export or ShareGPT JSON). Outputs go under DATA_DIR/personas (see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from council.cli import add_job_arguments, settings_from  # noqa: E402
from council.discovery.cluster import DiscoveryError  # noqa: E402
from council.discovery.parse import ExportError  # noqa: E402
from council.discovery.pipeline import DiscoveryOptions, DiscoveryResult, run_discovery  # noqa: E402
from council.llm import connect_backend  # noqa: E402
from council.progress import ProgressReporter  # noqa: E402
from council.router.int8_embedder import Int8Embedder  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Discover personas in your chat export.")
    parser.add_argument("--input", type=Path, help="the export (.json or .zip)")
    parser.add_argument("--clusters", type=int, help="force this many personas (default: "
                                                     "choose 3-6 by silhouette)")
    parser.add_argument("--mode", default="16GB", choices=("8GB", "16GB", "32GB"),
                        help="memory budget: sets the embedding batch size")
    parser.add_argument("--refresh", action="store_true", help="recompute cached embeddings")
    add_job_arguments(parser)
    parser.add_argument("--no-llm", action="store_true",
                        help="write prompts from the template, without asking the model")
    return parser.parse_args(argv)


def summary_lines(result: DiscoveryResult) -> list[str]:
    lines = [f"format {result.format}: {result.messages} user messages, {result.kept} kept "
             f"(set aside: {result.set_aside or 'none'})",
             f"{result.clustering.k} personas, silhouette {result.clustering.silhouette:.3f}",
             f"{'persona':28} {'size':>5}  {'prompt':8}  keywords"]
    for profile, prompt in zip(result.clusters, result.prompts):
        lines.append(f"{profile.name[:28]:28} {profile.size:>5}  {prompt.source:8}  "
                     f"{', '.join(profile.keywords[:5])}")
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    data_dir = settings.data_dir / "personas"
    source = args.input or data_dir / "raw_imports" / "conversations.json"
    if not source.is_file():
        print(f"error: {source} does not exist. Export your ChatGPT data (Settings → Data "
              f"controls → Export) and pass the file with --input.", file=sys.stderr)
        return 2
    backend = None
    if not args.no_llm:
        backend, settings = connect_backend(settings, timeout=120)
    reporter = ProgressReporter(args.progress)
    try:
        result = run_discovery(
            DiscoveryOptions(source, data_dir, args.clusters, args.mode, args.refresh),
            Int8Embedder(settings.model_cache_dir, settings.embedding_model), backend,
            settings.synth_model, reporter)
    except (ExportError, DiscoveryError) as exc:
        reporter.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if backend is not None:
            backend.close()
    reporter.close()
    if args.progress == "json":
        print(json.dumps({"stage": "done", "personas": [p.slug for p in result.clusters],
                          "warnings": result.warnings}), flush=True)
    else:
        print("\n".join(summary_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

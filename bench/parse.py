"""What bounded export parsing costs, and what it saves (issue 15).

    python -m bench.parse [--sizes 100] [--repeats 3] [--depth 100000]

For each size, a ChatGPT-format export of real ShareGPT conversations (bench/discovery.py) is
parsed in a fresh process by `parse_export`, which builds each conversation from ijson's
`basic_parse` events and checks every bound, and by a plain `ijson.items` walk of the same file
(the reader the parser used before, building nothing): wall time and peak RSS, medians over the
repeats, and their ratio. Then a zip holding a list nested `--depth` deep, the input that made
the old reader grow by gigabytes: `parse_export` refuses it, `ijson.items` runs under a 3 GB
address-space cap until it fails.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.discovery import build_export
from bench.report import print_medians

MEMORY_CAP = 3 * 1024**3


def _child(reader: str, path: Path) -> dict[str, float | str]:
    """Runs in its own process: one read of `path`, its time and the process's peak RSS."""
    started = time.perf_counter()
    outcome = "read"
    try:
        if reader == "bounded":
            from council.discovery.parse import ExportError, parse_export
            try:
                outcome = f"{len(parse_export(path).messages)} messages"
            except ExportError as exc:
                outcome = f"refused: {str(exc)[:70]}"
        else:
            import ijson
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
            with _open(path) as stream:
                outcome = f"{sum(1 for _ in ijson.items(stream, 'item'))} items"
    except MemoryError:
        outcome = f"MemoryError at the {MEMORY_CAP // 1024**3} GB cap"
    return {"seconds": time.perf_counter() - started, "outcome": outcome,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".zip":
        archive = zipfile.ZipFile(path)
        return archive.open(archive.namelist()[0])  # type: ignore[return-value]
    return path.open("rb")


def measure(reader: str, path: Path) -> dict[str, float | str]:
    command = [sys.executable, "-m", "bench.parse", "--child", reader, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def nested_zip(depth: int, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", "[" * depth + "]" * depth)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100", help="export sizes in MB, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], Path(args.child[1]))))
        return 0
    medians: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (float(s) for s in args.sizes.split(",")):
            export = build_export(0, Path(tmp) / f"export-{size:g}.json", target_mb=size)
            runs = {reader: [measure(reader, export.path) for _ in range(args.repeats)]
                    for reader in ("bounded", "items")}
            seconds = {r: statistics.median(float(x["seconds"]) for x in v)
                       for r, v in runs.items()}
            peaks = {r: statistics.median(float(x["peak_mb"]) for x in v) for r, v in runs.items()}
            label = f"{export.size_bytes / 1e6:.0f}MB"
            print(f"{label}: bounded parse {seconds['bounded']:.2f} s, {peaks['bounded']:.0f} MB "
                  f"({runs['bounded'][0]['outcome']}); ijson.items walk {seconds['items']:.2f} s, "
                  f"{peaks['items']:.0f} MB ({runs['items'][0]['outcome']})", flush=True)
            medians[f"parse_s_{label}"] = f"{seconds['bounded']:.2f}"
            medians[f"items_walk_s_{label}"] = f"{seconds['items']:.2f}"
            medians[f"time_ratio_{label}"] = f"{seconds['bounded'] / seconds['items']:.2f}"
            medians[f"parse_peak_mb_{label}"] = f"{peaks['bounded']:.0f}"
            medians[f"items_peak_mb_{label}"] = f"{peaks['items']:.0f}"
        nested = nested_zip(args.depth, Path(tmp) / "nested.zip")
        for reader in ("bounded", "items"):
            run = measure(reader, nested)
            print(f"nested {args.depth:,} deep ({nested.stat().st_size} bytes zipped), {reader}: "
                  f"{run['seconds']:.2f} s, peak {run['peak_mb']:.0f} MB, {run['outcome']}",
                  flush=True)
            medians[f"nested_{reader}_peak_mb"] = f"{float(run['peak_mb']):.0f}"
    print_medians(medians)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

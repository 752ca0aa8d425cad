"""The `council` command: one subcommand per module here, each with `build_parser` and `main`.

`council run` serves the app; the others are what the Discover and Training pages run as jobs
(council/jobs.py starts `python -m council <command> --progress json`). `scripts/*.py` and
`run.py` are thin wrappers around the same `main` functions. A subcommand's module is imported
only when it runs, so `council --help` does not load torch.

A command started by the app as a job first arranges to die with the app
(council/job_process.py); the commands that write discovery or training files hold the data
dir's writer lock while they run, so a second writer on the same data dir refuses to start.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..config import Settings
from ..job_process import WriterBusy, WriterLock, watch_parent


@dataclass(frozen=True)
class Command:
    """A subcommand: its module under council/commands, and its line in `council --help`."""

    module: str
    summary: str


COMMANDS = {
    "run": Command("run", "serve the app on http://127.0.0.1:5000 (COUNCIL_HOST, COUNCIL_PORT)"),
    "demo": Command("demo", "serve the app on the built-in demo server (canned answers)"),
    "discover": Command("discover", "find personas in a chat export"),
    "import": Command("import_personas", "add discovered personas to the council"),
    "train-data": Command("train_data", "write LoRA training pairs for a persona"),
    "train": Command("train", "train a persona's LoRA adapter"),
    "register": Command("register", "serve a trained adapter and switch the persona to it"),
    "eval": Command("eval", "compare the council with one model alone on a question set"),
    "settings": Command("settings", "print the settings read from the environment"),
}


# the commands that write under the data dir (or its adapters): one at a time per data dir
WRITERS = ("discover", "train-data", "train", "register")


def command_module(name: str) -> ModuleType:
    """The module that implements `council <name>`."""
    return importlib.import_module(f"{__name__}.{COMMANDS[name].module}")


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return "\n".join(["usage: council <command> [options]   (council <command> --help)", "",
                      "commands:", *lines])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    name, *rest = args
    if name not in COMMANDS:
        print(f"error: no command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    watch_parent()
    if name not in WRITERS or {"-h", "--help"} & set(rest):
        return command_module(name).main(rest)
    try:
        with WriterLock(data_dir_of(rest)).held(f"council {name}"):
            return command_module(name).main(rest)
    except WriterBusy as busy:
        print(f"error: {busy}", file=sys.stderr)
        return 1


def data_dir_of(rest: list[str]) -> Path:
    """The data dir a command will write to: its `--data-dir`, else COUNCIL_DATA_DIR's."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir", type=Path)
    given = parser.parse_known_args(rest)[0].data_dir
    return given or Settings.from_env().data_dir

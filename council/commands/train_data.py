"""`council train-data`: LoRA training pairs for a persona, in its voice, from the synthesizer.

    council train-data --persona NAME [--examples 200] [--mode 8GB|16GB] [--data-dir DIR]
                       [--progress bar|json]

Questions are the persona's own discovered messages (DATA_DIR/personas/clusters/
persona_<slug>.jsonl), else its example messages. Output: DATA_DIR/personas/lora_training/
persona_<slug>_train.jsonl and _eval.jsonl (held out to measure the adapter: about one pair in
ten, at least 3, and none below 12 pairs, which the command then says). Re-running continues
where a run stopped.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..db import standalone_session
from ..files import PersonaFiles
from ..llm import connect_backends
from ..personas import PersonaError, find_persona
from ..progress import ProgressReporter
from ..training.data import (
    DROP_REASONS,
    PersonaSpec,
    TrainingDataError,
    persona_messages,
    prepare_training_data,
    split_note,
)
from .options import add_job_arguments, settings_from

# How many pairs each memory mode asks for by default: more data only pays off when the
# GPU can also train on longer sequences.
MODE_EXAMPLES = {"8GB": 200, "16GB": 400}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="council train-data",
                                     description="Write LoRA training pairs for a persona.")
    parser.add_argument("--persona", required=True, help="persona name or slug")
    parser.add_argument("--examples", type=int, help="pairs to generate (default by --mode)")
    parser.add_argument("--mode", default="8GB", choices=tuple(MODE_EXAMPLES))
    add_job_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    examples = args.examples or MODE_EXAMPLES[args.mode]
    if examples < 1:
        print("error: --examples must be at least 1", file=sys.stderr)
        return 2
    personas_dir = PersonaFiles.in_data_dir(settings.data_dir).root
    reporter = ProgressReporter(args.progress)
    backends, settings = connect_backends(settings, timeout=settings.synth_timeout)
    try:
        with standalone_session(settings.database_url) as session:
            persona = find_persona(session, args.persona)
            spec = PersonaSpec(persona.slug, persona.name, persona.system_prompt)
            questions = persona_messages(personas_dir, persona.slug, persona.example_messages)
        result = prepare_training_data(spec, questions, backends.synthesizer,
                                       settings.synth_model, personas_dir, examples,
                                       lambda done, total: reporter("generate", done, total),
                                       max_tokens=min(settings.num_predict, 512))
    except PersonaError as exc:
        print("error: " + "; ".join(exc.errors.values()), file=sys.stderr)
        return 2
    except TrainingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        reporter.close()
        backends.close()
    if args.progress == "json":
        print(json.dumps({"stage": "done", **result.summary()}), flush=True)
    print(f"kept {result.train} training + {result.eval} eval pairs "
          f"({result.generated_now} generated now, {result.reused} from an earlier run)",
          file=sys.stderr if args.progress == "json" else sys.stdout)
    note = split_note(result.train, result.eval)
    if note:
        print(note, file=sys.stderr if args.progress == "json" else sys.stdout)
    for reason, count in sorted(result.dropped.items()):
        print(f"dropped {count}: {DROP_REASONS[reason]}",
              file=sys.stderr if args.progress == "json" else sys.stdout)
    if result.train == 0:
        print("error: every generation was dropped; check the synthesizer model "
              f"({settings.synth_model}) and the persona's prompt", file=sys.stderr)
        return 1
    return 0


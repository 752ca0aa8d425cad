"""`council register`: serve a trained persona adapter and switch the persona to it.

    council register --persona NAME [--data-dir DIR] [--progress bar|json]

With the embedded engine (COUNCIL_BACKEND=embedded, or auto with no Ollama) the adapter is
exported to LORAS_DIR/<slug>/adapter.gguf, scored on llama.cpp against the held-out pairs (the
eval split; without one, no figure is computed and the line says so) with and without it
(recorded in metadata.json as `llama_cpp_eval`, null without an eval split), and applied per
request from then on. With Ollama
it creates `persona-<slug>` on every worker server (OLLAMA_HOST or COUNCIL_WORKER_HOSTS): the
worker model with the adapter as a GGUF (LORAS_DIR/<slug>/adapter.gguf) first, and where that
is refused or cannot answer, the adapter merged into its base (LORAS_DIR/<slug>/merged,
imported by Ollama); the first line says what each server's version suggests and what a merge
costs, and every model must answer a short question before the persona uses it. The outcome
(which method each server ended with, and why) is kept in metadata.json as `registration`.
When some server serves nothing that answers, the persona stays prompt-only and the command
says why and what to do, with exit status 1. With COUNCIL_BACKEND=openai the PEFT folder
itself is loaded into each vLLM server as `persona-<slug>` instead. The prompt-only model stays
recorded; switch back on the Training page. Errors (no adapter, a server that cannot be
reached) exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import Settings
from ..db import standalone_session
from ..files import AdapterFiles, PersonaFiles
from ..llm import backend_kind, server_urls_of
from ..llm.base import LLMError
from ..models import Persona
from ..personas import PersonaError, find_persona
from ..progress import ProgressReporter
from ..training.data import MIN_PAIRS_FOR_EVAL
from ..training.gguf_export import AdapterExportError
from ..training.llama_eval import HeldOutLoss
from ..training.ollama_register import TrainedAdapter, plan_ollama, register_with_ollama
from ..training.register import (
    Registration,
    RegistrationError,
    keep_prompt_only,
    load_vllm_adapter,
    register_embedded,
    switch_persona_model,
)
from ..training.train import TrainingError, read_examples
from .options import add_job_arguments, settings_from


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="council register",
        description="Serve a persona's trained adapter (embedded engine, Ollama or vLLM).")
    parser.add_argument("--persona", required=True, help="persona name or slug")
    add_job_arguments(parser)
    return parser


def held_out_examples(personas_dir: Path, slug: str) -> list[list[dict[str, str]]]:
    """The eval split's pairs; empty without one. Never the training pairs: the adapter has
    seen those, so a loss on them is no held-out figure."""
    _, eval_path, _ = PersonaFiles(personas_dir).training_pairs(slug)
    return read_examples(eval_path) if eval_path.is_file() else []


def held_out_line(loss: HeldOutLoss | None) -> str:
    """What registration measured, in words: the held-out figure, or that there is none."""
    if loss is None:
        return ("no held-out figure: the persona's data has no eval split (prepare at least "
                f"{MIN_PAIRS_FOR_EVAL} pairs on the Training page or with `council train-data` "
                "to hold some out)")
    return (f"held-out loss under llama.cpp on {loss.examples} eval pairs {loss.base:.3f} "
            f"without the adapter, {loss.adapter:.3f} with it ({loss.tokens} answer tokens)")


def _register_with_ollama(settings: Settings, persona: Persona, metadata: dict[str, Any],
                          files: AdapterFiles,
                          progress_style: str) -> tuple[Registration | None, str]:
    """The registration, or None when the persona stays prompt-only; and the line saying
    which method each server ended with and why."""
    if metadata["base_model"].endswith(".gguf"):
        raise RegistrationError(
            f"{persona.name}'s adapter was trained on {metadata['base_model']} for the "
            "embedded engine; Ollama serves other weights. Train it again with Ollama running "
            "(base COUNCIL_TRAIN_BASE_MODEL), or run the app with COUNCIL_BACKEND=embedded.")
    base = persona.model or settings.worker_model
    plan = plan_ollama(server_urls_of(settings, "ollama", settings.worker_hosts),
                       metadata["base_model"], settings.ollama_quantize, worker_base=base)
    if plan.problem:
        raise RegistrationError(plan.problem)
    print(plan.describe(), file=sys.stderr, flush=True)
    report = ProgressReporter(progress_style)
    try:
        outcome = register_with_ollama(
            plan, persona.slug, base,
            TrainedAdapter(Path(metadata["adapter_dir"]), metadata["base_model"], files.gguf,
                           files.merged),
            lambda stage, fraction: report(stage, round(fraction * 100), 100))
    finally:
        report.close()
    files.write_metadata({**metadata, "registration": outcome.stored()})
    if outcome.registration is None:
        return None, f"{persona.name} stays prompt-only: {outcome.reason()}"
    return outcome.registration, (f"{outcome.model}: {outcome.reason()} {persona.name} now "
                                  "answers through it.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    try:
        with standalone_session(settings.database_url) as session:
            persona = find_persona(session, args.persona)
            files = AdapterFiles(settings.loras_dir, persona.slug)
            metadata = files.read_metadata()
            if metadata is None:
                raise RegistrationError(f"{persona.name} has no trained adapter in "
                                        f"{files.folder}: train it first (`council train`).")
            if metadata.get("state") != "done":
                raise RegistrationError(f"The last training of {persona.name} ended "
                                        f"{metadata.get('state')!r}; train it to the end first.")
            adapter = Path(metadata["adapter_dir"])
            backend = backend_kind(settings)
            if backend == "embedded":
                registration, loss = register_embedded(
                    persona.slug, Path(metadata["base_model"]), adapter, files.gguf,
                    held_out_examples(PersonaFiles.in_data_dir(settings.data_dir).root,
                                      persona.slug))
                metadata["llama_cpp_eval"] = None if loss is None else loss.summary()
                files.write_metadata(metadata)
                line = (f"{persona.name} now answers with {registration.model} on "
                        f"{Path(registration.base).name} in the embedded engine; "
                        f"{held_out_line(loss)}")
            elif backend == "openai":
                urls = server_urls_of(settings, backend, settings.worker_hosts)
                registration = load_vllm_adapter(urls, settings.openai_api_key, persona.slug,
                                                 adapter)
                line = (f"{registration.model}: {len(urls)} vLLM server(s) serve {adapter}; "
                        f"{persona.name} now answers through it")
            else:
                registration, line = _register_with_ollama(settings, persona, metadata, files,
                                                           args.progress)
            if registration is None:
                keep_prompt_only(persona)
                print(f"error: {line}", file=sys.stderr)
                return 1
            switch_persona_model(persona, registration)
    except PersonaError as exc:
        print("error: " + "; ".join(exc.errors.values()), file=sys.stderr)
        return 2
    except (RegistrationError, AdapterExportError, LLMError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.progress == "json":
        print(json.dumps({"stage": "done", "model": registration.model}), flush=True)
    print(line, file=sys.stderr if args.progress == "json" else sys.stdout)
    return 0


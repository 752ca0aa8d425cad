"""`council eval`: does the council beat one model? Answer a question set with several
contestants and compare them pairwise with a judge model.

    council eval [--questions FILE | --from-export FILE] [--limit N] [--seed N]
                 [--contestants council,solo,personas] [--also MODEL ...] [--judge MODEL]
                 [--out DIR] [--data-dir DIR] [--progress bar|json]

Questions: the set the project ships (default), a JSON Lines file (`question`, optional
`answer`, optional `category`), or questions from the user's own export, spread across the
discovered clusters. Contestants: `council` (router, workers, synthesis), `solo` (the
synthesizer model alone), `personas` (each enabled persona alone) or persona slugs, and any
model the backend serves (`--also`). Checkable questions are scored by exact match; open ones
by the judge (default the synthesizer model), each pair in both orders. Answers and verdicts
are kept in the database: a stopped run (Ctrl-C, Cancel, a kill) resumes where it was when run
again, and a second judge reuses the answers. The report (report.json, report.md, chart.svg)
goes to --out, default DATA_DIR/eval/run-<id>; Analytics shows the latest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..config import PROJECT_ROOT, Settings
from ..db import standalone_database
from ..embeddings.sentence import SentenceEmbedder
from ..evaluation.contestants import (
    COUNCIL,
    SOLO,
    Contestant,
    CouncilContestant,
    SessionScope,
    persona_contestant,
    solo_contestant,
)
from ..evaluation.from_export import questions_from_export
from ..evaluation.questions import (
    SHIPPED,
    Question,
    QuestionSetError,
    load_questions,
    shipped_questions,
)
from ..evaluation.report import build_report, write_report
from ..evaluation.runner import EvalError, JudgeModel, run_eval
from ..files import PersonaFiles
from ..job_process import StopFlag
from ..llm import connect_backends
from ..llm.roles import Backends
from ..models import EvalRun, utcnow
from ..personas import PersonaError, find_persona, list_personas, seed_default_personas
from ..progress import ProgressReporter
from ..router import Router
from .options import add_job_arguments, settings_from

DEFAULT_CONTESTANTS = "council,solo,personas"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="council eval",
        description="Compare the council with one model alone on a question set.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--questions", type=Path,
                        help="JSON Lines: question, optional answer, optional category "
                             "(default: the shipped set)")
    source.add_argument("--from-export", type=Path,
                        help="questions you asked in this export, across the discovered "
                             "clusters (run Discover on it first)")
    parser.add_argument("--limit", type=int, help="ask only the first N questions")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed for --from-export")
    parser.add_argument("--contestants", default=DEFAULT_CONTESTANTS,
                        help="comma-separated: council, solo, personas (every enabled one) "
                             f"or persona slugs (default {DEFAULT_CONTESTANTS})")
    parser.add_argument("--also", action="append", default=[], metavar="MODEL",
                        help="another model the backend serves, alone (repeatable)")
    parser.add_argument("--judge", help="the model that compares answers (default: the "
                                        "synthesizer model)")
    parser.add_argument("--out", type=Path, help="report folder (default DATA_DIR/eval/run-ID)")
    parser.add_argument("--fresh", action="store_true",
                        help="answer and judge everything again instead of reusing stored "
                             "answers and verdicts (they are replaced)")
    add_job_arguments(parser)
    return parser


class UsageError(ValueError):
    """Arguments that cannot make an eval; the message says how to fix them."""


def read_questions(args: argparse.Namespace,
                   settings: Settings) -> tuple[str, list[Question]]:
    """The question set's name and its questions, cut to --limit."""
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.from_export is not None:
        name = f"export:{args.from_export}"
        questions = questions_from_export(args.from_export,
                                          PersonaFiles.in_data_dir(settings.data_dir).root,
                                          args.limit or 50, args.seed)
    elif args.questions is not None:
        name, questions = str(args.questions), load_questions(args.questions)
    else:
        name, questions = SHIPPED, shipped_questions()
    return name, questions[:args.limit] if args.limit else questions


def build_contestants(names: str, also: Sequence[str], backends: Backends, settings: Settings,
                      sessions: SessionScope) -> list[Contestant]:
    """The contestants `--contestants` and `--also` name, each once, in that order."""
    contestants: dict[str, Contestant] = {}
    with sessions() as session:
        seed_default_personas(session, PROJECT_ROOT / "personas")  # as the app's first start
        for name in (part.strip() for part in names.split(",") if part.strip()):
            if name == COUNCIL:
                router = Router(settings, SentenceEmbedder(settings.embedding_model))
                router.load(session)
                contestants[name] = CouncilContestant(backends, settings, router, sessions,
                                                      settings.synth_model)
            elif name == SOLO:
                contestants[name] = solo_contestant(backends, settings, settings.synth_model)
            elif name == "personas":
                for persona in list_personas(session, enabled_only=True):
                    contestants[persona.slug] = persona_contestant(backends, settings, persona)
            else:
                persona = find_persona(session, name)
                contestants[persona.slug] = persona_contestant(backends, settings, persona)
    for model in also:
        if model in contestants:
            raise UsageError(f"--also {model} has the name of another contestant")
        contestants[model] = solo_contestant(backends, settings, model, name=model)
    if len(contestants) < 2:
        raise UsageError("An eval compares at least two contestants; name more with "
                         f"--contestants (e.g. {DEFAULT_CONTESTANTS}) or --also MODEL.")
    return list(contestants.values())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    reporter = ProgressReporter(args.progress)
    stop = StopFlag()
    stop.install()
    backends, settings = connect_backends(settings)
    try:
        with standalone_database(settings.database_url) as sessions:
            return _evaluate(args, settings, backends, sessions, reporter, stop)
    except (UsageError, PersonaError) as exc:
        message = "; ".join(exc.errors.values()) if isinstance(exc, PersonaError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    finally:
        reporter.close()
        backends.close()


def _evaluate(args: argparse.Namespace, settings: Settings, backends: Backends,
              sessions: SessionScope, reporter: ProgressReporter, stop: StopFlag) -> int:
    try:
        question_set, questions = read_questions(args, settings)
    except (QuestionSetError, OSError) as exc:
        raise UsageError(str(exc)) from None
    contestants = build_contestants(args.contestants, args.also, backends, settings, sessions)
    judge = JudgeModel(backends.synthesizer, settings, args.judge or settings.synth_model)
    names = [c.name for c in contestants]
    with sessions() as session:
        for earlier in session.scalars(select(EvalRun).where(EvalRun.state == "running")):
            if earlier.question_set == question_set and earlier.contestants == names:
                earlier.state = "interrupted"  # stopped without a word; this run resumes it
        run = EvalRun(question_set=question_set, contestants=names, judge=judge.model,
                      out_dir="", state="running")
        session.add(run)
        session.flush()
        out_dir = args.out or settings.data_dir / "eval" / f"run-{run.id}"
        run.out_dir = str(out_dir)
        run_id, started = run.id, run.created_at
    try:
        result = run_eval(sessions, questions, contestants, judge, reporter,
                          stopping=stop.event.is_set, fresh=args.fresh)
    except EvalError as exc:
        _finish(sessions, run_id, "failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result is None:
        _finish(sessions, run_id, "interrupted")
        print("error: stopped; run the same command again to resume where it stopped "
              "(answers and verdicts so far are kept)", file=sys.stderr)
        return 1
    meta = {"question_set": question_set, "questions": len(questions),
            "checkable": sum(q.answer is not None for q in questions),
            "judge": judge.model, "judge_is_contestant": any(
                judge.model in c.models for c in contestants),
            "backend": settings.backend, "worker_model": settings.worker_model,
            "synth_model": settings.synth_model, "started_at": started.isoformat(),
            "finished_at": utcnow().isoformat(), "seed": args.seed, **result.tally.figures()}
    report = build_report(meta, names, result.answers, result.pairs)
    write_report(report, out_dir)
    _finish(sessions, run_id, "done", report)
    summary = {"run_id": run_id, "out_dir": str(out_dir), "pairs": len(report["pairs"]),
               **result.tally.figures()}
    if args.progress == "json":
        print(json.dumps({"stage": "done", **summary}), flush=True)
    else:
        print(Path(out_dir, "report.md").read_text(encoding="utf-8"))
    return 0


def _finish(sessions: SessionScope, run_id: int, state: str,
            report: dict[str, Any] | None = None) -> None:
    with sessions() as session:
        run = session.get(EvalRun, run_id)
        run.state, run.report, run.finished_at = state, report, utcnow()

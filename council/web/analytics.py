"""The Analytics page: utilisation, gate entropy, ratings and persona similarity as charts, the
council's suggestions (grow, merge, retire) with a button each, and the latest evaluation.

The page itself is cheap (it only knows whether there are rounds); the browser fetches
`/api/analytics`, which does the work in `council.analytics` (embedding answers included) and
`council.suggestions`; the buttons post to the actions in `council.suggestion_actions`. The
evaluation section reads `/api/eval` (the latest finished `council eval` run's report and the
latest eval job) and starts, cancels and resumes eval jobs: a resumed run reuses the answers
and verdicts its cancelled run left in the database.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, url_for
from sqlalchemy import select

from .. import analytics
from ..app_processes import ACTIVE_JOB_STATES
from ..db import session_scope
from ..evaluation.report import CHART_SVG, REPORT_JSON, REPORT_MD
from ..extensions import get_jobs, get_router, get_settings
from ..jobs import job_payload
from ..models import EvalRun, Job, Persona
from ..suggestion_actions import (
    NothingToGrow,
    SuggestionError,
    growth_questions,
    merge_personas,
    retire_persona,
    start_growth,
)
from ..suggestions import (
    MERGE_MIN_VOTES,
    RETIRE_MIN_VOTES,
    Suggestion,
    suggestions,
    suggestions_from,
)
from .discover import persona_files
from .errors import status_for
from .inputs import json_body
from .leaderboard import row_payload
from .responses import json_error
from .training import _bounded_int as bounded_int

bp = Blueprint("analytics", __name__)
EVAL_LIMIT, EVAL_MAX_LIMIT = 20, 1000  # the form's default number of questions, and the most
EVAL_FIELDS = ("limit", "judge", "questions", "contestants", "also")
MAX_NAMES, MAX_NAME_CHARS = 12, 200
# a run's files the page links to, with the type each is served as (an SVG's own policy lets
# matplotlib's inline styles apply and nothing else run)
EVAL_FILES = {REPORT_MD: ("text/plain; charset=utf-8", None),
              CHART_SVG: ("image/svg+xml", "default-src 'none'; style-src 'unsafe-inline'"),
              REPORT_JSON: ("application/json", None)}


def report_payload(report: analytics.AnalyticsReport) -> dict[str, Any]:
    """The report as JSON; leaderboard rows in the Leaderboard API's shape."""
    return {"rounds_total": report.rounds_total,
            "utilisation": asdict(report.utilisation),
            "entropy": asdict(report.entropy),
            "leaderboard": [row_payload(row) for row in report.leaderboard],
            "similarity": asdict(report.similarity)}


def suggestion_payload(suggestion: Suggestion) -> dict[str, Any]:
    """A suggestion as JSON, its action with the URL to post its body to."""
    payload = asdict(suggestion)
    payload["action"]["url"] = url_for(f"analytics.{suggestion.action.kind}")
    return payload


@bp.get("/analytics")
def page() -> str:
    with session_scope() as session:
        rounds = analytics.count_rounds(session)
    return render_template("analytics/index.html", rounds=rounds,
                           history_rounds=analytics.HISTORY_ROUNDS,
                           similarity_rounds=analytics.SIMILARITY_ROUNDS,
                           threshold=analytics.SIMILARITY_THRESHOLD,
                           merge_min_shared=analytics.MIN_SHARED_QUESTIONS,
                           merge_min_votes=MERGE_MIN_VOTES, retire_min_votes=RETIRE_MIN_VOTES,
                           eval_limit=EVAL_LIMIT, eval_max_limit=EVAL_MAX_LIMIT,
                           synth_model=get_settings().synth_model)


@bp.get("/api/analytics")
def api() -> Any:
    embedder = get_router().extractor.embedder
    with session_scope() as session:
        report = analytics.analytics_report(session, embedder)
        found = suggestions_from(session, report.similarity, report.leaderboard)
        return jsonify({**report_payload(report),
                        "suggestions": [suggestion_payload(s) for s in found]})


@bp.get("/api/suggestions")
def suggestions_api() -> Any:
    embedder = get_router().extractor.embedder
    with session_scope() as session:
        return jsonify([suggestion_payload(s) for s in suggestions(session, embedder)])


def _persona_id(payload: dict[str, Any], key: str) -> int:
    value = payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SuggestionError(f"Name the persona by its id under {key!r}.")
    return value


def _confirmed(payload: dict[str, Any]) -> None:
    """Merge and retire disable a persona: only once the user confirmed (the page asks)."""
    if payload.get("confirm") is not True:
        raise SuggestionError("This disables a persona: confirm it first (post the body again "
                              "with \"confirm\": true once the user has said yes).")


def _named(persona: Persona) -> dict[str, Any]:
    return {"id": persona.id, "name": persona.name}


def _done(message: str, status: int = 200, **details: Any) -> Any:
    """An action's answer: what it did, in words, and where to see it (or undo it)."""
    link = details.pop("link", {"href": url_for("personas.index"), "label": "Personas"})
    return jsonify({"message": message, "link": link, **details}), status


@bp.errorhandler(SuggestionError)
def refused(error: SuggestionError) -> Any:
    """An action that cannot be done as asked; growth with nothing to grow is a conflict."""
    return json_error(str(error), 409 if isinstance(error, NothingToGrow) else status_for(error))


@bp.post("/api/suggestions/grow")
def grow() -> Any:
    with session_scope() as session:
        unsure = growth_questions(session)
    started = start_growth(unsure, persona_files(), get_jobs())
    return _done(f"Discovery started on {started.questions} questions. Its personas appear on "
                 f"the Discover page to review and import.", 202, job_id=started.job_id,
                 upload=started.upload, questions=started.questions,
                 link={"href": url_for("discover.page"), "label": "Open Discover"})


@bp.post("/api/suggestions/merge")
def merge() -> Any:
    payload = json_body()
    _confirmed(payload)
    with session_scope() as session:
        merged = merge_personas(session, _persona_id(payload, "keep"),
                                _persona_id(payload, "disable"))
        kept, disabled = _named(merged.kept), _named(merged.disabled)
    examples = "example message" if merged.examples_added == 1 else "example messages"
    return _done(f"Merged {disabled['name']} into {kept['name']}: {kept['name']} took "
                 f"{merged.examples_added} {examples} and {disabled['name']} is disabled "
                 f"(enable it again on the Personas page to undo).", kept=kept,
                 disabled=disabled, examples_added=merged.examples_added)


@bp.post("/api/suggestions/retire")
def retire() -> Any:
    payload = json_body()
    _confirmed(payload)
    with session_scope() as session:
        disabled = _named(retire_persona(session, _persona_id(payload, "persona_id")))
    return _done(f"{disabled['name']} is disabled (enable it again on the Personas page to "
                 f"undo).", disabled=disabled)


def _eval_run_payload(run: EvalRun) -> dict[str, Any]:
    """A run as the page shows it, with links to those of its files that exist."""
    folder = Path(run.out_dir)
    files = {name: url_for("analytics.eval_file", run_id=run.id, name=name)
             for name in EVAL_FILES if (folder / name).is_file()}
    return {"id": run.id, "state": run.state, "question_set": run.question_set,
            "contestants": run.contestants, "judge": run.judge, "out_dir": run.out_dir,
            "report": run.report, "files": files,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def _latest_eval_job(session: Any) -> Job | None:
    return session.scalars(select(Job).where(Job.kind == "eval").order_by(Job.id.desc())
                           .limit(1)).first()


@bp.get("/api/eval")
def eval_state() -> Any:
    with session_scope() as session:
        run = session.scalars(select(EvalRun).where(EvalRun.state == "done")
                              .order_by(EvalRun.id.desc()).limit(1)).first()
        job = _latest_eval_job(session)
        return jsonify({"run": _eval_run_payload(run) if run else None,
                        "job": job_payload(job) if job else None})


def _name(value: Any, field: str) -> str:
    """A model or contestant name as a flag's value: text, no comma (contestants are joined
    with commas), not starting with '-' (it would read as a flag)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be a name, as text")
    name = value.strip()
    if len(name) > MAX_NAME_CHARS or name.startswith("-") or "," in name \
            or not name.isprintable():
        raise ValueError(f"{field}: {name[:60]!r} is not a name (at most {MAX_NAME_CHARS} "
                         f"printable characters, no comma, not starting with '-')")
    return name


def _names(payload: dict[str, Any], field: str) -> list[str] | None:
    value = payload.get(field)
    if value in (None, []):
        return None
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise ValueError(f"{field} must be a list of at most {MAX_NAMES} names")
    names = [_name(item, field) for item in value]
    if len(set(names)) < len(names):
        raise ValueError(f"{field} names one twice")
    return names


def _question_file(value: Any) -> str | None:
    if value in (None, "", "shipped"):
        return None
    path = Path(value).expanduser() if isinstance(value, str) else None
    if path is None or not path.is_absolute() or not path.is_file():
        raise ValueError("questions must be \"shipped\" or the absolute path of a question "
                         f"file on this machine; there is no file at {str(value)[:200]!r}")
    return str(path)


def eval_job_args(payload: dict[str, Any]) -> dict[str, Any]:
    """An eval job's args from a request body, only those given; ValueError says what is
    wrong. The job's command (council.jobs.eval_flags) turns them into flags."""
    unknown = sorted(set(payload) - set(EVAL_FIELDS))
    if unknown:
        raise ValueError(f"unknown field {', '.join(unknown)}: send "
                         f"{', '.join(EVAL_FIELDS)}")
    judge = payload.get("judge")
    args = {"limit": bounded_int(payload, "limit", 1, EVAL_MAX_LIMIT),
            "judge": _name(judge, "judge") if judge not in (None, "") else None,
            "questions": _question_file(payload.get("questions")),
            "contestants": _names(payload, "contestants"), "also": _names(payload, "also")}
    return {key: value for key, value in args.items() if value is not None}


@bp.post("/api/eval/jobs")
def start_eval() -> Any:
    try:
        args = eval_job_args(json_body())
    except ValueError as exc:
        return json_error(f"{str(exc)[0].upper()}{str(exc)[1:]}.", 400)
    with session_scope() as session:
        busy = session.scalars(select(Job.id).where(Job.kind == "eval",
                                                    Job.state.in_(ACTIVE_JOB_STATES))).first()
    if busy is not None:
        return json_error(f"An evaluation (job {busy}) is already queued or running: cancel it "
                          f"or wait for it to finish.", 409)
    jobs = get_jobs()
    job_id = jobs.submit("eval", args)
    return jsonify({"job_id": job_id, "job": jobs.get(job_id)}), 202


@bp.get("/analytics/eval/<int:run_id>/<name>")
def eval_file(run_id: int, name: str) -> Any:
    """One of a run's report files, from its folder; only those names, never a path."""
    if name not in EVAL_FILES:
        abort(404, f"A run has {', '.join(EVAL_FILES)}, not {name[:100]!r}.")
    with session_scope() as session:
        run = session.get(EvalRun, run_id)
        folder = Path(run.out_dir) if run else None
    if folder is None or not (folder / name).is_file():
        abort(404, f"Evaluation run {run_id} has no {name}.")
    mimetype, policy = EVAL_FILES[name]
    return Response((folder / name).read_bytes(), mimetype=mimetype,  # a few KB at most
                    headers={"Content-Security-Policy": policy} if policy else None)

"""The Analytics page: utilisation, gate entropy, ratings and persona similarity as charts, and
the council's suggestions (grow, merge, retire) with a button each.

The page itself is cheap (it only knows whether there are rounds); the browser fetches
`/api/analytics`, which does the work in `council.analytics` (embedding answers included) and
`council.suggestions`; the buttons post to the actions in `council.suggestion_actions`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, render_template, url_for

from .. import analytics
from ..db import session_scope
from ..extensions import get_jobs, get_router
from ..models import Persona
from ..suggestion_actions import (
    NothingToGrow,
    SuggestionError,
    growth_questions,
    merge_personas,
    retire_persona,
    start_growth,
)
from ..suggestions import Suggestion, suggestions, suggestions_from
from .discover import persona_files
from .errors import status_for
from .inputs import json_body
from .leaderboard import row_payload
from .responses import json_error

bp = Blueprint("analytics", __name__)


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
                           threshold=analytics.SIMILARITY_THRESHOLD)


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
    with session_scope() as session:
        disabled = _named(retire_persona(session, _persona_id(payload, "persona_id")))
    return _done(f"{disabled['name']} is disabled (enable it again on the Personas page to "
                 f"undo).", disabled=disabled)

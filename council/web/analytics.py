"""The Analytics page: utilisation, gate entropy, ratings and persona similarity as charts.

The page itself is cheap (it only knows whether there are rounds); the browser fetches
`/api/analytics`, which does the work in `council.analytics` (embedding answers included).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, render_template

from .. import analytics
from ..db import session_scope
from ..extensions import get_router
from .leaderboard import row_payload

bp = Blueprint("analytics", __name__)


def report_payload(report: analytics.AnalyticsReport) -> dict[str, Any]:
    """The report as JSON; leaderboard rows in the Leaderboard API's shape."""
    return {"rounds_total": report.rounds_total,
            "utilisation": asdict(report.utilisation),
            "entropy": asdict(report.entropy),
            "leaderboard": [row_payload(row) for row in report.leaderboard],
            "similarity": asdict(report.similarity)}


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
        return jsonify(report_payload(analytics.analytics_report(session, embedder)))

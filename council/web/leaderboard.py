"""The leaderboard (Bradley–Terry ratings from votes, all or blind ones only), the council vs
solo figures from compare rounds, and resetting what the router learned."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from ..db import session_scope
from ..evaluation.compare import council_vs_solo
from ..evaluation.stats import PROVISIONAL_BELOW
from ..extensions import get_router
from ..leaderboard import LeaderboardRow, VariantRow, leaderboard, variant_comparison
from ..personas import list_personas
from ..ratings import PRIOR_SD, PROVISIONAL_VOTES
from ..votes import mark_router_reset

bp = Blueprint("leaderboard", __name__)


def row_payload(row: LeaderboardRow) -> dict[str, Any]:
    return {"persona_id": row.persona_id, "name": row.name, "color": row.color,
            "rating": round(row.rating.rating), "lower": round(row.rating.lower),
            "upper": round(row.rating.upper), "comparisons": row.rating.comparisons,
            "votes": row.rating.votes, "provisional": row.rating.provisional,
            "rounds_shown": row.rounds_shown, "votes_received": row.votes_received,
            "win_rate": None if row.win_rate is None else round(row.win_rate, 3),
            "blind_votes": row.blind_votes}


def variant_payload(row: VariantRow) -> dict[str, Any]:
    def share(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {"persona_id": row.persona_id, "name": row.name, "variant": row.variant,
            "rounds_shown": row.rounds_shown, "best_votes": row.best_votes,
            "win_rate": share(row.win_rate),
            "interval": [share(v) for v in row.interval] if row.interval else None}


def current_leaderboard(blind_only: bool = False) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [row_payload(r) for r in leaderboard(session, list_personas(session),
                                                    blind_only=blind_only)]


def blind_only_asked() -> bool:
    """`?votes=blind`: ratings and counts from the votes cast with names hidden."""
    return request.args.get("votes") == "blind"


def current_variants() -> list[dict[str, Any]]:
    with session_scope() as session:
        return [variant_payload(r) for r in variant_comparison(session, list_personas(session))]


def current_compare() -> dict[str, Any]:
    with session_scope() as session:
        return council_vs_solo(session).as_dict()


@bp.get("/leaderboard")
def page() -> str:
    blind_only = blind_only_asked()
    return render_template("leaderboard/index.html", rows=current_leaderboard(blind_only),
                           blind_only=blind_only, variants=current_variants(),
                           compare=current_compare(), compare_settled=PROVISIONAL_BELOW,
                           provisional_votes=PROVISIONAL_VOTES, prior_sd=round(PRIOR_SD))


@bp.get("/api/leaderboard")
def api() -> Any:
    return jsonify(current_leaderboard(blind_only_asked()))


@bp.get("/api/leaderboard/variants")
def variants_api() -> Any:
    return jsonify(current_variants())


@bp.get("/api/leaderboard/compare")
def compare_api() -> Any:
    return jsonify(current_compare())


@bp.post("/router/reset")
def reset_router() -> Any:
    """Forget what votes taught the router and its exploration counts; votes, ratings and
    imported personas' cluster examples stay."""
    with session_scope() as session:
        get_router().reset(session)
        mark_router_reset(session)
    flash("The router forgot what it learned. Votes and the leaderboard are kept.")
    return redirect(url_for("leaderboard.page"))

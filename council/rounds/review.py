"""The optional peer-review stage: each finished worker ranks the others' answers.

Prompts and parsing are `council.peer_review`'s; this stage runs the reviews like any other
generations, stores them, and hands the synthesizer each answer's mean position.
"""

from __future__ import annotations

from typing import Any

from ..models import PeerReview
from ..peer_review import ReviewRequest, aggregate_rankings, build_review, parse_ranking
from .plan import RoundPlan
from .stages import RoundRun
from .streams import Generation, usable_answers

UNPARSEABLE = "No FINAL RANKING line naming every response once; the review is kept but not " \
              "counted."


def review(run: RoundRun, plan: RoundPlan, workers: list[Generation]) -> dict[int, float]:
    """Mean position (1 = best) per answer id; empty when fewer than two answers finished."""
    usable = usable_answers(workers)
    if run.control.cancel.is_set() or len(usable) < 2:
        return {}
    answers = {gen.row_id: gen.text for gen in usable}
    requests = [build_review(gen.row_id, gen.messages[0]["content"], plan.question, answers,
                             seed=f"{run.round_id}:{gen.row_id}") for gen in usable]
    review_ids = run.store.create_reviews(
        run.round_id, [(request.reviewer_answer_id, gen.model, request.labels)
                       for request, gen in zip(requests, usable, strict=True)])
    by_review = dict(zip(review_ids, requests, strict=True))
    reviews = [Generation(row_id=review_id, model=gen.model, options=gen.options,
                          messages=request.messages, on_token=lambda *_: None)
               for review_id, request, gen in zip(review_ids, requests, usable, strict=True)]
    run.emit("review_started", {"round_id": run.round_id, "reviews": [
        _review_payload(review_id, request) for review_id, request in by_review.items()]})
    rankings: list[list[int]] = []

    def finished(gen: Generation) -> None:
        request = by_review[gen.row_id]
        ranking = parse_ranking(gen.text, request.labels) if gen.status == "done" else None
        if gen.status == "done" and ranking is None:
            gen.status, gen.error = "unparseable", UNPARSEABLE
        run.store.save(PeerReview, gen, ranking=ranking)
        if ranking:
            rankings.append(ranking)
        run.emit("review_done", {"round_id": run.round_id, **_review_payload(gen.row_id, request),
                                 "ranking": ranking, **gen.outcome()})

    run.stream(run.backends.workers, reviews, run.settings.worker_timeout, finished)
    summary = aggregate_rankings(rankings)
    ranking = [{"answer_id": answer_id, "mean_position": round(mean, 2), "reviews": count}
               for answer_id, mean, count in summary]
    run.store.save_peer_ranking(run.round_id, ranking)
    run.emit("peer_ranking", {"round_id": run.round_id, "ranking": ranking})
    return {answer_id: mean for answer_id, mean, _ in summary}


def _review_payload(review_id: int, request: ReviewRequest) -> dict[str, Any]:
    return {"review_id": review_id, "reviewer_answer_id": request.reviewer_answer_id,
            "labels": request.labels}

"""The Analytics page: utilisation, gate entropy, ratings and persona similarity."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

from flask import Flask

from council import analytics
from council.db import session_scope
from council.personas import list_personas
from tests.rows import FakeEmbedder, add_round, routing_for

QUESTIONS = ["What is a B-tree?", "Should I learn Rust or Go first?",
             "What if the moon were twice as close?"]


def test_api_reports_what_the_rounds_did(app: Flask, sio) -> None:
    results = [sio.ask(question) for question in QUESTIONS]
    selected = Counter(w["name"] for r in results for w in r.one("round_started")["workers"])

    report = app.test_client().get("/api/analytics").get_json()

    assert report["rounds_total"] == 3
    utilisation = report["utilisation"]
    assert utilisation["rounds"] == 3
    assert utilisation["unit"] == "rounds" and len(utilisation["labels"]) == 3
    totals = {s["persona"]["name"]: s["total"] for s in utilisation["series"]}
    assert totals == dict(selected)
    assert all(sum(s["counts"]) == s["total"] and len(s["counts"]) == 3
               for s in utilisation["series"])

    points = report["entropy"]["points"]
    assert [p["round_id"] for p in points] == [r.round_id for r in results]
    for point in points:
        assert point["max_entropy"] == round(math.log2(4), 3)
        assert 0.0 <= point["entropy"] <= point["max_entropy"] + 1e-3
    assert report["entropy"]["summary"]

    assert {row["name"] for row in report["leaderboard"]} == set(selected)

    similarity = report["similarity"]
    names = [p["name"] for p in similarity["personas"]]
    cells = similarity["cells"]
    assert len(cells) == len(names) and all(len(row) == len(names) for row in cells)
    together: Counter[tuple[str, str]] = Counter()
    for result in results:
        done = {w["answer_id"] for w in result.named("worker_done") if w["status"] == "done"}
        answered = [w["name"] for w in result.one("round_started")["workers"]
                    if w["answer_id"] in done]
        together.update((a, b) for a in answered for b in answered if a != b)
    assert together
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert cells[i][j] == cells[j][i]
            if i == j:
                continue
            mean = cells[i][j]["mean"]
            assert cells[i][j]["rounds"] == together[(a, b)]
            if together[(a, b)]:
                assert mean is not None and -1.0 <= mean <= 1.0
            else:
                assert mean is None
    assert similarity["rounds"] == 3 and similarity["round_limit"] == analytics.SIMILARITY_ROUNDS


def test_personas_that_answer_alike_are_flagged(app: Flask) -> None:
    vectors = {f"a{k}": [1.0, 0.0, 0.0] for k in range(3)}
    vectors |= {f"b{k}": [2.0, 0.0, 0.0] for k in range(3)}  # same direction: identical
    vectors |= {f"c{k}": [0.6, 0.8, 0.0] for k in range(3)}  # 0.6 from both
    vectors["broken"] = [0.0, 0.0, 1.0]
    embedder = FakeEmbedder(vectors)
    with session_scope(app) as session:
        personas = list_personas(session)
        assert len(personas) >= 4
        for k in range(3):
            add_round(session, personas, {0: ("done", f"a{k}"), 1: ("done", f"b{k}"),
                                          2: ("done" if k else "failed", f"c{k}")})
        add_round(session, personas, {2: ("timeout", "broken")})

        matrix = analytics.persona_similarity(session, embedder)
        loose = analytics.persona_similarity(session, embedder, threshold=0.5)
        assert len(embedder.calls) == 1  # the second request found every answer embedded
        add_round(session, personas, {0: ("done", "a0"), 3: ("done", "broken")})
        analytics.persona_similarity(session, embedder)
        assert embedder.calls[1:] == [["broken"]]  # only the new text

    first, second, third, fourth = (p.name for p in personas[:4])
    assert embedder.calls[0] == ["a0", "b0", "a1", "b1", "c1", "a2", "b2", "c2"]
    cells = matrix.cells
    assert cells[0][1].mean == 1.0 and cells[0][1].rounds == 3
    assert cells[0][2].mean == 0.6 and cells[0][2].rounds == 2  # the failed answer is left out
    assert cells[1][2] == cells[2][1]
    assert cells[3][0].mean is None and cells[3][0].rounds == 0 and cells[3][3].mean is None
    assert cells[2][2].mean == 1.0 and cells[2][2].rounds == 2
    assert matrix.rounds == 3 and matrix.answers == 8 and matrix.threshold == 0.9
    assert [(f.a.name, f.b.name) for f in matrix.flags] == [(first, second)]
    assert matrix.flags[0].alike == 3 == matrix.flags[0].rounds
    assert matrix.flags[0].message == (f"{first} and {second} answer alike (1.00 over 3 "
                                       f"questions): too few shared questions to act on "
                                       f"(10 needed)")
    assert {(f.a.name, f.b.name) for f in loose.flags} == {(first, second), (first, third),
                                                          (second, third)}
    assert fourth not in {f.a.name for f in loose.flags} | {f.b.name for f in loose.flags}


def test_utilisation_groups_by_day_once_there_are_enough_days(app: Flask) -> None:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with session_scope(app) as session:
        personas = list_personas(session)[:3]
        for day, chosen in enumerate([{0, 1}, {0}, {1, 2}]):
            add_round(session, personas, {}, start + timedelta(days=day),
                      routing_for(personas, chosen, 1.0))
        # No routing record: the answers say who spoke, and there is no entropy to chart.
        add_round(session, personas, {2: ("done", "x")}, start + timedelta(days=2, hours=1))

        daily = analytics.persona_utilisation(session)
        entropy = analytics.gate_entropy(session)

    assert daily.unit == "day" and daily.labels == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert [(s.persona.name, s.counts) for s in daily.series] == [
        (personas[0].name, [1, 1, 0]), (personas[1].name, [1, 0, 1]),
        (personas[2].name, [0, 0, 2])]
    assert len(entropy.points) == 3
    assert entropy.points[0].max_entropy == round(math.log2(3), 3)
    assert entropy.mean_ratio == round(1.0 / math.log2(3), 3)


def test_utilisation_groups_a_single_day_into_blocks_of_rounds(app: Flask) -> None:
    with session_scope(app) as session:
        personas = list_personas(session)[:2]
        for _ in range(45):
            add_round(session, personas, {}, routing=routing_for(personas, {0}, 0.5))
        blocks = analytics.persona_utilisation(session)

    assert blocks.unit == "rounds" and blocks.block_size == 3
    assert blocks.labels[0] == "1–3" and blocks.labels[-1] == "43–45" and len(blocks.labels) == 15
    assert [s.persona.name for s in blocks.series] == [personas[0].name]
    assert blocks.series[0].counts == [3] * 15


def test_page_renders_the_charts(app: Flask, sio) -> None:
    sio.ask(QUESTIONS[0])
    response = app.test_client().get("/analytics")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for element in ("utilisation-chart", "entropy-chart", "leaderboard-chart", "similarity-table"):
        assert f'id="{element}"' in page
    assert "/static/vendor/chart.umd.min.js" in page and "/api/analytics" in page
    assert 'id="analytics-empty"' not in page
    assert 'href="/analytics" aria-current="page"' in page


def test_empty_state_on_a_fresh_app(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/analytics").get_data(as_text=True)
    assert 'id="analytics-empty"' in page
    for chart in ("utilisation-chart", "entropy-chart", "leaderboard-chart", "similarity-table"):
        assert f'id="{chart}"' not in page
    assert 'href="/">Council</a> page' in page
    # an evaluation needs no rounds: its section (and its own chart, once a report exists) stays
    assert 'id="eval-section"' in page and 'id="eval-empty"' in page

    report = client.get("/api/analytics").get_json()
    assert report["rounds_total"] == 0
    assert report["utilisation"]["labels"] == [] and report["utilisation"]["series"] == []
    assert report["entropy"]["points"] == [] and report["entropy"]["mean_ratio"] is None
    similarity = report["similarity"]
    assert similarity["flags"] == [] and similarity["answers"] == 0
    assert all(cell["mean"] is None for row in similarity["cells"] for cell in row)

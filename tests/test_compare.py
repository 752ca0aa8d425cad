"""Compare rounds against the demo server: the synthesizer model alone answers beside the
council, unseen until both answers are stored; the verdict, the reveal, and the Leaderboard's
council vs solo figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from council.db import session_scope
from council.evaluation.compare import council_vs_solo, draw_council_position
from council.evaluation.stats import win_rate
from council.extensions import get_settings
from council.llm.demo_server import DemoServer
from council.models import Comparison, Round, Synthesis, WorkerAnswer
from council.personas import list_personas
from council.prompts import SOLO_SYSTEM_PROMPT
from council.rounds.stages import SYNTH_TEMPERATURE
from tests.rows import new_round
from tests.sockets import CouncilClient, RoundResult

QUESTION = "Should a small team pick PostgreSQL or SQLite?"


def ask(sio: CouncilClient, text: str, conversation_id: int | None = None,
        **extra: Any) -> RoundResult:
    ack = sio.call("ask", {"conversation_id": conversation_id, "text": text, **extra})
    assert ack["ok"], ack
    return RoundResult(ack, sio.collect_until("round_done", ack["round_id"]))


def solo_requests(demo_server: DemoServer) -> list[dict[str, Any]]:
    return [r for r in demo_server.requests
            if r["messages"][0] == {"role": "system", "content": SOLO_SYSTEM_PROMPT}]


def test_a_compare_round_asks_the_synthesizer_alone_and_shows_the_pair_once_both_are_done(
        app: Flask, sio: CouncilClient, demo_server: DemoServer) -> None:
    first = ask(sio, "What database should a small blog use?")
    assert first.one("round_started")["compare"] is None and not first.named("compare_ready")
    assert not solo_requests(demo_server), "an ordinary round asks no solo answer"
    conversation_id = first.ack["conversation_id"]

    result = ask(sio, QUESTION, conversation_id, compare=True)
    assert result.one("round_started")["compare"] == {"status": "waiting"}
    [request] = solo_requests(demo_server)
    assert request["model"] == "qwen2.5:7b"
    assert request["options"]["temperature"] == SYNTH_TEMPERATURE
    assert request["options"]["num_predict"] == get_settings(app).num_predict
    assert request["messages"][1:] == [
        {"role": "user", "content": "What database should a small blog use?"},
        {"role": "assistant", "content": first.one("synth_done")["text"]},
        {"role": "user", "content": QUESTION}], "the conversation as the user saw it"

    with session_scope(app) as session:
        comparison = session.scalars(select(Comparison)).one()
        assert comparison.round_id == result.round_id and comparison.status == "done"
        assert comparison.model == "qwen2.5:7b" and comparison.eval_count
        assert comparison.council_position in ("A", "B") and comparison.verdict is None
        solo, position = comparison.text, comparison.council_position
    synthesis = result.one("synth_done")["text"]
    assert solo.strip() and solo != synthesis

    names = [name for name, _ in result.events]
    ready = result.one("compare_ready")
    assert names.index("synth_done") < names.index("compare_ready") < names.index("round_done")
    other = "B" if position == "A" else "A"
    assert ready == {"round_id": result.round_id, "status": "ready",
                     "pair": {position: synthesis, other: solo}, "reveal": None}
    before = json.dumps([data for name, data in result.events if name != "compare_ready"])
    assert solo not in before, "nothing of the solo answer reaches the page before the pair"
    assert "qwen2.5:7b" not in json.dumps(ready), "the pair names no one"


def test_the_council_answer_side_is_drawn_at_random() -> None:
    assert {draw_council_position() for _ in range(64)} == {"A", "B"}


def test_the_solo_answer_streams_beside_the_workers(app: Flask, sio: CouncilClient,
                                                    demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.01
    result = ask(sio, QUESTION, compare=True)
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.comparison.first_token_at < min(a.finished_at for a in round_.answers)


def test_compare_every_nth_round_and_the_default(make_app, settings, connect) -> None:
    client = connect(make_app(settings.with_changes(compare_every=2, router_top_k=1)))
    rounds = [ask(client, f"Question number {n}?") for n in range(4)]
    compared = {r.round_id for r in rounds if r.named("compare_ready")}
    assert compared == {r.round_id for r in rounds if r.round_id % 2 == 0} and len(compared) == 2

    client = connect(make_app(settings.with_changes(compare=True, router_top_k=1)))
    assert ask(client, "Asked without saying?").one("compare_ready")["status"] == "ready"
    assert not ask(client, "Unticked?", compare=False).named("compare_ready")
    refused = client.call("ask", {"conversation_id": None, "text": "hi", "compare": "yes"})
    assert refused == {"ok": False, "error": "compare must be true or false."}


def test_the_verdict_is_stored_by_identity_and_reveals_who_was_who(
        app: Flask, sio: CouncilClient) -> None:
    result = ask(sio, QUESTION, compare=True)
    client = app.test_client()
    url = f"/api/rounds/{result.round_id}/compare"
    for body in ({"verdict": "C"}, {"verdict": 1}, {}):
        answer = client.post(url, json=body)
        assert answer.status_code == 400 and '"A"' in answer.get_json()["error"], body
    assert client.post(url, json=["A"]).status_code == 400
    assert client.post("/api/rounds/999/compare", json={"verdict": "A"}).status_code == 404
    plain = ask(sio, "An ordinary round?")
    missing = client.post(f"/api/rounds/{plain.round_id}/compare", json={"verdict": "A"})
    assert missing.status_code == 404 and "not a compare round" in missing.get_json()["error"]

    with session_scope(app) as session:
        position = session.scalars(select(Comparison)).one().council_position
    other = "B" if position == "A" else "A"
    answer = client.post(url, json={"verdict": other})
    assert answer.status_code == 200
    assert answer.get_json() == {position: "council", other: "solo", "verdict": other,
                                 "solo_model": "qwen2.5:7b"}
    with session_scope(app) as session:
        comparison = session.scalars(select(Comparison)).one()
        assert comparison.verdict == "solo" and comparison.verdict_at is not None
    assert client.post(url, json={"verdict": "tie"}).get_json()["verdict"] == "tie"

    stored = client.get(f"/api/conversations/{result.ack['conversation_id']}").get_json()
    compare = stored["rounds"][-1]["compare"]
    assert compare["status"] == "ready" and compare["pair"] == result.one("compare_ready")["pair"]
    assert compare["reveal"] == {position: "council", other: "solo", "verdict": "tie",
                                 "solo_model": "qwen2.5:7b"}
    with session_scope(app) as session:
        assert session.scalars(select(Comparison)).one().verdict == "tie", "replaced"


def test_a_pair_that_is_not_complete_cannot_be_judged(app: Flask, sio: CouncilClient) -> None:
    result = ask(sio, QUESTION, compare=True)
    url = f"/api/rounds/{result.round_id}/compare"
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        round_.status, round_.comparison.status = "running", "running"
    answer = app.test_client().post(url, json={"verdict": "A"})
    assert answer.status_code == 409 and "not complete yet" in answer.get_json()["error"]
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        round_.status = "done"
        round_.comparison.status, round_.comparison.error = "timeout", "took longer than 10 s"
    answer = app.test_client().post(url, json={"verdict": "A"})
    assert answer.status_code == 409
    assert answer.get_json()["error"] == ("There is no pair to judge: the solo answer "
                                          "(qwen2.5:7b) did not complete (timeout: took longer "
                                          "than 10 s).")


def test_a_reload_mid_round_shows_no_solo_text(app: Flask, sio: CouncilClient, connect,
                                               demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.03
    ack = sio.call("ask", {"conversation_id": None, "text": QUESTION, "compare": True})
    sio.collect_until("worker_token", ack["round_id"])
    opened = connect().call("open_conversation", {"conversation_id": ack["conversation_id"]})
    assert opened["conversation"]["rounds"][-1]["compare"] == {"status": "waiting"}
    sio.collect_until("round_done", ack["round_id"])


def test_stopping_a_compare_round_stops_the_solo_answer_too(
        app: Flask, sio: CouncilClient, demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.05
    ack = sio.call("ask", {"conversation_id": None, "text": QUESTION, "compare": True})
    sio.collect_until("worker_token", ack["round_id"])
    assert sio.call("stop_round", {"round_id": ack["round_id"]})["ok"]
    events = RoundResult(ack, sio.collect_until("round_done", ack["round_id"]))
    ready = events.one("compare_ready")
    assert ready["status"] == "failed" and "the council answer did not complete" in ready["error"]
    with session_scope(app) as session:
        assert session.get(Round, ack["round_id"]).comparison.status == "stopped"


def test_when_the_council_fails_there_is_no_pair(app: Flask, sio: CouncilClient) -> None:
    with session_scope(app) as session:
        for persona in list_personas(session):
            persona.model = "missing-model:1b"
    result = ask(sio, QUESTION, compare=True)
    ready = result.one("compare_ready")
    assert ready["status"] == "failed"
    assert ready["error"] == ("There is no pair to judge: the council answer did not complete "
                              "(it never started).")


def judged_round(session, verdict: str, council_s: float, solo_s: float,
                 tokens: tuple[list[int], int, int]) -> None:
    """A finished compare round: workers' and synthesis' eval counts, the solo's, timings."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    workers, synthesis, solo = tokens
    round_ = new_round(session, status="done", started_at=start)
    session.add_all([WorkerAnswer(round_id=round_.id, persona_name="W", model="m", status="done",
                                  text="w", eval_count=count) for count in workers])
    session.add(Synthesis(round_id=round_.id, model="s", status="done", text="council",
                          eval_count=synthesis, finished_at=start + timedelta(seconds=council_s)))
    session.add(Comparison(round_id=round_.id, model="s", status="done", text="solo",
                           eval_count=solo, council_position="A", verdict=verdict,
                           started_at=start, finished_at=start + timedelta(seconds=solo_s)))


def test_council_vs_solo_figures_from_the_stored_verdicts(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/leaderboard/compare").get_json()["verdicts"] == 0
    assert "Tick <em>Compare</em>" in client.get("/leaderboard").get_data(as_text=True)

    with session_scope(app) as session:
        judged_round(session, "council", 10.0, 4.0, ([100, 50], 80, 60))  # +6 s, +170 tokens
        judged_round(session, "council", 9.0, 5.0, ([40], 30, 20))        # +4 s, +50
        judged_round(session, "solo", 3.0, 2.0, ([10, 10, 10], 10, 30))   # +1 s, +10
        judged_round(session, "tie", 8.0, 1.0, ([200], 100, 50))          # +7 s, +250
        unjudged = new_round(session, status="done")
        session.add(Comparison(round_id=unjudged.id, model="s", status="done", text="x",
                               council_position="B"))
    with session_scope(app) as session:
        figures = council_vs_solo(session)
    expected = win_rate([1.0, 1.0, 0.0, 0.5])
    assert figures.win_rate == expected
    assert (expected.wins, expected.losses, expected.ties, expected.rate) == (2, 1, 1, 0.625)
    assert expected.low < expected.rate < expected.high and expected.provisional
    assert figures.median_extra_seconds == 5.0 and figures.median_extra_tokens == 110

    figures_json = client.get("/api/leaderboard/compare").get_json()
    assert figures_json == {**expected.as_dict(), "median_extra_seconds": 5.0,
                            "median_extra_tokens": 110}
    page = client.get("/leaderboard").get_data(as_text=True)
    section = page.split('id="council-vs-solo"', 1)[1].split("</section>", 1)[0]
    for shown in ('<td class="wins">2</td>', '<td class="losses">1</td>',
                  '<td class="ties">1</td>', "62%", "provisional", "+5.0 s", "+110",
                  f"{expected.low * 100:.0f} – {expected.high * 100:.0f}%"):
        assert shown in section, shown


def test_ten_verdicts_settle_the_figure(app: Flask) -> None:
    with session_scope(app) as session:
        for _ in range(10):
            judged_round(session, "council", 2.0, 1.0, ([1], 1, 1))
    figures = app.test_client().get("/api/leaderboard/compare").get_json()
    assert figures["verdicts"] == 10 and figures["provisional"] is False
    assert figures["rate"] == 1.0

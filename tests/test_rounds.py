"""Council rounds over Socket.IO against the demo server: streaming, concurrency, faults, stop."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from council.db import session_scope
from council.extensions import get_council
from council.llm.demo_server import DemoServer
from council.models import Round, Synthesis, WorkerAnswer
from council.personas import create_persona, list_personas


def test_full_round_streams_four_workers_and_one_synthesis(app: Flask, sio) -> None:
    result = sio.ask("How should I structure a Flask app that streams over websockets?")

    started = result.one("round_started")
    assert len(started["workers"]) == 4
    assert {w["name"] for w in started["workers"]} == {"Architect", "Skeptic", "Explorer",
                                                       "Pragmatist"}
    assert sum(d["weight"] for d in started["routing"]["decisions"]) == pytest.approx(1.0, abs=1e-3)
    assert all(e["round_id"] == result.round_id for _, e in result.events)

    done = result.done_by_answer()
    assert len(done) == 4 and all(d["status"] == "done" for d in done.values())
    for worker in started["workers"]:
        streamed = "".join(t["delta"] for t in result.named("worker_token")
                           if t["answer_id"] == worker["answer_id"])
        assert streamed and streamed == done[worker["answer_id"]]["text"]
        assert done[worker["answer_id"]]["stats"]["eval_count"] > 0
    texts = [d["text"] for d in done.values()]
    assert len(set(texts)) == 4, "each persona answers differently"

    synth = result.one("synth_done")
    assert synth["status"] == "done"
    assert "".join(t["delta"] for t in result.named("synth_token")) == synth["text"]
    assert result.one("round_done")["status"] == "done"
    names = [name for name, _ in result.events]
    assert names.index("synth_started") > max(i for i, n in enumerate(names) if n == "worker_done")

    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.status == "done" and round_.finished_at is not None
        assert sorted(a.text for a in round_.answers) == sorted(texts)
        assert all(a.eval_count and a.total_duration_ns and a.done_reason == "stop"
                   for a in round_.answers)
        assert round_.synthesis.text == synth["text"]
        assert round_.synthesis.model == "qwen2.5:7b"
        assert round_.conversation.title.startswith("How should I structure")


def test_workers_really_run_concurrently(app: Flask, sio, demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.01
    result = sio.ask("Compare three ways to cache database queries.")
    with session_scope(app) as session:
        answers = session.scalars(select(WorkerAnswer)
                                  .where(WorkerAnswer.round_id == result.round_id)).all()
        first_tokens = [a.first_token_at for a in answers]
        finishes = [a.finished_at for a in answers]
        durations = [a.total_duration_ns / 1e9 for a in answers]
        worker_phase = (max(finishes) - min(a.started_at for a in answers)).total_seconds()
    # Every worker had produced its first token before any worker finished: they overlapped.
    assert max(first_tokens) < min(finishes)
    # Four workers took about one worker's time, not the sum of all four.
    assert worker_phase < 0.5 * sum(durations), (worker_phase, durations)


@pytest.mark.parametrize("queue", ["server", "app"])
def test_a_server_that_answers_one_at_a_time_still_gets_every_worker_done(
        make_app, settings, connect, demo_server: DemoServer, queue: str) -> None:
    """Ollama with OLLAMA_NUM_PARALLEL=1 queues requests itself ("server"); the app queues them
    for servers that would interrupt ("app", COUNCIL_BACKEND_PARALLEL=1). Either way the four
    answers one after another take longer than the worker timeout, and none times out: a
    worker's clock starts when the model turns to it."""
    demo_server.token_delay = 0.012
    demo_server.num_parallel = 1 if queue == "server" else None
    timeout = 1.5
    app = make_app(settings.with_changes(worker_timeout=timeout,
                                         backend_parallel=1 if queue == "app" else 0))
    result = connect(app).ask("Compare three ways to cache database queries.", timeout=60)
    done = result.done_by_answer()
    assert len(done) == 4 and all(d["status"] == "done" for d in done.values()), done
    assert result.one("round_done")["status"] == "done"
    with session_scope(app) as session:
        answers = sorted(session.scalars(select(WorkerAnswer).where(
            WorkerAnswer.round_id == result.round_id)), key=lambda a: a.first_token_at)
        phase = (answers[-1].finished_at - answers[0].first_token_at).total_seconds()
    assert phase > timeout, "the test only proves something if the queue outlasts the timeout"


FAULT_MATRIX = [
    ("refuse", "connection"),
    ("error_midstream", "demo fault"),
    ("reset_midstream", "broke"),
    ("slow_first_token", "took longer than"),
    ("hang", "took longer than"),
    ("http_500", "http 500"),
    ("malformed", "not json"),
    ("unknown_model", "ollama pull"),
]


@pytest.mark.parametrize("fault,expected", FAULT_MATRIX)
def test_a_faulty_worker_leaves_the_others_and_the_synthesis_intact(
        make_app, settings, connect, demo_server: DemoServer, fault: str, expected: str) -> None:
    """The timeout is generous so that healthy workers on a loaded machine never reach it; the
    slow first token is slower still."""
    demo_server.slow_first_token_delay = 12.0
    app = make_app(settings.with_changes(worker_timeout=4.0, synth_timeout=30.0, router_top_k=5))
    model = "not-pulled:1b" if fault == "unknown_model" else f"faulty-{fault}:3b"
    if fault != "unknown_model":
        demo_server.set_fault(model, fault)
    with session_scope(app) as session:
        create_persona(session, {"name": "Broken", "system_prompt": "You are Broken.",
                                 "model": model})
    client = connect(app)
    result = client.ask("What is a good name for a cat?")
    started = result.one("round_started")
    broken = next(w for w in started["workers"] if w["name"] == "Broken")
    done = result.done_by_answer()

    assert done[broken["answer_id"]]["status"] in ("failed", "timeout")
    assert expected in done[broken["answer_id"]]["error"].lower()
    others = [d for a, d in done.items() if a != broken["answer_id"]]
    assert len(others) == 4 and all(d["status"] == "done" for d in others)
    assert result.one("synth_done")["status"] == "done"
    assert result.one("round_done")["status"] == "done"
    with session_scope(app) as session:
        stored = session.get(WorkerAnswer, broken["answer_id"])
        assert stored.status == done[broken["answer_id"]]["status"]
        assert expected in stored.error.lower()
        assert session.get(Round, result.round_id).synthesis.status == "done"


def test_when_every_worker_fails_the_round_says_why(app: Flask, sio,
                                                    demo_server: DemoServer) -> None:
    with session_scope(app) as session:
        for persona in list_personas(session):
            persona.model = "missing-model:1b"
    result = sio.ask("Anyone there?")
    assert all(d["status"] == "failed" for d in result.named("worker_done"))
    assert not result.named("synth_started")
    error = result.one("round_error")["error"]
    assert "every worker failed" in error.lower() and "ollama pull missing-model:1b" in error
    assert result.one("round_done")["status"] == "failed"
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.status == "failed" and "Every worker failed" in round_.error
        assert round_.synthesis is None


@pytest.mark.parametrize("fault,expected", FAULT_MATRIX)
def test_a_failing_synthesizer_fails_the_round_but_keeps_the_answers(
        make_app, settings, connect, demo_server: DemoServer, fault: str, expected: str) -> None:
    model = "not-pulled:7b" if fault == "unknown_model" else f"synth-{fault}:7b"
    if fault != "unknown_model":
        demo_server.set_fault(model, fault)
    demo_server.slow_first_token_delay = 12.0
    app = make_app(settings.with_changes(synth_model=model, synth_timeout=4.0))
    client = connect(app)
    result = client.ask("Summarise the trade-offs of microservices.")
    assert all(d["status"] == "done" for d in result.named("worker_done"))
    assert result.one("synth_done")["status"] in ("failed", "timeout")
    error = result.one("round_error")["error"]
    assert "synthesizer" in error.lower() and expected in error.lower(), error
    with session_scope(app) as session:
        round_ = session.get(Round, result.round_id)
        assert round_.status == "failed" and expected in round_.error.lower()
        assert len([a for a in round_.answers if a.text]) == 4
        assert round_.synthesis.status in ("failed", "timeout") and round_.synthesis.error

    demo_server.set_fault(model, None)  # the app keeps serving: the next round is whole
    demo_server.add_model(model)
    again = client.ask("And what about a modular monolith?")
    assert again.one("round_done")["status"] == "done"


def test_stop_mid_round_keeps_partial_answers(app: Flask, sio, demo_server: DemoServer) -> None:
    demo_server.token_delay = 0.05
    ack = sio.call("ask", {"conversation_id": None, "text": "Explain consensus algorithms."})
    events = sio.collect_until("worker_token", ack["round_id"])
    assert sio.call("stop_round", {"round_id": ack["round_id"]})["ok"]
    events += sio.collect_until("round_done", ack["round_id"])

    done = [d for e, d in events if e == "worker_done"]
    assert len(done) == 4 and all(d["status"] == "stopped" for d in done)
    assert any(d["text"] for d in done), "tokens streamed before the stop are kept"
    assert not [e for e, _ in events if e.startswith("synth")]
    assert events[-1][1]["status"] == "stopped"
    with session_scope(app) as session:
        round_ = session.get(Round, ack["round_id"])
        assert round_.status == "stopped"
        assert all(a.status == "stopped" for a in round_.answers)
        assert sum(len(a.text) for a in round_.answers) == sum(len(d["text"]) for d in done)
    assert sio.call("stop_round", {"round_id": ack["round_id"]})["ok"] is False


def test_multi_turn_history_reaches_the_next_round(app: Flask, sio,
                                                   demo_server: DemoServer) -> None:
    first = sio.ask("What database should a small blog use?")
    conversation_id = first.ack["conversation_id"]
    first_answers = {d["answer_id"]: d["text"] for d in first.named("worker_done")}
    first_synthesis = first.one("synth_done")["text"]
    demo_server.requests.clear()

    second = sio.ask("And how would I back it up?", conversation_id)
    assert second.ack["conversation_id"] == conversation_id
    worker_requests = [r for r in demo_server.requests if r["model"] == "qwen2.5:3b"]
    assert len(worker_requests) == 4
    for request in worker_requests:
        contents = [m["content"] for m in request["messages"]]
        assert contents[0].startswith("You are the")
        assert "What database should a small blog use?" in contents
        assert contents[-1] == "And how would I back it up?"
        own = [m["content"] for m in request["messages"] if m["role"] == "assistant"]
        assert len(own) == 1 and own[0] in first_answers.values()
        assert any(first_synthesis in c for c in contents)
    own_answers = {r["messages"][2]["content"] for r in worker_requests}
    assert len(own_answers) == 4, "each worker sees its own earlier answer"

    synth_request = next(r for r in demo_server.requests if r["model"] == "qwen2.5:7b")
    roles = [(m["role"], m["content"]) for m in synth_request["messages"]]
    assert ("user", "What database should a small blog use?") in roles
    assert ("assistant", first_synthesis) in roles
    assert "And how would I back it up?" in roles[-1][1]


def test_round_refuses_empty_and_unknown_input(app: Flask, sio) -> None:
    assert "Type a question" in sio.call("ask", {"text": "   "})["error"]
    assert "no longer exists" in sio.call("ask", {"conversation_id": 999, "text": "hi"})["error"]
    assert "limit" in sio.call("ask", {"text": "x" * 20_001})["error"]
    assert sio.call("ask", "not an object")["ok"] is False
    with session_scope(app) as session:
        for persona in list_personas(session):
            persona.enabled = False
    assert "No persona is enabled" in sio.call("ask", {"text": "hi"})["error"]
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Round.id))) == 0


def test_council_runs_without_socketio(app: Flask) -> None:
    """The round library works for any caller (benchmarks, scripts): events are a callable."""
    events: list[tuple[str, dict]] = []
    council = get_council(app)
    plan = council.start_round(None, "Plan a weekend trip.", lambda e, d: events.append((e, d)))
    round_id, conversation_id = plan.round_id, plan.conversation_id
    assert council.wait(round_id, timeout=30)
    assert events[-1] == ("round_done", {"round_id": round_id, "conversation_id": conversation_id,
                                         "status": "done", "error": None})
    with session_scope(app) as session:
        assert session.scalar(select(func.count(Synthesis.id))) == 1

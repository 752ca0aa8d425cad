"""Several app processes on one database: each finds the gone ones and interrupts what they
left running, and leaves the living ones' rounds and jobs alone (council/app_processes.py)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from council.app_processes import STALE_S, boot_id
from council.config import Settings
from council.db import session_scope
from council.extensions import app_process_id, get_council
from council.job_process import start_ticks
from council.llm.demo_server import DemoServer
from council.models import AppProcess, Conversation, Job, Round, WorkerAnswer, utcnow
from tests.rows import database_at

pytestmark = pytest.mark.both_databases


def running_work(app: Flask, **process: Any) -> tuple[int, int, int, int]:
    """A process row with a running round (and answer) and a queued job; their ids."""
    with session_scope(app) as session:
        row = AppProcess(data_dir="/elsewhere", **process)
        conversation = Conversation()
        session.add_all([row, conversation])
        session.flush()
        round_ = Round(conversation_id=conversation.id, user_message="q", app_process_id=row.id)
        session.add(round_)
        session.flush()
        answer = WorkerAnswer(round_id=round_.id, persona_name="p", model="m")
        job = Job(kind="discover", args={}, state="queued", app_process_id=row.id,
                  data_dir="/elsewhere")
        session.add_all([answer, job])
        session.flush()
        return row.id, round_.id, answer.id, job.id


def states(app: Flask, ids: tuple[int, int, int, int]) -> tuple[bool, str, str, str]:
    process_id, round_id, answer_id, job_id = ids
    with session_scope(app) as session:
        return (session.get(AppProcess, process_id).ended_at is not None,
                session.get(Round, round_id).status, session.get(WorkerAnswer, answer_id).status,
                session.get(Job, job_id).state)


def test_a_process_elsewhere_is_gone_when_its_heartbeat_is_stale(app: Flask) -> None:
    now = utcnow()
    stale = running_work(app, host="box-a", pid=1, start_ticks=1,
                         seen_at=now - timedelta(seconds=STALE_S + 5))
    fresh = running_work(app, host="box-b", pid=1, start_ticks=1, seen_at=now)
    app.extensions["council_heartbeat"].beat()
    assert states(app, stale) == (True, "interrupted", "interrupted", "interrupted")
    assert states(app, fresh) == (False, "running", "running", "queued")


def test_a_process_on_this_host_is_gone_when_its_pid_no_longer_runs(app: Flask) -> None:
    host, boot = socket.gethostname(), boot_id()
    with subprocess.Popen(["sleep", "60"]) as alive, subprocess.Popen(["true"]) as ended:
        ended.wait()
        alive_ticks = start_ticks(alive.pid)
        assert alive_ticks is not None
        here = {"host": host, "boot_id": boot}
        living = running_work(app, pid=alive.pid, start_ticks=alive_ticks, **here)
        # the pid of an ended process, or a later one that reuses it with another start time
        dead = running_work(app, pid=ended.pid, start_ticks=1, **here)
        reused = running_work(app, pid=alive.pid, start_ticks=alive_ticks - 1, **here)
        # the same host name on another machine (or after a reboot): only its heartbeat tells
        elsewhere = running_work(app, host=host, boot_id="another-boot", pid=ended.pid,
                                 start_ticks=1)
        app.extensions["council_heartbeat"].beat()
        assert states(app, living) == (False, "running", "running", "queued")
        assert states(app, dead) == (True, "interrupted", "interrupted", "interrupted")
        assert states(app, reused)[:2] == (True, "interrupted")
        assert states(app, elsewhere) == (False, "running", "running", "queued")
        alive.kill()


def test_a_process_taken_for_gone_registers_again(app: Flask) -> None:
    """Paused for longer than STALE_S, it was ended by another: its next rounds get a new
    row that nobody interrupts."""
    first = app_process_id(app)
    with session_scope(app) as session:
        session.get(AppProcess, first).ended_at = utcnow()
    app.extensions["council_heartbeat"].beat()
    assert app_process_id(app) != first
    with session_scope(app) as session:
        assert session.get(AppProcess, app_process_id(app)).ended_at is None


def test_the_own_process_and_its_work_are_left_alone(app: Flask) -> None:
    with session_scope(app) as session:
        conversation = Conversation()
        session.add(conversation)
        session.flush()
        round_ = Round(conversation_id=conversation.id, user_message="q",
                       app_process_id=app_process_id(app))
        session.add(round_)
        session.flush()
        round_id = round_.id
    app.extensions["council_heartbeat"].beat()
    with session_scope(app) as session:
        assert session.get(Round, round_id).status == "running"
        assert session.get(AppProcess, app_process_id(app)).ended_at is None


def test_stop_pressed_through_another_process_stops_the_round(
        app: Flask, make_app: Callable[[Settings], Flask], settings: Settings,
        demo_server: DemoServer) -> None:
    """Two apps on one database stand for two app processes (each has its own row)."""
    other = make_app(settings)
    assert app_process_id(other) != app_process_id(app)
    demo_server.token_delay = 0.05
    streamed = threading.Event()
    plan = get_council(app).start_round(
        None, "Explain consensus algorithms.",
        lambda event, payload: streamed.set() if event == "worker_token" else None)
    assert streamed.wait(10)
    assert get_council(other).owner(plan.round_id) is None, "it runs in the first process"
    assert get_council(other).request_stop(plan.round_id)
    assert get_council(app).wait(plan.round_id, timeout=10)
    with session_scope(app) as session:
        round_ = session.get(Round, plan.round_id)
        assert round_.status == "stopped"
        assert all(answer.status == "stopped" for answer in round_.answers)
    assert not get_council(other).request_stop(plan.round_id), "it is no longer running"


@pytest.mark.parametrize("revision", ["0005", "0008"])
def test_upgrading_keeps_every_round_and_answer(make_app: Callable[[Settings], Flask],
                                                settings: Settings, revision: str) -> None:
    """Upgrades from before branches (0006 copies `rounds` to add a foreign key) and from
    before app processes (0009) keep the rows that reference a round: a dropped table takes
    them along when SQLite enforces foreign keys, so the upgrade runs without."""
    database_at(settings.database_url, revision, [
        "INSERT INTO conversations (id, title, created_at, updated_at) "
        "VALUES (1, 'old', '2026-01-01', '2026-01-01')",
        "INSERT INTO rounds (id, conversation_id, user_message, status, started_at) "
        "VALUES (1, 1, 'q1', 'done', '2026-01-01')",
        "INSERT INTO rounds (id, conversation_id, user_message, status, started_at) "
        "VALUES (2, 1, 'q2', 'running', '2026-01-01')",
        "INSERT INTO worker_answers (id, round_id, persona_name, persona_color, weight, "
        "variant, options, model, status, text, started_at) VALUES "
        "(1, 1, 'p', '#000000', 1.0, 'prompt', '{}', 'm', 'done', 'kept', '2026-01-01')"])
    app = make_app(settings)  # upgrades to the newest revision on start
    with session_scope(app) as session:
        assert [(r.id, r.status) for r in session.scalars(select(Round).order_by(Round.id))] \
            == [(1, "done"), (2, "interrupted")]
        assert session.get(WorkerAnswer, 1).text == "kept"

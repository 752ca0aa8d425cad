"""Jobs are claimed from the shared table exactly once: two app processes' runners on one
PostgreSQL database take turns on the queue's head row (council/jobs.py `claim_next`)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from council.config import Settings
from council.db import session_scope
from council.extensions import app_process_id
from council.jobs import claim_next
from council.models import Job
from tests.postgres import PostgresServer


def test_two_runners_claiming_at_once_take_turns(make_app: Callable[[Settings], Flask],
                                                 settings: Settings,
                                                 postgres_server: PostgresServer) -> None:
    """The first claim holds the head row until it commits; the second, blocked on that row
    meanwhile, then sees a job running in that data dir and claims nothing (one writer per
    data dir). SQLite needs no such turn: it has one writer at a time."""
    app = make_app(settings.with_changes(database_url=postgres_server.new_database()))
    with session_scope(app) as session:
        session.add_all([Job(kind="discover", args={}, state="queued", data_dir="/shared")
                         for _ in range(2)])
    first_holds, second_done = threading.Event(), threading.Event()
    claimed: dict[str, int | None] = {}

    def first() -> None:
        with session_scope(app) as session:
            job = claim_next(session, "/shared", app_process_id(app))
            claimed["first"] = job.id if job is not None else None
            first_holds.set()
            second_done.wait(1.0)  # the second is blocked on the row lock meanwhile
        claimed["first committed before second"] = not second_done.is_set()

    def second() -> None:
        first_holds.wait()
        with session_scope(app) as session:
            job = claim_next(session, "/shared", app_process_id(app))
            claimed["second"] = job.id if job is not None else None
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert claimed["first"] is not None and claimed["second"] is None, claimed
    assert claimed["first committed before second"]

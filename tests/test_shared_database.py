"""App processes sharing one PostgreSQL database (README *Scale-out*): what each does at start
and at every round start must not race with the others.

The start-up steps run in processes of their own (Alembic's context is one per process),
connected and waiting; the test releases them at the same moment. The exploration counts are
moved by two apps in this process, each with its own router and so its own thread lock, as two
processes would have.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

from flask import Flask
from sqlalchemy import create_engine, func, select, text

from council.config import PROJECT_ROOT, Settings
from council.db import make_engine, session_scope, upgrade_schema
from council.extensions import get_router
from council.models import AppState, Persona, RouterStats
from council.personas import list_personas
from council.router import ROUNDS_KEY
from tests.postgres import PostgresServer

AT_START = """
import sys
from council.config import PROJECT_ROOT
from sqlalchemy.orm import Session
from council.db import make_engine, upgrade_schema
from council.personas import seed_default_personas
step, url = sys.argv[1:]
engine = make_engine(url)
engine.connect().close()
print("ready", flush=True)
sys.stdin.readline()
if step == "upgrade":
    upgrade_schema(engine)
else:
    with Session(engine) as session:
        seed_default_personas(session, PROJECT_ROOT / "personas")
        session.commit()
print("done", flush=True)
"""
THREADS = 8  # four on each app
ROUTINGS = 25  # counted by each thread


def all_at_once(step: str, url: str, processes: int = 3) -> list[str]:
    """Run one start-up step in `processes` processes released together; their failures."""
    steps = [subprocess.Popen([sys.executable, "-c", AT_START, step, url], cwd=PROJECT_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    for started in steps:
        assert started.stdout.readline() == "ready\n", started.communicate()[1]
    for started in steps:
        started.stdin.write("go\n")
        started.stdin.flush()
    results = [started.communicate(timeout=120) for started in steps]
    return [err for (out, err), started in zip(results, steps)
            if started.returncode != 0 or out != "done\n"]


def test_processes_upgrading_one_fresh_database_at_once_all_start(
        postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    failures = all_at_once("upgrade", url)
    assert not failures, failures[0]
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert versions == 1


def test_processes_seeding_at_once_add_each_shipped_persona_once(
        postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        failures = all_at_once("seed", url, processes=4)
        with engine.connect() as connection:
            slugs = connection.execute(select(Persona.slug).order_by(Persona.slug)).scalars()
            slugs = list(slugs)
    finally:
        engine.dispose()
    assert not failures, failures[0]
    assert slugs == sorted(path.stem for path in (PROJECT_ROOT / "personas").glob("*.yaml"))


def test_two_apps_count_every_routing_of_both(make_app: Callable[[Settings], Flask],
                                              settings: Settings,
                                              postgres_server: PostgresServer) -> None:
    shared = settings.with_changes(database_url=postgres_server.new_database())
    apps = [make_app(shared), make_app(shared)]
    with session_scope(apps[0]) as session:
        route = get_router(apps[0]).route(session, list_personas(session), "Which queue?",
                                          {}, ())
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def count(app: Flask) -> None:
        router = get_router(app)
        barrier.wait()
        try:
            for _ in range(ROUTINGS):
                with router.stats_lock, session_scope(app) as session:
                    router.record_shown(session, route)
        except Exception as exc:  # noqa: BLE001  (the assertion below reports it)
            errors.append(exc)

    threads = [threading.Thread(target=count, args=(apps[n % 2],)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    with session_scope(apps[0]) as session:
        assert AppState.read(session, ROUNDS_KEY) == THREADS * ROUTINGS
        assert session.scalar(select(func.sum(RouterStats.shown))) == (
            THREADS * ROUTINGS * len(route.selected))

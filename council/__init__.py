"""AI Council: a local multi-agent assistant. `create_app` builds and wires everything."""

from __future__ import annotations

import os
import secrets

# torch's oneDNN kernels stop at AVX-512 BF16: its AMX kernels round the MiniLM embeddings
# differently, enough to move a borderline message to another persona, so on CPUs with AMX
# the router and discovery would not do what was measured (README *Limitations*). Read by
# oneDNN when torch first computes; a value already in the environment wins.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")

from flask import Flask  # noqa: E402

from .config import PROJECT_ROOT, Settings  # noqa: E402
from .embeddings import Embedder  # noqa: E402
from .extensions import get_backends, get_council, get_jobs, session_factory  # noqa: E402


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> Flask:
    """Build the app: database (migrated), default personas, router, LLM backend, council, web.

    `embedder` replaces the sentence-transformers model (tests share one loaded model).
    """
    from . import app_processes, db, jobs, rounds, router
    from .llm import connect_backends
    from .personas import seed_default_personas
    from .web import init_app as init_web

    backends, settings = connect_backends(settings or Settings.from_env())
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(SETTINGS=settings, SECRET_KEY=settings.secret_key or secrets.token_hex(32),
                      MAX_CONTENT_LENGTH=16 * 1024 * 1024)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    own_id = app_processes.init_app(app)
    with db.session_scope(app) as session:
        seed_default_personas(session, PROJECT_ROOT / "personas")
        router.init_app(app, embedder).load(session)
    app.extensions["council_llm"] = backends
    rounds.init_app(app, backends)
    jobs.init_app(app)
    app.extensions["council_heartbeat"] = app_processes.Heartbeat(app, own_id).start()
    init_web(app)
    return app


def close_app(app: Flask) -> None:
    """Stop running rounds and release connections (tests, and `council run` on exit)."""
    get_jobs(app).shutdown()
    council = get_council(app)
    for round_id in list(council.active):
        council.stop_round(round_id)
        council.wait(round_id, timeout=5)
    app.extensions["council_heartbeat"].stop()
    get_backends(app).close()
    session_factory(app).kw["bind"].dispose()

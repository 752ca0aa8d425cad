"""Extensions created unbound here and bound to an app in `create_app`, and one accessor each.

Each `init_app` stores its object in `app.extensions` (the settings in `app.config`); code
reaches them only through the accessors below, so the key and the type are written once.
`app` defaults to the current app, for request handlers; threads and CLIs pass theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_socketio import SocketIO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from .config import Settings
    from .jobs import JobRunner
    from .llm.roles import Backends
    from .rounds import Council
    from .router import Router

# engine.io closes the connection on a bigger message; 4 MiB lets a question far over the
# 20,000-character limit arrive, so the asker is told the limit instead of losing the socket
MAX_EVENT_BYTES = 4 * 1024 * 1024
socketio = SocketIO(async_mode="threading", max_http_buffer_size=MAX_EVENT_BYTES)


def _app(app: Flask | None) -> Flask:
    return app if app is not None else current_app


def get_settings(app: Flask | None = None) -> Settings:
    return _app(app).config["SETTINGS"]


def get_backends(app: Flask | None = None) -> Backends:
    """The LLM backends the personas (`.workers`) and the synthesizer talk to."""
    return _app(app).extensions["council_llm"]


def session_factory(app: Flask | None = None) -> sessionmaker[Session]:
    return _app(app).extensions["council_db"]


def get_router(app: Flask | None = None) -> Router:
    return _app(app).extensions["council_router"]


def get_council(app: Flask | None = None) -> Council:
    return _app(app).extensions["council"]


def get_jobs(app: Flask | None = None) -> JobRunner:
    return _app(app).extensions["council_jobs"]


def app_process_id(app: Flask | None = None) -> int:
    """This process's row in `app_processes` (council/app_processes.py)."""
    return _app(app).extensions["council_process"]

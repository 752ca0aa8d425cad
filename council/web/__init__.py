"""The web layer: one blueprint per feature, plus the Socket.IO events of a round."""

from __future__ import annotations

from flask import Flask

from ..extensions import socketio


def init_app(app: Flask) -> None:
    from . import analytics, events, leaderboard, personas, status  # noqa: F401  (events: handlers)
    from . import council as council_pages

    app.register_blueprint(council_pages.bp)
    app.register_blueprint(personas.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(leaderboard.bp)
    app.register_blueprint(analytics.bp)
    app.context_processor(status.template_globals)
    socketio.init_app(app)

"""The web layer: one blueprint per feature, plus the Socket.IO events of a round."""

from __future__ import annotations

from flask import Flask

from ..extensions import socketio


def init_app(app: Flask) -> None:
    # events: importing it registers the Socket.IO handlers
    from . import analytics, discover, events, leaderboard, personas, status  # noqa: F401
    from . import council as council_pages

    app.register_blueprint(council_pages.bp)
    app.register_blueprint(personas.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(leaderboard.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(discover.bp)
    app.context_processor(status.template_globals)
    socketio.init_app(app)

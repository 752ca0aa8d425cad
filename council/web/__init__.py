"""The web layer: one blueprint per feature, plus the Socket.IO events of a round."""

from __future__ import annotations

from flask import Flask

from ..extensions import socketio


def init_app(app: Flask) -> None:
    # events: importing it registers the Socket.IO handlers
    from . import (  # noqa: F401
        analytics,
        discover,
        events,
        jobs,
        leaderboard,
        personas,
        security,
        status,
        training,
    )
    from . import council as council_pages

    app.register_blueprint(council_pages.bp)
    app.register_blueprint(personas.bp)
    app.register_blueprint(status.bp)
    app.register_blueprint(leaderboard.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(discover.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(training.bp)
    app.context_processor(status.template_globals)
    socketio.init_app(app)
    security.init_app(app)

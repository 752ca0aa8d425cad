"""The web layer: one blueprint per feature, plus the Socket.IO events of a round."""

from __future__ import annotations

from flask import Flask

from ..extensions import get_settings, socketio
from .inputs import DatabaseIdConverter

SOCKETIO_CHANNEL = "ai-council"


def init_app(app: Flask) -> None:
    """Blueprints, template globals, error answers, Socket.IO, then the security checks."""
    # events: importing it registers the Socket.IO handlers
    from . import (  # noqa: F401
        analytics,
        conversations,
        discover,
        errors,
        events,
        jobs,
        leaderboard,
        personas,
        security,
        status,
        training,
    )
    from . import council as council_pages

    app.url_map.converters["int"] = DatabaseIdConverter  # before the routes that use it
    for feature in (council_pages, conversations, personas, status, leaderboard, analytics,
                    discover, jobs, training):
        app.register_blueprint(feature.bp)
    app.context_processor(status.template_globals)
    errors.init_app(app)
    # with several app processes, Redis carries each emit to the process holding the tab
    socketio.init_app(app, message_queue=get_settings(app).redis_url or None,
                      channel=SOCKETIO_CHANNEL)
    security.init_app(app)

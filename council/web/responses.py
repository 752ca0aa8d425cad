"""The one shape of an API error: `{"error": "<what went wrong and what to do>"}`.

The pages' scripts (`static/js/api.js`) show that message as it is, so every JSON error,
whether a route returns it or an error handler builds it, goes through `json_error`.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def json_error(message: str, status: int, **details: Any) -> tuple[Response, int]:
    """`details` add fields next to the message (e.g. per-field `errors` of a form)."""
    return jsonify({"error": message, **details}), status

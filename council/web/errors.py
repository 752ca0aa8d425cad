"""App-wide error answers: JSON with a message under /api/, the error page everywhere else.

One handler serves every HTTP error (`abort()`, unknown URLs, wrong methods, bodies over the
size limit) and the 500 that Flask makes of an unexpected exception. Flask logs that exception;
its answer says only that something failed, never what (no paths, no SQL, no stack).
"""

from __future__ import annotations

from flask import Flask, Response, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from ..errors import Conflict, NotFound
from .responses import json_error

UNEXPECTED_ERROR = ("Something went wrong on the server and this request did not complete; "
                    "try again, and see the app's log if it keeps failing.")


def status_for(error: Exception) -> int:
    """The status of a domain error: 404 when what it names is missing, 409 when it is not
    ready for the request, else 400 (bad input)."""
    if isinstance(error, NotFound):
        return 404
    return 409 if isinstance(error, Conflict) else 400


def _message(error: HTTPException) -> str:
    if getattr(error, "original_exception", None) is not None:
        return UNEXPECTED_ERROR
    return error.description or error.name


def http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    message = _message(error)
    if request.path.startswith("/api/"):
        response, _ = json_error(message, status)
    else:
        response = make_response(render_template("error.html", code=status, message=message))
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value  # e.g. Allow on a 405
    return response, status


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)

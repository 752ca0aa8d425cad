"""Who may talk to the app: local host names only, and state changes from its own pages only.

A local app is reachable by every web page the user visits. Two checks run before each
request:

- **Host** (DNS rebinding): a page on evil.example can make its own name resolve to
  127.0.0.1 and then read our responses as "same origin". Requests whose Host header is not a
  local name (localhost, 127.0.0.1, ::1, the bound address, COUNCIL_ALLOWED_HOSTS) get 421.
- **Origin** (cross-site requests): a state-changing request (POST, PUT, PATCH, DELETE) is
  refused with 403 when the browser says it comes from another site: `Sec-Fetch-Site` other
  than same-origin/none, or an `Origin` (else `Referer`) whose scheme, host and port differ
  from ours. Requests without any of these headers come from non-browser clients (the CLI,
  curl, tests), which a web page cannot make.

The Host check is WSGI middleware around everything, Socket.IO's `/socket.io/` endpoint
included (Flask-SocketIO answers that before Flask's own request handling). Socket.IO's origin
check is Flask-SocketIO's default (`cors_allowed_origins` unset: only the app's own origin);
with the Host pinned to a local name, a rebound page cannot pass it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from ..config import Settings
from ..extensions import get_settings
from .responses import json_error

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BROWSER_SAME_ORIGIN = frozenset({"same-origin", "none"})


def allowed_hosts(settings: Settings) -> frozenset[str]:
    names = {settings.host.strip("[]").lower(), *LOCAL_NAMES}
    names |= {name.strip().lower() for name in settings.allowed_hosts.split(",") if name.strip()}
    return frozenset(names - {"0.0.0.0", "::"})


def host_name(host_header: str) -> str:
    """`localhost:5000` -> `localhost`, `[::1]:5000` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return False
    return (parts.scheme, parts.netloc.lower()) == (request.scheme, request.host.lower())


def cross_site_reason() -> str | None:
    """Why the current request looks cross-site, or None."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in BROWSER_SAME_ORIGIN:
        return f"the browser marked it {fetch_site}"
    origin = request.headers.get("Origin")
    if origin is not None:
        return None if _same_origin(origin) else f"it comes from {origin}"
    referer = request.headers.get("Referer")
    if referer is not None and not _same_origin(referer):
        return f"it comes from {urlsplit(referer).netloc or 'an unknown page'}"
    return None


class LocalHostsOnly:
    """WSGI middleware: answer 421 to any request whose Host is not one of `hosts`."""

    def __init__(self, app: Any, hosts: frozenset[str]) -> None:
        self.app, self.hosts = app, hosts

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        host = environ.get("HTTP_HOST", "")
        if host_name(host) in self.hosts:
            return self.app(environ, start_response)
        message = (f"This app answers only to {', '.join(sorted(self.hosts))}; the request "
                   f"named {host!r}. Open it as http://127.0.0.1:<port>/ (or add the name to "
                   "COUNCIL_ALLOWED_HOSTS).")
        if environ.get("PATH_INFO", "").startswith("/api/"):
            body, kind = json.dumps({"error": message}).encode(), "application/json"
        else:
            body, kind = message.encode(), "text/plain; charset=utf-8"
        start_response("421 Misdirected Request", [("Content-Type", kind),
                                                   ("Content-Length", str(len(body)))])
        return [body]


def _refuse(status: int, message: str) -> Response:
    if request.path.startswith("/api/") or request.is_json:
        response, _ = json_error(message, status)
    else:
        response = Response(message, mimetype="text/plain")
    response.status_code = status
    return response


# Scripts, styles, images and connections from this app only; no plugins, no <base>
# rewriting, no framing by other sites (clickjacking), forms post only back here.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin"}


def init_app(app: Flask) -> None:
    """Call after Socket.IO has wrapped the app, so the Host check also guards it."""
    app.wsgi_app = LocalHostsOnly(app.wsgi_app, allowed_hosts(get_settings(app)))

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.before_request
    def check_request_origin() -> Any:
        if request.method in UNSAFE_METHODS:
            reason = cross_site_reason()
            if reason is not None:
                return _refuse(403, f"Refused a cross-site request ({reason}): only this app's "
                                    "own pages may change its data.")
        return None

"""The demo server's model management, as Ollama answers it: pull, create (with adapter blobs)
and blob uploads, so adapter registration can be tested without Ollama."""

from __future__ import annotations

import hashlib
from typing import Any

from .served import full_name


class ModelRoutes:
    """Mixed into the demo server's request handler, which provides the plumbing used here."""

    demo: Any
    headers: Any
    rfile: Any
    _body: Any
    _json: Any
    _line: Any
    _start_stream: Any
    _end_stream: Any
    _require_model: Any
    send_response: Any
    send_header: Any
    end_headers: Any

    def _pull(self) -> None:
        body = self._body()
        name = body.get("model") or body.get("name") or ""
        if not name:
            self._json(400, {"error": "model is required"})
            return
        self.demo.add_model(name)
        statuses = [{"status": "pulling manifest"},
                    {"status": "pulling demo", "digest": "sha256:" + "0" * 64,
                     "total": 100, "completed": 100},
                    {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
                    {"status": "success"}]
        self._status_stream(statuses, body.get("stream", True))

    def _create(self) -> None:
        body = self._body()
        name = body.get("model") or ""
        base = body.get("from") or ""
        if not name:
            self._json(400, {"error": "model is required"})
            return
        if base:
            self._require_model(base)
        for digest in (body.get("adapters") or {}).values():
            if digest not in self.demo.blobs:
                self._json(400, {"error": f"blob {digest} not found; upload it first"})
                return
        self.demo.add_model(name)
        self.demo.created[full_name(name)] = body
        statuses = [{"status": "using existing layer"}, {"status": "writing manifest"},
                    {"status": "success"}]
        self._status_stream(statuses, body.get("stream", True))

    def _status_stream(self, statuses: list[dict[str, Any]], stream: bool) -> None:
        if not stream:
            self._json(200, statuses[-1])
            return
        self._start_stream()
        for status in statuses:
            self._line(status)
        self._end_stream()

    def _blob(self, method: str, digest: str) -> None:
        if method == "HEAD":
            self.send_response(200 if digest in self.demo.blobs else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        hasher = hashlib.sha256()
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            hasher.update(chunk)
            remaining -= len(chunk)
        if f"sha256:{hasher.hexdigest()}" != digest:
            self._json(400, {"error": "digest mismatch"})
            return
        self.demo.blobs[digest] = length
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

"""The demo server's model management, as Ollama answers it: pull, create (with adapter blobs
before v0.34.1, or an import of safetensors files) and blob uploads, so adapter registration
can be tested on both sides of v0.34.1 without Ollama."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .ollama_versions import OLLAMA_IMPORTABLE, creates_adapter_models
from .served import full_name

QUANTIZE_TYPES = ("q4_k_m", "q4_k_s", "q8_0")  # what Ollama's create quantizes F16/BF16 to
SMALL_BLOB = 1 << 20


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
        """Ollama's create: from a model (with adapters before v0.34.1), or an import of
        safetensors files (config, tokenizer, weights), optionally quantized."""
        body = self._body()
        name = body.get("model") or ""
        base = body.get("from") or ""
        adapters = body.get("adapters") or {}
        files = body.get("files") or {}
        if not name:
            self._json(400, {"error": "model is required"})
            return
        # a version that says nothing is a build from current source: it refuses them too
        if adapters and not creates_adapter_models(self.demo.version):
            self._json(400, {"error": "creating models with adapters is not supported since "
                                      "Ollama 0.34.1"})
            return
        if base:
            self._require_model(base)
        for digest in (*adapters.values(), *files.values()):
            if digest not in self.demo.blobs:
                self._json(400, {"error": f"blob {digest} not found; upload it first"})
                return
        problem = self._import_problem(files, body.get("quantize")) if files else None
        if problem:
            self._json(400, {"error": problem})
            return
        self.demo.add_model(name)
        self.demo.created[full_name(name)] = body
        statuses = [{"status": "converting model" if files else "using existing layer"},
                    *([{"status": f"quantizing F16 model to {body['quantize'].upper()}"}]
                      if files and body.get("quantize") else []),
                    {"status": "writing manifest"}, {"status": "success"}]
        self._status_stream(statuses, body.get("stream", True))

    def _import_problem(self, files: dict[str, str], quantize: str | None) -> str | None:
        """Why Ollama's safetensors importer would refuse `files`; None if it converts them."""
        if "config.json" not in files:
            return "config.json not found"
        if not any(f.endswith(".safetensors") for f in files):
            return "no safetensors files found"
        if "tokenizer.json" not in files and "tokenizer.model" not in files:
            return "tokenizer.json or tokenizer.model not found"
        try:
            config = json.loads(self.demo.small_blobs[files["config.json"]])
            architecture = config["architectures"][0]
        except (KeyError, IndexError, TypeError, ValueError):
            return "unknown architecture"
        if architecture not in OLLAMA_IMPORTABLE:
            return f"unsupported architecture {architecture!r}"
        if quantize and quantize.lower() not in QUANTIZE_TYPES:
            return f"unsupported quantization type {quantize}"
        return None

    def modelfile(self, name: str) -> str:
        """What `show` says a model was built from: its adapter blobs are ADAPTER lines."""
        created = self.demo.created.get(full_name(name)) or {}
        lines = [f"FROM {created.get('from') or name}"]
        lines += [f"ADAPTER /root/.ollama/models/blobs/{digest.replace(':', '-')}"
                  for digest in (created.get("adapters") or {}).values()]
        return "\n".join(lines)

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
        kept = bytearray()
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            hasher.update(chunk)
            if length <= SMALL_BLOB:
                kept += chunk
            remaining -= len(chunk)
        if f"sha256:{hasher.hexdigest()}" != digest:
            self._json(400, {"error": "digest mismatch"})
            return
        self.demo.blobs[digest] = length
        if length <= SMALL_BLOB:
            self.demo.small_blobs[digest] = bytes(kept)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

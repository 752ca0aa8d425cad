"""The demo server's model management, as Ollama answers it: pull, create, delete and blob
uploads.

Read in ollama/ollama v0.33.0-rc2: server/create.go (`CreateHandler`,
`convertModelFromFiles`, `createModel`), server/model.go (`parseFromModel`), server/images.go
(`PullModel`), convert/convert.go (`LoadModelMetadata`), convert/tokenizer.go, fs/ggml/type.go
(`ParseFileType`), manifest/layer.go and server/routes.go (`streamResponse`, `waitForStream`,
`DeleteHandler`). What a create does, in Ollama's order:

- `from` a model: a missing one is pulled first ("pulling manifest"); failing that is an error
  without a status;
- `files`: safetensors are converted ("converting model"); a missing config.json, an
  unsupported architecture or a missing tokenizer is an error without a status;
- `adapters`: a GGUF ("parsing GGUF") or a safetensors adapter ("converting adapter"); their
  errors carry 400;
- `quantize` (any case): an unknown type, or a model that is not F16/BF16/F32, is an error
  without a status; otherwise "quantizing F16 model to Q4_K_M".

An error before any progress line is the HTTP answer (its status, 500 without one); after
progress lines it is an `{"error"}` line in the stream (the `ollama` client raises
ResponseError with status -1); without streaming it is the HTTP answer either way. Every
version creates models with adapters, as the newest source does; the server's
`adapter_refusal` imitates the unconfirmed report that 0.34.1 refuses them ("http_500": before
any content; "stream_error": after the progress lines).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .demo_catalog import ModelSpec, derived, imported, pulled, quantized
from .ollama_versions import OLLAMA_IMPORTABLE, QUANTIZE_TYPES
from .served import full_name

SMALL_BLOB = 1 << 20
BLOBS = "/root/.ollama/models/blobs"
ADAPTER_REFUSALS = ("http_500", "stream_error")
REFUSAL = "creating models with adapters is not supported by this version of Ollama"
# fs/ggml/type.go ParseFileType's list of what it supports (BF16 is accepted but not listed)
LISTED_QUANTIZE_TYPES = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"


class CreateFailed(Exception):
    """An error the create handler sends: its text and its HTTP status (None: 500)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


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
        self._progress(statuses, body.get("stream", True))

    def _create(self) -> None:
        body = self._body()
        progress: list[dict[str, Any]] = []
        try:
            spec = self._build(body, progress)
        except CreateFailed as failure:
            self._progress(progress, body.get("stream", True), failure)
            return
        self.demo.install(spec)
        self.demo.created[spec.name] = body
        progress += [{"status": "writing manifest"}, {"status": "success"}]
        self._progress(progress, body.get("stream", True))

    def _delete(self) -> None:
        """DeleteHandler: 200 with no body, or 404 for a model that is not there."""
        name = str(self._body().get("model") or "")
        if not self.demo.delete_model(name):
            self._json(404, {"error": f"model '{name}' not found"})
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _build(self, body: dict[str, Any], progress: list[dict[str, Any]]) -> ModelSpec:
        """The model a create makes, appending Ollama's progress lines as it goes."""
        name = body.get("model") or body.get("name")
        if not name:
            raise CreateFailed("invalid model name", 400)
        adapters = body.get("adapters") or {}
        if adapters and self.demo.adapter_refusal == "http_500":
            raise CreateFailed(REFUSAL, 500)
        name = full_name(name)
        if body.get("from"):
            base = self._from_model(body["from"], progress)
        elif body.get("files"):
            base = self._convert_model(name, body["files"], progress)
        else:
            raise CreateFailed("neither 'from' or 'files' was specified", 400)
        adapter_bytes = self._convert_adapter(adapters, progress) if adapters else 0
        if adapters and self.demo.adapter_refusal == "stream_error":
            raise CreateFailed(REFUSAL)
        spec = derived(name, base, tuple(adapters.values()), adapter_bytes)
        spec = self._quantize(spec, body.get("quantize") or body.get("quantization"),
                              progress)
        progress += [{"status": f"using existing layer {digest}"}
                     for digest in (f"sha256:{base.digest}", *adapters.values())]
        return spec

    def _from_model(self, base: str, progress: list[dict[str, Any]]) -> ModelSpec:
        spec = self.demo.models.get(full_name(base))
        if spec is None:  # parseFromModel pulls a missing base; the demo registry has none
            progress.append({"status": "pulling manifest"})
            raise CreateFailed("pull model manifest: file does not exist")
        return spec

    def _convert_model(self, name: str, files: dict[str, str],
                       progress: list[dict[str, Any]]) -> ModelSpec:
        """convertModelFromFiles for a model: safetensors through LoadModelMetadata's checks."""
        kind = self._file_kind(files)
        if kind == "gguf":
            progress.append({"status": "parsing GGUF"})
            self._check_blobs(files, None)
            return pulled(name)
        if kind != "safetensors":
            raise CreateFailed("unknown type", 400)
        self._check_blobs(files, None)
        progress.append({"status": "converting model"})
        if "config.json" not in files:
            raise CreateFailed("open config.json: no such file or directory")
        try:
            config = json.loads(self.demo.small_blobs.get(files["config.json"], b""))
        except ValueError as exc:
            raise CreateFailed(f"parse config.json: {exc}") from None
        architectures = (config.get("architectures") or []) if isinstance(config, dict) else []
        if not architectures:
            raise CreateFailed("unknown architecture")
        if architectures[0] not in OLLAMA_IMPORTABLE:
            raise CreateFailed(f'unsupported architecture "{architectures[0]}"')
        if "tokenizer.json" not in files and "tokenizer.model" not in files:
            raise CreateFailed("unknown tokenizer format")
        weights = sum(self.demo.blobs[digest] for file, digest in files.items()
                      if file.endswith(".safetensors"))
        return imported(name, config, weights)

    def _convert_adapter(self, adapters: dict[str, str], progress: list[dict[str, Any]]) -> int:
        """convertModelFromFiles for an adapter (every error 400); its size in bytes."""
        kind = self._file_kind(adapters)
        if kind == "gguf":
            if len(adapters) > 1:
                raise CreateFailed("only one adapter is currently supported", 400)
            progress.append({"status": "parsing GGUF"})
        elif kind == "safetensors":
            self._check_blobs(adapters, 400)
            progress.append({"status": "converting adapter"})
            if "adapter_config.json" not in adapters:
                raise CreateFailed("open adapter_config.json: no such file or directory", 400)
        else:
            raise CreateFailed("unknown type", 400)
        self._check_blobs(adapters, 400)
        return sum(self.demo.blobs[digest] for digest in adapters.values())

    @staticmethod
    def _quantize(spec: ModelSpec, wanted: str | None,
                  progress: list[dict[str, Any]]) -> ModelSpec:
        """createModel's quantization: ParseFileType on the upper-cased type, F16/BF16/F32
        models only."""
        level = (wanted or "").upper()
        if not level:
            return spec
        if level not in QUANTIZE_TYPES:
            raise CreateFailed(f"unsupported quantization type {level} - supported types are "
                               f"{LISTED_QUANTIZE_TYPES}")
        if spec.quantization not in ("F16", "BF16", "F32"):
            raise CreateFailed("quantization is only supported for F16, BF16 and F32 models")
        if level == spec.quantization:
            return spec
        progress.append({"status": f"quantizing {spec.quantization} model to {level}"})
        return quantized(spec, level)

    def _file_kind(self, files: dict[str, str]) -> str:
        """detectModelTypeFromFiles: the first .safetensors or .gguf name, else a blob that
        starts with GGUF's magic; "" for neither."""
        for file, digest in files.items():
            if file.endswith((".safetensors", ".gguf")):
                return file.rsplit(".", 1)[1]
            if self.demo.small_blobs.get(digest, b"").startswith(b"GGUF"):
                return "gguf"
        return ""

    def _check_blobs(self, files: dict[str, str], status: int | None) -> None:
        for digest in files.values():
            if digest not in self.demo.blobs:
                raise CreateFailed(f"open {BLOBS}/{digest.replace(':', '-')}: "
                                   f"no such file or directory", status)

    def modelfile(self, spec: ModelSpec) -> str:
        """What `show` says a model was built from: its adapter blobs are ADAPTER lines."""
        lines = [f"FROM {spec.base or spec.name}"]
        lines += [f"ADAPTER {BLOBS}/{digest.replace(':', '-')}" for digest in spec.adapters]
        return "\n".join(lines)

    def _progress(self, statuses: list[dict[str, Any]], stream: bool,
                  failure: CreateFailed | None = None) -> None:
        """streamResponse / waitForStream: progress lines, then the error if any."""
        if failure is not None and (not stream or not statuses):
            self._json(failure.status or 500, {"error": failure.message})
            return
        if not stream:
            self._json(200, statuses[-1])
            return
        self._start_stream()
        for status in statuses:
            self._line(status)
        if failure is not None:
            self._line({"error": failure.message})
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

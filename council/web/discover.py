"""The Discover page: upload a chat export, run persona discovery, review the clusters, import.

Discovery runs as a background job (`council.jobs`); the page polls `/api/jobs/<id>` and is
handed the last discovery job's state, so a failed or interrupted run shows as such. An upload
is checked to be a readable export before it is stored (a bad file never replaces a good one).
The result endpoint reads the files the script wrote under `data/personas/`, adds a 2-D PCA map
of the kept messages' embeddings, and says which job wrote them, so the page can tell the
results of an earlier run from those of the run it just watched; and whether they are whole:
a run interrupted (a crash, a restart) after it rewrote some of the files leaves results that
mix it with an earlier run, and the page says so rather than showing them as current.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data
from werkzeug.utils import secure_filename

from ..db import session_scope
from ..discovery.importer import import_discovered, load_discovery
from ..discovery.modes import DEFAULT_BALANCE
from ..discovery.parse import ExportError, ExportLimits, detect_format
from ..extensions import get_jobs, get_router, get_settings
from ..files import UPLOAD_PREFIX, MissingDiscovery, PersonaFiles
from ..jobs import job_payload, uploads_in_use
from ..models import Job, as_utc
from ..personas import PersonaError
from .inputs import json_body, text_field
from .responses import json_error

MAX_NAME_CHARS = 120
bp = Blueprint("discover", __name__)

MAX_CLUSTERS = 12


def persona_files() -> PersonaFiles:
    return PersonaFiles.in_data_dir(get_settings().data_dir)


def uploads_dir() -> Path:
    return persona_files().raw_imports


def _too_large(limit_mb: int) -> Any:
    return json_error(f"The file is larger than the upload limit of {limit_mb} MB. Raise "
                      f"COUNCIL_MAX_UPLOAD_MB, or run `council discover --input FILE` "
                      f"from the command line.", 413)


@bp.get("/discover")
def page() -> str:
    """The page, handed the last discovery job (running, done, failed…) and the file it ran on
    if that is still there, so it opens on that job's outcome rather than on older results."""
    with session_scope() as session:
        last = session.scalars(select(Job).where(Job.kind == "discover")
                               .order_by(Job.id.desc())).first()
        last_job = job_payload(last) if last is not None else None
    last_upload = str(last_job["args"].get("upload") or "") if last_job else ""
    if last_upload and not (uploads_dir() / last_upload).is_file():
        last_upload = ""
    return render_template("discover/index.html", last_job=json.dumps(last_job),
                           last_upload=last_upload, max_upload_mb=get_settings().max_upload_mb,
                           has_result=persona_files().has_discovery(),
                           default_balance=DEFAULT_BALANCE)


def safe_upload_name(raw: str) -> str:
    """A name that stays inside raw_imports: no separators, no leading dot, at most 120 chars
    (the extension kept); empty when nothing usable is left."""
    name = secure_filename(raw.replace("\x00", ""))
    if not name or name.startswith("."):
        return ""
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 10:
        stem, extension = name, ""
    stem = stem[:MAX_NAME_CHARS - len(extension) - 1].rstrip("._-") or "upload"
    return f"{stem}.{extension}" if extension else stem


@bp.post("/api/discover/upload")
def upload() -> Any:
    """Stream the multipart field `file` straight to raw_imports/<secure name>."""
    limit_mb = get_settings().max_upload_mb
    limit = limit_mb * 1024 * 1024
    # Multipart framing adds a little to the file itself.
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return _too_large(limit_mb)
    target_dir = uploads_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    opened: list[IO[bytes]] = []

    def stream_factory(total_content_length: int | None, content_type: str | None,
                       filename: str | None, content_length: int | None = None) -> IO[bytes]:
        # Closed in `upload`'s finally block, once the form is parsed.
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=target_dir, prefix=UPLOAD_PREFIX, delete=False)
        opened.append(handle)
        return handle  # type: ignore[return-value]

    try:
        try:
            _, _, files = parse_form_data(request.environ, stream_factory=stream_factory,
                                          max_content_length=limit + 64 * 1024)
        except RequestEntityTooLarge:
            return _too_large(limit_mb)
        finally:
            for handle in opened:
                handle.close()
        storage = files.get("file")
        if storage is None:
            return json_error("Choose a file to upload (form field `file`).", 400)
        name = safe_upload_name(storage.filename or "")
        if not name:
            return json_error("The file needs a name made of letters, digits, dots, dashes "
                              "or underscores (e.g. conversations.json).", 400)
        temp_path = Path(storage.stream.name)  # type: ignore[attr-defined]
        size = temp_path.stat().st_size
        if size > limit:
            return _too_large(limit_mb)
        if size == 0:
            return json_error("The uploaded file is empty.", 400)
        try:
            export_format = detect_format(temp_path, ExportLimits.from_settings(get_settings()))
        except ExportError as exc:
            # the parser names the file it read: the temporary one, not the user's
            return json_error(f"{name} is not a chat export discovery can read. "
                              f"{str(exc).replace(temp_path.name, name)}", 400)
        os.replace(temp_path, target_dir / name)
        with session_scope() as session:
            in_use = uploads_in_use(session) | {name}
        persona_files().clean_uploads(get_settings().keep_uploads, in_use)
        return jsonify({"upload": name, "size": size, "format": export_format})
    finally:
        for handle in opened:
            Path(handle.name).unlink(missing_ok=True)


@bp.post("/api/discover/run")
def run() -> Any:
    payload = json_body()
    name = payload.get("upload")
    if not isinstance(name, str) or not name or safe_upload_name(name) != name:
        return json_error("Upload an export first, then run discovery on it.", 400)
    path = uploads_dir() / name
    if not path.is_file():
        return json_error(f"No uploaded file named {name}; upload it again.", 404)
    clusters = payload.get("clusters")
    if clusters in (None, "", 0):
        clusters = None
    else:
        try:
            clusters = int(clusters)
        except (TypeError, ValueError):
            return json_error("The number of personas must be a whole number (or empty for "
                              "automatic).", 400)
        if not 2 <= clusters <= MAX_CLUSTERS:
            return json_error(f"The number of personas must be between 2 and {MAX_CLUSTERS} "
                              f"(or empty for automatic).", 400)
    balance = payload.get("balance", DEFAULT_BALANCE)
    if isinstance(balance, bool) or not isinstance(balance, (int, float)) \
            or not 0 <= balance <= 1:
        return json_error("The topic/style balance must be a number from 0 (topics) to 1 "
                          "(style).", 400)
    job_id = get_jobs().submit("discover", {"input": str(path), "upload": name,
                                            "clusters": clusters, "balance": float(balance)})
    return jsonify({"job_id": job_id}), 202


@bp.get("/api/discover/result")
def result() -> Any:
    files = persona_files()
    try:
        prompts, analysis = files.read_discovery()
    except MissingDiscovery:
        return json_error("No discovery has run yet: upload a chat export on the Discover "
                          "page (or run `council discover`) first.", 404)
    by_slug = {p["slug"]: p for p in prompts}
    clusters = []
    for cluster in analysis["clusters"]:
        slug = cluster["slug"]
        prompt = by_slug.get(slug, {})
        clusters.append({
            "name": cluster["name"], "slug": slug, "size": cluster["size"],
            "keywords": cluster.get("keywords", []),
            "characteristics": cluster.get("characteristics", []),
            "representatives": cluster.get("representatives", []),
            "prompt": {"name": prompt.get("name", cluster["name"]),
                       "description": prompt.get("description", ""),
                       "system_prompt": prompt.get("system_prompt", ""),
                       "source": prompt.get("source"), "model": prompt.get("model"),
                       "note": prompt.get("note")}})
    written_at = modified_at(files.generated_prompts)
    run = job_that_wrote(written_at)
    writers = {json.dumps(job_that_wrote(modified_at(path)), sort_keys=True)
               for path in (files.cluster_analysis, files.cluster_map) if path.is_file()}
    whole = writers <= {json.dumps(run, sort_keys=True)} and (run is None
                                                              or run["state"] == "done")
    return jsonify({"k": analysis.get("k"), "balance": analysis.get("balance"),
                    "silhouette": analysis.get("silhouette"),
                    "warning": analysis.get("warning"), "clusters": clusters,
                    "map": files.read_map(), "written_at": written_at.isoformat(),
                    "run": run, "whole": whole})


def modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def job_that_wrote(written_at: datetime) -> dict[str, Any] | None:
    """The discovery job that was running when a result file was written ({job_id, upload,
    state, finished_at}; a state other than done: it stopped before it wrote the rest), or
    None when no job did (e.g. `council discover` on the command line)."""
    with session_scope() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "discover",
                                                 Job.finished_at.is_not(None))
                               .order_by(Job.id.desc()))
        for job in jobs:
            if job.started_at is None or job.finished_at is None:
                continue
            if as_utc(job.started_at) <= written_at <= as_utc(job.finished_at):
                return {"job_id": job.id, "upload": job.args.get("upload"), "state": job.state,
                        "finished_at": as_utc(job.finished_at).isoformat()}
    return None


@bp.post("/api/discover/import")
def import_chosen() -> Any:
    payload = json_body()
    chosen = payload.get("personas")
    on_conflict = payload.get("on_conflict", "skip")
    if on_conflict not in ("skip", "update"):
        return json_error("on_conflict must be 'skip' or 'update'.", 400)
    if not isinstance(chosen, list) or not chosen:
        return json_error("Tick at least one persona to import.", 400)
    data_dir = persona_files().root
    try:
        _, analysis = load_discovery(data_dir)
    except PersonaError:
        return json_error("No discovery has run yet, so there is nothing to import.", 404)
    entries = []
    for entry in chosen:
        if not isinstance(entry, dict) or entry.get("slug") not in analysis:
            return json_error("Each persona must name a slug from the latest discovery; "
                              "reload the page.", 400)
        entries.append({key: text_field(entry, key) for key in
                        ("slug", "name", "system_prompt", "description")})
    try:
        with session_scope() as session:
            summary = import_discovered(session, get_router(), data_dir, entries, on_conflict)
    except PersonaError as exc:
        return json_error(str(exc), 400, errors=exc.errors)
    return jsonify({"created": summary.created, "updated": summary.updated,
                    "skipped": summary.skipped})

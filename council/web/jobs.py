"""Background jobs over HTTP: status (with the log's tail), and cancel. Pages poll these."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from ..extensions import get_jobs, get_settings
from .responses import json_error

bp = Blueprint("jobs", __name__)
LOG_TAIL_BYTES = 4000


def _missing(job_id: int) -> Any:
    return json_error(f"There is no job {job_id}.", 404)


@bp.get("/api/jobs/<int:job_id>")
def job_status(job_id: int) -> Any:
    job = get_jobs().get(job_id)
    if job is None:
        return _missing(job_id)
    log = get_settings().data_dir / "jobs" / f"job-{job_id}.log"
    tail = ""
    if log.is_file():
        with log.open("rb") as handle:
            handle.seek(max(log.stat().st_size - LOG_TAIL_BYTES, 0))
            tail = handle.read().decode("utf-8", "replace")
    return jsonify({**job, "log_tail": tail})


@bp.post("/api/jobs/<int:job_id>/cancel")
def cancel(job_id: int) -> Any:
    jobs = get_jobs()
    if jobs.get(job_id) is None:
        return _missing(job_id)
    cancelled = jobs.cancel(job_id)
    return jsonify({"cancelled": cancelled, "job": jobs.get(job_id)})

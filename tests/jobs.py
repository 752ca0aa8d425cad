"""Driving the app's background jobs over the test client: upload an export for discovery,
then poll a job until it is final."""

from __future__ import annotations

import io
import time
from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

JOB_DEADLINE_S = 90.0


def upload(client: FlaskClient, data: bytes, name: str = "export.json") -> Any:
    """Encoded in memory (the test client spools big bodies to a temp file it never closes)."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), name)})
    return client.post("/api/discover/upload", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def wait_for_job(client: FlaskClient, job_id: int,
                 deadline_s: float = JOB_DEADLINE_S) -> list[dict[str, Any]]:
    """Poll the API until the job is final; every distinct answer seen, in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if not seen or seen[-1] != job:
            seen.append(job)
        if job["state"] not in ("queued", "running"):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {deadline_s}s: {seen[-1]}")

"""Driving the app's background jobs over the test client: upload an export for discovery,
then poll a job until it is final; and watching a job's process from outside."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

JOB_DEADLINE_S = 90.0
DEATH_WAIT_S = 10.0  # generous: a parent-death signal comes in milliseconds


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


def process_gone(pid: int, within_s: float = DEATH_WAIT_S) -> bool:
    """Whether the process has exited (a zombie waiting for its reaper counts) within the wait."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def child_processes(pid: int) -> dict[int, str]:
    """The direct children of `pid` (any of its threads started them) and their command lines."""
    children: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            listed = (task / "children").read_text().split()
        except OSError:  # the thread ended after it was listed: it has no children now
            continue
        for child in listed:
            try:
                raw = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            children[int(child)] = raw.replace(b"\0", b" ").decode("utf-8", "replace")
    return children


def job_processes(app_pid: int) -> dict[int, str]:
    """The job processes under `council run` (they are its worker's children): every
    descendant running a `council` command with `--progress json`."""
    found: dict[int, str] = {}
    pending = [app_pid]
    while pending:
        for child, cmdline in child_processes(pending.pop()).items():
            pending.append(child)
            if " -m council " in cmdline and "--progress json" in cmdline:
                found[child] = cmdline
    return found

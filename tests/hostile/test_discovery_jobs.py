"""Hostile exports through real discovery runs: the command as its own process (peak RSS from
the kernel) and the Discover page's job (what reaches the job row)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask import Flask

from council.config import PROJECT_ROOT
from tests.exports import write_sharegpt_export
from tests.hostile import FAMILIES, export_bytes, write_export
from tests.jobs import upload, wait_for_job

JOB_PEAK_MB = 300  # the whole command, imports included; without a depth bound: over 3.6 GB
MESSAGE_CHARS = 2000


def test_nested_zip_discovery_stays_small_and_names_the_limit(tmp_path: Path) -> None:
    deep = next(f for f in FAMILIES if f.name == "deep lists")
    export = write_export(tmp_path / "export", export_bytes("chatgpt", deep, "message"), "zip")
    assert export.stat().st_size < 2048, "a tiny zip: the cost is all in the unpacking"
    report = tmp_path / "peak_mb"
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile.peak_of", str(report), "council", "discover",
         "--input", str(export), "--data-dir", str(tmp_path / "data"), "--progress", "json",
         "--no-llm"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    stderr = done.stderr
    assert done.returncode == 2, stderr
    assert float(report.read_text(encoding="utf-8")) < JOB_PEAK_MB, report.read_text()
    assert "error: export.zip nests lists or objects more than 64 levels deep" in stderr
    assert "raise COUNCIL_MAX_EXPORT_DEPTH" in stderr


def test_a_flood_of_warnings_leaves_a_short_job_message(app: Flask, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    write_sharegpt_export(good)
    items = good.read_bytes().rstrip()[:-1] + b", " + b", ".join([b"0"] * 200_000) + b"]"
    client = app.test_client()
    name = upload(client, items, "flood.json").get_json()["upload"]
    job_id = client.post("/api/discover/run", json={"upload": name, "clusters": 3,
                                                    "balance": 0}).get_json()["job_id"]
    final = wait_for_job(client, job_id)[-1]
    assert final["state"] == "done", final
    assert len(final["message"]) < MESSAGE_CHARS, len(final["message"])
    assert final["message"].startswith("Item 64 (after conversation 63) is not a sharegpt")
    assert "… and 199,995 more like this." in final["message"].splitlines()
    assert len(json.dumps(client.get(f"/api/jobs/{job_id}").get_json())) < 2 * MESSAGE_CHARS

"""Background jobs: discovery and LoRA work run as subprocesses, one job at a time.

The queue is the `jobs` table, shared by every app process on the database. Each app's
`JobRunner` has one worker thread that claims the oldest queued job of its data dir, unless a
job already runs there (one GPU job and one writer per data dir at a time; the rest queue), so
a job runs exactly once however many processes look (`_claim`). A job starts its `council` subcommand with `--progress json` (an argument
list, never a shell) and the app's settings in its environment, turns every JSON line it
prints into the row's progress (committed as it arrives, so the browser can poll it; a training
job also keeps its loss curve), and writes the command's stderr to `data/jobs/job-<id>.log`. A
failed job carries the command's `error:` line as its message, a finished one its warnings,
both bounded (council/job_messages.py). Cancelling sends SIGTERM: the trainer stops after its
current step and keeps a checkpoint; a cancel through another app process flags the row, and
the process running the job stops it within `JOB_POLL_S`.

A job dies with the app (council/job_process.py: parent-death signal and a stdin pipe); the
row records its process, so a job that survived a crash is ended (matched by pid, start time
and command line) before the row is marked interrupted, when the app starts again or another
app process finds the crashed one gone (council/app_processes.py). A job does not start while
another process holds the data dir's writer lock. Their partial outputs stay on disk. Start
also removes half-written uploads and prunes old ones (`PersonaFiles.clean_uploads`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from .atomic import remove_stale_temps
from .config import PROJECT_ROOT, Settings
from .db import session_scope
from .app_processes import ACTIVE_JOB_STATES, orphaned_jobs
from .extensions import app_process_id, get_settings
from .files import PersonaFiles
from .job_messages import bounded_figures, error_message, summarise
from .job_process import PARENT_ENV, ProcessIdentity, WriterLock
from .models import Job, utcnow
from .redact import redact_credentials

# each job kind is a `council` subcommand (council/commands), run with the app's interpreter
COMMANDS = {"discover": "discover", "lora-data": "train-data", "lora-train": "train",
            "lora-register": "register", "eval": "eval"}
# figures a progress line may carry besides stage/done/total (training reports these)
FIGURES = ("loss", "eval_loss", "learning_rate", "epoch", "eta_s", "state")
MAX_LOSS_POINTS = 5000
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
JOB_POLL_S = 1.0  # how often an idle runner looks for jobs another app process queued
STALE_TEMP_S = 600.0  # a temp file this old with no writer running was left by a kill
INTERRUPTED = "The app stopped while this job was queued or running; run it again."


def job_payload(job: Job) -> dict[str, Any]:
    def stamp(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": job.id, "kind": job.kind, "args": job.args, "state": job.state,
            "progress": job.progress or {}, "message": job.message,
            "created_at": stamp(job.created_at), "started_at": stamp(job.started_at),
            "finished_at": stamp(job.finished_at)}


def child_environment(settings: Settings) -> dict[str, str]:
    """os.environ plus the app's settings, so the job talks to the same backend and database,
    and the app's pid, so the job dies with it."""
    return {**os.environ, **settings.job_environment(), "PYTHONUNBUFFERED": "1",
            PARENT_ENV: str(os.getpid())}


def job_command(settings: Settings, kind: str, args: dict[str, Any]) -> list[str]:
    """The CLI invocation of a job, as an argument list (values are never parsed by a shell)."""
    command = [sys.executable, "-m", "council", COMMANDS[kind],
               "--data-dir", str(settings.data_dir), "--progress", "json"]
    if kind == "discover":
        clusters = args.get("clusters")
        balance = args.get("balance")
        return [*command, "--input", str(args["input"]),
                *(["--clusters", str(int(clusters))] if clusters else []),
                *(["--balance", str(float(balance))] if balance is not None else [])]
    if kind == "eval":
        return [*command, *eval_flags(args)]
    command += ["--persona", str(args["persona"])]
    if kind == "lora-data" and args.get("examples"):
        command += ["--examples", str(int(args["examples"]))]
    if kind == "lora-train":
        for option in ("mode", "max_steps", "epochs", "backend"):
            if args.get(option) not in (None, ""):
                command += [f"--{option.replace('_', '-')}", str(args[option])]
    return command


def eval_flags(args: dict[str, Any]) -> list[str]:
    """`council eval`'s flags from an eval job's args: limit, judge, questions (a file, or
    "shipped" for the default set), contestants (one comma-separated flag), also (repeated)."""
    flags = []
    if args.get("limit"):
        flags += ["--limit", str(int(args["limit"]))]
    if args.get("judge"):
        flags += ["--judge", str(args["judge"])]
    if args.get("questions") not in (None, "", "shipped"):
        flags += ["--questions", str(args["questions"])]
    if args.get("contestants"):
        flags += ["--contestants", ",".join(str(name) for name in args["contestants"])]
    for model in args.get("also") or []:
        flags += ["--also", str(model)]
    return flags


def progress_update(previous: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    """The job's progress after one JSON line: the latest figures, plus the loss curve."""
    update_ = {"stage": str(line["stage"]), "done": int(line.get("done") or 0),
               "total": int(line.get("total") or 0)}
    update_.update({k: line[k] for k in FIGURES if line.get(k) is not None})
    update_ = bounded_figures(update_)
    losses = list(previous.get("losses") or [])
    if line.get("stage") == "train" and line.get("loss") is not None:
        losses = (losses + [[update_["done"], float(line["loss"])]])[-MAX_LOSS_POINTS:]
    if losses:
        update_["losses"] = losses
    return update_


def done_progress(kind: str, final: dict[str, Any]) -> dict[str, Any]:
    """The progress shown for a finished job, from the script's final `done` line."""
    if kind == "discover":
        personas = list(final.get("personas") or [])
        return {"stage": "done", "done": len(personas), "total": len(personas)}
    result = {k: v for k, v in final.items() if k != "check" and isinstance(v, (int, float, str))}
    return bounded_figures({**result, "stage": "done", "done": 1, "total": 1})


def uploads_in_use(session: Any) -> set[str]:
    """The uploads that queued or running discovery jobs read, and the last one's (the Discover
    page offers to run it again): pruning keeps them."""
    last = session.scalars(select(Job).where(Job.kind == "discover").order_by(Job.id.desc())
                           .limit(1)).all()
    active = session.scalars(select(Job).where(Job.kind == "discover",
                                               Job.state.in_(ACTIVE_JOB_STATES))).all()
    return {str(job.args.get("upload")) for job in [*last, *active] if job.args.get("upload")}


def claim_next(session: Any, data_dir: str, own_id: int) -> Job | None:
    """The oldest queued job of `data_dir`, marked running by app process `own_id`, unless a
    job runs there already (one writer per data dir); committed with the session.

    The head row's lock makes two app processes' runners take turns: the second waits for the
    first to commit, then sees its job running and claims nothing (PostgreSQL re-reads a row
    it waited for; SQLite has one writer at a time anyway).
    """
    job = session.scalars(select(Job).where(Job.state == "queued", Job.data_dir == data_dir)
                          .order_by(Job.id).limit(1).with_for_update()).first()
    if job is None or session.scalar(select(func.count()).select_from(Job).where(
            Job.state == "running", Job.data_dir == data_dir)):
        return None
    job.state, job.started_at, job.app_process_id = "running", utcnow(), own_id
    job.progress = {"stage": "starting", "done": 0, "total": 1}
    return job


class JobRunner:
    """Claims queued jobs and runs them one at a time per data dir; see the module docstring."""

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="council-jobs", daemon=True)
        self._process: subprocess.Popen[str] | None = None
        self._current: int | None = None
        self._cancelled: set[int] = set()
        self._closed = False

    def init_app(self, app: Flask) -> JobRunner:
        self.app = app
        app.extensions["council_jobs"] = self
        with session_scope(app) as session:
            self.interrupt(session, orphaned_jobs(session))
            session.flush()
            in_use = uploads_in_use(session)
        settings = get_settings(app)
        PersonaFiles.in_data_dir(settings.data_dir).clean_uploads(settings.keep_uploads, in_use)
        if WriterLock(settings.data_dir).holder() is None:  # no writer can be mid-write
            remove_stale_temps((settings.data_dir, settings.loras_dir), STALE_TEMP_S)
        self._thread.start()
        return self

    @property
    def settings(self) -> Settings:
        assert self.app is not None
        return get_settings(self.app)

    @property
    def data_dir(self) -> str:
        """Where a job's files are, as jobs record it: this machine and its data dir. Only a
        runner on the same one claims the job (another machine's same path is another
        folder, without the export that was uploaded here)."""
        return f"{socket.gethostname()}:{Path(self.settings.data_dir).resolve()}"

    # --- public API ------------------------------------------------------------------------

    def submit(self, kind: str, args: dict[str, Any]) -> int:
        if kind not in COMMANDS:
            raise ValueError(f"unknown job kind {kind!r}")
        if self._closed:
            raise RuntimeError("the job runner is shut down")
        with session_scope(self.app) as session:
            job = Job(kind=kind, args=args, state="queued", data_dir=self.data_dir,
                      app_process_id=app_process_id(self.app),
                      progress={"stage": "queued", "done": 0, "total": 1})
            session.add(job)
            session.flush()
            job_id = job.id
        self._wake.set()
        return job_id

    def get(self, job_id: int) -> dict[str, Any] | None:
        with session_scope(self.app) as session:
            job = session.get(Job, job_id)
            return job_payload(job) if job is not None else None

    def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job, whichever app process runs it; False when it had
        already finished (or is unknown)."""
        with self._lock:
            with session_scope(self.app) as session:
                queued = session.execute(update(Job).where(Job.id == job_id, Job.state == "queued")
                                         .values(state="cancelled", finished_at=utcnow(),
                                                 message="Cancelled before it started."))
                if queued.rowcount:
                    return True
                running = session.execute(update(Job).where(Job.id == job_id,
                                                            Job.state == "running")
                                          .values(cancel_requested=True))
                if not running.rowcount:
                    return False
            if self._current == job_id and self._process is not None:
                self._cancelled.add(job_id)
                self._process.terminate()
        return True

    def interrupt(self, session: Any, jobs: list[Job]) -> None:
        """End jobs that no app process will finish (theirs is gone), and a leftover job
        process that outlived it."""
        for job in jobs:
            leftover = ProcessIdentity.from_json(job.process)
            ended = (f" Its process (pid {leftover.pid}) was still running and was ended."
                     if leftover is not None and leftover.end() else "")
            self._finish(session, job, "interrupted", INTERRUPTED + ended)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until this runner runs nothing and no job waits for its data dir (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with session_scope(self.app) as session:
                waiting = session.scalar(select(func.count()).select_from(Job).where(
                    Job.state == "queued", Job.data_dir == self.data_dir))
            if not waiting and self._current is None:
                return
            time.sleep(0.05)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the running job (it becomes cancelled) and the worker thread."""
        with self._lock:
            self._closed = True
            if self._current is not None:
                self._cancelled.add(self._current)
                if self._process is not None:
                    self._process.terminate()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # --- the worker thread -------------------------------------------------------------------

    @staticmethod
    def _finish(session: Any, job: Job, state: str, message: str | None) -> None:
        """End the row; a message may quote a URL with credentials (a registration's host)."""
        job.state, job.finished_at, job.process = state, utcnow(), None
        job.message = message and redact_credentials(message)

    def _work(self) -> None:
        while not self._closed:
            try:
                claimed = self._claim()
            except OperationalError:  # a database hiccup, or a claim that lost a race
                claimed = None
            if claimed is None:
                self._wake.wait(JOB_POLL_S)
                self._wake.clear()
                continue
            try:
                self._run(*claimed)
            except Exception as exc:  # noqa: BLE001  (never let one job kill the runner)
                with session_scope(self.app) as session:
                    job = session.get(Job, claimed[0])
                    if job is not None and job.state in ACTIVE_JOB_STATES:
                        self._finish(session, job, "failed", f"The job runner failed: {exc}")

    def _claim(self) -> tuple[int, str, dict[str, Any]] | None:
        """The next job of this data dir, now running here; None when there is none to run."""
        with self._lock, session_scope(self.app) as session:
            if self._closed:
                return None
            job = claim_next(session, self.data_dir, app_process_id(self.app))
            if job is None:
                return None
            busy = WriterLock(self.settings.data_dir).holder()  # a CLI run by hand
            if busy is not None:
                self._finish(session, job, "failed", busy)
                return None
            return job.id, job.kind, dict(job.args)

    def _watch_cancel(self, job_id: int, process: subprocess.Popen[str]) -> None:
        """A cancel may come through another app process: it flags the row."""
        while process.poll() is None and not self._closed:
            time.sleep(JOB_POLL_S)
            with session_scope(self.app) as session:
                job = session.get(Job, job_id)
                requested = job is not None and job.cancel_requested
            if requested:
                with self._lock:
                    self._cancelled.add(job_id)
                    if process.poll() is None:
                        process.terminate()
                return

    def _run(self, job_id: int, kind: str, args: dict[str, Any]) -> None:
        settings = self.settings
        log_dir = settings.data_dir / "jobs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"job-{job_id}.log"
        with self._lock:
            command = job_command(settings, kind, args)
            with open(log_path, "w", encoding="utf-8") as log:
                # stdin: a pipe the job watches; it ends when this process does
                self._process = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=log,
                    stdin=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                    env=child_environment(settings), cwd=str(PROJECT_ROOT))
            self._current = job_id
            identity = ProcessIdentity.of(self._process.pid, command)
            with session_scope(self.app) as session:
                job = session.get(Job, job_id)
                if job is not None and identity is not None:
                    job.process = identity.as_json()
        process = self._process
        threading.Thread(target=self._watch_cancel, args=(job_id, process), daemon=True,
                         name=f"council-job-{job_id}-cancel").start()
        final: dict[str, Any] | None = None
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(data, dict) or "stage" not in data:
                    continue
                if data["stage"] == "done":
                    final = data
                    continue
                with session_scope(self.app) as session:
                    job = session.get(Job, job_id)
                    if job is not None:
                        job.progress = progress_update(job.progress or {}, data)
        returncode = process.wait()
        assert process.stdin is not None
        process.stdin.close()
        with self._lock:
            self._process, self._current = None, None
            cancelled = job_id in self._cancelled
        with session_scope(self.app) as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            if cancelled or job.cancel_requested:
                self._finish(session, job, "cancelled", "Cancelled.")
            elif returncode == 0 and final is not None:
                job.progress = {**(job.progress or {}), **done_progress(kind, final)}
                warnings = [str(w) for w in final.get("warnings") or []]
                with open(log_path, "a", encoding="utf-8") as log:  # the whole list stays there
                    log.writelines(f"warning: {warning}\n" for warning in warnings)
                self._finish(session, job, "done", summarise(warnings, "warning", str(log_path)))
            else:
                self._finish(session, job, "failed",
                             error_message(log_path, returncode, f"council {COMMANDS[kind]}"))


def init_app(app: Flask) -> JobRunner:
    return JobRunner().init_app(app)

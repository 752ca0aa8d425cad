"""A job's process is accounted for: it dies with the app (parent-death signal, and the stdin
pipe where that signal does not apply), a restart ends a leftover (and never a stranger that
reuses its pid), and a data dir has one discovery or training writer at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from council import jobs
from council.config import PROJECT_ROOT, Settings
from council.db import session_scope
from council.extensions import get_jobs
from council.job_process import PARENT_ENV, ProcessIdentity, WriterLock
from council.models import Job
from tests.jobs import DEATH_WAIT_S, process_gone, wait_for_job

# a stand-in for a job: arranges to die with its parent as `council <command>` does, then idles
JOB = ("import time; from council.job_process import watch_parent; watch_parent(); "
       "print('ready', flush=True); time.sleep(600)")


@pytest.fixture
def sleeper() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start processes that the test ends at the latest when it is over."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        started.append(subprocess.Popen(args, text=True, cwd=PROJECT_ROOT, **kwargs))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


def job_environment(parent: int) -> dict[str, str]:
    return {**os.environ, PARENT_ENV: str(parent), "PYTHONPATH": str(PROJECT_ROOT)}


def test_a_job_dies_when_the_app_is_killed(sleeper: Callable[..., subprocess.Popen[str]]) -> None:
    """A stand-in app starts a job the way the runner does, from a worker thread, then is
    SIGKILLed on its own: the job must not outlive it."""
    app_script = textwrap.dedent(f"""
        import os, subprocess, sys, threading, time
        def start():
            job = subprocess.Popen([sys.executable, "-c", {JOB!r}], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True,
                                   env={{**os.environ, {PARENT_ENV!r}: str(os.getpid())}})
            job.stdout.readline()
            print(job.pid, flush=True)
            time.sleep(600)
        threading.Thread(target=start).start()
    """)
    app = sleeper([sys.executable, "-c", app_script], stdout=subprocess.PIPE,
                  env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert app.stdout is not None
    job_pid = int(app.stdout.readline())
    assert not process_gone(job_pid, within_s=0.2)
    os.kill(app.pid, signal.SIGKILL)
    app.wait()
    assert process_gone(job_pid), f"job {job_pid} outlived the app"


def test_a_job_stops_when_its_pipe_to_the_app_closes(
        sleeper: Callable[..., subprocess.Popen[str]]) -> None:
    """Where the parent-death signal does not fire (the app is alive, only the pipe is gone),
    the pipe alone ends the job."""
    job = sleeper([sys.executable, "-c", JOB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  env=job_environment(os.getpid()))
    assert job.stdout is not None and job.stdout.readline() == "ready\n"
    assert job.stdin is not None
    job.stdin.close()
    assert job.wait(timeout=DEATH_WAIT_S) == 128 + signal.SIGTERM


def test_a_job_whose_app_is_already_gone_exits_at_once(
        sleeper: Callable[..., subprocess.Popen[str]]) -> None:
    """The app died before the job asked for the signal: its parent is no longer the app."""
    job = sleeper([sys.executable, "-c", JOB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  env=job_environment(parent=1))
    assert job.wait(timeout=DEATH_WAIT_S) == 1


def test_identity_ends_its_own_process_and_never_a_stranger(
        sleeper: Callable[..., subprocess.Popen[str]]) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    stranger = sleeper(command)
    identity = ProcessIdentity.of(stranger.pid, command)
    assert identity is not None
    deadline = time.monotonic() + DEATH_WAIT_S
    while ProcessIdentity.of(stranger.pid) != identity:  # until /proc shows the new command
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert identity.alive()
    for impostor in (ProcessIdentity(stranger.pid, identity.start_ticks + 1, identity.cmdline),
                     ProcessIdentity(stranger.pid, identity.start_ticks, ["council", "discover"])):
        assert not impostor.alive() and not impostor.end()
        assert stranger.poll() is None, "a pid reused by another process is left alone"
    assert identity.end(grace_s=5)
    assert stranger.wait(timeout=DEATH_WAIT_S) == -signal.SIGTERM
    assert not identity.alive() and not identity.end()
    assert ProcessIdentity.from_json(identity.as_json()) == identity
    assert ProcessIdentity.from_json(None) is None


def test_a_restart_ends_a_leftover_job_before_marking_it_interrupted(
        make_app: Callable[[Settings], Flask], settings: Settings,
        sleeper: Callable[..., subprocess.Popen[str]]) -> None:
    first = make_app(settings)
    commands = [[sys.executable, "-c", f"import time; time.sleep({s})"] for s in (600, 601)]
    leftover, stranger = (sleeper(command) for command in commands)
    leftover_identity = ProcessIdentity.of(leftover.pid, commands[0])
    stranger_identity = ProcessIdentity.of(stranger.pid, commands[1])
    assert leftover_identity is not None and stranger_identity is not None
    reused = ProcessIdentity(stranger.pid, stranger_identity.start_ticks + 7,
                             stranger_identity.cmdline)
    with session_scope(first) as session:
        for identity in (leftover_identity, reused):
            session.add(Job(kind="discover", args={}, state="running", progress={},
                            process=identity.as_json()))
    second = make_app(settings)
    assert leftover.wait(timeout=DEATH_WAIT_S) == -signal.SIGTERM
    assert stranger.poll() is None, "a process that only reuses the pid is not ended"
    client = second.test_client()
    ended, other = client.get("/api/jobs/1").get_json(), client.get("/api/jobs/2").get_json()
    assert ended["state"] == other["state"] == "interrupted"
    assert f"Its process (pid {leftover.pid}) was still running and was ended" in ended["message"]
    assert "run it again" in other["message"] and "was ended" not in other["message"]
    with session_scope(second) as session:
        assert [job.process for job in session.query(Job)] == [None, None]


def test_a_second_writer_on_one_data_dir_refuses(make_app: Callable[[Settings], Flask],
                                                 settings: Settings, tmp_path: Path) -> None:
    """While something holds the data dir's writer lock, `council discover` refuses with a
    message that names the holder, and the app's runner does not start a job."""
    app = make_app(settings)
    export = tmp_path / "export.json"
    export.write_text("[]", encoding="utf-8")
    with WriterLock(settings.data_dir).held("council train (test)"):
        command = subprocess.run(
            [sys.executable, "-m", "council", "discover", "--data-dir", str(settings.data_dir),
             "--input", str(export), "--no-llm"], capture_output=True, text=True,
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, timeout=60,
            check=False)
        assert command.returncode == 1, command.stderr
        assert f"pid {os.getpid()}: council train (test)" in command.stderr
        assert "wait for it to finish" in command.stderr
        job_id = get_jobs(app).submit("discover", {"input": str(export), "upload": "export.json"})
        job = wait_for_job(app.test_client(), job_id)[-1]
        assert job["state"] == "failed"
        assert f"Another discovery or training run (pid {os.getpid()}: council train (test))" \
            in job["message"]
        assert not (settings.data_dir / "jobs" / f"job-{job_id}.log").exists(), "nothing ran"
    assert WriterLock(settings.data_dir).holder() is None


def test_a_restart_removes_the_temp_files_a_killed_write_left_unless_a_writer_runs(
        make_app: Callable[[Settings], Flask], settings: Settings) -> None:
    """SIGKILL skips an atomic write's cleanup, leaving `.<name>.<random>.tmp` beside the file:
    a start with no writer running removes those older than the stale age, and keeps recent
    ones and everything while another process holds the writer lock."""
    old = time.time() - jobs.STALE_TEMP_S - 60
    stale = [settings.data_dir / "personas" / ".cluster_analysis.json.k2j3.tmp",
             settings.loras_dir / "poet" / ".metadata.json.x8a1.tmp"]
    fresh = settings.data_dir / "personas" / ".personas.json.z9q0.tmp"
    kept = settings.data_dir / "personas" / "notes.tmp"  # not an atomic write's name
    for path in (*stale, fresh, kept):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half", encoding="utf-8")
    for path in (*stale, kept):
        os.utime(path, (old, old))
    with WriterLock(settings.data_dir).held("council train (test)"):
        make_app(settings)
        assert all(path.exists() for path in stale), "a writer may still be mid-write"
    make_app(settings)
    assert not any(path.exists() for path in stale)
    assert fresh.exists() and kept.exists()

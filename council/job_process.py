"""A job's process is accounted for: it dies with the app, a leftover is found and ended on the
next start, and one data dir never has two discovery or training writers.

The app starts a job with `COUNCIL_JOB_PARENT=<its pid>` in the environment and a pipe on the
job's stdin that it never writes to. The job (`watch_parent`, called first thing by the
`council` command) asks Linux for SIGTERM when its parent goes (prctl PR_SET_PDEATHSIG; it fires
when the *thread* that started the job ends, which is the runner's long-lived worker thread)
and also watches the pipe: end of file means the app is gone however it went, and the job
stops itself (SIGTERM, so a trainer keeps its checkpoint; killed outright `EXIT_GRACE_S` later).
The app records each job's pid, start time and command line (`ProcessIdentity`), so a restart
ends a job that survived anyway, and never a stranger that happens to reuse the pid.

`WriterLock` is an flock on DATA_DIR/writer.lock, held by a discovery or training command for
its whole life (the kernel drops it when the process dies, however it dies).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PARENT_ENV = "COUNCIL_JOB_PARENT"
PR_SET_PDEATHSIG = 1
EXIT_GRACE_S = 5.0  # then it exits outright (threads waiting on a model would hold it)
LOCK_NAME = "writer.lock"


# --- the job's side --------------------------------------------------------------------------

def watch_parent() -> None:
    """In a job started by the app: stop when the app goes. Does nothing in a CLI run by hand."""
    parent = os.environ.pop(PARENT_ENV, "")  # a command this job starts is not a job itself
    if not parent.isdigit():
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe alone tells
        pass
    if os.getppid() != int(parent):  # the app died before the signal was asked for
        os._exit(1)
    # SIGTERM unwinds (an atomic write removes its temp file); the trainer sets its own handler
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # its own descriptor, read unbuffered: a daemon thread blocked in sys.stdin would hold
    # the buffer's lock at interpreter shutdown
    threading.Thread(target=_exit_when_closed, args=(os.dup(sys.stdin.fileno()),), daemon=True,
                     name="council-parent-watch").start()


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _exit_when_closed(pipe: int) -> None:
    while os.read(pipe, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(EXIT_GRACE_S)
    os._exit(1)


# --- the app's side --------------------------------------------------------------------------

def _stat_start_ticks(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    return int(fields[19]), fields[0]


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), or None when there is none."""
    stat = _stat_start_ticks(pid)
    return stat[0] if stat is not None else None


def process_running(pid: int, started: int) -> bool:
    """Process `pid`, the one that started at `started` ticks, is still running (a zombie
    counts as gone)."""
    stat = _stat_start_ticks(pid)
    return stat is not None and stat[0] == started and stat[1] != "Z"


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells a job's process from a later one that reuses its pid."""

    pid: int
    start_ticks: int
    cmdline: list[str]

    @classmethod
    def of(cls, pid: int, cmdline: list[str] | None = None) -> ProcessIdentity | None:
        """The process `pid` now; `cmdline` when the caller knows what it started (right after
        the start /proc may not show the new command line yet)."""
        stat = _stat_start_ticks(pid)
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if stat is None:
            return None
        return cls(pid, stat[0], cmdline if cmdline is not None else
                   [part.decode("utf-8", "replace") for part in raw.split(b"\0")[:-1]])

    @classmethod
    def from_json(cls, data: Any) -> ProcessIdentity | None:
        try:
            return cls(int(data["pid"]), int(data["start_ticks"]), [str(a) for a in data["cmdline"]])
        except (TypeError, KeyError, ValueError):
            return None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def alive(self) -> bool:
        """The same process is still there (a zombie counts as gone)."""
        return (process_running(self.pid, self.start_ticks)
                and ProcessIdentity.of(self.pid) == self)

    def end(self, grace_s: float = 5.0) -> bool:
        """SIGTERM, then SIGKILL after `grace_s`; True when it was still running."""
        if not self.alive():
            return False
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace_s
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.alive():
                break
        return True


# --- one writer per data dir -----------------------------------------------------------------

class WriterBusy(RuntimeError):
    """Another discovery or training process holds the data dir's writer lock."""


class WriterLock:
    """DATA_DIR/writer.lock: whoever holds its flock is the data dir's one writer; the file
    says who (pid and command) so a refusal can name it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME

    def refusal(self, holder: str) -> str:
        return (f"Another discovery or training run ({holder}) is writing to {self.data_dir}; "
                "wait for it to finish (or stop it), then run this again.")

    @contextmanager
    def held(self, what: str) -> Iterator[None]:
        """Hold the lock for the block; WriterBusy when someone else holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise WriterBusy(self.refusal(handle.read(200).strip() or "unknown")) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}: {what}")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)

    def holder(self) -> str | None:
        """Who holds the lock now (None when nobody does); takes it for an instant to ask."""
        if not self.path.is_file():
            return None
        try:
            with self.held("checking"):
                return None
        except WriterBusy as busy:
            return str(busy)


class StopFlag:
    """Set by SIGTERM/SIGINT (a job's Cancel, Ctrl-C) or a test: a long command stops at its
    next safe point (the trainer after its step, the eval after its answer) and keeps what it
    did."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.event.set())

"""Which app process runs which round and job, so several processes can share one database.

Each app registers itself at start (host, pid and start time, data dir) and writes a heartbeat
every `HEARTBEAT_S`. Every process looks for the others that are gone (on its own machine,
same host name and boot: that pid with that start time no longer runs; elsewhere: no heartbeat
for `STALE_S`) and marks their
running rounds, and their queued and running jobs, interrupted, as a restart marks them on one
process. It looks at start and with every heartbeat, so when one of two processes is killed
mid-round the other says so within seconds. Rows from before processes were recorded (no
process) count as gone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from .db import session_scope
from .extensions import get_jobs, get_settings
from .job_process import process_running, start_ticks
from .models import AppProcess, Comparison, Job, Round, Synthesis, WorkerAnswer, as_utc, utcnow

HEARTBEAT_S = 2.0
STALE_S = 30.0  # a process on another host with no heartbeat this long is taken for gone
ACTIVE_JOB_STATES = ("queued", "running")
log = logging.getLogger(__name__)


def boot_id() -> str:
    """This machine's boot (Linux): a host name alone may repeat on two machines, and a pid
    only means something on the machine, and since the boot, it was read on."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def register(session: Session, data_dir: Path) -> int:
    """This process's row; its id goes on every round and job it runs."""
    row = AppProcess(host=socket.gethostname(), boot_id=boot_id(), pid=os.getpid(),
                     start_ticks=start_ticks(os.getpid()) or 0,
                     data_dir=str(Path(data_dir).resolve()))
    session.add(row)
    session.flush()
    return row.id


def is_gone(row: AppProcess, host: str, boot: str) -> bool:
    if row.ended_at is not None:
        return True
    if (row.host, row.boot_id) == (host, boot) and boot:
        return not process_running(row.pid, row.start_ticks)
    return utcnow() - as_utc(row.seen_at) > timedelta(seconds=STALE_S)


def _orphaned(column: ColumnElement[int | None]) -> ColumnElement[bool]:
    """Work whose process has ended (or was never recorded)."""
    return column.in_(select(AppProcess.id).where(AppProcess.ended_at.is_not(None))) \
        | column.is_(None)


def sweep(session: Session, own_id: int) -> None:
    """Mark the gone processes ended and their running rounds interrupted."""
    host, boot = socket.gethostname(), boot_id()
    gone = [row.id for row in session.scalars(
        select(AppProcess).where(AppProcess.ended_at.is_(None), AppProcess.id != own_id))
        if is_gone(row, host, boot)]
    now = utcnow()
    if gone:
        session.execute(update(AppProcess).where(AppProcess.id.in_(gone)).values(ended_at=now))
    orphaned = Round.status == "running", _orphaned(Round.app_process_id)
    for model in (WorkerAnswer, Synthesis, Comparison):
        session.execute(update(model).where(model.status == "running", model.round_id.in_(
            select(Round.id).where(*orphaned))).values(status="interrupted", finished_at=now))
    session.execute(update(Round).where(*orphaned).values(status="interrupted", finished_at=now))


def orphaned_jobs(session: Session) -> list[Job]:
    """Queued and running jobs whose process has ended: nobody will finish them."""
    return list(session.scalars(select(Job).where(Job.state.in_(ACTIVE_JOB_STATES),
                                                  _orphaned(Job.app_process_id))))


def live_processes(session: Session, own_id: int) -> list[dict[str, Any]]:
    """The app processes sharing this database that have not ended (the Status page)."""
    now = utcnow()
    return [{"id": row.id, "host": row.host, "pid": row.pid, "data_dir": row.data_dir,
             "started_at": as_utc(row.started_at).isoformat(),
             "seen_s_ago": round((now - as_utc(row.seen_at)).total_seconds(), 1),
             "this": row.id == own_id}
            for row in session.scalars(select(AppProcess).where(AppProcess.ended_at.is_(None))
                                       .order_by(AppProcess.id))]


def init_app(app: Flask) -> int:
    """Register this process and interrupt the rounds gone ones left running (the job runner
    ends their jobs as it starts); returns this process's id."""
    with session_scope(app) as session:
        own_id = register(session, get_settings(app).data_dir)
        sweep(session, own_id)
    app.extensions["council_process"] = own_id
    return own_id


class Heartbeat:
    """Writes this process's heartbeat and sweeps for gone ones, every `HEARTBEAT_S`."""

    def __init__(self, app: Flask, own_id: int) -> None:
        self.app, self.own_id = app, own_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="council-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and record that this process ended (its work is finished by then)."""
        self._stop.set()
        self._thread.join(HEARTBEAT_S * 2)
        with session_scope(self.app) as session:
            row = session.get(AppProcess, self.own_id)
            if row is not None:
                row.ended_at = utcnow()

    def beat(self) -> None:
        with session_scope(self.app) as session:
            row = session.get(AppProcess, self.own_id)
            if row is None or row.ended_at is not None:
                # taken for gone (it was paused for longer than STALE_S): from now on it is
                # a new process, whose rounds nobody interrupts
                self.own_id = register(session, get_settings(self.app).data_dir)
                self.app.extensions["council_process"] = self.own_id
                log.warning("this app process was taken for gone; registered again as %s",
                            self.own_id)
            else:
                row.seen_at = utcnow()
            sweep(session, self.own_id)
            get_jobs(self.app).interrupt(session, orphaned_jobs(session))

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except Exception:  # noqa: BLE001  (a database hiccup must not end the heartbeat)
                log.exception("heartbeat failed; trying again in %s s", HEARTBEAT_S)

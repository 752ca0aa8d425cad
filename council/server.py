"""The production server: gunicorn's threaded worker, with simple-websocket for Socket.IO.

This is Flask-SocketIO's supported deployment for `async_mode="threading"`: one worker process
(Socket.IO keeps each tab's session in the process that accepted it, so more app processes are
more `council run`s behind a proxy, sharing Redis and PostgreSQL; see README *Scale-out*), many
threads (a tab's WebSocket holds one for as long as it is open).

The app is built in the worker, after the fork, because it starts threads (rounds, the job
runner, the message queue's listener) that a fork would not carry over. The worker dies with
the master (Linux parent-death signal), so killing `council run` kills the whole app as it did
on one process, and its jobs with it. On SIGTERM or Ctrl-C the worker closes its Socket.IO
connections (the browsers reconnect elsewhere or show that the app went) and stops the app's
rounds and jobs (`close_app`) before it exits.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.errors import AppImportError

from . import close_app
from .extensions import socketio

PR_SET_PDEATHSIG = 1
GRACEFUL_TIMEOUT_S = 10  # a stopping worker waits this long for requests still being answered


class StartError(Exception):
    """The app cannot start (a setting, a model file, the database); the message says how to
    fix it and is all the user sees."""


class CouncilServer(BaseApplication):
    """`build()` runs in the worker and returns the app; `on_exit(app)` runs as it exits."""

    def __init__(self, build: Callable[[], Flask], bind: str, threads: int,
                 on_exit: Callable[[Flask], None] = close_app) -> None:
        self.build, self.on_exit = build, on_exit
        self.app: Flask | None = None
        self.options: dict[str, Any] = {
            "bind": bind, "workers": 1, "worker_class": "gthread", "threads": threads,
            # the master must not kill a worker that takes long to load a model (0: never)
            "timeout": 0, "graceful_timeout": GRACEFUL_TIMEOUT_S, "loglevel": "warning",
            "accesslog": None, "post_fork": _die_with_master,
            "post_worker_init": _close_sockets_on_stop, "worker_exit": self._worker_exit,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        try:
            self.app = self.build()
        except StartError as exc:  # gunicorn prints it and the master stops (exit code 4)
            raise AppImportError(f"error: {exc}") from None
        return self.app

    def _worker_exit(self, _arbiter: Any, _worker: Any) -> None:
        if self.app is None:  # it never started: gunicorn reports why
            return
        self.on_exit(self.app)
        # The app is closed and its rows committed; what is left is the interpreter's own
        # teardown of torch and friends, which takes seconds: a forked worker may skip it.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _die_with_master(_arbiter: Any, _worker: Any) -> None:
    """SIGKILL when the master goes, however it goes (the jobs then end by their own signal)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: gunicorn's own parent check, once a second
        pass


def _close_sockets_on_stop(worker: Any) -> None:
    """On SIGTERM gunicorn waits for open connections, and a tab's WebSocket never ends by
    itself: close them, so a stop takes a moment instead of the whole grace period."""
    stop_worker = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        if callable(stop_worker):
            stop_worker(signum, frame)
        threading.Thread(target=disconnect_all, name="council-disconnect", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)


def disconnect_all() -> None:
    """Close every Socket.IO connection of this process."""
    engine = socketio.server.eio
    for sid in list(engine.sockets):
        engine.disconnect(sid)


def serve(build: Callable[[], Flask], host: str, port: int, threads: int,
          on_exit: Callable[[Flask], None] = close_app) -> int:
    """Serve the app that `build()` makes until stopped; the exit status (2 when it could not
    start)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        CouncilServer(build, bind, threads, on_exit).run()
    except SystemExit as exc:
        return 2 if exc.code else 0
    return 0

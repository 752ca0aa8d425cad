"""Throwaway Redis and nginx for the scale-out tests and the load benchmark: Debian's
binaries, a private folder, free ports on 127.0.0.1; nginx runs the repository's own
deploy/nginx.conf with only its ports changed."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from council.config import PROJECT_ROOT

NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
REDIS_HINT = "redis-server was not found; `make test` installs Debian's redis-server package."
NGINX_HINT = "nginx was not found; `make test` installs Debian's nginx package."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path,
                  timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout}s:\n"
                       f"{log.read_text(errors='replace')}")


class Service:
    """A server process in its own temp folder; `stop()` ends it and removes the folder."""

    def __init__(self, prefix: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.log = self.folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, command: list[str], port: int) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=out,
                                            stderr=subprocess.STDOUT)
        wait_for_port(port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer(Service):
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(REDIS_HINT)
        super().__init__("council-redis-")
        self.port = free_port()
        self.start([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(self.folder)], self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"


def nginx_config(listen: int, upstreams: list[int]) -> str:
    """deploy/nginx.conf listening on `listen`, in front of the app processes on `upstreams`."""
    text = NGINX_CONF.read_text()
    text = re.sub(r"listen 127\.0\.0\.1:\d+;", f"listen 127.0.0.1:{listen};", text)
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in upstreams)
    return re.sub(r"(?:        server 127\.0\.0\.1:\d+;\n)+", servers, text)


class NginxProxy(Service):
    def __init__(self, upstreams: list[int]) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx"
                                           if Path("/usr/sbin/nginx").is_file() else None)
        if binary is None:
            raise RuntimeError(NGINX_HINT)
        super().__init__("council-nginx-")
        self.port = free_port()
        config = self.folder / "nginx.conf"
        config.write_text(nginx_config(self.port, upstreams))
        self.start([binary, "-p", str(self.folder), "-c", str(config), "-g", "daemon off;"],
                   self.port)
        self.url = f"http://127.0.0.1:{self.port}"

"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) serving the
bundled SmolLM2 GGUF: a real engine for the tests of COUNCIL_BACKEND=openai. Its access log
says which requests reached it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from council.llm.embedded import bundled_model_path
from tests.browser import free_port, stop, wait_until_serving

START_TIMEOUT_S = 120.0
CHAT_REQUEST = '"POST /v1/chat/completions HTTP/1.1" 200'


class LlamaServer:
    """One server on a loopback port that stays its own across restarts; `threads` None is
    the server's default (every core)."""

    def __init__(self, log: Path, threads: int | None = None) -> None:
        self.log, self.threads = log, threads
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
                   "--host", "127.0.0.1", "--port", str(self.port)]
        if self.threads:
            command += ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_serving(f"{self.base_url}/models", self.process, self.log,
                               timeout=START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: the server dies mid-answer, as a crashed or unplugged box does."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop(self.process)

    def chat_requests(self) -> int:
        """Chat requests it has answered (begun answering, for a stream) so far."""
        return self.log.read_text(errors="replace").count(CHAT_REQUEST)

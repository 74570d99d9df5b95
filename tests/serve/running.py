"""A real ``sertk serve`` (uvicorn) process on a free 127.0.0.1 port, for the HTTP tests.

The process gets its own ``TMPDIR`` so the tests can see every folder it writes
uploads into, and its output goes to a log file shown when it fails to start.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # seconds: importing torch and loading a model on a busy machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """``command`` (a list; ``{port}`` is filled in) run until :meth:`stop`."""

    def __init__(self, command: list[str], folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmpdir = folder / "tmp"
        self.tmpdir.mkdir(parents=True)
        self.log = folder / "server.log"
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONPATH": str(REPO),
               "OMP_NUM_THREADS": "1"}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [part.format(port=self.port) for part in command], cwd=REPO, env=env,
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                   f"{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server not ready after {START_TIMEOUT:g} s:\n{self.log.read_text()}")

    def upload_folders(self) -> list[Path]:
        """The private upload folders that exist now."""
        return sorted(self.tmpdir.glob("sertk-serve-*"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def sertk_serve(*args: str) -> list[str]:
    return [sys.executable, "-m", "sertk", "serve", "--port", "{port}", "--log-level", "warning",
            *args]

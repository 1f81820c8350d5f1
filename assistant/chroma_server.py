"""Start a real Chroma server (`chroma run`) on 127.0.0.1 for the scale bench and the tests:
the same server a deployment would point ASSISTANT_CHROMA_HOST at. The port and shutdown
helpers also serve the Streamlit server started by the browser tests and bench."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import AssistantError


@dataclass
class RunningServer:
    port: int
    pid: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chroma_command() -> Path | None:
    path = Path(sys.executable).with_name("chroma")
    return path if path.exists() else None


@contextlib.contextmanager
def running_chroma(data_dir: Path, timeout: float = 60.0) -> Iterator[RunningServer]:
    command = chroma_command()
    if command is None:
        raise AssistantError("the `chroma` command is not installed beside this Python")
    port = free_port()
    proc = subprocess.Popen([str(command), "run", "--host", "127.0.0.1", "--port", str(port),
                             "--path", str(data_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssistantError("the chroma server did not start") from None
                time.sleep(0.2)
        yield RunningServer(port, proc.pid)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Ask a server to stop; kill it if it has not within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

"""Starting local servers in tests: a free loopback port, a folder served over HTTP, and waiting until a Dagster
webserver answers."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_webserver(url: str, timeout_s: float = 120.0) -> bool:
    """True once the Dagster webserver at `url` answers /server_info, False when `timeout_s` ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


class QuietFolderHandler(SimpleHTTPRequestHandler):
    """Serves the files of a folder (404 for anything else) without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving_folder(root: Path, handler: type[SimpleHTTPRequestHandler] = QuietFolderHandler) -> Iterator[str]:
    """Serve the files under `root` on a free 127.0.0.1 port while the block runs; gives the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


ROOT = Path(__file__).resolve().parents[2]
# Runs stay queued (no daemon): a test sees what a launch would do, and nothing executes.
QUEUED_ONLY_INSTANCE = (
    "telemetry:\n  enabled: false\nrun_coordinator:\n"
    "  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
)


@contextlib.contextmanager
def queued_webserver(home: Path, env: dict[str, str]) -> Iterator[str]:
    """A real dagster-webserver on the project's workspace, with runs only queued; gives its URL.

    `env` is the whole environment of the server (the code location reads its SHORTS_* settings from it).
    """
    (home / "dagster.yaml").write_text(QUEUED_ONLY_INSTANCE)
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**env, "DAGSTER_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_webserver(url), "dagster-webserver did not start"
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)

"""The deploy Caddyfile run by the real Caddy binary on loopback, in front of any upstream (a stand-in or a real
Dagster webserver): what the proxy tests and the login benchmark start."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.system.local_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy")


def bcrypt_hash(password: str, cost: int = 10) -> str:
    """A bcrypt hash of `password` as deploy/README.md has operators make one (cost 10).

    `caddy hash-password` always uses cost 14; the C library's crypt (libxcrypt) takes any cost.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt leaves the stdlib in 3.13; we pin 3.11
        import crypt

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**cost))


@dataclass(frozen=True)
class Proxy:
    """A running Caddy: its HTTPS base URL, its other ports and where its CA and log are."""

    base: str
    http_port: int
    health_port: int
    root_ca: Path
    log: Path
    pid: int

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client that verifies the proxy's certificate against Caddy's own CA for this host name."""
        return httpx.Client(base_url=self.base, verify=ssl.create_default_context(cafile=str(self.root_ca)), **kwargs)

    def access_log(self) -> list[dict[str, Any]]:
        """Caddy's access-log entries so far (the Caddyfile's `log`), oldest first."""
        lines = self.log.read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if str(entry.get("logger", "")).startswith("http.log.access")]


@contextlib.contextmanager
def running_proxy(
    folder: Path, upstream: str, *, user: str, password_hash: str, env: dict[str, str] | None = None
) -> Iterator[Proxy]:
    """Caddy with deploy/Caddyfile on free loopback ports in front of `upstream` (host:port), stopped afterwards.

    `env` adds to Caddy's environment (GOMAXPROCS for the benchmark). Caddy's CA, certificates and log stay in
    `folder`.
    """
    assert CADDY is not None, "caddy is not installed (make system-test-deps)"
    https_port, http_port, health_port = free_port(), free_port(), free_port()
    caddy_env = {
        **os.environ,
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "SITE_ADDRESS": f"https://localhost:{https_port}",
        "TLS_ISSUER": "internal",
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(http_port),
        "HEALTH_PORT": str(health_port),
        "PROXY_USER": user,
        "PROXY_PASSWORD_HASH": password_hash,
        "UPSTREAM": upstream,
        **(env or {}),
    }
    log = folder / "caddy.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CADDY, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=caddy_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        root_ca = folder / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 30
        while True:  # up once its internal CA exists and the HTTPS port answers
            assert proc.poll() is None, log.read_text()
            if root_ca.exists():
                try:
                    socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                    break
                except OSError:
                    pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Proxy(f"https://localhost:{https_port}", http_port, health_port, root_ca, log, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

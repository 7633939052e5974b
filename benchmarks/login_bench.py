"""Benchmark of what a flood of bad logins at the proxy takes from the renders, side by side in one run.

The real Caddy with deploy/Caddyfile on loopback; bounded floods of bad logins (random user names: Caddy then
checks against its cost-14 dummy hash, whatever the real hash's cost) while ffmpeg encodes a short H.264 clip on
every core, as a render does:
- idle: the encode alone;
- uncapped: Caddy free to use every core (no `cpus:` in compose);
- capped: Caddy as deployed (`cpus: 0.5` in docker-compose.yml: a CFS quota of half a core, and GOMAXPROCS=1,
  which Caddy 2.8+ derives from that quota). The quota is applied here through the cgroup v1 cpu controller when
  this process may create one (root), otherwise only GOMAXPROCS=1 (the line `login_cap` says which).
Also: the CPU one bad login costs Caddy, and how long the operator's own first login takes during the capped flood
(cost-10 hash).

    .venv/bin/python -m benchmarks.login_bench [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from resources.media.ffmpeg import run_ffmpeg
from tests.system.proxy import Proxy, bcrypt_hash, running_proxy

USER, PASSWORD = "operator", "benchmark password"
FLOOD_WORKERS = 8  # concurrent attackers: more than Caddy has cores, so it is never idle
MAX_BAD_LOGINS = 5000  # a hard bound on each flood
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")
CAP_CPUS = 0.5  # docker-compose.yml, proxy.cpus
TICKS = os.sysconf("SC_CLK_TCK")
ALONE_S = 5.0


def encode_seconds(folder: Path, duration_s: int) -> float:
    """Wall seconds of one H.264 encode of a synthetic 1280x720 clip (ffmpeg uses every core)."""
    started = time.perf_counter()
    run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=30:d={duration_s}", "-c:v", "libx264", "-preset", "fast",
         "-pix_fmt", "yuv420p", str(folder / "encode.mp4")],
        what="encoding the benchmark clip",
    )  # fmt: skip
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Flood:
    """FLOOD_WORKERS threads sending bad logins (random user and password) until stopped or MAX_BAD_LOGINS."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy, self.refused, self.stop = proxy, 0, threading.Event()
        self.seconds = 0.0  # from the first request sent to the last answer received
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._attack, daemon=True) for _ in range(FLOOD_WORKERS)]

    def _attack(self) -> None:
        with self.proxy.client(timeout=120) as client:
            while not self.stop.is_set():
                answer = client.get("/", auth=(secrets.token_hex(4), secrets.token_hex(8)))
                with self.lock:
                    self.refused += answer.status_code == 401
                    if self.refused >= MAX_BAD_LOGINS:
                        self.stop.set()

    @contextlib.contextmanager
    def running(self) -> Iterator[Flood]:
        started = time.perf_counter()
        for thread in self.threads:
            thread.start()
        time.sleep(1.0)  # every worker has a request in flight
        try:
            yield self
        finally:
            self.stop.set()
            for thread in self.threads:
                thread.join(timeout=180)
            self.seconds = time.perf_counter() - started


@contextlib.contextmanager
def cpu_quota(pid: int, cpus: float) -> Iterator[bool]:
    """`pid` in a cgroup limited to `cpus` cores (what Docker's `cpus:` sets); False when that is not allowed here."""
    group = CPU_CGROUP / f"shorts_login_bench_{os.getpid()}"
    try:
        group.mkdir()
        period = int((group / "cpu.cfs_period_us").read_text())
        (group / "cpu.cfs_quota_us").write_text(str(int(period * cpus)))
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            (CPU_CGROUP / "cgroup.procs").write_text(str(pid))  # back to the root group if it still runs
        for _ in range(50):  # empty once Caddy has exited or moved
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def flood_figures(proxy: Proxy, folder: Path, duration_s: int, idle_s: float) -> dict[str, float]:
    """Bad logins per second (answered over the whole flood, in-flight ones included), the cores Caddy takes alone
    and while ffmpeg encodes, the encode's time and slowdown, and Caddy's CPU per bad login.

    The render figures include whatever else the machine runs meanwhile; Caddy's cores are its own.
    """
    flood, before = Flood(proxy), cpu_seconds(proxy.pid)
    with flood.running():
        caddy_cpu = cpu_seconds(proxy.pid)
        time.sleep(ALONE_S)  # what the flood takes when nothing else wants the CPU
        alone = (cpu_seconds(proxy.pid) - caddy_cpu) / ALONE_S
        caddy_cpu = cpu_seconds(proxy.pid)
        encode_s = encode_seconds(folder, duration_s)
        spent_during = cpu_seconds(proxy.pid) - caddy_cpu
    return {
        "bad_logins_per_s": flood.refused / flood.seconds,
        "caddy_cores_alone": alone,
        "caddy_cores_during_render": spent_during / encode_s,
        "render_seconds": encode_s,
        "render_slowdown": encode_s / idle_s,
        "caddy_cpu_ms_per_bad_login": 1000 * (cpu_seconds(proxy.pid) - before) / max(flood.refused, 1),
    }


def good_login_seconds(proxy: Proxy) -> float:
    """Seconds until the operator's first request (a cache miss: one cost-10 comparison) is let in."""
    with proxy.client(timeout=300) as client:
        started = time.perf_counter()
        answer = client.get("/", auth=(USER, PASSWORD))
        assert answer.status_code != 401, "the operator's login was refused"
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round with a shorter clip (noisier figures)")
    quick = parser.parse_args().quick
    duration_s, rounds = (15, 1) if quick else (30, 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        password_hash = bcrypt_hash(PASSWORD)
        (folder / "uncapped").mkdir()
        (folder / "capped").mkdir()
        # Nothing reaches an upstream: every flood request stops at the login.
        with (
            running_proxy(folder / "uncapped", "127.0.0.1:9", user=USER, password_hash=password_hash) as free,
            running_proxy(
                folder / "capped", "127.0.0.1:9", user=USER, password_hash=password_hash, env={"GOMAXPROCS": "1"}
            ) as capped,
            cpu_quota(capped.pid, CAP_CPUS) as quota,
        ):
            print(f"login_cap: {f'{CAP_CPUS} cpus (cgroup quota) + GOMAXPROCS=1' if quota else 'GOMAXPROCS=1 only'}")
            # Rounds interleave the three cases, so load from elsewhere on the machine hits them alike.
            figures: dict[str, list[dict[str, float]]] = {"uncapped": [], "capped": []}
            idle: list[float] = []
            for _ in range(rounds):
                idle.append(encode_seconds(folder, duration_s))
                figures["uncapped"].append(flood_figures(free, folder, duration_s, idle[-1]))
                figures["capped"].append(flood_figures(capped, folder, duration_s, idle[-1]))
            print(f"login_render_idle_seconds: {statistics.median(idle):.2f}")
            for case, rows in figures.items():
                for name in rows[0]:
                    print(f"login_flood_{case}_{name}: {statistics.median(row[name] for row in rows):.2f}")
            with Flood(capped).running():
                print(f"login_flood_capped_good_login_seconds: {good_login_seconds(capped):.2f}")


if __name__ == "__main__":
    main()

"""The token store under concurrency: six post steps refresh at once, and X and TikTok rotate refresh tokens.

The processes are real (from a forkserver, which imports this module once: forking this process would copy
the fake's running server threads) and start together at a barrier; every wait is bounded by LIMIT_S, a safety
net that a passing run never comes near, and nothing waits on a clock to order them.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import cast

import pytest

from resources.http.retry import RetrySettings
from resources.publish.oauth import OAUTH, AccessTokens, TokenStore, env_name
from tests.providers.fakes.base import FakeServer, Recorded, Reply, route

PROCESSES = 6
LIMIT_S = 120.0


class RotatingTokenEndpoint(FakeServer[Recorded]):
    """A token endpoint that rotates the refresh token on every use and refuses one already used (X, TikTok).

    Refresh tokens are `<family>-<generation>`; using `tiktok-3` retires it and issues `tiktok-4` with the access
    token `access-tiktok-4`.
    """

    record_type = Recorded

    def __init__(self, *live: str, expires_in: int) -> None:
        super().__init__()
        self.live = set(live)
        self.presented: list[str] = []  # every refresh token the fake was asked to accept, in order
        self.issued: set[str] = set()  # every access token it handed out
        self.expires_in = expires_in

    @property
    def url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def answer(self, request: Recorded) -> Reply | None:
        if not request.route:
            return Reply(404, {"error": "not_found"})
        return self.dispatch(request)

    def url_for(self, platform: str) -> str:
        """Meta renews at Graph's `oauth/access_token`; the others at an OAuth token endpoint."""
        meta = OAUTH[platform].renewal == "fb_exchange_token"
        return f"{self.base_url}/oauth/access_token" if meta else self.url

    def _rotate(self, presented: str) -> str:
        """Retire `presented` and return its successor ("" when it is not live)."""
        with self.lock:
            self.presented.append(presented)
            if presented not in self.live:
                return ""
            self.live.remove(presented)
            family, _, generation = presented.rpartition("-")
            rotated = f"{family}-{int(generation) + 1}"
            self.live.add(rotated)
            return rotated

    @route("token", "POST", "/oauth2/token")
    def _token(self, request: Recorded) -> Reply:
        rotated = self._rotate(request.urlencoded.get("refresh_token", ""))
        if not rotated:
            return Reply(400, {"error": "invalid_grant", "error_description": "refresh token already used"})
        self.issued.add(f"access-{rotated}")
        tokens = {"access_token": f"access-{rotated}", "refresh_token": rotated, "expires_in": self.expires_in}
        return Reply(200, {**tokens, "token_type": "bearer"})

    @route("exchange", "GET", "/oauth/access_token", grant_type="fb_exchange_token")
    def _exchange(self, request: Recorded) -> Reply:
        """Meta: a live user token is exchanged for a new long-lived one (the old one retired here, to count)."""
        rotated = self._rotate(request.query.get("fb_exchange_token", ""))
        if not rotated:
            error = {
                "message": "Error validating access token: Session has expired.",
                "code": 190,
                "error_subcode": 463,
            }
            return Reply(400, {"error": {**error, "type": "OAuthException"}})
        self.issued.add(rotated)
        return Reply(200, {"access_token": rotated, "token_type": "bearer", "expires_in": 5183944})

    @route("page", "GET", r"/(?P<page>\d+)", fields="access_token")
    def _page(self, request: Recorded) -> Reply:
        """Meta: the Page token derived from the caller's user token."""
        page_token = f"page-{request.bearer}"
        self.issued.add(page_token)
        return Reply(200, {"id": request.args["page"], "access_token": page_token})


def _get_token(
    platform: str, env: dict[str, str], token_file: str, token_url: str, start: Barrier, results: Queue
) -> None:
    """One post step in its own process: wait for the others, then ask for an access token."""
    os.environ.update(env)  # a forkserver's children inherit its environment, not the test's
    for suffix in ["ACCESS_TOKEN", "REFRESH_TOKEN"]:
        os.environ.pop(env_name(platform, suffix), None)
    try:
        start.wait(timeout=LIMIT_S)
        store = TokenStore(Path(token_file))
        tokens = AccessTokens(platform, token_url=token_url, store=store, retry=RetrySettings(attempts=1))
        results.put((os.getpid(), platform, tokens.get(), ""))
    except Exception as exc:
        results.put((os.getpid(), platform, "", f"{type(exc).__name__}: {exc}"))


def _in_processes(platforms: list[str], store: TokenStore, fake: RotatingTokenEndpoint) -> dict[int, tuple[str, str]]:
    """Run `_get_token` once per platform, each in its own process, all released at once: {pid: (platform, token)}."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    start = context.Barrier(len(platforms))
    results: Queue = context.Queue()
    processes = [
        context.Process(
            target=_get_token,
            args=(platform, _credentials(platform), str(store.path), fake.url_for(platform), start, results),
        )
        for platform in platforms
    ]
    for process in processes:
        process.start()
    running = {process.sentinel: process for process in processes}
    deadline = time.monotonic() + LIMIT_S
    try:
        while running and time.monotonic() < deadline:
            for sentinel in wait(list(running), timeout=deadline - time.monotonic()):
                if running.pop(cast(int, sentinel)).exitcode != 0:
                    start.abort()  # one died: release the others from the barrier instead of waiting out LIMIT_S
    finally:
        for process in running.values():
            process.kill()
        for process in processes:
            process.join()
    assert not running, f"still running after {LIMIT_S:.0f} s"
    assert [process.exitcode for process in processes] == [0] * len(processes)
    answers = [results.get(timeout=LIMIT_S) for _ in processes]
    failures = [f"{platform} (pid {pid}): {error}" for pid, platform, _, error in answers if error]
    assert not failures, "\n".join(failures)
    return {pid: (platform, token) for pid, platform, token, _ in answers}


def _credentials(platform: str) -> dict[str, str]:
    return {name: os.environ[name] for name in (env_name(platform, "CLIENT_ID"), env_name(platform, "CLIENT_SECRET"))}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TokenStore:
    """An empty store in a folder not created yet; client credentials for every platform; no fixed tokens."""
    for platform in OAUTH:
        monkeypatch.setenv(env_name(platform, "CLIENT_ID"), f"{platform}-client")
        monkeypatch.setenv(env_name(platform, "CLIENT_SECRET"), f"{platform}-secret")
        monkeypatch.delenv(env_name(platform, "ACCESS_TOKEN"), raising=False)
        monkeypatch.delenv(env_name(platform, "REFRESH_TOKEN"), raising=False)
    return TokenStore(tmp_path / "config" / "viral-shorts" / "tokens.json")


@pytest.fixture
def short_lived(store: TokenStore) -> Iterator[RotatingTokenEndpoint]:
    """Access tokens that expire within the minute of margin, so every process has to refresh."""
    store.save("tiktok", {"access_token": "expired", "refresh_token": "tiktok-0", "expires_at": 0})
    with RotatingTokenEndpoint("tiktok-0", expires_in=30) as fake:
        yield fake


def test_six_processes_that_all_must_refresh_spend_each_rotated_refresh_token_once(
    store: TokenStore, short_lived: RotatingTokenEndpoint
) -> None:
    got = _in_processes(["tiktok"] * PROCESSES, store, short_lived)

    assert short_lived.presented == [f"tiktok-{generation}" for generation in range(PROCESSES)]  # one at a time
    assert store.load("tiktok")["refresh_token"] == f"tiktok-{PROCESSES}"  # the last rotation, not a lost one
    tokens = [token for _, token in got.values()]
    assert len(set(tokens)) == PROCESSES and set(tokens) == short_lived.issued


def test_processes_that_waited_for_the_lock_use_the_token_the_first_one_stored(store: TokenStore) -> None:
    store.save("tiktok", {"access_token": "expired", "refresh_token": "tiktok-0", "expires_at": 0})
    with RotatingTokenEndpoint("tiktok-0", expires_in=7200) as fake:
        got = _in_processes(["tiktok"] * PROCESSES, store, fake)

    assert fake.presented == ["tiktok-0"]
    assert {token for _, token in got.values()} == {"access-tiktok-1"} and len(got) == PROCESSES
    assert store.load("tiktok")["refresh_token"] == "tiktok-1"


def test_six_platforms_refreshing_at_once_all_keep_their_rotated_tokens(store: TokenStore) -> None:
    platforms = sorted(OAUTH)
    meta = ["facebook", "instagram"]  # no refresh grant: an expired long-lived user token is exchanged anew
    for platform in platforms:
        if platform in meta:
            record = {"token_kind": "user_long", "user_token": f"{platform}-0", "user_expires_at": 0}
            store.save(platform, {**record, "access_token": "expired", "expires_at": 0, "page_id": "42"})
        else:
            store.save(platform, {"access_token": "expired", "refresh_token": f"{platform}-0", "expires_at": 0})
    with RotatingTokenEndpoint(*(f"{platform}-0" for platform in platforms), expires_in=7200) as fake:
        got = _in_processes(platforms, store, fake)

    assert sorted(fake.presented) == [f"{platform}-0" for platform in platforms]
    refreshed = [p for p in platforms if p not in meta]
    assert {store.load(platform)["refresh_token"] for platform in refreshed} == {f"{p}-1" for p in refreshed}
    assert {store.load(platform)["user_token"] for platform in meta} == {f"{p}-1" for p in meta}
    expected = {p: f"access-{p}-1" for p in refreshed} | {"instagram": "instagram-1", "facebook": "page-facebook-1"}
    assert {platform: token for platform, token in got.values()} == expected


def test_a_forced_refresh_takes_a_token_stored_meanwhile_and_refreshes_only_a_refused_one(
    store: TokenStore,
) -> None:
    store.save("x", {"access_token": "first", "refresh_token": "x-0", "expires_at": time.time() + 3600})
    with RotatingTokenEndpoint("x-0", "x-7", expires_in=7200) as fake:
        tokens = AccessTokens("x", token_url=fake.url, store=store)
        assert tokens.get() == "first"
        # another post step's process got "first" refused too, refreshed, and stored the result
        store.save("x", {"access_token": "theirs", "refresh_token": "x-7", "expires_at": time.time() + 3600})
        assert tokens.get(force_refresh=True) == "theirs" and fake.presented == []
        assert tokens.get(force_refresh=True) == "access-x-8"  # "theirs" was refused as well: now refresh
    assert fake.presented == ["x-7"] and store.load("x")["refresh_token"] == "x-8"


def test_the_file_and_the_folder_it_creates_are_private_and_no_temp_file_is_left(store: TokenStore) -> None:
    store.save("youtube", {"access_token": "a", "refresh_token": "r", "expires_at": 0})
    store.save("linkedin", {"access_token": "b", "refresh_token": "s", "expires_at": 0})

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.parent.parent.stat().st_mode) == 0o700
    assert not [name for name in os.listdir(store.path.parent) if name.endswith(".tmp")]
    assert store.load("youtube")["refresh_token"] == "r" and store.load("linkedin")["refresh_token"] == "s"


def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temp_file(store: TokenStore) -> None:
    store.save("tiktok", {"access_token": "a", "refresh_token": "tiktok-1", "expires_at": 0})
    with pytest.raises(TypeError):
        store.save("tiktok", {"access_token": object()})

    assert store.load("tiktok")["refresh_token"] == "tiktok-1"
    assert not [name for name in os.listdir(store.path.parent) if name.endswith(".tmp")]


def test_saving_inside_the_platform_lock_does_not_wait_on_itself(store: TokenStore) -> None:
    with store.locked("tiktok"), store.locked("tiktok"):
        store.save("tiktok", {"access_token": "a", "refresh_token": "tiktok-1", "expires_at": 0})
    assert store.load("tiktok")["access_token"] == "a"

"""The proxy (the real Caddy with deploy/Caddyfile) in front of a real Dagster webserver: what a page on another site
can make a logged-in operator's browser send is refused, while the UI in a real Chromium and the operators' tools
(`shorts submit`, `shorts backfill`, with a login) still work.

Every refused request carries a valid login, as the browser's cached one would, and tries to add a partition of its
own name; the webserver is then asked directly (no proxy) which partitions it holds.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import pytest

from cli.submit import ADD_PARTITION, submit_source
from cli.webserver import PASSWORD_ENV, REPOSITORY_SELECTOR, USER_ENV, Login
from resources.catalog import PARTITIONS_NAME
from resources.errors import InputRejected, PipelineError
from resources.partition_keys import key_for_file
from tests.system.daemon import isolated_env, start_process, stop_process_group
from tests.system.local_servers import free_port, wait_for_webserver
from tests.system.proxy import CADDY, Proxy, bcrypt_hash, running_proxy

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
USER, PASSWORD = "operator", "a long random password for the test"
OTHER_SITE = "https://evil.example"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CADDY is None, reason="caddy is not installed (make system-test-deps)"),
]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make system-test-deps)")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real dagster-webserver on loopback; runs stay queued (no daemon)."""
    home, data = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("data")
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n"
        "  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
    )
    port = free_port()
    env = isolated_env(home, data, data / "inbox")
    command = [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml"]
    server = start_process([*command, "-h", "127.0.0.1", "-p", str(port)], env, home / "webserver.log")
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("SHORTS_DATA_DIR")
    try:
        assert wait_for_webserver(url), (home / "webserver.log").read_text()[-3000:]
        wait_for_the_code_location(url)
        os.environ["SHORTS_DATA_DIR"] = str(data)  # `shorts submit` registers the source where the server reads it
        yield url
    finally:
        if previous is None:
            os.environ.pop("SHORTS_DATA_DIR", None)
        else:
            os.environ["SHORTS_DATA_DIR"] = previous
        stop_process_group(server)


@pytest.fixture(scope="module")
def proxy(webserver: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    upstream = webserver.removeprefix("http://")
    with running_proxy(
        tmp_path_factory.mktemp("caddy"), upstream, user=USER, password_hash=bcrypt_hash(PASSWORD)
    ) as running:
        yield running


def wait_for_the_code_location(webserver: str, timeout_s: float = 180.0) -> None:
    """Until the webserver has loaded the code location: before that it is busy starting the code server."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.post(f"{webserver}/graphql", json={"query": query}, timeout=30).json()
        entries = answer["data"]["workspaceOrError"]["locationEntries"]
        if entries and {entry["loadStatus"] for entry in entries} == {"LOADED"}:
            return
        assert time.monotonic() < deadline, answer
        time.sleep(0.5)


def add_partition(key: str) -> dict[str, Any]:
    """The GraphQL request of a mutation with a visible effect: adding partition `key`."""
    variables = {"selector": REPOSITORY_SELECTOR, "partitionsDefName": PARTITIONS_NAME, "partitionKey": key}
    return {"query": ADD_PARTITION, "variables": variables}


def url_params(key: str) -> dict[str, str]:
    """The same mutation as a query string, which the webserver reads for GETs and for POSTs that are not JSON."""
    request = add_partition(key)
    return {"query": request["query"], "variables": json.dumps(request["variables"])}


def partitions(webserver: str) -> set[str]:
    """The partitions the webserver holds, asked directly (not through the proxy)."""
    query = '{ assetNodeOrError(assetKey: {path: ["source_video"]}) { ... on AssetNode { partitionKeys } } }'
    answer = httpx.post(f"{webserver}/graphql", json={"query": query}, timeout=30).json()
    return set(answer["data"]["assetNodeOrError"]["partitionKeys"])


JSON = {"Content-Type": "application/json"}
NOT_JSON = "only Content-Type application/json"
# What a page on another site can make the browser send (forms, fetch in no-cors mode, links and images), and
# what it cannot hide (the Origin): id -> (method, query string?, headers, body, the proxy's reason).
REFUSED: dict[str, tuple[str, bool, dict[str, str], str | None, str]] = {
    "mutation-in-a-get-url": ("GET", True, {}, None, "GraphQL in a URL"),
    "text-plain-form": ("POST", True, {"Content-Type": "text/plain"}, "x=1", NOT_JSON),
    "urlencoded-form": ("POST", True, {"Content-Type": "application/x-www-form-urlencoded"}, "x=1", NOT_JSON),
    "multipart-form": ("POST", True, {"Content-Type": "multipart/form-data; boundary=b"}, "--b--", NOT_JSON),
    # The webserver takes any Content-Type that contains "application/json"; a page may send this one.
    "text-plain-naming-json": ("POST", False, {"Content-Type": "text/plain; x=application/json"}, "JSON", NOT_JSON),
    "json-from-another-site": ("POST", False, {**JSON, "Origin": OTHER_SITE}, "JSON", "cross-origin"),
    "json-from-a-sandboxed-page": ("POST", False, {**JSON, "Origin": "null"}, "JSON", "cross-origin"),
    "json-without-origin-or-header": ("POST", False, JSON, "JSON", "X-Requested-With"),
}  # fmt: skip


def send(
    client: httpx.Client, key: str, method: str, in_url: bool, headers: dict[str, str], body: str | None
) -> httpx.Response:
    content = json.dumps(add_partition(key)) if body == "JSON" else body
    params = url_params(key) if in_url else None
    return client.request(method, "/graphql", params=params, headers=headers, content=content)


@pytest.mark.parametrize("case", ["mutation-in-a-get-url", "text-plain-naming-json"])
def test_the_webserver_alone_runs_these_mutations(webserver: str, case: str) -> None:
    """Why the proxy must refuse them: sent straight to the webserver, they change things."""
    method, in_url, headers, body, _ = REFUSED[case]
    key = f"direct-{case}"
    with httpx.Client(base_url=webserver, timeout=30) as client:
        assert send(client, key, method, in_url, headers, body).status_code == 200
    assert key in partitions(webserver)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_proxy_refuses_what_another_site_can_send(proxy: Proxy, webserver: str, case: str) -> None:
    method, in_url, headers, body, reason = REFUSED[case]
    key = f"csrf-{case}"
    with proxy.client(auth=(USER, PASSWORD), timeout=30) as client:
        refused = send(client, key, method, in_url, headers, body)
    assert refused.status_code == 403 and refused.text.startswith("refused: ") and reason in refused.text
    assert key not in partitions(webserver)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "SAME"}, {"X-Requested-With": "shorts-cli"}, {"Origin": "SAME", "X-Requested-With": "x"}],
    ids=["same-origin-page", "command-line-client", "both"],
)
def test_the_proxy_passes_json_from_the_site_or_a_client_with_the_header(
    proxy: Proxy, webserver: str, headers: dict[str, str]
) -> None:
    key = f"allowed-{len(partitions(webserver))}"
    headers = {name: proxy.base if value == "SAME" else value for name, value in headers.items()}
    with proxy.client(auth=(USER, PASSWORD), timeout=30) as client:
        answer = client.post(
            "/graphql", json=add_partition(key), headers={"Content-Type": "application/json; charset=utf-8", **headers}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
    assert key in partitions(webserver)


def test_pages_graphiql_and_their_query_strings_still_load(proxy: Proxy) -> None:
    with proxy.client(auth=(USER, PASSWORD), timeout=30) as client:
        assert "<html" in client.get("/assets/short_video", params={"partition": "x"}).text.lower()
        graphiql = client.get("/graphql", headers={"Accept": "text/html"})
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()


def open_subscriptions(proxy: Proxy, origin: str) -> ClientConnection:
    """The UI's websocket to /graphql, logged in, from a page of `origin`."""
    from websockets.sync.client import connect
    from websockets.typing import Origin, Subprotocol

    return connect(
        proxy.base.replace("https://", "wss://") + "/graphql",
        ssl=ssl.create_default_context(cafile=str(proxy.root_ca)),
        origin=Origin(origin),
        subprotocols=[Subprotocol("graphql-ws")],
        additional_headers={"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()},
        open_timeout=60,
        legacy=True,
    )


def test_websocket_subscriptions_open_only_from_the_site(proxy: Proxy) -> None:
    from websockets.exceptions import InvalidStatus

    with open_subscriptions(proxy, proxy.base) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(socket.recv(timeout=30)) == {"type": "connection_ack"}
    with pytest.raises(InvalidStatus) as refused:
        open_subscriptions(proxy, OTHER_SITE)
    assert refused.value.response.status_code == 403


# --- the operators' tools -------------------------------------------------------------------------------------


def trusting_the_proxy(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator does for Caddy's internal CA (deploy/README.md): point SSL_CERT_FILE at its root."""
    monkeypatch.setenv("SSL_CERT_FILE", str(proxy.root_ca))


def test_submit_and_backfill_pass_the_proxy_with_a_login(
    proxy: Proxy, webserver: str, sample_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.backfill import launch_backfill

    trusting_the_proxy(proxy, monkeypatch)
    login = Login(USER, PASSWORD)
    done = submit_source(str(sample_video), url=proxy.base, login=login)
    assert done.launched and done.run_url == f"{proxy.base}/runs/{done.run_id}"
    assert done.partition_key in partitions(webserver)
    backfill = launch_backfill([done.partition_key], assets=["source_video"], url=proxy.base, login=login)
    assert backfill.url == f"{proxy.base}/runs/b/{backfill.backfill_id}"
    # Each of their calls came through the proxy as the operator; none was refused.
    calls = [entry for entry in proxy.access_log() if entry["request"]["headers"].get("X-Requested-With")]
    assert calls and {(entry["user_id"], entry["status"]) for entry in calls} == {(USER, 200)}


def test_health_checks_the_webserver_through_the_proxy_with_a_login(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cli.health import ComponentHealth, check_health
    from resources.settings import PipelineSettings

    trusting_the_proxy(proxy, monkeypatch)
    settings = PipelineSettings(data_dir=str(tmp_path / "data"))

    def webserver_of(login: Login | None) -> ComponentHealth:
        report = check_health(ui_url=proxy.base, settings=settings, login=login)
        return next(c for c in report.components if c.name == "webserver")

    with_login, without = webserver_of(Login(USER, PASSWORD)), webserver_of(None)
    assert with_login.ok, with_login.detail
    assert not without.ok and "401" in without.detail


def test_the_command_line_takes_the_password_from_the_environment_only(
    proxy: Proxy, sample_video: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.__main__ import main

    trusting_the_proxy(proxy, monkeypatch)
    monkeypatch.setenv(USER_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert main(["submit", str(sample_video), "--url", proxy.base]) == 0
    assert capsys.readouterr().out.startswith(f"partition {key_for_file(sample_video)}: ")
    # No flag takes it: `ps` shows every process's arguments to every user of the machine.
    with pytest.raises(SystemExit) as refused:
        main(["submit", str(sample_video), "--url", proxy.base, "--password", PASSWORD])
    assert refused.value.code == 2 and "unrecognized arguments: --password" in capsys.readouterr().err


def test_a_missing_or_wrong_login_says_which_variables_to_set(
    proxy: Proxy, sample_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.backfill import launch_backfill

    trusting_the_proxy(proxy, monkeypatch)
    with pytest.raises(PipelineError, match=f"no login was sent: set {USER_ENV}.*{PASSWORD_ENV}"):
        submit_source(str(sample_video), url=proxy.base)
    with pytest.raises(PipelineError, match="the proxy refused the login"):
        launch_backfill(["file-x"], url=proxy.base, login=Login(USER, "wrong"))
    with pytest.raises(InputRejected, match=f"carries a login; pass the user as --user or {USER_ENV}") as refused:
        submit_source(str(sample_video), url=proxy.base.replace("https://", f"https://{USER}:{PASSWORD}@"))
    assert PASSWORD not in str(refused.value)


# --- the real UI in Chromium ----------------------------------------------------------------------------------


class Chromium:
    """Headless Chromium driven over the DevTools protocol; it answers the proxy's login prompt like an operator."""

    def __init__(self, profile: Path, login: Login) -> None:
        from websockets.sync.client import connect

        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--ignore-certificate-errors", "--host-resolver-rules=MAP localhost 127.0.0.1",
                 f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]  # fmt: skip
        self.process = subprocess.Popen([str(CHROMIUM), *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline and self.process.poll() is None, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().splitlines()[0]
        [page] = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, legacy=True)
        self.login, self.ids, self.events = login, itertools.count(1), list[dict[str, Any]]()
        self.call("Network.enable")
        self.call("Page.enable")
        self.call("Fetch.enable", handleAuthRequests=True, patterns=[{"urlPattern": "*"}])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == call_id:
                assert "error" not in message, message
                return dict(message.get("result", {}))
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Fetch.requestPaused":
            self._send("Fetch.continueRequest", requestId=params["requestId"])
        elif method == "Fetch.authRequired":
            answer = {"response": "ProvideCredentials", "username": self.login.user, "password": self.login.password}
            self._send("Fetch.continueWithAuth", requestId=params["requestId"], authChallengeResponse=answer)

    def _send(self, method: str, **params: Any) -> None:
        self.socket.send(json.dumps({"id": next(self.ids), "method": method, "params": params}))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 90.0) -> None:
        """Until `expression` is true in the page, handling events meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"page never satisfied {expression}"
            with contextlib.suppress(TimeoutError):
                while True:
                    self._handle(json.loads(self.socket.recv(timeout=0.5)))

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium"), Login(USER, PASSWORD))
    try:
        yield chromium
    finally:
        chromium.close()


class AttackerSite(BaseHTTPRequestHandler):
    """Another site (another origin on loopback) whose page tries every way in without a preflight."""

    page: ClassVar[bytes] = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def attacker_page(target: str) -> bytes:
    """A page that tries each way in without a preflight: an image, a no-cors fetch, a websocket, and last (it
    leaves the page) the classic top-level form post, to which the browser attaches the operator's login."""
    from urllib.parse import urlencode

    form_url = f"{target}/graphql?{urlencode(url_params('csrf-browser-form'))}"
    img_url = f"{target}/graphql?{urlencode(url_params('csrf-browser-img'))}"
    fetch_body = json.dumps(json.dumps(add_partition("csrf-browser-fetch")))
    return f"""<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{form_url}"><input name="x" value="1"></form>
<img src="{img_url}">
<script>
fetch("{target}/graphql", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain; x=application/json"}}, body: {fetch_body}}});
const socket = new WebSocket("{target.replace("https://", "wss://")}/graphql", "graphql-ws");
socket.onerror = socket.onopen = () => setTimeout(() => document.getElementById("f").submit(), 300);
</script></body></html>""".encode()


@needs_chromium
def test_the_ui_works_through_the_proxy(browser: Chromium, proxy: Proxy, webserver: str) -> None:
    before = len(proxy.access_log())
    browser.call("Page.navigate", url=f"{proxy.base}/locations/viral_shorts/asset-groups/pipeline")
    browser.wait_for("document.body && document.body.innerText.includes('short_video')")
    # A mutation the way the UI sends one: a same-origin POST of JSON, the browser adding Origin and the login.
    status = browser.evaluate(
        f"fetch('/graphql', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, "
        f"body: {json.dumps(json.dumps(add_partition('from-the-ui')))}}}).then(r => r.status)"
    )
    assert status == 200 and "from-the-ui" in partitions(webserver)
    seen = proxy.access_log()[before:]
    graphql = [e for e in seen if e["request"]["uri"].startswith("/graphql")]
    posts = [e for e in graphql if e["request"]["method"] == "POST"]
    assert len(posts) > 5 and {e["status"] for e in posts} == {200}
    assert {tuple(e["request"]["headers"]["Origin"]) for e in posts} == {(proxy.base,)}
    # Its live updates: the websocket handshake went through and the server acknowledged the subscription.
    handshakes = [e for e in browser.events if e.get("method") == "Network.webSocketHandshakeResponseReceived"]
    assert handshakes and {e["params"]["response"]["status"] for e in handshakes} == {101}
    frames = [
        e["params"]["response"]["payloadData"]
        for e in browser.events
        if e.get("method") == "Network.webSocketFrameReceived"
    ]
    assert '{"type":"connection_ack"}' in frames
    assert not [e for e in seen if e["status"] == 403]


@needs_chromium
def test_a_page_on_another_site_cannot_use_the_operators_login(browser: Chromium, proxy: Proxy, webserver: str) -> None:
    browser.call("Page.navigate", url=f"{proxy.base}/server_info")  # logged in: the browser holds the password
    browser.wait_for("document.body && document.body.innerText.includes('dagster_webserver_version')")
    AttackerSite.page = attacker_page(proxy.base)
    site = ThreadingHTTPServer(("127.0.0.1", 0), AttackerSite)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    other_origin = f"http://127.0.0.1:{site.server_address[1]}"
    try:
        browser.call("Page.navigate", url=f"{other_origin}/")
        browser.wait_for("document.body && document.body.innerText.startsWith('refused: ')")  # the form's answer
    finally:
        site.shutdown()
        site.server_close()
    assert not {"csrf-browser-form", "csrf-browser-img", "csrf-browser-fetch"} & partitions(webserver)
    from_the_page = [
        entry for entry in proxy.access_log()
        if entry["request"]["headers"].get("Referer", [""])[0].startswith(other_origin)
        or entry["request"]["headers"].get("Origin") == [other_origin]
    ]  # fmt: skip
    # The top-level form post carried the login (a browser sends it with a navigation) and the guard refused it; the
    # image, the fetch and the websocket came without it (Chromium keeps it from cross-site subresources).
    kinds = {
        (e["request"]["method"], "query=" in e["request"]["uri"], "Upgrade" in e["request"]["headers"]): e
        for e in from_the_page
    }
    form, image, fetch, socket = (
        kinds[("POST", True, False)],
        kinds[("GET", True, False)],
        kinds[("POST", False, False)],
        kinds[("GET", False, True)],
    )
    assert (form["status"], form["user_id"]) == (403, USER)
    assert {image["status"], fetch["status"], socket["status"]} <= {401, 403}
    assert all(entry["status"] in (401, 403) for entry in from_the_page)

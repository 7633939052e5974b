"""run_failure_sensor: a failed run becomes one chat message naming the video, the asset, the error and the run;
the error is shown as written (no markup of its own) and without any secret the project knows of."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, job, op

from definitions import build_definitions
from pipeline_assets.partitions import source_videos
from resources.alerts import KNOWN_SECRET_ENVS, FailureAlerts, known_secrets, redact_secrets
from resources.media.source_registry import register_source
from resources.media.store import MediaStore
from resources.records import SourceRequest
from resources.settings import PipelineSettings
from sensors.run_failure_sensor import FailedStep, build_failure_message, first_lines, mrkdwn, run_failure_sensor

KEY = "file-missing0001"


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def failed_run_context(settings: PipelineSettings, tmp_path: Path) -> Any:
    """Run `short_pipeline_job` for a partition whose source file is gone; the context the daemon would build."""
    defs = build_definitions(settings)
    store = MediaStore.from_settings(settings)
    register_source(store, SourceRequest(partition_key=KEY, source=str(tmp_path / "deleted.mp4")))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(source_videos.name or "source_videos", [KEY])
    result = defs.resolve_job_def("short_pipeline_job").execute_in_process(
        instance=instance, partition_key=KEY, raise_on_error=False
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE]
    return build_run_status_sensor_context(
        sensor_name="run_failure_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    )


def test_failed_run_posts_video_asset_error_and_link(
    settings: PipelineSettings, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORTS_FAILURE_WEBHOOK_URL", receiver.url)
    context = failed_run_context(settings, tmp_path)

    run_failure_sensor(context, failure_alerts=FailureAlerts(ui_base_url="http://dagster.internal:3000/"))

    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    run_id = context.dagster_run.run_id
    everything = json.dumps(body)
    assert KEY in body["text"] and "source_video" in body["text"]
    assert f"http://dagster.internal:3000/runs/{run_id}" in body["text"]
    assert "deleted.mp4" in everything  # the error itself, not only "step failed"
    assert "Error occurred while executing" not in everything  # Dagster's wrapper is stripped
    assert body["blocks"][0]["type"] == "header"
    assert any("`source_video`" in block.get("text", {}).get("text", "") for block in body["blocks"])


def test_without_a_webhook_url_nothing_is_sent(
    settings: PipelineSettings, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHORTS_FAILURE_WEBHOOK_URL", raising=False)
    run_failure_sensor(failed_run_context(settings, tmp_path), failure_alerts=FailureAlerts())
    assert receiver.bodies == []


def test_an_unreachable_webhook_is_logged_not_raised(
    settings: PipelineSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SHORTS_FAILURE_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")
    run_failure_sensor(failed_run_context(settings, tmp_path), failure_alerts=FailureAlerts())  # no exception


def test_message_names_video_asset_error_and_link() -> None:
    message = build_failure_message(
        job_name="short_pipeline_job",
        run_id="0123456789abcdef",
        partition="tiktok-42",
        failed_steps=[FailedStep("x_post", "x_post", "x_post[tiktok-42]: HTTP 403 duplicate; fix it\nmore detail")],
        run_error="ignored when steps failed",
        run_url=FailureAlerts().run_url("0123456789abcdef"),
    )
    assert message["text"] == (
        "Run failed: short_pipeline_job, video tiktok-42, asset x_post: x_post[tiktok-42]: HTTP 403 duplicate; "
        "fix it <http://127.0.0.1:3000/runs/0123456789abcdef|Open the run>"
    )
    assert message["blocks"][2]["text"]["text"] == (
        "*Asset* `x_post`\n```x_post[tiktok-42]: HTTP 403 duplicate; fix it\nmore detail```"
    )


def test_a_run_that_failed_before_any_step_reports_the_run_error() -> None:
    message = build_failure_message(
        job_name="short_pipeline_job",
        run_id="r1",
        partition=None,
        failed_steps=[],
        run_error="code location failed to load",
        run_url="http://ui/runs/r1",
    )
    assert "(no partition)" in message["text"] and "code location failed to load" in message["text"]


def test_long_errors_are_cut_to_their_first_lines() -> None:
    text = "\n".join(f"line {n}" for n in range(50))
    assert first_lines(text, max_lines=3) == "line 0\nline 1\nline 2"
    assert len(first_lines("x" * 5000, max_chars=100)) == 100


# --- what error text can do to the message: nothing but be shown ------------------------------------------------

HOSTILE_MARKUP = "<!channel> see <https://evil.example/login|the fix> & ```*bold* @here``` <@U024BE7LH>"


def test_error_text_cannot_add_links_mentions_or_leave_its_code_block() -> None:
    message = build_failure_message(
        job_name="short_pipeline_job",
        run_id="r1",
        partition="tiktok-42",
        failed_steps=[FailedStep("x_post", "x_post", HOSTILE_MARKUP)],
        run_error="",
        run_url="http://ui/runs/r1",
    )
    step_text = message["blocks"][2]["text"]["text"]
    for text in (message["text"], step_text):
        assert "<!channel>" not in text and "<https://evil" not in text and "<@U" not in text
        assert "&lt;!channel&gt; see &lt;https://evil.example/login|the fix&gt; &amp; " in text
        assert "@here" not in text
    assert step_text.startswith("*Asset* `x_post`\n```") and step_text.endswith("```")
    assert step_text.count("```") == 2  # the error's own fences cannot close the block
    assert message["text"].endswith("<http://ui/runs/r1|Open the run>")  # the message's own link stays a link


def test_mrkdwn_escapes_exactly_the_three_control_characters() -> None:
    # https://api.slack.com/reference/surfaces/formatting#escaping: &, < and >, and nothing else.
    assert mrkdwn("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d \"e\" 'f'"
    assert mrkdwn("&amp;") == "&amp;amp;"  # already escaped-looking text is shown as written too


def test_mrkdwn_leaves_no_two_backticks_together_and_none_at_the_ends() -> None:
    for text in ("```", "````", "a``b", "`x`", "```python\nboom```"):
        escaped = mrkdwn(text)
        assert "``" not in escaped
        assert not escaped.startswith("`") and not escaped.endswith("`")
        assert escaped.replace("\u2060", "") == text  # what a reader sees is unchanged


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@all", "@Channel"])
def test_mrkdwn_breaks_broadcast_mentions(word: str) -> None:
    escaped = mrkdwn(f"ping {word} now")
    assert word not in escaped and escaped.replace("\u2060", "") == f"ping {word} now"


def test_mrkdwn_keeps_ordinary_at_signs() -> None:
    assert mrkdwn("@scout2015 and @alliance") == "@scout2015 and @alliance"


# --- secrets: every value the project knows of, and credentials in any shape -------------------------------------


def _redacted(text: str, environ: dict[str, str], tmp_path: Path) -> str:
    """`text` as an alert would carry it, for this environment and no token file."""
    return redact_secrets(text, known_secrets(environ, token_path=tmp_path / "no-tokens.json"))


@pytest.mark.parametrize("name", KNOWN_SECRET_ENVS)
def test_every_known_secret_variable_is_redacted(name: str, tmp_path: Path) -> None:
    value = f"v4lue-of-{name.lower()}"
    text = _redacted(f"{name} was {value}; quoted: {quote(value, safe='')}", {name: value}, tmp_path)
    assert value not in text and text == f"{name} was ***; quoted: ***"


@pytest.mark.parametrize(
    "name", ["OPENAI_API_KEY", "ELEVENLABS_API_KEY", "HEYGEN_API_KEY", "YOUTUBE_CLIENT_SECRET", "DAGSTER_PG_PASSWORD"]
)
def test_the_named_secrets_are_known(name: str) -> None:
    assert name in KNOWN_SECRET_ENVS


def test_oauth_credentials_of_every_platform_are_known() -> None:
    for platform in ("youtube", "tiktok", "instagram", "facebook", "x", "linkedin"):
        for suffix in ("CLIENT_SECRET", "REFRESH_TOKEN", "ACCESS_TOKEN"):
            assert f"{platform.upper()}_{suffix}" in KNOWN_SECRET_ENVS


def test_a_short_known_secret_is_redacted_too(tmp_path: Path) -> None:
    assert _redacted("password pw12 refused", {"DAGSTER_PG_PASSWORD": "pw12"}, tmp_path) == "password *** refused"


def test_any_variable_named_like_a_secret_is_redacted(tmp_path: Path) -> None:
    environ = {"MY_LLM_API_KEY": "llm-key-123456", "SHORTS_DATA_DIR": "/srv/data"}
    assert _redacted("key llm-key-123456 in /srv/data", environ, tmp_path) == "key *** in /srv/data"


def test_the_ledger_urls_password_is_redacted_wherever_it_appears(tmp_path: Path) -> None:
    environ = {"SHORTS_LEDGER_URL": "postgresql://dagster:hunter2-pg@postgres:5432/dagster"}
    text = _redacted("auth failed for dagster with hunter2-pg at postgres:5432", environ, tmp_path)
    assert "hunter2-pg" not in text and "dagster" in text


def test_the_webhook_url_is_redacted_with_and_without_its_scheme_and_by_its_path(tmp_path: Path) -> None:
    url = "https://hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX"
    environ = {"SHORTS_FAILURE_WEBHOOK_URL": url}
    text = _redacted(
        f"{url} | hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX | POST /services/T0001/B0001/XXXXSECRETXXXX",
        environ,
        tmp_path,
    )
    assert "XXXXSECRETXXXX" not in text


def test_tokens_in_the_oauth_token_file_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {
                "youtube": {"access_token": "ya29.access-youtube", "refresh_token": "1//refresh-yt", "expires_at": 1e9},
                "tiktok": {"access_token": "act.tiktok-access", "refresh_token": "rft.tiktok-refresh"},
            }
        )
    )
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tokens))  # where the token store reads it from
    text = FailureAlerts().redact(
        "refresh with 1//refresh-yt failed; upload with ya29.access-youtube; tiktok act.tiktok-access "
        "rft.tiktok-refresh; expires 1000000000.0"
    )
    for token in ("ya29.access-youtube", "1//refresh-yt", "act.tiktok-access", "rft.tiktok-refresh"):
        assert token not in text
    assert "1000000000.0" in text  # only token values, not every value in the file


def test_a_missing_or_unreadable_token_file_does_not_stop_the_alert(tmp_path: Path) -> None:
    broken = tmp_path / "tokens.json"
    broken.write_text("{not json")
    assert known_secrets({}, token_path=broken) == []
    assert known_secrets({}, token_path=tmp_path / "absent.json") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://bob:pa55w0rd@proxy.example:8080/feed failed", "GET https://***@proxy.example:8080/feed failed"),
        ("redis://:only-pass@cache:6379/0", "redis://***@cache:6379/0"),
        ("clone https://ghp_tokenvalue123@github.com/a/b", "clone https://***@github.com/a/b"),
        ("header Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "header Authorization: Bearer ***"),
        ("bearer abcdefgh12345678==", "bearer ***"),
        ("GET /v27.0/me?access_token=EAABsecret123&fields=id", "GET /v27.0/me?access_token=***&fields=id"),
        ('{"refresh_token": "rt-unknown-to-us", "ok": false}', '{"refresh_token": "***", "ok": false}'),
        ("a Bearer token expired", "a Bearer token expired"),  # prose stays readable
    ],
)
def test_credentials_in_urls_and_bearer_tokens_are_redacted_anywhere(text: str, expected: str) -> None:
    assert redact_secrets(text, []) == expected


def test_longer_secrets_are_redacted_before_the_shorter_ones_inside_them() -> None:
    assert redact_secrets("key abcdef-123456-ghijkl", ["abcdef", "abcdef-123456-ghijkl"]) == "key ***"


def test_a_failed_run_alert_carries_no_secret_and_no_markup(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"x": {"access_token": "x-access-token-value", "refresh_token": "x-refresh-value"}}))
    monkeypatch.setenv("SHORTS_TOKEN_FILE", str(tokens))
    monkeypatch.setenv("SHORTS_FAILURE_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789")
    hostile = (
        "<!channel> upload failed with x-refresh-value and sk-test-openai-0123456789 via "
        f"https://u:p4ss@evil.example/ (Bearer x-access-token-value) ``` <https://evil.example|retry> {receiver.url}"
    )

    @op
    def publish() -> None:
        raise RuntimeError(hostile)

    @job
    def hostile_job() -> None:
        publish()

    instance = DagsterInstance.ephemeral()
    result = hostile_job.execute_in_process(instance=instance, raise_on_error=False)
    (failure,) = [event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE]
    context = build_run_status_sensor_context(
        sensor_name="run_failure_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
    )

    run_failure_sensor(context, failure_alerts=FailureAlerts())

    [body] = receiver.bodies
    everything = json.dumps(body)
    for secret in ("x-refresh-value", "sk-test-openai-0123456789", "p4ss", "x-access-token-value", receiver.url):
        assert secret not in everything
    for markup in ("<!channel>", "<https://evil", "@channel"):
        assert markup not in everything
    assert "upload failed with ***" in everything

import pytest

from resources.errors import InputRejected
from resources.ingest.url_safety import check_remote_url, is_public_address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/video.mp4",
        "http://localhost:8080/x",
        "http://10.0.0.5/x",
        "http://192.168.1.1/x",
        "http://172.16.3.4/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://0.0.0.0/x",
        "http://[::ffff:127.0.0.1]/x",
    ],
)
def test_private_loopback_and_link_local_hosts_are_refused(url: str) -> None:
    with pytest.raises(InputRejected, match="non-public address"):
        check_remote_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp4", "file:///etc/passwd", "javascript:alert(1)", "gopher://x"])
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(InputRejected, match="scheme"):
        check_remote_url(url)


def test_url_without_host_is_refused() -> None:
    with pytest.raises(InputRejected, match="no host"):
        check_remote_url("https:///video")


def test_embedded_credentials_are_refused() -> None:
    with pytest.raises(InputRejected, match="credentials"):
        check_remote_url("https://user:secret@example.com/v.mp4")


def test_private_network_allowed_only_when_configured() -> None:
    assert check_remote_url("http://127.0.0.1:9/v.mp4", allow_private_networks=True) == "http://127.0.0.1:9/v.mp4"


def test_public_address_classification() -> None:
    assert is_public_address("8.8.8.8")
    assert not is_public_address("100.64.0.1")  # carrier-grade NAT
    assert not is_public_address("fe80::1")

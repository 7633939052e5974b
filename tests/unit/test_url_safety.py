import socket

import pytest

from resources.errors import InputRejected, RetryableError
from resources.ingest.url_safety import (
    AddressPolicy,
    AddressRefused,
    HostUnresolved,
    Resolver,
    address_kind,
    address_refusal,
    check_remote_url,
    check_url_form,
    is_public_address,
)


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


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.10", "private"),
        ("fd12::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:a9fe:a9fe", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("8.8.8.8", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_each_address_has_one_kind(address: str, kind: str) -> None:
    assert address_kind(address) == kind


def test_private_networks_allowed_still_refuse_cloud_metadata() -> None:
    assert address_refusal("127.0.0.1", allow_private_networks=True) is None
    assert address_refusal("10.0.0.1", allow_private_networks=True) is None
    assert address_refusal("169.254.169.254", allow_private_networks=True) == "cloud metadata"
    assert address_refusal("::ffff:169.254.169.254", allow_private_networks=True) == "cloud metadata"


def answers(table: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def test_a_name_is_refused_when_any_of_its_answers_is_not_public() -> None:
    policy = AddressPolicy(resolver=answers({"cdn.example": ["8.8.8.8", "10.0.0.9"]}))
    refused = r"cdn\.example resolves to the non-public address 10\.0\.0\.9 \(private\)"
    with pytest.raises(AddressRefused, match=refused):
        policy.checked_addresses("cdn.example", 443)


def test_checked_addresses_are_the_answers_of_one_lookup() -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["8.8.8.8", "2606:4700::1111"]

    assert AddressPolicy(resolver=resolve).checked_addresses("cdn.example", 443) == ["8.8.8.8", "2606:4700::1111"]
    assert asked == [("cdn.example", 443)]


def test_an_allowed_endpoint_is_exact_to_the_port() -> None:
    policy = AddressPolicy(allowed_endpoints=frozenset({("127.0.0.1", 8080)}))
    assert policy.checked_addresses("127.0.0.1", 8080) == ["127.0.0.1"]
    with pytest.raises(AddressRefused, match="loopback"):
        policy.checked_addresses("127.0.0.1", 8081)


def test_a_name_that_does_not_resolve_is_retryable() -> None:
    with pytest.raises(HostUnresolved, match=r"cannot resolve host 'gone\.example'") as caught:
        AddressPolicy(resolver=answers({})).checked_addresses("gone.example", 80)
    assert isinstance(caught.value, RetryableError)


def test_check_remote_url_uses_the_policy_it_is_given() -> None:
    policy = AddressPolicy(resolver=answers({"video.example": ["127.0.0.1"]}))
    with pytest.raises(InputRejected, match=r"'video\.example' resolves to the non-public address 127\.0\.0\.1"):
        check_remote_url("https://video.example/v.mp4", policy=policy)


@pytest.mark.parametrize("url", ["http://example.com:99999/v.mp4", "http://example.com:abc/v.mp4"])
def test_an_invalid_port_is_an_input_error_not_a_crash(url: str) -> None:
    with pytest.raises(InputRejected, match="invalid port"):
        check_url_form(url)

from pathlib import Path

import pytest

from resources.errors import InputRejected
from resources.partition_keys import key_for_file, key_for_source, key_for_url, validate_partition_key


def test_tiktok_url_maps_to_platform_and_video_id() -> None:
    assert key_for_url("https://www.tiktok.com/@scout2015/video/6718335390845095173") == "tiktok-6718335390845095173"


def test_unknown_site_maps_to_host_and_stable_hash() -> None:
    key = key_for_url("https://cdn.example.org/clips/a.mp4")
    assert key.startswith("cdn-") and key == key_for_url("https://cdn.example.org/clips/a.mp4")
    validate_partition_key(key)


def test_file_key_depends_on_content_not_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    assert key_for_file(first) == key_for_file(second)
    assert key_for_source(str(first)).startswith("file-")


@pytest.mark.parametrize(
    "key",
    ["", "../etc", "a/b", "a,b", "UPPER", "-leading-dash", "x" * 65, "tiktok 123", "key\x00", "ключ"],
)
def test_unsafe_partition_keys_are_rejected_with_the_rule(key: str) -> None:
    with pytest.raises(InputRejected, match="a-z, 0-9"):
        validate_partition_key(key)


def test_safe_partition_key_is_returned_unchanged() -> None:
    assert validate_partition_key("tiktok-7301234567890123456") == "tiktok-7301234567890123456"

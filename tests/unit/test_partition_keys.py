import hashlib
import re
from pathlib import Path

import pytest

from resources.errors import InputRejected
from resources.partition_keys import key_for_file, key_for_source, key_for_url, same_content_key, validate_partition_key


def video(folder: Path, name: str, data: bytes = b"same bytes") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_tiktok_url_maps_to_platform_and_video_id() -> None:
    assert key_for_url("https://www.tiktok.com/@scout2015/video/6718335390845095173") == "tiktok-6718335390845095173"


def test_unknown_site_maps_to_host_and_stable_hash() -> None:
    key = key_for_url("https://cdn.example.org/clips/a.mp4")
    assert key.startswith("cdn-") and key == key_for_url("https://cdn.example.org/clips/a.mp4")
    validate_partition_key(key)


def test_file_key_is_the_name_then_a_hash_of_the_content(tmp_path: Path) -> None:
    path = video(tmp_path, "Holiday Recipe.mp4")
    digest = hashlib.sha256(b"same bytes").hexdigest()[:10]
    assert key_for_file(path) == f"file-holiday-recipe-{digest}"
    assert key_for_source(str(path)) == key_for_file(path)


def test_same_bytes_under_the_same_name_map_to_the_same_key(tmp_path: Path) -> None:
    assert key_for_file(video(tmp_path / "a", "clip.mp4")) == key_for_file(video(tmp_path / "b", "clip.mp4"))


def test_different_bytes_under_the_same_name_get_different_keys(tmp_path: Path) -> None:
    first = key_for_file(video(tmp_path / "phone", "IMG_0001.MOV", b"first video"))
    second = key_for_file(video(tmp_path / "camera", "IMG_0001.MOV", b"second video"))
    assert first.startswith("file-img_0001-") and second.startswith("file-img_0001-") and first != second


def test_a_copy_under_another_name_gets_its_own_key_with_the_same_content_hash(tmp_path: Path) -> None:
    original = key_for_file(video(tmp_path, "a.mp4"))
    copy = key_for_file(video(tmp_path, "b.mp4"))
    assert original != copy
    assert original.rsplit("-", 1)[1] == copy.rsplit("-", 1)[1]


def test_punctuation_and_accents_become_plain_words(tmp_path: Path) -> None:
    key = key_for_file(video(tmp_path, "Crème Brûlée – Part 2!.MOV"))
    assert re.fullmatch(r"file-creme-brulee-part-2-[0-9a-f]{10}", key)


def test_a_long_name_is_cut_at_a_word_boundary_within_64_characters(tmp_path: Path) -> None:
    name = "How I cooked the best holiday recipe of my life in ten minutes flat.mp4"
    key = key_for_file(video(tmp_path, name))
    assert len(key) <= 64 and re.fullmatch(r"file-how-i-cooked-the-best-holiday-recipe-of-my-life-[0-9a-f]{10}", key)


def test_a_long_name_without_word_boundaries_is_cut_to_fit(tmp_path: Path) -> None:
    key = key_for_file(video(tmp_path, "x" * 100 + ".mp4"))
    assert len(key) == 64 and key.startswith("file-xxx") and validate_partition_key(key) == key


@pytest.mark.parametrize("name", ["🎬.mp4", "動画.mp4", "---.mp4", "!!!.mov"])
def test_a_name_with_no_usable_characters_falls_back_to_the_hash(tmp_path: Path, name: str) -> None:
    assert re.fullmatch(r"file-[0-9a-f]{10}", key_for_file(video(tmp_path, name)))


@pytest.mark.parametrize(
    "name", ["plain.mp4", "UPPER CASE.MP4", "a,b;c.mp4", "-lead_and_trail-.mp4", "x" * 200 + ".mp4"]
)
def test_every_file_key_is_a_safe_partition_key(tmp_path: Path, name: str) -> None:
    key = key_for_file(video(tmp_path, name))
    assert validate_partition_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "../etc", "a/b", "a,b", "UPPER", "-leading-dash", "x" * 65, "tiktok 123", "key\x00", "ключ"],
)
def test_unsafe_partition_keys_are_rejected_with_the_rule(key: str) -> None:
    with pytest.raises(InputRejected, match="a-z, 0-9"):
        validate_partition_key(key)


def test_safe_partition_key_is_returned_unchanged() -> None:
    assert validate_partition_key("tiktok-7301234567890123456") == "tiktok-7301234567890123456"


def test_a_copy_under_another_name_is_found_by_its_content_hash(tmp_path: Path) -> None:
    original, copy, other = tmp_path / "Holiday.mp4", tmp_path / "Holiday (1).mp4", tmp_path / "Other.mp4"
    original.write_bytes(b"video bytes")
    copy.write_bytes(b"video bytes")
    other.write_bytes(b"other bytes")
    keys = [key_for_file(original), "tiktok-123"]
    assert same_content_key(key_for_file(copy), keys) == key_for_file(original)
    assert same_content_key(key_for_file(other), keys) is None
    assert same_content_key("tiktok-123", keys) is None  # only local files have content hashes in their keys

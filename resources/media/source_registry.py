"""Which URL or file each partition stands for: written when a partition is added, read by `source_video`."""

from __future__ import annotations

from resources.media.store import MediaStore
from resources.partition_keys import validate_partition_key
from resources.records import SourceRequest


def _key(partition_key: str) -> str:
    return f"sources/{validate_partition_key(partition_key)}.json"


def register_source(store: MediaStore, request: SourceRequest) -> None:
    """Remember the source of a partition (idempotent: the first registration wins)."""
    if store.read_text(_key(request.partition_key)) is None:
        store.write_text(_key(request.partition_key), request.model_dump_json(indent=2))


def lookup_source(store: MediaStore, partition_key: str) -> SourceRequest | None:
    text = store.read_text(_key(partition_key))
    return SourceRequest.model_validate_json(text) if text else None

"""Choices made by a stable hash: the same transcript always gets the same script, across processes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def stable_index(n: int, *keys: str) -> int:
    """An index in range(n) that depends only on `keys` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def pick(options: Sequence[T], *keys: str) -> T:
    """The option that `keys` (the transcript's seed, then what is being chosen) select."""
    return options[stable_index(len(options), *keys)]


def transcript_seed(sentences: list[list[str]]) -> str:
    """The seed of every choice for a transcript: a digest of its tokenized sentences."""
    return hashlib.sha256("\x1f".join(" ".join(s) for s in sentences).encode()).hexdigest()

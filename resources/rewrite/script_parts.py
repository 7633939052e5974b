"""The script parts every rewrite engine finishes the same way: title length, source credit, hashtags."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_TITLE_CHARS = 90


def fit_title(title: str) -> str:
    """`title` cut to MAX_TITLE_CHARS characters, without surrounding spaces."""
    return title[:MAX_TITLE_CHARS].strip()


def hashtag(text: str) -> str:
    """A hashtag in [a-z0-9]: accents folded ("pâtes" -> "pates"), everything else ('#', spaces) dropped."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded)


def normalise_hashtags(tags: Iterable[str]) -> list[str]:
    """Tags in [a-z0-9] without '#', accents folded, empties and duplicates dropped, order kept."""
    out: list[str] = []
    for tag in tags:
        cleaned = hashtag(tag)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def credit_line(source_title: str, source_uploader: str) -> str:
    """The credit line from what is known of the source; empty when nothing is.

    Never a placeholder: the description may be published as is.
    """
    who, title = source_uploader.strip(), source_title.strip()
    if who and title:
        return f'Credit: inspired by "{title}" by {who}.'
    if who or title:
        source = who or f'"{title}"'
        return f"Credit: inspired by {source}."
    return ""


def with_credit(description: str, source_title: str, source_uploader: str) -> str:
    """The post description followed, after a blank line, by the source's credit line (when there is one)."""
    credit = credit_line(source_title, source_uploader)
    return "\n\n".join(part for part in (description, credit) if part)

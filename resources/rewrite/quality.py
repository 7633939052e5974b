"""Script quality measures on real speech: filler lines, cut-off lines, non-topic hashtags.

Used by the unit tests and `benchmarks/script_quality_bench.py`, so the figures the README quotes are the
properties the tests assert.
"""

from __future__ import annotations

import itertools

from resources.records import Script
from resources.rewrite.local.keywords import content_words, is_topic_word
from resources.rewrite.local.lexicon import DANGLING
from resources.rewrite.local.text import TERMINAL, is_word, split_sentences, tokenize


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return [t.lower() for t in tokenize(text) if is_word(t)]


def filler_lines(script: Script, transcript: str) -> list[str]:
    """Body lines that share no content word with the transcript: they could stand in any video."""
    source = {_stem(w) for w in content_words(tokenize(transcript))}
    return [line for line in script.body if not {_stem(w) for w in content_words(tokenize(line))} & source]


def cut_off_lines(script: Script, transcript: str) -> list[str]:
    """Body lines that end mid-clause: on a small word, or where their source sentence goes on without a pause.

    The second case: the line's last three words occur in its source sentence (the one sharing most words)
    followed by another word, with no punctuation between ("completely dry" said, the line stops at "completely").
    """
    sentences = [[t.lower() for t in tokenize(s)] for s in split_sentences(transcript)]
    out = []
    for line in [script.hook, *script.body]:
        words = _words(line)
        if not words:
            continue
        if words[-1] in DANGLING:
            out.append(line)
            continue
        # The sentence the line says again: the one sharing most of its words.
        source = max(sentences, key=lambda s: len(set(s) & set(words)), default=[])
        tail = words[-3:]
        for i in range(len(source) - len(tail)):
            nxt = source[i + len(tail)]
            if source[i : i + len(tail)] == tail and is_word(nxt) and nxt not in TERMINAL:
                out.append(line)
                break
    return out


def non_topic_hashtags(script: Script, transcript: str, topics: frozenset[str] = frozenset()) -> list[str]:
    """Hashtags that name no topic of the transcript: function words, pronouns, verbs, or words it never says.

    "shorts" (the platform tag) and `topics` (the channel's niche) are allowed.
    """
    said = {w.replace("'", "") for w in _words(transcript)}
    joined = "".join(sorted(said))
    allowed = {"shorts", *topics}
    bad = []
    for tag in script.hashtags:
        if tag in allowed:
            continue
        if tag in said:
            if not is_topic_word(tag):
                bad.append(tag)
        elif not _is_said_phrase(tag, _words(transcript)) or not joined:
            bad.append(tag)
    return bad


def _is_said_phrase(tag: str, words: list[str]) -> bool:
    """True when `tag` is two adjacent topic words of the transcript run together ("pastawater")."""
    return any(a + b == tag and is_topic_word(b) for a, b in itertools.pairwise(words))

"""Transcript text as the offline rewriter handles it: speech only, sentences, tokens, and back to text."""

from __future__ import annotations

import re

from resources.rewrite.local.lexicon import BREAK_BEFORE, FILLERS, NO_BREAK_AFTER, PRONOUN_SUBJECTS

TERMINAL = frozenset(".!?")
PUNCT = frozenset('.,;:!?—–-…"')

_TOKEN = re.compile(r"\$?\d+(?:[.,:]\d+)*(?:%|[a-z]{1,2}\b)?|[^\W\d_]+(?:['\-][^\W\d_]+)*|[^\w\s]")
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
# Whisper sometimes returns a minute of speech without a full stop: longer "sentences" are cut into chunks.
_RUN_ON_WORDS = 30


def is_word(token: str) -> bool:
    """True for a word or number token, False for punctuation."""
    return token[:1].isalnum() or token[:1] == "$"


def tokenize(text: str) -> list[str]:
    """Words (contractions and hyphenated words kept whole) and punctuation marks."""
    return _TOKEN.findall(text.replace("’", "'").replace("‘", "'"))


def render(tokens: list[str]) -> str:
    """Join tokens into text: no space before punctuation, a capital at the start, 'I' capitalised."""
    text = " ".join(tokens)
    text = re.sub(r"\s+([,.;:!?…])", r"\1", text)
    text = re.sub(r"\bi\b", "I", text)
    text = re.sub(r"\bi'", "I'", text)
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    """Words in `text`, counted as the tokenizer sees them."""
    return sum(1 for t in tokenize(text) if is_word(t))


def phrase_at(lowered: list[str], start: int, phrase: tuple[str, ...]) -> bool:
    """True when the lowercased tokens from `start` on begin with `phrase`."""
    return tuple(lowered[start : start + len(phrase)]) == phrase


def speech_text(text: str) -> str:
    """The transcript text without non-speech annotations such as "[Music]" or "♪"."""
    return re.sub(r"\s+", " ", _NON_SPEECH.sub(" ", text)).strip()


# A full stop after these ends no sentence ("St. Olaf", "Dr. Smith").
_ABBREVIATIONS = ("St.", "Mr.", "Mrs.", "Ms.", "Dr.", "Jr.", "Sr.", "vs.", "etc.", "Mt.", "No.")


def _joined_abbreviations(parts: list[str]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if out and out[-1].endswith(_ABBREVIATIONS):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`; unpunctuated run-ons are cut into chunks of 8-20 words at clause boundaries."""
    sentences: list[str] = []
    for part in _joined_abbreviations(_SENTENCE_END.split(speech_text(text))):
        words = part.split()
        if not words:
            continue
        if len(words) <= _RUN_ON_WORDS:
            sentences.append(part.strip())
            continue
        chunk: list[str] = []
        for word in words:
            bare = word.lower().strip(",;:")
            said = sum(1 for w in chunk if w.lower().strip(",;:") not in FILLERS)
            strong = bare in BREAK_BEFORE or (chunk and chunk[-1][-1:] in ",;:")
            # A subject pronoun often opens a new clause in speech ("...enough you want it to...").
            weak = bare in PRONOUN_SUBJECTS and chunk and chunk[-1].lower() not in NO_BREAK_AFTER
            if chunk and ((said >= 8 and strong) or (said >= 10 and weak)):
                # Cut at a clause boundary: a whole clause, so it ends like a sentence.
                sentences.append(" ".join(chunk).rstrip(",;:") + ".")
                chunk = []
            elif chunk and said >= 20:
                # Cut at a word count: no full stop, so no body line is made of it.
                sentences.append(" ".join(chunk))
                chunk = []
            chunk.append(word)
        if chunk:
            if len(chunk) < 4 and sentences:
                sentences[-1] += " " + " ".join(chunk)
            else:
                sentences.append(" ".join(chunk))
    return sentences


def proper_names(sentences: list[list[str]]) -> frozenset[str]:
    """Words written capitalised in mid-sentence somewhere (names, brands): never lower-cased."""
    return frozenset(t for s in sentences for t in s[1:] if t[:1].isupper() and t != "I" and is_word(t))


def normalise_start(tokens: list[str], names: frozenset[str]) -> list[str]:
    """Lower-case a sentence's first word unless it is a name, so it reads right after an opener."""
    first = tokens[0] if tokens else ""
    if first[:1].isupper() and first != "I" and not first.startswith("I'") and first not in names:
        return [first.lower(), *tokens[1:]]
    return tokens

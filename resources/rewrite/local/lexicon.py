"""The offline rewriter's word tables, read once from the TOML files in `words/` (edit those, not this).

A word list is one string of words separated by spaces (order and line breaks do not matter); a phrase is its
words separated by spaces; an alternatives table maps a word or phrase to a list of replacements.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

WORDS_DIR = Path(__file__).parent / "words"
V = TypeVar("V")


def _malformed(name: str, key: str, problem: str) -> ValueError:
    return ValueError(f"rewrite: {WORDS_DIR / name}.toml: `{key}` {problem}; fix the file")


@cache
def _document(name: str) -> dict[str, Any]:
    with (WORDS_DIR / f"{name}.toml").open("rb") as file:
        return tomllib.load(file)


def _value(name: str, key: str, kind: type, what: str) -> Any:
    """`key` of words/`name`.toml, which must be a `kind`; ValueError naming the file and key otherwise."""
    value = _document(name).get(key)
    if not isinstance(value, kind):
        raise _malformed(name, key, f"must be {what}")
    return value


def _strings(name: str, key: str, values: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(value, str) for value in values):
        raise _malformed(name, key, "must hold only strings")
    return tuple(values)


def word_set(name: str, key: str) -> frozenset[str]:
    """A word list: a string of words separated by spaces."""
    return frozenset(_value(name, key, str, "a string of words").split())


def text_list(name: str, key: str) -> tuple[str, ...]:
    """A list of strings (sentences, templates, phrases), in file order."""
    return _strings(name, key, _value(name, key, list, "a list of strings"))


def text_table(name: str, key: str) -> dict[str, str]:
    """A table of string values, in file order."""
    table: dict[str, Any] = _value(name, key, dict, "a table")
    return dict(zip(table, _strings(name, key, list(table.values())), strict=True))


def alternatives_table(name: str, key: str) -> dict[str, tuple[str, ...]]:
    """A table of word or phrase -> non-empty list of alternatives, in file order."""
    table: dict[str, Any] = _value(name, key, dict, "a table of lists")
    out: dict[str, tuple[str, ...]] = {}
    for phrase, options in table.items():
        if not isinstance(options, list) or not options:
            raise _malformed(name, f"{key}.{phrase}", "must be a list of alternatives")
        out[phrase] = _strings(name, f"{key}.{phrase}", options)
    return out


def _by_words(table: dict[str, V]) -> dict[tuple[str, ...], V]:
    """The table keyed by the words of each phrase, as the matchers compare token runs."""
    return {tuple(phrase.split()): value for phrase, value in table.items()}


# fillers.toml: what speakers say that carries nothing
FILLER_PHRASES = tuple(tuple(phrase.split()) for phrase in text_list("fillers", "phrases"))
FILLERS = word_set("fillers", "words")
CLAUSE_START_FILLERS = word_set("fillers", "clause_starts")
LIKE_KEEPERS = word_set("fillers", "like_keepers")
CLAUSE_SUBJECTS = word_set("fillers", "clause_subjects")

# grammar.toml: small words that steer splitting, cutting and scoring
STOPWORDS = word_set("grammar", "stopwords")
BREAK_BEFORE = word_set("grammar", "break_before")
PRONOUN_SUBJECTS = word_set("grammar", "pronoun_subjects")
NO_BREAK_AFTER = word_set("grammar", "no_break_after")
DANGLING = word_set("grammar", "dangling")
LEADING_CONNECTIVES = word_set("grammar", "leading_connectives")
CONJUNCTIONS = word_set("grammar", "conjunctions")
PRONOUNS = word_set("grammar", "pronouns")
VERBS = word_set("grammar", "verbs")
ADJECTIVES = word_set("grammar", "adjectives")

# contractions.toml, numbers.toml, phrases.toml, synonyms.toml: the paraphrase's rewrites
CONTRACTIONS = text_table("contractions", "contractions")
EXPANSIONS = _by_words(text_table("contractions", "expansions"))
NUMBERS = text_table("numbers", "numbers")
PHRASES = _by_words(alternatives_table("phrases", "phrases"))
SYNONYMS = alternatives_table("synonyms", "synonyms")

# templates.toml: the script's own sentences
HOOKS = text_list("templates", "hooks")
TITLES = text_list("templates", "titles")
CLAIM_TITLES = text_list("templates", "claim_titles")
CONTRAST_TITLES = text_list("templates", "contrast_titles")
CALLS_TO_ACTION = text_list("templates", "calls_to_action")
DESCRIPTION_OPENERS = text_list("templates", "description_openers")
DESCRIPTION_CLOSERS = text_list("templates", "description_closers")
FIRST_OPENERS = text_list("templates", "first_openers")
MIDDLE_OPENERS = text_list("templates", "middle_openers")
LAST_OPENERS = text_list("templates", "last_openers")

# claims.toml: what makes a clause a claim, and what a claim's hook may drop
NUMBER_WORDS = word_set("claims", "number_words")
COUNTED_NOUNS = word_set("claims", "counted_nouns")
CONTRASTS = word_set("claims", "contrasts")
ABSOLUTES = word_set("claims", "absolutes")
SUPERLATIVES = word_set("claims", "superlatives")
SUBJECT_STARTS = word_set("claims", "subject_starts")
FINITE_VERBS = word_set("claims", "finite_verbs")
TITLE_SMALL_WORDS = word_set("claims", "title_small_words")
DROPPABLE = word_set("claims", "droppable")
DROPPABLE_PHRASES = tuple(tuple(phrase.split()) for phrase in text_list("claims", "droppable_phrases"))

# domains.toml: niches recognised by vocabulary
DOMAINS = {name: frozenset(words.split()) for name, words in text_table("domains", "domains").items()}
NICHE_WORDS: frozenset[str] = frozenset().union(*DOMAINS.values())

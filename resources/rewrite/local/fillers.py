"""Spoken fillers out: "um", "you know", a "like" that compares nothing, a "so" that opens nothing."""

from __future__ import annotations

from resources.rewrite.local.lexicon import (
    CLAUSE_START_FILLERS,
    CLAUSE_SUBJECTS,
    CONJUNCTIONS,
    FILLER_PHRASES,
    FILLERS,
    LIKE_KEEPERS,
)
from resources.rewrite.local.text import PUNCT, TERMINAL, is_word, phrase_at

# Fillers that may stand between two commas ("people, like, don't"): both commas go with them.
_INLINE_FILLERS = FILLERS | {"like"}


def drop_fillers(tokens: list[str]) -> list[str]:
    """Remove spoken fillers; "so", "well", "okay"... only where they open a clause."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    clause_start = True
    i = 0
    while i < len(tokens):
        phrase = next((p for p in FILLER_PHRASES if phrase_at(lowered, i, p)), None)
        if phrase:
            i += len(phrase)
            continue
        word = lowered[i]
        prev = out[-1].lower() if out else ""
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        # "like" before a comma or after a non-keeper is a filler; "..., like restaurant pasta" compares.
        filler_like = word == "like" and (
            nxt == "," or (clause_start and nxt in CLAUSE_SUBJECTS) or (not clause_start and prev not in LIKE_KEEPERS)
        )
        if word in FILLERS or filler_like or (clause_start and word in CLAUSE_START_FILLERS):
            i += 1
            # An inline filler between commas takes both ("people, like, don't" -> "people don't").
            inline = (
                lowered[i : i + 1] == [","] and lowered[i + 1 : i + 2] != [] and lowered[i + 1] not in CLAUSE_SUBJECTS
            )
            if word in _INLINE_FILLERS and out and out[-1] == "," and inline:
                out.pop()
                i += 1
                clause_start = False
            continue
        if is_word(tokens[i]):
            out.append(tokens[i])
            clause_start = False
        else:
            # No comma left hanging after a conjunction ("and, um, I" -> "and I").
            if out and out[-1] not in PUNCT and not (tokens[i] == "," and out[-1].lower() in CONJUNCTIONS):
                out.append(tokens[i])
            elif out and tokens[i] in TERMINAL:
                # Punctuation orphaned by a removed filler ("salt, like." -> "salt.").
                out[-1] = tokens[i]
            clause_start = True
        i += 1
    return out

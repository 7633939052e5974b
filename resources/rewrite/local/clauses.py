"""Clause-level edits of a tokenized sentence: swap a condition or a reason to the other side (never a cut)."""

from __future__ import annotations

from resources.rewrite.local.text import TERMINAL, is_word


def reorder_clauses(tokens: list[str], max_words: int) -> list[str]:
    """Swap two clauses where it is safe: "X because Y." -> "Because Y, X." and "If Y, X." -> "X if Y.".

    Only when the sentence fits `max_words` words: cutting a reordered sentence would keep the
    subordinate clause and drop the point.
    """
    # Margin of 3: substitutions may lengthen the sentence a little before it is condensed.
    if sum(1 for t in tokens if is_word(t)) > max_words - 3:
        return tokens
    end = tokens[-1:] if tokens and tokens[-1] in TERMINAL else []
    body = tokens[: len(tokens) - len(end)]
    lowered = [t.lower() for t in body]
    commas = [i for i, t in enumerate(body) if t == ","]
    conditional = lowered[:1] in (["if"], ["when"], ["once"], ["whenever"])
    if conditional and len(commas) == 1 and lowered[1:4] != ["it", "comes", "to"]:
        c = commas[0]
        if c >= 3 and len(body) - c - 1 >= 3:
            return [*body[c + 1 :], lowered[0], *body[1:c], *(end or ["."])]
    if "because" in lowered and not commas:
        k = lowered.index("because")
        if k >= 3 and len(body) - k - 1 >= 3:
            return ["because", *body[k + 1 :], ",", *body[:k], *(end or ["."])]
    return tokens

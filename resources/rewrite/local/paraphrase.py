"""One sentence said again in new words: contractions flipped, phrases and words swapped, clauses reordered."""

from __future__ import annotations

from resources.rewrite.local.clauses import reorder_clauses
from resources.rewrite.local.fillers import drop_fillers
from resources.rewrite.local.lexicon import CONTRACTIONS, EXPANSIONS, LEADING_CONNECTIVES, NUMBERS, PHRASES, SYNONYMS
from resources.rewrite.local.stable_choice import pick
from resources.rewrite.local.text import PUNCT, TERMINAL, is_word, normalise_start, phrase_at

_PHRASES_LONGEST_FIRST = sorted(PHRASES, key=len, reverse=True)


def flip_contractions(tokens: list[str]) -> list[str]:
    """Expand contractions ("don't" -> "do not") and contract expansions ("it is" -> "it's")."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = lowered[i]
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        if word in CONTRACTIONS:
            expanded = CONTRACTIONS[word]
            # "it's been" is "it has been", not "it is been".
            if word.endswith("'s") and nxt in ("been", "got"):
                expanded = word[:-2] + " has"
            out.extend(expanded.split())
            i += 1
            continue
        phrase = next((p for p in EXPANSIONS if phrase_at(lowered, i, p)), None)
        if phrase:
            out.append(EXPANSIONS[phrase])
            i += len(phrase)
            continue
        out.append(tokens[i])
        i += 1
    return out


def substitute(tokens: list[str], seed: str) -> list[str]:
    """Replace phrases and words from the tables; the alternative is picked by hash of (seed, word)."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in _PHRASES_LONGEST_FIRST if phrase_at(lowered, i, p)), None)
        if phrase:
            out.extend(pick(PHRASES[phrase], seed, *phrase).split())
            i += len(phrase)
            continue
        word = lowered[i]
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        if word in NUMBERS and is_word(nxt) and (not out or out[-1].lower() != "a"):
            if nxt == "percent":
                out.append(NUMBERS[word] + "%")
                i += 2
                continue
            out.append(NUMBERS[word])
        elif word in SYNONYMS:
            out.extend(pick(SYNONYMS[word], seed, word).split())
            # "add oil to the water" -> "put oil into the water"
            if word == "add" and "to" in lowered[i + 1 : i + 5]:
                to = lowered.index("to", i + 1)
                out.extend(tokens[i + 1 : to])
                out.append("into")
                i = to
        else:
            out.append(tokens[i])
        i += 1
    return out


def fix_articles(tokens: list[str]) -> list[str]:
    """Make "a"/"an" agree with the (possibly replaced) next word."""
    out = list(tokens)
    for i in range(len(out) - 1):
        if out[i].lower() in ("a", "an") and is_word(out[i + 1]):
            nxt = out[i + 1].lower()
            vowel = nxt[:1] in "aeio" or (nxt[:1] == "u" and not nxt.startswith(("uni", "use", "usu")))
            article = "an" if vowel or nxt.startswith(("hour", "honest")) else "a"
            out[i] = article.capitalize() if out[i][:1].isupper() else article
    return out


def clean_punctuation(tokens: list[str]) -> list[str]:
    """Keep only what a narrator speaks: words and , . : ! ? (dashes and semicolons become commas)."""
    out: list[str] = []
    for token in tokens:
        if is_word(token):
            out.append(token)
        elif token == "&":
            out.append("and")
        elif token in "—–-…;,":
            if out and out[-1] not in PUNCT:
                out.append(",")
        elif token in ".!?:" and out:
            if out[-1] in PUNCT:
                out[-1] = token
            else:
                out.append(token)
    return out


def paraphrase(sentence: list[str], seed: str, max_words: int, names: frozenset[str] = frozenset()) -> list[str]:
    """Rewrite one tokenized sentence in new words; returns tokens (no opener), the whole sentence, never cut.

    `max_words` only limits the clause reordering: a sentence longer than that is not turned around.
    """
    tokens = normalise_start(clean_punctuation(sentence), names)
    tokens = drop_fillers(tokens)
    tokens = flip_contractions(tokens)
    tokens = reorder_clauses(tokens, max_words)
    tokens = substitute(tokens, seed)
    tokens = fix_articles(tokens)
    # The opener takes the place of a leading "and", "so", "then"...
    while tokens and (tokens[0].lower() in LEADING_CONNECTIVES or not is_word(tokens[0])):
        tokens = tokens[1:]
    if tokens and tokens[-1] not in TERMINAL:
        tokens = [*(tokens[:-1] if tokens[-1] in PUNCT else tokens), "."]
    return tokens

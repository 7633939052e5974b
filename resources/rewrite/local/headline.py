"""The hook and the title: the transcript's strongest claim said again, or its key phrase when it makes none."""

from __future__ import annotations

from resources.rewrite.local.claims import Claim
from resources.rewrite.local.keywords import Keywords, is_topic_word
from resources.rewrite.local.lexicon import (
    CLAIM_TITLES,
    CONTRAST_TITLES,
    HOOKS,
    PRONOUN_SUBJECTS,
    STOPWORDS,
    SUBJECT_STARTS,
    TITLE_SMALL_WORDS,
    TITLES,
)
from resources.rewrite.local.paraphrase import paraphrase
from resources.rewrite.local.stable_choice import pick
from resources.rewrite.local.text import is_word, render

MAX_TITLE_CHARS = 60
# No cut: the claim is a whole clause.
_WHOLE = 10_000


def claim_hook(claim: Claim, seed: str, names: frozenset[str]) -> str:
    """The claim in new words where the paraphrase tables have some, as one sentence."""
    first = claim.tokens[0]
    if first[1:] != first[1:].lower():  # "RBP", "MeUndies" open the clause as they are
        names = names | {first}
    hook = render(paraphrase(list(claim.tokens), seed, _WHOLE, names))
    return hook[:1].upper() + hook[1:]


def claim_title(claim: Claim, keywords: Keywords, phrase: str, spelling: dict[str, str], seed: str) -> str:
    """The claim's key phrase with its number or superlative ("Democrats: 26 Seats"), at most 60 characters.

    `phrase` is the transcript's key phrase, the key when the claim names no subject said more than once.
    """
    key = _claim_key(claim, keywords, phrase)
    if claim.phrase:
        shown = title_case(" ".join(claim.phrase), spelling)
        title = pick(CLAIM_TITLES, seed, "claim title").format(K=title_case(key, spelling), N=shown)
        return title if len(title) <= MAX_TITLE_CHARS else shown[:MAX_TITLE_CHARS].strip()
    title = pick(CONTRAST_TITLES, seed, "contrast title").format(K=title_case(key, spelling))
    return title[:MAX_TITLE_CHARS].strip()


def phrase_hook(phrase: str, k2: str, seed: str) -> str:
    """A template around the key phrase; the second noun only when the speaker says both in one sentence."""
    options = HOOKS if k2 else tuple(h for h in HOOKS if "{k2}" not in h)
    hook = pick(options, seed, "hook").format(k=phrase, k2=k2)
    return hook[:1].upper() + hook[1:]


def phrase_title(phrase: str, k2: str, spelling: dict[str, str], seed: str) -> str:
    """A template around the key phrase (and the second noun when said with it), at most 60 characters."""
    options = TITLES if k2 else tuple(t for t in TITLES if "{K2}" not in t)
    title = pick(options, seed, "title").format(K=title_case(phrase, spelling), K2=title_case(k2, spelling))
    return title[:MAX_TITLE_CHARS].strip()


def title_case(text: str, spelling: dict[str, str] | None = None) -> str:
    """Headline capitals: small words lower case inside, names and acronyms as the transcript writes them."""
    spelling = spelling or {}
    out: list[str] = []
    for n, word in enumerate(text.split()):
        word = spelling.get(word.lower().replace("'", ""), word) if word.islower() else word
        if word[1:] != word[1:].lower() or word.isupper():
            out.append(word)  # "MeUndies", "RBP", "GT-Rs"
        elif n and word.lower() in TITLE_SMALL_WORDS and not out[-1].endswith(":"):
            out.append(word.lower())
        else:
            out.append("-".join(part[:1].upper() + part[1:] for part in word.split("-")))
    return " ".join(out)


def _claim_key(claim: Claim, keywords: Keywords, phrase: str) -> str:
    """What the claim is about: its named subject ("Democrats", "Letitia James"), else its strongest topic noun."""
    shown = {w.lower() for w in claim.phrase}
    name: list[str] = []
    for token in claim.tokens:
        word = token.lower().split("'")[0]
        if not is_word(token) or not token[:1].isupper() or word in SUBJECT_STARTS or word in PRONOUN_SUBJECTS:
            break
        if word.replace("'", "") in STOPWORDS:
            break
        name.append(token.removesuffix("'s"))
        if token.endswith("'s") or len(name) == 3:
            break
    if name and not shown & {w.lower() for w in name}:
        return " ".join(name)
    said = [t.lower().replace("'", "") for t in claim.tokens if is_word(t)]
    pair = keywords.phrase.split()
    if len(pair) == 2 and any(said[i : i + 2] == pair for i in range(len(said) - 1)) and not shown & set(pair):
        return keywords.phrase
    # A noun said once is no subject ("front" in "in front of 7,000 people"): the transcript's key phrase is.
    nouns = [
        w
        for w in dict.fromkeys(said)
        if is_topic_word(w) and w not in shown and keywords.tf[keywords.lemma.get(w, w)] >= 2
    ]
    if nouns:
        return max(nouns, key=lambda w: (keywords.weight(w), -said.index(w)))
    return phrase

"""Claims a hook can state: a clause of the transcript with a counted number, a superlative or a contrast.

A claim is a whole clause of one sentence: it starts at the sentence start or after a pause (a comma), with a
subject, holds a finite verb, and ends where the speaker pauses, so a hook made of it is never cut mid-clause.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.rewrite.local.keywords import Keywords, content_words, is_topic_word
from resources.rewrite.local.lexicon import (
    ABSOLUTES,
    CONTRASTS,
    COUNTED_NOUNS,
    DANGLING,
    DROPPABLE,
    DROPPABLE_PHRASES,
    FINITE_VERBS,
    LEADING_CONNECTIVES,
    NUMBER_WORDS,
    NUMBERS,
    PRONOUN_SUBJECTS,
    STOPWORDS,
    SUBJECT_STARTS,
    SUPERLATIVES,
    VERBS,
)
from resources.rewrite.local.stable_choice import stable_index
from resources.rewrite.local.text import PUNCT, TERMINAL, is_word, phrase_at

# How strong each kind of claim is: a counted number beats a superlative, which beats a contrast.
KIND_WEIGHT = {"number": 3.0, "superlative": 2.0, "contrast": 1.5, "absolute": 1.0}
# Words a subordinate clause opens with; dropped, the rest stands alone ("because I was tired" -> "I was tired").
_SUBORDINATORS = frozenset({"because", "since", "while", "though", "although", "cause"})
# Words ending in -est that are no superlative ("the interest").
_NOT_SUPERLATIVE = frozenset({"interest", "honest", "forest", "request", "contest", "protest", "suggest", "guest"})
_ORDINALS = frozenset({"second", "third", "fourth", "fifth"})
_CONTRACTIONS = ("'s", "'re", "'m", "'ve", "'ll", "'d", "n't")
_CONJUNCTIONS = frozenset({"and", "but", "or", "so", "yet", "because", "though"})
_NEGATIONS = frozenset({"not", "never", "no"})


@dataclass(frozen=True)
class Claim:
    """One clause of the transcript worth stating in the hook."""

    sentence: int
    """Index of the spoken sentence the clause comes from."""
    tokens: tuple[str, ...]
    """The clause, compressed (droppable words out), ending with a full stop."""
    kind: str
    """number, superlative, contrast or absolute."""
    phrase: tuple[str, ...]
    """The counted number or superlative as a noun phrase ("26", "seats"); empty for the other kinds."""
    score: float


def find_claims(spoken: list[list[str]], keywords: Keywords, *, max_words: int, seed: str = "") -> list[Claim]:
    """The best claim clause of each sentence that has one, strongest first.

    Score: the kind's weight, plus the clause's keyword weight over the square root of its length, plus a bonus
    for a named subject (a pronoun needs the sentence before it). Ties are broken by a stable hash of `seed`.
    """
    claims: list[Claim] = []
    for index, tokens in enumerate(spoken):
        best = max(
            (c for c in _clauses(index, tokens, keywords, max_words)),
            key=lambda c: c.score,
            default=None,
        )
        if best is not None:
            claims.append(best)
    return sorted(claims, key=lambda c: (-c.score, stable_index(1 << 20, seed, "claim", " ".join(c.tokens))))


def number_of(claim: Claim) -> str:
    """The claim's number as digits ("7", "15%"), or "" for a claim without one."""
    return claim.phrase[0] if claim.kind == "number" and claim.phrase else ""


def _clauses(index: int, tokens: list[str], keywords: Keywords, max_words: int) -> list[Claim]:
    """Every clause of `tokens` (runs of comma-separated segments) that makes a claim and fits `max_words`."""
    if not tokens or tokens[-1] == "?":
        return []
    cuts = [i for i, t in enumerate(tokens) if t in PUNCT]
    starts = [0, *(c + 1 for c in cuts), *_complement_starts(tokens)]
    out: list[Claim] = []
    for start in sorted(set(starts)):
        for end in cuts:  # the clause ends on a pause the speaker made
            if end <= start or tokens[end] == "?":
                continue
            if sum(1 for t in tokens[start:end] if is_word(t)) > 2 * max_words:
                break
            if not _joins(tokens, start, end):
                break
            claim = _claim(index, tokens[start:end], keywords, max_words, first=start == 0, last=end == cuts[-1])
            if claim is not None:
                out.append(claim)
    return out


def _complement_starts(tokens: list[str]) -> list[int]:
    """Where a clause after "that" starts ("shocked that it's the biggest" -> "it's the biggest")."""
    out = []
    for i in range(1, len(tokens) - 1):
        if tokens[i].lower() == "that" and _is_verb(tokens[i - 1]) and _bare(tokens[i + 1]).split("'")[0]:
            head = tokens[i + 1].lower().split("'")[0]
            if head in PRONOUN_SUBJECTS or head in ("it", "there", "this"):
                out.append(i + 1)
    return out


def _joins(tokens: list[str], start: int, end: int) -> bool:
    """True when the segments of tokens[start:end] make one clause: no comma splice, no verbless last part.

    A segment after a comma continues the clause when it opens with a conjunction (and then has its own verb,
    except the first) or with no subject of its own (a list item, an apposition).
    """
    segments: list[list[str]] = [[]]
    for token in tokens[start:end]:
        if token in PUNCT:
            segments.append([])
        else:
            segments[-1].append(token)
    # The clause opens with a subject and a verb of its own ("Massachusetts, and he's..." opens none).
    if len([t for t in segments[0] if is_word(t)]) < 3 or (start and not _has_verb(segments[0])):
        return False
    for segment in segments[1:]:
        if not segment:
            return False
        head = segment[0].lower()
        if head in _CONJUNCTIONS:
            if not _has_verb(segment[1:] or segment):
                return False
        elif _has_subject(segment) and _has_verb(segment) and head not in ("the", "a", "an"):
            return False
    return True


def _claim(index: int, span: list[str], keywords: Keywords, max_words: int, *, first: bool, last: bool) -> Claim | None:
    span = list(span)
    while span and (span[0].lower() in LEADING_CONNECTIVES or span[0].lower() in _SUBORDINATORS):
        span = span[1:]
    span = _compressed(span)
    words = [t for t in span if is_word(t)]
    if not 4 <= len(words) <= max_words or not _has_subject(span) or not _has_verb(span):
        return None
    if words[-1].lower() in DANGLING or not is_word(span[-1]):
        return None
    kind, phrase = _marker(span, keywords)
    if not kind:
        return None
    content = set(content_words(span))
    score = KIND_WEIGHT[kind] + sum(keywords.weight(w) for w in content) / len(words) ** 0.5
    subject = span[0].lower().split("'")[0]
    if subject in ("i", "you"):
        score -= 0.5  # the narrator is not the speaker
    elif subject not in SUBJECT_STARTS and subject not in PRONOUN_SUBJECTS:
        score += 0.5  # a named subject needs no context
    score += 0.3 * first + 0.2 * last
    return Claim(sentence=index, tokens=(*span, "."), kind=kind, phrase=phrase, score=score)


def _compressed(span: list[str]) -> list[str]:
    """`span` without the droppable words, except in its last three words (the tail shows where it ends)."""
    out: list[str] = []
    lowered = [t.lower() for t in span]
    keep_from = max(0, len(span) - 3)
    i = 0
    while i < len(span):
        phrase = next((p for p in DROPPABLE_PHRASES if phrase_at(lowered, i, p)), None)
        if phrase and i + len(phrase) <= keep_from:
            i += len(phrase)
            continue
        if lowered[i] in DROPPABLE and i < keep_from and i > 0:
            i += 1
            continue
        out.append(span[i])
        i += 1
    return out


def _bare(token: str) -> str:
    return token.lower().replace("'", "")


def _has_subject(span: list[str]) -> bool:
    """True when the span opens with a pronoun, a determiner, a number or a name: a clause, not a phrase."""
    head = span[0]
    word = head.lower().split("'")[0]
    if word in SUBJECT_STARTS or word in PRONOUN_SUBJECTS or head[:1].isdigit():
        return True
    plain = _bare(head)
    return (
        head[:1].isupper()
        and plain not in STOPWORDS
        and plain not in DANGLING
        and plain not in VERBS
        and plain not in CONTRASTS
        and not plain.endswith(("ly", "ing"))
    )


def _is_verb(token: str) -> bool:
    word = _bare(token)
    if word in FINITE_VERBS or word in VERBS or token.lower().endswith(_CONTRACTIONS):
        return True
    return word.endswith("ed") and len(word) > 4 and word.isalpha()


def _has_verb(span: list[str]) -> bool:
    return any(_is_verb(t) for t in span[1:]) or (bool(span) and span[0].lower().endswith(_CONTRACTIONS))


def _marker(span: list[str], keywords: Keywords) -> tuple[str, tuple[str, ...]]:
    """The strongest claim marker in `span`: its kind and, for a number or superlative, its noun phrase."""
    lowered = [t.lower() for t in span]
    negated = [any(w in _NEGATIONS or w.endswith("n't") for w in lowered[max(0, i - 4) : i]) for i in range(len(span))]
    counted = [(i, p) for i in range(len(span)) if (p := _counted(span, i))]
    if counted:
        # The count of what the speaker talks about most ("31 seats" over "7 point").
        i, phrase = max(counted, key=lambda c: (keywords.weight(_bare(c[1][-1])), -c[0]))
        return ("contrast", ()) if negated[i] else ("number", phrase)
    for i in range(len(span)):
        phrase = _superlative(span, lowered, i)
        if phrase:
            return ("contrast", ()) if negated[i] else ("superlative", phrase)
    # "not X but Y" holds its "but"; "the truth is" states the correction without one.
    truth = any(phrase_at(lowered, i, ("the", "truth", "is")) for i in range(len(span)))
    if truth or any(w in CONTRASTS for w in lowered):
        return "contrast", ()
    if any(w in ABSOLUTES for w in lowered):
        return "absolute", ()
    return "", ()


def _counted(span: list[str], i: int) -> tuple[str, ...]:
    """The counted noun phrase at `span[i]` ("26 seats", "15% off", "7,000 people"), or () when none is there."""
    token = span[i]
    low = token.lower()
    nxt = span[i + 1].lower() if i + 1 < len(span) else ""
    if low.endswith("%") and low[:1].isdigit():
        return (token, "off") if nxt == "off" else (token,)
    spelled = low in NUMBER_WORDS
    digits = token.replace(",", "").replace(".", "").lstrip("$").isdigit()
    if not (spelled or digits):
        return ()
    number = NUMBERS.get(low, token)
    if nxt == "percent":
        return (f"{number}%",)
    if token.startswith("$"):
        return (number, *_noun_run(span, i + 1))
    j = i + 1
    of: tuple[str, ...] = ()
    if nxt == "of" and spelled:  # "hundreds of podcasts"
        of, j = ("of",), i + 2
    nouns = _noun_run(span, j)
    return (number, *of, *nouns) if nouns else ()


def _superlative(span: list[str], lowered: list[str], i: int) -> tuple[str, ...]:
    """The superlative noun phrase at `span[i]` ("the easiest costume in the world"), or ()."""
    if phrase_at(lowered, i, ("number", "one")):
        return ("number", "one")
    if lowered[i] != "the":
        return ()
    j = i + 1
    if j < len(span) and lowered[j] in _ORDINALS:
        j += 1
    if j >= len(span):
        return ()
    word = lowered[j]
    superlative = word in SUPERLATIVES or (
        word.endswith("est") and len(word) > 4 and word.isalpha() and word not in _NOT_SUPERLATIVE
    )
    if not superlative:
        return ()
    end = j + 1
    if word in ("most", "least") and end < len(span) and is_word(span[end]):
        end += 1  # "the most comfortable"
    end += len(_noun_run(span, end))
    # "... in the world", "... of undies": one prepositional phrase that names a thing.
    for length in (3, 2):
        tail = lowered[end : end + length]
        opens = len(tail) == length and tail[0] in ("in", "of") and (length == 2 or tail[1] == "the")
        if opens and (is_topic_word(tail[-1]) or _bare(tail[-1]) in COUNTED_NOUNS):
            end += length
            break
    return tuple(span[i:end])


def _noun_run(span: list[str], start: int) -> tuple[str, ...]:
    """Up to three words from `start` that can stand in a noun phrase, ending on a noun."""
    run: list[str] = []
    for token in span[start : start + 3]:
        word = _bare(token)
        if not word.replace("-", "").isalpha() or (word in STOPWORDS and word not in COUNTED_NOUNS):
            break
        if word in VERBS or word.endswith("ly") or token in TERMINAL:
            break
        run.append(token)
    while run and not (is_topic_word(run[-1]) or _bare(run[-1]) in COUNTED_NOUNS):
        run.pop()
    return tuple(run)

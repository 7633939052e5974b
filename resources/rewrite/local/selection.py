"""Which transcript sentences the body says again: informative ones that the paraphrase really rewrites."""

from __future__ import annotations

from resources.rewrite.local.keywords import Keywords, content_words
from resources.rewrite.local.paraphrase import paraphrase
from resources.rewrite.local.text import is_word, render
from resources.rewrite.originality import similarity

# A candidate body line whose own 3-gram containment in the source exceeds this is used only as a last resort.
MAX_LINE_SIMILARITY = 0.5


def rank_sentences(sentences: list[list[str]], keywords: Keywords) -> list[int]:
    """Indices of the informative sentences, most informative first.

    Score: summed keyword weight of the sentence's distinct content words over the square root of its
    length (informative AND short), plus a bonus for the opening sentence (it usually states the point) and a
    smaller one for the last (it usually states the payoff). Sentences with fewer than four words or no
    content word are skipped; so are near-duplicates of a sentence already chosen.
    """
    scored: list[tuple[float, int]] = []
    for index, tokens in enumerate(sentences):
        words = [t for t in tokens if is_word(t)]
        content = set(content_words(tokens))
        if len(words) < 4 or not content:
            continue
        score = sum(keywords.weight(w) for w in content) / len(words) ** 0.5
        scored.append((score, index))
    if not scored:
        return []
    peak = max(score for score, _ in scored)
    last = len(sentences) - 1
    ranked = sorted(
        ((score + (0.25 * peak if i == 0 else 0.1 * peak if i == last else 0.0), i) for score, i in scored),
        key=lambda item: (-item[0], item[1]),
    )
    chosen: list[int] = []
    seen: list[set[str]] = []
    for _, index in ranked:
        content = set(content_words(sentences[index]))
        if any(len(content & other) >= 0.8 * min(len(content), len(other)) for other in seen):
            continue
        chosen.append(index)
        seen.append(content)
    return chosen


def body_sentences(
    sentences: list[list[str]],
    spoken: list[list[str]],
    keywords: Keywords,
    *,
    seed: str,
    count: int,
    draft_words: int,
    names: frozenset[str],
) -> list[int]:
    """Indices of at most `count` sentences for the body, in transcript order.

    `spoken` is `sentences` without fillers (what is ranked); each candidate is paraphrased in a draft of
    `draft_words` words to see how much of its source phrasing survives.
    """
    ranked = rank_sentences(spoken, keywords)
    if not ranked:  # only very short sentences: keep the most informative one anyway
        ranked = [max(range(len(spoken)), key=lambda i: (len(content_words(spoken[i])), -i))]
    source = " ".join(" ".join(s) for s in sentences)
    # Prefer sentences that the rules really rewrote: a line that still repeats most of its source
    # phrases is skipped while better-paraphrased candidates remain.
    drafts = {i: render(paraphrase(sentences[i], seed, draft_words, names)) for i in ranked}
    original = [i for i in ranked if similarity(drafts[i], source) <= MAX_LINE_SIMILARITY]
    copied = [i for i in ranked if i not in original]
    return sorted((original + copied)[:count])

"""What a transcript is about: content-word frequencies, its key phrase and its niche."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from resources.rewrite.local.lexicon import ADJECTIVES, DOMAINS, FILLERS, NICHE_WORDS, PRONOUNS, STOPWORDS, VERBS
from resources.rewrite.local.text import tokenize


def content_words(tokens: list[str]) -> list[str]:
    """The lowercased words of three letters or more that are neither stopwords nor fillers."""
    out = []
    for token in tokens:
        word = token.lower().replace("'", "")
        if word.isalpha() and len(word) >= 3 and word not in STOPWORDS and word not in FILLERS:
            out.append(word)
    return out


def _lemma_map(counts: Counter[str]) -> dict[str, str]:
    """Fold plurals onto a singular that also occurs ("batteries" -> "battery", "tips" -> "tip")."""
    lemma = {}
    for word in counts:
        if word.endswith("ies") and word[:-3] + "y" in counts:
            lemma[word] = word[:-3] + "y"
        elif word.endswith("es") and word[:-2] in counts:
            lemma[word] = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and word[:-1] in counts:
            lemma[word] = word[:-1]
        else:
            lemma[word] = word
    return lemma


def is_topic_word(word: str) -> bool:
    """True for a word that can name a topic (a title word, a hashtag): no function word, pronoun, verb, adjective.

    Past forms (-ed) and -ly adverbs never are; an -ing form only when it names a niche ("cooking").
    """
    word = word.lower().replace("'", "")
    if not word.isalpha() or len(word) < 3 or word in STOPWORDS or word in FILLERS:
        return False
    if word in PRONOUNS or word in VERBS or word in ADJECTIVES or word.endswith("ly"):
        return False
    if word.endswith("ed") and not word.endswith("eed") and len(word) > 4:
        return False
    return not (word.endswith("ing") and word not in NICHE_WORDS)


@dataclass(frozen=True)
class Keywords:
    """Term frequencies of content words, the key phrase and the niche of a transcript."""

    tf: Counter[str]
    lemma: dict[str, str]
    phrase: str
    topic: str

    def top(self, n: int) -> list[str]:
        """The `n` most frequent content words, ties in the order extract_keywords ranked them."""
        return [word for word, _ in self.tf.most_common(n)]

    def topics(self, n: int) -> list[str]:
        """The `n` most frequent content words that can name a topic (no verbs, pronouns, adverbs)."""
        return [word for word in self.tf if is_topic_word(word)][:n]

    def weight(self, word: str) -> float:
        """Term frequency relative to the most frequent content word, 0..1."""
        key = self.lemma.get(word, word)
        peak = max(self.tf.values(), default=1)
        return self.tf.get(key, 0) / peak


def extract_keywords(sentences: list[list[str]], extra: str = "") -> Keywords:
    """TF over content words; the key phrase is the strongest pair of adjacent content words, if any.

    Ties go to niche vocabulary (DOMAINS), then to the word said first: speakers name their subject early.
    """
    raw: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for tokens in sentences:
        for word in content_words(tokens):
            raw[word] += 1
            first_seen.setdefault(word, len(first_seen))
    lemma = _lemma_map(raw)
    tf: Counter[str] = Counter()
    for word, count in raw.items():
        tf[lemma[word]] += count
    # Words of the source title count once more: the uploader chose them to say what the video is about.
    for word in content_words(tokenize(extra)):
        if lemma.get(word, word) in tf:
            tf[lemma.get(word, word)] += 1
    order = sorted(tf, key=lambda w: (-tf[w], w not in NICHE_WORDS, first_seen.get(w, 0), w))
    tf = Counter({word: tf[word] for word in order})

    pairs: Counter[tuple[str, str]] = Counter()
    for tokens in sentences:
        lowered = [t.lower().replace("'", "") for t in tokens]
        for a, b in itertools.pairwise(lowered):
            if a != b and content_words([a, b]) == [a, b]:
                pairs[(a, b)] += 1
    top = set(order[:5])

    def strength(candidate: tuple[str, str]) -> tuple[int, int, str]:
        a, b = candidate
        return (pairs[candidate], tf[lemma[a]] + tf[lemma[b]], f"{a} {b}")

    # A pair said twice, or a pair of two top keywords ("wireless earbuds"), names the subject better.
    strong = [p for p in pairs if pairs[p] >= 2 or all(lemma[w] in top and tf[lemma[w]] >= 2 for w in p)]
    phrase = order[0] if order else ""
    if strong:
        a, b = max(strong, key=strength)
        phrase = f"{a} {b}"

    scores = {name: sum(tf[w] for w in vocab if w in tf) for name, vocab in DOMAINS.items()}
    best = max(sorted(scores), key=lambda name: scores[name])
    topic = best if scores[best] >= 2 else (order[0] if order else "life")
    # Speech made only of small words ("I like it.") still gets a script, about "this tip".
    return Keywords(tf=tf, lemma=lemma, phrase=phrase or "this tip", topic=topic)

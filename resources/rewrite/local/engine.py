"""The offline engine: hook, body, call to action, title, description and hashtags from one transcript."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resources.errors import InputRejected
from resources.records import Script, Transcript
from resources.rewrite.local.clauses import condense
from resources.rewrite.local.fillers import drop_fillers
from resources.rewrite.local.keywords import Keywords, extract_keywords
from resources.rewrite.local.lexicon import (
    CALLS_TO_ACTION,
    DESCRIPTION_CLOSERS,
    DESCRIPTION_OPENERS,
    FIRST_OPENERS,
    HOOKS,
    LAST_OPENERS,
    MIDDLE_OPENERS,
    PADDING_LINES,
    TITLES,
)
from resources.rewrite.local.paraphrase import paraphrase
from resources.rewrite.local.selection import body_sentences
from resources.rewrite.local.stable_choice import pick, stable_index, transcript_seed
from resources.rewrite.local.text import (
    is_word,
    normalise_start,
    proper_names,
    render,
    split_sentences,
    tokenize,
    word_count,
)
from resources.rewrite.script_parts import fit_title, normalise_hashtags, with_credit

if TYPE_CHECKING:
    from resources.rewrite.rewriter import Rewriter

MODEL = "extractive-paraphrase-v1"
NO_SPEECH = "rewrite: the source has no speech to rewrite; pick a video with narration"
MAX_HOOK_WORDS = 12
MAX_LINE_WORDS = 18
MIN_BODY_LINES = 3
# Words an opener ("Step one:") takes, left free when a candidate line is drafted before its opener is chosen.
OPENER_WORDS = 2


class LocalEngine:
    """Deterministic extractive paraphrase: same transcript, same script; no network, no model."""

    name = "local"

    def __init__(self, settings: Rewriter) -> None:
        self.max_body_lines = settings.max_body_lines
        self.max_words = settings.max_words
        self.channel_topic = settings.channel_topic.strip()

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """Title, hook, 3-6 body lines, call to action, description and hashtags for `transcript`."""
        sentences = [tokenize(s) for s in split_sentences(transcript.text)]
        sentences = [s for s in sentences if drop_fillers(s)]
        spoken = [drop_fillers(s) for s in sentences]
        if not any(is_word(t) for s in spoken for t in s):
            raise InputRejected(NO_SPEECH)
        seed = transcript_seed(sentences)
        keywords = extract_keywords(spoken, extra=source_title)
        topic = self.channel_topic or keywords.topic
        phrase = keywords.phrase

        hook = pick(HOOKS, seed, "hook").format(k=phrase)
        if word_count(hook) > MAX_HOOK_WORDS:
            hook = f"This {keywords.top(1)[0]} trick changes everything."
        call_to_action = pick(CALLS_TO_ACTION, seed, "cta").format(t=topic)
        budget = self.max_words - word_count(hook) - word_count(call_to_action)
        body = self._body(sentences, spoken, keywords, seed, budget)

        k2 = next((w for w in keywords.top(3) if w not in phrase.split()), topic)
        description = " ".join(
            [
                pick(DESCRIPTION_OPENERS, seed, "description").format(t=topic, k1=phrase, k2=k2),
                pick(DESCRIPTION_CLOSERS, seed, "closer").format(k2=k2),
            ]
        )
        return Script(
            title=fit_title(pick(TITLES, seed, "title").format(K=_title_case(phrase))),
            hook=hook,
            body=body,
            call_to_action=call_to_action,
            description=with_credit(description, source_title, source_uploader),
            hashtags=_hashtags(keywords, topic),
            provider="local",
            model=MODEL,
        )

    def _body(
        self,
        sentences: list[list[str]],
        spoken: list[list[str]],
        keywords: Keywords,
        seed: str,
        budget: int,
    ) -> list[str]:
        # Fewer, fuller lines when the word budget is tight: a line needs ~10 words to say anything.
        count = min(self.max_body_lines, max(MIN_BODY_LINES, budget // 10))
        names = proper_names(sentences)
        draft_words = min(MAX_LINE_WORDS, budget // count) - OPENER_WORDS
        chosen = body_sentences(
            sentences, spoken, keywords, seed=seed, count=count, draft_words=draft_words, names=names
        )
        lines: list[list[str] | str] = [sentences[i] for i in chosen]
        start = stable_index(len(PADDING_LINES), seed, "padding")
        while len(lines) < MIN_BODY_LINES:
            lines.append(PADDING_LINES[(start + len(lines)) % len(PADDING_LINES)])
        # Every line gets an equal share of the word budget, its opener included.
        per_line = min(MAX_LINE_WORDS, budget // len(lines))
        used: set[str] = set()
        body: list[str] = []
        for position, line in enumerate(lines):
            opener = _opener(position, len(lines), used, seed)
            used.add(opener)
            room = per_line - word_count(opener)
            if isinstance(line, str):  # our own padding line: already original, only trimmed
                tokens = condense(normalise_start(tokenize(line), frozenset()), room)
            else:
                tokens = paraphrase(line, seed, room, names)
            body.append(render([opener, *tokens]))
        return body


def _opener(position: int, lines: int, used: set[str], seed: str) -> str:
    """The discourse opener of body line `position` of `lines`: one not used yet while any is left."""
    if position == 0:
        pool = FIRST_OPENERS
    elif position == lines - 1:
        pool = LAST_OPENERS
    else:
        pool = MIDDLE_OPENERS
    candidates = tuple(o for o in pool if o not in used) or pool
    return pick(candidates, seed, f"opener{position}")


def _title_case(phrase: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in phrase.split())


def _hashtags(keywords: Keywords, topic: str) -> list[str]:
    """3-6 tags in [a-z0-9]+: the niche, the key phrase, top keywords, then "shorts"."""
    phrase = keywords.phrase if keywords.tf else ""  # not the "this tip" of speech without content words
    tags = [tag for tag in normalise_hashtags([topic, phrase, *keywords.top(4), "tips", "howto"]) if tag != "shorts"]
    return [*tags[:5], "shorts"]

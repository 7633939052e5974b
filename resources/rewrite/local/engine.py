"""The offline engine: hook, body, call to action, title, description and hashtags from one transcript."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resources.errors import InputRejected
from resources.records import Script, Transcript
from resources.rewrite.local.claims import find_claims
from resources.rewrite.local.fillers import drop_fillers
from resources.rewrite.local.headline import claim_hook, claim_title, phrase_hook, phrase_title
from resources.rewrite.local.keywords import Keywords, content_words, extract_keywords, is_topic_word
from resources.rewrite.local.lexicon import (
    CALLS_TO_ACTION,
    DANGLING,
    DESCRIPTION_CLOSERS,
    DESCRIPTION_OPENERS,
    FIRST_OPENERS,
    LAST_OPENERS,
    MIDDLE_OPENERS,
    STOPWORDS,
)
from resources.rewrite.local.paraphrase import paraphrase
from resources.rewrite.local.selection import body_sentences, rank_sentences
from resources.rewrite.local.stable_choice import pick, transcript_seed
from resources.rewrite.local.text import (
    TERMINAL,
    is_word,
    proper_names,
    render,
    split_sentences,
    tokenize,
    word_count,
)
from resources.rewrite.originality import similarity, words
from resources.rewrite.script_parts import fit_title, normalise_hashtags, with_credit

if TYPE_CHECKING:
    from resources.rewrite.rewriter import Rewriter

MODEL = "extractive-paraphrase-v2"
NO_SPEECH = "rewrite: the source has no speech to rewrite; pick a video with narration"
MAX_HOOK_WORDS = 12
MAX_LINE_WORDS = 22
MIN_BODY_LINES = 3
MIN_SPEECH_WORDS = 30
"""Fewer words of speech than this hold too little to say again in three body lines."""
# Words an opener ("Step one:") takes, left free when a candidate line is drafted before its opener is chosen.
OPENER_WORDS = 2
# No cut: a line is a whole sentence or it is not used.
_WHOLE = 10_000
# Seeds tried, in turn, when a draft copies too much of its source.
ATTEMPTS = 6
# Claims tried, strongest first, before the hook falls back to a key-phrase template.
CLAIMS_TRIED = 3
# Drafts whose most copied body line is dropped before the hook's claim is.
CLAIM_PATIENCE = 2
LLM_ADVICE = "pick a longer video or use an LLM provider (provider=openai; base_url for Ollama, vLLM, llama.cpp)"


class NothingToSay(InputRejected):
    """The transcript holds too little content for an offline script."""


class NotOriginal(InputRejected):
    """Every offline draft copies more of the transcript than the originality threshold allows."""

    def __init__(self, message: str, similarity: float, threshold: float) -> None:
        super().__init__(message)
        self.similarity = similarity
        self.threshold = threshold


@dataclass(frozen=True)
class Draft:
    """A script and where it comes from in the transcript."""

    script: Script
    used: list[int]
    """Indices of the sentences the body says again, in body order."""
    claim: int
    """Index of the sentence whose claim the hook states; -1 when the hook is a key-phrase template."""


class LocalEngine:
    """Deterministic extractive paraphrase: same transcript, same script; no network, no model."""

    name = "local"

    def __init__(self, settings: Rewriter) -> None:
        self.max_body_lines = settings.max_body_lines
        self.max_words = settings.max_words
        self.channel_topic = settings.channel_topic.strip()
        self.max_similarity = settings.max_similarity

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """Title, hook, 3-6 body lines, call to action, description and hashtags for `transcript`.

        Tries other phrasings when a draft is too close to the source; raises NothingToSay when the
        transcript is too short or too thin, NotOriginal when no draft passes the originality threshold.
        """
        sentences = [tokenize(s) for s in split_sentences(transcript.text)]
        sentences = [s for s in sentences if drop_fillers(s)]
        spoken = [drop_fillers(s) for s in sentences]
        said = sum(1 for s in spoken for t in s if is_word(t))
        if not said:
            raise InputRejected(NO_SPEECH)
        if said < MIN_SPEECH_WORDS:
            raise NothingToSay(
                f"script: the source has {said} words of speech; at least {MIN_SPEECH_WORDS} are needed "
                f"for an offline script; {LLM_ADVICE}"
            )
        base = transcript_seed(sentences)
        best: tuple[float, Script] | None = None
        skip: set[int] = set()
        skip_claims: set[int] = set()
        last_claim = -1
        # The other choices, in turn: new synonyms (another seed), then without the most copied line (the hook's
        # claim or a body line).
        for attempt in range(ATTEMPTS):
            seed = base if attempt == 0 else f"{base}#{attempt}"
            try:
                draft = self._draft(sentences, spoken, seed, skip, skip_claims, source_title, source_uploader)
            except NothingToSay:
                if best is None:
                    raise
                if last_claim < 0 or last_claim in skip_claims:
                    break
                # Out of body lines with this claim: another hook, and every body line back.
                skip_claims.add(last_claim)
                skip.clear()
                continue
            script, used, last_claim = draft.script, draft.used, draft.claim
            score = similarity(script.text, transcript.text)
            if score < self.max_similarity:  # as the script_is_original check decides
                return script
            if best is None or score < best[0]:
                best = (score, script)
            copied = max(used, key=lambda i: similarity(script.body[used.index(i)], transcript.text))
            copied_line = similarity(script.body[used.index(copied)], transcript.text)
            # A claim is the hook's content: the body gives up its copied lines first, starting with the line
            # that says the claim again.
            hook_copied = similarity(script.hook, transcript.text)
            if draft.claim in used and draft.claim not in skip:
                skip.add(draft.claim)
            elif draft.claim >= 0 and attempt >= CLAIM_PATIENCE and hook_copied >= copied_line:
                skip_claims.add(draft.claim)
            else:
                skip.add(copied)
        assert best is not None
        raise NotOriginal(
            f"script: the offline draft repeats {best[0]:.0%} of its 3-word phrases from the transcript "
            f"(similarity {best[0]:.3f}, threshold {self.max_similarity}) after {ATTEMPTS} phrasings; "
            "use an LLM provider (provider=openai; base_url for Ollama, vLLM, llama.cpp) or raise max_similarity",
            best[0],
            self.max_similarity,
        )

    def _draft(
        self,
        sentences: list[list[str]],
        spoken: list[list[str]],
        seed: str,
        skip: set[int],
        skip_claims: set[int],
        source_title: str,
        source_uploader: str,
    ) -> Draft:
        """One script, without the body sentences in `skip` and the hook claims of the sentences in `skip_claims`."""
        keywords = extract_keywords(spoken, extra=source_title)
        nouns = keywords.topics(4)
        if not nouns:
            raise NothingToSay(f"script: the source names no topic a script could be about; {LLM_ADVICE}")
        phrase = keywords.phrase if all(is_topic_word(w) for w in keywords.phrase.split()) else nouns[0]
        topic = self.channel_topic or (keywords.topic if is_topic_word(keywords.topic) else nouns[0])
        k2 = next((w for w in nouns if w not in phrase.split()), topic)

        spelled = _spelling(sentences)
        names = proper_names(sentences) | _never_lowercase(sentences)
        call_to_action = pick(CALLS_TO_ACTION, seed, "cta").format(t=topic)
        claims = find_claims(spoken, keywords, max_words=MAX_HOOK_WORDS, seed=seed)
        headline: tuple[str, str, list[str], list[int], int] | None = None
        for claim in [c for c in claims if c.sentence not in skip_claims][:CLAIMS_TRIED]:
            hook = claim_hook(claim, seed, names)
            if word_count(hook) > MAX_HOOK_WORDS:
                continue
            budget = self.max_words - word_count(hook) - word_count(call_to_action)
            body, used = self._body(sentences, spoken, keywords, seed, budget, skip)
            # The body says what the hook does not: the claim's sentence is left out when as many lines remain,
            # or when the body would say the hook again.
            if claim.sentence in used:
                with contextlib.suppress(NothingToSay):
                    other = self._body(sentences, spoken, keywords, seed, budget, skip | {claim.sentence})
                    if len(other[0]) >= len(body) or _repeats(hook, body[0]):
                        body, used = other
            if _repeats(hook, body[0]):
                continue
            headline = (hook, claim_title(claim, keywords, phrase, spelled, seed), body, used, claim.sentence)
            break
        if headline is None:
            k2_said = k2 if _said_together(phrase, k2, spoken, keywords) else ""
            hook = phrase_hook(_spelled(phrase, spelled), _spelled(k2_said, spelled), seed)
            if word_count(hook) > MAX_HOOK_WORDS:
                hook = f"Here's the short version on {_spelled(phrase, spelled)}."
            budget = self.max_words - word_count(hook) - word_count(call_to_action)
            body, used = self._body(sentences, spoken, keywords, seed, budget, skip)
            headline = (hook, phrase_title(phrase, k2_said, spelled, seed), body, used, -1)
        hook, title, body, used, claim_sentence = headline

        description = " ".join(
            [
                pick(DESCRIPTION_OPENERS, seed, "description").format(t=topic, k1=phrase, k2=k2),
                pick(DESCRIPTION_CLOSERS, seed, "closer").format(k2=k2),
            ]
        )
        # The niche is a tag only when the speaker names it: a recognised domain may be a guess.
        tag_topic = topic if self.channel_topic or topic in keywords.tf else phrase
        script = Script(
            title=fit_title(title),
            hook=hook,
            body=body,
            call_to_action=call_to_action,
            description=with_credit(description, source_title, source_uploader),
            hashtags=_hashtags(phrase, nouns, tag_topic),
            provider="local",
            model=MODEL,
        )
        return Draft(script, used, claim_sentence)

    def _body(
        self,
        sentences: list[list[str]],
        spoken: list[list[str]],
        keywords: Keywords,
        seed: str,
        budget: int,
        skip: set[int],
    ) -> tuple[list[str], list[int]]:
        """Whole sentences of the source, said again, in transcript order: never cut, never padded."""
        count = min(self.max_body_lines, max(MIN_BODY_LINES, budget // 10))
        names = proper_names(sentences) | _never_lowercase(sentences)
        per_line = min(MAX_LINE_WORDS, budget // MIN_BODY_LINES)
        ranked = body_sentences(
            sentences, spoken, keywords, seed=seed, count=len(sentences), draft_words=_WHOLE, names=names
        )
        drafts: dict[int, list[str]] = {}
        left = budget
        for index in _by_rank(ranked, spoken, keywords):
            # A run-on chunk cut by the sentence splitter is not a whole sentence.
            if index in skip or not sentences[index] or sentences[index][-1] not in TERMINAL:
                continue
            tokens = paraphrase(sentences[index], seed, _WHOLE, names)
            words = sum(1 for t in tokens if is_word(t))
            if words < 4 or words > per_line - OPENER_WORDS or words + OPENER_WORDS > left:
                continue
            if _ends_mid_clause(tokens):
                continue
            # A line whose every content word was swapped for a synonym no longer says what this video says.
            if not set(content_words(tokens)) & set(content_words(sentences[index])):
                continue
            drafts[index] = tokens
            left -= words + OPENER_WORDS
            if len(drafts) == count:
                break
        if len(drafts) < MIN_BODY_LINES:
            raise NothingToSay(
                f"script: the source has {len(drafts)} sentences short and complete enough for a body line; "
                f"at least {MIN_BODY_LINES} are needed; {LLM_ADVICE}"
            )
        used: set[str] = set()
        body: list[str] = []
        order = sorted(drafts)
        lines = [drafts[i] for i in order]
        for position, tokens in enumerate(lines):
            opener = _opener(position, len(lines), used, seed)
            used.add(opener)
            body.append(render([opener, *tokens]))
        return body, order


def _said_together(phrase: str, k2: str, spoken: list[list[str]], keywords: Keywords) -> bool:
    """True when one sentence says both the key phrase and the second noun: they belong in one line."""
    wanted = set(phrase.split())
    for tokens in spoken:
        said = {keywords.lemma.get(w, w) for w in content_words(tokens)} | set(content_words(tokens))
        if wanted <= said and k2 in said:
            return True
    return False


def _repeats(hook: str, line: str) -> bool:
    """True when `line` says the hook again word for word."""
    return " ".join(words(hook)) in " ".join(words(line))


def _spelling(sentences: list[list[str]]) -> dict[str, str]:
    """How the transcript writes each word ("york" -> "York"); mid-sentence spellings win over first words."""
    names = _never_lowercase(sentences)
    first = {s[0].lower().replace("'", ""): s[0] for s in sentences if s and s[0] in names}
    return first | {t.lower().replace("'", ""): t for s in sentences for t in s[1:] if is_word(t)}


def _spelled(phrase: str, spelling: dict[str, str]) -> str:
    return " ".join(spelling.get(word, word) for word in phrase.split())


def _never_lowercase(sentences: list[list[str]]) -> frozenset[str]:
    """Capitalised sentence openers the speaker never says in lower case and that are no small word: names."""
    lower = {t for s in sentences for t in s if t.islower()}
    return frozenset(
        s[0]
        for s in sentences
        if s
        and s[0][:1].isupper()
        and s[0].lower() not in lower
        and s[0].lower() not in STOPWORDS
        and not s[0].lower().endswith("ly")
    )


def _by_rank(ranked: list[int], spoken: list[list[str]], keywords: Keywords) -> list[int]:
    """`ranked` (transcript order) re-ordered most informative first, as rank_sentences scored them."""
    order = rank_sentences(spoken, keywords)
    position = {index: n for n, index in enumerate(order)}
    return sorted(ranked, key=lambda i: position.get(i, len(order)))


def _ends_mid_clause(tokens: list[str]) -> bool:
    words = [t.lower() for t in tokens if is_word(t)]
    return not words or words[-1] in DANGLING


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


def _hashtags(phrase: str, nouns: list[str], topic: str) -> list[str]:
    """3-6 tags in [a-z0-9]+: the niche, the key phrase and the topical nouns, then "shorts"."""
    tags = [tag for tag in normalise_hashtags([topic, phrase, *nouns]) if tag != "shorts"]
    return [*tags[:5], "shorts"]

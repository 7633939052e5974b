"""The offline rewriter: a transcript becomes a short, original, deterministic narration script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resources.errors import InputRejected
from resources.records import Script, Transcript, Word
from resources.rewrite import Rewriter
from resources.rewrite.local import lexicon
from resources.rewrite.originality import DEFAULT_MAX_SIMILARITY, similarity
from resources.rewrite.script_parts import credit_line, normalise_hashtags

COOKING = (
    "Okay so, um, here's the thing about pasta water. Most people, like, don't salt it nearly enough. "
    "You want it to taste basically like the sea, so for a big pot that's about two tablespoons of salt. "
    "Actually the salt is the only chance you get to season the pasta itself, because it gets absorbed "
    "while it cooks. And please don't add oil to the water, I mean, it just makes the sauce slide right off "
    "the noodles. Another thing, save a cup of the pasta water before you drain it. That starchy water is "
    "literally liquid gold for your sauce. When you toss the pasta with the sauce, add a splash of the water "
    "and stir it for like thirty seconds over the heat. The starch makes everything glossy and creamy, you "
    "know, like restaurant pasta. And honestly, pull the pasta out a minute before the package says, because "
    "it keeps cooking in the pan. Trust me, once you try this you'll never go back."
)
FINANCE = (
    "So, um, if you're living paycheck to paycheck, this is for you. The number one thing that changed my "
    "finances was basically paying myself first. What that means is, the day your paycheck hits, you "
    "automatically move like ten percent into a separate savings account before you spend anything. You "
    "don't even see the money, so you don't miss it. Start with an emergency fund, you know, three to six "
    "months of expenses, and keep it in a high yield savings account, not your checking account. Right now "
    "a lot of online banks pay over four percent interest, which is literally free money. Once the emergency "
    "fund is done, put that same automatic transfer into a low cost index fund and just leave it alone. "
    "Honestly, don't try to time the market, nobody can do that consistently. The boring plan is the one "
    "that actually works, and compound interest does the heavy lifting for you."
)
GADGET = (
    "Alright guys, so I've been using these new wireless earbuds for two weeks now and, um, I have "
    "thoughts. First, the sound is honestly way better than I expected for the price, the bass is punchy "
    "but it doesn't drown out the vocals. The noise cancelling is actually really good on the train, "
    "like, it blocks out almost all the engine hum. Battery life is where they really shine, I'm getting "
    "about eight hours per charge and the case gives you three more full charges. The case also supports "
    "wireless charging, which is super convenient. Now the downsides, the touch controls are kind of too "
    "sensitive, I keep pausing my music by accident when I adjust them. And the app is, you know, pretty "
    "basic, there's no custom equalizer. But for under a hundred dollars, I mean, these are easily the "
    "best budget earbuds I've tried this year. Would I buy them again? Yeah, definitely."
)
SAMPLES = {"cooking": COOKING, "finance": FINANCE, "gadget": GADGET}


def transcript_of(text: str) -> Transcript:
    """A transcript with evenly spaced word timings, as a speech recogniser would return."""
    words = [Word(text=w, start=i * 0.4, end=i * 0.4 + 0.35) for i, w in enumerate(text.split())]
    return Transcript(
        language="en",
        text=text,
        words=words,
        duration_s=len(words) * 0.4,
        provider="test",
        model="test",
    )


def rewrite(text: str, **settings: object) -> Script:
    return Rewriter(**settings).rewrite(transcript_of(text))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_are_realistic_length(name: str) -> None:
    assert 120 <= len(SAMPLES[name].split()) <= 200


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_transcript_gives_the_same_script(name: str) -> None:
    assert rewrite(SAMPLES[name]) == rewrite(SAMPLES[name])


def test_different_transcripts_give_different_scripts() -> None:
    assert rewrite(COOKING).text != rewrite(FINANCE).text


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_script_respects_the_structure_limits(name: str) -> None:
    script = rewrite(SAMPLES[name])
    assert script.provider == "local"
    assert script.model == "extractive-paraphrase-v2"
    assert 0 < len(script.title) <= 90
    assert 0 < len(script.hook.split()) <= 12
    assert 3 <= len(script.body) <= 5
    assert all(0 < len(line.split()) <= 24 for line in script.body)
    assert script.word_count <= 110
    assert script.call_to_action.startswith(("Follow", "Save"))
    assert 3 <= len(script.hashtags) <= 6
    assert all(re.fullmatch(r"[a-z0-9]+", tag) for tag in script.hashtags)
    assert "shorts" in script.hashtags
    assert len(set(script.hashtags)) == len(script.hashtags)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_script_is_original_against_its_transcript(name: str) -> None:
    script = rewrite(SAMPLES[name])
    assert similarity(script.text, SAMPLES[name]) < DEFAULT_MAX_SIMILARITY


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_copy_of_the_transcript_scores_as_a_copy(name: str) -> None:
    text = SAMPLES[name]
    assert similarity(text, text) >= 0.9
    # Case and punctuation changes do not hide a copy.
    assert similarity(re.sub(r"[.,?]", "", text.upper()), text) >= 0.9


def test_body_condenses_the_transcript_in_its_order() -> None:
    script = rewrite(COOKING)
    body = " ".join(script.body).lower()
    assert "pasta" in body and "sauce" in body
    positions = [COOKING.lower().find(w) for w in ("salt", "starchy") if w in body]
    assert positions == sorted(positions)


def test_fillers_are_dropped() -> None:
    spoken = " ".join(rewrite(COOKING).body + rewrite(GADGET).body).lower()
    for filler in ("um", "basically", "literally", "honestly", "you know", "i mean", "like,"):
        assert not re.search(rf"\b{re.escape(filler)}(?!\w)", spoken), filler


def test_tighter_limits_are_respected() -> None:
    script = rewrite(FINANCE, max_words=60, max_body_lines=3)
    assert script.word_count <= 60
    assert len(script.body) == 3


def test_more_body_lines_when_allowed() -> None:
    script = rewrite(GADGET, max_body_lines=6, max_words=130)
    assert len(script.body) == 6
    assert script.word_count <= 130


def test_channel_topic_drives_hashtags_and_call_to_action() -> None:
    script = rewrite(GADGET, channel_topic="Budget Tech")
    assert script.hashtags[0] == "budgettech"
    assert "Budget Tech" in script.call_to_action


def test_topic_is_recognised_from_vocabulary() -> None:
    # The recognised niche goes in the call to action; it is a hashtag only when the speaker says it.
    assert "cooking" in rewrite(COOKING).call_to_action
    assert "money" in rewrite(FINANCE).call_to_action
    assert "tech" in rewrite(GADGET).call_to_action


def test_source_credit_goes_in_the_description() -> None:
    script = Rewriter().rewrite(
        transcript_of(COOKING), source_title="Pasta water secrets", source_uploader="@chefmario"
    )
    assert "@chefmario" in script.description
    assert "Pasta water secrets" in script.description
    assert "[" not in rewrite(COOKING).description  # no placeholder that could be published as is


# Issue 14: a single sentence used to be padded into a full script with lines that could stand in any video.
def test_single_sentence_transcript_is_refused_with_what_to_do() -> None:
    with pytest.raises(InputRejected, match=r"has 14 words of speech; at least 30 are needed.*LLM provider"):
        rewrite("Always rest your steak for five minutes after cooking so the juices stay inside.")


def test_unpunctuated_transcript_is_split_into_lines() -> None:
    flat = re.sub(r"[.,?!]", "", COOKING).lower()
    script = rewrite(flat)
    assert 3 <= len(script.body) <= 5
    assert all(len(line.split()) <= 24 for line in script.body)
    assert script.word_count <= 110
    assert similarity(script.text, flat) < DEFAULT_MAX_SIMILARITY


@pytest.mark.parametrize("text", ["", "   ", "[Music]", "♪ ♪", "um, uh... hmm."])
def test_transcript_without_speech_is_rejected(text: str) -> None:
    with pytest.raises(InputRejected, match="no speech to rewrite; pick a video with narration"):
        rewrite(text)


def test_impossible_settings_are_refused() -> None:
    from resources.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="max_body_lines"):
        rewrite(COOKING, max_body_lines=9)
    with pytest.raises(ConfigurationError, match="max_words"):
        rewrite(COOKING, max_words=10)


# Issue 14: speech of only small words used to become a script about "this tip".
def test_speech_of_only_small_words_is_refused() -> None:
    with pytest.raises(InputRejected, match="pick a longer video or use an LLM provider"):
        rewrite("I like it. I like it a lot.")


def test_hashtags_fold_accents() -> None:
    assert normalise_hashtags(["pâtes fraîches"]) == ["patesfraiches"]


def test_credit_line_names_what_is_known_of_the_source() -> None:
    assert (
        credit_line("Pasta water secrets", "@chefmario") == 'Credit: inspired by "Pasta water secrets" by @chefmario.'
    )
    assert credit_line("", " @chefmario ") == "Credit: inspired by @chefmario."
    assert credit_line("Pasta water secrets", "") == 'Credit: inspired by "Pasta water secrets".'
    assert credit_line(" ", "") == ""


def test_hashtags_are_normalised_the_same_for_every_engine() -> None:
    assert normalise_hashtags(["#Pasta", "Pâtes fraîches", "pasta", "", "#", "Budget Tech"]) == [
        "pasta",
        "patesfraiches",
        "budgettech",
    ]


def test_a_malformed_word_table_names_its_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.toml").write_text('[synonyms]\nbig = "large"\n', encoding="utf-8")
    monkeypatch.setattr(lexicon, "WORDS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"broken\.toml: `synonyms\.big` must be a list of alternatives"):
        lexicon.alternatives_table("broken", "synonyms")

"""The offline rewriter: pick the transcript's key sentences, then say them again in new words.

No network, no model: extractive summarisation (keyword-weighted sentence scores) followed by a rule-based
paraphrase (fillers out, contractions flipped, a synonym table, simple clause reordering, discourse openers).
Every choice among alternatives is made by a stable hash of the transcript, so the same transcript always
yields the same script, and two different videos rarely get the same templates.

The word tables are TOML files in `words/`, editable without touching the code.
"""

from resources.rewrite.local.engine import NO_SPEECH, LocalEngine, NothingToSay, NotOriginal
from resources.rewrite.local.text import speech_text

__all__ = ["NO_SPEECH", "LocalEngine", "NotOriginal", "NothingToSay", "speech_text"]

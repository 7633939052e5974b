"""Offline script quality on real speech (tests/data/real_speech/clips.json), one `name: value` line per figure.

Scripts produced, refusals, filler lines (body lines sharing no content word with their transcript), cut-off
lines, non-topic hashtags and mean originality (3-gram containment of the script in its transcript).

    .venv/bin/python -m benchmarks.script_quality_bench
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from resources.errors import InputRejected
from resources.records import Transcript, Word
from resources.rewrite import Rewriter
from resources.rewrite.originality import similarity
from resources.rewrite.quality import cut_off_lines, filler_lines, non_topic_hashtags

CLIPS = Path(__file__).parent.parent / "tests" / "data" / "real_speech" / "clips.json"


def transcript_of(text: str) -> Transcript:
    """A transcript with evenly spaced word timings (0.4 s a word)."""
    words = [Word(text=w, start=i * 0.4, end=i * 0.4 + 0.35) for i, w in enumerate(text.split())]
    return Transcript(language="en", text=text, words=words, duration_s=len(words) * 0.4, provider="t", model="t")


def main() -> None:
    clips = json.loads(CLIPS.read_text())["clips"]
    rewriter = Rewriter()
    produced = refused = fillers = cut = tags = 0
    scores: list[float] = []
    for clip in clips:
        try:
            script = rewriter.rewrite(transcript_of(clip["text"]))
        except InputRejected:
            refused += 1
            continue
        produced += 1
        fillers += len(filler_lines(script, clip["text"]))
        cut += len(cut_off_lines(script, clip["text"]))
        tags += len(non_topic_hashtags(script, clip["text"]))
        scores.append(similarity(script.text, clip["text"]))
    too_short = sum(1 for clip in clips if clip.get("too_short"))
    print(f"script_quality_clips: {len(clips)} ({too_short} too short)")
    print(f"script_quality_scripts_produced: {produced}")
    print(f"script_quality_refusals: {refused}")
    print(f"script_quality_filler_lines: {fillers}")
    print(f"script_quality_cut_off_lines: {cut}")
    print(f"script_quality_non_topic_hashtags: {tags}")
    print(f"script_quality_mean_similarity: {statistics.fmean(scores) if scores else 0.0:.3f}")
    print(f"script_quality_max_similarity: {max(scores, default=0.0):.3f}")


if __name__ == "__main__":
    main()

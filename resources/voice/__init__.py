"""Voice: narrate the script cue by cue and keep per-cue and per-word timings."""

from resources.voice.speaker import Speaker, Synthesis

__all__ = ["Speaker", "Synthesis"]

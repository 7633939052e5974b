"""Pydantic records that cross stages.

Every asset returns one of these; the IO manager persists it as JSON so a person can read any stage's
output in the Dagster UI or on disk. Media bytes never live here: records carry MediaStore URIs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resources.usage import Usage


class Record(BaseModel):
    """Base of every stage record: frozen, JSON-friendly, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceRequest(Record):
    """What an operator (demo, sensor, CLI) asked the pipeline to turn into a short."""

    partition_key: str = Field(description="Partition key of the source video, e.g. tiktok-7301234567890123456.")
    source: str = Field(description="URL or absolute local file path of the source video.")
    reason: str = Field(default="", description="Why this video was chosen (e.g. its virality score).")
    source_name: str = Field(
        default="", description="The discovery source that found it (the report and the learned prior group by it)."
    )
    requested_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class MediaFacts(Record):
    """What probing a media file found (PyAV)."""

    duration_s: float = Field(description="Container duration in seconds.")
    size_bytes: int
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int = 0

    @property
    def has_video(self) -> bool:
        return self.video_codec is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


class SourceVideo(Record):
    """The downloaded (or copied) source video and its probed facts."""

    partition_key: str
    source: str = Field(description="The URL or file the video came from.")
    uri: str = Field(description="MediaStore URI of the video file.")
    title: str = ""
    uploader: str = ""
    webpage_url: str = ""
    sha256: str
    facts: MediaFacts
    provider: str


class Word(Record):
    """One word with its time span in seconds."""

    text: str
    start: float
    end: float


class Transcript(Record):
    """Speech of the source video with word timestamps."""

    language: str
    text: str
    words: list[Word]
    duration_s: float = Field(description="Duration of the audio that was transcribed.")
    provider: str
    model: str
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")

    @property
    def word_count(self) -> int:
        return len(self.words)


class Script(Record):
    """The rewritten, original narration plus its publishing texts."""

    title: str
    hook: str
    body: list[str] = Field(description="Body lines, spoken in order after the hook.")
    call_to_action: str
    description: str
    hashtags: list[str] = Field(description="Hashtags without the leading '#'.")
    provider: str
    model: str = ""
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")

    @property
    def lines(self) -> list[str]:
        """Every spoken line in order: hook, body, call to action."""
        return [self.hook, *self.body, self.call_to_action]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class Cue(Record):
    """One spoken line of the voiceover with its time span and word timings."""

    text: str
    start: float
    end: float
    words: list[Word]


class Voiceover(Record):
    """Synthesized narration (WAV in the MediaStore) with per-cue and per-word timings."""

    uri: str
    duration_s: float
    sample_rate: int
    cues: list[Cue]
    provider: str
    voice: str
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")

    @property
    def words(self) -> list[Word]:
        return [w for cue in self.cues for w in cue.words]


class AvatarVideo(Record):
    """The presenter video speaking the voiceover (video + the voice as audio)."""

    uri: str
    facts: MediaFacts
    provider: str
    fallback_reason: str = Field(default="", description="Why a cloud provider fell back to the offline avatar.")
    usage: list[Usage] = Field(default_factory=list, description="Provider usage and estimated cost.")


Layout = Literal["avatar_over_blur", "split_screen", "face_crop"]  # what a render used (`auto` picks one)


class ShortVideo(Record):
    """The finished 1080x1920 short."""

    uri: str
    subtitles_uri: str = Field(description="MediaStore URI of the burned-in ASS subtitles.")
    facts: MediaFacts
    layout: Layout
    integrated_lufs: float | None = Field(default=None, description="Measured integrated loudness.")
    quality_problems: list[str] = Field(
        default_factory=list, description="Why the short must not be published; empty when it passed its checks."
    )
    contact_sheet_uri: str = Field(default="", description="A few frames of the short in one JPEG, for the UI.")


class Approval(Record):
    """An operator's go-ahead to publish one rendered short (when approval is switched on).

    It names the short by the SHA-256 of its bytes: a re-render (new layout, new script) is another short, and
    needs an approval of its own.
    """

    partition_key: str
    # "" in an approval written before approvals named the short: it matches no short, so it is asked again.
    short_sha256: str = Field(default="", description="SHA-256 of the short.mp4 the operator approved.")
    approved_by: str
    note: str = ""
    approved_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


# "unconfirmed": a create call whose answer was lost and that the platform could not confirm (ledger only).
PostStatus = Literal["published", "outbox", "dry_run", "unconfirmed"]


class Post(Record):
    """One publication of a short on one platform (or its local outbox entry)."""

    platform: str
    partition_key: str
    status: PostStatus
    remote_id: str = Field(description="The platform's post id (what its post pages and lookups use).")
    upload_id: str = Field(default="", description="The upload's id when it differs (TikTok publish id, X media id).")
    url: str = ""
    provider: str
    title: str
    caption: str
    posted_at: datetime
    media_uri: str = Field(description="MediaStore URI of the published file.")

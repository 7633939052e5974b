"""OpenAI Whisper API engine (also any OpenAI-compatible server): small MP3 uploads, chunked past the size limit.

Word times: whisper-1 (and the Whisper models of compatible servers) return them with `verbose_json`. OpenAI's
`gpt-*-transcribe` models accept only `json` (text, no times), so their words are spread over the chunk's
voiced intervals (found from the audio's loudness: cheap numpy on 16 kHz PCM), in proportion to each word's
spoken length. Running the local faster-whisper for a forced alignment would be more exact but costs as much
as transcribing again, and the user chose the cloud to avoid exactly that.

The default is `gpt-transcribe`, the successor OpenAI recommends for uploaded files (see `lifecycle`): JSON only
("the new model returns JSON ... do not assume [verbose_json] remains valid"), a `languages` list instead of the
legacy `language` hint ("Do not send both"), and the detected languages in the answer (`languages: [{"code"}]`,
possibly empty), per OpenAI's cookbook "Migrate from Whisper to GPT-Transcribe". So its word times are derived.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import openai

from resources.errors import ConfigurationError, InputRejected
from resources.http.checkpoint import Checkpoint, active_checkpoint
from resources.http.openai_api import call_openai, openai_client
from resources.http.retry import RetrySettings, with_retries
from resources.media.ffmpeg import FfmpegError, run_ffmpeg
from resources.media.probe import probe
from resources.records import Transcript, Word
from resources.transcribe.lifecycle import check_model, retired_message
from resources.usage import priced
from resources.voice.timing import distribute_words

T = TypeVar("T")

SAMPLE_RATE = 16_000
BITRATE = "64k"
MIN_CHUNK_S = 2.0  # shorter pieces would cut most words in two
# Quiet stretches shorter than this are inside speech (stops, breaths), not pauses between phrases.
MIN_PAUSE_S = 0.3
FRAME_S = 0.02

# Whisper's language names (what verbose_json returns) -> ISO-639-1 (what the other engines record).
WHISPER_LANGUAGES: dict[str, str] = {
    "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "russian": "ru", "korean": "ko",
    "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr", "polish": "pl", "catalan": "ca",
    "dutch": "nl", "arabic": "ar", "swedish": "sv", "italian": "it", "indonesian": "id", "hindi": "hi",
    "finnish": "fi", "vietnamese": "vi", "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms",
    "czech": "cs", "romanian": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
    "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt", "latin": "la",
    "maori": "mi", "malayalam": "ml", "welsh": "cy", "slovak": "sk", "telugu": "te", "persian": "fa",
    "latvian": "lv", "bengali": "bn", "serbian": "sr", "azerbaijani": "az", "slovenian": "sl", "kannada": "kn",
    "estonian": "et", "macedonian": "mk", "breton": "br", "basque": "eu", "icelandic": "is", "armenian": "hy",
    "nepali": "ne", "mongolian": "mn", "bosnian": "bs", "kazakh": "kk", "albanian": "sq", "swahili": "sw",
    "galician": "gl", "marathi": "mr", "punjabi": "pa", "sinhala": "si", "khmer": "km", "shona": "sn",
    "yoruba": "yo", "somali": "so", "afrikaans": "af", "occitan": "oc", "georgian": "ka", "belarusian": "be",
    "tajik": "tg", "sindhi": "sd", "gujarati": "gu", "amharic": "am", "yiddish": "yi", "lao": "lo",
    "uzbek": "uz", "faroese": "fo", "haitian creole": "ht", "pashto": "ps", "turkmen": "tk", "nynorsk": "nn",
    "maltese": "mt", "sanskrit": "sa", "luxembourgish": "lb", "myanmar": "my", "tibetan": "bo",
    "tagalog": "tl", "malagasy": "mg", "assamese": "as", "tatar": "tt", "hawaiian": "haw", "lingala": "ln",
    "hausa": "ha", "bashkir": "ba", "javanese": "jw", "sundanese": "su", "cantonese": "yue",
}  # fmt: skip


def language_code(name: str) -> str:
    """ISO-639-1 code for a Whisper language name ("english" -> "en"); codes and unknown names pass through."""
    cleaned = name.strip().lower()
    return WHISPER_LANGUAGES.get(cleaned, cleaned)


def has_word_timestamps(model: str) -> bool:
    """Whether `model` can answer `verbose_json` with word times (OpenAI's gpt-*-transcribe models cannot)."""
    return not model.startswith("gpt-")


def takes_languages(model: str) -> bool:
    """Whether `model` takes the `languages` list rather than the legacy `language` (gpt-transcribe and its
    snapshots: "Supported by `gpt-transcribe`", openai 3.57.0 `transcription_create_params.py`)."""
    return model == "gpt-transcribe" or model.startswith("gpt-transcribe-")


@dataclass(frozen=True)
class Chunk:
    """A piece of the extracted audio, uploaded on its own, and where it starts in the source."""

    path: Path
    offset_s: float
    duration_s: float


@dataclass(frozen=True)
class ChunkResult:
    text: str
    words: list[Word]
    language: str


def extract_audio(media_path: Path, out_path: Path) -> Path:
    """Mono 16 kHz MP3 at 64 kbps: what Whisper hears anyway, ~0.5 MB a minute (25 MiB ~ 54 minutes)."""
    try:
        run_ffmpeg(
            ["-i", str(media_path), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE),
             "-c:a", "libmp3lame", "-b:a", BITRATE, str(out_path)],
            what=f"extracting the audio of {media_path.name} for the OpenAI transcription",
        )  # fmt: skip
    except FfmpegError as exc:
        if "matches no streams" in str(exc) or "does not contain any stream" in str(exc):
            raise InputRejected(f"{media_path.name} has no audio stream to transcribe") from exc
        raise
    return out_path


def split_audio(audio: Path, duration_s: float, max_bytes: int, workdir: Path) -> list[Chunk]:
    """`audio` itself when it fits in `max_bytes`, else equal-length pieces that each fit (cut with -ss/-t)."""
    size = audio.stat().st_size
    if size <= max_bytes:
        return [Chunk(audio, 0.0, duration_s)]
    # 10% headroom: MP3 frames and the container header make pieces slightly larger than size/count.
    count = math.ceil(size / (max_bytes * 0.9))
    length = duration_s / count
    if length < MIN_CHUNK_S:
        raise ConfigurationError(
            f"transcribe: max_upload_bytes={max_bytes} would cut {audio.name} into {length:.1f} s pieces; "
            f"raise it (OpenAI accepts 26214400)"
        )
    chunks: list[Chunk] = []
    for index in range(count):
        start = index * length
        piece = workdir / f"chunk{index:03d}.mp3"
        run_ffmpeg(
            ["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", str(audio),
             "-c:a", "libmp3lame", "-b:a", BITRATE, "-ac", "1", "-ar", str(SAMPLE_RATE), str(piece)],
            what=f"cutting piece {index + 1}/{count} of the audio for the OpenAI transcription",
        )  # fmt: skip
        if piece.stat().st_size > max_bytes:
            raise ConfigurationError(
                f"transcribe: piece {index + 1} is {piece.stat().st_size} bytes, over max_upload_bytes={max_bytes}"
            )
        chunks.append(Chunk(piece, round(start, 3), round(min(length, duration_s - start), 3)))
    return chunks


def voiced_intervals(samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """(start, end) seconds of the loud stretches of `samples` (float), pauses under MIN_PAUSE_S bridged."""
    frame = max(1, int(sample_rate * FRAME_S))
    count = samples.size // frame
    if count == 0:
        return []
    rms = np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1))
    # Relative threshold: a music bed under the voice must not count as speech everywhere.
    threshold = max(0.005, 0.2 * float(np.percentile(rms, 95)))
    loud = np.flatnonzero(rms > threshold)
    if loud.size == 0:
        return []
    intervals: list[tuple[float, float]] = []
    run_start = previous = int(loud[0])
    for index in loud[1:]:
        if (index - previous - 1) * FRAME_S >= MIN_PAUSE_S:
            intervals.append((run_start * FRAME_S, (previous + 1) * FRAME_S))
            run_start = int(index)
        previous = int(index)
    intervals.append((run_start * FRAME_S, (previous + 1) * FRAME_S))
    return [(round(a, 3), round(b, 3)) for a, b in intervals]


def spread_words(text: str, intervals: list[tuple[float, float]]) -> list[Word]:
    """`text`'s words laid over the voiced intervals in order, in proportion to their spoken length."""
    voiced = sum(end - start for start, end in intervals)
    if voiced <= 0:
        return []

    def real_time(t: float, *, at_end: bool) -> float:
        # A word ending exactly on a boundary ends in the interval before the pause, not after it.
        elapsed = 0.0
        for start, end in intervals:
            length = end - start
            if t < elapsed + length or (at_end and t <= elapsed + length):
                return start + (t - elapsed)
            elapsed += length
        return intervals[-1][1]

    return [
        Word(text=w.text, start=round(real_time(w.start, at_end=False), 3), end=round(real_time(w.end, at_end=True), 3))
        for w in distribute_words(text, 0.0, voiced)
    ]


def derive_word_times(text: str, chunk: Chunk, workdir: Path) -> list[Word]:
    """Word times for a text-only answer: its words spread over the chunk's voiced intervals."""
    pcm = workdir / f"{chunk.path.stem}.f32"
    run_ffmpeg(
        ["-i", str(chunk.path), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", str(pcm)],
        what="decoding audio to place the words of a text-only transcription",
    )
    samples = np.fromfile(pcm, dtype="<f4")
    intervals = voiced_intervals(samples, SAMPLE_RATE) or [(0.0, chunk.duration_s)]
    return spread_words(text, intervals)


class OpenAITranscriptionEngine:
    """Speech to word-timed text through `POST /audio/transcriptions` of OpenAI or a compatible server."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        language: str,
        base_url: str,
        api_key_env: str,
        timeout_s: float,
        max_upload_bytes: int,
        retry: RetrySettings | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.model = model
        self.language = language.strip().lower()
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_upload_bytes = max_upload_bytes
        self.retry = retry or RetrySettings()
        self.today = today

    def check(self) -> None:
        """ConfigurationError, before any upload, when OpenAI has shut the configured model down."""
        check_model(self.model, today=self.today(), base_url=self.base_url)

    def transcribe(self, media_path: Path) -> Transcript:
        self.check()
        client, api_key = openai_client(
            api_key_env=self.api_key_env, base_url=self.base_url, timeout_s=self.timeout_s, stage="transcribe"
        )
        with tempfile.TemporaryDirectory(prefix="transcribe-openai-") as tmp:
            workdir = Path(tmp)
            audio = extract_audio(media_path, workdir / "audio.mp3")
            duration = probe(audio).duration_s
            chunks = split_audio(audio, duration, self.max_upload_bytes, workdir)
            texts: list[str] = []
            words: list[Word] = []
            languages: list[str] = []
            for index, chunk in enumerate(chunks):
                what = f"transcribe: OpenAI {self.model} on {media_path.name}"
                if len(chunks) > 1:
                    what += f" (piece {index + 1}/{len(chunks)})"
                result = self._transcribe_chunk(client, api_key, chunk, workdir, what, active_checkpoint())
                texts.append(result.text)
                languages.append(result.language)
                words.extend(
                    Word(text=w.text, start=round(w.start + chunk.offset_s, 3), end=round(w.end + chunk.offset_s, 3))
                    for w in result.words
                )
        language = self.language or next((lang for lang in languages if lang), "")
        return Transcript(
            language=language,
            text=" ".join(text for text in texts if text),
            words=words,
            duration_s=round(duration, 3),
            provider="openai",
            model=self.model,
            usage=[priced("openai", {"audio_minutes": round(duration / 60, 4)})],
        )

    def _transcribe_chunk(
        self, client: openai.OpenAI, api_key: str, chunk: Chunk, workdir: Path, what: str, checkpoint: Checkpoint
    ) -> ChunkResult:
        """One piece transcribed; every attempt is billed, so each is counted in `checkpoint` (and bounded there)."""
        upload = (chunk.path.name, chunk.path.read_bytes(), "audio/mpeg")  # bytes: the SDK can resend them
        language = self.language or openai.omit
        request = f"transcription of {chunk.path.name} at {chunk.offset_s:g} s"

        def create(**fields: Any) -> Any:
            """One transcription request: counted and bounded as paid, retried, a retired model named."""
            return with_retries(
                lambda: call_openai(
                    lambda: checkpoint.paid(
                        request,
                        what,
                        lambda: self._unless_retired(
                            lambda: client.audio.transcriptions.create(file=upload, model=self.model, **fields)
                        ),
                    ),
                    what=what,
                    api_key=api_key,
                ),
                what=what,
                settings=self.retry,
            )

        if has_word_timestamps(self.model):
            verbose = create(
                response_format="verbose_json", timestamp_granularities=["word", "segment"], language=language
            )
            text = verbose.text.strip()
            words = [
                Word(text=w.word.strip(), start=round(float(w.start), 3), end=round(float(w.end), 3))
                for w in (verbose.words or [])
                if w.word.strip()
            ]
            if text and not words:  # a compatible server that ignores timestamp_granularities
                words = derive_word_times(text, chunk, workdir)
            return ChunkResult(text, words, language_code(verbose.language or ""))
        listed: list[str] | openai.Omit = (
            [self.language] if self.language and takes_languages(self.model) else openai.omit
        )
        single = openai.omit if takes_languages(self.model) else language
        plain = create(response_format="json", language=single, languages=listed)
        text = plain.text.strip()
        detected = next((item.code for item in plain.languages or [] if item.code), "")  # [] = not sure: detect
        return ChunkResult(text, derive_word_times(text, chunk, workdir) if text else [], language_code(detected))

    def _unless_retired(self, call: Callable[[], T]) -> T:
        """`call`, with OpenAI's answer for a shut-down model (404 `model_not_found`) turned into what to set:
        a model retired earlier than `lifecycle` knows, or dropped by a compatible server."""
        try:
            return call()
        except openai.NotFoundError as exc:
            if exc.code == "model_not_found":
                raise ConfigurationError(retired_message(self.model)) from None
            raise
